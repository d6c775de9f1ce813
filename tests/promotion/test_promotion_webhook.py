"""MLflow webhook deliveries: real signatures, replay window, answers, de-duplication through the handler."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from gitops_fixtures import bare_branches, bare_log
from mlops_glue import runtime
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
from mlops_glue.webhooks import (
    MalformedDeliveryError,
    SignatureError,
    WebhookEndpoint,
    parse_event,
    sign,
    verify,
)

from tests.conftest import load_event

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"  # vendored copy of ../shared/specs (tests/test_specs.py)
SECRET = "s3cr3t-spike-key"


CAPTURE_DAY = datetime(2026, 11, 23, 8, 25, tzinfo=UTC)
DELIVERIES = sorted((SPECS / "mlflow-webhooks").glob("*.json"))


def capture(path: Path) -> tuple[dict[str, str], bytes]:
    raw = json.loads(path.read_text())
    import base64

    return raw["headers"], base64.b64decode(raw["body_b64"])


@pytest.mark.parametrize("path", DELIVERIES, ids=lambda p: p.stem)
def test_every_real_delivery_verifies_and_parses(path: Path) -> None:
    headers, body = capture(path)
    delivery = verify(headers, body, SECRET, now=CAPTURE_DAY)
    event = parse_event(delivery.body)
    assert delivery.delivery_id == headers["X-MLflow-Delivery-Id"]
    assert event.event_type == path.stem.removeprefix("test_webhook.")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h, b: (h, b.replace(b'"version": "1"', b'"version": "2"')), "signature mismatch"),
        (lambda h, b: (h, b + b" "), "signature mismatch"),
        (lambda h, b: ({**h, "X-MLflow-Timestamp": str(int(h["X-MLflow-Timestamp"]) + 1)}, b), "mismatch"),
        (lambda h, b: ({**h, "X-MLflow-Delivery-Id": "other"}, b), "signature mismatch"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "X-MLflow-Signature"}, b), "missing"),
        (lambda h, b: ({**h, "X-MLflow-Signature": "v2,abc"}, b), "scheme"),
    ],
)
def test_tampered_deliveries_do_not_verify(mutate: Any, message: str) -> None:
    headers, body = mutate(*capture(SPECS / "mlflow-webhooks" / "model_version.created.json"))
    with pytest.raises(SignatureError, match=message):
        verify(headers, body, SECRET, now=CAPTURE_DAY)


def test_wrong_secret_and_stale_or_future_timestamps_are_refused() -> None:
    headers, body = capture(SPECS / "mlflow-webhooks" / "model_version.created.json")
    with pytest.raises(SignatureError, match="mismatch"):
        verify(headers, body, "another-secret", now=CAPTURE_DAY)
    sent = datetime.fromtimestamp(int(headers["X-MLflow-Timestamp"]), UTC)
    verify(headers, body, SECRET, now=sent + timedelta(minutes=14))  # MLflow's retries fit in the window
    for now in (sent + timedelta(minutes=16), sent - timedelta(minutes=16)):
        with pytest.raises(SignatureError, match="replay window"):
            verify(headers, body, SECRET, now=now)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"entity": "model_version"}',
        b'{"entity": 1, "action": "x", "timestamp": "t", "data": {}}',
    ],
)
def test_malformed_bodies_say_what_is_wrong(body: bytes) -> None:
    with pytest.raises(MalformedDeliveryError):
        parse_event(body)


def test_endpoint_answers_without_processing_bad_requests() -> None:
    calls: list[Any] = []
    ep = WebhookEndpoint(
        lambda: SECRET,
        lambda e, d: calls.append(e) or {"status": "acted"},
        persistence=None,
        now=lambda: CAPTURE_DAY,
    )
    headers, body = capture(SPECS / "mlflow-webhooks" / "model_version.created.json")
    bad = ep.handle(headers, body + b"x")
    stale = WebhookEndpoint(lambda: SECRET, lambda e, d: {}, persistence=None).handle(headers, body)
    junk = b"{oops"
    sig = sign(SECRET, "id-1", str(int(CAPTURE_DAY.timestamp())), junk)
    malformed = ep.handle(
        {
            "x-mlflow-delivery-id": "id-1",
            "x-mlflow-timestamp": str(int(CAPTURE_DAY.timestamp())),
            "x-mlflow-signature": sig,
        },
        junk,
    )
    good = ep.handle(headers, body)
    assert (bad["statusCode"], stale["statusCode"], malformed["statusCode"], good["statusCode"]) == (
        401,
        401,
        400,
        200,
    )
    assert "body is not JSON" in json.loads(malformed["body"])["detail"]
    assert len(calls) == 1


# ------------------------------------------------------------------ through the Lambda handler, on moto
CONFIG = """
models:
  fraud-detection:
    promote:
      gate: {metrics: {val_auc: {min: 0.85}}, must_beat: null}
