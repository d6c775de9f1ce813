"""A real git server for the tests and the demo: ``git http-backend`` behind HTTP basic auth on 127.0.0.1.

Smart HTTP is the protocol GitLab, Gitea/Forgejo, Bitbucket, Azure DevOps and CodeCommit speak, so the
dulwich backend is exercised against git's own server implementation, not a fake. The server runs in
this process (a thread); ``git http-backend`` runs per request by its absolute path with an explicit
environment, so the process under test may have no ``git`` on ``PATH``.

Hand-written (no library does it): a ~100-line CGI gateway, because ``http.server.CGIHTTPRequestHandler``
is deprecated (removed in Python 3.13) and cannot check credentials or stand in for a failing host.
The hostile modes (``down``, ``nonsense``, ``slow``) and ``before_receive_pack`` (a push from elsewhere
between the ref advertisement and the update, to provoke a rejection reported in the per-ref status)
exist for the tests.
"""

from __future__ import annotations

import base64
import hmac
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

from glue_local.servers import wait_http

Mode = Literal["ok", "down", "nonsense", "slow"]


def _git_core() -> Path:
    """git's exec path (where ``git-http-backend`` lives), found once through the git binary."""
    git = shutil.which("git") or "/usr/bin/git"
    out = subprocess.run([git, "--exec-path"], capture_output=True, text=True, check=True).stdout
    return Path(out.strip())


class GitHttpServer:
    """Serves the bare repositories under ``root`` at ``http://127.0.0.1:PORT/<name>.git``.

    Every request needs basic auth with password ``token`` (any user name, as GitLab and Gitea accept
    for access tokens); otherwise 401 with a ``WWW-Authenticate`` challenge, like a real host.
    """

    def __init__(self, root: Path, token: str, *, slow_seconds: float = 5.0) -> None:
        self.root = Path(root)
        self.token = token
        self.mode: Mode = "ok"
        self.slow_seconds = slow_seconds
        self.before_receive_pack: Callable[[], None] | None = None  # called once per push, then cleared
        self.requests: list[tuple[str, str, int]] = []  # (method, path?query, status)
        self.auth_headers: list[str] = []  # every Authorization header received (to check what is sent)
        self._backend = _git_core() / "git-http-backend"
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def repo_url(self, name: str = "gitops.git") -> str:
        return f"{self.url}/{name}"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> GitHttpServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, name="git-http", daemon=True)
        self._thread.start()
        wait_http(self.url + "/", timeout=30)  # readiness: answers (401) once serving
        self.requests.clear()
        self.auth_headers.clear()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> GitHttpServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ the CGI call
    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return bool(user) and hmac.compare_digest(password.encode(), self.token.encode())

    def run_backend(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
        """Run ``git http-backend`` for one request; its raw CGI output (headers, blank line, body)."""
        parts = urlsplit(target)
        env = {
            "PATH": f"{self._backend.parent}:/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.root),
            "REQUEST_METHOD": method,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "CONTENT_TYPE": headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "glue",  # authenticated: http-backend enables receive-pack for it
            "REMOTE_ADDR": "127.0.0.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        for name in ("git-protocol", "content-encoding"):
            if name in headers:
                env["HTTP_" + name.upper().replace("-", "_")] = headers[name]
        proc = subprocess.run([str(self._backend)], input=body, env=env, capture_output=True, check=False)
        return proc.stdout


def _handler(server: GitHttpServer) -> type[BaseHTTPRequestHandler]:  # noqa: C901 — the HTTP class it builds routes every git request
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return  # the tests read server.requests; nothing on stderr

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            server.requests.append((self.command, self.path, status))  # before the client can read it
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self) -> None:
            body = self._body() if self.command == "POST" else b""
            auth = self.headers.get("Authorization")
            if auth:
                server.auth_headers.append(auth)
            if server.mode == "down":
                return self._send(503, b"Service Unavailable\n", {"Content-Type": "text/plain"})
            if server.mode == "nonsense":
                page = b"<html><body>Welcome to our new portal!</body></html>"
                return self._send(200, page, {"Content-Type": "text/html"})
            if server.mode == "slow":
                time.sleep(server.slow_seconds)
            if not server.authorized(auth):
                return self._send(
                    401,
                    b"Unauthorized\n",
                    {"WWW-Authenticate": 'Basic realm="git"', "Content-Type": "text/plain"},
                )
            if self.command == "POST" and self.path.endswith("/git-receive-pack"):
                hook, server.before_receive_pack = server.before_receive_pack, None
                if hook is not None:
                    hook()
            headers = {k.lower(): v for k, v in self.headers.items()}
            raw = server.run_backend(self.command, self.path, headers, body)
            sep = b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n"
            head, _, payload = raw.partition(sep)
            status, out = 200, {}
            for line in head.decode("latin-1").splitlines():
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.strip().split()[0])
                elif key:
                    out[key.strip()] = value.strip()
            out.pop("Content-Length", None)
            return self._send(status, payload, out)

        do_GET = _serve
        do_POST = _serve

    return Handler


def serve_bare_repo(bare: Path, token: str) -> GitHttpServer:
    """A started server whose root is ``bare``'s parent (URL: ``server.repo_url(bare.name)``)."""
    return GitHttpServer(bare.parent, token).start()


def deny_non_fast_forwards(bare: Path) -> None:
    """Make ``bare`` refuse non-fast-forward updates, as a protected branch on a git host does."""
    git = shutil.which("git") or "/usr/bin/git"
    subprocess.run([git, "config", "receive.denyNonFastForwards", "true"], cwd=bare, check=True)


__all__ = ["GitHttpServer", "deny_non_fast_forwards", "serve_bare_repo"]
