"""Alarms under faults: exact model mapping (no prefix match) and a flapping alarm collapsed into one thread."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from mlops_glue.adapters.argo import MemorySubmitter
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import parse_config
from mlops_glue.decisions import emergency
from mlops_glue.records import Outcome
from mlops_glue.services.alarms import AlarmService

from tests.alarms.conftest import CONFIG, SHAPES, Clock, event, renamed

EU_LINES = (
    "  fraud-detection-eu:\n"
    "    data: {bucket: ml-data-dev, prefix: fraud/incoming/eu/, reference_profile: s3://ml-data-dev/fraud/ref.json}\n"
)


@pytest.mark.parametrize("shape", SHAPES)
def test_an_alarm_of_an_unconfigured_model_sharing_a_prefix_starts_nothing(
    shape: str, store: MemoryStateStore, submitter: MemorySubmitter, notifier: MemoryNotifier, clock: Clock
) -> None:
    assert EU_LINES in CONFIG
    cfg = parse_config(CONFIG.replace(EU_LINES, ""))  # fraud-detection is configured, fraud-detection-eu not
    svc = AlarmService(cfg, store, submitter, notifier, stage="dev", clock=clock)
    ev = renamed(event("quality_alarm", shape), "mlops-glue-dev-fraud-detection-eu-quality")
    [r] = svc.handle_event(ev)
    assert r.decision.outcome is Outcome.IGNORED and r.decision.model == emergency.UNKNOWN_MODEL
    assert submitter.submissions == {} and notifier.messages == []


def flaps(n: int, start: datetime, every: timedelta) -> list[dict[str, Any]]:
    """``n`` ALARM/OK cycles: EventBridge events with increasing state timestamps."""
    out = []
    for i in range(2 * n):
        ev = copy.deepcopy(event("quality_alarm" if i % 2 == 0 else "quality_ok", "eventbridge"))
        ts = start + i * every
        ev["id"] = f"flap-{i}"
        ev["detail"]["state"]["timestamp"] = ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        out.append(ev)
    return out


def test_fifty_flaps_in_five_minutes_start_one_run_in_one_thread_with_bounded_updates(
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    clock: Clock,
) -> None:
    svc = make_service()
    start = datetime.fromisoformat("2026-11-23T10:15:04.512+00:00")
    events = flaps(50, start, timedelta(seconds=3))  # 100 changes in 5 minutes
    for ev in events:
        clock.at(ev["detail"]["state"]["timestamp"].replace("+0000", "+00:00"))
        svc.handle_event(ev)
    assert len(submitter.submissions) == 1  # the debounce holds
    alert, *replies = notifier.messages
    assert alert.thread_ts is None and ":rotating_light:" in alert.text
    assert len(replies) == emergency.MAX_THREAD_REPLIES and all(m.thread_ts == "1.000100" for m in replies)
    assert 1 <= len(notifier.edits) <= 11  # one status edit per 30 s of alarm time at most, not 97 replies
    assert all(ts == "1.000100" for ts, _ in notifier.edits)
    _, last = notifier.edits[-1]
    assert "flapping:" in last.text and "more state changes since this alert" in last.text
    # a redelivered change that was folded into the status posts nothing more
    before = (len(notifier.messages), len(notifier.edits))
    svc.handle_event(events[-1])
    assert (len(notifier.messages), len(notifier.edits)) == before


def test_without_a_bot_token_flapping_posts_no_more_than_the_alert_and_its_replies(
    make_service: Callable[..., AlarmService], submitter: MemorySubmitter, clock: Clock
) -> None:
    notifier = MemoryNotifier(threads=False)
    svc = make_service(notifier=notifier)
    for ev in flaps(50, datetime.fromisoformat("2026-11-23T10:15:04.512+00:00"), timedelta(seconds=3)):
        clock.at(ev["detail"]["state"]["timestamp"].replace("+0000", "+00:00"))
        svc.handle_event(ev)
    assert len(submitter.submissions) == 1
    assert len(notifier.messages) <= 1 + emergency.MAX_THREAD_REPLIES and notifier.edits == []


def test_a_409_for_a_workflow_not_ours_fails_the_emergency_and_alerts_on_call(
    make_service: Callable[..., AlarmService], store: MemoryStateStore, notifier: MemoryNotifier
) -> None:
    from mlops_glue.adapters.argo import ArgoConflictError
    from mlops_glue.keys import emergency_ledger_key

    taken = MemorySubmitter(fail_with=ArgoConflictError("a workflow named emergency-retrain-d-1 is not ours"))
    [r] = make_service(submitter=taken).handle_event(event("quality_alarm", "eventbridge"))  # no retry loop
    assert r.decision.outcome is Outcome.FAILED and "is not ours" in r.decision.reasons[-1]
    assert store.get_decision(r.decision.decision_id).outcome is Outcome.FAILED  # type: ignore[union-attr]
    assert store.get(*emergency_ledger_key("fraud-detection")).data["runs"] == []  # type: ignore[union-attr]
    (alert,) = notifier.messages
    assert "NO emergency retraining" in alert.text and "is not ours" in alert.text
    assert "emergency retraining started" not in alert.text
