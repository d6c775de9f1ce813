"""Real local servers for the demo and the end-to-end test: moto (AWS) and MLflow (SQL backend).

Each binds 127.0.0.1 on a free port, is a context manager, and leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

# A fixed Fernet key: MLflow encrypts webhook secrets with it, and without a fixed key deliveries from
# other workers are lost silently (shared/specs/mlflow-webhooks/README.md). Local use only.
LOCAL_FERNET_KEY = "bWxvcHMtZ2x1ZS1sb2NhbC1kZW1vLWtleS0zMmJ5dGU="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# Readiness deadlines are generous on purpose: a wait returns as soon as the server answers, and on a
# busy 2-core machine running several suites an MLflow server took more than 90 s to come up. A server
# process that exits is reported at once; only a hung one waits for the whole deadline.
START_TIMEOUT = float(os.environ.get("GLUE_SERVER_START_TIMEOUT", "600"))
WAIT_TIMEOUT = float(os.environ.get("GLUE_WAIT_TIMEOUT", "300"))


def wait_http(url: str, timeout: float = START_TIMEOUT, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers (any HTTP status) or ``timeout`` passes (the process exiting fails fast)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - local http only
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT_TIMEOUT) -> Any:
    """Poll ``check()`` until it returns something truthy (asynchronous deliveries such as webhooks).

    Raises TimeoutError naming ``what`` after ``timeout`` seconds; a wait, never a timing assertion.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


class _Context:
    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class MotoServer(_Context):
    """moto's threaded server in-process; ``url`` is the endpoint for every boto3 client."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self._server.start()
        wait_http(self.url + "/moto-api/")
        return self

    def stop(self) -> None:
        self._server.stop()


class MlflowServer(_Context):
    """``mlflow server`` with a sqlite backend and webhooks enabled, as a child process."""

    def __init__(self, workdir: str | Path, cache_ttl: int = 1) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cache_ttl = cache_ttl
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "mlflow-server.log"

    def start(self) -> MlflowServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http,https",
            MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true",
            MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=LOCAL_FERNET_KEY,
            MLFLOW_WEBHOOK_CACHE_TTL=str(self.cache_ttl),
            MLFLOW_TRACKING_URI="",
            # no GenAI job runner (a job-runner process and huey consumers, each importing MLflow at
            # start): webhooks are delivered from the server's own thread pool, nothing here runs jobs
            MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        )
        cmd = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{self.workdir / 'mlflow.db'}",
            "--default-artifact-root", (self.workdir / "artifacts").as_uri(),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self._proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_http(self.url + "/health", proc=self._proc)
        except Exception:
            self.stop()
            raise RuntimeError(f"MLflow server failed to start; see {self.log_path}") from None
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)  # the server's gunicorn/uvicorn workers go with it
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
