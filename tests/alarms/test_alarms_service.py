"""The alarm service with in-memory adapters: both event shapes, every documented outcome, retries, races."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from mlops_glue.adapters.argo import ArgoUnavailableError, MemorySubmitter
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.claims import claim
from mlops_glue.decisions.emergency import alarm_key
from mlops_glue.decisions.emergency import decision_id_for as emergency_decision_id
from mlops_glue.keys import claim_key, last_dataset_key, outbox_key, retrain_ledger_key
from mlops_glue.keys import emergency_ledger_key as ledger_key
from mlops_glue.outbox import resend
from mlops_glue.records import Outcome
from mlops_glue.services.alarm_events import MalformedAlarmEventError, changes_from_event
from mlops_glue.services.alarms import AlarmService, EmergencySubmitError

from tests.alarms.conftest import MANIFEST, SHAPES, Clock, event, renamed

QUALITY = "mlops-glue-dev-fraud-detection-quality"


def alerts(n: MemoryNotifier) -> list[Any]:
    """Top-level on-call alerts (not thread replies)."""
    return [m for m in n.messages if m.thread_ts is None and ":rotating_light:" in m.text]


@pytest.mark.parametrize("shape", SHAPES)
def test_alarm_starts_one_emergency_workflow_and_one_alert(
    shape: str,
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    store: MemoryStateStore,
) -> None:
    [result] = make_service().handle_event(event("quality_alarm", shape))

    d = result.decision
    assert d.outcome is Outcome.ACTED and d.kind.value == "emergency_retrain"
    [sub] = submitter.submissions.values()
    assert sub.name == f"emergency-retrain-{d.decision_id}" and sub.priority == 100
    assert sub.parameters["dataset-manifest"] == MANIFEST
    assert sub.parameters["trigger-reason"] == "alarm" and sub.parameters["model"] == "fraud-detection"
    assert sub.labels["mlops-glue/kind"] == "emergency-retrain"
    assert QUALITY in sub.annotations["mlops-glue/reasons"]
    assert d.action["workflow_url"] == f"https://argo.example.internal/workflows/ml-pipelines/{sub.name}"

    [msg] = notifier.messages
    assert msg.channel == "#ml-fraud" and msg.thread_ts is None
    assert msg.text.startswith("<!subteam^S0ONCALL> :rotating_light: fraud-detection")
    assert "emergency retraining started" in msg.text
    rendered = json.dumps(msg.blocks)
    for needle in (
        "ModelServing/AUC Average [Model=fraud-detection]",
        "*Recent value*\\n0.71",
        "*Threshold*\\n0.8 (LessThanThreshold)",
        sub.name,
        "alarmsV2:alarm/mlops-glue-dev-fraud-detection-quality",
    ):
        assert needle in rendered

    stored = store.get_decision(d.decision_id)
    assert stored is not None and stored.evidence["value"] == 0.71 and stored.evidence["threshold"] == 0.8
    ledger = store.get(*ledger_key("fraud-detection"))
    assert ledger is not None and [r["decision_id"] for r in ledger.data["runs"]] == [d.decision_id]
    doc = store.get(*alarm_key(QUALITY))
    assert doc is not None and doc.data["alert"]["ts"] == "1.000100" and doc.data["state"] == "ALARM"


def test_redeliveries_and_the_other_shape_of_the_same_transition_run_once(
    make_service: Callable[..., AlarmService], submitter: MemorySubmitter, notifier: MemoryNotifier
) -> None:
    svc = make_service()
    first = svc.handle_event(event("quality_alarm", "eventbridge"))[0]
    again = [svc.handle_event(event("quality_alarm", s))[0] for s in ("eventbridge", "sns", "sns")]
    assert [r.duplicate for r in again] == [True, True, True]
    assert {r.decision.decision_id for r in again} == {first.decision.decision_id}
    assert len(submitter.submissions) == 1 and len(notifier.messages) == 1


def test_flapping_alarm_ok_alarm_trains_once_and_threads_the_rest(
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    clock: Clock,
    store: MemoryStateStore,
) -> None:
    svc = make_service()
    out = []
    for name, shape in (
        ("quality_alarm", "eventbridge"),
        ("quality_ok", "sns"),
        ("quality_realarm", "eventbridge"),
    ):
        ev = event(name, shape)
        clock.at(changes_from_event(ev)[0].state_timestamp.isoformat())
        out.append(svc.handle_event(ev)[0].decision)
    assert [d.outcome for d in out] == [Outcome.ACTED, Outcome.ACTED, Outcome.IGNORED]
    assert out[1].kind.value == "notify_only" and "recovered" in out[1].reasons[0]
    assert out[2].reasons[1].startswith("debounce: last emergency training 20 min ago < 30 min")
    assert len(submitter.submissions) == 1
    alert, recovery, realarm = notifier.messages
    assert alert.thread_ts is None and recovery.thread_ts == realarm.thread_ts == "1.000100"
    assert ":white_check_mark:" in recovery.text and "back to OK (value 0.86" in recovery.text
    assert ":repeat:" in realarm.text and "debounce" in realarm.text
    assert len(alerts(notifier)) == 1


def test_without_threads_the_recovery_is_a_follow_up_and_flaps_stay_quiet(
    make_service: Callable[..., AlarmService], submitter: MemorySubmitter, clock: Clock
) -> None:
    notifier = MemoryNotifier(threads=False)
    svc = make_service(notifier=notifier)
    for name in ("quality_alarm", "quality_ok", "quality_realarm"):
        ev = event(name, "sns")
        clock.at(changes_from_event(ev)[0].state_timestamp.isoformat())
        svc.handle_event(ev)
    assert [m.thread_ts for m in notifier.messages] == [None, None]
    assert (
        ":rotating_light:" in notifier.messages[0].text and ":white_check_mark:" in notifier.messages[1].text
    )
    assert len(submitter.submissions) == 1


@pytest.mark.parametrize("shape", SHAPES)
def test_insufficient_data_is_ignored_with_its_reason(
    shape: str,
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    clock: Clock,
    store: MemoryStateStore,
) -> None:
    clock.at("2026-11-23T11:00:02.000+00:00")
    [r] = make_service().handle_event(event("quality_insufficient_data", shape))
    assert r.decision.outcome is Outcome.IGNORED and r.decision.model == "fraud-detection"
    assert "INSUFFICIENT_DATA: missing data is not a degradation" in r.decision.reasons[0]
    assert store.get_decision(r.decision.decision_id) is not None
    assert not submitter.submissions and not notifier.messages


@pytest.mark.parametrize("shape", SHAPES)
def test_unknown_alarm_is_recorded_and_ignored(
    shape: str,
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    store: MemoryStateStore,
) -> None:
    [r] = make_service().handle_event(event("unknown_alarm", shape))
    d = store.get_decision(r.decision.decision_id)
    assert d is not None and d.outcome is Outcome.IGNORED and d.model == "(unknown)"
    assert (d.evidence["alarm"], d.evidence["value"], d.evidence["threshold"]) == (
        "checkout-api-p99-latency",
        2210.0,
        1500.0,
    )
    assert "unknown alarm" in d.reasons[0]
    assert not submitter.submissions and not notifier.messages


@pytest.mark.parametrize(
    ("ev", "message"),
    [
        (event("malformed", "eventbridge"), "malformed alarm event: KeyError: 'state'"),
        (event("malformed", "sns"), "SNS message 8e3b1e5c-7a0d-5d5e-9c1f-2b3c4d5e6f07 is not JSON"),
        ({"source": "aws.s3", "detail-type": "Object Created"}, "not a CloudWatch alarm event"),
        (
            {"detail-type": "CloudWatch Alarm State Change", "source": "custom.app", "detail": {}},
            "source 'custom.app' is not aws.cloudwatch",
        ),
        ([1, 2], "event is a list"),
    ],
    ids=["eventbridge-no-state", "sns-not-json", "other-event", "wrong-source", "not-an-object"],
)
def test_malformed_events_raise_a_clear_error_and_record_nothing(
    ev: Any,
    message: str,
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    store: MemoryStateStore,
) -> None:
    with pytest.raises(MalformedAlarmEventError, match=message.replace("(", r"\(").replace("[", r"\[")):
        make_service().handle_event(ev)
    assert not submitter.submissions and store.decisions_for("fraud-detection") == []


@pytest.mark.parametrize("shape", SHAPES)
def test_exhausted_emergency_budget_rejects_and_tells_on_call(
    shape: str,
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    store: MemoryStateStore,
    clock: Clock,
) -> None:
    past = [
        {"at": (clock.now - timedelta(hours=h)).isoformat(), "gpu_hours": 4, "decision_id": f"d-old{h}"}
        for h in (2, 8)
    ]
    store.put(*ledger_key("fraud-detection"), {"runs": past}, None)
    [r] = make_service().handle_event(event("quality_alarm", shape))
    assert r.decision.outcome is Outcome.REJECTED
    assert "emergency budget: 2 trainings in the last 24 h ≥ max_per_day 2" in r.decision.reasons
    assert not submitter.submissions
    [msg] = alerts(notifier)
    assert "NO emergency retraining: emergency budget" in msg.text
    # the normal retraining ledger is separate and untouched
    assert store.get(*retrain_ledger_key("fraud-detection")) is None


def test_argo_down_releases_the_reservation_records_the_failure_and_the_retry_trains(
    make_service: Callable[..., AlarmService], store: MemoryStateStore, notifier: MemoryNotifier
) -> None:
    down = MemorySubmitter(fail_with=ArgoUnavailableError("503 after 4 retries"))
    ev = event("quality_alarm", "eventbridge")
    with pytest.raises(EmergencySubmitError, match="emergency workflow for fraud-detection not submitted"):
        make_service(submitter=down).handle_event(ev)
    [failed] = store.decisions_for("fraud-detection")
    assert failed.outcome is Outcome.FAILED and "503 after 4 retries" in failed.reasons[-1]
    assert store.get(*ledger_key("fraud-detection")).data["runs"] == []  # type: ignore[union-attr]
    assert not notifier.messages

    up = MemorySubmitter()
    [r] = make_service(submitter=up).handle_event(ev)  # Lambda's retry of the same event
    assert r.decision.outcome is Outcome.ACTED and len(up.submissions) == 1 and len(notifier.messages) == 1


def test_slack_down_keeps_the_training_and_the_alert_waits_in_the_outbox_for_the_sweep(
    make_service: Callable[..., AlarmService], submitter: MemorySubmitter, store: MemoryStateStore
) -> None:
    """One outbox for every flow: the delivery is not failed for a notice, the sweep posts it once."""
    slack = MemoryNotifier(fail=True)
    svc = make_service(notifier=slack)
    ev = event("quality_alarm", "sns")
    [r] = svc.handle_event(ev)
    assert r.decision.outcome is Outcome.ACTED and r.posted is not None and not r.posted.ok
    assert len(submitter.submissions) == 1
    kept = store.get(*outbox_key("fraud-detection"))
    assert kept is not None and [":rotating_light:" in i["text"] for i in kept.data["items"]] == [True]
    slack.fail = False
    [again] = svc.handle_event(ev)  # a redelivery runs nothing and posts nothing: the outbox has it
    assert again.duplicate and again.posted is None and not slack.messages
    assert resend(slack, store, ["fraud-detection"]) == (1, 0)
    svc.handle_event(ev)
    assert resend(slack, store, ["fraud-detection"]) == (0, 0)
    assert len(slack.messages) == 1 and len(submitter.submissions) == 1


def test_out_of_order_alarm_after_its_recovery_is_stale(
    make_service: Callable[..., AlarmService], submitter: MemorySubmitter, clock: Clock
) -> None:
    svc = make_service()
    clock.at("2026-11-23T10:25:04.733+00:00")
    svc.handle_event(event("quality_ok", "eventbridge"))
    [r] = svc.handle_event(event("quality_alarm", "eventbridge"))
    assert r.decision.outcome is Outcome.IGNORED and "stale" in r.decision.reasons[0]
    assert not submitter.submissions


def test_no_data_window_yet_trains_on_the_data_prefix(
    make_service: Callable[..., AlarmService], submitter: MemorySubmitter, store: MemoryStateStore
) -> None:
    store.put(*last_dataset_key("fraud-detection"), {}, 1)
    [r] = make_service().handle_event(event("drift_score_alarm", "sns"))
    [sub] = submitter.submissions.values()
    assert sub.parameters["dataset-manifest"] == "s3://ml-data-dev/fraud/incoming/"
    assert any("no data window recorded yet" in x for x in r.decision.reasons)


def test_concurrent_deliveries_and_a_racing_alarm_start_one_training_and_one_alert(
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    store: MemoryStateStore,
) -> None:
    svc = make_service()
    quality = [event("quality_alarm", s) for s in SHAPES for _ in range(4)]
    drift = [event("drift_score_alarm", "eventbridge") for _ in range(3)]
    # same model, two alarms, eleven deliveries at once
    drift = [renamed(e, "mlops-glue-dev-fraud-detection-drift-share") for e in drift]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(quality) + len(drift))

    def deliver(ev: dict[str, Any]) -> None:
        barrier.wait()
        try:
            svc.handle_event(ev)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(e,)) for e in quality + drift]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(submitter.submissions) == 1
    assert len(alerts(notifier)) == 1
    runs = store.get(*ledger_key("fraud-detection")).data["runs"]  # type: ignore[union-attr]
    assert len(runs) == 1
    outcomes = sorted(d.outcome.value for d in store.decisions_for("fraud-detection"))
    assert outcomes == ["acted", "ignored"]  # the loser of the race is debounced


def test_lambda_alarm_action_shape_from_the_spec_is_read() -> None:
    from tests.conftest import SPECS

    ev = json.loads((SPECS / "aws-events" / "cloudWatchAlarmEventSingleMetric.json").read_text())
    [c] = changes_from_event(ev)
    assert (c.alarm_name, c.state, c.previous_state, c.source) == (
        "Test alert",
        "ALARM",
        "OK",
        "alarm_action",
    )
    assert (c.value, c.threshold, c.comparison) == (1.0, 10.0, "LessThanThreshold")
    assert c.state_timestamp == datetime.fromisoformat("2024-02-17T11:53:08.431+00:00")
    sns = json.loads((SPECS / "aws-events" / "cloudWatchAlarmSnsSingleMetric.json").read_text())
    [s] = changes_from_event(sns)
    assert (s.value, s.threshold, s.dimensions, s.statistic) == (
        1234.0,
        0.0,
        {"InstanceId": "TestInstance"},
        "Average",
    )


class StaleReads(MemoryStateStore):
    """A store whose next read of chosen keys returns what was there before: a racing invocation's view."""

    def __init__(self, base: MemoryStateStore) -> None:
        super().__init__()
        self._docs = base._docs
        self._decisions = base._decisions
        self.stale: dict[tuple[str, str], Any] = {}

    def get(self, pk: str, sk: str = "#") -> Any:
        if (pk, sk) in self.stale:
            return self.stale.pop((pk, sk))
        return super().get(pk, sk)


