"""The intake worker: SQS (FIFO) → the promotion or feedback flow, retried with backoff over hours → DLQ.

One message is one delivery (:class:`~mlops_glue.intake.Envelope`). Batches go through Powertools'
``SqsFifoPartialProcessor`` with ``skip_group_on_error``: a failed message and the messages after it in
the same group (model / application) are reported back as failures, so order is kept within a group
while other groups go on. A failed message is made invisible for an exponentially growing, jittered
delay (:class:`Backoff`: ``base`` doubling up to ``cap``), so a GitOps, MLflow or DynamoDB outage is
retried until it passes; a message older than ``max_age`` is moved to the dead-letter queue with the
reason (``mlops-glue dlq replay --intake`` sends it back). The queue's redrive policy
(``maxReceiveCount``) is the safety net for a worker that crashes before it can do either.

Retry or reject is the type of the error (:mod:`mlops_glue.errors`): a
:class:`~mlops_glue.errors.RejectedError` — a queued body that is not the typed event of its source, say
— can never succeed, so the message goes to the dead-letter queue at once with the reason (nothing lost,
nothing retried in vain); a :class:`~mlops_glue.errors.RetryableError` (GitOps, MLflow, DynamoDB
unavailable; the delivery in progress elsewhere), and any unexpected error, is retried with backoff.

Each job parses the envelope's body into its source's typed event once
(:func:`~mlops_glue.events.parse_mlflow_event`, :func:`~mlops_glue.events.parse_argocd_notification`)
and hands that to the service.

Exactly once: MLflow deliveries are de-duplicated on their delivery id, Argo CD notifications on
application + revision + trigger (Powertools idempotency on the state table); the flows themselves are
idempotent (a bump already in the file is not committed twice, a rollback is claimed once).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from mlops_glue import logs
from mlops_glue.errors import RejectedError, RetryableError
from mlops_glue.events import ArgoCDNotification, MlflowEvent, parse_argocd_notification, parse_mlflow_event
from mlops_glue.intake import Envelope
from mlops_glue.webhooks import Delivery

logger = logging.getLogger(__name__)

MAX_VISIBILITY = 43_200  # SQS's limit: 12 hours

Job = Callable[[Envelope, Any], dict[str, Any]]
"""Processes one envelope (with the Lambda context); raises RejectedError to be dead-lettered at once,
anything else (a RetryableError) to be retried."""


class RetryLaterError(RetryableError):
    """The delivery could not be processed now (in progress elsewhere, a store unavailable)."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of ``min(cap, base·2ⁿ⁻¹)``."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(minutes=30)
    max_age: timedelta = timedelta(hours=12)

    def delay(self, attempt: int, rng: random.Random | None = None) -> int:
        """Seconds to wait before attempt ``attempt + 1`` (1 ≤ delay ≤ SQS's 12-hour limit)."""
        ceiling = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** min(max(attempt, 1) - 1, 30))
        half = ceiling / 2
        jitter = (rng or random).uniform(0, half)
        return int(max(1, min(MAX_VISIBILITY, half + jitter)))


