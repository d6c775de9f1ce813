"""The Lambda runtime's settings and cached adapter factories (built lazily, once per environment).

Logic never reads ``os.environ``: handlers call :func:`settings` and the factories here, and tests pass
adapters in directly.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from mlops_glue.adapters.argo import ArgoRestSubmitter
    from mlops_glue.adapters.gitops import GitOpsRepo
    from mlops_glue.adapters.registry import ModelRegistry
    from mlops_glue.adapters.secrets import Secrets
    from mlops_glue.adapters.slack import Notifier
    from mlops_glue.adapters.state import StateStore
    from mlops_glue.config import GlueConfig
    from mlops_glue.intake import IntakeQueue
    from mlops_glue.replay.recorder import EventRecorder
    from mlops_glue.services.data_arrival import DataArrival
    from mlops_glue.shadow import Adapters
    from mlops_glue.worker import Backoff


class SettingsError(RuntimeError):
    """A function's environment lacks a variable it needs (or holds an invalid one): the message names it."""


class Settings(BaseModel):
    """The environment every function has (``template.yaml``'s ``Globals``), checked once.

    ``STATE_TABLE`` is required: a function (or the CLI) without it fails naming it, instead of
    quietly reading and writing another stage's table.
    """

    model_config = ConfigDict(frozen=True)

    stage: str = "dev"
    state_table: str
    config_source: str = "ssm:/mlops-glue/dev/config"
    data_bucket: str | None = None
    powertools_service_name: str = "mlops-glue"
    powertools_metrics_namespace: str = "MLOpsGlue"
    aws_endpoint_url: str | None = None
    # the webhook intake (template.yaml: WebhookIntakeQueue / WebhookIntakeDLQ and the worker's retries)
    intake_queue_url: str | None = None
    intake_dlq_url: str | None = None
    intake_retry_base: str = "30s"
    intake_retry_cap: str = "30m"
    intake_max_age: str = "12h"
    # the MLflow client's HTTP retries and timeout (template.yaml: fit within the function's timeout)
    mlflow_http_request_max_retries: int = 2
    mlflow_http_request_timeout: float = 10.0


class DataArrivalSettings(Settings):
    """``s3_new_data``: ``DATA_BUCKET`` (where windows, manifests and reports are written) is required."""

    data_bucket: str
    reports_prefix: str = "mlops-glue/reports/"
    manifests_prefix: str = "mlops-glue/manifests/"
    windows_prefix: str = "mlops-glue/windows/"
    aws_lambda_function_memory_size: int = 10_240  # Lambda's own variable: sizes what one invocation counts


class IntakeSettings(Settings):
    """The webhook functions and the worker: ``INTAKE_QUEUE_URL`` (the intake FIFO queue) is required."""

    intake_queue_url: str


S = TypeVar("S", bound=Settings)


