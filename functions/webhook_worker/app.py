"""The webhook intake worker (SQS FIFO → promotion or deployment feedback), retried over hours.

Thin edge: Powertools decorators and :class:`mlops_glue.worker.IntakeWorker` (FIFO partial batch
response, backoff with jitter, the DLQ after ``INTAKE_MAX_AGE``). Each queued body is parsed once into
its typed event (:mod:`mlops_glue.events`): MLflow deliveries go to the promotion service, Argo CD
notifications to the feedback service, each de-duplicated with Powertools idempotency on the state
table. A RetryableError is retried with backoff, a RejectedError (a malformed body) goes to the DLQ at
once with its reason. Adapters come from ``mlops_glue.runtime`` on first use (MLflow is imported only on
the gating path).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mlops_glue import runtime
from mlops_glue.adapters.state import idempotency_layer
from mlops_glue.events import ArgoCDNotification, MlflowEvent
from mlops_glue.intake import Envelope
from mlops_glue.webhooks import Delivery
from mlops_glue.worker import IntakeWorker, argocd_job, mlflow_job

logger = Logger()
tracer = Tracer()
metrics = Metrics()
runtime.setup_logging(logger)


def _promote(event: MlflowEvent, delivery: Delivery) -> dict[str, Any]:
    from mlops_glue.services.promotion import build_promotion_service

    a = _adapters("promotion")
    service = build_promotion_service(runtime.config(), a.store, a.repo, a.registry, a.notifier)
    service.recorder = runtime.event_recorder()
    return service.process(event, delivery)


def _feedback(notification: ArgoCDNotification) -> dict[str, Any]:
    from mlops_glue.services.feedback import build_feedback_service

    a = _adapters("feedback")
    service = build_feedback_service(runtime.config(), a.store, a.repo, a.registry, a.notifier)
    service.recorder = runtime.event_recorder()
    return service.handle(notification).body()


def _adapters(flow: str) -> Any:
    """The flow's adapters, with shadow mode applied to the models that have it."""
    return runtime.compose(
        flow,
        store=runtime.state_store(),
        repo=runtime.gitops_repo(),
        registry=runtime.registry(),
        notifier=runtime.notifier(),
    )


def _count(envelope: Envelope, result: dict[str, Any]) -> None:
    outcome = str(result.get("outcome") or result.get("status") or "unknown")
    metrics.add_metric(name=f"Intake_{envelope.source}_{outcome}", unit=MetricUnit.Count, value=1)


def _dead_lettered(envelope: Envelope | None, reason: str) -> None:
    """Never silent: a delivery given up on is said in Slack, with the command that replays it."""
    from mlops_glue.adapters.slack import Message, escape

    what = (
        f"{envelope.source} delivery `{escape(envelope.delivery_id[:64])}` ({escape(envelope.group)})"
        if envelope
        else "a message"
    )
    stage = runtime.settings().stage
    text = (
        f":warning: {what} moved to the intake dead-letter queue: {escape(reason[:300])}\n"
        f"Replay it once the cause is fixed: `mlops-glue dlq replay --intake --stage {stage}`"
    )
    posted = runtime.notifier().post(
        Message(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
    )
    if not posted.ok:
        logger.warning("dead-letter notice not posted", extra={"error": posted.error})
    metrics.add_metric(name="IntakeDeadLettered", unit=MetricUnit.Count, value=1)


@lru_cache(maxsize=1)
def worker() -> IntakeWorker:
    s = runtime.settings()
    if not s.intake_queue_url:
        raise RuntimeError("INTAKE_QUEUE_URL is not set: the worker delays its retries on that queue")
    return IntakeWorker(
        jobs={
            "mlflow": mlflow_job(
                _promote, idempotency_layer(s.state_table, static_pk="idempotency#mlflow-delivery")
            ),
            "argocd": argocd_job(
                _feedback, idempotency_layer(s.state_table, static_pk="idempotency#argocd-notification")
            ),
        },
        sqs=runtime.sqs_client,
        queue_url=s.intake_queue_url,
        dlq_url=s.intake_dlq_url,
        backoff=runtime.intake_backoff(),
        observe=_count,
        on_dead_letter=_dead_lettered,
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.settings(runtime.IntakeSettings)  # a missing variable fails here, naming it
    return worker().handle_batch(event, context)