@dataclass
class IntakeWorker:
    """Runs each envelope's job; on failure delays the message (backoff) or dead-letters it (max age)."""

    jobs: Mapping[str, Job]
    sqs: Callable[[], Any]
    queue_url: str
    dlq_url: str | None
    backoff: Backoff = field(default_factory=Backoff)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    rng: random.Random = field(default_factory=random.Random)
    observe: Callable[[Envelope, dict[str, Any]], None] | None = None  # e.g. a metric per outcome
    # told when a delivery is dead-lettered (envelope or None, reason): the worker app posts to Slack
    on_dead_letter: Callable[[Envelope | None, str], None] | None = None
    _context: Any = None
    _attempted: set[str] = field(default_factory=set)

    def handle_batch(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The SQS batch → ``{"batchItemFailures": [...]}`` (ReportBatchItemFailures)."""
        from aws_lambda_powertools.utilities.batch import process_partial_response
        from aws_lambda_powertools.utilities.batch.sqs_fifo_partial_processor import (
            SqsFifoPartialProcessor,
        )

        self._context = context
        self._attempted = set()
        processor = SqsFifoPartialProcessor(skip_group_on_error=True)
        # every message failing is still a partial answer: each has its own backoff already set
        processor.raise_on_entire_batch_failure = False
        result = dict(
            process_partial_response(
                event=event, record_handler=self.record, processor=processor, context=context
            )
        )
        self._release_skipped(event, result)
        return result

    def _release_skipped(self, event: dict[str, Any], result: dict[str, Any]) -> None:
        """Make the messages skipped behind a failed one visible again at once.

        They were never attempted; their group stays blocked by the failed message (in flight for its
        backoff), so they come next, in order, right after it — not a whole visibility timeout later.
        """
        failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures", [])}
        for rec in event.get("Records", []):
            mid = rec.get("messageId")
            if mid in failed and mid not in self._attempted:
                try:
                    self.sqs().change_message_visibility(
                        QueueUrl=self.queue_url, ReceiptHandle=rec["receiptHandle"], VisibilityTimeout=0
                    )
                except Exception as exc:  # they come back after the queue's visibility timeout instead
                    logger.warning("could not release a skipped message", extra={"error": type(exc).__name__})

    def record(self, record: Any) -> dict[str, Any]:
        """One SQS record (Powertools ``SQSRecord``)."""
        self._attempted.add(record.message_id)
        try:
            envelope = Envelope.model_validate_json(record.body)
        except (ValidationError, ValueError) as exc:
            self._dead_letter(record, f"not an intake envelope: {type(exc).__name__}", None)
            return {"status": "dead_lettered", "reason": "not an intake envelope"}
        job = self.jobs.get(envelope.source)
        if job is None:
            self._dead_letter(record, f"no job for source {envelope.source!r}", envelope)
            return {"status": "dead_lettered", "reason": f"no job for {envelope.source}"}
        context = {"delivery_id": envelope.delivery_id, "source": envelope.source, "group": envelope.group}
        try:
            result = job(envelope, self._context)
        except RejectedError as exc:  # can never succeed: the DLQ now, with the reason
            reason = logs.redact(f"rejected: {type(exc).__name__}: {exc}")[:500]
            self._dead_letter(record, reason, envelope)
            logger.error("delivery rejected", extra={**context, "error": reason})
            return {"status": "dead_lettered", "reason": "rejected"}
        except Exception as exc:
            if self._give_up(record, envelope, exc, context):
                return {"status": "dead_lettered", "reason": "max age reached"}
            raise
        logger.info("delivery processed", extra={**context, "result": _short(result)})
        if self.observe is not None:
            self.observe(envelope, result)
        return result

    # ------------------------------------------------------------------ failures
    def _give_up(self, record: Any, envelope: Envelope, exc: Exception, context: dict[str, str]) -> bool:
        """Delay the message for its next attempt, or dead-letter it past ``max_age`` (True)."""
        attempt = int(record.attributes.approximate_receive_count or 1)
        sent_ms = int(record.attributes.sent_timestamp or 0)
        age = self.now().timestamp() - sent_ms / 1000 if sent_ms else 0.0
        delay = self.backoff.delay(attempt, self.rng)
        error = logs.redact(f"{type(exc).__name__}: {exc}")[:300]
        if age + delay > self.backoff.max_age.total_seconds() and self.dlq_url:
            reason = f"failed for {age / 3600:.1f} h ({attempt} attempts): {error}"
            self._dead_letter(record, reason, envelope)
            logger.error("delivery dead-lettered", extra={**context, "attempt": attempt, "error": error})
            return True
        try:
            self.sqs().change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
            )
        except Exception as vis:  # the message comes back after the queue's visibility timeout instead
            logger.warning("could not delay the retry", extra={**context, "error": type(vis).__name__})
        logger.warning(
            "delivery failed, retrying",
            extra={**context, "attempt": attempt, "retry_in_s": delay, "error": error},
        )
        return False

    def _dead_letter(self, record: Any, reason: str, envelope: Envelope | None) -> None:
        """Move ``record`` to the DLQ now (raises when the DLQ did not take it: the message stays)."""
        if not self.dlq_url:
            raise RetryLaterError(f"no dead-letter queue configured; {reason}")
        kwargs: dict[str, Any] = {
            "QueueUrl": self.dlq_url,
            "MessageBody": record.body,
            "MessageAttributes": {"reason": {"DataType": "String", "StringValue": reason[:500]}},
        }
        if self.dlq_url.endswith(".fifo"):
            kwargs["MessageGroupId"] = record.attributes.message_group_id or "dead-letter"
            kwargs["MessageDeduplicationId"] = record.message_id[:128]
        self.sqs().send_message(**kwargs)
        logger.error(
            "moved to the dead-letter queue", extra={"message_id": record.message_id, "reason": reason}
        )
        if self.on_dead_letter is not None:
            try:
                self.on_dead_letter(envelope, reason)
            except Exception as exc:  # the message is safe in the DLQ; the notice is best effort
                logger.warning("dead-letter notice failed", extra={"error": type(exc).__name__})


def _short(result: dict[str, Any]) -> dict[str, Any]:
    keep = ("status", "outcome", "decision_id", "duplicate", "reason")
    return {k: result[k] for k in keep if k in result}


# ------------------------------------------------------------------------------------------ jobs


def run_once(
    fn: Callable[..., dict[str, Any]],
    data: dict[str, Any],
    *,
    data_keyword: str,
    persistence: Any,
    context: Any,
    what: str,
    **config: Any,
) -> dict[str, Any]:
    """``fn(data)`` once per idempotency key of ``data`` (Powertools idempotency on ``persistence``, with
    ``config`` for its IdempotencyConfig): a repeat gets the first answer marked ``duplicate``. Being
    processed elsewhere, or the store unreachable: RetryLaterError (the message comes back later)."""
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
    )

    def mark_duplicate(response: Any, idempotent_data: Any) -> Any:
        return {**response, "duplicate": True} if isinstance(response, dict) else response

    settings = IdempotencyConfig(response_hook=mark_duplicate, **config)
    if context is not None:
        settings.register_lambda_context(context)
    wrapped = idempotent_function(
        fn, data_keyword_argument=data_keyword, persistence_store=persistence, config=settings
    )
    try:
        result: dict[str, Any] = wrapped(**{data_keyword: data})
        return result
    except IdempotencyAlreadyInProgressError as exc:
        raise RetryLaterError(f"{what} is being processed") from exc
    except IdempotencyPersistenceLayerError as exc:
        raise RetryLaterError(f"idempotency store unavailable: {type(exc).__name__}") from exc


def mlflow_job(
    process: Callable[[MlflowEvent, Delivery], dict[str, Any]],
    persistence: Any | None,
    *,
    dedup_ttl: timedelta = timedelta(days=7),
) -> Job:
    """An MLflow delivery → ``process`` once per delivery id (Powertools idempotency on ``persistence``)."""

    def run(envelope: Envelope, context: Any) -> dict[str, Any]:
        delivery = Delivery(envelope.delivery_id, envelope.timestamp or 0, envelope.body.encode("utf-8"))
        event = parse_mlflow_event(delivery.body)  # MalformedDeliveryError: rejected, to the DLQ
        if persistence is None:
            return process(event, delivery)
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError

        def once(key: dict[str, str]) -> dict[str, Any]:
            return process(event, delivery)

        try:
            return run_once(
                once,
                {"delivery_id": delivery.delivery_id, "body_sha256": delivery.body_sha256},
                data_keyword="key",
                persistence=persistence,
                context=context,
                what=f"delivery {delivery.delivery_id}",
                event_key_jmespath="delivery_id",
                payload_validation_jmespath="body_sha256",
                expires_after_seconds=int(dedup_ttl.total_seconds()),
            )
        except IdempotencyValidationError:
            # same id, different (still correctly signed) body: treat as already handled, never act twice
            return {"status": "ignored", "reason": "delivery id reused with another body", "duplicate": True}

    return run


# the identity Argo CD repeats (oncePer): application (namespace + name), revision and trigger
ARGOCD_DEDUP_KEY = "[namespace, app, revision, syncRevision, trigger]"


def argocd_job(handle: Callable[[ArgoCDNotification], dict[str, Any]], persistence: Any | None) -> Job:
    """An Argo CD notification → ``handle`` once per application + revision + trigger."""

    def run(envelope: Envelope, context: Any) -> dict[str, Any]:
        n = parse_argocd_notification(envelope.body)  # InvalidNotificationError: rejected, to the DLQ
        if persistence is None:
            return handle(n)

        def once(notification: dict[str, Any]) -> dict[str, Any]:
            return handle(n)  # ``notification`` is n's dump: only its identity keys the idempotency

        return run_once(
            once,
            n.model_dump(mode="json", by_alias=True),
            data_keyword="notification",
            persistence=persistence,
            context=context,
            what=n.identity,
            event_key_jmespath=ARGOCD_DEDUP_KEY,
        )

    return run


__all__ = [
    "Backoff",
    "IntakeWorker",
    "RejectedError",
    "RetryLaterError",
    "RetryableError",
    "argocd_job",
    "mlflow_job",
]