def test_an_alarm_that_read_the_ledger_before_another_emergency_reserved_it_loses(
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    store: MemoryStateStore,
) -> None:
    racing = StaleReads(store)
    make_service(store=racing).handle_event(event("quality_alarm", "eventbridge"))
    racing.stale[ledger_key("fraud-detection")] = None  # the drift alarm's read predates that reservation
    [r] = make_service(store=racing).handle_event(event("drift_score_alarm", "eventbridge"))
    assert r.decision.outcome is Outcome.IGNORED and r.decision.reasons[1].startswith("debounce")
    assert len(submitter.submissions) == 1 and len(alerts(notifier)) == 1


def test_a_duplicate_that_read_the_claim_before_the_first_finished_posts_nothing(
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    store: MemoryStateStore,
) -> None:
    racing = StaleReads(store)
    first = make_service(store=racing).handle_event(event("quality_alarm", "eventbridge"))[0]
    racing.stale[claim_key(first.decision.decision_id)] = None  # it did not see the first delivery's claim
    [r] = make_service(store=racing).handle_event(event("quality_alarm", "sns"))
    assert r.duplicate and r.decision.decision_id == first.decision.decision_id
    assert r.posted is None and r.submitted is None
    assert len(submitter.submissions) == 1 and len(notifier.messages) == 1


