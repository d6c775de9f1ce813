"""The durable intake of the two public Function URLs: verify → validate → enqueue → 202.

MLflow retries a failed delivery only a few times within seconds and Argo CD retries 5xx a few times:
doing the GitOps and MLflow work inside the request would lose every event of a 20-second outage.
So each Function URL only checks what it can check alone — authenticity (with secret rotation), the
payload's shape — and puts the delivery on an SQS FIFO queue: one message per delivery, answered 202.
The worker (:mod:`mlops_glue.worker`) does the work with backoff over hours, then the DLQ.

Order: the message group is the model (MLflow) or the application (Argo CD), so one model's
promotions and one application's notifications are handled one at a time, in the order they arrived,
while other models go on in parallel. De-duplication: the deduplication id is a hash of the delivery id
(MLflow) or of application + revision + trigger (Argo CD's ``oncePer`` repeats), so SQS drops a repeat
within its 5-minute interval; the worker's idempotency drops later ones.

The body is parsed here into its typed event (:mod:`mlops_glue.events`) only to refuse a malformed one
with a 400 before it is queued; the worker parses the queued body into the same type, once, and the
services take that type. Retry or reject follows the error's type (:mod:`mlops_glue.errors`): a
:class:`~mlops_glue.errors.RejectedError` (bad request, bad signature, malformed body) is a 4xx, a
:class:`~mlops_glue.errors.RetryableError` (the queue or the secret unavailable) a 503.

Every answer is a short JSON body with the request id; a failure never carries a stack trace, a path,
stderr or more than :data:`ECHO_LIMIT` characters of anything the sender wrote.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from mlops_glue.adapters.secrets import Secrets, SecretsError, candidates
from mlops_glue.errors import RejectedError, RetryableError
from mlops_glue.events import MalformedEventError, parse_argocd_notification, parse_mlflow_event
from mlops_glue.webhooks import SignatureError, SignatureMismatchError, verify

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # MLflow payloads are a few KB; Argo CD's are capped by our template
ECHO_LIMIT = 200  # at most this many characters of a detail go back to the sender
_GROUP_SAFE = re.compile(r"[A-Za-z0-9._/-]{1,100}")


class EnqueueError(RetryableError):
    """The intake queue did not take the delivery (the sender must retry: 503)."""


class Envelope(BaseModel):
    """One delivery on the intake queue: who sent it, its identity and the authentic body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    source: Literal["mlflow", "argocd"]
    delivery_id: str = Field(min_length=1, max_length=256)
    group: str = Field(min_length=1, max_length=128)
    dedup_id: str = Field(min_length=1, max_length=128)
    received_at: datetime
    timestamp: int | None = None  # MLflow's signed X-MLflow-Timestamp
    body: str  # MLflow: the raw (UTF-8) body; Argo CD: the validated notification as JSON


class IntakeQueue(Protocol):
    def send(self, envelope: Envelope) -> str:
        """Enqueue ``envelope``; its message id. EnqueueError when the queue did not take it."""
        ...


