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


class MlflowRestRegistry:
    """The MLflow model registry through its documented REST API (``/api/2.0/mlflow/...``), on requests.

    What the Lambda functions use (``runtime.registry``): the five calls the flows make need no more than
    requests, which the layer has anyway, and the cold gating path stays within budget — importing
    mlflow-skinny's ``MlflowClient`` costs more than the rest of the handler together (README,
    Benchmarks). Retries: urllib3's ``Retry`` on 429/5xx and connection errors with backoff (set-tag is
    idempotent), ``max_retries`` and ``timeout`` from ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` /
    ``MLFLOW_HTTP_REQUEST_TIMEOUT`` as for MLflow's own client. Errors are :class:`RegistryError` naming
    the call. ``MlflowRegistry`` above is the same registry through mlflow-skinny.
    """

    def __init__(
        self,
        tracking_uri: str,
        ui_url: str | None = None,
        *,
        max_retries: int = 2,
        timeout: float = 10.0,
        session: Any | None = None,
    ) -> None:
        self.base = tracking_uri.rstrip("/") + "/api/2.0/mlflow/"
        self.ui_url = (ui_url or tracking_uri).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self._session = session

    @property
    def session(self) -> Any:
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter
            from urllib3.util.retry import Retry

            retry = Retry(
                total=self.max_retries,
                backoff_factor=0.5,
                status_forcelist=(429, 500, 502, 503, 504),
                allowed_methods=None,  # every method: set-tag is idempotent
                raise_on_status=False,
            )
            s = requests.Session()
            s.mount("http://", HTTPAdapter(max_retries=retry))
            s.mount("https://", HTTPAdapter(max_retries=retry))
            self._session = s
        return self._session

    def _request(self, what: str, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        try:
            resp = self.session.request(method, self.base + path, timeout=self.timeout, **kwargs)
            body = resp.json() if resp.content else {}
        except Exception as exc:
            raise RegistryError(f"MLflow {what} failed: {type(exc).__name__}: {str(exc)[:300]}") from exc
        return resp.status_code, body if isinstance(body, dict) else {}

    def _ok(self, what: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        status, body = self._request(what, method, path, **kwargs)
        if status != 200:
            code = body.get("error_code", "")
            raise RegistryError(
                f"MLflow {what} failed: HTTP {status} {code}: {str(body.get('message', ''))[:300]}"
            )
        return body

    @staticmethod
    def _to_version(mv: dict[str, Any]) -> ModelVersion:
        return ModelVersion(
            model=str(mv["name"]),
            version=str(mv["version"]),
            run_id=mv.get("run_id") or None,
            tags={t["key"]: t.get("value", "") for t in mv.get("tags", [])},
            aliases=tuple(mv.get("aliases", [])),
            source=mv.get("source"),
        )

    def get_version(self, model: str, version: str) -> ModelVersion:
        what = f"get_model_version({model!r}, {version!r})"
        body = self._ok(what, "GET", "model-versions/get", params={"name": model, "version": version})
        return self._to_version(body["model_version"])

    def version_by_alias(self, model: str, alias: str) -> ModelVersion | None:
        what = f"get_model_version_by_alias({model!r}, {alias!r})"
        status, body = self._request(
            what, "GET", "registered-models/alias", params={"name": model, "alias": alias}
        )
        if status == 200:
            return self._to_version(body["model_version"])
        if body.get("error_code") in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"):
            return None
        raise RegistryError(f"MLflow {what} failed: HTTP {status} {body.get('error_code', '')}")

    def run_metrics(self, run_id: str) -> dict[str, float]:
        body = self._ok(f"get_run({run_id!r})", "GET", "runs/get", params={"run_id": run_id})
        metrics = body.get("run", {}).get("data", {}).get("metrics", [])
        return {m["key"]: float(m["value"]) for m in metrics}  # runs/get returns each metric's latest value

    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        payload = {"name": model, "version": version, "key": key, "value": value}
        self._ok(
            f"set_model_version_tag({model!r}, {version!r}, {key!r})",
            "POST",
            "model-versions/set-tag",
            json=payload,
        )

    def version_url(self, model: str, version: str) -> str | None:
        return f"{self.ui_url}/#/models/{quote(model, safe='')}/versions/{quote(version, safe='')}"
