"""The pure window decision: rows, drift, max wait; deferral by in-flight, cooldown and budget."""

from __future__ import annotations

from datetime import timedelta

from arrival_helpers import MODEL, T0, make_config
from mlops_glue.decisions.retrain import DriftSummary, WindowStats, decide_window
from mlops_glue.documents import Ledger


def cfg(**kw: object):  # type: ignore[no-untyped-def]
    return make_config(**kw).model(MODEL).retrain


def stats(rows: int, *, age_h: float = 1, drift: DriftSummary | None = None) -> WindowStats:
    return WindowStats("w1", rows, rows // 10, T0 - timedelta(hours=age_h), drift)


def test_accumulates_below_every_threshold() -> None:
    v = decide_window(stats(999), cfg(), T0, ledger=None)
    assert v.trigger is None and not v.ready and v.reasons == []


def test_rows_trigger_names_the_numbers() -> None:
    v = decide_window(stats(1000), cfg(), T0, ledger=None, in_flight=[])
    assert v.trigger == "rows"
    assert v.reasons == ["1,000 new rows in 100 files ≥ min_new_rows 1,000"]
    assert v.evidence["thresholds"]["min_new_rows"] == 1000


def test_drift_trigger_needs_enough_rows() -> None:
    drifted = DriftSummary("drift", 0.6, 0.4, (("num_03", 0.4), ("cat_1", 0.3)))
    c = cfg(drift={"min_rows": 200, "dataset_drift_share": 0.5})
    v = decide_window(stats(300, drift=drifted), c, T0, ledger=None, in_flight=[])
    assert v.trigger == "drift"
    assert "drift share 0.60 ≥ 0.50: num_03 (0.4), cat_1 (0.3)" in v.reasons[0]
    assert decide_window(stats(150, drift=drifted), c, T0, ledger=None).trigger is None
    clean = DriftSummary("no_drift", 0.1, 0.05)
    assert decide_window(stats(300, drift=clean), c, T0, ledger=None).trigger is None


def test_max_wait_with_minimum_rows() -> None:
    c = cfg(max_wait="2d", drift={"min_rows": 100})
    assert decide_window(stats(150, age_h=49), c, T0, ledger=None, in_flight=[]).trigger == "max_wait"
    assert decide_window(stats(50, age_h=49), c, T0, ledger=None).trigger is None
    assert decide_window(stats(150, age_h=47), c, T0, ledger=None).trigger is None


def test_cooldown_budget_and_in_flight_defer_with_reasons() -> None:
    c = cfg(cooldown="6h", budget={"max_per_day": 1, "gpu_hours_per_run": 4, "monthly_gpu_hours": 100})
    ledger = Ledger.model_validate(
        {"runs": [{"at": (T0 - timedelta(hours=2)).isoformat(), "gpu_hours": 4, "decision_id": "d-1"}]}
    )
    v = decide_window(stats(1000), c, T0, ledger=ledger, in_flight=["retrain-d-1"])
    assert v.trigger is None and v.ready
    assert v.defer == ("in_flight", "cooldown", "budget")
    assert any(r.startswith("cooldown: last training 2.0 h ago < 6.0 h") for r in v.reasons)
    assert any("max_per_day 1" in r for r in v.reasons)
    assert any("retrain-d-1" in r for r in v.reasons)
    later = decide_window(stats(1000), c, T0 + timedelta(days=1), ledger=ledger, in_flight=[])
    assert later.trigger == "rows"


def test_monthly_gpu_cap_defers() -> None:
    c = cfg(budget={"max_per_day": 10, "gpu_hours_per_run": 4, "monthly_gpu_hours": 10})
    ledger = Ledger.model_validate(
        {"runs": [{"at": (T0 - timedelta(days=3)).isoformat(), "gpu_hours": 8, "decision_id": "d-1"}]}
    )
    v = decide_window(stats(1000), c, T0, ledger=ledger, in_flight=[])
    assert v.defer == ("budget",)
    assert "monthly cap 10" in v.reasons[-1]
