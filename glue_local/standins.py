"""Local HTTP stand-ins on 127.0.0.1: the Argo server's submit API and Slack (webhook + chat.postMessage).

Both are real HTTP servers, so the production clients (requests, slack_sdk) talk to them unchanged.
The Argo stand-in validates each request against the Argo Workflows swagger and the shipped
WorkflowTemplates; the Slack stand-in renders each Block Kit message readably.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from glue_local.argo_api import SpecViolationError, submit_path_ok, validate


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 with a free port, started and stopped explicitly."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the stand-ins narrate themselves
        return

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------ Argo server


def load_templates(folder: str | Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The WorkflowTemplates shipped in ``deploy/argo`` by (namespace, name)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "WorkflowTemplate":
                meta = doc.get("metadata", {})
                out[(meta.get("namespace", "default"), meta["name"])] = doc
    return out


@dataclass
class ArgoStandin(LocalServer):
    """``POST /api/v1/workflows/{ns}/submit`` and ``GET /api/v1/workflows/{ns}``, validated and recorded."""

    templates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    token: str | None = None
    workflows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    on_submit: Callable[[dict[str, Any]], None] | None = None
    fail_next: list[int] = field(default_factory=list)  # status codes to answer before accepting
    hang: float = 0.0  # seconds every request waits before it is answered (a hanging server)
    requests: int = 0  # requests received (submits and reads)

    def __post_init__(self) -> None:
        super().__init__(_ArgoHandler)
        self.lock = threading.Lock()


class _ArgoHandler(_JsonHandler):
    def _authorized(self) -> bool:
        token = self.owner.token
        return token is None or self.headers.get("Authorization") == f"Bearer {token}"

    def _arrive(self) -> None:
        owner: ArgoStandin = self.owner
        with owner.lock:
            owner.requests += 1
        if owner.hang:
            time.sleep(owner.hang)

    def do_GET(self) -> None:
        self._arrive()
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 4 and parts[:3] == ["api", "v1", "workflows"]:
            items = [w for (ns, _), w in sorted(self.owner.workflows.items()) if ns == parts[3]]
            self._send(200, {"metadata": {}, "items": items})
        elif len(parts) == 5 and parts[:3] == ["api", "v1", "workflows"]:
            got = self.owner.workflows.get((parts[3], urllib.parse.unquote(parts[4])))
            if got is None:
                self._send(404, {"code": 5, "message": f'workflows.argoproj.io "{parts[4]}" not found'})
            else:
                self._send(200, got)
        else:
            self._send(404, {"code": 5, "message": f"not found: {self.path}"})

    def do_POST(self) -> None:
        owner: ArgoStandin = self.owner
        raw = self._body()  # always read the body: the connection is kept alive for the next request
        self._arrive()
        if not self._authorized():
            self._send(401, {"code": 16, "message": "token not valid"})
            return
        namespace = submit_path_ok(self.path.split("?")[0])
        if namespace is None:
            self._send(404, {"code": 5, "message": f"not found: {self.path}"})
            return
        with owner.lock:
            if owner.fail_next:
                self._send(owner.fail_next.pop(0), {"code": 14, "message": "injected failure"})
                return
        try:
            body = json.loads(raw or b"null")
            validate("WorkflowSubmitRequest", body)
            workflow = self._workflow(owner, namespace, body)
        except (ValueError, SpecViolationError) as exc:
            owner.rejected.append(str(exc))
            self._send(400, {"code": 3, "message": str(exc)})
            return
        key = (namespace, workflow["metadata"]["name"])
        with owner.lock:
            if key in owner.workflows:
                self._send(409, {"code": 6, "message": f'workflows.argoproj.io "{key[1]}" already exists'})
                return
            owner.workflows[key] = workflow
        if owner.on_submit:
            owner.on_submit(workflow)
        self._send(200, workflow)

    @staticmethod
    def _workflow(owner: ArgoStandin, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("resourceKind") != "WorkflowTemplate":
            raise ValueError(f"resourceKind must be WorkflowTemplate, got {body.get('resourceKind')!r}")
        template = owner.templates.get((namespace, body.get("resourceName", "")))
        if template is None:
            raise ValueError(
                f'workflowtemplates.argoproj.io "{body.get("resourceName")}" not found in {namespace}'
            )
        opts = body.get("submitOptions") or {}
        declared = {p["name"] for p in template["spec"].get("arguments", {}).get("parameters", [])}
        params = {}
        for item in opts.get("parameters", []):
            name, sep, value = item.partition("=")
            if not sep or name not in declared:
                raise ValueError(
                    f"parameter {name!r} is not declared by WorkflowTemplate {body['resourceName']}"
                )
            params[name] = value
        # like Argo: a declared parameter without a default must be given
        missing = [p["name"] for p in template["spec"].get("arguments", {}).get("parameters", [])]
        missing = [n for n in missing if n not in params and not _has_default(template, n)]
        if missing:
            raise ValueError(f"spec.arguments.{missing[0]}.value is required")
        name = opts.get("name") or f"{opts.get('generateName', body['resourceName'] + '-')}{int(time.time())}"

        def kv(text: str) -> dict[str, str]:
            return dict(p.split("=", 1) for p in text.split(",") if p) if text else {}

        return {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": kv(opts.get("labels", "")),
                "annotations": kv(opts.get("annotations", "")),
                "creationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            "spec": {
                "workflowTemplateRef": {"name": body["resourceName"]},
                "arguments": {"parameters": [{"name": k, "value": v} for k, v in params.items()]},
                "priority": opts.get("priority", 0),
                "serviceAccountName": opts.get("serviceAccount"),
            },
            "status": {"phase": "Pending"},
        }


# ------------------------------------------------------------------------------------------ Slack


def _has_default(template: dict[str, Any], name: str) -> bool:
    params = template["spec"].get("arguments", {}).get("parameters", [])
    return any(p["name"] == name and "value" in p for p in params)


def render_blocks(text: str, blocks: list[dict[str, Any]] | None) -> str:
    """A Block Kit message as terminal text: headers, sections, fields, context, buttons."""
    if not blocks:
        return text
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"▌ {block['text']['text']}")
        elif kind == "section":
            if block.get("text"):
                lines.extend(f"  {line}" for line in block["text"]["text"].splitlines())
            for f in block.get("fields", []):
                lines.append(f"  • {f['text'].replace(chr(10), ' ')}")
            if block.get("accessory", {}).get("url"):
                lines.append(f"  → {block['accessory']['url']}")
        elif kind == "context":
            lines.append("  " + " · ".join(e.get("text", "") for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("  " + "─" * 40)
        elif kind == "actions":
            for e in block.get("elements", []):
                label = e.get("text", {}).get("text", "")
                lines.append(f"  [{label}] {e.get('url', '')}")
    return "\n".join(lines)


@dataclass
class Posted:
    text: str
    blocks: list[dict[str, Any]]
    channel: str | None
    ts: str
    thread_ts: str | None


@dataclass
class SlackStandin(LocalServer):
    """An incoming webhook (``POST /hooks/...``) and ``chat.postMessage`` with a bot token."""

    token: str | None = None
    printer: Callable[[str], None] | None = None
    messages: list[Posted] = field(default_factory=list)
    edits: list[Posted] = field(default_factory=list)  # chat.update calls (ts = the edited message)
    fail_next: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(_SlackHandler)
        self.lock = threading.Lock()

    def record(self, payload: dict[str, Any]) -> Posted:
        blocks = payload.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        with self.lock:
            posted = Posted(
                str(payload.get("text", "")),
                blocks,
                payload.get("channel"),
                f"{1700000000 + len(self.messages)}.{len(self.messages):06d}",
                payload.get("thread_ts"),
            )
            self.messages.append(posted)
        if self.printer:
            prefix = "    ↳ " if posted.thread_ts else ""
            rendered = render_blocks(posted.text, posted.blocks)
            self.printer("\n".join(prefix + line for line in rendered.splitlines()))
        return posted


class _SlackHandler(_JsonHandler):
    def do_POST(self) -> None:
        owner: SlackStandin = self.owner
        raw = self._body()
        with owner.lock:
            if owner.fail_next:
                status = owner.fail_next.pop(0)
                if status == 429:
                    self.send_response(429)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._send(status, b"error", "text/plain")
                return
        if self.path.startswith("/hooks/"):
            owner.record(json.loads(raw or b"{}"))
            self._send(200, b"ok", "text/plain")
            return
        if self.path.startswith("/api/chat.update"):
            payload = (
                json.loads(raw or b"{}")
                if "json" in (self.headers.get("Content-Type") or "")
                else {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
            )
            blocks = payload.get("blocks") or []
            edit = Posted(
                str(payload.get("text", "")),
                json.loads(blocks) if isinstance(blocks, str) else blocks,
                payload.get("channel"),
                str(payload.get("ts")),
                None,
            )
            if not any(m.ts == edit.ts for m in owner.messages):
                self._send(200, {"ok": False, "error": "message_not_found"})
                return
            with owner.lock:
                owner.edits.append(edit)
            self._send(200, {"ok": True, "channel": edit.channel, "ts": edit.ts})
            return
        if self.path.startswith("/api/chat.postMessage"):
            if owner.token and self.headers.get("Authorization") != f"Bearer {owner.token}":
                self._send(200, {"ok": False, "error": "invalid_auth"})
                return
            if "json" in (self.headers.get("Content-Type") or ""):
                payload = json.loads(raw or b"{}")
            else:
                payload = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
            if not payload.get("channel"):
                self._send(200, {"ok": False, "error": "channel_not_found"})
                return
            posted = owner.record(payload)
            self._send(200, {"ok": True, "channel": posted.channel, "ts": posted.ts})
            return
        self._send(404, {"ok": False, "error": "unknown_method"})