mlflow: {webhook_secret: mlflow-webhook, replay_window: 36500d}
gitops: {backend: git, repo: "%s", branch: main}
"""


def load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mlflow_webhook_app", ROOT / "functions/mlflow_webhook/app.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def app(
    stack: dict[str, str], aws: Any, bare_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(CONFIG % bare_repo)
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    monkeypatch.setenv("STATE_TABLE", "mlops-glue-state-dev")
    aws.client("secretsmanager").create_secret(Name="mlflow-webhook", SecretString=SECRET)
    reg = MemoryRegistry()
    reg.add(ModelVersion("fraud-detection", "2", "r2"), {"val_auc": 0.9})
    monkeypatch.setattr(runtime, "registry", lambda: reg)
    mod = load_app()
    yield mod
    mod.endpoint.cache_clear()


def invoke(app: Any, event: dict[str, Any], ctx: Any) -> tuple[int, dict[str, Any]]:
    out = app.handler(event, ctx)
    return out["statusCode"], json.loads(out["body"])


@pytest.mark.parametrize(
    ("name", "status", "detail"),
    [
        ("mlflow_registered_model_created.json", 200, "ignored"),
        ("mlflow_model_version_created.json", 200, "ignored"),  # spike-model-C is not configured
        ("mlflow_tampered_body.json", 401, "signature mismatch"),
        ("mlflow_missing_signature.json", 401, "missing"),
        ("mlflow_malformed_body.json", 400, "body is not JSON"),
    ],
)
def test_handler_answers(app: Any, lambda_context: Any, name: str, status: int, detail: str) -> None:
    code, body = invoke(app, load_event(name), lambda_context)
    assert code == status
    assert detail in json.dumps(body)


def signed_event(body: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    event = load_event("mlflow_model_version_alias_created.json")
    raw = json.dumps(body).encode()
    ts = event["headers"]["x-mlflow-timestamp"]
    event["headers"].update(
        {"x-mlflow-delivery-id": delivery_id, "x-mlflow-signature": sign(SECRET, delivery_id, ts, raw)}
    )
    event["body"] = raw.decode()
    return event


def test_path_trick_is_answered_2xx_and_rejected(app: Any, lambda_context: Any, bare_repo: Path) -> None:
    before = bare_log(bare_repo)
    code, body = invoke(app, load_event("mlflow_path_trick.json"), lambda_context)
    assert code == 200 and body["status"] == "rejected"
    assert "invalid version" in " ".join(body["reasons"])
    assert bare_log(bare_repo) == before


def test_replayed_delivery_does_nothing_twice(
    app: Any, lambda_context: Any, bare_repo: Path, aws: Any
) -> None:
    payload = {
        "entity": "model_version_alias",
        "action": "created",
        "timestamp": "2026-11-23T08:23:41+00:00",
        "data": {"name": "fraud-detection", "alias": "champion", "version": "2"},
    }
    event = signed_event(payload, "5f0c1d2e-0000-4000-8000-00000000abcd")
    first = invoke(app, event, lambda_context)
    second = invoke(app, event, lambda_context)
    branches = bare_branches(bare_repo)

    assert first[0] == second[0] == 200
    assert first[1]["status"] == "acted" and "duplicate" not in first[1]
    assert second[1]["duplicate"] is True and second[1]["decision_id"] == first[1]["decision_id"]
    assert len([b for b in branches if b.startswith("mlops-glue/fraud-detection/production/")]) == 1
    items = aws.client("dynamodb").scan(TableName="mlops-glue-state-dev")["Items"]
    assert sum(i["pk"]["S"].startswith("DECISION#") for i in items) == 1
    assert any(i["pk"]["S"].startswith("idempotency#") for i in items)
