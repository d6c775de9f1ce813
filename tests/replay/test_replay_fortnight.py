"""Replay two weeks of recorded events under changed thresholds: the exact differences and the summary.

The expectations below are worked out by hand from the scenario (tests/replay/fortnight.py), not taken
from a run: each comment says why the decision changes.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from mlops_glue.replay.compare import ReplayReport, render, replay

from tests.replay.fortnight import T0, UNTIL, base_doc, changed, config, day, fortnight

Key = tuple[datetime, str, tuple[tuple[str, str, str | None], ...], tuple[tuple[str, str, str | None], ...]]
RETRAIN = ("retrain", "acted", None)
DEFERRED = ("retrain", "deferred", None)

EXPECTED: dict[str, list[Key]] = {
    # min_new_rows 10,000 -> 6,000 with files of 4,000 rows: the windows close after 2 files instead of 3
    "rows": [
        (day(1, 10), "rows", (), (RETRAIN,)),  # 8,000 rows now suffice
        (day(1, 11), "rows", (RETRAIN,), ()),  # the third file opens the next window instead
        (day(2, 9), "rows", (), (RETRAIN,)),  # 4,000 left over + 4,000
        # day 2, 11:00: both retrain (12,000 before; 4,000 + 4,000 after): no difference
    ],
    # one column of four drifts (share 0.25): below 0.5, at 0.25
    "drift": [(day(3, 9), "drift", (), (RETRAIN,))],
    # the second ready window comes 12 h after the first: within a 24 h cooldown, not a 6 h one
    "cool": [
        (day(4, 20), "cool", (RETRAIN,), (DEFERRED,)),
        (day(5, 8), "cool", (), (RETRAIN,)),  # the sweep when the 24 h are over
    ],
    # a second breach 2 h after an emergency training: allowed by a 1 h emergency cooldown, not by 12 h
    "alarm": [
        (
            day(6, 12),
            "alarm",
            (("emergency_retrain", "acted", None),),
            (("emergency_retrain", "rejected", None),),
        )
    ],
    # three ready windows in a day: max_per_day 1 defers the second (the third joins its window) to the
    # sweep 24 h after the first training
    "budget": [
        (day(8, 13), "budget", (RETRAIN,), (DEFERRED,)),
        (day(8, 17), "budget", (RETRAIN,), ()),
        (day(9, 9), "budget", (), (RETRAIN,)),
    ],
    # v3 has val_auc 0.88: through a 0.85 gate, not a 0.9 one — and then its staging deployment, and the
    # auto-promotion to production it triggered, never happen
    "gate": [
        (day(10, 10), "gate", (("promote", "acted", "staging"),), (("promote", "rejected", "staging"),)),
        (
            day(10, 11),
            "gate",
            (("notify_only", "acted", "staging"), ("promote", "acted", "production")),
            (),
        ),
    ],
}

BEFORE = {
    "retrainings": 7,  # rows 2, drift 0, cool 2, budget 3
    "emergency_retrainings": 2,
    "gpu_hours": 39.0,  # rows 2 x 2, cool 2 x 4, budget 3 x 5, alarm 2 x 6
    "promotions": 3,  # v3 staging, v3 production (auto), v4 staging
    "rollbacks": 1,  # v4 degraded in staging
    "deferred": 0,
    "rejected": 1,  # the deploy tag asking for the blocked v4
}
AFTER = {
    "retrainings": 8,  # rows 3, drift 1, cool 2, budget 2
    "emergency_retrainings": 1,
    "gpu_hours": 33.0,  # rows 3 x 2, drift 1 x 3, cool 2 x 4, budget 2 x 5, alarm 1 x 6
    "promotions": 1,  # v4 staging
    "rollbacks": 1,
    "deferred": 2,  # cool, budget
    "rejected": 3,  # the second breach, v3's gate, the deploy tag for v4
}


def keys(report: ReplayReport) -> list[Key]:
    return [
        (d.moment.at, d.moment.model, tuple(x.key for x in d.before), tuple(x.key for x in d.after))
        for d in report.differences
    ]


def run(*which: str) -> ReplayReport:
    return replay(fortnight(), config(base_doc()), config(changed(*which)), since=T0, until=UNTIL)


def test_every_change_together_gives_exactly_the_expected_differences_and_summary() -> None:
    report = run()

    assert keys(report) == sorted((k for ks in EXPECTED.values() for k in ks), key=lambda k: k[0])
    assert report.before.to_dict() == BEFORE
    assert report.after.to_dict() == AFTER
    assert report.events == 23


@pytest.mark.parametrize("which", sorted(EXPECTED))
def test_each_change_alone_changes_only_its_own_decisions(which: str) -> None:
    assert keys(run(which)) == EXPECTED[which]


def test_the_same_configuration_changes_nothing() -> None:
    report = replay(fortnight(), config(base_doc()), config(base_doc()), since=T0, until=UNTIL)

    assert report.differences == []
    assert report.before.to_dict() == report.after.to_dict() == BEFORE
    assert "no decision differs" in render(report)


def test_the_report_shows_both_outcomes_with_their_reasons() -> None:
    text = render(run("cool", "gate"))

    assert "before: retrain ACTED" in text and "after:  retrain DEFERRED" in text
    assert "cooldown: last training 12.0 h ago < 1.0 d (wait 12.0 h)" in text
    assert "✓ val_auc 0.88 ≥ 0.85" in text and "✗ val_auc 0.88 < 0.9" in text
    # the feedback that cannot happen any more says why
    assert "would not have happened: this configuration did not bump v3" in text


def test_a_period_and_a_model_narrow_the_replay() -> None:
    only = replay(fortnight(), config(base_doc()), config(changed()), since=T0, until=UNTIL, model="budget")
    assert {d.moment.model for d in only.differences} == {"budget"}
    assert only.events == 3

    # the first four days only: the rows and drift changes and the cool deferral on day 4
    early = replay(fortnight(), config(base_doc()), config(changed()), since=T0, until=day(4, 21))
    assert [k[:2] for k in keys(early)] == [
        (day(1, 10), "rows"),
        (day(1, 11), "rows"),
        (day(2, 9), "rows"),
        (day(3, 9), "drift"),
        (day(4, 20), "cool"),
    ]


def test_the_baseline_in_a_forked_process_gives_the_same_report(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_glue.replay import compare

    sequential = run()
    monkeypatch.setattr(compare, "PARALLEL_FROM", 1)  # large periods run the baseline alongside
    parallel = run()
    assert parallel.to_dict() == sequential.to_dict()
