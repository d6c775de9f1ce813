"""Adding a file to its model's open window, and deciding the window, in one optimistic write.

Each attempt reads the window document, adds the file's counts (judging drift when due), decides
(:mod:`mlops_glue.decisions.retrain`: trigger, defer or keep collecting) and writes back conditionally on
the version read — with the file's membership created in the same transaction, so an object enters one
window only. A trigger closes the window into ``pending`` and opens the next, atomically: each window
triggers exactly once. A lost race deletes the blobs it wrote and reads again.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlops_glue import deadline
from mlops_glue.adapters.s3 import ObjectMissingError, put_json
from mlops_glue.adapters.state import ClaimTakenError, ConflictError, Create, StateError
from mlops_glue.config import ModelConfig
from mlops_glue.decisions.retrain import DriftSummary, WindowStats, WindowVerdict, decide_window, readiness
from mlops_glue.decisions.window import deferral_id, drift_due, with_pending
from mlops_glue.documents import Deferral, Member, Window
from mlops_glue.keys import member_key
from mlops_glue.records import Decision, Kind, Outcome
from mlops_glue.repositories import RETRAIN_LEDGERS, WINDOWS, Stored
from mlops_glue.services import arrival_messages as msgs
from mlops_glue.services.arrival_context import ArrivalContext
from mlops_glue.services.arrival_events import ObjectRef
from mlops_glue.services.arrival_window import (
    MAX_SEGMENTS,
    Payload,
    close_window,
    load_payload,
    new_window,
    pending_entry,
    short,
    store_payload,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 200  # optimistic-concurrency retries of one window write (a storm makes many)
WINDOW_ITEM_BUDGET = 200 * 1024  # bytes of a window item's document, whatever the width or backlog


@dataclass(frozen=True)
class ObjectResult:
    """What happened to one object: ``counted``, ``duplicate``, ``skipped``, ``empty``, ``rejected``,
    ``unrouted``."""

    status: str
    model: str | None = None
    window_id: str | None = None
    rows: int = 0
    reason: str = ""
    closed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "model": self.model,
            "window_id": self.window_id,
            "rows": self.rows,
            "reason": self.reason,
            "closed": list(self.closed),
        }

    @classmethod
    def duplicate(cls, model: str, member: Member | None, *, rows: int) -> ObjectResult:
        """Counted before: ``member`` is the object's membership document, naming its window."""
        wid = member.window_id if member else None
        return cls("duplicate", model, wid, rows, f"already counted in window {wid}")


@dataclass(frozen=True)
class FileCounts:
    """One file's counts, encoded once (outside the window write's retry loop)."""

    ref: ObjectRef
    encoded: bytes
    rows: int


@dataclass
class _Write:
    """One attempt's new window document, with the S3 blobs written for it (deleted if it loses the race)."""

    doc: Window
    written: list[str] = field(default_factory=list)
    closed: tuple[str, ...] = ()
    new_deferral: str | None = None


