"""New data in S3 -> the model's open window -> (rows | drift | max wait) -> Argo retraining -> Slack.

Per object (one S3 "Object Created" event, delivered at least once, in any order):

1. parse the event into :class:`~mlops_glue.services.arrival_events.ObjectRef` (:mod:`.arrival_events`);
2. route it to a model by bucket and prefix; skip folder markers, zero-byte objects, ``_SUCCESS``-style
   markers and unknown suffixes with a recorded reason;
3. look up the object's membership (``MODEL#<m>/OBJECT#<id>``, id = bucket + key + version, the ETag
   when unversioned): found means counted before, however long ago — a duplicate naming its window;
4. stream the object through the drift engine into compact counts; a file that fails the data checks
   (:func:`mlops_glue.decisions.window.file_problems`) is kept out of the window and recorded as
   rejected, a file without rows is recorded as empty and kept out too;
5. add it to the model's open window (:mod:`.arrival_window`): one DynamoDB transaction writes the window
   document (``MODEL#<m>/WINDOW``, conditional on the version read) and creates the object's membership
   (conditional on its absence), so an object enters one window only, whatever the redeliveries, DLQ
   replays, concurrent duplicates or crashes;
6. the write that makes the window ready also decides (:mod:`mlops_glue.decisions.retrain`): trigger (the
   window closes into ``pending`` and a new one opens, atomically — so each window triggers exactly once)
   or defer (in flight, cooldown, budget, backlog: recorded with reasons, the sweep looks again);
7. submit every pending window (:mod:`.arrival_submit`).

The sweep re-evaluates every window (age, deferrals), submits what is pending and resends every flow's
kept notices. Every step runs within the invocation's remaining time (:mod:`mlops_glue.deadline`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from mlops_glue import deadline
from mlops_glue.adapters.argo import ArgoError, Submitted, WorkflowSubmitter
from mlops_glue.adapters.s3 import ObjectMissingError, ObjectStore
from mlops_glue.adapters.slack import Notifier
from mlops_glue.adapters.state import StateError, StateStore
from mlops_glue.config import GlueConfig, ModelConfig
from mlops_glue.decisions.window import file_problems
from mlops_glue.documents import PendingWindow
from mlops_glue.outbox import resend
from mlops_glue.records import Decision, Kind, Outcome, make_decision_id, utcnow
from mlops_glue.replay.recorder import NULL_RECORDER, EventRecorder
from mlops_glue.repositories import MEMBERS
from mlops_glue.services import arrival_messages as msgs
from mlops_glue.services.arrival_context import ArrivalContext
from mlops_glue.services.arrival_events import EventError, ObjectRef, data_format, parse_message, skip_reason
from mlops_glue.services.arrival_merge import FileCounts, ObjectResult, WindowWriter
from mlops_glue.services.arrival_metrics import MemoryMetrics, MetricSink
from mlops_glue.services.arrival_offload import Offloader, UnreadableCountsError
from mlops_glue.services.arrival_submit import DriveError, Submission
from mlops_glue.services.arrival_window import Workspace, window_view

__all__ = ["DataArrival", "DriveError", "EventError", "ObjectRef", "ObjectResult", "SweepReport", "Workspace"]

logger = logging.getLogger(__name__)

COUNT_NEED_S = 10.0  # invocation seconds a file needs to be counted and written (else handed back)


@dataclass
class SweepReport:
    """What one scheduled sweep did: windows closed, workflows submitted, failures, notices resent."""

    triggered: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    notices_resent: int = 0
    notices_waiting: int = 0
    offloads_collected: int = 0


class DataArrival:
    """The data-arrival flow. Every adapter is injected; nothing here reads the environment."""

    recorder: EventRecorder = NULL_RECORDER  # what replay needs of each counted object (runtime wires it)

    def __init__(
        self,
        cfg: GlueConfig,
        *,
        store: StateStore,
        objects: ObjectStore,
        submitter: WorkflowSubmitter,
        notifier: Notifier,
        workspace: Workspace,
        metrics: MetricSink | None = None,
        s3_client: Any | None = None,
        counter: Callable[[Any, ObjectRef], Any] | None = None,
        profile_loader: Callable[[str], Any] | None = None,
        memory_mb: float = 10_240,
        shape_probe: Callable[[ObjectRef], Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
        claim_ttl: timedelta = timedelta(minutes=3),
    ) -> None:
        self.ctx = ArrivalContext(
            cfg,
            store,
            objects,
            submitter,
            notifier,
            workspace,
            metrics or MemoryMetrics(),
            clock,
            s3_client=s3_client,
            profile_loader=profile_loader,
        )
        self.windows = WindowWriter(self.ctx)
        self.submission = Submission(self.ctx, claim_ttl)
        self.offloader = Offloader(self.ctx, memory_mb, shape_probe)
        self._counter = counter

    # ---------------------------------------------------------------- per message

    def handle_message(
        self, body: str | dict[str, Any], *, message_id: str = "", receive_count: int = 1
    ) -> list[ObjectResult]:
        """Handle one SQS message: every object it names, then the pending submissions of its models.

        Raises EventError (malformed) or DriveError / StateError (retry later): the message fails and
        SQS redelivers it, then moves it to the DLQ — nothing is lost and nothing loops forever.
        """
        refs = parse_message(body, message_id)
        if not refs:
            logger.info("S3 test event or no created object", extra={"message_id": message_id})
            return [ObjectResult("skipped", reason="S3 test event / no created object")]
        results = []
        for ref in refs:
            results.append(self._add_object(ref))
        errors = []
        for model in dict.fromkeys(r.model for r in results if r.model and r.status != "unrouted"):
            try:
                self.drive(model)
            except DriveError as exc:
                errors.append(str(exc))
        if errors:
            raise DriveError("; ".join(errors))
        return results

    def _add_object(self, ref: ObjectRef) -> ObjectResult:
        """Count one object into its model's window, once: its membership (created with the window
        write) is the claim, so no Powertools idempotency here (a record left in progress by a crash
        would only hold back the redelivery)."""
        model = self.ctx.cfg.model_for_object(ref.bucket, ref.key)
        if model is None:
            logger.info("object not routed to any model", extra={"uri": ref.uri})
            return ObjectResult("unrouted", reason="no model's bucket/prefix matches")
        model_cfg = self.ctx.cfg.model(model)
        why = skip_reason(ref, model_cfg)
        if why is not None:
            logger.info("object skipped", extra={"uri": ref.uri, "model": model, "reason": why})
            return self._ignore(model, ref, why)
        member = MEMBERS.at(self.ctx.store, model, ref.oid).load()
        if member is not None:  # counted before (a redelivery, a DLQ replay): its window says where
            return ObjectResult.duplicate(model, member, rows=member.rows)
        on_cluster = self.offloader.reason(model_cfg, ref)
        if on_cluster is not None:  # too large for one invocation: the sweep collects its counts
            return self.offloader.offload(model, model_cfg, ref, on_cluster)
        profile = self.ctx.profile(model)
        deadline.current().check(COUNT_NEED_S, f"counting {ref.key}")
        try:
            counts = self._count(profile, ref)
        except Exception as exc:
            if _is_missing(exc):
                why = f"object version no longer exists: {type(exc).__name__}"
                return self._ignore(model, ref, why)
            raise
        return self._counted(model, model_cfg, ref, counts)

    def _counted(self, model: str, model_cfg: ModelConfig, ref: ObjectRef, counts: Any) -> ObjectResult:
        """One object's counts (here or on the cluster): kept out with its reasons, or into the window."""
        rows = int(counts.rows)
        problems = file_problems(counts)
        if problems:
            return self._reject(model, ref, rows, problems)
        if rows == 0:
            self.ctx.metrics.emit("EmptyFiles", 1, "Count", {"model": model})
            why = "empty: no data rows (a header only, or a file without rows); kept out of the window"
            return ObjectResult("empty", model, reason=self._ignore(model, ref, why).reason)
        self.ctx.metrics.emit("RowsReceived", rows, "Count", {"model": model})
        self.recorder.object_counted(
            self.ctx.cfg, model, ref, self.ctx.profile(model), counts, self.ctx.clock()
        )
        return self.windows.merge(model, model_cfg, FileCounts(ref, counts.to_bytes(), rows))

    def _collected(self, model: str, model_cfg: ModelConfig, ref: ObjectRef, blob: bytes) -> ObjectResult:
        """An object counted on the cluster, its counts landed: as if counted here."""
        from mlops_glue.drift import WindowCounts

        member = MEMBERS.at(self.ctx.store, model, ref.oid).load()
        if member is not None:  # collected before (a sweep that died after its window write)
            return ObjectResult.duplicate(model, member, rows=member.rows)
        try:
            counts = WindowCounts.from_bytes(blob)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise UnreadableCountsError(f"{ref.key}: {type(exc).__name__}: {exc}"[:300]) from exc
        fingerprint = self.ctx.profile(model).fingerprint
        if counts.profile != fingerprint:  # counted against a reference profile since replaced
            raise UnreadableCountsError(
                f"{ref.key}: counts of profile {counts.profile}, the model's reference is {fingerprint}"
            )
        return self._counted(model, model_cfg, ref, counts)

    def _count(self, profile: Any, ref: ObjectRef) -> Any:
        if self._counter is not None:
            return self._counter(profile, ref)
        from mlops_glue.drift import count_batch

        return count_batch(
            profile, ref.location, fmt=data_format(ref.key), s3_client=self.ctx.s3_client, source_id=ref.key
        )

    def _ignore(self, model: str, ref: ObjectRef, why: str) -> ObjectResult:
        """Record why an object routed to ``model`` is not counted (not data, or gone) and skip it."""
        self.ctx.record(
            Decision(
                decision_id=make_decision_id("retrain-ignore", ref.oid),
                model=model,
                kind=Kind.RETRAIN,
                outcome=Outcome.IGNORED,
                reasons=[f"{ref.key}: {why}"],
                inputs=[ref.uri],
                config_hash=self.ctx.cfg.hash(),
                created_at=self.ctx.clock(),
            )
        )
        return ObjectResult("skipped", model, reason=why)

    def _reject(self, model: str, ref: ObjectRef, rows: int, problems: list[str]) -> ObjectResult:
        reasons = [f"{ref.key}: kept out of the window: " + "; ".join(problems)]
        d = Decision(
            decision_id=make_decision_id("retrain-reject", ref.oid),
            model=model,
            kind=Kind.RETRAIN,
            outcome=Outcome.REJECTED,
            reasons=[r[:1000] for r in reasons],
            evidence={"verdict": "data_quality", "rows": rows, "problems": problems[:20]},
            inputs=[ref.uri],
            config_hash=self.ctx.cfg.hash(),
            created_at=self.ctx.clock(),
        )
        self.ctx.record(d)
        self.ctx.notify(model, msgs.rejected_message(d, self.ctx.channel(model)))
        logger.warning("file rejected", extra={"uri": ref.uri, "model": model, "problems": problems})
        return ObjectResult("rejected", model, rows=rows, reason=reasons[0])

    # ---------------------------------------------------------------- window

    # ---------------------------------------------------------------- submission, sweep, operations

    def drive(self, model: str) -> list[Submitted]:
        """Submit every pending (closed) window of ``model``; DriveError when any submission failed."""
        return self.submission.drive(model)

    def requeue(self, model: str, window_id: str) -> PendingWindow:
        """Put a window Argo rejected back in ``pending`` (from the item or the S3 archive)."""
        return self.submission.requeue(model, window_id)

    def resubmit(self, model: str, window_id: str) -> list[Submitted]:
        """Put a window Argo rejected back in ``pending`` (after the cause is fixed) and submit it."""
        self.requeue(model, window_id)
        return self.drive(model)

    def sweep(self) -> SweepReport:
        """Re-evaluate every model's window (age, deferrals), submit pending windows, resend notices."""
        report = SweepReport()
        for model, model_cfg in self.ctx.cfg.models.items():
            if model_cfg.data is None:
                continue
            try:
                collect = partial(self._collected, model, model_cfg)
                report.offloads_collected += self.offloader.collect(model, model_cfg, collect)
                res = self.windows.merge(model, model_cfg, None)
                report.triggered.extend(res.closed)
                report.submitted.extend(s.name for s in self.drive(model))
            except deadline.OutOfTimeError as exc:  # the next sweep goes on where this one stopped
                report.failed.append(f"{model}: {exc}")
                break
            except (DriveError, StateError, ArgoError) as exc:
                report.failed.append(f"{model}: {exc}")
            except Exception as exc:  # an S3 error, a bug: said, and the other models are still swept
                logger.exception("sweep of one model failed", extra={"model": model})
                report.failed.append(f"{model}: {type(exc).__name__}: {exc}"[:500])
        # every flow's kept notices (promotion, feedback too): this sweep is the one scheduled function
        try:
            report.notices_resent, report.notices_waiting = resend(
                self.ctx.notifier, self.ctx.store, list(self.ctx.cfg.models)
            )
        except StateError as exc:
            report.failed.append(f"outbox: {exc}")
        return report

    def window(self, model: str) -> dict[str, Any]:
        """The model's open window and pending submissions (for ``mlops-glue window show``)."""
        view = window_view(self.ctx.store, model)
        return {"model": model, "window": None} if view is None else {"model": model, **view}


def _is_missing(exc: BaseException) -> bool:
    """A NoSuchKey / NoSuchVersion / 404 anywhere in the exception chain."""
    seen: BaseException | None = exc
    while seen is not None:
        code = (
            getattr(seen, "response", {}).get("Error", {}).get("Code") if hasattr(seen, "response") else None
        )
        if code in ("NoSuchKey", "NoSuchVersion", "404") or isinstance(
            seen, FileNotFoundError | ObjectMissingError
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
