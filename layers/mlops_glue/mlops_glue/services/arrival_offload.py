"""Data objects too large for one invocation: counted on the cluster by the ``drift-count`` workflow.

Where an object is counted is the model's ``retrain.drift.count_in``. ``auto`` asks
:func:`mlops_glue.drift.capacity.plan` (the throughput measured by ``bench/wide.py``, this function's memory,
half the 15-minute timeout), cheaply: a CSV object holds at most one value per two bytes and a Parquet
object under :data:`FOOTER_ABOVE` bytes is far too small to matter, so only a large Parquet object costs a
footer read. An offloaded object is submitted as the WorkflowTemplate (``deploy/argo/drift-count.yaml``;
its name derives from the object id and the attempt, so a redelivery finds "already exists"), kept in the
model's :class:`~mlops_glue.documents.Offloads` (sharded by object id, ``keys.OFFLOAD_SHARDS``: one
DynamoDB item would not hold a burst) and recorded DEFERRED with the plan's reason.

The scheduled sweep collects them. Counts landed (``<workspace>/mlops-glue/counts/<model>/<object id>.bin``,
written by ``mlops-glue drift count``): they go through the same checks and the same window write as an
object counted in the function (its membership is created with that write, so it is counted once). The
workflow gone without counts: submitted again, up to :data:`MAX_ATTEMPTS`; then recorded FAILED and said
on Slack with the command that sends the object again. Argo unreachable: nothing changes, the next sweep
asks again.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
from collections.abc import Callable
from functools import partial
from typing import Any

from mlops_glue.adapters.argo import ArgoRejectedError, Submission, Submitted
from mlops_glue.adapters.s3 import ObjectMissingError
from mlops_glue.adapters.slack import Message, escape
from mlops_glue.config import ModelConfig
from mlops_glue.documents import Offload, Offloads
from mlops_glue.records import Decision, Kind, Outcome, make_decision_id
from mlops_glue.repositories import OFFLOADS, offloads_of
from mlops_glue.services.arrival_context import ArrivalContext
from mlops_glue.services.arrival_events import ObjectRef, data_format
from mlops_glue.services.arrival_merge import ObjectResult
from mlops_glue.services.training import LABEL_PREFIX
from mlops_glue.shadow import WOULD_ACT

logger = logging.getLogger(__name__)

FOOTER_ABOVE = 64 * 1024 * 1024
"""Parquet objects smaller than this are counted in the function without a footer read: even at 100
values per byte (constant columns) they hold 6.4e9 values, 2 minutes at the measured check throughput."""
MAX_ATTEMPTS = 3
KIND = "drift-count"


class UnreadableCountsError(ValueError):
    """What landed at an offload's counts URI is not window counts (truncated, or another writer's)."""


class Offloader:
    """Hands large objects to the cluster and collects their counts."""

    def __init__(
        self, ctx: ArrivalContext, memory_mb: float, probe: Callable[[ObjectRef], Any] | None = None
    ):
        self.ctx = ctx
        self.memory_mb = memory_mb
        self._probe = probe

    # ---------------------------------------------------------------- where

    def reason(self, model_cfg: ModelConfig, ref: ObjectRef) -> str | None:
        """Why ``ref`` is counted on the cluster, or None to count it here."""
        where = model_cfg.retrain.drift.count_in
        if where == "lambda":
            return None
        if where == "argo":
            return "count_in: argo (every object counted on the cluster)"
        from mlops_glue.drift import capacity

        size, fmt = int(ref.size or 0), data_format(ref.key)
        if fmt == "csv":
            plan = capacity.plan("check", "csv", max(size // 2, 1), 1, size, self.memory_mb)
        elif size < FOOTER_ABOVE:
            return None
        else:
            shape = self._shape(ref)
            plan = capacity.plan("check", "parquet", shape.rows, shape.columns, size, self.memory_mb)
        return plan.reason if plan.runs_in == "argo" else None

    def _shape(self, ref: ObjectRef) -> Any:
        if self._probe is not None:
            return self._probe(ref)
        from mlops_glue.drift.shape import shape_of

        return shape_of(ref.location, fmt=data_format(ref.key), s3_client=self.ctx.s3_client)

    # ---------------------------------------------------------------- hand over

    def offload(self, model: str, model_cfg: ModelConfig, ref: ObjectRef, reason: str) -> ObjectResult:
        """Submit the object's count to the cluster (ArgoError: the message is retried, then the DLQ)."""
        known = _load(self.ctx.store, model, _shard(ref.oid)).find(ref.oid)
        if known is not None:
            return ObjectResult("offloaded", model, reason=f"already being counted by {known.workflow}")
        item = Offload(
            oid=ref.oid,
            bucket=ref.bucket,
            key=ref.key,
            version_id=ref.version_id,
            etag=ref.etag,
            size=int(ref.size or 0),
            event_id=ref.event_id,
            workflow=_name(ref.oid, ref.event_id, 1),
            counts_uri=self._counts_uri(model, ref.oid),
            submitted_at=self.ctx.clock(),
            reason=reason[:300],
        )
        try:
            submitted = self._submit(model, model_cfg, item)
        except ArgoRejectedError as exc:  # a retry cannot help: said, and the object is not counted
            self._failed(model, item, f"Argo rejected the count workflow: {exc}")
            return ObjectResult("rejected", model, reason=f"count workflow rejected by Argo: {exc}"[:300])
        if model_cfg.shadowed("data_arrival"):  # nothing was submitted: no counts will land to wait for
            why = f"{ref.key}: shadow mode: would be counted on the cluster ({reason}); not counted"
            d = self._decision(model, item, Outcome.DEFERRED, [why[:1000]])
            d.action = {"shadow": WOULD_ACT, "workflow": item.workflow}
            self.ctx.record(d)
            return ObjectResult("offloaded", model, reason=why[:300])
        OFFLOADS.at(self.ctx.store, model, _shard(item.oid)).change(lambda doc: _with(doc, item))
        self.ctx.record(
            self._decision(
                model,
                item,
                Outcome.DEFERRED,
                [f"{ref.key}: counted on the cluster by workflow {submitted.name}: {reason}"[:1000]],
            )
        )
        logger.info("object counted on the cluster", extra={"model": model, "workflow": submitted.name})
        return ObjectResult(
            "offloaded", model, reason=f"counted on the cluster by {submitted.name}: {reason}"
        )

    # ---------------------------------------------------------------- collect (the sweep)

    def collect(
        self, model: str, model_cfg: ModelConfig, counted: Callable[[ObjectRef, bytes], ObjectResult]
    ) -> int:
        """Merge the counts that landed; resubmit or fail the workflows gone without them. Returns how
        many objects were collected. ArgoError: Argo could not be asked (nothing changed)."""
        running: list[str] | None = None
        collected = 0
        # in shadow mode (switched on while the cluster counts) nothing can be resubmitted and Argo is
        # not asked what runs: an offload without counts waits, it is neither retried nor given up
        shadowed = model_cfg.shadowed("data_arrival")
        for shard, item in self._items(model):
            try:
                blob = self.ctx.objects.get_bytes(item.counts_uri)
            except ObjectMissingError:
                if shadowed:
                    continue
                if running is None:
                    running = self._running(model, model_cfg)
                if item.workflow not in running:
                    self._retry(model, model_cfg, item, shard)
                continue
            try:
                counted(_ref(item), blob)
            except UnreadableCountsError as exc:  # counted again, as an attempt of its own
                logger.warning(
                    "unreadable counts",
                    extra={"model": model, "uri": item.counts_uri, "error": str(exc)[:300]},
                )
                if shadowed:  # counted again once shadow mode is off
                    continue
                self.ctx.objects.delete(item.counts_uri)
                self._retry(model, model_cfg, item, shard)
                continue
            OFFLOADS.at(self.ctx.store, model, shard).change(partial(_without, oid=item.oid))
            self.ctx.objects.delete(item.counts_uri)
            collected += 1
        return collected

    def _running(self, model: str, model_cfg: ModelConfig) -> list[str]:
        lister = getattr(self.ctx.submitter, "active", None)
        if lister is None:
            return []
        names: list[str] = lister(
            model_cfg.retrain.argo.namespace, {f"{LABEL_PREFIX}/model": model, f"{LABEL_PREFIX}/kind": KIND}
        )
        return names

    def _items(self, model: str) -> list[tuple[str, Offload]]:
        """Every offload of ``model`` with its shard."""
        return [(_shard(item.oid), item) for item in offloads_of(self.ctx.store, model)]

    def _retry(self, model: str, model_cfg: ModelConfig, item: Offload, shard: str) -> None:
        """The workflow ended without counts: submit it again, or give up after ``MAX_ATTEMPTS``."""
        if item.attempts >= MAX_ATTEMPTS:
            self._failed(model, item, f"the count workflow ended without counts {item.attempts} times")
            OFFLOADS.at(self.ctx.store, model, shard).change(lambda d: _without(d, item.oid))
            return
        again = item.model_copy(
            update={
                "attempts": item.attempts + 1,
                "workflow": _name(item.oid, item.event_id or "", item.attempts + 1),
            }
        )
        try:
            self._submit(model, model_cfg, again)
        except ArgoRejectedError as exc:
            self._failed(model, again, f"Argo rejected the count workflow: {exc}")
            OFFLOADS.at(self.ctx.store, model, shard).change(lambda d: _without(d, item.oid))
            return
        OFFLOADS.at(self.ctx.store, model, shard).change(lambda d: _replaced(d, again))
        logger.warning(
            "count workflow ended without counts: submitted again",
            extra={"model": model, "workflow": again.workflow, "attempt": again.attempts},
        )

    # ---------------------------------------------------------------- parts

    def _counts_uri(self, model: str, oid: str) -> str:
        ws = self.ctx.workspace
        return ws.uri(ws.counts_prefix, model, f"{oid}.bin")

    def _submit(self, model: str, model_cfg: ModelConfig, item: Offload) -> Submitted:
        data, argo = model_cfg.data, model_cfg.retrain.argo
        assert data is not None
        decision_id = make_decision_id("retrain-offload", item.oid)
        return self.ctx.submitter.submit(
            Submission(
                namespace=argo.namespace,
                workflow_template=model_cfg.retrain.drift.count_template,
                name=item.workflow,
                parameters={
                    "bucket": item.bucket,
                    "key": item.key,
                    "version-id": item.version_id or "",
                    "format": data_format(item.key),
                    "profile": data.reference_profile,
                    "output": item.counts_uri,
                    "model": model,
                    "decision-id": decision_id,
                },
                labels={
                    f"{LABEL_PREFIX}/model": model,
                    f"{LABEL_PREFIX}/kind": KIND,
                    f"{LABEL_PREFIX}/decision-id": decision_id,
                },
                priority=argo.priority,
                service_account=argo.service_account,
            )
        )

    def _decision(self, model: str, item: Offload, outcome: Outcome, reasons: list[str]) -> Decision:
        return Decision(
            decision_id=make_decision_id("retrain-offload", item.oid, str(outcome.value)),
            model=model,
            kind=Kind.RETRAIN,
            outcome=outcome,
            reasons=reasons,
            evidence={"offload": item.to_json()},
            inputs=[str(_ref(item).uri)],
            config_hash=self.ctx.cfg.hash(),
            created_at=self.ctx.clock(),
        )

    def _failed(self, model: str, item: Offload, why: str) -> None:
        ref = _ref(item)
        again = resend_command(item)
        d = self._decision(model, item, Outcome.FAILED, [f"{item.key}: not counted: {why}"[:1000]])
        self.ctx.record(d)
        text = (
            f":x: {model}: {escape(item.key)} could not be counted on the cluster ({escape(why)[:300]}); "
            f"it is not in any window. After fixing the cause, send it again: `{escape(again)}`"
            f" · decision `{d.decision_id}`"
        )
        self.ctx.notify(
            model,
            Message(
                text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}], self.ctx.channel(model)
            ),
        )
        logger.error(
            "object not counted on the cluster", extra={"model": model, "uri": ref.uri, "error": why[:300]}
        )


