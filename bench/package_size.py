"""Packaging benchmark: each function's installed size and its handler's cold import time, measured with
the real Lambda platform wheels (manylinux2014_x86_64, CPython 3.11).

    uv run python bench/package_size.py [--out bench/out/packaging.json] [--runs 5]

For each function it installs what the deployment installs — the zip functions: the layer's requirements
(``layers/mlops_glue/requirements.txt``) plus their own ``requirements.txt`` if any; the data-arrival
image: ``functions/s3_new_data/requirements.txt`` — with
``pip install --platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.11 --target DIR``,
adds the ``mlops_glue`` package and the function's code, and reports the size on disk. The cold import is a
fresh ``python -S`` process (no site-packages: only that directory on the path) timing ``import app``,
the median of ``--runs``; for the image function also ``import mlops_glue.drift`` (numpy, scipy, pyarrow:
paid by the first invocation that counts a file). Boto3 is in the Lambda Python runtime, so the zip
functions do not ship it; the image pins its own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER_REQS = ROOT / "layers" / "mlops_glue" / "requirements.txt"
IMAGE_FUNCTIONS = {"s3_new_data"}
ZIP_LIMIT_MB = 250  # unzipped function + layers


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def pip_install(reqs: list[Path], target: Path) -> None:
    # pip itself (the venv has none): run from PyPI in its own throwaway environment by uv
    pip = [sys.executable, "-m", "pip"] if _has_pip() else ["uv", "tool", "run", "pip"]
    cmd = [
        *pip,
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--platform",
        "manylinux2014_x86_64",
        "--implementation",
        "cp",
        "--python-version",
        "3.11",
        "--only-binary=:all:",
        "--target",
        str(target),
    ]
    for r in reqs:
        cmd += ["-r", str(r)]
    subprocess.run(cmd, check=True)


def _has_pip() -> bool:
    return subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0


def cold_import(paths: list[Path], module: str, runs: int, extra: str = "") -> float:
    """Median seconds of ``import module`` (then ``extra``) in a fresh interpreter without site-packages.

    ``paths`` in Lambda's order: the function's packages, its code, then the runtime's (boto3).
    """
    code = (
        "import time; t = time.perf_counter(); import "
        + module
        + (f"; {extra}" if extra else "")
        + "; print(time.perf_counter() - t)"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    # the first run compiles .pyc files (pip --target installs do not), as Lambda's own first cold start
    # of a zip without .pyc would; the median of the rest is the steady cold start
    times = []
    for i in range(runs + 1):
        if i == 0:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        else:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        out = subprocess.run(
            [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, cwd=paths[1]
        )
        if out.returncode != 0:
            raise RuntimeError(f"import {module} failed: {out.stderr.strip().splitlines()[-1:]}")
        if i:
            times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def lambda_runtime(work: Path) -> Path:
    """boto3 as the Lambda Python runtime provides it (on the path for imports, not counted in sizes)."""
    target = work / "_runtime"
    if not target.exists():
        req = work / "_runtime.txt"
        req.write_text("boto3==1.44.5\n")
        pip_install([req], target)
    return target


def measure(name: str, runs: int, work: Path) -> dict[str, object]:
    fn_dir = ROOT / "functions" / name
    target = work / name
    target.mkdir(parents=True)
    own = fn_dir / "requirements.txt"
    reqs = [own] if name in IMAGE_FUNCTIONS else [LAYER_REQS, *([own] if own.exists() else [])]
    pip_install(reqs, target)
    deps = du(target)
    shutil.copytree(
        ROOT / "layers" / "mlops_glue" / "mlops_glue",
        target / "mlops_glue",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    code = work / f"{name}-code"
    shutil.copytree(
        fn_dir, code, ignore=shutil.ignore_patterns("__pycache__", "Dockerfile", "requirements.txt")
    )
    total = du(target) + du(code)
    row: dict[str, object] = {
        "function": name,
        "packaging": "image" if name in IMAGE_FUNCTIONS else "zip + layer",
        "dependencies_mb": round(deps / 2**20, 1),
        "installed_mb": round(total / 2**20, 1),
        "fits_zip_limit": total / 2**20 <= ZIP_LIMIT_MB,
        "cold_import_app_s": round(cold_import([target, code, lambda_runtime(work)], "app", runs), 3),
    }
    if name in IMAGE_FUNCTIONS:
        row["cold_import_app_and_drift_s"] = round(
            cold_import([target, code, lambda_runtime(work)], "app", runs, "import mlops_glue.drift"), 3
        )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "packaging.json")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--functions", nargs="*", default=None)
    args = parser.parse_args(argv)
    names = args.functions or sorted(
        p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists()
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlops-glue-pkg-") as tmp:
        for name in names:
            rows.append(measure(name, args.runs, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print("\n| function | packaging | installed (MB) | fits 250 MB zip | cold `import app` (s) |")
    print("|---|---|---:|---|---:|")
    for r in rows:
        extra = (
            f" ({r['cold_import_app_and_drift_s']} with the drift engine)"
            if "cold_import_app_and_drift_s" in r
            else ""
        )
        print(
            f"| {r['function']} | {r['packaging']} | {r['installed_mb']} | {'yes' if r['fits_zip_limit'] else 'no'} "
            f"| {r['cold_import_app_s']}{extra} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
