"""Packaging and cold-start benchmark, from the built artifacts (``make build``), as Lambda runs them.

    uv run python bench/package_size.py [--runs 5] [--demo-runs 1] [--out bench/out/packaging.json]

* **Size**: each function's unzipped size = its build directory + its layers (the image: its whole
  ``/var/task`` tree), against Lambda's 250 MB limit for a zip function with its layers.
* **Cold ``import app``**: a fresh ``python -I -S -B`` process (:mod:`glue_local.lambda_worker`) on a
  read-only copy of ``.aws-sam`` (as ``/var/task`` and ``/opt`` are read-only), its ``sys.path`` only the
  artifact, its layers and the runtime's boto3; no ``.pyc`` but the shipped ones. Median of ``--runs``.
* **First event**: the whole demo story (``glue_local.demo.run(artifacts=True)``) on the same read-only
  copy: each function's first invocation in a fresh environment — webhook_worker's is the gating path
  (MLflow registry reads, the gate, a GitOps commit) and an auto-promotion; the two Function URLs only
  verify and queue. Its time
  includes the local servers' answers (moto, MLflow, git), so it is an upper bound.
* **+ first-use imports**: ``import app`` plus what the first real event imports (the promotion service,
  PyGithub, ruamel.yaml, the REST registry client, ...) in a fresh clean interpreter: our code's share of
  the first event, without the servers.

The build is made (or found up to date) with the Makefile's uv (``UV``, else ``~/.local/bin/uv``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "mlops_glue")]

from glue_local import build  # noqa: E402
from glue_local.aws_local import _resolver, functions_from_template  # noqa: E402
from glue_local.functions import load_artifact  # noqa: E402

ZIP_LIMIT_MB = 250
PARAMS = {
    "Stage": "dev",
    "DataBucketName": "ml-data-dev",
    "ImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-glue@sha256:" + "0" * 64,
}


# physical names of the resources the functions' environments refer to (no stack is created here)
PHYSICAL = {
    "StateTable": "mlops-glue-state-dev",
    "WebhookIntakeQueue": "https://sqs.eu-west-1.amazonaws.com/123456789012/mlops-glue-webhook-intake-dev.fifo",
    "WebhookIntakeDLQ": "https://sqs.eu-west-1.amazonaws.com/123456789012/mlops-glue-webhook-intake-dlq-dev.fifo",
}


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def read_only_copy(dest: Path) -> Path:
    for part in ("build", "image", "runtime"):
        shutil.copytree(build.BUILD_DIR.parent / part, dest / part, symlinks=True)
    for p in dest.rglob("*"):
        if not p.is_symlink():
            p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return dest


def cold_imports(logical_id: str, runs: int, log: Any) -> float:
    fd = functions_from_template(_resolver(PARAMS, PHYSICAL, {}))[logical_id]
    times = []
    for _ in range(runs):
        fn = load_artifact(fd, log, {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "eu-west-1"})
        w = fn._start()
        fn.workers.append(w)
        fn.close()
        times.append(w.import_s)
    return statistics.median(times)


# what each function's first real event imports beyond `app` (its first-use imports), timed cold in the
# same clean interpreter: our code's share of the first event, without the servers' answers
FIRST_USE = {
    # the two Function URLs only verify and queue (issue 12); the worker runs the gate and the feedback
    "MlflowWebhookFunction": "import mlops_glue.intake, mlops_glue.adapters.secrets, mlops_glue.config",
    "ArgocdNotificationFunction": "import mlops_glue.intake, mlops_glue.adapters.secrets, mlops_glue.config, "
    "mlops_glue.decisions.feedback",
    "WebhookWorkerFunction": "import mlops_glue.services.promotion, mlops_glue.services.feedback, "
    "mlops_glue.adapters.gitops_github, mlops_glue.adapters.values_yaml, mlops_glue.adapters.slack; "
    "from mlops_glue.adapters.registry import MlflowRestRegistry as R; R('http://127.0.0.1:9').session",
    "CloudwatchAlarmFunction": "import mlops_glue.adapters.argo, mlops_glue.adapters.slack",
    "S3NewDataFunction": "import mlops_glue.services.data_arrival, mlops_glue.drift, mlops_glue.adapters.slack",
}
TIMED = (
    "import json, sys, time; sys.path[:0] = json.loads(sys.argv[1]); t = time.perf_counter(); "
    "import app; a = time.perf_counter(); exec(sys.argv[2]); print(a - t, time.perf_counter() - t)"
)


def cold_first_use(logical_id: str, runs: int) -> float:
    """Median seconds of ``import app`` plus its first-use imports in a fresh clean interpreter."""
    import subprocess

    paths = [str(p) for p in build.artifact_paths(logical_id)]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
    }
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-I", "-S", "-B", "-c", TIMED, json.dumps(paths), FIRST_USE.get(logical_id, "")],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=paths[0],
        )
        times.append(float(out.stdout.split()[-1]))
    return statistics.median(times)


def first_events(runs: int, workdir: Path) -> dict[str, float]:
    from glue_local.demo import run

    seen: dict[str, list[float]] = {}
    for i in range(runs):
        result = run(workdir / f"demo-{i}", lambda _line: None, artifacts=True)
        for k, times in result.first_events.items():
            seen.setdefault(k, []).extend(times)
    return {k: statistics.median(v) for k, v in seen.items() if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "packaging.json")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--demo-runs", type=int, default=1, help="demo stories for the first-event times")
    args = parser.parse_args(argv)
    build.ensure_built()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mlops-glue-bench-") as tmp:
        ro = read_only_copy(Path(tmp) / "aws-sam")
        os.environ["GLUE_ARTIFACTS_DIR"] = str(ro)
        try:
            with open(Path(tmp) / "functions.log", "w") as log:
                for fn in build.functions():
                    paths = build.artifact_paths(fn)[:-1]  # the runtime's boto3 is not shipped
                    size = sum(du(p) for p in paths) / 2**20
                    rows.append(
                        {
                            "function": fn,
                            "packaging": "image" if "image" in paths[0].parts else "zip + layer",
                            "unzipped_mb": round(size, 1),
                            "fits_zip_limit": size <= ZIP_LIMIT_MB,
                            "cold_import_app_s": round(cold_imports(fn, args.runs, log), 3),
                            "cold_app_and_first_use_s": round(cold_first_use(fn, args.runs), 3),
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
            firsts = first_events(args.demo_runs, Path(tmp)) if args.demo_runs else {}
        finally:
            os.environ.pop("GLUE_ARTIFACTS_DIR", None)
            for p in Path(tmp).rglob("*"):  # give the copy its write bits back, so it can be removed
                if not p.is_symlink():
                    p.chmod(p.stat().st_mode | stat.S_IWUSR)
    for r in rows:
        r["first_event_s"] = round(firsts[r["function"]], 3) if r["function"] in firsts else None
    layer = build.BUILD_DIR / "GlueLayer" / "python"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    print(
        "\n| function | packaging | unzipped (MB) | fits 250 MB | cold `import app` (s) "
        "| + first-use imports (s) | first event, local servers included (s) |"
    )
    print("|---|---|---:|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['function']} | {r['packaging']} | {r['unzipped_mb']} | {'yes' if r['fits_zip_limit'] else 'no'} "
            f"| {r['cold_import_app_s']} | {r['cold_app_and_first_use_s']} | {r['first_event_s']} |"
        )
    print(f"\nlayer: {du(layer) / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