class SqsIntakeQueue:
    """The intake FIFO queue: group id = model / application, deduplication id from the delivery."""

    def __init__(self, url: str, client: Any | None = None) -> None:
        self.url = url
        self._client = client

    def _sqs(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    def send(self, envelope: Envelope) -> str:
        try:
            resp = self._sqs().send_message(
                QueueUrl=self.url,
                MessageBody=envelope.model_dump_json(),
                MessageGroupId=envelope.group,
                MessageDeduplicationId=envelope.dedup_id,
                MessageAttributes={
                    "source": {"DataType": "String", "StringValue": envelope.source},
                },
            )
        except Exception as exc:  # botocore ClientError, EndpointConnectionError, throttling, ...
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            raise EnqueueError(
                f"the intake queue is unavailable ({type(exc).__name__} {code})".strip()
            ) from exc
        return str(resp.get("MessageId", ""))


class MemoryIntakeQueue:
    """Collects envelopes (unit tests); ``fail`` makes every send raise EnqueueError."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Envelope] = []
        self.fail = fail

    def send(self, envelope: Envelope) -> str:
        if self.fail:
            raise EnqueueError("the intake queue is unavailable (fake)")
        self.sent.append(envelope)
        return f"m-{len(self.sent)}"


# ------------------------------------------------------------------------------------------ answers


def answer(
    status: int,
    request_id: str,
    body: dict[str, Any],
    retry_after: int | None = None,
) -> dict[str, Any]:
    """The Function URL response: JSON with the request id (and Retry-After on a 503)."""
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return {
        "statusCode": status,
        "headers": headers,
        "body": json.dumps({**body, "request_id": request_id[:64]}, default=str),
    }


def failure(
    status: int, request_id: str, error: str, detail: str | None = None, retry_after: int | None = None
) -> dict[str, Any]:
    """A failure answer: a fixed ``error`` and at most :data:`ECHO_LIMIT` characters of ``detail``."""
    body: dict[str, Any] = {"error": error}
    if detail:
        body["detail"] = detail[:ECHO_LIMIT]
    return answer(status, request_id, body, retry_after)


class BadRequestError(RejectedError, ValueError):
    """The request can never succeed as sent (4xx); ``status`` says which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def raw_body(event: Mapping[str, Any]) -> bytes:
    """The request body of a Function URL event as bytes (base64 checked, size bounded)."""
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        raise BadRequestError(400, "body is not text")
    if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:
        raise BadRequestError(413, f"body larger than {MAX_BODY_BYTES} bytes")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequestError(400, "body is not valid base64") from None
    else:
        data = raw.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise BadRequestError(413, f"body larger than {MAX_BODY_BYTES} bytes")
    return data


def request_id_of(event: Mapping[str, Any], context: Any | None) -> str:
    """The Lambda request id (what CloudWatch logs carry), else the Function URL's."""
    rid = getattr(context, "aws_request_id", None)
    if isinstance(rid, str) and rid:
        return rid
    ctx = event.get("requestContext")
    got = ctx.get("requestId") if isinstance(ctx, dict) else None
    return str(got) if got else "-"


def lowered(headers: Any) -> dict[str, str]:
    """Header names lowercased; non-string values dropped (a malformed event is not a crash)."""
    if not isinstance(headers, dict):
        return {}
    return {str(k).lower(): v for k, v in headers.items() if isinstance(v, str)}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def group_id(source: str, name: str) -> str:
    """The message group of a model or application: readable when safe, else a hash."""
    if _GROUP_SAFE.fullmatch(name):
        return f"{source}:{name}"
    return f"{source}:h-{_digest(name)[:40]}"


# ------------------------------------------------------------------------------------------ MLflow


class MlflowIntake:
    """The MLflow Function URL: verify (rotation-aware) → parse → enqueue → 202.

    ``secret_name`` is a callable so the configuration is read only when a request arrives; it returns
    None when no secret is configured (every delivery is then refused with 503: fix the configuration,
    MLflow retries).
    """

    def __init__(
        self,
        secrets: Callable[[], Secrets],
        secret_name: Callable[[], str | None],
        queue: Callable[[], IntakeQueue],
        *,
        window: Callable[[], timedelta],
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._secrets = secrets
        self._secret_name = secret_name
        self._queue = queue
        self._window = window
        self._now = now

    def handle(self, event: Mapping[str, Any], context: Any | None = None) -> dict[str, Any]:
        """The Function URL response for one request; never raises."""
        rid = request_id_of(event, context)
        try:
            return self._handle(event, rid)
        except Exception:  # the last line: a short 503, the details only in the log
            logger.exception("MLflow intake failed unexpectedly", extra={"request_id": rid})
            return failure(503, rid, "temporarily unavailable", retry_after=30)

    def _handle(self, event: Mapping[str, Any], rid: str) -> dict[str, Any]:
        try:
            body = raw_body(event)
        except BadRequestError as exc:
            return failure(exc.status, rid, "malformed request", str(exc))
        headers = lowered(event.get("headers"))
        name = self._secret_name()
        if not name:
            logger.error("mlflow.webhook_secret is not configured: refusing every delivery")
            return failure(503, rid, "not configured", retry_after=300)
        try:
            delivery = self._verify(headers, body, name)
        except SecretsError as exc:
            logger.error("webhook secret unreadable", extra={"error": str(exc), "request_id": rid})
            return failure(503, rid, "secret unavailable", retry_after=30)
        except SignatureError as exc:
            logger.warning("rejected MLflow delivery", extra={"reason": str(exc)[:200], "request_id": rid})
            return failure(401, rid, "invalid signature", str(exc))
        try:
            parsed = parse_mlflow_event(delivery.body)
        except MalformedEventError as exc:
            logger.warning(
                "malformed MLflow delivery",
                extra={"delivery_id": delivery.delivery_id, "reason": str(exc)[:300], "request_id": rid},
            )
            return failure(400, rid, "malformed body", str(exc))
        envelope = Envelope(
            source="mlflow",
            delivery_id=delivery.delivery_id,
            group=group_id("mlflow", parsed.model),
            dedup_id=_digest("mlflow", delivery.delivery_id),
            received_at=self._now(),
            timestamp=delivery.timestamp,
            body=delivery.body.decode("utf-8"),
        )
        try:
            message_id = self._queue().send(envelope)
        except EnqueueError as exc:
            logger.error(
                "delivery not queued: MLflow will retry",
                extra={"delivery_id": delivery.delivery_id, "error": str(exc), "request_id": rid},
            )
            return failure(503, rid, "temporarily unavailable", retry_after=5)
        logger.info(
            "MLflow delivery queued",
            extra={
                "delivery_id": delivery.delivery_id,
                "event_type": parsed.event_type,
                "model": parsed.model,
                "message_id": message_id,
                "request_id": rid,
            },
        )
        return answer(202, rid, {"status": "queued", "delivery_id": delivery.delivery_id})

    def _verify(self, headers: Mapping[str, str], body: bytes, name: str) -> Any:
        last: SignatureError | None = None
        now, window = self._now(), self._window()
        for secret in candidates(self._secrets(), name):
            try:
                return verify(headers, body, secret, now=now, window=window)
            except SignatureMismatchError as exc:
                last = exc  # maybe signed with a rotated secret: try the next candidate
        raise last or SignatureError("signature mismatch")


# ------------------------------------------------------------------------------------------ Argo CD


class ArgocdIntake:
    """The Argo CD Function URL: method, content type, shared token (rotation-aware), body → enqueue → 202."""

    def __init__(
        self,
        secrets: Callable[[], Secrets],
        settings: Callable[[], tuple[str | None, str]],
        queue: Callable[[], IntakeQueue],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``settings()`` returns (secret name or None, header name)."""
        self._secrets = secrets
        self._settings = settings
        self._queue = queue
        self._now = now

    def handle(self, event: Mapping[str, Any], context: Any | None = None) -> dict[str, Any]:
        rid = request_id_of(event, context)
        try:
            return self._handle(event, rid)
        except Exception:
            logger.exception("Argo CD intake failed unexpectedly", extra={"request_id": rid})
            return failure(503, rid, "temporarily unavailable", retry_after=30)

    def _handle(self, event: Mapping[str, Any], rid: str) -> dict[str, Any]:
        ctx = event.get("requestContext")
        http = ctx.get("http") if isinstance(ctx, dict) else None
        method = str((http or {}).get("method") or "").upper() if isinstance(http, dict) else ""
        if method != "POST":
            return failure(405, rid, "method not allowed: use POST", method[:10] or None)
        headers = lowered(event.get("headers"))
        ctype = headers.get("content-type", "").lower()
        if not ctype.startswith("application/json"):
            return failure(415, rid, "unsupported media type: send application/json", ctype[:40] or None)
        try:
            body = raw_body(event)
        except BadRequestError as exc:
            return failure(exc.status, rid, "malformed request", str(exc))
        name, header = self._settings()
        if not name:
            logger.error("argocd.secret is not configured: refusing every notification")
            return failure(503, rid, "not configured", retry_after=300)
        given = headers.get(header.lower(), "")
        try:
            ok = bool(given) and any(
                hmac.compare_digest(given.encode("utf-8", "replace"), token.encode())
                for token in candidates(self._secrets(), name)
            )
        except SecretsError as exc:
            logger.error("shared secret unreadable", extra={"error": str(exc), "request_id": rid})
            return failure(503, rid, "secret unavailable", retry_after=30)
        if not ok:
            logger.warning("Argo CD notification with a wrong or missing token", extra={"request_id": rid})
            return failure(401, rid, "wrong or missing shared secret")
        try:
            n = parse_argocd_notification(body)
        except MalformedEventError as exc:
            logger.warning(
                "invalid Argo CD notification", extra={"reason": str(exc)[:300], "request_id": rid}
            )
            return failure(400, rid, "invalid notification", str(exc))
        envelope = Envelope(
            source="argocd",
            delivery_id=rid,
            group=group_id("argocd", n.app_id),
            dedup_id=_digest("argocd", n.identity),
            received_at=self._now(),
            body=n.model_dump_json(by_alias=True),
        )
        try:
            message_id = self._queue().send(envelope)
        except EnqueueError as exc:
            logger.error(
                "notification not queued: Argo CD will retry", extra={"error": str(exc), "request_id": rid}
            )
            return failure(503, rid, "temporarily unavailable", retry_after=5)
        logger.info(
            "Argo CD notification queued",
            extra={"identity": n.identity, "message_id": message_id, "request_id": rid},
        )
        return answer(202, rid, {"status": "queued", "identity": n.identity[:ECHO_LIMIT]})
