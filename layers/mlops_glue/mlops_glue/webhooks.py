"""MLflow webhook deliveries: signature check, replay window, typed payload, de-duplication, HTTP answer.

MLflow (OSS >= 3.3) signs each delivery: ``X-MLflow-Signature: v1,`` + base64(HMAC-SHA256(secret,
"{X-MLflow-Delivery-Id}.{X-MLflow-Timestamp}.{raw body}")). It is checked over the raw bytes in constant
time (``hmac.compare_digest``); the timestamp must fall inside a replay window wide enough for MLflow's
retry backoff (retries are byte-identical: same id, timestamp and signature). Deliveries are then
de-duplicated on their id with Powertools idempotency on the state table.

Answers (documented in the README):

* 401 — missing or wrong signature, unknown scheme, timestamp outside the window;
* 400 — a correctly signed body that is not an MLflow webhook payload;
* 200 — processed, ignored (an event or model we do not act on, a name that would escape a path) or a
  duplicate (``"duplicate": true``: the stored answer of the first delivery);
* 503 — a transient failure (GitOps, MLflow, DynamoDB): MLflow retries 5xx with backoff.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-mlflow-signature"
DELIVERY_HEADER = "x-mlflow-delivery-id"
TIMESTAMP_HEADER = "x-mlflow-timestamp"


class SignatureError(Exception):
    """The delivery is not authentic: signature missing or wrong, or timestamp outside the replay window."""


class MalformedDeliveryError(ValueError):
    """The (authentic) body is not an MLflow webhook payload."""


class RetryableError(Exception):
    """Processing failed for a reason that may pass (GitOps, MLflow or AWS unavailable): answer 5xx."""


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
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("signature mismatch")
    try:
        ts = int(stamp)
    except ValueError:
        raise SignatureError("timestamp is not an integer") from None
    age = now.timestamp() - ts
    if abs(age) > window.total_seconds():
        raise SignatureError(f"timestamp outside the replay window ({age:+.0f} s, window {window})")
    return Delivery(delivery_id, ts, body)


class WebhookData(BaseModel):
    """The ``data`` of the registry events we read (other fields are kept but unused)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, max_length=256)
    version: str | None = Field(None, max_length=128)
    alias: str | None = Field(None, max_length=256)
    key: str | None = Field(None, max_length=250)
    value: str | None = Field(None, max_length=5000)
    run_id: str | None = Field(None, max_length=128)
    source: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class WebhookEvent(BaseModel):
    """An MLflow webhook payload: ``{"entity", "action", "timestamp", "data"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: str
    action: str
    timestamp: datetime
    data: WebhookData

    @property
    def event_type(self) -> str:
        """``entity.action``, as MLflow names the event (e.g. ``model_version.created``)."""
        return f"{self.entity}.{self.action}"


def parse_event(body: bytes) -> WebhookEvent:
    """Parse the raw body (MalformedDeliveryError says what is wrong)."""
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedDeliveryError(f"body is not JSON: {exc}") from exc
    try:
        return WebhookEvent.model_validate(raw)
    except ValidationError as exc:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise MalformedDeliveryError(f"not an MLflow webhook payload: {where}") from exc


Process = Callable[[WebhookEvent, Delivery], dict[str, Any]]
"""Acts on one authentic event and returns a JSON-able summary (stored for duplicates)."""


def _response(status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(extra or {})},
        "body": json.dumps(body, default=str),
    }


class WebhookEndpoint:
    """Verify → parse → de-duplicate → process → HTTP answer for the Function URL.

    ``secret`` is a callable so the secret is fetched (and cached by Powertools) only when a request
    arrives. ``persistence`` is a Powertools idempotency persistence layer (DynamoDB on the state
    table); None disables de-duplication (unit tests of other parts only).
    """

    def __init__(
        self,
        secret: Callable[[], str],
        process: Process,
        *,
        persistence: Any | None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        window: timedelta = timedelta(minutes=15),
        dedup_ttl: timedelta = timedelta(days=7),
        lambda_context: Any | None = None,
    ) -> None:
        self._secret = secret
        self._process = process
        self._persistence = persistence
        self._now = now
        self._window = window
        self._dedup_ttl = dedup_ttl
        self._lambda_context = lambda_context

    def handle(
        self, headers: Mapping[str, str], body: bytes, lambda_context: Any | None = None
    ) -> dict[str, Any]:
        """The Function URL response for one request."""
        try:
            delivery = verify(headers, body, self._secret(), now=self._now(), window=self._window)
        except SignatureError as exc:
            logger.warning("rejected MLflow delivery: %s", exc)
            return _response(401, {"error": "invalid signature", "detail": str(exc)})
        try:
            event = parse_event(delivery.body)
        except MalformedDeliveryError as exc:
            logger.warning("malformed MLflow delivery %s: %s", delivery.delivery_id, exc)
            return _response(400, {"error": "malformed body", "detail": str(exc)[:1000]})
        try:
            result = self._once(event, delivery, lambda_context or self._lambda_context)
        except RetryableError as exc:
            logger.error("delivery %s failed, MLflow will retry: %s", delivery.delivery_id, exc)
            return _response(
                503, {"error": "temporarily unavailable", "detail": str(exc)[:500]}, {"Retry-After": "5"}
            )
        return _response(200, result)

    def _once(self, event: WebhookEvent, delivery: Delivery, lambda_context: Any | None) -> dict[str, Any]:
        if self._persistence is None:
            return self._process(event, delivery)
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        def mark_duplicate(response: Any, idempotent_data: Any) -> Any:
            return {**response, "duplicate": True} if isinstance(response, dict) else response

        config = IdempotencyConfig(
            event_key_jmespath="delivery_id",
            payload_validation_jmespath="body_sha256",
            expires_after_seconds=int(self._dedup_ttl.total_seconds()),
            response_hook=mark_duplicate,
        )
        if lambda_context is not None:
            config.register_lambda_context(lambda_context)

        def run(key: dict[str, str]) -> dict[str, Any]:
            return self._process(event, delivery)

        once = idempotent_function(
            data_keyword_argument="key", persistence_store=self._persistence, config=config
        )
        try:
            result: dict[str, Any] = once(run)(
                key={"delivery_id": delivery.delivery_id, "body_sha256": delivery.body_sha256}
            )
            return result
        except IdempotencyAlreadyInProgressError as exc:
            raise RetryableError(f"delivery {delivery.delivery_id} is being processed") from exc
        except IdempotencyValidationError:
            # same id, different (still correctly signed) body: treat as already handled, never act twice
            return {"status": "ignored", "reason": "delivery id reused with another body", "duplicate": True}
        except IdempotencyPersistenceLayerError as exc:
            raise RetryableError(f"idempotency store unavailable: {exc}") from exc
