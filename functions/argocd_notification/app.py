"""Argo CD notification (Function URL) → deployment feedback: Slack, rollback, promotion.

Thin edge: check the method, content type and shared secret (constant time), parse the body our
``argocd-notifications-cm`` template renders, deduplicate on application + revision + trigger
(Powertools idempotency on the state table: Argo CD's ``oncePer`` is known to repeat), and hand the
notification to :class:`~mlops_glue.services.feedback.FeedbackService`.

Answers (Argo CD's webhook client retries 5xx and 429, never 4xx):

* 200 — handled (or a repeat: ``"duplicate": true``); the body is the decision: outcome, reasons, action.
  Unknown applications and revisions not in the GitOps repository are 200 with outcome ``ignored``.
* 400 — the body is not our template's JSON (the reason says which field); 401 — wrong or missing secret;
  405 — not POST; 415 — not ``application/json``.
* 503 — a transient failure (Git, state store, secret) or the same notification in flight: retried by
  Argo CD; the failed decision, with the notification in its evidence, stays in the state store.
* 500 — misconfiguration (no shared secret configured, unreadable configuration).
"""

from __future__ import annotations

import hmac
import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent, event_source
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from mlops_glue import runtime
from mlops_glue.adapters.secrets import SecretsError
from mlops_glue.adapters.state import idempotency_layer
from mlops_glue.config import ConfigError
from mlops_glue.decisions.feedback import ArgoCDNotification, InvalidNotificationError, parse_notification
from mlops_glue.services.feedback import (
    FeedbackActionError,
    FeedbackInProgressError,
    build_feedback_service,
)

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# the dedup identity: application (namespace + name), revision and trigger
DEDUP_KEY = "[namespace, app, revision, syncRevision, trigger]"


def _answer(status: int, body: dict[str, Any], retry_after: int | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return {"statusCode": status, "headers": headers, "body": json.dumps(body, default=str)}


@lru_cache(maxsize=4)
def _persistence(table: str) -> DynamoDBPersistenceLayer:
    """Idempotency records live in the state table (``pk = idempotency#argocd-notification``)."""
    layer: DynamoDBPersistenceLayer = idempotency_layer(table, static_pk="idempotency#argocd-notification")
    return layer


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    """Powertools calls this on a replayed result only: say it was a repeat."""
    if isinstance(response, dict):
        response = {**response, "duplicate": True}
    return response


def _process(notification: dict[str, Any]) -> dict[str, Any]:
    n = ArgoCDNotification.model_validate(notification)
    service = build_feedback_service(
        runtime.config(),
        runtime.state_store(),
        runtime.gitops_repo(),
        runtime.registry(),
        runtime.notifier(),
    )
    return service.handle(n).body()


def _authorised(event: LambdaFunctionUrlEvent) -> bool | None:
    """True/False for the shared-secret header; None when no secret is configured."""
    cfg = runtime.config().argocd
    if not cfg.secret:
        return None
    expected = runtime.secrets().get(cfg.secret)
    given = event.headers.get(cfg.header) or ""
    return hmac.compare_digest(given.encode(), expected.encode())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=LambdaFunctionUrlEvent)
def handler(event: LambdaFunctionUrlEvent, context: LambdaContext) -> dict[str, Any]:
    method = (event.request_context.http.method or "").upper()
    if method != "POST":
        return _answer(405, {"error": f"method {method or '?'} not allowed: use POST"})
    ctype = (event.headers.get("content-type") or "").lower()
    if not ctype.startswith("application/json"):
        return _answer(415, {"error": f"content type {ctype or 'missing'!r}: send application/json"})
    try:
        ok = _authorised(event)
    except ConfigError as exc:
        logger.error("configuration unreadable", extra={"error": str(exc)})
        return _answer(500, {"error": "configuration unreadable"})
    except SecretsError as exc:
        logger.warning("shared secret unreadable", extra={"error": str(exc)})
        return _answer(503, {"error": "shared secret unavailable, retry"}, retry_after=30)
    if ok is None:
        logger.error("argocd.secret is not configured: refusing every notification")
        return _answer(500, {"error": "no shared secret configured"})
    if not ok:
        metrics.add_metric(name="ArgocdUnauthorised", unit=MetricUnit.Count, value=1)
        return _answer(401, {"error": "wrong or missing shared secret"})

    try:
        n = parse_notification(event.decoded_body)
    except InvalidNotificationError as exc:
        logger.warning("invalid Argo CD notification", extra={"reason": str(exc)})
        return _answer(400, {"error": f"invalid notification: {exc}"})
    logger.append_keys(argocd_app=n.app_id, revision=n.synced_revision, trigger=n.trigger)

    config = IdempotencyConfig(event_key_jmespath=DEDUP_KEY, response_hook=_mark_duplicate)
    config.register_lambda_context(context)
    process = idempotent_function(
        _process,
        data_keyword_argument="notification",
        persistence_store=_persistence(runtime.settings().state_table),
        config=config,
    )
    try:
        body = process(notification=n.model_dump(mode="json", by_alias=True))
    except (IdempotencyAlreadyInProgressError, FeedbackInProgressError):
        return _answer(503, {"error": "the same notification is being handled, retry"}, retry_after=5)
    except (FeedbackActionError, SecretsError, IdempotencyPersistenceLayerError) as exc:
        logger.error("feedback failed", extra={"error": str(exc)[:500]})
        metrics.add_metric(name="ArgocdFeedbackFailed", unit=MetricUnit.Count, value=1)
        return _answer(503, {"error": str(exc)[:500]}, retry_after=30)
    metrics.add_metric(
        name=f"ArgocdFeedback_{body.get('outcome', 'unknown')}", unit=MetricUnit.Count, value=1
    )
    return _answer(200, body)
