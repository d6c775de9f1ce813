"""CloudWatch alarm state change (EventBridge rule, or an SNS alarm topic) → emergency retraining → Slack.

Thin edge: Powertools logging, tracing and metrics, then :class:`~mlops_glue.services.alarms.AlarmService`
(which reads the event with Powertools' EventBridge, SNS and CloudWatch-alarm data classes).

Both sources invoke the function asynchronously, so an exception means "retry": Lambda retries twice
with backoff, then the event lands in the DLQ (``CloudwatchAlarmDLQ``) for ``mlops-glue`` replay.
That is what happens to a malformed event (kept, never dropped), an Argo server that stays down and a
Slack notice that could not be posted (the training stands; the retry only posts the notice).
Everything else — unknown alarms, INSUFFICIENT_DATA, duplicates, flapping, an exhausted budget — is a
recorded decision and a normal return. Argo calls are cut to the invocation's remaining time
(:mod:`mlops_glue.deadline`): a hanging Argo fails the delivery before the timeout, and the retry submits.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mlops_glue import deadline, runtime
from mlops_glue.services.alarm_events import MalformedAlarmEventError
from mlops_glue.services.alarms import AlarmService, summarize

logger = Logger()
tracer = Tracer()
metrics = Metrics()
runtime.setup_logging(logger)  # the package's logs as this logger's JSON, no secrets


def service() -> AlarmService:
    """The service on the runtime's cached adapters (built on first use, never at import)."""
    a = runtime.compose(
        "alarms", store=runtime.state_store(), submitter=runtime.argo_submitter(), notifier=runtime.notifier()
    )
    svc = AlarmService(runtime.config(), a.store, a.submitter, a.notifier, stage=runtime.settings().stage)
    svc.recorder = runtime.event_recorder()
    return svc


@metrics.log_metrics
@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.settings(runtime.Settings)  # a missing variable fails here, naming it
    try:
        with deadline.within(deadline.Deadline.from_context(context)):  # Argo calls fit the time left
            results = service().handle_event(event)
    except MalformedAlarmEventError as exc:
        logger.error("malformed alarm event: left to the retries and the DLQ", extra={"error": str(exc)})
        metrics.add_metric(name="AlarmEventsMalformed", unit=MetricUnit.Count, value=1)
        raise
    for r in results:
        name = "AlarmDuplicates" if r.duplicate else f"AlarmDecisions{r.decision.outcome.value.title()}"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    return {"results": summarize(results)}
