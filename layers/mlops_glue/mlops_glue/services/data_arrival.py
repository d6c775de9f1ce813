"""New data in S3 -> the model's open window -> (rows | drift | max wait) -> Argo retraining -> Slack.

Per object (one S3 "Object Created" event, delivered at least once, in any order):

1. parse the EventBridge (or plain S3 notification) event; decode the key as S3 encodes it (``+``);
   bucket, key and version id stay structured fields from here on (never re-parsed from a URI);
2. route it to a model by bucket and prefix; skip folder markers, zero-byte objects, ``_SUCCESS``-style
   markers and unknown suffixes with a recorded reason;
3. look up the object's membership (``MODEL#<m>/OBJECT#<id>``, id = bucket + key + version, the ETag
   when unversioned): found means counted before, however long ago — a duplicate naming its window;
4. stream the object through the drift engine into compact counts; a file that fails the data checks
   (unreadable, malformed rows, missing/retyped/duplicated columns) is kept out of the window and
   recorded as rejected, a file without rows is recorded as empty and kept out too;
5. add it to the model's open window: one DynamoDB transaction writes the window document
   (``MODEL#<m>/WINDOW``, conditional on the version read) and creates the object's membership
   (conditional on its absence), so an object enters one window only, whatever the redeliveries, DLQ
   replays, concurrent duplicates or crashes. The window document holds the rows, files, drift summary,
   deferral and the windows closed but not yet submitted (``pending``, compact: their evidence is in
   S3); the merged counts and the object list ride along in the item when small and in an immutable S3
   blob otherwise;
6. the write that makes the window ready also decides: trigger (the window closes into ``pending`` and a
   new one opens, atomically — so each window triggers exactly once) or defer (in flight, cooldown,
   budget, backlog: recorded with reasons, the sweep looks again);
7. ``drive`` submits every pending window: manifest of the window's objects with their versions,
   HTML drift report, Argo workflow named after the decision id (a 409 counts only when the workflow
   read back is ours), ledger and ``LAST_DATASET``, decision record, Slack. An unavailable Argo keeps
   the window pending, records the failure, alerts once and raises so the SQS message is retried and
   then kept in the DLQ. A 4xx or a foreign 409 is recorded FAILED with Argo's answer, alerted once and
   moved to the window's ``rejected`` list (the oldest beyond ``MAX_REJECTED`` archived to S3), so it is
   not resubmitted on every message (a poison pill); a human re-queues it with
   ``mlops-glue window resubmit``.

Every step runs within the invocation's remaining time (:mod:`mlops_glue.deadline`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import struct
import threading
import time
import urllib.parse
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from mlops_glue import deadline
from mlops_glue.adapters.argo import (
    ArgoError,
    ArgoRejectedError,
    ArgoUnavailableError,
    Submitted,
    WorkflowSubmitter,
)
from mlops_glue.adapters.s3 import ObjectMissingError, ObjectStore, S3Uri, put_json
from mlops_glue.adapters.slack import Message, Notifier
from mlops_glue.adapters.state import ClaimTakenError, ConflictError, Create, StateError, StateStore
from mlops_glue.config import GlueConfig, ModelConfig
from mlops_glue.decisions.budget import record_run
from mlops_glue.decisions.retrain import DriftSummary, WindowStats, WindowVerdict, decide_window
from mlops_glue.keys import last_dataset_key, member_key, retrain_ledger_key, window_key
from mlops_glue.outbox import keep, post_or_keep, resend
from mlops_glue.records import Decision, Kind, Outcome, make_decision_id, utcnow
from mlops_glue.replay.recorder import NULL_RECORDER, EventRecorder
from mlops_glue.services import arrival_messages as msgs
from mlops_glue.services.arrival_metrics import MemoryMetrics, MetricSink
from mlops_glue.services.training import LABEL_PREFIX, submit_training

logger = logging.getLogger(__name__)

INLINE_MAX = 48 * 1024  # compressed payload bytes kept in the DynamoDB item (limit 400 KB per item)
MAX_ATTEMPTS = 200  # optimistic-concurrency retries of one window write (a storm makes many)
MAX_INPUTS = 50  # object URIs listed in a decision record; the manifest lists them all
IN_FLIGHT_TTL = 30.0  # seconds an Argo "in flight" answer is reused within one execution environment
MAX_REJECTED = 100  # windows Argo rejected kept (compact) in the window item; older ones go to S3
WINDOW_ITEM_BUDGET = 200 * 1024  # bytes of a window item's document, whatever the width or backlog
TEXT_MAX = 300  # characters of one reason or message kept in a window item (the full text is in S3)
COUNT_NEED_S = 10.0  # invocation seconds a file needs to be counted and written (else handed back)
NOTICE_NEED_S = 20.0  # invocation seconds a Slack post may take with its retries (else kept for the sweep)
SUBMIT_NEED_S = 5.0  # invocation seconds one pending window needs to be submitted (else left pending)
MARKER_NAMES = ("_SUCCESS", "_committed", "_started", "_temporary", "_metadata", "_common_metadata")


class EventError(ValueError):
    """The message is not an S3 object-created event in a shape we know."""


class DriveError(Exception):
    """A pending retraining could not be submitted; the message is retried, then kept in the DLQ."""


# ------------------------------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class ObjectRef:
    """One created object as the event names it (key already decoded)."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None
    event_id: str

    @property
    def oid(self) -> str:
        """Stable identity: bucket, key and version (the ETag when the bucket is not versioned)."""
        blob = "\x1f".join([self.bucket, self.key, self.version_id or f"etag:{self.etag or ''}"])
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    @property
    def uri(self) -> str:
        """For people and logs only: never parsed back (a key may hold ``?``, ``#`` or ``%``)."""
        return str(S3Uri(self.bucket, self.key, self.version_id))

    @property
    def location(self) -> Any:
        """The object version as structured fields, for the drift engine's reader."""
        from mlops_glue.drift import S3Object

        return S3Object(self.bucket, self.key, self.version_id)

    def identity(self) -> dict[str, str]:
        """What the idempotency layer hashes."""
        return {"bucket": self.bucket, "key": self.key, "version": self.version_id or f"etag:{self.etag}"}


