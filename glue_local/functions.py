"""The template's functions, imported from ``functions/<name>/app.py`` by path and invoked in-process.

The function folders are not packages (each is a Lambda code root), so each ``app.py`` is loaded under
a unique module name with the ``POWERTOOLS_SERVICE_NAME`` the template gives that function; its
Powertools logger writes to the demo's log file instead of the terminal. :meth:`LocalFunction.close`
undoes both, so the demo can run twice in one process.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from glue_local.aws_local import FunctionDef
from glue_local.localfront import LocalContext


@dataclass
class LocalFunction:
    """One loaded function: call it like Lambda would (``fn(event)``, a fresh context each time)."""

    definition: FunctionDef
    module: ModuleType
    _log_handler: logging.StreamHandler[Any] | None = None
    _previous_stream: IO[str] | None = None

    @property
    def handler(self) -> Callable[[dict[str, Any], Any], Any]:
        attr = self.definition.handler.rsplit(".", 1)[1]
        fn: Callable[[dict[str, Any], Any], Any] = getattr(self.module, attr)
        return fn

    def context(self) -> LocalContext:
        return LocalContext(self.definition.name)

    def __call__(self, event: dict[str, Any]) -> Any:
        return self.handler(event, self.context())

    def close(self) -> None:
        """Give the Powertools logger its stream back and forget the module."""
        if self._log_handler is not None and self._previous_stream is not None:
            self._log_handler.setStream(self._previous_stream)
        sys.modules.pop(self.module.__name__, None)


def load_function(fd: FunctionDef, log: IO[str]) -> LocalFunction:
    """Import ``fd``'s handler module by path, with the function's service name; its logs go to ``log``."""
    module_file, _ = fd.handler.rsplit(".", 1)
    path = fd.code_dir / f"{module_file}.py"
    name = f"glue_local_fn_{fd.logical_id}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    service = fd.environment.get("POWERTOOLS_SERVICE_NAME")
    before = os.environ.get("POWERTOOLS_SERVICE_NAME")
    if service:
        os.environ["POWERTOOLS_SERVICE_NAME"] = service
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if before is None:
            os.environ.pop("POWERTOOLS_SERVICE_NAME", None)
        else:
            os.environ["POWERTOOLS_SERVICE_NAME"] = before
    fn = LocalFunction(fd, module)
    logger = getattr(module, "logger", None)
    handler = getattr(logger, "registered_handler", None) if logger is not None else None
    if isinstance(handler, logging.StreamHandler):
        fn._log_handler = handler
        previous = handler.stream
        handler.setStream(log)
        # a handler first created during the run already points at the log (stdout is redirected then)
        fn._previous_stream = sys.__stdout__ if previous is log or previous is None else previous
    return fn


WORKER = Path(__file__).with_name("lambda_worker.py")


class FunctionError(RuntimeError):
    """The handler raised inside the artifact's worker (the message names the exception)."""


@dataclass
class _Worker:
    proc: subprocess.Popen[str]
    replies: IO[str]
    import_s: float
    foreign: list[str]
    busy: bool = False
    first_s: float | None = None  # the first event's handler time (the cold start's second half)


@dataclass
class ArtifactFunction:
    """One function run from its built artifact (``make build``), like Lambda runs it.

    Each execution environment is a ``python -I -S -B`` process (:mod:`glue_local.lambda_worker`) whose
    ``sys.path`` holds only the function's build directory, its layers and the runtime's boto3: a
    dependency the artifact lacks fails here as it would in AWS. Environments are reused while warm and
    a concurrent call starts another one (Lambda scales out the same way).
    """

    definition: FunctionDef
    paths: list[Path]
    environment: dict[str, str]
    log: IO[str]
    timeout: float = 60.0
    calls: int = 0
    workers: list[_Worker] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _start(self) -> _Worker:
        read_fd, write_fd = os.pipe()
        spec = {
            "paths": [str(p) for p in self.paths],
            "handler": self.definition.handler,
            "function_name": self.definition.name,
            "timeout": self.timeout,
            "reply_fd": write_fd,
        }
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(WORKER), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=self.log,
            env=self.environment,
            pass_fds=(write_fd,),
            text=True,
        )
        os.close(write_fd)
        replies = os.fdopen(read_fd)
        ready = json.loads(replies.readline() or '{"error": "the worker exited"}')
        if "error" in ready:
            proc.wait(timeout=10)
            replies.close()
            raise FunctionError(
                f"{self.definition.logical_id}: import failed in the artifact: {ready['error']}"
            )
        return _Worker(proc, replies, float(ready["import_s"]), list(ready["foreign"]))

    def _acquire(self) -> _Worker:
        with self._lock:
            for w in self.workers:
                if not w.busy:
                    w.busy = True
                    return w
        w = self._start()
        w.busy = True
        with self._lock:
            self.workers.append(w)
        return w

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        """The worker's answer: ``result`` and ``seconds``, or ``error`` and ``type``."""
        w = self._acquire()
        self.calls += 1
        try:
            assert w.proc.stdin is not None
            w.proc.stdin.write(json.dumps(event) + "\n")
            w.proc.stdin.flush()
            line = w.replies.readline()
            if not line:
                raise FunctionError(f"{self.definition.logical_id}: the worker died (see the log)")
            answer: dict[str, Any] = json.loads(line)
            if w.first_s is None:
                w.first_s = float(answer.get("seconds", 0.0))
            return answer
        finally:
            w.busy = False

    @property
    def handler(self) -> Callable[[dict[str, Any], Any], Any]:
        def call(event: dict[str, Any], context: Any = None) -> Any:
            answer = self.invoke(event)
            if "error" in answer:
                raise FunctionError(f"{self.definition.logical_id}: {answer['error']}")
            return answer["result"]

        return call

    def context(self) -> LocalContext:
        return LocalContext(self.definition.name)

    def __call__(self, event: dict[str, Any]) -> Any:
        return self.handler(event, None)

    def close(self) -> None:
        """Stop every environment (stdin closed: the worker's loop ends)."""
        with self._lock:
            workers, self.workers = self.workers, []
        for w in workers:
            if w.proc.stdin:
                w.proc.stdin.close()
            try:
                w.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait(timeout=5)
            w.replies.close()


def load_artifact(fd: FunctionDef, log: IO[str], environment: dict[str, str]) -> ArtifactFunction:
    """``fd`` from its built artifact; ``environment`` is the whole process environment (Lambda's)."""
    from glue_local.build import artifact_paths

    env = {
        **environment,
        **fd.environment,
        "AWS_LAMBDA_FUNCTION_NAME": fd.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "LAMBDA_TASK_ROOT": str(artifact_paths(fd.logical_id)[0]),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        # the tracer on, as in AWS: the X-Ray SDK patches botocore and requests (Sampled=0: nothing is sent)
        "POWERTOOLS_TRACE_DISABLED": "false",
    }
    return ArtifactFunction(fd, artifact_paths(fd.logical_id), env, log)
