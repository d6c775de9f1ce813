"""Retry or reject by the error's type: the worker on a fake SQS, one batch at a time.

A RetryableError (or any unexpected error) delays the message with backoff and reports it failed; a
RejectedError — a queued body that is not its source's typed event, say — sends the message to the
dead-letter queue at once with the reason, unchanged: nothing retried in vain, nothing lost.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlops_glue.errors import RejectedError, RetryableError, is_retryable
from mlops_glue.events import ArgoCDNotification, MlflowEvent
from mlops_glue.intake import Envelope, group_id
from mlops_glue.webhooks import Delivery
from mlops_glue.worker import Backoff, IntakeWorker, Job, RetryLaterError, argocd_job, mlflow_job

from glue_local.argocd_render import application, body

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/intake.fifo"
DLQ = "https://sqs.eu-west-1.amazonaws.com/123456789012/intake-dlq.fifo"
REVISION = "0123456789abcdef0123456789abcdef01234567"


class FakeSqs:
    """What the worker calls on SQS, recorded."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.delayed: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        return {"MessageId": f"dlq-{len(self.sent)}"}

    def change_message_visibility(self, **kwargs: Any) -> dict[str, Any]:
        self.delayed.append(kwargs)
        return {}


def mlflow_body(**data: Any) -> str:
    return json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "2026-12-01T11:59:00Z",
            "data": {"name": "fraud-detection", "version": "3", **data},
        }
    )


def envelope(source: str = "mlflow", raw: str | None = None, delivery_id: str = "d-1") -> Envelope:
    return Envelope(
        source=source,  # type: ignore[arg-type]
        delivery_id=delivery_id,
        group=group_id(source, "fraud-detection"),
        dedup_id=f"dedup-{delivery_id}",
        received_at=NOW,
        timestamp=int(NOW.timestamp()),
        body=mlflow_body() if raw is None else raw,
    )


def batch(*envelopes: Envelope) -> dict[str, Any]:
    sent = int((NOW - timedelta(minutes=1)).timestamp() * 1000)
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "receiptHandle": f"rh-{i}",
                "body": e.model_dump_json(),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(sent),
                    "MessageGroupId": e.group,
                    "MessageDeduplicationId": e.dedup_id,
                    "SequenceNumber": str(i),
                },
                "messageAttributes": {},
                "md5OfBody": "-",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:intake.fifo",
                "awsRegion": "eu-west-1",
            }
            for i, e in enumerate(envelopes)
        ]
    }


def worker(jobs: dict[str, Job], sqs: FakeSqs) -> IntakeWorker:
    return IntakeWorker(
        jobs=jobs,
        sqs=lambda: sqs,
        queue_url=QUEUE,
        dlq_url=DLQ,
        backoff=Backoff(),
        now=lambda: NOW,
        rng=random.Random(1),
    )


def failing(error: Exception) -> Job:
    def job(envelope: Envelope, context: Any) -> dict[str, Any]:
        raise error

    return job


@pytest.mark.parametrize(
    "error",
    [
        RetryableError("GitOps unavailable"),
        RetryLaterError("delivery d-1 is being processed"),
        RuntimeError("a bug: retried too, until a fixed deployment picks it up"),
    ],
    ids=["retryable", "in-progress", "unexpected"],
)
def test_a_retryable_failure_is_delayed_with_backoff_and_reported_failed(
    error: Exception, lambda_context: Any
) -> None:
    sqs = FakeSqs()
    answer = worker({"mlflow": failing(error)}, sqs).handle_batch(batch(envelope()), lambda_context)

    assert answer["batchItemFailures"] == [{"itemIdentifier": "m-0"}]  # it comes back
    assert [d["ReceiptHandle"] for d in sqs.delayed] == ["rh-0"]
    assert 15 <= sqs.delayed[0]["VisibilityTimeout"] <= 30  # attempt 1: half to all of the 30 s base
    assert sqs.sent == []  # not dead-lettered
    assert is_retryable(error)


