"""An outage during a burst of deliveries: the senders see 202, the worker retries, nothing is lost.

The Function URL handlers, the intake FIFO queue (from template.yaml, on moto) and the worker run
in-process; moto's SQS clock is moved forward, so the backoff's minutes and hours pass in a moment.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gitops_fixtures import bare_file, bare_log, git, seed_bare_repo
from intake_support import Intake, SqsClock, intake
from mlops_glue import runtime
from mlops_glue.adapters.gitops import GitOpsError
from mlops_glue.adapters.gitops_git import GitRepo
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion, RegistryError
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import DynamoStateStore, StateError
from mlops_glue.cli.ops import replay_dlq
from mlops_glue.webhooks import sign

from tests.conftest import load_event

SECRET = "outage-test-webhook-secret"
MODELS = tuple(f"model-{i}" for i in range(5))
VERSIONS = range(2, 12)  # 10 versions per model; the seeded files hold v1


class Outage:
    """Wraps an adapter: every call raises ``error`` while moto's clock is inside [start, end)."""

    def __init__(self, inner: Any, clock: SqsClock, start: float, end: float, error: Exception) -> None:
        self._inner, self._clock, self._window, self._error = inner, clock, (start, end), error
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._window[0] <= self._clock.t < self._window[1]:
                self.refused += 1
                raise self._error
            return attr(*args, **kwargs)

        return call


def _config(bare: Path) -> str:
    models = "\n".join(
        f"  {m}:\n    promote:\n      gate: {{metrics: {{val_auc: {{min: 0.85}}}}, must_beat: null}}"
        for m in MODELS
    )
    return (
        f"models:\n{models}\n"
        "mlflow: {webhook_secret: mlflow-webhook, replay_window: 36500d}\n"
        f'gitops: {{backend: git, repo: "{bare}", branch: main}}\n'
    )


def delivery(model: str, version: int, clock: SqsClock) -> dict[str, Any]:
    """A signed ``model_version.created`` delivery, as MLflow sends it now."""
    event = load_event("mlflow_model_version_created.json")
    payload = {
        "entity": "model_version",
        "action": "created",
        "timestamp": "2026-11-23T08:23:41+00:00",
        "data": {"name": model, "version": str(version), "run_id": f"run-{model}-{version}"},
    }
    raw = json.dumps(payload).encode()
    delivery_id = f"d-{model}-{version}"
    stamp = str(int(clock.t))
    event["headers"].update(
        {
            "x-mlflow-delivery-id": delivery_id,
            "x-mlflow-timestamp": stamp,
            "x-mlflow-signature": sign(SECRET, delivery_id, stamp, raw),
        }
    )
    event["body"] = raw.decode()
    event["isBase64Encoded"] = False
    return event


