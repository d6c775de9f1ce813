"""One Lambda execution environment for a built artifact: ``python -I -S -B lambda_worker.py SPEC_JSON``.

Standard library only, and started isolated (``-I``: no PYTHON* variables, no script directory, no user
site; ``-S``: no site-packages; ``-B``: writes no ``.pyc``), so the only code it can import is the
artifact's: ``sys.path`` is set as Lambda sets it — the function's code (``/var/task``), its layers
(``/opt/python``), then the runtime's own packages (boto3, botocore) — before ``import app``.

Protocol: ``SPEC_JSON`` gives ``paths``, ``handler`` (``app.handler``), ``function_name``, ``timeout``
and ``reply_fd`` (a pipe the parent reads). The worker answers ``{"ready": ..., "import_s": ...}``
after the import (or ``{"error": ...}``), then reads one JSON event per line on stdin and answers each
with ``{"result": ..., "seconds": ...}`` or ``{"error": ..., "type": ...}``. Its stdout and stderr (the
function's logs) go wherever the parent sent them. ``sys.modules`` origins are reported with
``"ready"``: a module loaded from outside the artifact and the standard library would show there.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import sysconfig
import time
import traceback
import uuid
from typing import Any


class Context:
    """The attributes of Lambda's context object that Powertools and the handlers read."""

    def __init__(self, name: str, timeout: float) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _origins(paths: list[str]) -> list[str]:
    """Modules loaded from neither the artifact's paths nor the standard library."""
    stdlib = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
    roots = tuple(os.path.realpath(p) for p in [*paths, *stdlib])
    out = []
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if f and name not in ("__main__", "__mp_main__") and not os.path.realpath(f).startswith(roots):
            out.append(f"{name}: {f}")
    return sorted(out)


def main() -> int:
    spec = json.loads(sys.argv[1])
    reply = os.fdopen(int(spec["reply_fd"]), "w", buffering=1)
    paths: list[str] = spec["paths"]
    sys.path[:0] = paths
    os.chdir(paths[0])  # Lambda's working directory is /var/task
    module_name, attr = spec["handler"].rsplit(".", 1)
    t0 = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        handler = getattr(module, attr)
    except BaseException as exc:
        reply.write(json.dumps({"error": f"{type(exc).__name__}: {exc}", "type": type(exc).__name__}) + "\n")
        traceback.print_exc()
        return 1
    reply.write(
        json.dumps({"ready": True, "import_s": time.perf_counter() - t0, "foreign": _origins(paths)}) + "\n"
    )
    for line in sys.stdin:
        event: Any = json.loads(line)
        trace = (
            f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
        )
        os.environ["_X_AMZN_TRACE_ID"] = trace  # Lambda sets it per invocation (read by the X-Ray SDK)
        t = time.perf_counter()
        try:
            result = handler(event, Context(spec["function_name"], float(spec["timeout"])))
            answer = {"result": result, "seconds": time.perf_counter() - t}
        except Exception as exc:
            traceback.print_exc()
            answer = {"error": f"{type(exc).__name__}: {exc}", "type": type(exc).__name__}
        reply.write(json.dumps(answer, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
