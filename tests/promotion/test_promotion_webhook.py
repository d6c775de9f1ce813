"""MLflow webhook deliveries: real signatures, replay window, answers; the handler → queue → worker path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gitops_fixtures import bare_branches, bare_log
from intake_support import Intake, SqsClock, intake
from mlops_glue import runtime
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
from mlops_glue.adapters.secrets import StaticSecrets
from mlops_glue.intake import MemoryIntakeQueue, MlflowIntake
from mlops_glue.webhooks import (
    MalformedDeliveryError,
    SignatureError,
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


def test_intake_answers_without_queueing_bad_requests() -> None:
    queue = MemoryIntakeQueue()
    secrets = StaticSecrets({"hook": SECRET})
    ep = MlflowIntake(
        lambda: secrets,
        lambda: "hook",
        lambda: queue,
        window=lambda: timedelta(minutes=15),
        now=lambda: CAPTURE_DAY,
    )
    headers, body = capture(SPECS / "mlflow-webhooks" / "model_version.created.json")
    bad = ep.handle({"headers": headers, "body": (body + b"x").decode()})
    stale = MlflowIntake(
        lambda: secrets, lambda: "hook", lambda: queue, window=lambda: timedelta(minutes=15)
    ).handle({"headers": headers, "body": body.decode()})
    junk = b"{oops"
    stamp = str(int(CAPTURE_DAY.timestamp()))
    malformed = ep.handle(
        {
            "headers": {
                "x-mlflow-delivery-id": "id-1",
                "x-mlflow-timestamp": stamp,
                "x-mlflow-signature": sign(SECRET, "id-1", stamp, junk),
            },
            "body": junk.decode(),
        }
    )
    good = ep.handle({"headers": headers, "body": body.decode()})
    assert (bad["statusCode"], stale["statusCode"], malformed["statusCode"], good["statusCode"]) == (
        401,
        401,
        400,
        202,
    )
    assert "body is not JSON" in json.loads(malformed["body"])["detail"]
    assert [e.delivery_id for e in queue.sent] == [headers["X-MLflow-Delivery-Id"]]
    assert queue.sent[0].group == "mlflow:spike-model-C" and queue.sent[0].body == body.decode()


# ------------------------------------------------------------------ through the Lambda handlers, on moto
CONFIG = """
models:
  fraud-detection:
    promote:
      gate: {metrics: {val_auc: {min: 0.85}}, must_beat: null}
