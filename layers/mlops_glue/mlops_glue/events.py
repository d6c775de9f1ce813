"""The typed events of the two webhook sources, parsed once where the payload enters. Pure: no I/O.

* :class:`MlflowEvent` — an MLflow model-registry webhook payload (``{"entity", "action", "timestamp",
  "data"}``), parsed by :func:`parse_mlflow_event`;
* :class:`ArgoCDNotification` — the JSON body our ``argocd-notifications-cm`` template renders, parsed by
  :func:`parse_argocd_notification`.

The Function URL handlers (:mod:`mlops_glue.intake`) parse the body to refuse a malformed one with a 400
before it is queued; the intake worker (:mod:`mlops_glue.worker`) parses the queued body into the same
type once and hands it to the service, whose pure rules (:mod:`mlops_glue.decisions`) take these types,
never dicts. A body that is not what its source sends raises :class:`MalformedEventError` (a
:class:`~mlops_glue.errors.RejectedError`: answered 400 at the Function URL, moved to the dead-letter
queue with its reason by the worker — never retried, never lost). The message says what is wrong
(field paths and pydantic's message), never echoing the input.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlops_glue.errors import RejectedError
from mlops_glue.names import canonical_version
from mlops_glue.texts import validation_text

# a Kubernetes object name or namespace (RFC 1123 subdomain), as Argo CD requires for applications
_K8S = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$")


class MalformedEventError(RejectedError, ValueError):
    """A body that is not what its source sends (not JSON, wrong shape): rejected, never retried."""


class MalformedDeliveryError(MalformedEventError):
    """The (authentic) body is not an MLflow webhook payload."""


class InvalidNotificationError(MalformedEventError):
    """The notification body is not what our Argo CD template renders; the message says why."""


def load_json(body: bytes | str, what: str) -> Any:
    """``json.loads`` for untrusted bodies: not UTF-8, not JSON or nested too deep is a MalformedDeliveryError."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise MalformedDeliveryError(f"{what} is not UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedDeliveryError(f"{what} is not JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise MalformedDeliveryError(f"{what} is nested too deep") from None


# ------------------------------------------------------------------------------------------ MLflow


class MlflowEventData(BaseModel):
    """The ``data`` of the registry events we read (other fields are kept but unused)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, max_length=256)
    version: str | None = Field(None, max_length=128)
    alias: str | None = Field(None, max_length=256)
    key: str | None = Field(None, max_length=250)
    value: str | None = Field(None, max_length=5000)
    run_id: str | None = Field(None, max_length=128)
    source: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _canonical(cls, v: str | None) -> str | None:
        """MLflow numbers versions 1, 2, 3…: anything else can never be promoted (a 400, not a retry)."""
        return None if v is None else canonical_version(v)


class MlflowEvent(BaseModel):
    """An MLflow webhook payload: ``{"entity", "action", "timestamp", "data"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: str
    action: str
    timestamp: datetime
    data: MlflowEventData

    @property
    def event_type(self) -> str:
        """``entity.action``, as MLflow names the event (e.g. ``model_version.created``)."""
        return f"{self.entity}.{self.action}"

    @property
    def model(self) -> str:
        """The registered model the event is about."""
        return self.data.name


def parse_mlflow_event(body: bytes | str) -> MlflowEvent:
    """Parse the raw body of an MLflow delivery (MalformedDeliveryError says what is wrong)."""
    raw = load_json(body, "body")
    try:
        return MlflowEvent.model_validate(raw)
    except ValidationError as exc:
        raise MalformedDeliveryError(f"not an MLflow webhook payload: {validation_text(exc)}") from None
    except RecursionError:
        raise MalformedDeliveryError("body is nested too deep") from None


# ------------------------------------------------------------------------------------------ Argo CD

ArgocdTrigger = Literal["on-deployed", "on-sync-succeeded", "on-sync-failed", "on-health-degraded"]
TRIGGERS: tuple[ArgocdTrigger, ...] = (
    "on-deployed",
    "on-sync-succeeded",
    "on-sync-failed",
    "on-health-degraded",
)


class ArgoCDNotification(BaseModel):
    """The JSON body rendered by the ``webhook.mlops-glue`` section of our templates."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    trigger: ArgocdTrigger
    app: str = Field(min_length=1)
    namespace: str = Field(min_length=1)
    destination_namespace: str = Field("", alias="destinationNamespace")
    repo_url: str = Field("", alias="repoURL")
    revision: str = ""
    sync_revision: str = Field("", alias="syncRevision")
    sync_status: str = Field("", alias="syncStatus")
    sync_phase: str = Field("", alias="syncPhase")
    sync_message: str = Field("", alias="syncMessage", max_length=20_000)
    health_status: str = Field("", alias="healthStatus")
    started_at: datetime | None = Field(None, alias="startedAt")
    finished_at: datetime | None = Field(None, alias="finishedAt")

    @field_validator("app", "namespace")
    @classmethod
    def _k8s_name(cls, v: str) -> str:
        if not _K8S.fullmatch(v):
            raise ValueError(f"{v!r} is not a Kubernetes object name")
        return v

    @field_validator("started_at", "finished_at", mode="before")
    @classmethod
    def _empty_time(cls, v: Any) -> Any:
        return None if v == "" else v

    @property
    def synced_revision(self) -> str:
        """The revision the sync applied (falls back to the compared revision when no sync ran)."""
        return self.revision or self.sync_revision

    @property
    def app_id(self) -> str:
        return f"{self.namespace}/{self.app}"

    @property
    def identity(self) -> str:
        """The dedup identity: application, revision and trigger."""
        return f"argocd:{self.app_id}@{self.synced_revision}#{self.trigger}"


def parse_argocd_notification(body: str | bytes | None) -> ArgoCDNotification:
    """Parse and validate a notification body; :class:`InvalidNotificationError` says what is wrong."""
    if body is None or not body.strip():
        raise InvalidNotificationError("empty body: expected the JSON our Argo CD template renders")
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidNotificationError(f"body is not JSON: {exc}") from exc
    except RecursionError:
        raise InvalidNotificationError("body is nested too deep") from None
    if not isinstance(raw, dict):
        raise InvalidNotificationError("body must be a JSON object")
    try:
        n = ArgoCDNotification.model_validate(raw)
    except ValidationError as exc:
        raise InvalidNotificationError(validation_text(exc, None)) from exc
    except RecursionError:
        raise InvalidNotificationError("body is nested too deep") from None
    if not n.synced_revision:
        raise InvalidNotificationError("revision: missing (neither revision nor syncRevision is set)")
    if len(n.synced_revision) > 128 or n.synced_revision.startswith("-"):
        raise InvalidNotificationError("revision: not a revision")
    return n


__all__ = [
    "TRIGGERS",
    "ArgoCDNotification",
    "InvalidNotificationError",
    "MalformedDeliveryError",
    "MalformedEventError",
    "MlflowEvent",
    "MlflowEventData",
    "load_json",
    "parse_argocd_notification",
    "parse_mlflow_event",
]
