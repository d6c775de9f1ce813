"""Cooldown and budget: pure checks over a ledger of past trainings (one ledger per model and kind).

The ledger is a plain document kept in the state store: ``{"runs": [{"at": iso, "gpu_hours": h,
"decision_id": id}, ...]}``. Normal and emergency retrainings keep separate ledgers. A run made in shadow
mode (nothing trained) is marked ``"shadow": true`` and is not counted here: the shadow store hands the
model's shadow decisions their ledger unmarked, so only a shadowed model counts its shadow runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mlops_glue.texts import duration_text


def _runs(ledger: dict[str, Any] | None) -> list[tuple[datetime, float, str]]:
    out = []
    for r in (ledger or {}).get("runs", []):
        if r.get("shadow"):
            continue
        out.append(
            (datetime.fromisoformat(r["at"]), float(r.get("gpu_hours", 0.0)), str(r.get("decision_id", "")))
        )
    return out


def deferral_reasons(
    ledger: dict[str, Any] | None,
    now: datetime,
    *,
    cooldown: timedelta,
    max_per_day: int,
    gpu_hours_per_run: float = 0.0,
    monthly_gpu_hours: float | None = None,
) -> list[str]:
    """Why a training must wait now (empty: it may run). Human sentences for the decision record."""
    runs = _runs(ledger)
    reasons: list[str] = []
    if runs:
        last = max(at for at, _, _ in runs)
        if now - last < cooldown:
            left = cooldown - (now - last)
            reasons.append(
                f"cooldown: last training {duration_text(now - last)} ago < {duration_text(cooldown)} (wait {duration_text(left)})"
            )
    today = [r for r in runs if now - r[0] < timedelta(days=1)]
    if len(today) >= max_per_day:
        reasons.append(f"budget: {len(today)} trainings in the last 24 h ≥ max_per_day {max_per_day}")
    if monthly_gpu_hours is not None:
        month = [h for at, h, _ in runs if (at.year, at.month) == (now.year, now.month)]
        used = sum(month)
        if used + gpu_hours_per_run > monthly_gpu_hours:
            reasons.append(
                f"budget: {used:g} + {gpu_hours_per_run:g} GPU hours would exceed the monthly cap {monthly_gpu_hours:g}"
            )
    return reasons


def record_run(
    ledger: dict[str, Any] | None, now: datetime, gpu_hours: float, decision_id: str
) -> dict[str, Any]:
    """The ledger with one more run (idempotent on ``decision_id``); runs older than 40 days are dropped."""
    runs = [
        r
        for r in (ledger or {}).get("runs", [])
        if now - datetime.fromisoformat(r["at"]) < timedelta(days=40)
    ]
    if not any(r.get("decision_id") == decision_id for r in runs):
        runs.append({"at": now.isoformat(), "gpu_hours": gpu_hours, "decision_id": decision_id})
    return {"runs": runs}


def last_run(ledger: dict[str, Any] | None) -> datetime | None:
    runs = _runs(ledger)
    return max((at for at, _, _ in runs), default=None)
