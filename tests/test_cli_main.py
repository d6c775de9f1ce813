"""``python -m mlops_glue`` runs the CLI (the same parser as the ``mlops-glue`` script)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlops_glue

PACKAGE_ROOT = str(Path(mlops_glue.__file__).resolve().parent.parent)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([PACKAGE_ROOT, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "mlops_glue", *args], capture_output=True, text=True, env=env, check=False
    )


def test_python_dash_m_help_exits_zero_with_the_cli_usage() -> None:
    proc = run("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: mlops-glue") and "decisions" in proc.stdout


def test_python_dash_m_passes_the_exit_code_through() -> None:
    proc = run("no-such-command")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
