"""S3 new data (EventBridge -> SQS) and the scheduled sweep: the edge of the data-arrival flow.

``handler`` is the one entry point of the container image: SQS batches go through Powertools'
BatchProcessor (a failed record is reported back and retried, then lands in the DLQ; the others are
deleted), and the EventBridge Scheduler's sweep event re-evaluates aging and deferred windows.

Both run within the invocation's remaining time (:mod:`mlops_glue.deadline`): a record that can no
longer be finished is handed back in ``batchItemFailures`` before the timeout, never cut off mid-way.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from mlops_glue import deadline, runtime

logger = Logger()
tracer = Tracer()
runtime.setup_logging(logger)  # the package's logs as this logger's JSON, no secrets
# every record failing (Argo down, no time left) is still a partial response: each is retried on its own
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
MESSAGE_NEED_S = 15.0  # invocation seconds one message may need (count a file, write, submit)

SWEEP_SOURCE = "mlops-glue.sweep"


@tracer.capture_method
def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    """One SQS message: its objects into their windows, then the pending submissions of those models."""
    deadline.current().check(MESSAGE_NEED_S, f"message {record.message_id}")
    receive_count = int(record.attributes.approximate_receive_count or 1)
    results = runtime.data_arrival().handle_message(
        record.body, message_id=record.message_id, receive_count=receive_count
    )
    out = [r.to_dict() for r in results]
    logger.info("message handled", extra={"message_id": record.message_id, "results": out})
    return out


def sweep_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Re-evaluate every model's window, submit what is pending, resend failed notices."""
    report = runtime.data_arrival().sweep()
    logger.info("sweep done", extra={"report": report.__dict__})
    if report.failed:
        # raise: the async invocation is retried, then sent to the on-failure destination
        raise RuntimeError("sweep could not submit: " + "; ".join(report.failed))
    return dict(report.__dict__)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.settings(runtime.DataArrivalSettings)  # a missing variable fails here, naming it
    with deadline.within(deadline.Deadline.from_context(context)):
        if event.get("source") == SWEEP_SOURCE:
            return sweep_handler(event, context)
        response: dict[str, Any] = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return response
