"""Submitting the closed windows of a model (its ``pending`` entries) as Argo retrainings.

Per entry: a lease on it (concurrent drivers do not repeat the work), the manifest of the window's
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
from datetime import datetime, timedelta
from typing import Any

from mlops_glue import deadline
from mlops_glue.adapters.argo import ArgoError, ArgoRejectedError, ArgoUnavailableError, Submitted
from mlops_glue.adapters.s3 import ObjectMissingError, S3Uri, put_json
from mlops_glue.decisions.budget import record_run
from mlops_glue.keys import last_dataset_key, retrain_ledger_key, window_key
from mlops_glue.records import Decision, Kind, Outcome
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

Entry = dict[str, Any]  # one ``pending`` (or ``rejected``) entry of the window document


class DriveError(Exception):
    """A pending retraining could not be submitted; the message is retried, then kept in the DLQ."""


class Submission:
    """Submits, records and announces the pending windows of the models in ``ctx``."""

    def __init__(self, ctx: ArrivalContext, lease: timedelta = timedelta(minutes=3)) -> None:
        self.ctx = ctx
        self.lease = lease

    def drive(self, model: str) -> list[Submitted]:
        """Submit every pending (closed) window of ``model``; DriveError when any submission failed."""
        cur = self.ctx.store.get(*window_key(model))
        pending = list((cur.data if cur else {}).get("pending", []))
        done, errors = [], []
        budget = deadline.current()
        for entry in sorted(pending, key=lambda e: int(e["seq"])):
            if "argo" in budget.down:  # found down earlier in this invocation: do not wait on it again
                errors.append(f"{model}/{entry['window_id']}: not tried, {budget.down['argo']}")
                continue
            budget.check(SUBMIT_NEED_S, f"submitting {model}/{entry['window_id']}")
            claimed = self._claim(model, entry["window_id"])
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
                self._change_pending(model, entry["window_id"], _unlease)  # the next message retries it
                raise
        if errors:
            raise DriveError("; ".join(errors))
        return done

    def requeue(self, model: str, window_id: str) -> Entry:
        """Put a window Argo rejected back in ``pending``: from the window item, or from the S3 archive
        (windows beyond the item's ``MAX_REJECTED``). KeyError when it is in neither."""
        try:
            return requeue_rejected(self.ctx.store, model, window_id)
        except KeyError:
            archive = self.ctx.workspace.archive_uri(model, window_id)
            try:
                entry: Entry = json.loads(self.ctx.objects.get_bytes(archive))
            except ObjectMissingError:
                raise KeyError(f"{model} has no window {window_id!r} rejected by Argo") from None
            requeue_archived(self.ctx.store, model, entry)
            self.ctx.objects.delete(archive)
            return entry

    # ---------------------------------------------------------------- the pending entries

    def _claim(self, model: str, window_id: str) -> Entry | None:
        """Take a lease on one pending entry so concurrent drivers do not repeat the work."""
        now = self.ctx.clock()
        got: list[Entry] = []

        def take(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            got.clear()
            for e in (doc or {}).get("pending", []):
                if e["window_id"] == window_id:
                    if e.get("lease_until") and datetime.fromisoformat(e["lease_until"]) > now:
                        return None
                    e["lease_until"] = (now + self.lease).isoformat()
                    e["attempts"] = int(e.get("attempts", 0)) + 1
                    got.append(dict(e))
                    return doc
            return None

        self.ctx.store.update(*window_key(model), take)
        return got[0] if got else None

    def _change_pending(self, model: str, window_id: str, fn: Callable[[Entry], Entry | None]) -> None:
        def change(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if not doc:
                return None
            out, hit = [], False
            for e in doc.get("pending", []):
                if e["window_id"] == window_id:
                    hit = True
                    e2 = fn(dict(e))
                    if e2 is not None:
                        out.append(e2)
                else:
                    out.append(e)
            if not hit:
                return None
            doc["pending"] = out
            return doc

        self.ctx.store.update(*window_key(model), change)

    # ---------------------------------------------------------------- one submission

    def _payload(self, entry: Entry) -> Payload:
        return Payload.unpack(self.ctx.objects.get_bytes(entry["payload_uri"]))

    def _evidence(self, entry: Entry) -> dict[str, Any]:
        """A closed window's full evidence: from S3 (``evidence_uri``), or inline in older entries."""
        if "evidence" in entry:
            return dict(entry["evidence"])
        doc: dict[str, Any] = json.loads(self.ctx.objects.get_bytes(entry["evidence_uri"]))
        return doc

    def _decision_for(self, model: str, entry: Entry, payload: Payload) -> Decision:
        return Decision(
            decision_id=entry["decision_id"],
            model=model,
            kind=Kind.RETRAIN,
            outcome=Outcome.ACTED,
            reasons=list(entry["reasons"]),
            evidence={**self._evidence(entry), "trigger": entry["trigger"], "window_id": entry["window_id"]},
            inputs=payload.inputs(),
            config_hash=self.ctx.cfg.hash(),
            created_at=self.ctx.clock(),
        )

    def _submit(self, model: str, entry: Entry) -> Submitted:
        ctx = self.ctx
        model_cfg = ctx.cfg.model(model)
        profile = ctx.profile(model)
        payload = self._payload(entry)
        d = self._decision_for(model, entry, payload)
        manifest_uri = ctx.workspace.uri(ctx.workspace.manifests_prefix, model, f"{entry['window_id']}.json")
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
        ctx.store.update(*retrain_ledger_key(model), lambda led: record_run(led, now, gpu, d.decision_id))
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
        self._change_pending(model, entry["window_id"], lambda e: None)
        ctx.metrics.emit("Decisions", 1, "Count", {"model": model, "outcome": Outcome.ACTED.value})
        ctx.notify(model, msgs.trigger_message(d, ctx.channel(model)))
        logger.info(
            "retraining submitted",
            extra={"model": model, "workflow": submitted.name, "workflow_created": submitted.created},
        )
        ctx.forget_in_flight(model)
        return submitted

    def _report(self, model: str, entry: Entry, profile: Any, counts: Any) -> tuple[str, str]:
        """Store the window's HTML drift report and presign it; a broken report never blocks the training."""
        from mlops_glue.drift import evaluate, render_html

        ctx = self.ctx
        uri = ctx.workspace.uri(ctx.workspace.reports_prefix, model, f"{entry['window_id']}.html")
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

    def _manifest(self, model: str, entry: Entry, payload: Payload) -> dict[str, Any]:
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
            "window_id": entry["window_id"],
            "decision_id": entry["decision_id"],
            "opened_at": entry["opened_at"],
            "closed_at": entry["closed_at"],
            "rows": entry["rows"],
            "files": entry["files"],
            "reference_profile": data.reference_profile,
            "objects": items,
        }

    def _set_last_dataset(self, model: str, entry: Entry, manifest_uri: str) -> None:
        """The alarm flow's "latest data window" (never moved back by an older window's late submission)."""
        doc = {
            "manifest_uri": manifest_uri,
            "window_id": entry["window_id"],
            "decision_id": entry["decision_id"],
            "seq": int(entry["seq"]),
        }

        def newer(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if cur and int(cur.get("seq", -1)) >= doc["seq"] else doc

        self.ctx.store.update(*last_dataset_key(model), newer)

    # ---------------------------------------------------------------- failures

    def _failed_decision(
        self, model: str, entry: Entry, exc: ArgoError, why: str, **action: str
    ) -> tuple[Decision, str]:
        """Record the FAILED decision of an unsuccessful submission; returns it with the error text."""
        d = self._decision_for(model, entry, self._payload(entry))
        d.outcome = Outcome.FAILED
        error = f"{type(exc).__name__}: {exc}"
        d.reasons = [*d.reasons, f"{why}: {error}"[:600]]
        d.action = {"error": error[:500], "window_id": entry["window_id"], **action}
        self.ctx.record(d)
        self.ctx.metrics.emit("Decisions", 1, "Count", {"model": model, "outcome": Outcome.FAILED.value})
        return d, error

    def _failed(self, model: str, entry: Entry, exc: ArgoError) -> str:
        """Argo is unavailable: the entry stays pending (lease released), alerted the first time only."""
        d, error = self._failed_decision(
            model, entry, exc, f"submission failed (attempt {entry['attempts']})"
        )

        def release(e: Entry) -> Entry:
            e.update(lease_until=None, alerted=True, last_error=error[:300])
            return e

        self._change_pending(model, entry["window_id"], release)
        if not entry.get("alerted"):
            oncall = self.ctx.cfg.model(model).notify.oncall
            self.ctx.notify(model, msgs.failure_message(d, error, self.ctx.channel(model), oncall))
        logger.error(
            "retraining not submitted",
            extra={"model": model, "decision_id": d.decision_id, "error": error[:300]},
        )
        return f"{model}/{entry['window_id']}: {error}"

    def _rejected(self, model: str, entry: Entry, exc: ArgoRejectedError) -> None:
        """Argo refused the submission: record FAILED with its answer, alert once, stop submitting it.

        The entry moves from ``pending`` to ``rejected`` in the window document (shown by
        ``mlops-glue window show``); its payload blob, hence the manifest, is kept. After fixing the
        cause a human runs ``mlops-glue window resubmit MODEL WINDOW_ID`` to put it back in ``pending``.
        Raising instead would fail every later message of the model into the DLQ (a poison pill).
        """
        why = "Argo rejected the submission, not retried"
        d, error = self._failed_decision(model, entry, exc, why, rejected="true")
        moved = self._move_to_rejected(model, entry["window_id"], error)
        for old in moved[1:]:  # beyond the item's budget: the oldest rejected windows wait in S3
            uri = self.ctx.workspace.archive_uri(model, old["window_id"])
            put_json(self.ctx.objects, uri, old)
            logger.warning(
                "rejected window archived to S3",
                extra={"model": model, "window_id": old["window_id"], "uri": uri},
            )
        if moved:
            oncall = self.ctx.cfg.model(model).notify.oncall
            message = msgs.failure_message(d, error, self.ctx.channel(model), oncall, rejected=True)
            self.ctx.notify(model, message)
        logger.error(
            "retraining rejected by Argo",
            extra={"model": model, "decision_id": d.decision_id, "error": error[:300]},
        )

    def _move_to_rejected(self, model: str, window_id: str, error: str) -> list[Any]:
        """Move the entry from ``pending`` to ``rejected``: [] when another driver resolved it, else
        [True, *the entries archived to S3]."""
        now = self.ctx.clock()
        moved: list[Any] = []

        def reject(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            moved.clear()
            if not doc:
                return None
            pending = doc.get("pending", [])
            hit = [e for e in pending if e["window_id"] == window_id]
            if not hit:
                return None  # already resolved by another driver
            e = {
                **hit[0],
                "lease_until": None,
                "last_error": error[:TEXT_MAX],
                "rejected_at": now.isoformat(),
            }
            doc["pending"] = [x for x in pending if x["window_id"] != window_id]
            rejected = [*doc.get("rejected", []), e]
            spill = rejected[:-MAX_REJECTED] if len(rejected) > MAX_REJECTED else []
            doc["rejected"] = rejected[len(spill) :]
            if spill:
                doc["rejected_archived"] = int(doc.get("rejected_archived", 0)) + len(spill)
            moved[:] = [True, *spill]
            return doc

        self.ctx.store.update(*window_key(model), reject)
        return moved


def _unlease(e: Entry) -> Entry:
    e["lease_until"] = None
    return e
