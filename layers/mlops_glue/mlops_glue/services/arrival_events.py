"""The data-arrival edge: an SQS message body → the created objects it names, typed (:class:`ObjectRef`).

Parsed once, here: the EventBridge "Object Created" event (our wiring) and the S3 notification
``Records`` shape (a bucket wired straight to the queue), both validated with Powertools parser models;
keys decoded as S3 encodes them (``+``). Bucket, key and version id stay structured fields from here on
(never re-parsed from a URI). :func:`skip_reason` says which routed objects are not data.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mlops_glue.adapters.s3 import S3Uri
from mlops_glue.config import ModelConfig
from mlops_glue.texts import validation_text

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel, S3Model

MARKER_NAMES = ("_SUCCESS", "_committed", "_started", "_temporary", "_metadata", "_common_metadata")


class EventError(ValueError):
    """The message is not an S3 object-created event in a shape we know."""


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
    """The objects an SQS message body announces; [] for S3's test event; EventError otherwise."""
    from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel, S3Model

    doc = _json_object(body, message_id)
    if doc.get("Event") == "s3:TestEvent":
        return []
    try:
        if doc.get("source") == "aws.s3":
            if doc.get("detail-type") != "Object Created":
                raise EventError(f"message {message_id}: {doc.get('detail-type')!r} is not 'Object Created'")
            return [_from_eventbridge(S3EventNotificationEventBridgeModel.model_validate(doc))]
        if "Records" in doc:
            return _from_records(S3Model.model_validate(doc), message_id)
    except ValidationError as exc:
        raise EventError(f"message {message_id}: malformed S3 event at {validation_text(exc, 1)}") from exc
    raise EventError(f"message {message_id}: neither an EventBridge S3 event nor S3 Records")


def _json_object(body: str | dict[str, Any], message_id: str) -> dict[str, Any]:
    try:
        doc = json.loads(body) if isinstance(body, str) else body
    except json.JSONDecodeError as exc:
        raise EventError(f"message {message_id}: body is not JSON ({exc.msg} at {exc.pos})") from exc
    if not isinstance(doc, dict):
        raise EventError(f"message {message_id}: body is a JSON {type(doc).__name__}, not an object")
    return doc


def _from_eventbridge(event: S3EventNotificationEventBridgeModel) -> ObjectRef:
    o = event.detail.object
    return ObjectRef(
        bucket=event.detail.bucket.name,
        key=decode_key(o.key),
        version_id=o.version_id,
        etag=o.etag,
        size=None if o.size is None else int(o.size),
        event_id=event.id,
    )


def _from_records(event: S3Model, message_id: str) -> list[ObjectRef]:
    out = []
    for i, r in enumerate(event.Records):
        if not r.eventName.startswith("ObjectCreated:") or r.s3.object is None:
            continue
        o = r.s3.object
        out.append(
            ObjectRef(
                bucket=r.s3.bucket.name,
                key=decode_key(o.key),
                version_id=o.versionId,
                etag=o.eTag,
                size=None if o.size is None else int(o.size),
                event_id=f"{message_id}#{i}:{o.sequencer or ''}",
            )
        )
    return out


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
    """The drift engine's reader for a key: Parquet by suffix, CSV otherwise."""
    return "parquet" if key.lower().endswith((".parquet", ".pq")) else "csv"