def decode_key(raw: str) -> str:
    """S3 event keys are form-encoded: ``+`` is a space and ``%XX`` a byte of the UTF-8 key."""
    return urllib.parse.unquote_plus(raw)


def parse_message(body: str | dict[str, Any], message_id: str = "") -> list[ObjectRef]:
    """The objects an SQS message body announces; [] for S3's test event; EventError otherwise.

    Accepts the EventBridge "Object Created" event (our wiring) and the S3 notification ``Records``
    shape (a bucket wired straight to the queue), both validated with Powertools parser models.
    """
    from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel, S3Model

    try:
        doc = json.loads(body) if isinstance(body, str) else body
    except json.JSONDecodeError as exc:
        raise EventError(f"message {message_id}: body is not JSON ({exc.msg} at {exc.pos})") from exc
    if not isinstance(doc, dict):
        raise EventError(f"message {message_id}: body is a JSON {type(doc).__name__}, not an object")
    if doc.get("Event") == "s3:TestEvent":
        return []
    try:
        if doc.get("source") == "aws.s3":
            if doc.get("detail-type") != "Object Created":
                raise EventError(f"message {message_id}: {doc.get('detail-type')!r} is not 'Object Created'")
            eb = S3EventNotificationEventBridgeModel.model_validate(doc)
            o = eb.detail.object
            return [
                ObjectRef(
                    bucket=eb.detail.bucket.name,
                    key=decode_key(o.key),
                    version_id=o.version_id,
                    etag=o.etag,
                    size=None if o.size is None else int(o.size),
                    event_id=eb.id,
                )
            ]
        if "Records" in doc:
            s3 = S3Model.model_validate(doc)
            out = []
            for i, r in enumerate(s3.Records):
                if not r.eventName.startswith("ObjectCreated:") or r.s3.object is None:
                    continue
                o3 = r.s3.object
                out.append(
                    ObjectRef(
                        bucket=r.s3.bucket.name,
                        key=decode_key(o3.key),
                        version_id=o3.versionId,
                        etag=o3.eTag,
                        size=None if o3.size is None else int(o3.size),
                        event_id=f"{message_id}#{i}:{o3.sequencer or ''}",
                    )
                )
            return out
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise EventError(f"message {message_id}: malformed S3 event at {where}: {first['msg']}") from exc
    raise EventError(f"message {message_id}: neither an EventBridge S3 event nor S3 Records")


def skip_reason(ref: ObjectRef, model_cfg: ModelConfig) -> str | None:
    """Why an object routed to a model is not data (folder, empty, marker, suffix), or None."""
    assert model_cfg.data is not None
    name = ref.key.rsplit("/", 1)[-1]
    if ref.key.endswith("/") or not name:
        return "folder marker"
    if ref.size == 0:
        return "zero-byte object"
    if name in MARKER_NAMES or name.startswith(("_", ".")) or name.endswith(("_$folder$", ".crc")):
        return f"marker or hidden file {name!r}"
    if not name.lower().endswith(tuple(s.lower() for s in model_cfg.data.suffixes)):
        return f"unknown suffix (expected {', '.join(model_cfg.data.suffixes)})"
    return None


def data_format(key: str) -> str:
    return "parquet" if key.lower().endswith((".parquet", ".pq")) else "csv"


# ------------------------------------------------------------------------------------------ results


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
    def from_dict(cls, d: dict[str, Any]) -> ObjectResult:
        return cls(
            d["status"],
            d.get("model"),
            d.get("window_id"),
            int(d.get("rows", 0)),
            d.get("reason", ""),
            tuple(d.get("closed", [])),
        )


@dataclass
class SweepReport:
    triggered: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    notices_resent: int = 0
    notices_waiting: int = 0


@dataclass(frozen=True)
class Workspace:
    """Where the glue writes in S3: window blobs, manifests and drift reports."""

    bucket: str
    windows_prefix: str = "mlops-glue/windows/"
    manifests_prefix: str = "mlops-glue/manifests/"
    reports_prefix: str = "mlops-glue/reports/"

    def uri(self, prefix: str, *parts: str) -> str:
        return f"s3://{self.bucket}/{prefix}{'/'.join(parts)}"


# ------------------------------------------------------------------------------------------ payload


@dataclass
class Payload:
    """A window's object list and counts: the merged counts plus per-file counts not merged yet.

    Merging (decode, add, re-encode) is the costly step of an add, and an add under contention may be
    retried many times; so files' counts are appended as segments and merged only every
    ``MAX_SEGMENTS`` files, when the drift verdict is due, or when the window is read for a manifest.
    """

    objects: dict[str, list[Any]] = field(default_factory=dict)
    merged: bytes = b""
    segments: list[bytes] = field(default_factory=list)

    def pack(self) -> bytes:
        head = {
            "objects": self.objects,
            "merged": len(self.merged),
            "segments": [len(x) for x in self.segments],
        }
        zhead = zlib.compress(json.dumps(head, separators=(",", ":")).encode(), 1)
        return b"".join([_MAGIC, struct.pack(">I", len(zhead)), zhead, self.merged, *self.segments])

    @classmethod
    def unpack(cls, blob: bytes) -> Payload:
        if not blob.startswith(_MAGIC):
            raise ValueError("not a window blob")
        (n,) = struct.unpack(">I", blob[4:8])
        head = json.loads(zlib.decompress(blob[8 : 8 + n]))
        pos = 8 + n
        merged = blob[pos : pos + head["merged"]]
        pos += head["merged"]
        segments = []
        for size in head["segments"]:
            segments.append(blob[pos : pos + size])
            pos += size
        return cls(dict(head["objects"]), merged, segments)

    def counts(self, profile: Any) -> Any:
        """The merged WindowCounts of every file (the segments folded in)."""
        from mlops_glue.drift import WindowCounts

        total = WindowCounts.from_bytes(self.merged) if self.merged else WindowCounts.empty(profile)
        for seg in self.segments:
            total = total.merge(WindowCounts.from_bytes(seg))
        return total

    def compact(self, profile: Any) -> Any:
        """Fold the segments into ``merged``; returns the merged counts."""
        total = self.counts(profile)
        self.merged, self.segments = total.to_bytes(), []
        return total


