"""The window document (``MODEL#<m>/WINDOW``) and its payload codec: how a window is stored and read.

The document (:class:`~mlops_glue.documents.Window`, through ``repositories.WINDOWS``) holds the open
window's rows, files, drift summary and deferral, the windows closed but not yet submitted (``pending``,
compact: their evidence is in S3) and those Argo rejected (``rejected``). The window's object list and counts (:class:`Payload`) ride along in the item when small and in an immutable
S3 blob otherwise. :func:`window_view` is the one read for people (``mlops-glue window show``);
:func:`requeue_rejected` / :func:`requeue_archived` put a rejected window back in ``pending``.
"""

from __future__ import annotations

import base64
import json
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlops_glue.adapters.s3 import ObjectStore, S3Uri
from mlops_glue.adapters.state import StateStore
from mlops_glue.documents import PendingWindow, Window
from mlops_glue.records import make_decision_id
from mlops_glue.repositories import WINDOWS, offloads_of

INLINE_MAX = 48 * 1024  # compressed payload bytes kept in the DynamoDB item (limit 400 KB per item)
MAX_INPUTS = 50  # object URIs listed in a decision record; the manifest lists them all
TEXT_MAX = 300  # characters of one reason or message kept in a window item (the full text is in S3)
MAX_SEGMENTS = 8  # files' counts appended before they are merged
_MAGIC = b"MGW2"


@dataclass(frozen=True)
class Workspace:
    """Where the glue writes in S3: window blobs, manifests and drift reports."""

    bucket: str
    windows_prefix: str = "mlops-glue/windows/"
    manifests_prefix: str = "mlops-glue/manifests/"
    reports_prefix: str = "mlops-glue/reports/"
    counts_prefix: str = "mlops-glue/counts/"  # objects counted on the cluster (services.arrival_offload)

    def uri(self, prefix: str, *parts: str) -> str:
        return f"s3://{self.bucket}/{prefix}{'/'.join(parts)}"

    def archive_uri(self, model: str, window_id: str) -> str:
        """Where a rejected window beyond the item's ``MAX_REJECTED`` waits."""
        return self.uri(self.windows_prefix, model, "rejected", f"{window_id}.json")


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

    def inputs(self) -> list[str]:
        """The objects' URIs for a decision record, at most ``MAX_INPUTS`` (the manifest lists them all)."""
        uris = sorted(str(S3Uri(b, k, v)) for b, k, v, _e, _r, _ev in self.objects.values())
        if len(uris) > MAX_INPUTS:
            return [*uris[:MAX_INPUTS], f"... and {len(uris) - MAX_INPUTS} more (see the manifest)"]
        return uris


def load_payload(objects: ObjectStore, doc: Window) -> Payload:
    """The window's payload, inline or from its S3 blob (ObjectMissingError: superseded meanwhile)."""
    stored = doc.payload
    if not stored:
        return Payload()
    if "inline" in stored:
        return Payload.unpack(base64.b64decode(stored["inline"]))
    return Payload.unpack(objects.get_bytes(stored["uri"]))


def store_payload(
    objects: ObjectStore, workspace: Workspace, model: str, window_id: str, blob: bytes, force_s3: bool
) -> tuple[dict[str, str], str | None]:
    """Inline when small (and not closing), else a fresh immutable S3 object: returns (payload, new uri)."""
    if len(blob) <= INLINE_MAX and not force_s3:
        return {"inline": base64.b64encode(blob).decode()}, None
    uri = workspace.uri(workspace.windows_prefix, model, window_id, f"{uuid.uuid4().hex}.bin")
    objects.put_bytes(uri, blob)
    return {"uri": uri}, uri


# ------------------------------------------------------------------------------------------ document


def new_window(
    model: str, seq: int, now: datetime, previous: str | None, pending: list[PendingWindow]
) -> Window:
    """A fresh open window document (``seq`` numbers the model's windows)."""
    return Window(
        window_id=f"w{seq:06d}-{uuid.uuid4().hex[:8]}",
        seq=seq,
        model=model,
        opened_at=now,
        updated_at=now,
        previous_window_id=previous,
        pending=pending,
    )


