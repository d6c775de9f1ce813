"""The decision record: one shape for all four flows ("why did this run?")."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Kind(StrEnum):
    RETRAIN = "retrain"
    EMERGENCY_RETRAIN = "emergency_retrain"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    NOTIFY_ONLY = "notify_only"


class Outcome(StrEnum):
    ACTED = "acted"
    DEFERRED = "deferred"
    IGNORED = "ignored"
    REJECTED = "rejected"
    FAILED = "failed"


# the git trailers of our commits on values files: a synced revision maps back to its decision
@dataclass(frozen=True)
class CommitInfo:
    """A commit of the GitOps repository as the rules read it: message, author, files and our trailers."""

    sha: str
    message: str
    author: str
    files: tuple[str, ...] = ()
    trailers: dict[str, str] = field(default_factory=dict)
    url: str | None = None


TRAILER_DECISION_ID = "Glue-Decision-Id"
TRAILER_MODEL = "Glue-Model"
TRAILER_VERSION = "Glue-Version"
TRAILER_ENVIRONMENT = "Glue-Environment"
TRAILER_REVERTS = "Glue-Reverts"  # on our rollback commits: the bump commit they revert


def bump_trailers(
    decision_id: str, model: str, env: str, version: str | None = None, reverts: str | None = None
) -> dict[str, str]:
    """The trailers of one of our version bumps (a promotion, or a rollback with ``reverts``)."""
    out = {TRAILER_DECISION_ID: decision_id, TRAILER_MODEL: model}
    if version:
        out[TRAILER_VERSION] = version
    out[TRAILER_ENVIRONMENT] = env
    if reverts:
        out[TRAILER_REVERTS] = reverts
    return out


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_decision_id(kind: str, *identities: str) -> str:
    """A stable id derived from the triggering identities: the same event gives the same id.

    20 hex characters after ``d-``: short enough for Kubernetes names and label values.
    """
    blob = "\x1f".join([kind, *identities]).encode()
    return "d-" + hashlib.sha256(blob).hexdigest()[:20]


class Decision(BaseModel):
    """What was decided, why, on which evidence and inputs, under which configuration, and what was done.

    The record is audit, never control: ``evidence.retryable`` says that a failure was an outage, but the
    retry itself is decided by the error the service raises (:mod:`mlops_glue.errors`).
    """

    model_config = ConfigDict(extra="forbid")

    decision_id: str
    model: str
    environment: str | None = None
    kind: Kind
    outcome: Outcome
    reasons: list[str] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list)
    config_hash: str = ""
    action: dict[str, str] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    def summary(self) -> str:
        """One line for logs, commit subjects and Slack fallbacks."""
        env = f"/{self.environment}" if self.environment else ""
        why = "; ".join(self.reasons) if self.reasons else "no reason recorded"
        return f"{self.kind.value} {self.model}{env}: {self.outcome.value} — {why}"