class WindowWriter:
    """Adds files to, and decides, the open windows of the models in ``ctx``."""

    def __init__(self, ctx: ArrivalContext) -> None:
        self.ctx = ctx
        self.conflicts = 0  # lost optimistic-concurrency races of window writes (contention, for tests/bench)

    def merge(self, model: str, model_cfg: ModelConfig, file: FileCounts | None) -> ObjectResult:
        """The optimistic read-add-decide-write of the window, retried on a lost race (``file`` None:
        re-evaluate only, as the sweep does)."""
        for _attempt in range(MAX_ATTEMPTS):
            result = self._merge_once(model, model_cfg, file)
            if result is not None:
                return result
        raise StateError(f"window of {model}: too much contention after {MAX_ATTEMPTS} attempts")

    def _merge_once(self, model: str, model_cfg: ModelConfig, file: FileCounts | None) -> ObjectResult | None:
        """One attempt: None when it lost a race (read again)."""
        now = self.ctx.clock()
        cur = WINDOWS.at(self.ctx.store, model).read()
        doc = cur.doc if cur else new_window(model, 0, now, None, [])
        doc.model = doc.model or model
        try:
            payload = load_payload(self.ctx.objects, doc)
        except ObjectMissingError:
            return None  # the blob was superseded by a concurrent writer: read again
        if file is not None:
            if file.ref.oid in payload.objects:
                return ObjectResult(
                    "duplicate", model, doc.window_id, file.rows, "already in the open window"
                )
            self._add_file(model_cfg, doc, payload, file, now)
        stats = _stats(doc)
        verdict = self._verdict(model, model_cfg, stats, doc, now)
        deadline.current().check(1.0, f"writing the window of {model}")
        write = (
            self._close(model, doc, payload, verdict, now)
            if verdict.trigger is not None
            else self._keep_open(model, doc, payload, verdict, file)
        )
        if write is None:
            return ObjectResult("unchanged", model, doc.window_id)
        try:
            self._save(model, cur, write.doc, file, doc.window_id, now)
        except ClaimTakenError as exc:  # counted meanwhile by a concurrent delivery of the same object
            self._discard(write.written)
            found = next(iter(exc.existing.values()), None)
            member = Member.model_validate(found) if found else None
            return ObjectResult.duplicate(model, member, rows=file.rows if file else 0)
        except ConflictError:
            self.conflicts += 1
            self._discard(write.written)
            return None
        old_uri = (doc.payload or {}).get("uri")
        if old_uri and (file is not None or write.closed):
            self.ctx.objects.delete(old_uri)  # superseded by the blob (or inline payload) just written
        self._after_write(model, stats, verdict, write, payload, counted=file is not None)
        status = "counted" if file is not None else ("triggered" if write.closed else "deferred")
        rows = file.rows if file else 0
        return ObjectResult(status, model, doc.window_id, rows, "; ".join(verdict.reasons), write.closed)

    def _add_file(
        self, model_cfg: ModelConfig, doc: Window, payload: Payload, file: FileCounts, now: datetime
    ) -> None:
        """Add the file to the document and payload; judge drift when due (else merge every few files)."""
        ref = file.ref
        payload.objects[ref.oid] = [ref.bucket, ref.key, ref.version_id, ref.etag, file.rows, ref.event_id]
        payload.segments.append(file.encoded)
        doc.rows += file.rows
        doc.files += 1
        doc.updated_at = now
        profile = self.ctx.profile(str(doc.model))
        if drift_due(doc.rows, doc.drift_rows, model_cfg.retrain.drift.min_rows):
            merged = payload.compact(profile)
            doc.drift = self._drift_summary(profile, merged, model_cfg).to_dict()
            doc.drift_rows = doc.rows
        elif len(payload.segments) >= MAX_SEGMENTS:
            payload.compact(profile)

    def _close(
        self, model: str, doc: Window, payload: Payload, verdict: WindowVerdict, now: datetime
    ) -> _Write:
        """The window triggers: its payload and evidence go to S3, it closes into ``pending``."""
        assert verdict.trigger is not None
        ws = self.ctx.workspace
        _, payload_uri = store_payload(self.ctx.objects, ws, model, doc.window_id, payload.pack(), True)
        assert payload_uri is not None
        evidence_uri = ws.uri(ws.windows_prefix, model, doc.window_id, f"evidence-{uuid.uuid4().hex}.json")
        put_json(self.ctx.objects, evidence_uri, verdict.evidence)
        entry = pending_entry(model, doc, verdict.trigger, verdict.reasons, (payload_uri, evidence_uri), now)
        return _Write(close_window(model, doc, entry, now), [payload_uri, evidence_uri], (doc.window_id,))

    def _keep_open(
        self,
        model: str,
        doc: Window,
        payload: Payload,
        verdict: WindowVerdict,
        file: FileCounts | None,
    ) -> _Write | None:
        """The window stays open: the new payload (a file was added), the deferral; None: nothing changed."""
        write = _Write(doc.model_copy())
        if file is not None:
            ws = self.ctx.workspace
            stored, uri = store_payload(self.ctx.objects, ws, model, doc.window_id, payload.pack(), False)
            write.doc.payload = stored
            write.written.extend([uri] if uri else [])
        if verdict.defer:
            did = deferral_id(doc.window_id, verdict.defer)
            if doc.deferred is None or doc.deferred.decision_id != did:
                write.new_deferral = did
            write.doc.deferred = Deferral(
                decision_id=did, kinds=list(verdict.defer), reasons=short(verdict.reasons)
            )
        elif file is None:
            return None
        return write

    def _save(
        self,
        model: str,
        cur: Stored[Window] | None,
        doc: Window,
        file: FileCounts | None,
        window_id: str,
        now: datetime,
    ) -> None:
        """Write the document (conditional on the version read) and the file's membership, in one transaction."""
        data = doc.to_json()
        size = len(json.dumps(data, separators=(",", ":"), default=str))
        if size > WINDOW_ITEM_BUDGET:  # a bug, not a data problem: say so loudly, still write
            logger.error("window item over its budget", extra={"model": model, "bytes": size})
        version = None if cur is None else cur.version
        window = WINDOWS.at(self.ctx.store, model)
        if file is None:
            window.put(doc, version)
            return
        ref = file.ref
        member = Member(
            window_id=window_id,
            bucket=ref.bucket,
            key=ref.key,
            version_id=ref.version_id,
            etag=ref.etag,
            rows=file.rows,
            counted_at=now.isoformat(),
        )
        created = Create(*member_key(model, ref.oid), member.to_json())
        self.ctx.store.put_with_creates(*window.key, data, version, [created])

    def _discard(self, uris: list[str]) -> None:
        for uri in uris:
            self.ctx.objects.delete(uri)

    def _after_write(
        self,
        model: str,
        stats: WindowStats,
        verdict: WindowVerdict,
        write: _Write,
        payload: Payload,
        *,
        counted: bool,
    ) -> None:
        metrics = self.ctx.metrics
        metrics.emit("WindowRows", stats.rows, "Count", {"model": model})
        if stats.drift is not None and counted:
            metrics.emit("DriftShare", stats.drift.drift_share, "None", {"model": model})
            metrics.emit("DriftScoreMax", stats.drift.max_score, "None", {"model": model})
        if write.new_deferral:
            self._deferred(model, write.new_deferral, verdict, payload)

    def _drift_summary(self, profile: Any, counts: Any, model_cfg: ModelConfig) -> DriftSummary:
        from mlops_glue.drift import evaluate

        r = evaluate(profile, counts, model_cfg.retrain.drift)
        drifted = tuple((c.name, float(c.score)) for c in r.columns if c.drifted)
        return DriftSummary(
            verdict=r.verdict,
            drift_share=float(r.drift_share),
            max_score=float(r.max_score),
            drifted_columns=drifted[:10],
            messages=tuple(short(r.messages[:5])),
            dataset_drift=bool(r.dataset_drift),
        )

    def _verdict(
        self, model: str, model_cfg: ModelConfig, stats: WindowStats, doc: Window, now: datetime
    ) -> WindowVerdict:
        """Decide the window; the ledger and Argo are read only when it is ready."""
        trigger, _ = readiness(stats, model_cfg.retrain, now)
        if trigger is None:
            return decide_window(stats, model_cfg.retrain, now, ledger=None)
        ledger = RETRAIN_LEDGERS.at(self.ctx.store, model).load()
        gpu = model_cfg.retrain.budget.gpu_hours_per_run
        return decide_window(
            stats,
            model_cfg.retrain,
            now,
            ledger=with_pending(ledger, doc.pending, gpu),
            in_flight=self.ctx.active(model, model_cfg),
            pending=len(doc.pending),
        )

    def _deferred(self, model: str, decision_id: str, verdict: WindowVerdict, payload: Payload) -> None:
        d = Decision(
            decision_id=decision_id,
            model=model,
            kind=Kind.RETRAIN,
            outcome=Outcome.DEFERRED,
            reasons=verdict.reasons,
            evidence={**verdict.evidence, "defer": list(verdict.defer)},
            inputs=payload.inputs(),
            config_hash=self.ctx.cfg.hash(),
            created_at=self.ctx.clock(),
        )
        self.ctx.record(d)
        if "budget" in verdict.defer or "backlog" in verdict.defer:
            self.ctx.notify(model, msgs.deferred_message(d, self.ctx.channel(model)))


def _stats(doc: Window) -> WindowStats:
    return WindowStats(
        window_id=doc.window_id,
        rows=doc.rows,
        files=doc.files,
        opened_at=doc.opened_at,
        drift=DriftSummary.from_dict(doc.drift) if doc.drift else None,
    )
