"""MLflow model-registry webhook (Lambda Function URL): verify → validate → enqueue → 202.

Only the edge: Powertools decorators and one call into :class:`mlops_glue.intake.MlflowIntake`, which
checks the signature (rotation-aware), validates the payload and puts the delivery on the intake queue.
The gate and the GitOps bump happen in ``functions/webhook_worker`` with retries over hours, so an
outage of GitHub, MLflow or DynamoDB never loses a delivery. Nothing is built at import time; MLflow
is never imported here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from mlops_glue import runtime
from mlops_glue.intake import MlflowIntake

logger = Logger()
tracer = Tracer()
metrics = Metrics()
runtime.setup_logging(logger)


@lru_cache(maxsize=1)
def endpoint() -> MlflowIntake:
    return MlflowIntake(
        runtime.secrets,
        lambda: runtime.config().mlflow.webhook_secret,
        runtime.intake_queue,
        window=lambda: runtime.config().mlflow.replay_window,
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = endpoint().handle(event if isinstance(event, dict) else {}, context)
    metrics.add_metric(name=f"MlflowWebhook{response['statusCode']}", unit=MetricUnit.Count, value=1)
    return response