mlflow: {webhook_secret: mlflow-webhook, replay_window: 36500d}
gitops: {backend: git, repo: "%s", branch: main}
"""


@pytest.fixture
def pipeline(
    stack: dict[str, str],
    aws: Any,
    bare_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> Iterator[tuple[Intake, SqsClock]]:
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(CONFIG % bare_repo)
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    aws.client("secretsmanager").create_secret(Name="mlflow-webhook", SecretString=SECRET)
    reg = MemoryRegistry()
    reg.add(ModelVersion("fraud-detection", "2", "r2"), {"val_auc": 0.9})
    monkeypatch.setattr(runtime, "registry", lambda: reg)
    clock = SqsClock(monkeypatch)
    it = intake(stack, aws, monkeypatch, lambda_context)
    it.observe()
    it.worker.worker().now = clock.now
    yield it, clock


@pytest.mark.parametrize(
    ("name", "status", "worker"),
    [
        ("mlflow_registered_model_created.json", 202, "ignored"),
        ("mlflow_model_version_created.json", 202, "ignored"),  # spike-model-C is not configured
        ("mlflow_tampered_body.json", 401, None),
        ("mlflow_missing_signature.json", 401, None),
        ("mlflow_malformed_body.json", 400, None),
        ("mlflow_path_trick.json", 400, None),  # a version MLflow can never have: never queued
    ],
)
def test_handler_answers(
    pipeline: tuple[Intake, SqsClock], name: str, status: int, worker: str | None
) -> None:
    it, _ = pipeline
    code, body = it.post_mlflow(load_event(name))
    assert code == status and body["request_id"]
    it.drain()
    assert [r["status"] for _, r in it.results] == ([worker] if worker else [])


def signed_event(body: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    event = load_event("mlflow_model_version_alias_created.json")
    raw = json.dumps(body).encode()
    ts = event["headers"]["x-mlflow-timestamp"]
    event["headers"].update(
        {"x-mlflow-delivery-id": delivery_id, "x-mlflow-signature": sign(SECRET, delivery_id, ts, raw)}
    )
    event["body"] = raw.decode()
    return event


def test_path_trick_is_refused_with_400_and_nothing_written(
    pipeline: tuple[Intake, SqsClock], bare_repo: Path
) -> None:
    it, _ = pipeline
    before = bare_log(bare_repo)
    code, body = it.post_mlflow(load_event("mlflow_path_trick.json"))
    assert code == 400 and "version" in body["detail"]
    assert it.depth() == 0 and bare_log(bare_repo) == before


def test_replayed_delivery_does_nothing_twice(
    pipeline: tuple[Intake, SqsClock], bare_repo: Path, aws: Any
) -> None:
    it, clock = pipeline
    payload = {
        "entity": "model_version_alias",
        "action": "created",
        "timestamp": "2026-11-23T08:23:41+00:00",
        "data": {"name": "fraud-detection", "alias": "champion", "version": "2"},
    }
    event = signed_event(payload, "5f0c1d2e-0000-4000-8000-00000000abcd")
    first = it.post_mlflow(event)
    it.drain()
    clock.advance(10 * 60)  # past SQS's deduplication interval: the replay reaches the worker
    second = it.post_mlflow(event)
    it.drain()
    branches = bare_branches(bare_repo)

    assert first[0] == second[0] == 202
    (_, r1), (_, r2) = it.results
    assert r1["status"] == "acted" and "duplicate" not in r1
    assert r2["duplicate"] is True and r2["decision_id"] == r1["decision_id"]
    assert len([b for b in branches if b.startswith("mlops-glue/fraud-detection/production/")]) == 1
    items = aws.client("dynamodb").scan(TableName="mlops-glue-state-dev")["Items"]
    assert sum(i["pk"]["S"].startswith("DECISION#") for i in items) == 1
    assert any(i["pk"]["S"].startswith("idempotency#mlflow-delivery") for i in items)


# ------------------------------------------------------------------ the typed event, parsed once at the edge
@pytest.mark.parametrize("path", DELIVERIES, ids=lambda p: p.stem)
def test_the_rule_takes_the_typed_event_and_agrees_with_the_recorded_fields(path: Path) -> None:
    from mlops_glue.config import Promote
    from mlops_glue.decisions.promote import intent_for, intent_of
    from mlops_glue.events import MlflowEvent, parse_mlflow_event

    _, body = capture(path)
    event = parse_mlflow_event(body)
    promote = Promote.model_validate({"environments": {"staging": {}, "production": {}}})

    assert isinstance(event, MlflowEvent) and event.model == event.data.name
    recorded = event.data.model_dump(mode="json")  # what replay keeps of an event
    assert intent_of(event, promote) == intent_for(event.event_type, recorded, promote)


def test_a_malformed_body_is_a_rejected_error_that_names_the_field() -> None:
    from mlops_glue.errors import RejectedError, is_retryable
    from mlops_glue.events import MalformedEventError, parse_mlflow_event

    body = json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "2026-11-23T08:25:00Z",
            "data": {"name": "fraud-detection", "version": "abc"},
        }
    ).encode()
    with pytest.raises(MalformedEventError) as raised:
        parse_mlflow_event(body)

    assert isinstance(raised.value, RejectedError) and isinstance(raised.value, ValueError)
    assert not is_retryable(raised.value)
    assert str(raised.value).startswith("not an MLflow webhook payload: data.version")
