"""Pure rules of a data window besides its trigger (:mod:`mlops_glue.decisions.retrain`): which files stay
out, when the drift verdict is due again, what the budget counts and when a deferral is new."""

from __future__ import annotations

from typing import Any

from mlops_glue.documents import Ledger, PendingWindow, Run
from mlops_glue.records import make_decision_id

DRIFT_REEVAL = 1.1  # re-judge drift when the window grew by 10% since the last verdict


def file_problems(counts: Any) -> list[str]:
    """Why one file must stay out of the window: unreadable, malformed rows, missing or retyped columns.

    Judged on the file's own counts, not on its drift verdict: a 10-row file with an all-null
    column is fine, and a new column is tolerated (it shows as schema drift in the window's report).
    """
    problems = []
    if counts.read_errors:
        problems.append("unreadable: " + "; ".join(str(e) for e in counts.errors[:2]))
    if counts.bad_rows:
        example = f" (e.g. {counts.bad_row_examples[0]})" if counts.bad_row_examples else ""
        problems.append(f"{counts.bad_rows:,} malformed rows{example}")
    if counts.missing:
        problems.append("missing columns: " + ", ".join(sorted(counts.missing)))
    if counts.retyped:
        problems.append("retyped columns: " + ", ".join(sorted(counts.retyped)))
    bad = sorted(n for n, c in counts.columns.items() if getattr(c, "unparseable", 0))
    if bad:
        problems.append("unparseable values in: " + ", ".join(bad))
    return problems


def drift_due(rows: int, judged_rows: int, min_rows: int) -> bool:
    """Judge drift again: enough rows, and the window grew by ``DRIFT_REEVAL`` since the last verdict."""
    return rows >= min_rows and rows >= int(judged_rows * DRIFT_REEVAL)


def with_pending(ledger: Ledger | None, pending: list[PendingWindow], gpu_hours: float) -> Ledger:
    """The ledger plus the windows closed but not yet recorded: they count against the budget."""
    ledger = ledger or Ledger()
    known = {r.decision_id for r in ledger.runs}
    runs = [Run(at=e.closed_at, gpu_hours=gpu_hours, decision_id=e.decision_id) for e in pending]
    return ledger.model_copy(
        update={"runs": [*ledger.runs, *(r for r in runs if r.decision_id not in known)]}
    )


def deferral_id(window_id: str, defer: list[str] | tuple[str, ...]) -> str:
    """One decision id per window and set of reasons to wait: a deferral is recorded once, not per file."""
    return make_decision_id("retrain-deferred", window_id, *sorted(defer))
