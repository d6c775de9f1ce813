"""A local HTTP front for Function URL handlers: turns an ``http.server`` request into the Lambda event.

Not shipped in the Lambda layer. The local demo and the end-to-end tests point real senders (MLflow's webhooks, Argo CD's
notifications) at it; each request becomes a Lambda Function URL event (payload format 2.0, the shape
of ``shared/specs/aws-events/lambdaFunctionUrlEvent.json``), the handler runs in-process, and its
``{"statusCode", "headers", "body"}`` answer goes back to the sender. Local use only (127.0.0.1).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from glue_local.standins import LocalServer

Handler = Callable[[dict[str, Any], Any], Any]


class LocalContext:
    """Enough of the Lambda context for Powertools' decorators."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + 60

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_url_event(
    method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The Function URL event Lambda would deliver for this HTTP request."""
    url = urlsplit(target)
    lowered: dict[str, str] = {}
    for k, v in headers.items():  # Lambda lowercases names and joins repeated headers with commas
        key = k.lower()
        lowered[key] = f"{lowered[key]},{v}" if key in lowered else v
    try:
        text, b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, b64 = base64.b64encode(body).decode(), True
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": url.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": b64,
    }
    if url.query:
        event["queryStringParameters"] = dict(parse_qsl(url.query))
    if body:
        event["body"] = text
    return event


class LocalFront(LocalServer):
    """A threaded HTTP server on 127.0.0.1 routing path prefixes to in-process Function URL handlers."""

    def __init__(self, routes: dict[str, tuple[str, Handler]]) -> None:
        """``routes``: path prefix → (function name, handler)."""
        self.routes = dict(routes)
        self.requests: list[dict[str, Any]] = []  # (event, status) of every request, for the demo's story
        front = self

        class _Request(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = front.dispatch(
                    self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
                )
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_GET = do_PUT = _serve

        super().__init__(_Request)

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str = "127.0.0.1"
    ) -> tuple[int, dict[str, str], bytes]:
        """Run the handler routed for ``target``; return status, headers and body bytes."""
        path = urlsplit(target).path
        match = max((p for p in self.routes if path.startswith(p)), key=len, default=None)
        if match is None:
            return 404, {"Content-Type": "application/json"}, b'{"error": "no route"}'
        name, handler = self.routes[match]
        event = function_url_event(method, target, headers, body, source_ip)
        try:
            result = handler(event, LocalContext(name))
        except Exception as exc:  # what Lambda answers when a handler raises
            self.requests.append({"path": path, "status": 502, "error": repr(exc)})
            return 502, {"Content-Type": "application/json"}, json.dumps({"error": "handler raised"}).encode()
        if not isinstance(result, dict) or "statusCode" not in result:
            result = {"statusCode": 200, "body": json.dumps(result)}  # Lambda's inference for plain values
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        status = int(result["statusCode"])
        self.requests.append({"path": path, "status": status, "body": data.decode(errors="replace")[:2000]})
        return status, {str(k): str(v) for k, v in (result.get("headers") or {}).items()}, data
