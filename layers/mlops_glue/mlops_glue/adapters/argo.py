"""Argo Workflows: submit a WorkflowTemplate through the Argo server's REST API.

Interface (used by the data-arrival and alarm flows) and its in-memory fake. The REST implementation
(``ArgoRestSubmitter``) lives below them in this module.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol


class ArgoError(Exception):
    """Submitting a workflow failed."""


class ArgoRejectedError(ArgoError):
    """The Argo server rejected the request (4xx other than 409): not retried, kept for replay."""


class ArgoUnavailableError(ArgoError):
    """The Argo server stayed unreachable or answered 5xx after every retry."""


@dataclass(frozen=True)
class Submission:
    """One workflow to submit from a WorkflowTemplate; ``name`` is derived from the decision id."""

    namespace: str
    workflow_template: str
    name: str
    parameters: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    priority: int = 0
    service_account: str | None = None


@dataclass(frozen=True)
class Submitted:
    name: str
    namespace: str
    created: bool  # False: it already existed (a retry after a timeout), which counts as success
    url: str | None = None


class WorkflowSubmitter(Protocol):
    def submit(self, submission: Submission) -> Submitted:
        """Submit once; an existing workflow of the same name is success (``created=False``)."""
        ...


class MemorySubmitter:
    """Records submissions; for unit tests. Thread-safe; a repeated name is 'already exists'."""

    def __init__(self, fail_with: ArgoError | None = None) -> None:
        self.submissions: dict[str, Submission] = {}
        self.fail_with = fail_with
        self._lock = threading.Lock()

    def submit(self, submission: Submission) -> Submitted:
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            created = submission.name not in self.submissions
            self.submissions.setdefault(submission.name, submission)
        return Submitted(submission.name, submission.namespace, created, f"memory://{submission.name}")
