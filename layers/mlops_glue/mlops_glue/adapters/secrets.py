"""Secrets from Secrets Manager (and plain parameters from SSM) through Powertools, cached, never logged."""

from __future__ import annotations

from typing import Any, Protocol


class SecretsError(Exception):
    """A secret could not be read (missing, no permission, unreachable)."""


class Secrets(Protocol):
    def get(self, name: str) -> str:
        """The secret's string value."""
        ...


class AwsSecrets:
    """Secrets Manager through Powertools' SecretsProvider (cached for ``max_age`` seconds)."""

    def __init__(self, client: Any | None = None, max_age: int = 300) -> None:
        self._client = client
        self._max_age = max_age
        self._provider: Any | None = None

    def get(self, name: str) -> str:
        from aws_lambda_powertools.utilities import parameters

        if self._provider is None:
            self._provider = parameters.SecretsProvider(boto3_client=self._client)
        try:
            value = self._provider.get(name, max_age=self._max_age)
        except Exception as exc:
            # the message names the secret, never its value
            raise SecretsError(f"cannot read secret {name!r}: {type(exc).__name__}") from exc
        if isinstance(value, bytes):
            return value.decode()
        return str(value)


class StaticSecrets:
    """Fixed secrets for tests and the local demo."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = dict(values)

    def get(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise SecretsError(f"cannot read secret {name!r}: not found") from None
