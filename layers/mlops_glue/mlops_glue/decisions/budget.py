"""Cooldown and budget: pure checks over a ledger of past trainings (one ledger per model and kind).

The ledger is :class:`mlops_glue.documents.Ledger` (its runs: when, GPU hours, decision id). Normal and
emergency retrainings keep separate ledgers. A run made in shadow mode (nothing trained) is marked
``shadow`` and is not counted here: the shadow store hands the model's shadow decisions their ledger
unmarked, so only a shadowed model counts its shadow runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mlops_glue.documents import Ledger
from mlops_glue.texts import duration_text


def deferral_reasons(
    ledger: Ledger | None,
    now: datetime,
    *,
    cooldown: timedelta,
    max_per_day: int,
    gpu_hours_per_run: float = 0.0,
    monthly_gpu_hours: float | None = None,
) -> list[str]:
    """Why a training must wait now (empty: it may run). Human sentences for the decision record."""
    runs = ledger.counted() if ledger else []
    reasons: list[str] = []
    if runs:
        last = max(r.at for r in runs)
        if now - last < cooldown:
            left = cooldown - (now - last)
            reasons.append(
                f"cooldown: last training {duration_text(now - last)} ago < {duration_text(cooldown)} (wait {duration_text(left)})"
            )
    today = [r for r in runs if now - r.at < timedelta(days=1)]
    if len(today) >= max_per_day:
        reasons.append(f"budget: {len(today)} trainings in the last 24 h ≥ max_per_day {max_per_day}")
    if monthly_gpu_hours is not None:
        used = sum(r.gpu_hours for r in runs if (r.at.year, r.at.month) == (now.year, now.month))
        if used + gpu_hours_per_run > monthly_gpu_hours:
            reasons.append(
                f"budget: {used:g} + {gpu_hours_per_run:g} GPU hours would exceed the monthly cap {monthly_gpu_hours:g}"
            )
    return reasons


def record_run(ledger: Ledger | None, now: datetime, gpu_hours: float, decision_id: str) -> Ledger:
    """The ledger with one more run (idempotent on ``decision_id``); runs older than 40 days are dropped."""
    return (ledger or Ledger()).with_run(now, gpu_hours, decision_id)


def last_run(ledger: Ledger | None) -> datetime | None:
    return max((r.at for r in ledger.counted()), default=None) if ledger else None
