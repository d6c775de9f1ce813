"""Argo CD notification (Lambda Function URL): method, content type, shared token → enqueue → 202.

Thin edge: :class:`mlops_glue.intake.ArgocdIntake` checks the method (405), the content type (415), the
shared-secret header in constant time against the cached, a freshly read and the previous token (401),
and the body our ``argocd-notifications-cm`` template renders (400), then puts the notification on the
intake queue in its application's message group (503 when the queue is unavailable: Argo CD retries
5xx). The feedback itself — Slack, rollback, promotion — runs in ``functions/webhook_worker``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mlops_glue import runtime
from mlops_glue.intake import ArgocdIntake

logger = Logger()
tracer = Tracer()
metrics = Metrics()
runtime.setup_logging(logger)


def _settings() -> tuple[str | None, str]:
    cfg = runtime.config().argocd
    return cfg.secret, cfg.header


@lru_cache(maxsize=1)
def endpoint() -> ArgocdIntake:
    return ArgocdIntake(runtime.secrets, _settings, runtime.intake_queue)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = endpoint().handle(event if isinstance(event, dict) else {}, context)
    metrics.add_metric(name=f"ArgocdNotification{response['statusCode']}", unit=MetricUnit.Count, value=1)
    return response
