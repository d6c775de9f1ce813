"""Secrets from Secrets Manager through Powertools, cached, never logged; rotation-aware.

A webhook secret or token that is rotated while our cache still holds the old value would make us
answer 401 to every delivery until the cache expires — and neither MLflow nor Argo CD retries a 4xx.
:func:`candidates` therefore offers, in order: the cached value, a freshly read one (at most one forced
read per ``min_refresh`` seconds per secret, so a flood of bad signatures cannot hammer Secrets
Manager), and the version Secrets Manager labels ``AWSPREVIOUS`` (senders still using the old secret
during a rotation). Every value read is registered with :mod:`mlops_glue.logs`, so no log shows it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from mlops_glue import logs
from mlops_glue.errors import RetryableError


class SecretsError(RetryableError):
    """A secret could not be read (missing, no permission, unreachable): retried (the intake answers 503)."""


class Secrets(Protocol):
    def get(self, name: str, *, fresh: bool = False) -> str:
        """The secret's string value (``fresh``: bypass the cache)."""
        ...

    def previous(self, name: str) -> str | None:
        """The value before the last rotation (``AWSPREVIOUS``), or None when there is none."""
        ...


def candidates(secrets: Secrets, name: str) -> Iterator[str]:
    """The values to try for ``name``: cached, then freshly read, then the previous version.

    Lazy: the fresh read and the previous version are only fetched when the caller asks for them
    (a signature that matches the cached value costs no extra read). Duplicates are skipped.
    """
    seen: set[str] = set()
    fetches: tuple[Callable[[], str | None], ...] = (
        lambda: secrets.get(name),
        lambda: secrets.get(name, fresh=True),
        lambda: secrets.previous(name),
    )
    for fetch in fetches:
        value = fetch()
        if value is not None and value not in seen:
            seen.add(value)
            yield value


def first_match(secrets: Secrets, name: str, check: Callable[[str], bool]) -> bool:
    """Whether ``check`` accepts any of :func:`candidates` (stops at the first that does)."""
    return any(check(value) for value in candidates(secrets, name))


class AwsSecrets:
    """Secrets Manager through Powertools' SecretsProvider (cached for ``max_age`` seconds)."""

    def __init__(self, client: Any | None = None, max_age: int = 300, min_refresh: float = 1.0) -> None:
        self._client = client
        self._max_age = max_age
        self._min_refresh = min_refresh
        self._provider: Any | None = None
        self._refreshed: dict[str, float] = {}
        self._previous: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def _boto(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client

    def get(self, name: str, *, fresh: bool = False) -> str:
        from aws_lambda_powertools.utilities import parameters

        if self._provider is None:
            self._provider = parameters.SecretsProvider(boto3_client=self._boto())
        force = False
        if fresh:
            with self._lock:
                now = time.monotonic()
                if now - self._refreshed.get(name, -1e9) >= self._min_refresh:
                    self._refreshed[name] = now
                    force = True
        try:
            value = self._provider.get(name, max_age=self._max_age, force_fetch=force)
        except Exception as exc:
            # the message names the secret, never its value
            raise SecretsError(f"cannot read secret {name!r}: {type(exc).__name__}") from exc
        text = value.decode() if isinstance(value, bytes) else str(value)
        logs.register_secret(text)
        return text

    def previous(self, name: str) -> str | None:
        with self._lock:
            cached = self._previous.get(name)
        if cached is not None and time.monotonic() - cached[0] < self._max_age:
            return cached[1]
        try:
            resp = self._boto().get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
            value: str | None = resp.get("SecretString")
            if value is None and resp.get("SecretBinary") is not None:
                value = bytes(resp["SecretBinary"]).decode()
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code != "ResourceNotFoundException":
                raise SecretsError(
                    f"cannot read the previous version of {name!r}: {type(exc).__name__}"
                ) from exc
            value = None  # never rotated: there is no AWSPREVIOUS
        logs.register_secret(value)
        with self._lock:
            self._previous[name] = (time.monotonic(), value)
        return value


class StaticSecrets:
    """Fixed secrets for tests and the local demo; :meth:`rotate` keeps the old value as the previous."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = dict(values)
        self._previous: dict[str, str] = {}
        for value in values.values():
            logs.register_secret(value)

    def get(self, name: str, *, fresh: bool = False) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise SecretsError(f"cannot read secret {name!r}: not found") from None

    def previous(self, name: str) -> str | None:
        return self._previous.get(name)

    def rotate(self, name: str, value: str) -> None:
        if name in self._values:
            self._previous[name] = self._values[name]
        self._values[name] = value
        logs.register_secret(value)
