"""The worker's pieces: the backoff schedule, a poison message, the replay command for the intake."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from intake_support import SqsClock, intake
from mlops_glue.cli import main
from mlops_glue.cli.ops import intake_queue_names
from mlops_glue.worker import MAX_VISIBILITY, Backoff


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    b = Backoff(base=timedelta(seconds=30), cap=timedelta(minutes=30), max_age=timedelta(hours=12))
    rng = random.Random(7)
    for attempt, ceiling in [(1, 30), (2, 60), (3, 120), (4, 240), (7, 1800), (40, 1800)]:
        delays = [b.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= ceiling // 2 and max(delays) <= ceiling  # between half and all of it
        assert len(set(delays)) > 5  # jittered: a burst does not retry in lockstep
    huge = Backoff(base=timedelta(hours=20), cap=timedelta(days=2))
    assert huge.delay(3) <= MAX_VISIBILITY  # never beyond SQS's 12 hours


def test_a_message_that_is_no_envelope_goes_to_the_dlq_at_once(
    stack: dict[str, str], aws: Any, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    SqsClock(monkeypatch)
    it = intake(stack, aws, monkeypatch, lambda_context)
    it.sqs.send_message(
        QueueUrl=it.queue_url, MessageBody="{not an envelope", MessageGroupId="g", MessageDeduplicationId="x1"
    )
    assert it.drain() == 0  # not retried: it could never succeed
    assert it.depth() == 0 and it.depth(it.dlq_url) == 1
    dead = it.sqs.receive_message(QueueUrl=it.dlq_url, MessageAttributeNames=["All"])["Messages"][0]
    assert dead["Body"] == "{not an envelope"
    assert "not an intake envelope" in dead["MessageAttributes"]["reason"]["StringValue"]


def test_dlq_replay_intake_finds_the_queues_of_the_stage(
    stack: dict[str, str], aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    dlq, queue = stack["WebhookIntakeDLQ"], stack["WebhookIntakeQueue"]
    assert (dlq.rsplit("/", 1)[1], queue.rsplit("/", 1)[1]) == intake_queue_names("dev")
    sqs = aws.client("sqs")
    sqs.send_message(
        QueueUrl=dlq, MessageBody='{"v": 1}', MessageGroupId="mlflow:m", MessageDeduplicationId="a"
    )

    assert main(["dlq", "replay", "--intake", "--stage", "dev", "--dry-run"]) == 0
    assert "would replay 1 message(s)" in capsys.readouterr().out
    assert main(["dlq", "replay", "--intake", "--stage", "dev"]) == 0
    assert "replayed 1 message(s)" in capsys.readouterr().out

    got = sqs.receive_message(QueueUrl=queue, AttributeNames=["MessageGroupId"])["Messages"]
    assert [m["Body"] for m in got] == ['{"v": 1}'] and got[0]["Attributes"]["MessageGroupId"] == "mlflow:m"
    assert main(["dlq", "replay"]) == 2  # neither URLs nor --intake: a one-line reason, exit 2
    assert "--intake" in capsys.readouterr().err


def test_a_queued_body_that_is_no_event_goes_to_the_dlq_at_once_unchanged(
    stack: dict[str, str], aws: Any, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    from datetime import UTC, datetime

    from mlops_glue.intake import Envelope

    SqsClock(monkeypatch)
    it = intake(stack, aws, monkeypatch, lambda_context)
    envelope = Envelope(
        source="mlflow",
        delivery_id="dlv-1",
        group="mlflow:fraud-detection",
        dedup_id="x2",
        received_at=datetime.now(UTC),
        timestamp=0,
        body='{"entity": "model_version", "action": "created"}',  # replayed by hand, say: no data
    )
    it.sqs.send_message(
        QueueUrl=it.queue_url,
        MessageBody=envelope.model_dump_json(),
        MessageGroupId=envelope.group,
        MessageDeduplicationId=envelope.dedup_id,
    )

    assert it.drain() == 0  # a RejectedError: not retried, it could never succeed
    assert it.depth() == 0 and it.depth(it.dlq_url) == 1
    dead = it.sqs.receive_message(QueueUrl=it.dlq_url, MessageAttributeNames=["All"])["Messages"][0]
    assert dead["Body"] == envelope.model_dump_json()  # nothing lost: replayable as it was
    reason = dead["MessageAttributes"]["reason"]["StringValue"]
    assert reason.startswith("rejected: MalformedDeliveryError: not an MLflow webhook payload:")
    assert "timestamp: Field required" in reason and "data: Field required" in reason