def test_a_delivery_that_died_holding_its_claim_is_taken_over_and_finds_its_workflow(
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    store: MemoryStateStore,
    clock: Clock,
) -> None:
    """An invocation that timed out after submitting: after the claim's TTL the redelivery redoes it;
    the workflow's fixed name answers "already exists", the ledger keeps one run."""
    ev = event("quality_alarm", "eventbridge")
    [change] = changes_from_event(ev)
    assert claim(store, claim_key(emergency_decision_id(change)), timedelta(minutes=2), clock())
    [busy] = make_service().handle_event(ev)  # the claim is fresh: its owner is still at it
    assert busy.duplicate and not submitter.submissions
    clock.at(clock().isoformat(), plus=timedelta(minutes=3))
    [r] = make_service().handle_event(ev)
    assert not r.duplicate and r.decision.outcome is Outcome.ACTED and len(submitter.submissions) == 1
    [again] = make_service().handle_event(ev)
    assert again.duplicate and len(notifier.messages) == 1


def test_a_late_retry_after_newer_states_keeps_the_acted_decision_and_finishes_its_alert(
    make_service: Callable[..., AlarmService],
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    store: MemoryStateStore,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attempt that trained fails after recording its decision (the alarm's state could not be
    written); the alarm recovers; then Lambda retries the ALARM event. Deciding again would find it stale
    and record IGNORED over ACTED: the decision stands, nothing trains twice, and the alert is sent."""
    svc = make_service()
    alarm = event("quality_alarm", "eventbridge")
    did = emergency_decision_id(changes_from_event(alarm)[0])

    def store_down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("DynamoDB unreachable")

    with monkeypatch.context() as m:
        m.setattr(svc, "_remember", store_down)
        with pytest.raises(ConnectionError):
            svc.handle_event(alarm)
    stored = store.get_decision(did)
    assert stored is not None and stored.outcome is Outcome.ACTED and len(submitter.submissions) == 1
    assert not notifier.messages

    clock.at("2026-11-23T10:25:04.733+00:00")
    svc.handle_event(event("quality_ok", "eventbridge"))  # a newer state is seen first
    [retry] = svc.handle_event(alarm)

    assert retry.duplicate and retry.decision.outcome is Outcome.ACTED
    kept = store.get_decision(did)
    assert kept is not None and kept.outcome is Outcome.ACTED and "stale" not in " ".join(kept.reasons)
    assert len(submitter.submissions) == 1
    assert [
        ":rotating_light:" in m.text and "emergency retraining started" in m.text for m in alerts(notifier)
    ] == [True]
    [again] = svc.handle_event(alarm)  # and a further redelivery posts nothing more
    assert again.duplicate and len(alerts(notifier)) == 1