def resend_command(item: Offload) -> str:
    """The shell command that sends the object again: a copy onto itself (a new version, a new "Object
    Created" event). The version goes in ``--copy-source`` (copy-object has no ``--version-id``; the CLI
    URL-encodes the key, not ``?versionId=``); every value is shell-quoted and joined with ``=`` (a key
        may hold spaces, ``#``, ``?``, ``%`` or start with ``-``). Without a version (an unversioned bucket),
    ``--metadata-directive REPLACE`` is the change S3 requires to copy an object onto itself (its user
    metadata and content type are not kept); a named version may be copied onto its key as it is."""
    source = f"{item.bucket}/{item.key}" + (f"?versionId={item.version_id}" if item.version_id else "")
    opts = [("bucket", item.bucket), ("key", item.key), ("copy-source", source)]
    if not item.version_id:
        opts.append(("metadata-directive", "REPLACE"))
    return "aws s3api copy-object " + " ".join(f"--{k}={shlex.quote(v)}" for k, v in opts)


def _shard(oid: str) -> str:
    return oid[0]


def _load(store: Any, model: str, shard: str) -> Offloads:
    return OFFLOADS.at(store, model, shard).load() or Offloads()


def _name(oid: str, event_id: str, attempt: int) -> str:
    """The workflow of one event's object and attempt: a redelivery of the event finds it ("already
    exists"), the same object sent again (a new event, e.g. the resend command on an unversioned bucket,
    whose object keeps its id) gets workflows of its own rather than the finished ones Argo still keeps."""
    generation = hashlib.sha256(f"{oid}\x1f{event_id}".encode()).hexdigest()[:20]
    return f"{KIND}-{generation}-{attempt}"


def _ref(item: Offload) -> ObjectRef:
    return ObjectRef(item.bucket, item.key, item.version_id, item.etag, item.size, item.event_id or "")


def _with(doc: Offloads | None, item: Offload) -> Offloads | None:
    doc = doc or Offloads()
    if doc.find(item.oid) is not None:
        return None
    doc.items.append(item)
    return doc


def _without(doc: Offloads | None, oid: str) -> Offloads | None:
    if doc is None or doc.find(oid) is None:
        return None
    doc.items = [o for o in doc.items if o.oid != oid]
    return doc


def _replaced(doc: Offloads | None, item: Offload) -> Offloads | None:
    if doc is None or doc.find(item.oid) is None:
        return None  # collected or given up meanwhile
    doc.items = [item if o.oid == item.oid else o for o in doc.items]
    return doc
