"""What the alarm, promotion and feedback flows record for replay, and that replaying it under the
configuration they ran with makes the decisions they made (data arrival: test_arrival_shadow.py).

The services run on their fakes with a :class:`LogRecorder` on an in-memory log, as the runtime wires
the one on the state table.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from github_fake import FakeGitHub
from mlops_glue import shadow
from mlops_glue.adapters.argo import MemorySubmitter
from mlops_glue.adapters.gitops_github import GitHubRepo, token_auth
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.decisions.emergency import AlarmChange
from mlops_glue.decisions.feedback import parse_notification
from mlops_glue.keys import last_dataset_key
from mlops_glue.records import Decision
from mlops_glue.replay.recorder import LogRecorder, MemoryEventLog
from mlops_glue.replay.simulate import Simulation
from mlops_glue.services.alarms import AlarmService
from mlops_glue.services.feedback import build_feedback_service
from mlops_glue.services.promotion import build_promotion_service
from mlops_glue.webhooks import Delivery, WebhookEvent
from pytest_httpserver import HTTPServer

from tests.replay.test_shadow import MODEL, config

T = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T

    def __call__(self) -> datetime:
        return self.now


def simulated(log: MemoryEventLog, cfg: Any) -> list[tuple[str, str, str | None]]:
    sim = Simulation(cfg).run(log.all())
    assert sim.notes == []
    return [d.key for _m, ds in sim.steps for d in ds]


def live(store: MemoryStateStore) -> list[tuple[str, str, str | None]]:
    got: list[Decision] = sorted(
        store.decisions_for(MODEL, limit=100), key=lambda d: (d.created_at, d.decision_id)
    )
    return [(d.kind.value, d.outcome.value, d.environment) for d in got]


def change(at: datetime, state: str, previous: str, value: float) -> AlarmChange:
    return AlarmChange(
        alarm_name=f"mlops-glue-dev-{MODEL}-quality",
        state=state,
        previous_state=previous,
        state_timestamp=at,
        source="eventbridge",
        event_id=f"eb-{at:%H%M}",
        reason="Threshold Crossed",
        namespace="ModelServing",
        metric_name="AUC",
        dimensions={"Model": MODEL},
        statistic="Average",
        value=value,
        threshold=0.8,
        comparison="LessThanThreshold",
    )


def test_alarm_transitions_are_recorded_and_replay_to_the_decisions_made() -> None:
    cfg, store, clock, log = config(False), MemoryStateStore(), Clock(), MemoryEventLog()
    store.put(*last_dataset_key(MODEL), {"manifest_uri": "s3://ml-data-dev/m.json", "window_id": "w1"}, None)
    svc = AlarmService(cfg, store, MemorySubmitter(), MemoryNotifier(), stage="dev", clock=clock)
    svc.recorder = LogRecorder(log, ttl=timedelta(days=35))
    story = [
        (0, "ALARM", "OK", 0.71),  # emergency retraining
        (20, "OK", "ALARM", 0.9),  # recovery
        (40, "ALARM", "OK", 0.7),  # debounce (30 min) passed, cooldown (1 h) not: rejected
        (50, "INSUFFICIENT_DATA", "ALARM", 0.7),  # ignored
        (130, "ALARM", "INSUFFICIENT_DATA", 0.6),  # cooldown over: a second emergency retraining
        (200, "ALARM", "OK", 0.6),  # two in a day: the budget (max_per_day 2) rejects it
    ]
    for minutes, state, previous, value in story:
        clock.now = T + timedelta(minutes=minutes, seconds=3)
        svc.handle(change(T + timedelta(minutes=minutes), state, previous, value))
    svc.handle(change(T, "ALARM", "OK", 0.71))  # a redelivery of the first: answered as a duplicate

    events = log.all()
    assert [e.flow for e in events] == ["alarms"] * 6
    assert events[0].input["stage"] == "dev" and events[0].input["value"] == 0.71
    assert live(store) == simulated(log, cfg)
    assert [k[1] for k in live(store)] == ["acted", "acted", "rejected", "ignored", "acted", "rejected"]


@pytest.fixture
def gh(httpserver: HTTPServer) -> FakeGitHub:
    fake = FakeGitHub(httpserver.url_for("").rstrip("/"))
    httpserver.expect_request(re.compile(".*")).respond_with_handler(fake)
    return fake


def webhook(event_type: str, version: str, **data: str) -> WebhookEvent:
    entity, action = event_type.rsplit(".", 1)
    return WebhookEvent.model_validate(
        {
            "entity": entity,
            "action": action,
            "timestamp": T,
            "data": {"name": MODEL, "version": version, **data},
        }
    )


def test_webhooks_gate_facts_and_notifications_are_recorded_and_replay_to_the_decisions_made(
    gh: FakeGitHub,
) -> None:
    cfg, store, clock, log = config(False), MemoryStateStore(), Clock(), MemoryEventLog()
    reg = MemoryRegistry()
    reg.add(ModelVersion(MODEL, "1", "run1"), {"val_auc": 0.9})
    reg.add(ModelVersion(MODEL, "2", "run2"), {"val_auc": 0.91, "loss": 0.2})
    reg.add(ModelVersion(MODEL, "3", "run3"), {"val_auc": 0.8})
    repo = GitHubRepo("o/r", "main", auth=token_auth("t0ken"), base_url=gh.base, throttle=False)
    a = shadow.wrap(cfg, "promotion", store=store, repo=repo, registry=reg, notifier=MemoryNotifier())
    promotion = build_promotion_service(cfg, a.store, a.repo, a.registry, a.notifier, now=clock)
    promotion.recorder = LogRecorder(log)
    feedback = build_feedback_service(cfg, store, repo, reg, MemoryNotifier(), now=clock)
    feedback.recorder = LogRecorder(log)

    def deliver(event: WebhookEvent, n: int) -> None:
        clock.now += timedelta(minutes=5)
        promotion.process(event, Delivery(f"delivery-{n}", int(T.timestamp()), b"{}"))

    deliver(webhook("model_version.created", "2"), 1)  # passes the gate: staging bumped
    deliver(webhook("model_version.created", "3"), 2)  # fails it
    deliver(webhook("model_version_tag.set", "3", key="blocked", value="true"), 3)
    deliver(
        webhook("model_version_tag.set", "3", key="ignored-tag", value="x"), 4
    )  # not acted on: not recorded
    clock.now += timedelta(minutes=5)
    body = {
        "trigger": "on-health-degraded",
        "app": f"{MODEL}-staging",
        "namespace": "argocd",
        "revision": gh.refs["main"],
        "syncPhase": "Succeeded",
        "healthStatus": "Degraded",
    }
    feedback.handle(parse_notification(json.dumps(body)))  # v2 degraded: rolled back

    events = log.all()
    assert [(e.flow, e.kind) for e in events] == [
        ("promotion", "event"),
        ("promotion", "gate_facts"),
        ("promotion", "event"),
        ("promotion", "gate_facts"),
        ("promotion", "event"),
        ("feedback", "event"),
    ]
    facts = events[1].input
    assert facts["metrics"] == {"val_auc": 0.91, "loss": 0.2} and facts["champion"] is None
    notification = events[-1].input
    assert notification["deployment"]["change"]["trailers"]["Glue-Version"] == "2"
    assert live(store) == simulated(log, cfg)
    assert [k[:2] for k in live(store)] == [
        ("promote", "acted"),
        ("promote", "rejected"),
        ("notify_only", "acted"),
        ("rollback", "acted"),
    ]


def test_a_recorder_that_fails_never_fails_the_flow(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryEventLog):
        def append(self, event: Any, expires_at: datetime) -> None:
            raise RuntimeError("DynamoDB throttled")

    cfg, store, clock = config(False), MemoryStateStore(), Clock()
    store.put(*last_dataset_key(MODEL), {"manifest_uri": "s3://ml-data-dev/m.json", "window_id": "w1"}, None)
    submitter = MemorySubmitter()
    svc = AlarmService(cfg, store, submitter, MemoryNotifier(), stage="dev", clock=clock)
    recorder = LogRecorder(Broken())
    svc.recorder = recorder

    result = svc.handle(change(T, "ALARM", "OK", 0.7))

    assert result.decision.outcome.value == "acted" and len(submitter.submissions) == 1
    assert recorder.failures == 1
    assert "event not recorded for replay" in caplog.text
