"""MLflow webhook deliveries: signature check and replay window (the typed payload: :mod:`mlops_glue.events`).

MLflow (OSS >= 3.3) signs each delivery: ``X-MLflow-Signature: v1,`` + base64(HMAC-SHA256(secret,
"{X-MLflow-Delivery-Id}.{X-MLflow-Timestamp}.{raw body}")). It is checked over the raw bytes in constant
time (``hmac.compare_digest``) against the cached secret, then a freshly read one, then the previous
version during a rotation (:func:`mlops_glue.adapters.secrets.candidates`); the timestamp must fall
inside a replay window wide enough for MLflow's retry backoff (retries are byte-identical: same id,
timestamp and signature). The payload is then parsed into :class:`~mlops_glue.events.MlflowEvent` —
model versions are canonical positive integers, so ``abc`` or ``0`` is a 400, never a 503 retried in vain — and the delivery is enqueued on the intake
queue (:mod:`mlops_glue.intake`), one message per delivery id, in the model's message group.

Answers of the Function URL (documented in the README; bodies are short JSON with a ``request_id``):

* 202 — accepted: verified, valid and durably queued (a repeat within SQS's 5-minute de-duplication
  interval is accepted and dropped by the queue; a later one is dropped by the worker's idempotency);
* 401 — missing or wrong signature, unknown scheme, timestamp outside the window;
* 400 — not an MLflow webhook payload (not JSON, not UTF-8, bad base64, nested too deep, a version
  MLflow can never have); 413 — larger than any MLflow payload;
* 503 — the queue (or the secret) is unavailable, or no secret is configured: MLflow retries 5xx.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from mlops_glue.errors import RejectedError
from mlops_glue.events import (
    MalformedDeliveryError,
    MlflowEvent,
    MlflowEventData,
    load_json,
    parse_mlflow_event,
)

logger = logging.getLogger(__name__)

_EPOCH = re.compile(r"[0-9]{1,12}")  # ASCII digits only, no sign: a 400-digit "timestamp" is no epoch

SIGNATURE_HEADER = "x-mlflow-signature"
DELIVERY_HEADER = "x-mlflow-delivery-id"
TIMESTAMP_HEADER = "x-mlflow-timestamp"


class SignatureError(RejectedError):
    """The delivery is not authentic: signature missing or wrong, or timestamp outside the replay window."""


class SignatureMismatchError(SignatureError):
    """The signature does not match this secret (another secret — a rotated one — may match)."""


def sign(secret: str, delivery_id: str, timestamp: str | int, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for this delivery (tests and the local demo use it)."""
    mac = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


@dataclass(frozen=True)
class Delivery:
    """An authentic delivery: its id, signed timestamp and raw body."""

    delivery_id: str
    timestamp: int
    body: bytes

    @property
    def body_sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secret: str,
    *,
    now: datetime,
    window: timedelta = timedelta(minutes=15),
) -> Delivery:
    """Check the signature over the raw ``body`` and the timestamp; return the delivery or raise."""
    h = {k.lower(): v for k, v in headers.items()}
    delivery_id, stamp, signature = h.get(DELIVERY_HEADER), h.get(TIMESTAMP_HEADER), h.get(SIGNATURE_HEADER)
    if not delivery_id or not stamp or not signature:
        raise SignatureError("missing X-MLflow-Delivery-Id, X-MLflow-Timestamp or X-MLflow-Signature")
    if not signature.startswith("v1,"):
        raise SignatureError("unsupported signature scheme (expected 'v1,')")
    if len(delivery_id) > 128 or not delivery_id.isprintable():
        raise SignatureError("invalid delivery id")
    expected = sign(secret, delivery_id, stamp, body)
    # compare first, in constant time; only then look at the (authenticated) timestamp
    if not hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace")):
        raise SignatureMismatchError("signature mismatch")
    if not _EPOCH.fullmatch(stamp):
        raise SignatureError("timestamp is not an epoch in seconds")
    ts = int(stamp)
    age = now.timestamp() - ts
    if abs(age) > window.total_seconds():
        raise SignatureError(f"timestamp outside the replay window ({age:+.0f} s, window {window})")
    return Delivery(delivery_id, ts, body)


# the typed MLflow event lives in mlops_glue.events (parsed once at the edge); these names stay for callers
WebhookData = MlflowEventData
WebhookEvent = MlflowEvent
parse_event = parse_mlflow_event

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Delivery",
    "MalformedDeliveryError",
    "SignatureError",
    "SignatureMismatchError",
    "WebhookData",
    "WebhookEvent",
    "load_json",
    "parse_event",
    "sign",
    "verify",
]
