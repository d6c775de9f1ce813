"""Slack notices through slack_sdk: an incoming webhook, or a bot token when configured.

A notice never blocks or undoes the action it reports: rate limits (429 + Retry-After) and connection
errors are retried by slack_sdk's retry handlers, and a final failure is returned, logged and kept by the
caller for a later retry — never raised.

Every string that comes from outside (Argo CD sync messages, CloudWatch reasons, MLflow descriptions,
names) goes through :func:`escape` before it lands in mrkdwn, so ``<!channel>`` or a ``<url|label>``
link in a sync message arrives as text. slack_sdk's clients log through a logger of ours that is pinned
at WARNING and redacted (:func:`mlops_glue.logs.library_logger`): slack_sdk prints the incoming-webhook
URL — a secret — when it retries or meets a 429.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlops_glue import logs
from mlops_glue.errors import RetryableError

logger = logging.getLogger(__name__)


class SlackError(RetryableError):
    """A post or edit failed (refused, rate limited, unreachable): returned in ``Posted.error``, never raised."""

    @classmethod
    def of(cls, exc: Exception) -> SlackError:
        """The library's ``exc`` wrapped once, its text redacted (slack_sdk may print the webhook URL)."""
        return cls(f"{type(exc).__name__}: {logs.redact(str(exc))[:200]}")


def escape(text: object) -> str:
    """``text`` safe inside Slack mrkdwn: ``&``, ``<`` and ``>`` escaped as Slack asks (nothing else)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    channel: str | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class Posted:
    ok: bool
    ts: str | None = None
    channel: str | None = None
    error: str | None = None


class Notifier(Protocol):
    def post(self, message: Message) -> Posted:
        """Post ``message``; never raises."""
        ...

    @property
    def threads(self) -> bool:
        """Whether replies in a thread are possible (a bot token is configured)."""
        ...


def _retry_handlers(max_retries: int) -> list[Any]:
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
    )
    from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.2)
    return [
        ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=backoff),
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
    ]


class SlackNotifier:
    """Posts Block Kit messages with slack_sdk. Give ``bot_token`` for threads, else ``webhook_url``."""

    def __init__(
        self,
        webhook_url: str | None = None,
        bot_token: str | None = None,
        default_channel: str | None = None,
        base_url: str | None = None,
        max_retries: int = 3,
        timeout: int = 5,
    ) -> None:
        if not webhook_url and not bot_token:
            raise ValueError("SlackNotifier needs a webhook URL or a bot token")
        logs.register_secret(webhook_url)
        logs.register_secret(bot_token)
        self._webhook_url = webhook_url
        self._bot_token = bot_token
        self._default_channel = default_channel
        self._base_url = base_url
        self._max_retries = max_retries
        self._timeout = timeout
        self._client: Any | None = None

    @property
    def threads(self) -> bool:
        return self._bot_token is not None

    def _web(self) -> Any:
        if self._client is None:
            from slack_sdk import WebClient

            kwargs: dict[str, Any] = {"token": self._bot_token, "timeout": self._timeout}
            if self._base_url:
                kwargs["base_url"] = self._base_url.rstrip("/") + "/"
            self._client = WebClient(
                **kwargs,
                retry_handlers=_retry_handlers(self._max_retries),
                logger=logs.library_logger("slack_sdk.web"),
            )
        return self._client

    def _hook(self) -> Any:
        if self._client is None:
            from slack_sdk.webhook import WebhookClient

            self._client = WebhookClient(
                self._webhook_url or "",
                timeout=self._timeout,
                retry_handlers=_retry_handlers(self._max_retries),
                logger=logs.library_logger("slack_sdk.webhook"),
            )
        return self._client

    def post(self, message: Message) -> Posted:
        try:
            if self._bot_token:
                channel = message.channel or self._default_channel
                if not channel:
                    return Posted(False, error="no Slack channel configured for the bot token")
                resp = self._web().chat_postMessage(
                    channel=channel,
                    text=message.text,
                    blocks=message.blocks or None,
                    thread_ts=message.thread_ts,
                )
                return Posted(True, ts=resp.get("ts"), channel=resp.get("channel"))
            hook = self._hook().send(text=message.text, blocks=message.blocks or None)
            if hook.status_code == 200:
                return Posted(True)
            body = logs.redact(str(hook.body or ""))[:200]
            return Posted(False, error=f"Slack webhook answered {hook.status_code}: {body}")
        except Exception as exc:  # a notice never breaks the action it reports
            err = SlackError.of(exc)
            logger.warning("Slack post failed: %s", type(exc).__name__, extra={"error": str(err)})
            return Posted(False, error=str(err))

    def update(self, message: Message, ts: str) -> Posted:
        """Edit the message ``ts`` in ``message.channel`` (``chat.update``; a bot token is needed)."""
        if not self._bot_token or not message.channel:
            return Posted(False, error="editing a message needs a bot token and the message's channel")
        try:
            resp = self._web().chat_update(
                channel=message.channel, ts=ts, text=message.text, blocks=message.blocks or None
            )
            return Posted(True, ts=resp.get("ts"), channel=resp.get("channel"))
        except Exception as exc:  # an edit never breaks the action it reports
            err = SlackError.of(exc)
            logger.warning("Slack edit failed: %s", type(exc).__name__, extra={"error": str(err)})
            return Posted(False, error=str(err))


class MemoryNotifier:
    """Records messages; for unit tests."""

    def __init__(self, threads: bool = True, fail: bool = False) -> None:
        self.messages: list[Message] = []
        self.edits: list[tuple[str, Message]] = []  # (ts, new content)
        self._threads = threads
        self.fail = fail

    @property
    def threads(self) -> bool:
        return self._threads

    def post(self, message: Message) -> Posted:
        if self.fail:
            return Posted(False, error="Slack unavailable (fake)")
        self.messages.append(message)
        return Posted(True, ts=f"{len(self.messages)}.000100", channel=message.channel)

    def update(self, message: Message, ts: str) -> Posted:
        if self.fail or not self._threads:
            return Posted(False, error="Slack unavailable (fake)" if self.fail else "no bot token (fake)")
        self.edits.append((ts, message))
        return Posted(True, ts=ts, channel=message.channel)