def test_a_rejected_failure_goes_to_the_dlq_at_once_with_its_reason(lambda_context: Any) -> None:
    sqs = FakeSqs()
    e = envelope()
    rejected = RejectedError("version 'abc' can never be promoted")

    answer = worker({"mlflow": failing(rejected)}, sqs).handle_batch(batch(e), lambda_context)

    assert answer["batchItemFailures"] == []  # done with: deleted from the intake queue
    assert sqs.delayed == []  # never retried
    assert not is_retryable(rejected)
    [dead] = sqs.sent
    assert dead["QueueUrl"] == DLQ and dead["MessageBody"] == e.model_dump_json()  # nothing lost
    assert dead["MessageGroupId"] == e.group
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert reason == "rejected: RejectedError: version 'abc' can never be promoted"


def test_a_rejected_message_does_not_hold_up_its_group(lambda_context: Any) -> None:
    sqs = FakeSqs()
    done: list[str] = []

    def job(env: Envelope, context: Any) -> dict[str, Any]:
        if env.delivery_id == "bad":
            raise RejectedError("malformed")
        done.append(env.delivery_id)
        return {"status": "acted"}

    w = worker({"mlflow": job}, sqs)
    answer = w.handle_batch(batch(envelope(delivery_id="bad"), envelope(delivery_id="next")), lambda_context)

    assert answer["batchItemFailures"] == [] and done == ["next"] and len(sqs.sent) == 1


# ----------------------------------------------------------------- malformed events, at the worker's edge
def test_a_queued_body_that_is_no_mlflow_event_is_rejected_with_a_clear_reason(lambda_context: Any) -> None:
    sqs = FakeSqs()
    seen: list[MlflowEvent] = []

    def process(event: MlflowEvent, delivery: Delivery) -> dict[str, Any]:
        seen.append(event)
        return {"status": "acted"}

    bad = envelope(raw=mlflow_body(version="abc"))
    answer = worker({"mlflow": mlflow_job(process, None)}, sqs).handle_batch(batch(bad), lambda_context)

    assert answer["batchItemFailures"] == [] and seen == [] and sqs.delayed == []
    [dead] = sqs.sent
    assert dead["MessageBody"] == bad.model_dump_json()  # the delivery, byte for byte: replayable
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert reason.startswith("rejected: MalformedDeliveryError: not an MLflow webhook payload: data.version")


def test_the_mlflow_job_hands_the_service_the_typed_event(lambda_context: Any) -> None:
    sqs = FakeSqs()
    seen: list[tuple[MlflowEvent, Delivery]] = []

    def process(event: MlflowEvent, delivery: Delivery) -> dict[str, Any]:
        seen.append((event, delivery))
        return {"status": "acted"}

    worker({"mlflow": mlflow_job(process, None)}, sqs).handle_batch(batch(envelope()), lambda_context)

    [(event, delivery)] = seen
    assert isinstance(event, MlflowEvent) and event.event_type == "model_version.created"
    assert event.model == "fraud-detection" and event.data.version == "3"
    assert delivery.delivery_id == "d-1" and sqs.sent == []


def test_a_queued_argocd_body_without_a_revision_is_rejected_not_retried(lambda_context: Any) -> None:
    sqs = FakeSqs()
    handled: list[ArgoCDNotification] = []

    def handle(n: ArgoCDNotification) -> dict[str, Any]:
        handled.append(n)
        return {"outcome": "acted"}

    raw = body("on-deployed", application(revision=""))
    bad = envelope("argocd", raw)
    answer = worker({"argocd": argocd_job(handle, None)}, sqs).handle_batch(batch(bad), lambda_context)

    assert answer["batchItemFailures"] == [] and handled == [] and sqs.delayed == []
    [dead] = sqs.sent
    assert dead["MessageBody"] == bad.model_dump_json()
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert "InvalidNotificationError: revision: missing" in reason

    good = envelope("argocd", body("on-deployed", application(revision=REVISION)), "d-2")
    worker({"argocd": argocd_job(handle, None)}, sqs).handle_batch(batch(good), lambda_context)
    assert [n.synced_revision for n in handled] == [REVISION] and isinstance(handled[0], ArgoCDNotification)


def test_without_a_dlq_a_rejected_message_stays_on_the_queue(lambda_context: Any) -> None:
    sqs = FakeSqs()
    w = worker({"mlflow": failing(RejectedError("malformed"))}, sqs)
    w.dlq_url = None

    answer = w.handle_batch(batch(envelope()), lambda_context)

    assert answer["batchItemFailures"] == [{"itemIdentifier": "m-0"}]  # kept: never dropped
