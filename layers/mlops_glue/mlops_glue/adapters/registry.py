"""The model registry (MLflow): versions, their run metrics, aliases and tags.

Interface and in-memory fake. The MLflow implementation (``MlflowRegistry``, mlflow-skinny imported
only inside its methods) lives below them in this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


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
