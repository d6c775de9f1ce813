"""Submitting the closed windows of a model (its ``pending`` entries) as Argo retrainings.

Per entry: a claim on its decision (``claims.claim``: concurrent drivers do not repeat the work; an
abandoned one is taken over after ``claim_ttl``), the manifest of the window's
objects with their versions, the HTML drift report, the Argo workflow named after the decision id (a 409
counts only when the workflow read back is ours), the ledger and ``LAST_DATASET``, the decision record,
Slack. An unavailable Argo keeps the window pending, records the failure, alerts once and raises
:class:`DriveError` so the SQS message is retried and then kept in the DLQ. A 4xx or a foreign 409 is
recorded FAILED with Argo's answer, alerted once and moved to the window's ``rejected`` list (the oldest
beyond ``MAX_REJECTED`` archived to S3), so it is not resubmitted on every message (a poison pill); a
human re-queues it with ``mlops-glue window resubmit``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mlops_glue import deadline
from mlops_glue.adapters.argo import ArgoError, ArgoRejectedError, ArgoUnavailableError, Submitted
from mlops_glue.adapters.s3 import ObjectMissingError, S3Uri, put_json
from mlops_glue.claims import claim, release
from mlops_glue.decisions.budget import record_run
from mlops_glue.documents import ClaimStatus, LastDataset, PendingWindow, Window
from mlops_glue.keys import claim_key
from mlops_glue.records import Decision, Kind, Outcome
from mlops_glue.repositories import LAST_DATASETS, RETRAIN_LEDGERS, WINDOWS
from mlops_glue.services import arrival_messages as msgs
from mlops_glue.services.arrival_context import ArrivalContext, mark_argo_down
from mlops_glue.services.arrival_window import (
    TEXT_MAX,
    Payload,
    requeue_archived,
    requeue_rejected,
)
from mlops_glue.services.training import submit_training

logger = logging.getLogger(__name__)

SUBMIT_NEED_S = 5.0  # invocation seconds one pending window needs to be submitted (else left pending)
MAX_REJECTED = 100  # windows Argo rejected kept (compact) in the window item; older ones go to S3


class DriveError(Exception):
    """A pending retraining could not be submitted; the message is retried, then kept in the DLQ."""


class Submission:
    """Submits, records and announces the pending windows of the models in ``ctx``."""

    def __init__(self, ctx: ArrivalContext, claim_ttl: timedelta = timedelta(minutes=3)) -> None:
        self.ctx = ctx
        self.claim_ttl = claim_ttl
        self._owners: dict[str, str] = {}  # decision id -> the token of the claim this driver holds

    def drive(self, model: str) -> list[Submitted]:
        """Submit every pending (closed) window of ``model``; DriveError when any submission failed."""
        window = WINDOWS.at(self.ctx.store, model).load()
        done, errors = [], []
        budget = deadline.current()
        for entry in sorted(window.pending if window else [], key=lambda e: e.seq):
            if "argo" in budget.down:  # found down earlier in this invocation: do not wait on it again
                errors.append(f"{model}/{entry.window_id}: not tried, {budget.down['argo']}")
                continue
            budget.check(SUBMIT_NEED_S, f"submitting {model}/{entry.window_id}")
            claimed = self._claim(model, entry)
            if claimed is None:
                continue
            try:
                done.append(self._submit(model, claimed))
            except ArgoRejectedError as exc:  # Argo said no (4xx, a foreign 409): retrying cannot help
                self._rejected(model, claimed, exc)
            except ArgoError as exc:  # unavailable: keep it pending, the message and the sweep retry
                if isinstance(exc, ArgoUnavailableError):
                    mark_argo_down(exc)
                errors.append(self._failed(model, claimed, exc))
            except deadline.OutOfTimeError:
                self._release(claimed, "failed")  # the next message retries it
                raise
        if errors:
            raise DriveError("; ".join(errors))
        return done

    def requeue(self, model: str, window_id: str) -> PendingWindow:
        """Put a window Argo rejected back in ``pending``: from the window item, or from the S3 archive
        (windows beyond the item's ``MAX_REJECTED``). KeyError when it is in neither."""
        try:
            return requeue_rejected(self.ctx.store, model, window_id)
        except KeyError:
            archive = self.ctx.workspace.archive_uri(model, window_id)
            try:
                entry = PendingWindow.model_validate(json.loads(self.ctx.objects.get_bytes(archive)))
            except ObjectMissingError:
                raise KeyError(f"{model} has no window {window_id!r} rejected by Argo") from None
            requeue_archived(self.ctx.store, model, entry)
            self.ctx.objects.delete(archive)
            return entry

    # ---------------------------------------------------------------- the pending entries

    def _claim(self, model: str, entry: PendingWindow) -> PendingWindow | None:
        """Claim one pending entry so concurrent drivers do not repeat the work; count the attempt."""
        owner = claim(self.ctx.store, claim_key(entry.decision_id), self.claim_ttl, self.ctx.clock())
        if owner is None:
            return None
        self._owners[entry.decision_id] = owner

        def attempt(e: PendingWindow) -> PendingWindow:
            e.attempts += 1
            return e

        return self._change_pending(model, entry.window_id, attempt)

    def _release(self, entry: PendingWindow, status: ClaimStatus) -> None:
        owner = self._owners.pop(entry.decision_id, None)
        release(self.ctx.store, claim_key(entry.decision_id), status, self.ctx.clock(), owner)

    def _change_pending(
        self, model: str, window_id: str, fn: Callable[[PendingWindow], PendingWindow | None]
    ) -> PendingWindow | None:
        """Change (or, ``fn`` -> None, remove) one pending entry; returns it as written (None: gone)."""

        def change(doc: Window | None) -> Window | None:
            entry = doc.pending_entry(window_id) if doc else None
            if doc is None or entry is None:
                return None
            at = doc.pending.index(entry)
            new = fn(entry)
            doc.pending[at : at + 1] = [] if new is None else [new]
            return doc

        after = WINDOWS.at(self.ctx.store, model).change(change).after
        return after.pending_entry(window_id) if after else None

    # ---------------------------------------------------------------- one submission

    def _payload(self, entry: PendingWindow) -> Payload:
        return Payload.unpack(self.ctx.objects.get_bytes(entry.payload_uri))

    def _evidence(self, entry: PendingWindow) -> dict[str, Any]:
        """A closed window's full evidence: from S3 (``evidence_uri``), or inline in older entries."""
        inline = (entry.model_extra or {}).get("evidence")
        if inline is not None or entry.evidence_uri is None:
            return dict(inline or {})
        doc: dict[str, Any] = json.loads(self.ctx.objects.get_bytes(entry.evidence_uri))
        return doc

    def _decision_for(self, model: str, entry: PendingWindow, payload: Payload) -> Decision:
        return Decision(
            decision_id=entry.decision_id,
            model=model,
            kind=Kind.RETRAIN,
            outcome=Outcome.ACTED,
            reasons=list(entry.reasons),
            evidence={**self._evidence(entry), "trigger": entry.trigger, "window_id": entry.window_id},
            inputs=payload.inputs(),
            config_hash=self.ctx.cfg.hash(),
            created_at=self.ctx.clock(),
        )

    def _submit(self, model: str, entry: PendingWindow) -> Submitted:
        ctx = self.ctx
        model_cfg = ctx.cfg.model(model)
        profile = ctx.profile(model)
        payload = self._payload(entry)
        d = self._decision_for(model, entry, payload)
        manifest_uri = ctx.workspace.uri(ctx.workspace.manifests_prefix, model, f"{entry.window_id}.json")
        put_json(ctx.objects, manifest_uri, self._manifest(model, entry, payload))
        report_uri, report_url = self._report(model, entry, profile, payload.counts(profile))
        submitted = submit_training(
            d,
            model_cfg,
            dataset_manifest_uri=manifest_uri,
            priority=model_cfg.retrain.argo.priority,
            submitter=ctx.submitter,
            argo=ctx.cfg.argo,
        )
        now = ctx.clock()
        gpu = model_cfg.retrain.budget.gpu_hours_per_run
        RETRAIN_LEDGERS.at(ctx.store, model).change(lambda led: record_run(led, now, gpu, d.decision_id))
        self._set_last_dataset(model, entry, manifest_uri)
        d.action = {
            "workflow": submitted.name,
            "namespace": submitted.namespace,
            "workflow_url": submitted.url or "",
            "manifest_uri": manifest_uri,
            "report_uri": report_uri,
            "report_url": report_url,
            "created": str(submitted.created).lower(),
        }
        ctx.record(d)
        self._change_pending(model, entry.window_id, lambda e: None)
        self._release(entry, "done")
        ctx.metrics.emit("Decisions", 1, "Count", {"model": model, "outcome": Outcome.ACTED.value})
        ctx.notify(model, msgs.trigger_message(d, ctx.channel(model)))
        logger.info(
            "retraining submitted",
            extra={"model": model, "workflow": submitted.name, "workflow_created": submitted.created},
        )
        ctx.forget_in_flight(model)
        return submitted

    def _report(self, model: str, entry: PendingWindow, profile: Any, counts: Any) -> tuple[str, str]:
        """Store the window's HTML drift report and presign it; a broken report never blocks the training."""
        from mlops_glue.drift import evaluate
        from mlops_glue.drift.report import render_html

        ctx = self.ctx
        uri = ctx.workspace.uri(ctx.workspace.reports_prefix, model, f"{entry.window_id}.html")
        try:
            result = evaluate(profile, counts, ctx.cfg.model(model).retrain.drift)
            html = str(render_html(profile, counts, result))
            ctx.objects.put_bytes(uri, html.encode(), "text/html; charset=utf-8")
            return uri, ctx.objects.presign(uri)
        except Exception as exc:
            logger.warning(
                "drift report not written",
                extra={"model": model, "error": f"{type(exc).__name__}: {exc}"[:300]},
            )
            return "", ""

    def _manifest(self, model: str, entry: PendingWindow, payload: Payload) -> dict[str, Any]:
        data = self.ctx.cfg.model(model).data
        assert data is not None
        items = sorted(
            (
                {"bucket": b, "key": k, "version_id": v, "etag": e, "rows": r, "uri": str(S3Uri(b, k, v))}
                for b, k, v, e, r, _ev in payload.objects.values()
            ),
            key=lambda i: (i["key"], i["version_id"] or ""),
        )
        return {
            "model": model,
            "window_id": entry.window_id,
            "decision_id": entry.decision_id,
            "opened_at": entry.opened_at,
            "closed_at": entry.closed_at.isoformat(),
            "rows": entry.rows,
            "files": entry.files,
            "reference_profile": data.reference_profile,
            "objects": items,
        }

    def _set_last_dataset(self, model: str, entry: PendingWindow, manifest_uri: str) -> None:
        """The alarm flow's "latest data window" (never moved back by an older window's late submission)."""
        doc = LastDataset(
            manifest_uri=manifest_uri, window_id=entry.window_id, decision_id=entry.decision_id, seq=entry.seq
        )
        LAST_DATASETS.at(self.ctx.store, model).change(
            lambda cur: None if cur and cur.seq >= doc.seq else doc
        )

    # ---------------------------------------------------------------- failures

    def _failed_decision(
        self, model: str, entry: PendingWindow, exc: ArgoError, why: str, **action: str
    ) -> tuple[Decision, str]:
        """Record the FAILED decision of an unsuccessful submission; returns it with the error text."""
        d = self._decision_for(model, entry, self._payload(entry))
        d.outcome = Outcome.FAILED
        error = f"{type(exc).__name__}: {exc}"
        d.reasons = [*d.reasons, f"{why}: {error}"[:600]]
        d.action = {"error": error[:500], "window_id": entry.window_id, **action}
        self.ctx.record(d)
        self.ctx.metrics.emit("Decisions", 1, "Count", {"model": model, "outcome": Outcome.FAILED.value})
        return d, error

    def _failed(self, model: str, entry: PendingWindow, exc: ArgoError) -> str:
        """Argo is unavailable: the entry stays pending (claim released), alerted the first time only."""
        d, error = self._failed_decision(model, entry, exc, f"submission failed (attempt {entry.attempts})")

        def failed(e: PendingWindow) -> PendingWindow:
            return e.model_copy(update={"alerted": True, "last_error": error[:300]})

        self._change_pending(model, entry.window_id, failed)
        self._release(entry, "failed")
        if not entry.alerted:
            oncall = self.ctx.cfg.model(model).notify.oncall
            self.ctx.notify(model, msgs.failure_message(d, error, self.ctx.channel(model), oncall))
        logger.error(
            "retraining not submitted",
            extra={"model": model, "decision_id": d.decision_id, "error": error[:300]},
        )
        return f"{model}/{entry.window_id}: {error}"

    def _rejected(self, model: str, entry: PendingWindow, exc: ArgoRejectedError) -> None:
        """Argo refused the submission: record FAILED with its answer, alert once, stop submitting it.

        The entry moves from ``pending`` to ``rejected`` in the window document (shown by
        ``mlops-glue window show``); its payload blob, hence the manifest, is kept. After fixing the
        cause a human runs ``mlops-glue window resubmit MODEL WINDOW_ID`` to put it back in ``pending``.
        Raising instead would fail every later message of the model into the DLQ (a poison pill).
        """
        why = "Argo rejected the submission, not retried"
        d, error = self._failed_decision(model, entry, exc, why, rejected="true")
        moved, spilled = self._move_to_rejected(model, entry.window_id, error)
        self._release(entry, "failed")  # open again once a human re-queues it
        for old in spilled:  # beyond the item's budget: the oldest rejected windows wait in S3
            uri = self.ctx.workspace.archive_uri(model, old.window_id)
            put_json(self.ctx.objects, uri, old.to_json())
            logger.warning(
                "rejected window archived to S3",
                extra={"model": model, "window_id": old.window_id, "uri": uri},
            )
        if moved:
            oncall = self.ctx.cfg.model(model).notify.oncall
            message = msgs.failure_message(d, error, self.ctx.channel(model), oncall, rejected=True)
            self.ctx.notify(model, message)
        logger.error(
            "retraining rejected by Argo",
            extra={"model": model, "decision_id": d.decision_id, "error": error[:300]},
        )

    def _move_to_rejected(self, model: str, window_id: str, error: str) -> tuple[bool, list[PendingWindow]]:
        """Move the entry from ``pending`` to ``rejected``: (moved, the entries spilled to the S3 archive);
        not moved when another driver resolved it meanwhile."""
        now = self.ctx.clock()

        def reject(doc: Window | None) -> Window | None:
            entry = doc.pending_entry(window_id) if doc else None
            if doc is None or entry is None:
                return None  # already resolved by another driver
            e = entry.model_copy(update={"last_error": error[:TEXT_MAX], "rejected_at": now.isoformat()})
            doc.pending = [x for x in doc.pending if x.window_id != window_id]
            rejected = [*doc.rejected, e]
            spill = rejected[:-MAX_REJECTED] if len(rejected) > MAX_REJECTED else []
            doc.rejected = rejected[len(spill) :]
            doc.rejected_archived += len(spill)
            return doc

        changed = WINDOWS.at(self.ctx.store, model).change(reject)
        if changed.before is None or changed.after is None:
            return False, []
        kept = {e.window_id for e in changed.after.rejected}
        return True, [e for e in changed.before.rejected if e.window_id not in kept]