@pytest.fixture
def world(
    stack: dict[str, str], aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> tuple[Intake, SqsClock, Path, MemoryRegistry]:
    bare = seed_bare_repo(tmp_path, models=MODELS, versions=("1", "1"))
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(_config(bare), encoding="utf-8")
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    aws.client("secretsmanager").create_secret(Name="mlflow-webhook", SecretString=SECRET)
    registry = MemoryRegistry()
    for m in MODELS:
        for v in VERSIONS:
            registry.add(ModelVersion(m, str(v), f"run-{m}-{v}"), {"val_auc": 0.9})
    monkeypatch.setattr(runtime, "registry", lambda: registry)
    slack = MemoryNotifier()
    monkeypatch.setattr(runtime, "notifier", lambda: slack)
    clock = SqsClock(monkeypatch)
    it = intake(stack, aws, monkeypatch, lambda_context)
    it.observe()
    it.worker.worker().now = clock.now
    return it, clock, bare, registry


def _promotions(bare: Path) -> list[str]:
    return [s for s in reversed(bare_log(bare)) if s.startswith("Promote ")]


def _burst(it: Intake, clock: SqsClock) -> list[int]:
    """50 deliveries, one every 6 s (5 minutes in all), the worker running after each as Lambda would."""
    statuses = []
    for v in VERSIONS:
        for m in MODELS:
            status, _ = it.post_mlflow(delivery(m, v, clock))
            statuses.append(status)
            it.drain()
            clock.advance(6)
    return statuses


@pytest.mark.parametrize("down", ["gitops", "mlflow", "dynamodb"])
def test_ten_minute_outage_during_a_burst_of_50_loses_nothing_and_acts_once(
    world: tuple[Intake, SqsClock, Path, MemoryRegistry], monkeypatch: pytest.MonkeyPatch, down: str
) -> None:
    it, clock, bare, registry = world
    start = clock.t
    end = start + 600
    if down == "gitops":
        repo = GitRepo(str(bare), branch="main")
        broken: Any = Outage(repo, clock, start, end, GitOpsError("git push failed (128): 503 from the host"))
        monkeypatch.setattr(runtime, "gitops_repo", lambda: broken)
    elif down == "mlflow":
        broken = Outage(registry, clock, start, end, RegistryError("MLflow answered 503"))
        monkeypatch.setattr(runtime, "registry", lambda: broken)
    else:
        real = DynamoStateStore("mlops-glue-state-dev")
        broken = Outage(real, clock, start, end, StateError("DynamoDB: ProvisionedThroughputExceeded"))
        monkeypatch.setattr(runtime, "state_store", lambda: broken)
        # the idempotency layer talks to DynamoDB itself: it is down too
        import botocore.client

        original = botocore.client.BaseClient._make_api_call

        def ddb_outage(self: Any, operation: str, params: dict[str, Any]) -> Any:
            if self.meta.service_model.service_name == "dynamodb" and start <= clock.t < end:
                from botocore.exceptions import ClientError

                broken.refused += 1

                raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, operation)
            return original(self, operation, params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", ddb_outage)

    statuses = _burst(it, clock)
    assert clock.t < end  # the whole burst arrived during the outage
    assert it.failures > 0 and broken.refused > 0  # the worker really met the outage
    assert _promotions(bare) == []

    spent = it.settle(clock)

    assert statuses == [202] * 50  # the senders only ever saw 202
    assert clock.t >= end and spent > 0
    assert it.depth() == 0 and it.depth(it.dlq_url) == 0
    promoted = _promotions(bare)
    expected = [f"Promote {m} to v{v} in staging" for m in MODELS for v in VERSIONS]
    assert sorted(promoted) == sorted(expected)  # every promotion landed, exactly once
    for m in MODELS:  # one model's promotions in the order they arrived
        mine = [p for p in promoted if p.startswith(f"Promote {m} ")]
        assert mine == [f"Promote {m} to v{v} in staging" for v in VERSIONS]
        assert "version: 11\n" in bare_file(bare, f"models/{m}/values-staging.yaml")
    trailers = git(bare, "log", "--format=%(trailers:key=Glue-Decision-Id,valueonly)", "main").split()
    assert len(trailers) == len(set(trailers)) == 50


def test_a_delivery_failing_past_max_age_lands_in_the_dlq_and_replays_once(
    world: tuple[Intake, SqsClock, Path, MemoryRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    it, clock, bare, registry = world
    monkeypatch.setenv("INTAKE_MAX_AGE", "2h")
    runtime.settings.cache_clear()
    it.worker.worker.cache_clear()
    it.observe()
    it.worker.worker().now = clock.now
    broken = Outage(registry, clock, clock.t, clock.t + 10 * 3600, RegistryError("MLflow answered 503"))
    monkeypatch.setattr(runtime, "registry", lambda: broken)

    status, _ = it.post_mlflow(delivery("model-0", 2, clock))
    it.settle(clock, step=60)

    assert status == 202
    assert it.depth() == 0 and it.depth(it.dlq_url) == 1
    dead = it.sqs.receive_message(
        QueueUrl=it.dlq_url, MessageAttributeNames=["All"], AttributeNames=["All"], VisibilityTimeout=0
    )["Messages"][0]
    reason = dead["MessageAttributes"]["reason"]["StringValue"]  # the reason travels along
    hours = float(reason.removeprefix("failed for ").split(" h", 1)[0])
    assert 1.4 <= hours <= 2.0  # within max_age (2 h) less one capped backoff (30 min)
    assert "MLflow answered 503" in dead["MessageAttributes"]["reason"]["StringValue"]
    assert _promotions(bare) == []
    notices = [m.text for m in runtime.notifier().messages if "dead-letter queue" in m.text]  # type: ignore[attr-defined]
    assert len(notices) == 1 and "mlops-glue dlq replay --intake --stage dev" in notices[0]
    assert "d-model-0-2" in notices[0]

    clock.advance(10 * 3600)  # MLflow is back; the operator replays the DLQ
    moved = replay_dlq(it.sqs, it.dlq_url, it.queue_url, wait=0)  # moto's clock stands still
    it.settle(clock)

    assert len(moved) == 1 and it.depth(it.dlq_url) == 0 and it.depth() == 0
    assert _promotions(bare) == ["Promote model-0 to v2 in staging"]
    moved_again = replay_dlq(
        it.sqs, it.dlq_url, it.queue_url, wait=0
    )  # nothing left: a second replay is a no-op
    assert moved_again == []


def test_enqueue_failure_answers_503_so_the_sender_retries(
    world: tuple[Intake, SqsClock, Path, MemoryRegistry], monkeypatch: pytest.MonkeyPatch
) -> None:
    it, clock, _bare, _registry = world
    import botocore.client

    original = botocore.client.BaseClient._make_api_call
    calls: list[str] = []

    def sqs_down(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "sqs" and operation == "SendMessage":
            calls.append(operation)
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", sqs_down)
    status, body = it.post_mlflow(delivery("model-0", 2, clock))
    assert status == 503 and body == {"error": "temporarily unavailable", "request_id": body["request_id"]}
    assert calls == ["SendMessage"]
    monkeypatch.undo()
    assert it.depth() == 0


Factory = Callable[..., Any]