@lru_cache(maxsize=4)
def settings(kind: type[S] = Settings) -> S:  # type: ignore[assignment]  # the default is a Settings
    """The function's settings of ``kind`` from the environment; SettingsError names what is missing."""
    env = {k.lower(): v for k, v in os.environ.items() if k.lower() in kind.model_fields}
    try:
        return kind.model_validate(env)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']).upper()} is not set"
            if e["type"] == "missing"
            else f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        ]
        raise SettingsError(f"{kind.__name__}: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def config() -> GlueConfig:
    from mlops_glue.config import load_config

    return load_config(settings().config_source)


@lru_cache(maxsize=1)
def state_store() -> StateStore:
    from mlops_glue.adapters.state import DynamoStateStore

    return DynamoStateStore(settings().state_table)


@lru_cache(maxsize=1)
def secrets() -> Secrets:
    from mlops_glue.adapters.secrets import AwsSecrets

    return AwsSecrets()


@lru_cache(maxsize=1)
def notifier() -> Notifier:
    """Slack from the configured secret: a bot token (``xoxb-``) enables threads, else a webhook URL."""
    from mlops_glue.adapters.slack import SlackNotifier

    cfg = config().slack
    if cfg.bot_token_secret:
        return SlackNotifier(
            bot_token=secrets().get(cfg.bot_token_secret), default_channel=cfg.default_channel
        )
    if cfg.webhook_secret:
        return SlackNotifier(
            webhook_url=secrets().get(cfg.webhook_secret), default_channel=cfg.default_channel
        )
    from mlops_glue.adapters.slack import MemoryNotifier

    return MemoryNotifier()


@lru_cache(maxsize=1)
def gitops_repo() -> GitOpsRepo:
    """The GitOps repository of ``config().gitops`` (GitHub or plain git), token from Secrets Manager."""
    from mlops_glue.adapters.gitops_factory import gitops_repo_from_config

    return gitops_repo_from_config(config(), secrets())


@lru_cache(maxsize=1)
def registry() -> ModelRegistry:
    """The MLflow registry of ``config().mlflow``, through MLflow's REST API (``MlflowRestRegistry``)."""
    from mlops_glue.adapters.registry import MlflowRestRegistry

    cfg, s = config().mlflow, settings()
    return MlflowRestRegistry(
        cfg.tracking_uri,
        cfg.ui_url,
        max_retries=s.mlflow_http_request_max_retries,
        timeout=s.mlflow_http_request_timeout,
    )


@lru_cache(maxsize=1)
def argo_submitter() -> ArgoRestSubmitter:
    """The Argo server's REST API of ``config().argo``; the bearer token is read from Secrets Manager."""
    from mlops_glue.adapters.argo import ArgoRestSubmitter

    cfg = config().argo
    return ArgoRestSubmitter(
        cfg.server,
        token_secret=cfg.token_secret,
        secrets=secrets(),
        ui_url=cfg.ui_url,
        verify_tls=cfg.verify_tls,
        timeout=cfg.timeout_seconds,
    )


@lru_cache(maxsize=1)
def event_recorder() -> EventRecorder:
    """What replay needs of each event, into the state table with ``config().replay.ttl`` (or nothing)."""
    from mlops_glue.adapters.state import DynamoStateStore
    from mlops_glue.replay.recorder import (
        NULL_RECORDER,
        DynamoEventLog,
        EventLog,
        LogRecorder,
        MemoryEventLog,
    )

    cfg = config().replay
    if not cfg.record:
        return NULL_RECORDER
    store = state_store()
    # next to the state, in the same table; an in-memory store (local runs) keeps them in memory too
    log: EventLog = (
        DynamoEventLog(store.table_name, store.client)
        if isinstance(store, DynamoStateStore)
        else MemoryEventLog()
    )
    return LogRecorder(log, ttl=cfg.ttl)


def compose(flow: str, **adapters: object) -> Adapters:
    """A flow's adapters with shadow mode applied (``models.<m>.shadow``): the composition point."""
    from mlops_glue.shadow import wrap

    return wrap(config(), flow, **adapters)  # type: ignore[arg-type]


def setup_logging(logger: object | None = None) -> None:
    """Route the package's logs through the handler's Powertools logger; keep secrets out of every log."""
    from mlops_glue import logs

    logs.setup(logger)


@lru_cache(maxsize=1)
def intake_queue() -> IntakeQueue:
    """The webhook intake FIFO queue (``INTAKE_QUEUE_URL``)."""
    import boto3

    from mlops_glue.intake import SqsIntakeQueue

    s = settings(IntakeSettings)
    return SqsIntakeQueue(s.intake_queue_url, boto3.client("sqs", endpoint_url=s.aws_endpoint_url))


@lru_cache(maxsize=1)
def sqs_client() -> object:
    import boto3

    return boto3.client("sqs", endpoint_url=settings().aws_endpoint_url)


def intake_backoff() -> Backoff:
    """The worker's retry schedule from ``INTAKE_RETRY_BASE``, ``INTAKE_RETRY_CAP``, ``INTAKE_MAX_AGE``."""
    from mlops_glue.config import parse_duration
    from mlops_glue.worker import Backoff

    s = settings()
    return Backoff(
        base=parse_duration(s.intake_retry_base),
        cap=parse_duration(s.intake_retry_cap),
        max_age=parse_duration(s.intake_max_age),
    )


@lru_cache(maxsize=1)
def data_arrival() -> DataArrival:
    """The data-arrival service (S3 function): DynamoDB state and object memberships, S3, Argo, Slack."""
    import boto3

    from mlops_glue.adapters.s3 import S3ObjectStore
    from mlops_glue.services.arrival_metrics import EmfMetrics
    from mlops_glue.services.data_arrival import DataArrival, Workspace

    s = settings(DataArrivalSettings)
    from botocore.config import Config

    # bounded calls: a hung S3 endpoint fails in seconds (and is retried), not after botocore's 60 s
    s3 = boto3.client(
        "s3",
        endpoint_url=s.aws_endpoint_url,
        config=Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "max_attempts": 4}),
    )
    a = compose("data_arrival", store=state_store(), submitter=argo_submitter(), notifier=notifier())
    service = DataArrival(
        config(),
        store=a.store,
        objects=S3ObjectStore(s3),
        submitter=a.submitter,
        notifier=a.notifier,
        workspace=Workspace(s.data_bucket, s.windows_prefix, s.manifests_prefix, s.reports_prefix),
        metrics=EmfMetrics(s.powertools_metrics_namespace, s.powertools_service_name),
        s3_client=s3,
        memory_mb=s.aws_lambda_function_memory_size,
        # no Powertools idempotency here: each object's membership item (written with the window) is
        # the one exactly-once claim, and an in-progress record left by a crash would block redelivery
    )
    service.recorder = event_recorder()
    return service


def reset() -> None:
    """Forget every cached setting and adapter (tests, and the demo between scenarios)."""
    for fn in (
        settings,
        config,
        state_store,
        secrets,
        notifier,
        gitops_repo,
        registry,
        argo_submitter,
        data_arrival,
        event_recorder,
        intake_queue,
        sqs_client,
    ):
        fn.cache_clear()
