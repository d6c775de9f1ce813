"""MLflow model-registry webhook (Lambda Function URL): verify → de-duplicate → gate / promote → answer.

Only the edge: Powertools decorators, the raw body out of the Function URL event, one call into
:class:`mlops_glue.webhooks.WebhookEndpoint`. Adapters come from ``mlops_glue.runtime`` on first use
(nothing is built at import time; MLflow is imported only on the gating path).
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from mlops_glue import runtime
from mlops_glue.adapters.state import idempotency_layer
from mlops_glue.webhooks import Delivery, WebhookEndpoint, WebhookEvent

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def _secret() -> str:
    name = runtime.config().mlflow.webhook_secret
    if not name:
        raise RuntimeError("mlflow.webhook_secret is not configured: every delivery would be unauthenticated")
    return runtime.secrets().get(name)


def _process(event: WebhookEvent, delivery: Delivery) -> dict[str, Any]:
    from mlops_glue.services.promotion import build_promotion_service

    service = build_promotion_service(
        runtime.config(), runtime.state_store(), runtime.gitops_repo(), runtime.registry(), runtime.notifier()
    )
    return service.process(event, delivery)


@lru_cache(maxsize=1)
def endpoint() -> WebhookEndpoint:
    s = runtime.settings()
    return WebhookEndpoint(
        _secret,
        _process,
        persistence=idempotency_layer(s.state_table),
        window=runtime.config().mlflow.replay_window,
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=LambdaFunctionUrlEvent)
def handler(event: LambdaFunctionUrlEvent, context: LambdaContext) -> dict[str, Any]:
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    response = endpoint().handle(event.headers, body, context)
    metrics.add_metric(name=f"MlflowWebhook{response['statusCode']}", unit=MetricUnit.Count, value=1)
    return response
