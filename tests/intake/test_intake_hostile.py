"""Hostile requests at both Function URLs: each gets its documented code and a short JSON body.

Malformed, oversized, 10,000-level JSON, non-UTF-8, bad base64, a 400-digit timestamp, a version MLflow
can never have, a missing secret configuration, an unreadable secret, a queue that is down: never an
exception (Lambda would answer 502 without a body), never a stack trace, a path or more than 200
characters of what the sender wrote.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlops_glue.adapters.secrets import SecretsError, StaticSecrets
from mlops_glue.intake import ArgocdIntake, MemoryIntakeQueue, MlflowIntake
from mlops_glue.webhooks import sign

from glue_local.argocd_render import TOKEN, application, body
from tests.feedback.argocd_render import function_url_event

SECRET = "hostile-test-secret"
NOW = datetime(2026, 11, 23, 8, 25, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))
DEEP = b"[" * 10_000 + b"]" * 10_000
HUGE = "x" * (6 * 1024 * 1024)


class BrokenSecrets:
    def get(self, name: str, *, fresh: bool = False) -> str:
        raise SecretsError(f"cannot read secret {name!r}: EndpointConnectionError")

    def previous(self, name: str) -> str | None:
        raise SecretsError("unreachable")


def mlflow(
    queue: MemoryIntakeQueue | None = None, secrets: Any = None, name: str | None = "hook"
) -> MlflowIntake:
    q = queue or MemoryIntakeQueue()
    s = secrets or StaticSecrets({"hook": SECRET})
    return MlflowIntake(
        lambda: s, lambda: name, lambda: q, window=lambda: timedelta(minutes=15), now=lambda: NOW
    )


def signed(raw: bytes, delivery_id: str = "d-1", stamp: str = STAMP, b64: bool = False) -> dict[str, Any]:
    return {
        "headers": {
            "x-mlflow-delivery-id": delivery_id,
            "x-mlflow-timestamp": stamp,
            "x-mlflow-signature": sign(SECRET, delivery_id, stamp, raw),
        },
        "body": base64.b64encode(raw).decode() if b64 else raw.decode("utf-8", "surrogateescape"),
        "isBase64Encoded": b64,
        "requestContext": {"requestId": "req-1"},
    }


def payload(version: Any = "3", **data: Any) -> bytes:
    return json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "2026-11-23T08:23:41+00:00",
            "data": {"name": "fraud-detection", "version": version, **data},
        }
    ).encode()


def check_short(out: dict[str, Any], status: int) -> dict[str, Any]:
    assert out["statusCode"] == status, out
    assert out["headers"]["Content-Type"] == "application/json"
    got: dict[str, Any] = json.loads(out["body"])
    assert got["request_id"] and "error" in got
    assert len(got.get("detail", "")) <= 200
    text = out["body"]
    assert "Traceback" not in text and "/work/" not in text and ".py" not in text and len(text) < 600
    return got


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (signed(DEEP), 400),  # 10,000-level JSON
        (signed(b"\xff\xfe\x00garbage", b64=True), 400),  # not UTF-8 (the Function URL sends it base64)
        ({**signed(b"{}"), "body": "!!!not base64!!!", "isBase64Encoded": True}, 400),
        ({**signed(payload()), "body": "%%%", "isBase64Encoded": True}, 400),
        ({**signed(b""), "body": HUGE}, 413),
        (signed(payload("abc")), 400),  # a version MLflow can never have: never retried
        (signed(payload("0")), 400),
        (signed(payload("012")), 400),  # would slip past a blocklisted 12
        (signed(payload("3"), delivery_id="d-2", stamp="9" * 400), 401),  # a 400-digit timestamp
        (signed(payload("3"), stamp="-5"), 401),
        (signed(payload("3", description="<!channel> " + "y" * 10_000)), 202),  # long text is fine
        (
            signed(
                json.dumps(
                    {"entity": "x", "action": "y", "timestamp": "9" * 400, "data": {"name": "m"}}
                ).encode()
            ),
            400,
        ),
        ({"headers": "nonsense", "body": 12}, 400),
        ({}, 401),
    ],
)
def test_mlflow_intake_answers_every_hostile_request(event: dict[str, Any], status: int) -> None:
    queue = MemoryIntakeQueue()
    out = mlflow(queue).handle(event)
    assert out["statusCode"] == status, out["body"]
    if status == 202:
        assert len(queue.sent) == 1
    else:
        check_short(out, status)
        assert queue.sent == []


def test_bad_base64_with_a_valid_signature_is_400() -> None:
    raw = payload()
    event = signed(raw, b64=True)
    event["body"] = event["body"][:-2] + "*="
    check_short(mlflow().handle(event), 400)


def test_an_invalid_6mb_field_is_not_echoed() -> None:
    raw = payload("1" * 100_000)
    got = check_short(mlflow().handle(signed(raw)), 400)
    assert "1" * 50 not in got.get("detail", "")


def test_misconfiguration_and_outages_are_503_with_a_short_body() -> None:
    event = signed(payload())
    check_short(mlflow(name=None).handle(event), 503)  # no secret configured: fix it, MLflow retries
    check_short(mlflow(secrets=BrokenSecrets()).handle(event), 503)  # Secrets Manager unreachable
    down = check_short(mlflow(MemoryIntakeQueue(fail=True)).handle(event), 503)  # the queue is down
    assert down["error"] == "temporarily unavailable"


def test_an_unexpected_bug_is_still_a_short_503() -> None:
    def boom() -> Any:
        raise RuntimeError("/work/secret/path.py line 3: stderr of git")

    ep = MlflowIntake(
        lambda: boom(),
        lambda: "hook",
        MemoryIntakeQueue,
        window=lambda: timedelta(minutes=15),
        now=lambda: NOW,
    )
    got = check_short(ep.handle(signed(payload())), 503)
    assert "stderr" not in json.dumps(got)


def argocd(
    queue: MemoryIntakeQueue | None = None, secrets: Any = None, name: str | None = "tok"
) -> ArgocdIntake:
    q = queue or MemoryIntakeQueue()
    s = secrets or StaticSecrets({"tok": TOKEN})
    return ArgocdIntake(lambda: s, lambda: (name, "X-Glue-Token"), lambda: q)


def _with_body(text: str | bytes, b64: bool = False) -> dict[str, Any]:
    event = function_url_event("{}")
    if b64:
        event["body"] = base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()
    else:
        event["body"] = text
    event["isBase64Encoded"] = b64
    return event


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (_with_body(DEEP.decode()), 400),
        (_with_body(b"\xff\xfe\xfd", b64=True), 400),
        ({**_with_body("{}"), "body": "***", "isBase64Encoded": True}, 400),
        (_with_body(HUGE), 413),
        (_with_body(json.dumps({"trigger": "on-deployed", "app": "a" * 5000, "namespace": "argocd"})), 400),
        (_with_body(body("on-deployed", application(revision="x" * 400))), 400),
        (
            _with_body(
                json.dumps(
                    {
                        "trigger": "on-deployed",
                        "app": "a",
                        "namespace": "argocd",
                        "revision": "a" * 40,
                        "startedAt": "9" * 400,
                    }
                )
            ),
            400,
        ),
        ({**_with_body("{}"), "headers": {"content-type": "application/json"}}, 401),
        ({"requestContext": "nonsense"}, 405),
    ],
)
def test_argocd_intake_answers_every_hostile_request(event: dict[str, Any], status: int) -> None:
    queue = MemoryIntakeQueue()
    check_short(argocd(queue).handle(event), status)
    assert queue.sent == []


def test_argocd_misconfiguration_and_outages_are_503() -> None:
    event = function_url_event(body("on-deployed", application()))
    check_short(argocd(name=None).handle(event), 503)
    check_short(argocd(secrets=BrokenSecrets()).handle(event), 503)
    check_short(argocd(MemoryIntakeQueue(fail=True)).handle(event), 503)
    queue = MemoryIntakeQueue()
    ok = argocd(queue).handle(event)
    assert ok["statusCode"] == 202 and queue.sent[0].group == "argocd:argocd/fraud-detection-staging"


@pytest.mark.parametrize("folder", ["mlflow_webhook", "argocd_notification"])
def test_the_handlers_never_raise_even_without_any_configuration(
    folder: str, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    from intake_support import load_app

    monkeypatch.setenv("CONFIG_SOURCE", "/nonexistent/glue.yaml")
    app = load_app(folder)
    for event in ({}, {"body": "x"}, function_url_event(DEEP.decode()), signed(payload())):
        out = app.handler(event, lambda_context)
        assert out["statusCode"] in (400, 401, 405, 415, 503)
        check_short(out, out["statusCode"])
