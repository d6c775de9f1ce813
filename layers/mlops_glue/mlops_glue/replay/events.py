"""The recorded event: what one flow was given, normalized, small, with the time it arrived.

``input`` per flow (never raw data, never a secret):

* ``data_arrival``: one counted object — ``object`` (its stable id), ``key``, ``rows``, ``scores``
  (column -> the file's own drift score against the reference profile: its counts summary) and
  ``methods`` (drift method -> its columns);
* ``alarms``: the alarm transition (:class:`~mlops_glue.decisions.emergency.AlarmChange`) and the stage;
* ``promotion``: the MLflow webhook (``event_type``, ``data``, ``input_id``); for a gated version a
  second record, ``kind: gate_facts``, holds what the gate read from MLflow (metrics, champion, tags);
* ``feedback``: the Argo CD notification, the model and environment it maps to, and what Git said about
  the synced revision (the deployment facts) — Git is the outside world replay cannot re-run.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mlops_glue.config import FLOWS
from mlops_glue.names import check_name

Flow = Literal["data_arrival", "alarms", "promotion", "feedback"]
MAX_INPUT_BYTES = 64 * 1024  # one recorded input; a DynamoDB item holds 400 KB


class RecordedEvent(BaseModel):
    """One event as a flow received it (normalized), in the order of ``at`` then ``id``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flow: Flow
    model: str
    at: datetime
    id: str = Field(min_length=1, max_length=200)
    kind: Literal["event", "gate_facts"] = "event"
    input: dict[str, Any]

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        return check_name(v, "model name")

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("timestamp without a time zone")
        return v.astimezone(UTC)  # one zone: sort keys compare as text

    @property
    def sort_key(self) -> str:
        """The event log's sort key: time first, so a range of time is a range of keys."""
        return f"{self.at.isoformat(timespec='microseconds')}#{self.flow}#{self.kind}#{self.id}"


def event_id(*parts: str) -> str:
    """A short stable id from the event's identity (the same delivery twice gives the same id)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def alarm_input(change: Any, stage: str) -> dict[str, Any]:
    doc = asdict(change)
    doc["state_timestamp"] = change.state_timestamp.isoformat()
    doc["stage"] = stage
    return doc


def alarm_change(doc: dict[str, Any]) -> tuple[Any, str]:
    """(AlarmChange, stage) back from :func:`alarm_input`."""
    from mlops_glue.decisions.emergency import AlarmChange

    fields = {k: v for k, v in doc.items() if k != "stage"}
    fields["state_timestamp"] = datetime.fromisoformat(str(fields["state_timestamp"]))
    fields["dimensions"] = dict(fields.get("dimensions") or {})
    return AlarmChange(**fields), str(doc.get("stage", "dev"))


def commit_dict(c: Any) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "sha": c.sha,
        "message": c.message[:2000],
        "author": c.author,
        "files": list(c.files),
        "trailers": dict(c.trailers),
    }


def commit_info(d: dict[str, Any] | None) -> Any:
    from mlops_glue.records import CommitInfo

    if d is None:
        return None
    return CommitInfo(
        sha=str(d["sha"]),
        message=str(d.get("message", "")),
        author=str(d.get("author", "")),
        files=tuple(d.get("files", [])),
        trailers={str(k): str(v) for k, v in (d.get("trailers") or {}).items()},
    )


def deployment_dict(dep: Any) -> dict[str, Any]:
    return {
        "path": dep.path,
        "synced": commit_dict(dep.synced),
        "change": commit_dict(dep.change),
        "later": [commit_dict(c) for c in dep.later],
        "head_version": dep.head_version,
        "previous_version": dep.previous_version,
        "on_branch": dep.on_branch,
        "deployed_after": [commit_dict(c) for c in dep.deployed_after],
    }


def deployment(d: dict[str, Any]) -> Any:
    from mlops_glue.decisions.feedback import Deployment

    return Deployment(
        path=str(d["path"]),
        synced=commit_info(d.get("synced")),
        change=commit_info(d.get("change")),
        later=tuple(commit_info(c) for c in d.get("later", [])),
        head_version=d.get("head_version"),
        previous_version=d.get("previous_version"),
        on_branch=bool(d.get("on_branch", True)),
        deployed_after=tuple(commit_info(c) for c in d.get("deployed_after", [])),
    )


def bump_dict(b: Any) -> dict[str, Any] | None:
    return (
        None
        if b is None
        else {"sha": b.sha, "version": b.version, "decision_id": b.decision_id, "reverts": b.reverts}
    )


def bump(d: dict[str, Any] | None) -> Any:
    from mlops_glue.decisions.feedback import Bump

    if d is None:
        return None
    return Bump(str(d["sha"]), str(d.get("version", "")), str(d.get("decision_id", "")), d.get("reverts"))


__all__ = ["FLOWS", "MAX_INPUT_BYTES", "Flow", "RecordedEvent", "event_id"]
