"""When does a window of new data trigger a retraining? Pure rules over the window, the config and the ledger.

A window is *ready* when it holds ``min_new_rows`` rows, or its drift verdict fired with at least
``drift.min_rows`` rows, or ``max_wait`` passed since it opened with at least ``drift.min_rows`` rows
(the issue's "minimum rows": the same floor as a drift verdict). A ready window *triggers* unless an
earlier training is in flight, or the cooldown or budget says wait: then it is *deferred* with the reasons,
keeps accumulating, and the sweep looks again later.

Drift fires on the dataset drift of the compared columns. A tolerated schema change in the window (a new
column: files with missing or retyped columns are rejected one by one before they enter a window) is
reported with the verdict and does not veto the trigger for the rest of the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from mlops_glue.config import Retrain
from mlops_glue.decisions.budget import deferral_reasons
from mlops_glue.documents import Ledger
from mlops_glue.texts import duration_text

RetrainTrigger = Literal["rows", "drift", "max_wait"]
DeferKind = Literal["in_flight", "cooldown", "budget", "backlog"]
MAX_PENDING = 50  # closed windows waiting for submission; beyond it a ready window keeps collecting


@dataclass(frozen=True)
class DriftSummary:
    """The part of a drift result a decision needs (kept in the window document)."""

    verdict: str
    drift_share: float
    max_score: float
    drifted_columns: tuple[tuple[str, float], ...] = ()  # (column, score), highest first
    messages: tuple[str, ...] = ()
    dataset_drift: bool | None = None  # None (older documents): the verdict said "drift"

    @property
    def drifted(self) -> bool:
        """The compared columns drifted as a dataset, whatever schema notes came with the verdict."""
        return self.verdict == "drift" if self.dataset_drift is None else self.dataset_drift

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "dataset_drift": self.drifted,
            "drift_share": self.drift_share,
            "max_score": self.max_score,
            "drifted_columns": [list(c) for c in self.drifted_columns],
            "messages": list(self.messages),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftSummary:
        return cls(
            verdict=str(d["verdict"]),
            drift_share=float(d.get("drift_share", 0.0)),
            max_score=float(d.get("max_score", 0.0)),
            drifted_columns=tuple((str(c), float(s)) for c, s in d.get("drifted_columns", [])),
            messages=tuple(d.get("messages", [])),
            dataset_drift=None if d.get("dataset_drift") is None else bool(d["dataset_drift"]),
        )


@dataclass(frozen=True)
class WindowStats:
    window_id: str
    rows: int
    files: int
    opened_at: datetime
    drift: DriftSummary | None = None


@dataclass(frozen=True)
class WindowVerdict:
    """``trigger`` set: submit now. ``defer`` set: ready but must wait. Neither: keep accumulating."""

    trigger: RetrainTrigger | None
    reasons: list[str]
    defer: tuple[DeferKind, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.trigger is not None or bool(self.defer)


def readiness(stats: WindowStats, cfg: Retrain, now: datetime) -> tuple[RetrainTrigger | None, list[str]]:
    """Whether the window is ready and why (human sentences); rows first, then drift, then age."""
    if stats.rows >= cfg.min_new_rows:
        return "rows", [
            f"{stats.rows:,} new rows in {stats.files:,} files ≥ min_new_rows {cfg.min_new_rows:,}"
        ]
    d = stats.drift
    if d is not None and d.drifted and d.verdict != "data_quality" and stats.rows >= cfg.drift.min_rows:
        cols = ", ".join(f"{c} ({s:.3g})" for c, s in d.drifted_columns[:5]) or "no column named"
        out = [
            f"drift share {d.drift_share:.2f} ≥ {cfg.drift.dataset_drift_share:.2f}: {cols}",
            f"{stats.rows:,} rows ≥ drift.min_rows {cfg.drift.min_rows:,}",
        ]
        if d.verdict == "schema_drift":
            schema = [m for m in d.messages if m.startswith(("new columns", "missing columns", "retyped"))]
            out.append("schema change reported, not a veto: " + "; ".join(schema or ["see the report"]))
        return "drift", out
    age = now - stats.opened_at
    if age >= cfg.max_wait and stats.rows >= cfg.drift.min_rows:
        return "max_wait", [
            f"window open {duration_text(age)} ≥ max_wait {duration_text(cfg.max_wait)} with {stats.rows:,} rows "
            f"≥ minimum {cfg.drift.min_rows:,}"
        ]
    return None, []


def decide_window(
    stats: WindowStats,
    cfg: Retrain,
    now: datetime,
    *,
    ledger: Ledger | None,
    in_flight: list[str] | None = None,
    pending: int = 0,
) -> WindowVerdict:
    """The verdict for a window: trigger, defer (with reasons) or keep accumulating.

    ``ledger`` holds the past and still-pending retrainings of the model (see ``decisions.budget``);
    ``in_flight`` the names of its workflows still pending or running in Argo (None: not asked, because
    the window is not ready — callers ask Argo only then); ``pending`` how many closed windows still
    wait for submission (at ``MAX_PENDING`` the window keeps collecting: the window item stays bounded).
    """
    trigger, reasons = readiness(stats, cfg, now)
    evidence = {
        "rows": stats.rows,
        "files": stats.files,
        "window_id": stats.window_id,
        "opened_at": stats.opened_at.isoformat(),
        "thresholds": {
            "min_new_rows": cfg.min_new_rows,
            "drift_min_rows": cfg.drift.min_rows,
            "dataset_drift_share": cfg.drift.dataset_drift_share,
            "max_wait_s": cfg.max_wait.total_seconds(),
            "cooldown_s": cfg.cooldown.total_seconds(),
            "max_per_day": cfg.budget.max_per_day,
            "monthly_gpu_hours": cfg.budget.monthly_gpu_hours,
        },
    }
    if stats.drift is not None:
        evidence["drift"] = stats.drift.to_dict()
    if trigger is None:
        return WindowVerdict(None, [], evidence=evidence)
    waits = deferral_reasons(
        ledger,
        now,
        cooldown=cfg.cooldown,
        max_per_day=cfg.budget.max_per_day,
        gpu_hours_per_run=cfg.budget.gpu_hours_per_run,
        monthly_gpu_hours=cfg.budget.monthly_gpu_hours,
    )
    kinds: list[DeferKind] = []
    if in_flight:
        kinds.append("in_flight")
        waits.insert(0, f"in flight: {', '.join(in_flight[:3])} still pending or running")
    if any(w.startswith("cooldown") for w in waits):
        kinds.append("cooldown")
    if any(w.startswith("budget") for w in waits):
        kinds.append("budget")
    if pending >= MAX_PENDING:
        kinds.append("backlog")
        waits.append(
            f"backlog: {pending} closed windows still wait for submission (limit {MAX_PENDING}); "
            "this one keeps collecting until they are submitted"
        )
    evidence["ready_because"] = trigger
    if kinds:
        return WindowVerdict(None, [*reasons, *waits], defer=tuple(kinds), evidence=evidence)
    return WindowVerdict(trigger, reasons, evidence=evidence)
