"""The pure emergency decision: mapping, transitions, staleness, debounce, cooldown, budget, dataset."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlops_glue.config import GlueConfig
from mlops_glue.decisions.emergency import AlarmChange, decide, model_for_alarm
from mlops_glue.documents import AlarmState, LastDataset, Ledger
from mlops_glue.records import Kind, Outcome

T0 = datetime(2026, 11, 23, 10, 15, 4, 512000, tzinfo=UTC)
LAST = {"manifest_uri": "s3://b/m.json", "window_id": "w-7", "decision_id": "d-prev"}


def change(name: str = "mlops-glue-dev-fraud-detection-quality", **kw: Any) -> AlarmChange:
    base = AlarmChange(
        alarm_name=name,
        state="ALARM",
        previous_state="OK",
        state_timestamp=T0,
        source="eventbridge",
        event_id="e-1",
        namespace="ModelServing",
        metric_name="AUC",
        dimensions={"Model": "fraud-detection"},
        statistic="Average",
        value=0.71,
        threshold=0.8,
        comparison="LessThanThreshold",
        region="eu-west-1",
    )
    return replace(base, **kw)


def run(
    c: AlarmChange,
    cfg: GlueConfig,
    *,
    ledger: Any = None,
    doc: Any = None,
    last: Any = LAST,
    now: datetime | None = None,
) -> Any:
    """The rule on its typed documents, built from the plain JSON the state table holds."""
    return decide(
        c,
        cfg,
        stage="dev",
        now=now or T0 + timedelta(seconds=2),
        alarm_doc=None if doc is None else AlarmState.model_validate({"alarm": c.alarm_name, **doc}),
        ledger=None if ledger is None else Ledger.model_validate(ledger),
        last_dataset=None if last is None else LastDataset.model_validate(last),
    )


def runs(*ages: timedelta) -> dict[str, Any]:
    return {
        "runs": [
            {"at": (T0 - a).isoformat(), "gpu_hours": 4, "decision_id": f"d-{i}"} for i, a in enumerate(ages)
        ]
    }


@pytest.mark.parametrize(
    ("name", "dims", "model"),
    [
        ("mlops-glue-dev-fraud-detection-quality", {}, "fraud-detection"),
        ("mlops-glue-dev-fraud-detection-eu-drift-score", {}, "fraud-detection-eu"),  # longest name wins
        ("mlops-glue-dev-ranker-quality-anomaly", {}, "ranker"),
        ("team-fraud-auc-low", {"Model": "fraud-detection"}, "fraud-detection"),  # by dimension
        ("team-fraud-auc-low", {"model": "ranker", "service": "s3-new-data"}, "ranker"),
        ("mlops-glue-prod-fraud-detection-quality", {}, None),  # another stage's alarm
        ("mlops-glue-dev-fraud-detection", {}, None),  # no kind after the model
        ("mlops-glue-dev-fraud-detection-us-quality", {}, None),  # an unconfigured model, not a prefix
        ("mlops-glue-dev-fraud-detection-us-quality", {"Model": "fraud-detection"}, None),  # nor a dimension
        ("mlops-glue-dev-fraud-detection-latency", {}, None),  # not one of the template's alarm kinds
        ("team-fraud-auc-low", {"Model": "not-configured"}, None),
    ],
)
def test_alarm_maps_to_its_model_by_name_then_dimension(
    cfg: GlueConfig, name: str, dims: dict[str, str], model: str | None
) -> None:
    assert model_for_alarm(change(name, dimensions=dims), cfg, "dev")[0] == model


def test_ok_to_alarm_trains_with_the_latest_window_and_records_alarm_value_threshold(cfg: GlueConfig) -> None:
    plan = run(change(), cfg)
    d = plan.decision
    assert plan.train and plan.notice == "alert" and plan.priority == 100
    assert plan.dataset_uri == "s3://b/m.json"
    assert (d.kind, d.outcome, d.model) == (Kind.EMERGENCY_RETRAIN, Outcome.ACTED, "fraud-detection")
    assert "mlops-glue-dev-fraud-detection-quality: OK → ALARM" in d.reasons[0]
    assert "value 0.71 < threshold 0.8" in d.reasons[0]
    assert d.evidence["alarm"] == "mlops-glue-dev-fraud-detection-quality"
    assert (d.evidence["value"], d.evidence["threshold"]) == (0.71, 0.8)
    assert d.evidence["metric"]["name"] == "AUC" and d.evidence["trigger"] == "alarm"
    assert d.inputs[0] == "mlops-glue-dev-fraud-detection-quality|ALARM|2026-11-23T10:15:04.512+00:00"


def test_same_transition_gives_the_same_decision_id_whatever_the_shape(cfg: GlueConfig) -> None:
    a = run(change(source="eventbridge", event_id="e-1"), cfg).decision
    b = run(change(source="sns", event_id="m-9"), cfg).decision
    c = run(change(state_timestamp=T0 + timedelta(minutes=5)), cfg).decision
    assert a.decision_id == b.decision_id != c.decision_id


@pytest.mark.parametrize(
    ("state", "previous", "outcome", "reason"),
    [
        ("INSUFFICIENT_DATA", "OK", Outcome.IGNORED, "INSUFFICIENT_DATA: missing data is not a degradation"),
        ("ALARM", "ALARM", Outcome.IGNORED, "no transition (already ALARM)"),
        ("OK", "INSUFFICIENT_DATA", Outcome.IGNORED, "nothing to recover from"),
        ("OK", "ALARM", Outcome.ACTED, "recovered: value 0.71 vs threshold 0.8"),
    ],
)
def test_transitions_other_than_into_alarm_never_train(
    cfg: GlueConfig, state: str, previous: str, outcome: Outcome, reason: str
) -> None:
    plan = run(change(state=state, previous_state=previous), cfg)
    assert not plan.train
    assert plan.decision.outcome is outcome
    assert reason in plan.decision.reasons[0]
    assert plan.notice == ("recovery" if outcome is Outcome.ACTED else "none")


def test_insufficient_data_to_alarm_is_a_breach(cfg: GlueConfig) -> None:
    assert run(change(previous_state="INSUFFICIENT_DATA"), cfg).train


def test_unknown_alarm_is_ignored_with_the_alarm_in_the_record(cfg: GlueConfig) -> None:
    plan = run(
        change(
            "checkout-api-p99-latency", dimensions={"ApiName": "checkout"}, value=2210.0, threshold=1500.0
        ),
        cfg,
    )
    d = plan.decision
    assert not plan.train and plan.notice == "none"
    assert (d.outcome, d.model) == (Outcome.IGNORED, "(unknown)")
    assert "unknown alarm" in d.reasons[0]
    assert (d.evidence["alarm"], d.evidence["value"], d.evidence["threshold"]) == (
        "checkout-api-p99-latency",
        2210.0,
        1500.0,
    )


def test_an_older_change_than_the_state_seen_is_stale(cfg: GlueConfig) -> None:
    doc = {"state": "OK", "timestamp": (T0 + timedelta(minutes=10)).isoformat()}
    plan = run(change(), cfg, doc=doc)
    assert not plan.train and plan.decision.outcome is Outcome.IGNORED
    assert "stale: the alarm has since moved to OK" in plan.decision.reasons[0]


def test_alarm_within_debounce_of_the_last_emergency_is_ignored_with_a_thread_reply(cfg: GlueConfig) -> None:
    plan = run(change(), cfg, ledger=runs(timedelta(minutes=20)))
    assert not plan.train and plan.notice == "reply"
    assert plan.decision.outcome is Outcome.IGNORED
    assert plan.decision.reasons[1].startswith("debounce: last emergency training 20 min ago < 30 min")


def test_cooldown_and_budget_reject_with_an_alert(cfg: GlueConfig) -> None:
    cooldown = run(change(), cfg, ledger=runs(timedelta(minutes=45)))
    assert cooldown.decision.outcome is Outcome.REJECTED and cooldown.notice == "alert" and not cooldown.train
    assert "emergency cooldown: last training 45 min ago < 1.0 h" in cooldown.decision.reasons[1]
    budget = run(change(), cfg, ledger=runs(timedelta(hours=3), timedelta(hours=9)))
    assert budget.decision.outcome is Outcome.REJECTED
    assert budget.decision.reasons[1] == "emergency budget: 2 trainings in the last 24 h ≥ max_per_day 2"
    # a day later the budget is back
    assert run(change(), cfg, ledger=runs(timedelta(hours=25), timedelta(hours=30))).train


def test_a_retried_decision_is_not_blocked_by_its_own_reservation(cfg: GlueConfig) -> None:
    first = run(change(), cfg)
    ledger = {"runs": [{"at": T0.isoformat(), "gpu_hours": 4, "decision_id": first.decision.decision_id}]}
    assert run(change(), cfg, ledger=ledger).train


def test_dataset_falls_back_to_the_data_prefix_then_rejects(cfg: GlueConfig) -> None:
    fallback = run(change(), cfg, last=None)
    assert fallback.train and fallback.dataset_uri == "s3://ml-data-dev/fraud/incoming/"
    assert "no data window recorded yet, training on the data prefix" in fallback.decision.reasons[1]
    nodata = run(change("mlops-glue-dev-ranker-quality", dimensions={}), cfg, last=None)
    assert not nodata.train and nodata.decision.outcome is Outcome.REJECTED and nodata.notice == "alert"
    assert "no dataset" in nodata.decision.reasons[1]
