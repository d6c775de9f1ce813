"""The model registry (MLflow): versions, their run metrics, aliases and tags.

Interface and in-memory fake. The MLflow implementation (``MlflowRegistry``, mlflow-skinny imported
only inside its methods) lives below them in this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote


class RegistryError(Exception):
    """The model registry could not be read or written."""


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: str
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    source: str | None = None


class ModelRegistry(Protocol):
    def get_version(self, model: str, version: str) -> ModelVersion:
        """One version (RegistryError when missing)."""
        ...

    def version_by_alias(self, model: str, alias: str) -> ModelVersion | None:
        """The version that holds ``alias``, or None."""
        ...

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The latest value of each metric of a run."""
        ...

    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        """Set a tag on a version."""
        ...

    def version_url(self, model: str, version: str) -> str | None:
        """A link to the version in the registry UI."""
        ...


class MemoryRegistry:
    """An in-memory registry for unit tests."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], ModelVersion] = {}
        self.metrics: dict[str, dict[str, float]] = {}
        self.tags: dict[tuple[str, str], dict[str, str]] = {}

    def add(self, mv: ModelVersion, metrics: dict[str, float] | None = None) -> None:
        self.versions[(mv.model, mv.version)] = mv
        self.tags.setdefault((mv.model, mv.version), dict(mv.tags))
        if mv.run_id and metrics is not None:
            self.metrics[mv.run_id] = metrics

    def get_version(self, model: str, version: str) -> ModelVersion:
        try:
            mv = self.versions[(model, version)]
        except KeyError:
            raise RegistryError(f"model {model!r} version {version!r} not found") from None
        return ModelVersion(
            mv.model, mv.version, mv.run_id, dict(self.tags[(model, version)]), mv.aliases, mv.source
        )

    def version_by_alias(self, model: str, alias: str) -> ModelVersion | None:
        for (m, v), mv in self.versions.items():
            if m == model and alias in mv.aliases:
                return self.get_version(m, v)
        return None

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.metrics.get(run_id, {}))

    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        self.get_version(model, version)
        self.tags[(model, version)][key] = value

    def version_url(self, model: str, version: str) -> str | None:
        return f"memory://models/{model}/versions/{version}"


class MlflowRegistry:
    """The MLflow model registry through ``MlflowClient`` (mlflow-skinny, imported on first use only).

    The client is injectable and built lazily; every MLflow error is wrapped in :class:`RegistryError`
    naming the call. The client's own HTTP retries apply (``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` and
    ``MLFLOW_HTTP_REQUEST_TIMEOUT``, set short in ``template.yaml`` to fit the Lambda timeout).
    """

    def __init__(self, tracking_uri: str, ui_url: str | None = None, client: Any | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.ui_url = (ui_url or tracking_uri).rstrip("/")
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    @staticmethod
    def _not_found(exc: Exception) -> bool:
        return getattr(exc, "error_code", "") in (
            "RESOURCE_DOES_NOT_EXIST",
            "NOT_FOUND",
            "INVALID_PARAMETER_VALUE",
        )

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:
            raise RegistryError(f"MLflow {what} failed: {type(exc).__name__}: {str(exc)[:300]}") from exc

    def _to_version(self, mv: Any) -> ModelVersion:
        return ModelVersion(
            model=mv.name,
            version=str(mv.version),
            run_id=mv.run_id or None,
            tags=dict(mv.tags or {}),
            aliases=tuple(getattr(mv, "aliases", None) or ()),
            source=mv.source,
        )

    def get_version(self, model: str, version: str) -> ModelVersion:
        mv = self._call(
            f"get_model_version({model!r}, {version!r})",
            lambda: self.client.get_model_version(model, version),
        )
        return self._to_version(mv)

    def version_by_alias(self, model: str, alias: str) -> ModelVersion | None:
        try:
            mv = self.client.get_model_version_by_alias(model, alias)
        except Exception as exc:
            if self._not_found(exc):
                return None
            raise RegistryError(
                f"MLflow get_model_version_by_alias({model!r}, {alias!r}) failed: {exc}"
            ) from exc
        return self._to_version(mv)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        run = self._call(f"get_run({run_id!r})", lambda: self.client.get_run(run_id))
        return {k: float(v) for k, v in run.data.metrics.items()}

    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        self._call(
            f"set_model_version_tag({model!r}, {version!r}, {key!r})",
            lambda: self.client.set_model_version_tag(model, version, key, value),
        )

    def version_url(self, model: str, version: str) -> str | None:
        return f"{self.ui_url}/#/models/{quote(model, safe='')}/versions/{quote(version, safe='')}"
