"""Replay one period under two configurations and say what differs.

The *baseline* is the configuration in force (the deployed one, or the one an export carries), replayed
over the same events with the same simulated state as the *candidate*: a difference is then the
configuration's doing, not the simulation's. Decisions are compared per moment (a recorded event, or a
sweep of one model) by kind, outcome and environment; both sides' reasons are shown.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlops_glue.config import GlueConfig
from mlops_glue.replay.events import RecordedEvent
from mlops_glue.replay.simulate import Decided, Moment, Simulation, Summary


@dataclass(frozen=True)
class Difference:
    moment: Moment
    before: tuple[Decided, ...]
    after: tuple[Decided, ...]
    before_why: str | None = None
    after_why: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.moment.at.isoformat(),
            "flow": self.moment.flow,
            "model": self.moment.model,
            "event": self.moment.label,
            "event_index": self.moment.index,
            "before": [d.to_dict() for d in self.before],
            "after": [d.to_dict() for d in self.after],
            "before_note": self.before_why,
            "after_note": self.after_why,
        }


@dataclass
class ReplayReport:
    events: int
    since: datetime | None
    until: datetime | None
    differences: list[Difference]
    before: Summary
    after: Summary
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "differences": [d.to_dict() for d in self.differences],
            "summary": {"before": self.before.to_dict(), "after": self.after.to_dict()},
            "notes": list(self.notes),
        }


def ordered(events: Iterable[RecordedEvent], notes: list[str]) -> list[RecordedEvent]:
    """The events in time order, each once; records out of order or repeated are said, not dropped silently.

    The event log and the export give each model's events in turn, so only a model's own events out of
    time order are worth a note. A repeated record (same model, flow, kind and id) is replayed once, at
    its first time: the flow decided when the delivery first came.
    """
    late = 0
    last: dict[str, datetime] = {}
    listed: list[RecordedEvent] = []
    for e in events:
        prev = last.get(e.model)
        if prev is not None and e.at < prev:
            late += 1
        if prev is None or e.at > prev:
            last[e.model] = e.at
        listed.append(e)
    listed.sort(key=lambda e: (e.at, e.sort_key))
    seen: set[tuple[str, str, str, str]] = set()
    out: list[RecordedEvent] = []
    repeats = 0
    for e in listed:
        key = (e.model, e.flow, e.kind, e.id)
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        out.append(e)
    if late:
        notes.append(f"{late:,} record(s) out of time order: replayed in time order")
    if repeats:
        notes.append(f"{repeats:,} repeated record(s) (same event twice): replayed once, at the first")
    return out


def replay(
    events: Sequence[RecordedEvent] | Iterable[RecordedEvent],
    baseline: GlueConfig,
    candidate: GlueConfig,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    model: str | None = None,
) -> ReplayReport:
    """Both configurations over the events of ``[since, until)`` (of ``model``, else every model)."""
    if since is not None and until is not None and until < since:
        raise ValueError(f"the period ends ({until.isoformat()}) before it starts ({since.isoformat()})")
    notes: list[str] = []
    chosen = [
        e
        for e in events
        if (model is None or e.model == model)
        and (since is None or e.at >= since)
        and (until is None or e.at < until)
    ]
    evs = ordered(chosen, notes)
    if not evs:
        notes.append("no recorded event in the period: nothing to replay")
    # the recorded events live as long as the replay: out of the cyclic collector's way (fewer scans,
    # and a forked baseline does not copy their pages by touching them)
    gc.freeze()
    try:
        old, new = _both(evs, baseline, candidate, until)
    finally:
        gc.unfreeze()
    before = {m.key: (m, ds) for m, ds in old.steps}
    after = {m.key: (m, ds) for m, ds in new.steps}
    diffs: list[Difference] = []
    for key in sorted(set(before) | set(after), key=_order(before, after)):
        m, b = before.get(key, (None, []))
        m2, a = after.get(key, (None, []))
        if [d.key for d in b] != [d.key for d in a]:
            moment = m or m2
            assert moment is not None
            i = moment.index
            notes_of = (old.why.get(i), new.why.get(i)) if i is not None else (None, None)
            diffs.append(Difference(moment, tuple(b), tuple(a), *notes_of))
    for n in dict.fromkeys([*old.notes, *new.notes]):
        notes.append(n)
    return ReplayReport(
        len([e for e in evs if e.kind == "event"]), since, until, diffs, old.summary, new.summary, notes
    )


PARALLEL_FROM = 20_000  # events; below, one process runs both (a fork costs more than it saves)
_SHARED: tuple[list[RecordedEvent], datetime | None] | None = None  # what a forked worker reads


def _run_baseline(cfg: GlueConfig) -> Simulation:
    assert _SHARED is not None
    sim = Simulation(cfg).run(*_SHARED)
    sim.store = None  # type: ignore[assignment]  # not needed back (and not worth pickling)
    return sim


def _both(
    evs: list[RecordedEvent], baseline: GlueConfig, candidate: GlueConfig, until: datetime | None
) -> tuple[Simulation, Simulation]:
    """The two simulations; on a large period the baseline runs in a forked process alongside."""
    global _SHARED
    if len(evs) < PARALLEL_FROM or (os.cpu_count() or 1) < 2 or "fork" not in mp.get_all_start_methods():
        return Simulation(baseline).run(evs, until), Simulation(candidate).run(evs, until)
    _SHARED = (evs, until)
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("fork")) as pool:
            future = pool.submit(_run_baseline, baseline)
            new = Simulation(candidate).run(evs, until)
            return future.result(), new
    finally:
        _SHARED = None


def _order(before: dict[Any, Any], after: dict[Any, Any]) -> Any:
    def key(k: Any) -> Any:
        m = (before.get(k) or after[k])[0]
        return (m.at, 0 if m.index is not None else 1, m.index or 0, m.model)

    return key


def render(report: ReplayReport, limit: int | None = None) -> str:
    """The report for people: each differing decision (before → after, both reasons), then the summary."""
    lines: list[str] = []
    span = f"{_t(report.since)} .. {_t(report.until)}"
    lines.append(f"replayed {report.events:,} recorded event(s), {span}")
    shown = report.differences if limit is None else report.differences[:limit]
    if not report.differences:
        lines.append("no decision differs")
    for d in shown:
        m = d.moment
        lines.append("")
        lines.append(f"{m.at:%Y-%m-%d %H:%M}  {m.flow}  {m.model}  {m.label}")
        lines.append(f"  before: {_side(d.before, d.before_why)}")
        for r in _reasons(d.before):
            lines.append(f"          because {r}")
        lines.append(f"  after:  {_side(d.after, d.after_why)}")
        for r in _reasons(d.after):
            lines.append(f"          because {r}")
    if limit is not None and len(report.differences) > limit:
        lines.append(f"... and {len(report.differences) - limit:,} more (--json for all)")
    lines.append("")
    lines.append(f"{len(report.differences):,} decision(s) differ")
    b, a = report.before.to_dict(), report.after.to_dict()
    width = max(len(k) for k in b)
    lines.append(f"  {'':{width}}  {'before':>9}  {'after':>9}")
    for k in b:
        lines.append(f"  {k:{width}}  {b[k]:>9}  {a[k]:>9}")
    for n in report.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines)


def _t(t: datetime | None) -> str:
    return t.isoformat(timespec="minutes") if t else "…"


def _side(ds: Sequence[Decided], why: str | None = None) -> str:
    if not ds:
        return f"no decision ({why})" if why else "no decision"
    return "; ".join(
        f"{d.kind}{'/' + d.environment if d.environment else ''} {d.outcome.upper()}" for d in ds
    )


def _reasons(ds: Sequence[Decided]) -> list[str]:
    return [r for d in ds for r in d.reasons[:3]]