_MAGIC = b"MGW2"
MAX_SEGMENTS = 8
DRIFT_REEVAL = 1.1  # re-judge drift when the window grew by 10% since the last verdict


def _unpack(blob: bytes) -> tuple[dict[str, list[Any]], Payload]:
    p = Payload.unpack(blob)
    return p.objects, p


def _new_window(
    seq: int, now: datetime, previous: str | None, pending: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "window_id": f"w{seq:06d}-{uuid.uuid4().hex[:8]}",
        "seq": seq,
        "opened_at": now.isoformat(),
        "updated_at": now.isoformat(),
        "rows": 0,
        "files": 0,
        "payload": None,
        "drift": None,
        "deferred": None,
        "previous_window_id": previous,
        "pending": pending,
    }


# ------------------------------------------------------------------------------------------ service


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
        idempotency: Any | None = None,
        counter: Callable[[Any, ObjectRef], Any] | None = None,
        profile_loader: Callable[[str], Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = timedelta(minutes=3),
        idempotency_ttl: timedelta = timedelta(days=15),
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.objects = objects
        self.submitter = submitter
        self.notifier = notifier
        self.workspace = workspace
        self.metrics: MetricSink = metrics or MemoryMetrics()
        self.s3_client = s3_client
        self.clock = clock
        self.lease = lease
        self._counter = counter
        self._profile_loader = profile_loader
        self._profiles: dict[str, Any] = {}
        self._in_flight: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()
        self.idempotency_config: Any | None = None
        self.conflicts = 0  # lost optimistic-concurrency races of window writes (contention, for tests/bench)
        self._add = self._add_object
        if idempotency is not None:
            from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

            # 15 days: longer than SQS keeps a message (14 d), so a replayed duplicate is still caught
            self.idempotency_config = IdempotencyConfig(
                expires_after_seconds=int(idempotency_ttl.total_seconds()),
                raise_on_no_idempotency_key=True,
            )
            self._add = idempotent_function(
                data_keyword_argument="obj",
                persistence_store=idempotency,
                config=self.idempotency_config,
            )(self._add_object)

    # ---------------------------------------------------------------- drift engine seams

    def profile(self, model: str) -> Any:
        """The model's reference profile, loaded once per execution environment."""
        m = self.cfg.model(model)
        assert m.data is not None
        uri = m.data.reference_profile
        with self._lock:
            cached = self._profiles.get(uri)
        if cached is None:
            if self._profile_loader is not None:
                cached = self._profile_loader(uri)
            else:
                from mlops_glue.drift import load_profile

                cached = load_profile(uri, s3_client=self.s3_client)
            with self._lock:
                self._profiles[uri] = cached
        return cached

    def _count(self, profile: Any, ref: ObjectRef) -> Any:
        if self._counter is not None:
            return self._counter(profile, ref)
        from mlops_glue.drift import count_batch

        return count_batch(
            profile, ref.location, fmt=data_format(ref.key), s3_client=self.s3_client, source_id=ref.key
        )

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
            raw = self._add(obj=ref.identity(), ref=ref, receive_count=receive_count)
            results.append(ObjectResult.from_dict(raw))
        errors = []
        for model in dict.fromkeys(r.model for r in results if r.model and r.status != "unrouted"):
            try:
                self.drive(model)
            except DriveError as exc:
                errors.append(str(exc))
        if errors:
            raise DriveError("; ".join(errors))
        return results

    def _add_object(self, obj: dict[str, str], ref: ObjectRef, receive_count: int = 1) -> dict[str, Any]:
        """Count one object into its model's window (wrapped by Powertools idempotency on ``obj``)."""
        model = self.cfg.model_for_object(ref.bucket, ref.key)
        if model is None:
            logger.info("object not routed to any model", extra={"uri": ref.uri})
            return ObjectResult("unrouted", reason="no model's bucket/prefix matches").to_dict()
        mcfg = self.cfg.model(model)
        why = skip_reason(ref, mcfg)
        if why is not None:
            logger.info("object skipped", extra={"uri": ref.uri, "model": model, "reason": why})
            return self._ignore(model, ref, why).to_dict()
        member = self.store.get(*member_key(model, ref.oid))
        if member is not None:  # counted before (a redelivery, a DLQ replay): its window says where
            return _duplicate(model, member.data, rows=int(member.data.get("rows", 0))).to_dict()
        profile = self.profile(model)
        deadline.current().check(COUNT_NEED_S, f"counting {ref.key}")
        try:
            counts = self._count(profile, ref)
        except Exception as exc:
            if _is_missing(exc):
                why = f"object version no longer exists: {type(exc).__name__}"
                return self._ignore(model, ref, why).to_dict()
            raise
        rows = int(counts.rows)
        problems = self._file_problems(counts)
        if problems:
            return self._reject(model, ref, rows, problems).to_dict()
        if rows == 0:
            self.metrics.emit("EmptyFiles", 1, "Count", {"model": model})
            why = "empty: no data rows (a header only, or a file without rows); kept out of the window"
            return ObjectResult("empty", model, reason=self._ignore(model, ref, why).reason).to_dict()
        self.metrics.emit("RowsReceived", rows, "Count", {"model": model})
        self.recorder.object_counted(self.cfg, model, ref, profile, counts, self.clock())
        return self._merge(model, mcfg, ref, counts.to_bytes(), rows, receive_count).to_dict()

    def _ignore(self, model: str, ref: ObjectRef, why: str) -> ObjectResult:
        """Record why an object routed to ``model`` is not counted (not data, or gone) and skip it."""
        self._record(
            Decision(
                decision_id=make_decision_id("retrain-ignore", ref.oid),
                model=model,
                kind=Kind.RETRAIN,
                outcome=Outcome.IGNORED,
                reasons=[f"{ref.key}: {why}"],
                inputs=[ref.uri],
                config_hash=self.cfg.hash(),
                created_at=self.clock(),
            )
        )
        return ObjectResult("skipped", model, reason=why)

    @staticmethod
    def _file_problems(counts: Any) -> list[str]:
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
            config_hash=self.cfg.hash(),
            created_at=self.clock(),
        )
        self._record(d)
        self._notify(model, msgs.rejected_message(d, self._channel(model)))
        logger.warning("file rejected", extra={"uri": ref.uri, "model": model, "problems": problems})
        return ObjectResult("rejected", model, rows=rows, reason=reasons[0])

    # ---------------------------------------------------------------- window

    def _load(self, doc: dict[str, Any]) -> Payload:
        payload = doc.get("payload")
        if not payload:
            return Payload()
        if "inline" in payload:
            return Payload.unpack(base64.b64decode(payload["inline"]))
        return Payload.unpack(self.objects.get_bytes(payload["uri"]))

    def _store_payload(
        self, model: str, window_id: str, blob: bytes, force_s3: bool
    ) -> tuple[dict[str, str], str | None]:
        """Inline when small (and not closing), else a fresh immutable S3 object: returns (payload, new uri)."""
        if len(blob) <= INLINE_MAX and not force_s3:
            return {"inline": base64.b64encode(blob).decode()}, None
        uri = self.workspace.uri(self.workspace.windows_prefix, model, window_id, f"{uuid.uuid4().hex}.bin")
        self.objects.put_bytes(uri, blob)
        return {"uri": uri}, uri

    def _merge(
        self,
        model: str,
        mcfg: ModelConfig,
        ref: ObjectRef | None,
        file_counts: bytes,
        rows: int,
        receive_count: int,
    ) -> ObjectResult:
        """One optimistic read-add-decide-write of the window (``ref`` None: re-evaluate only).

        ``file_counts`` is the file's encoded counts (encoded once, outside the retry loop).
        """
        pk, sk = window_key(model)
        profile = self.profile(model)
        for _attempt in range(MAX_ATTEMPTS):
            now = self.clock()
            cur = self.store.get(pk, sk)
            doc = dict(cur.data) if cur else {**_new_window(0, now, None, []), "model": model}
            doc.setdefault("model", model)
            try:
                payload = self._load(doc)
                objects = payload.objects
            except ObjectMissingError:
                continue  # the blob was superseded by a concurrent writer: read again
            if ref is not None:
                if ref.oid in objects:
                    return ObjectResult(
                        "duplicate", model, doc["window_id"], rows, "already in the open window"
                    )
                objects[ref.oid] = [ref.bucket, ref.key, ref.version_id, ref.etag, rows, ref.event_id]
                payload.segments.append(file_counts)
                doc["rows"] = int(doc["rows"]) + rows
                doc["files"] = int(doc["files"]) + 1
                doc["updated_at"] = now.isoformat()
                due = doc["rows"] >= mcfg.retrain.drift.min_rows and doc["rows"] >= int(
                    doc.get("drift_rows", 0) * DRIFT_REEVAL
                )
                if due:
                    merged = payload.compact(profile)
                    doc["drift"] = self._drift_summary(profile, merged, mcfg).to_dict()
                    doc["drift_rows"] = doc["rows"]
                elif len(payload.segments) >= MAX_SEGMENTS:
                    payload.compact(profile)
            stats = WindowStats(
                window_id=doc["window_id"],
                rows=int(doc["rows"]),
                files=int(doc["files"]),
                opened_at=datetime.fromisoformat(doc["opened_at"]),
                drift=DriftSummary.from_dict(doc["drift"]) if doc.get("drift") else None,
            )
            verdict = self._verdict(model, mcfg, stats, doc, now)
            deadline.current().check(1.0, f"writing the window of {model}")
            written: list[str] = []
            old_uri = (doc.get("payload") or {}).get("uri")
            closed: tuple[str, ...] = ()
            new_deferral = None
            if verdict.trigger is not None:
                _, uri = self._store_payload(model, doc["window_id"], payload.pack(), force_s3=True)
                assert uri is not None
                written.append(uri)
                evidence_uri = self.workspace.uri(
                    self.workspace.windows_prefix,
                    model,
                    doc["window_id"],
                    f"evidence-{uuid.uuid4().hex}.json",
                )
                put_json(self.objects, evidence_uri, verdict.evidence)
                written.append(evidence_uri)
                entry = self._pending_entry(model, doc, stats, verdict, uri, evidence_uri, now)
                new_doc = {
                    **_new_window(
                        int(doc["seq"]) + 1, now, doc["window_id"], [*doc.get("pending", []), entry]
                    ),
                    "model": model,
                    "rejected": list(doc.get("rejected", [])),
                }
                for k in ("rejected_archived",):
                    if k in doc:
                        new_doc[k] = doc[k]
                closed = (doc["window_id"],)
            else:
                new_doc = dict(doc)
                if ref is not None:
                    stored, uri = self._store_payload(model, doc["window_id"], payload.pack(), False)
                    new_doc["payload"] = stored
                    if uri:
                        written.append(uri)
                if verdict.defer:
                    did = make_decision_id("retrain-deferred", doc["window_id"], *sorted(verdict.defer))
                    if (doc.get("deferred") or {}).get("decision_id") != did:
                        new_deferral = did
                    new_doc["deferred"] = {
                        "decision_id": did,
                        "kinds": list(verdict.defer),
                        "reasons": _short(verdict.reasons),
                    }
                elif ref is None:
                    return ObjectResult("unchanged", model, doc["window_id"])
            size = len(json.dumps(new_doc, separators=(",", ":"), default=str))
            if size > WINDOW_ITEM_BUDGET:  # a bug, not a data problem: say so loudly, still write
                logger.error("window item over its budget", extra={"model": model, "bytes": size})
            creates = []
            if ref is not None:  # the object's membership, created in the same transaction as the window
                member = {
                    "window_id": doc["window_id"],
                    "bucket": ref.bucket,
                    "key": ref.key,
                    "version_id": ref.version_id,
                    "etag": ref.etag,
                    "rows": rows,
                    "counted_at": now.isoformat(),
                }
                creates.append(Create(*member_key(model, ref.oid), member))
            try:
                if creates:
                    self.store.put_with_creates(
                        pk, sk, new_doc, None if cur is None else cur.version, creates
                    )
                else:
                    self.store.put(pk, sk, new_doc, None if cur is None else cur.version)
            except ClaimTakenError as exc:  # counted meanwhile by a concurrent delivery of the same object
                for uri in written:
                    self.objects.delete(uri)
                return _duplicate(model, next(iter(exc.existing.values()), {}), rows=rows)
            except ConflictError:
                self.conflicts += 1
                for uri in written:
                    self.objects.delete(uri)
                continue
            if old_uri and (ref is not None or closed):
                self.objects.delete(old_uri)  # superseded by the blob (or inline payload) just written
            self.metrics.emit("WindowRows", stats.rows, "Count", {"model": model})
            if stats.drift is not None and ref is not None:
                self.metrics.emit("DriftShare", stats.drift.drift_share, "None", {"model": model})
                self.metrics.emit("DriftScoreMax", stats.drift.max_score, "None", {"model": model})
            if new_deferral:
                self._deferred(model, mcfg, new_deferral, stats, verdict, objects)
            return ObjectResult(
                "counted" if ref is not None else ("triggered" if closed else "deferred"),
                model,
                doc["window_id"],
                rows,
                "; ".join(verdict.reasons),
                closed,
            )
        raise StateError(f"window of {model}: too much contention after {MAX_ATTEMPTS} attempts")

    def _drift_summary(self, profile: Any, counts: Any, mcfg: ModelConfig) -> DriftSummary:
        from mlops_glue.drift import evaluate

        r = evaluate(profile, counts, mcfg.retrain.drift)
        drifted = tuple((c.name, float(c.score)) for c in r.columns if c.drifted)
        return DriftSummary(
            verdict=r.verdict,
            drift_share=float(r.drift_share),
            max_score=float(r.max_score),
            drifted_columns=drifted[:10],
            messages=tuple(_short(r.messages[:5])),
            dataset_drift=bool(r.dataset_drift),
        )

    def _verdict(
        self, model: str, mcfg: ModelConfig, stats: WindowStats, doc: dict[str, Any], now: datetime
    ) -> WindowVerdict:
        from mlops_glue.decisions.retrain import readiness

        trigger, _ = readiness(stats, mcfg.retrain, now)
        if trigger is None:
            return decide_window(stats, mcfg.retrain, now, ledger=None)
        ledger_doc = self.store.get(*retrain_ledger_key(model))
        runs = list((ledger_doc.data if ledger_doc else {}).get("runs", []))
        known = {r.get("decision_id") for r in runs}
        gpu = mcfg.retrain.budget.gpu_hours_per_run
        for entry in doc.get("pending", []):  # closed but not yet recorded: they count against the budget
            if entry["decision_id"] not in known:
                runs.append({"at": entry["closed_at"], "gpu_hours": gpu, "decision_id": entry["decision_id"]})
        return decide_window(
            stats,
            mcfg.retrain,
            now,
            ledger={"runs": runs},
            in_flight=self._active(model, mcfg),
            pending=len(doc.get("pending", [])),
        )

    def _active(self, model: str, mcfg: ModelConfig) -> list[str]:
        """Workflows of this model still pending or running in Argo (cached briefly); unreachable = in flight."""
        lister = getattr(self.submitter, "active", None)
        if lister is None:
            return []
        with self._lock:
            hit = self._in_flight.get(model)
        if hit and time.monotonic() - hit[0] < IN_FLIGHT_TTL and hit[1]:
            return hit[1]
        budget = deadline.current()
        if "argo" in budget.down:  # not asked again within this invocation: treated as in flight
            return [f"unknown ({budget.down['argo']})"[:200]]
        try:
            names: list[str] = lister(
                mcfg.retrain.argo.namespace,
                {f"{LABEL_PREFIX}/model": model, f"{LABEL_PREFIX}/kind": "retrain"},
            )
        except ArgoError as exc:  # not cached: the next message asks again
            if isinstance(exc, ArgoUnavailableError):
                budget.down["argo"] = f"Argo unavailable earlier in this invocation ({str(exc)[:200]})"
            return [f"unknown (cannot ask Argo: {exc})"[:200]]
        with self._lock:
            self._in_flight[model] = (time.monotonic(), names)
        return names

    def _pending_entry(
        self,
        model: str,
        doc: dict[str, Any],
        stats: WindowStats,
        verdict: WindowVerdict,
        uri: str,
        evidence_uri: str,
        now: datetime,
    ) -> dict[str, Any]:
        """A closed window waiting for submission: a compact summary; its evidence lives in S3."""
        return {
            "window_id": doc["window_id"],
            "seq": int(doc["seq"]),
            "decision_id": make_decision_id("retrain", model, doc["window_id"]),
            "trigger": verdict.trigger,
            "reasons": _short(verdict.reasons),
            "evidence_uri": evidence_uri,
            "payload_uri": uri,
            "rows": stats.rows,
            "files": stats.files,
            "opened_at": doc["opened_at"],
            "closed_at": now.isoformat(),
            "attempts": 0,
            "lease_until": None,
            "alerted": False,
            "last_error": None,
        }

    def _deferred(
        self,
        model: str,
        mcfg: ModelConfig,
        decision_id: str,
        stats: WindowStats,
        verdict: WindowVerdict,
        objects: dict[str, list[Any]],
    ) -> None:
        d = Decision(
            decision_id=decision_id,
            model=model,
            kind=Kind.RETRAIN,
            outcome=Outcome.DEFERRED,
            reasons=verdict.reasons,
            evidence={**verdict.evidence, "defer": list(verdict.defer)},
            inputs=_inputs(objects),
            config_hash=self.cfg.hash(),
            created_at=self.clock(),
        )
        self._record(d)
        if "budget" in verdict.defer or "backlog" in verdict.defer:
            self._notify(model, msgs.deferred_message(d, self._channel(model)))

    # ---------------------------------------------------------------- submit pending windows

    def drive(self, model: str) -> list[Submitted]:
        """Submit every pending (closed) window of ``model``; DriveError when any submission failed."""
        cur = self.store.get(*window_key(model))
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
                    budget.down["argo"] = f"Argo unavailable earlier in this invocation ({str(exc)[:200]})"
                errors.append(self._failed(model, claimed, exc))
            except deadline.OutOfTimeError:
                self._change_pending(model, entry["window_id"], _unlease)  # the next message retries it
                raise
        if errors:
            raise DriveError("; ".join(errors))
        return done

    def _claim(self, model: str, window_id: str) -> dict[str, Any] | None:
        """Take a lease on one pending entry so concurrent drivers do not repeat the work."""
        now = self.clock()
        got: list[dict[str, Any]] = []

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

        self.store.update(*window_key(model), take)
        return got[0] if got else None

    def _change_pending(
        self, model: str, window_id: str, fn: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> None:
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

        self.store.update(*window_key(model), change)

    def _evidence(self, entry: dict[str, Any]) -> dict[str, Any]:
        """A closed window's full evidence: from S3 (``evidence_uri``), or inline in older entries."""
        if "evidence" in entry:
            return dict(entry["evidence"])
        doc: dict[str, Any] = json.loads(self.objects.get_bytes(entry["evidence_uri"]))
        return doc

    def _decision_for(self, model: str, entry: dict[str, Any], objects: dict[str, list[Any]]) -> Decision:
        return Decision(
            decision_id=entry["decision_id"],
            model=model,
            kind=Kind.RETRAIN,
            outcome=Outcome.ACTED,
            reasons=list(entry["reasons"]),
            evidence={
                **self._evidence(entry),
                "trigger": entry["trigger"],
                "window_id": entry["window_id"],
            },
            inputs=_inputs(objects),
            config_hash=self.cfg.hash(),
            created_at=self.clock(),
        )

    def _submit(self, model: str, entry: dict[str, Any]) -> Submitted:
        mcfg = self.cfg.model(model)
        profile = self.profile(model)
        objects, payload = _unpack(self.objects.get_bytes(entry["payload_uri"]))
        counts = payload.counts(profile)
        d = self._decision_for(model, entry, objects)
        manifest_uri = self.workspace.uri(
            self.workspace.manifests_prefix, model, f"{entry['window_id']}.json"
        )
        put_json(self.objects, manifest_uri, self._manifest(model, entry, objects))
        report_uri, report_url = self._report(model, entry, profile, counts)
        submitted = submit_training(
            d,
            mcfg,
            dataset_manifest_uri=manifest_uri,
            priority=mcfg.retrain.argo.priority,
            submitter=self.submitter,
            argo=self.cfg.argo,
        )
        now = self.clock()
        gpu = mcfg.retrain.budget.gpu_hours_per_run
        self.store.update(*retrain_ledger_key(model), lambda led: record_run(led, now, gpu, d.decision_id))
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
        self._record(d)
        self._change_pending(model, entry["window_id"], lambda e: None)
        self.metrics.emit("Decisions", 1, "Count", {"model": model, "outcome": Outcome.ACTED.value})
        self._notify(model, msgs.trigger_message(d, self._channel(model)))
        logger.info(
            "retraining submitted",
            extra={"model": model, "workflow": submitted.name, "workflow_created": submitted.created},
        )
        with self._lock:
            self._in_flight.pop(model, None)
        return submitted

    def _report(self, model: str, entry: dict[str, Any], profile: Any, counts: Any) -> tuple[str, str]:
        """Store the window's HTML drift report and presign it; a broken report never blocks the training."""
        from mlops_glue.drift import evaluate, render_html

        uri = self.workspace.uri(self.workspace.reports_prefix, model, f"{entry['window_id']}.html")
        try:
            result = evaluate(profile, counts, self.cfg.model(model).retrain.drift)
            html = str(render_html(profile, counts, result))
            self.objects.put_bytes(uri, html.encode(), "text/html; charset=utf-8")
            return uri, self.objects.presign(uri)
        except Exception as exc:
            logger.warning(
                "drift report not written",
                extra={"model": model, "error": f"{type(exc).__name__}: {exc}"[:300]},
            )
            return "", ""

    def _failed(self, model: str, entry: dict[str, Any], exc: ArgoError) -> str:
        objects, _ = _unpack(self.objects.get_bytes(entry["payload_uri"]))
        d = self._decision_for(model, entry, objects)
        d.outcome = Outcome.FAILED
        error = f"{type(exc).__name__}: {exc}"
        d.reasons = [*d.reasons, f"submission failed (attempt {entry['attempts']}): {error}"[:600]]
        d.action = {"error": error[:500], "window_id": entry["window_id"]}
        self._record(d)
        self.metrics.emit("Decisions", 1, "Count", {"model": model, "outcome": Outcome.FAILED.value})
        first = not entry.get("alerted")

        def release(e: dict[str, Any]) -> dict[str, Any]:
            e.update(lease_until=None, alerted=True, last_error=error[:300])
            return e

        self._change_pending(model, entry["window_id"], release)
        if first:
            mcfg = self.cfg.model(model)
            self._notify(model, msgs.failure_message(d, error, self._channel(model), mcfg.notify.oncall))
        logger.error(
            "retraining not submitted",
            extra={"model": model, "decision_id": d.decision_id, "error": error[:300]},
        )
        return f"{model}/{entry['window_id']}: {error}"

    def _rejected(self, model: str, entry: dict[str, Any], exc: ArgoRejectedError) -> None:
        """Argo refused the submission: record FAILED with its answer, alert once, stop submitting it.

        The entry moves from ``pending`` to ``rejected`` in the window document (shown by
        ``mlops-glue window show``); its payload blob, hence the manifest, is kept. After fixing the
        cause a human runs ``mlops-glue window resubmit MODEL WINDOW_ID`` to put it back in ``pending``.
        Raising instead would fail every later message of the model into the DLQ (a poison pill).
        """
        objects, _ = _unpack(self.objects.get_bytes(entry["payload_uri"]))
        d = self._decision_for(model, entry, objects)
        d.outcome = Outcome.FAILED
        error = f"{type(exc).__name__}: {exc}"
        d.reasons = [*d.reasons, f"Argo rejected the submission, not retried: {error}"[:600]]
        d.action = {"error": error[:500], "window_id": entry["window_id"], "rejected": "true"}
        self._record(d)
        self.metrics.emit("Decisions", 1, "Count", {"model": model, "outcome": Outcome.FAILED.value})
        now = self.clock()
        moved: list[Any] = []  # [True, *entries archived to S3] once the entry moved

        def reject(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            moved.clear()
            if not doc:
                return None
            pending = doc.get("pending", [])
            hit = [e for e in pending if e["window_id"] == entry["window_id"]]
            if not hit:
                return None  # already resolved by another driver
            e = {
                **hit[0],
                "lease_until": None,
                "last_error": error[:TEXT_MAX],
                "rejected_at": now.isoformat(),
            }
            doc["pending"] = [x for x in pending if x["window_id"] != entry["window_id"]]
            rejected = [*doc.get("rejected", []), e]
            spill = rejected[:-MAX_REJECTED] if len(rejected) > MAX_REJECTED else []
            doc["rejected"] = rejected[len(spill) :]
            if spill:
                doc["rejected_archived"] = int(doc.get("rejected_archived", 0)) + len(spill)
            moved[:] = [True, *spill]
            return doc

        self.store.update(*window_key(model), reject)
        for old in moved[1:]:  # beyond the item's budget: the oldest rejected windows wait in S3
            put_json(self.objects, self._archive_uri(model, old["window_id"]), old)
            logger.warning(
                "rejected window archived to S3",
                extra={
                    "model": model,
                    "window_id": old["window_id"],
                    "uri": self._archive_uri(model, old["window_id"]),
                },
            )
        if moved:
            mcfg = self.cfg.model(model)
            self._notify(
                model, msgs.failure_message(d, error, self._channel(model), mcfg.notify.oncall, rejected=True)
            )
        logger.error(
            "retraining rejected by Argo",
            extra={"model": model, "decision_id": d.decision_id, "error": error[:300]},
        )

    def _archive_uri(self, model: str, window_id: str) -> str:
        return self.workspace.uri(self.workspace.windows_prefix, model, "rejected", f"{window_id}.json")

    def requeue(self, model: str, window_id: str) -> dict[str, Any]:
        """Put a window Argo rejected back in ``pending``: from the window item, or from the S3 archive
        (windows beyond the item's ``MAX_REJECTED``). KeyError when it is in neither."""
        try:
            return requeue_rejected(self.store, model, window_id)
        except KeyError:
            try:
                entry: dict[str, Any] = json.loads(
                    self.objects.get_bytes(self._archive_uri(model, window_id))
                )
            except ObjectMissingError:
                raise KeyError(f"{model} has no window {window_id!r} rejected by Argo") from None
            requeue_archived(self.store, model, entry)
            self.objects.delete(self._archive_uri(model, window_id))
            return entry

    def resubmit(self, model: str, window_id: str) -> list[Submitted]:
        """Put a window Argo rejected back in ``pending`` (after the cause is fixed) and submit it."""
        self.requeue(model, window_id)
        return self.drive(model)

    def _manifest(self, model: str, entry: dict[str, Any], objects: dict[str, list[Any]]) -> dict[str, Any]:
        mcfg = self.cfg.model(model)
        assert mcfg.data is not None
        items = sorted(
            (
                {"bucket": b, "key": k, "version_id": v, "etag": e, "rows": r, "uri": str(S3Uri(b, k, v))}
                for b, k, v, e, r, _ev in objects.values()
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
            "reference_profile": mcfg.data.reference_profile,
            "objects": items,
        }

    def _set_last_dataset(self, model: str, entry: dict[str, Any], manifest_uri: str) -> None:
        """The alarm flow's "latest data window" (never moved back by an older window's late submission)."""
        doc = {
            "manifest_uri": manifest_uri,
            "window_id": entry["window_id"],
            "decision_id": entry["decision_id"],
            "seq": int(entry["seq"]),
        }

        def newer(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            return None if cur and int(cur.get("seq", -1)) >= doc["seq"] else doc

        self.store.update(*last_dataset_key(model), newer)

    # ---------------------------------------------------------------- sweep

    def sweep(self) -> SweepReport:
        """Re-evaluate every model's window (age, deferrals), submit pending windows, resend notices."""
        report = SweepReport()
        for model, mcfg in self.cfg.models.items():
            if mcfg.data is None:
                continue
            try:
                res = self._merge(model, mcfg, None, b"", 0, 1)
                report.triggered.extend(res.closed)
                report.submitted.extend(s.name for s in self.drive(model))
            except (DriveError, StateError) as exc:
                report.failed.append(f"{model}: {exc}")
            except deadline.OutOfTimeError as exc:  # the next sweep goes on where this one stopped
                report.failed.append(f"{model}: {exc}")
                break
        # every flow's kept notices (promotion, feedback too): this sweep is the one scheduled function
        try:
            report.notices_resent, report.notices_waiting = resend(
                self.notifier, self.store, list(self.cfg.models)
            )
        except StateError as exc:
            report.failed.append(f"outbox: {exc}")
        return report

    # ---------------------------------------------------------------- notices and records

    def _channel(self, model: str) -> str | None:
        return self.cfg.model(model).notify.slack_channel or self.cfg.slack.default_channel

    def _notify(self, model: str, message: Message) -> None:
        """Post; a failure never undoes the action: the notice waits in the model's outbox for the sweep.

        With less than ``NOTICE_NEED_S`` of the invocation left, Slack (whose client retries for up to
        about that long) is not tried: the notice goes straight to the outbox."""
        left = deadline.current().remaining()
        if left < NOTICE_NEED_S:
            keep(self.store, model, message, f"{max(0.0, left):.1f} s of the invocation left")
            return
        post_or_keep(self.notifier, self.store, model, message)

    def _record(self, d: Decision) -> None:
        self.store.record_decision(d)
        if d.outcome != Outcome.ACTED and d.outcome != Outcome.FAILED:
            self.metrics.emit("Decisions", 1, "Count", {"model": d.model, "outcome": d.outcome.value})

    # ---------------------------------------------------------------- operations

    def window(self, model: str) -> dict[str, Any]:
        """The model's open window and pending submissions (for ``mlops-glue window show``)."""
        got = self.store.get(*window_key(model))
        if got is None:
            return {"model": model, "window": None}
        doc = dict(got.data)
        payload = doc.pop("payload", None) or {}
        doc["payload"] = "s3" if "uri" in payload else ("inline" if payload else None)
        for e in [*doc.get("pending", []), *doc.get("rejected", [])]:
            e.pop("evidence", None)
        return {"model": model, "version": got.version, "window": doc}


def requeue_rejected(store: StateStore, model: str, window_id: str) -> dict[str, Any]:
    """Move a rejected window back to ``pending`` (the next message, sweep or ``drive`` submits it).

    Returns the entry; KeyError when the model has no rejected window ``window_id``.
    """
    found: list[dict[str, Any]] = []

    def requeue(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        found.clear()
        rejected = (doc or {}).get("rejected", [])
        hit = [e for e in rejected if e["window_id"] == window_id]
        if doc is None or not hit:
            return None
        e = {k: v for k, v in hit[0].items() if k != "rejected_at"}
        e.update(lease_until=None, alerted=False)
        doc["rejected"] = [x for x in rejected if x["window_id"] != window_id]
        doc["pending"] = [*doc.get("pending", []), e]
        found.append(e)
        return doc

    store.update(*window_key(model), requeue)
    if not found:
        raise KeyError(f"{model} has no window {window_id!r} rejected by Argo")
    return found[0]


def requeue_archived(store: StateStore, model: str, entry: dict[str, Any]) -> None:
    """Put a rejected window restored from the S3 archive back in ``pending``."""
    e = {k: v for k, v in entry.items() if k != "rejected_at"}
    e.update(lease_until=None, alerted=False)

    def requeue(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        if doc is None or any(x["window_id"] == e["window_id"] for x in doc.get("pending", [])):
            return None
        doc["pending"] = [*doc.get("pending", []), e]
        doc["rejected_archived"] = max(0, int(doc.get("rejected_archived", 0)) - 1)
        return doc

    store.update(*window_key(model), requeue)


def _unlease(e: dict[str, Any]) -> dict[str, Any]:
    e["lease_until"] = None
    return e


def _duplicate(model: str, member: dict[str, Any], *, rows: int) -> ObjectResult:
    wid = member.get("window_id")
    return ObjectResult("duplicate", model, wid, rows, f"already counted in window {wid}")


def _short(texts: Any) -> list[str]:
    """Reasons or messages cut to ``TEXT_MAX`` characters each, at most five (a bounded window item)."""
    out = []
    for t in list(texts)[:5]:
        t = str(t)
        out.append(t if len(t) <= TEXT_MAX else t[: TEXT_MAX - 12] + " … (cut)")
    return out


def _inputs(objects: dict[str, list[Any]]) -> list[str]:
    uris = sorted(str(S3Uri(b, k, v)) for b, k, v, _e, _r, _ev in objects.values())
    if len(uris) > MAX_INPUTS:
        return [*uris[:MAX_INPUTS], f"... and {len(uris) - MAX_INPUTS} more (see the manifest)"]
    return uris


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