def pending_entry(
    model: str, doc: Window, trigger: str, reasons: list[str], uris: tuple[str, str], now: datetime
) -> PendingWindow:
    """A closed window waiting for submission: a compact summary; ``uris`` = (payload, evidence) in S3."""
    payload_uri, evidence_uri = uris
    return PendingWindow(
        window_id=doc.window_id,
        seq=doc.seq,
        decision_id=make_decision_id("retrain", model, doc.window_id),
        trigger=trigger,
        reasons=short(reasons),
        evidence_uri=evidence_uri,
        payload_uri=payload_uri,
        rows=doc.rows,
        files=doc.files,
        opened_at=doc.opened_at.isoformat(),
        closed_at=now,
    )


def close_window(model: str, doc: Window, entry: PendingWindow, now: datetime) -> Window:
    """The document after ``doc``'s window closed into ``entry``: a new open window, the backlog kept."""
    return new_window(model, doc.seq + 1, now, doc.window_id, [*doc.pending, entry]).model_copy(
        update={"rejected": list(doc.rejected), "rejected_archived": doc.rejected_archived}
    )


def short(texts: Any) -> list[str]:
    """Reasons or messages cut to ``TEXT_MAX`` characters each, at most five (a bounded window item)."""
    out = []
    for t in list(texts)[:5]:
        t = str(t)
        out.append(t if len(t) <= TEXT_MAX else t[: TEXT_MAX - 12] + " … (cut)")
    return out


def window_view(store: StateStore, model: str) -> dict[str, Any] | None:
    """The model's window document for people: the payload named, not dumped; None when it has none.

    Shown as stored (the window repository's key, not its parse): a document the flow would refuse is
    exactly the one a person needs to see.
    """
    got = store.get(*WINDOWS.at(store, model).key)
    offloads = [o.to_json() for o in offloads_of(store, model)]  # objects being counted on the cluster
    if got is None and not offloads:
        return None
    doc = dict(got.data) if got else {}
    payload = doc.pop("payload", None) or {}
    doc["payload"] = "s3" if "uri" in payload else ("inline" if payload else None)
    for e in [*doc.get("pending", []), *doc.get("rejected", [])]:
        e.pop("evidence", None)
    doc["offloads"] = offloads
    return {"version": got.version if got else None, "window": doc}


# ------------------------------------------------------------------------------------------ requeue


def _requeued(entry: PendingWindow) -> PendingWindow:
    return entry.model_copy(update={"rejected_at": None, "alerted": False})


def requeue_rejected(store: StateStore, model: str, window_id: str) -> PendingWindow:
    """Move a rejected window back to ``pending`` (the next message, sweep or ``drive`` submits it).

    Returns the entry; KeyError when the model has no rejected window ``window_id``.
    """

    def requeue(doc: Window | None) -> Window | None:
        hit = [e for e in doc.rejected if e.window_id == window_id] if doc else []
        if doc is None or not hit:
            return None
        doc.rejected = [x for x in doc.rejected if x.window_id != window_id]
        doc.pending = [*doc.pending, _requeued(hit[0])]
        return doc

    after = WINDOWS.at(store, model).change(requeue).after
    if after is None:
        raise KeyError(f"{model} has no window {window_id!r} rejected by Argo")
    entry = after.pending_entry(window_id)
    assert entry is not None
    return entry


def requeue_archived(store: StateStore, model: str, entry: PendingWindow) -> None:
    """Put a rejected window restored from the S3 archive back in ``pending``."""
    e = _requeued(entry)

    def requeue(doc: Window | None) -> Window | None:
        if doc is None or doc.pending_entry(e.window_id) is not None:
            return None
        doc.pending = [*doc.pending, e]
        doc.rejected_archived = max(0, doc.rejected_archived - 1)
        return doc

    WINDOWS.at(store, model).change(requeue)
