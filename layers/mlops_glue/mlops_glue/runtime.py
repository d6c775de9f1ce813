"""The Lambda runtime's settings and cached adapter factories (built lazily, once per environment).

Logic never reads ``os.environ``: handlers call :func:`settings` and the factories here, and tests pass
adapters in directly.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from mlops_glue.adapters.secrets import Secrets
    from mlops_glue.adapters.slack import Notifier
    from mlops_glue.adapters.state import StateStore
    from mlops_glue.config import GlueConfig


class Settings(BaseModel):
    """The environment variables ``template.yaml`` sets, checked once."""

    model_config = ConfigDict(frozen=True)

    stage: str = "dev"
    state_table: str = "mlops-glue-state-dev"
    config_source: str = "ssm:/mlops-glue/dev/config"
    data_bucket: str | None = None
    reports_prefix: str = "mlops-glue/reports/"
    manifests_prefix: str = "mlops-glue/manifests/"
    aws_endpoint_url: str | None = None


@lru_cache(maxsize=1)
def settings() -> Settings:
    env = {k.lower(): v for k, v in os.environ.items() if k.lower() in Settings.model_fields}
    return Settings.model_validate(env)


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


def reset() -> None:
    """Forget every cached setting and adapter (tests, and the demo between scenarios)."""
    for fn in (settings, config, state_store, secrets, notifier):
        fn.cache_clear()
