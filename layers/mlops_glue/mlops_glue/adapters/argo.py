"""Argo Workflows: submit a WorkflowTemplate through the Argo server's REST API.

Interface (used by the data-arrival and alarm flows) and its in-memory fake. The REST implementation
(``ArgoRestSubmitter``) lives below them in this module.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlops_glue.errors import RejectedError, RetryableError


class ArgoError(Exception):
    """Submitting a workflow failed."""


class ArgoRejectedError(ArgoError, RejectedError):
    """The Argo server rejected the request (4xx other than 409): not retried, kept for replay."""


class ArgoConflictError(ArgoRejectedError):
    """Argo answered 409 but the workflow of that name is not ours (or does not exist): not submitted."""


class ArgoUnavailableError(ArgoError, RetryableError):
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

    def __init__(self, fail_with: ArgoError | None = None, phase: str = "Running") -> None:
        self.submissions: dict[str, Submission] = {}
        self.fail_with = fail_with
        self.phase = phase  # the phase of every workflow unless ``phases`` says otherwise
        self.phases: dict[str, str] = {}
        self._lock = threading.Lock()

    def submit(self, submission: Submission) -> Submitted:
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            old = self.submissions.get(submission.name)
            if old is not None and not is_ours(old.labels, submission):
                raise ArgoConflictError(conflict_text(submission, old.labels))
            self.submissions.setdefault(submission.name, submission)
        return Submitted(submission.name, submission.namespace, old is None, f"memory://{submission.name}")

    def active(self, namespace: str, labels: dict[str, str]) -> list[str]:
        """Names of matching workflows whose phase is still pending or running."""
        with self._lock:
            subs = list(self.submissions.values())
        return sorted(
            s.name
            for s in subs
            if s.namespace == namespace
            and all(s.labels.get(k) == v for k, v in labels.items())
            and self.phases.get(s.name, self.phase) in ("", "Pending", "Running")
        )


def is_ours(labels: dict[str, str], submission: Submission) -> bool:
    """Whether an existing workflow carrying ``labels`` is the one ``submission`` would create."""
    return all(labels.get(k) == v for k, v in submission.labels.items())


def conflict_text(submission: Submission, labels: dict[str, str] | None) -> str:
    if labels is None:
        return (
            f"Argo answered 409 for workflow {submission.name} but no workflow of that name exists in "
            f"{submission.namespace}: not submitted"
        )
    theirs = {k: v for k, v in sorted(labels.items()) if k.startswith("mlops-glue/")} or "none"
    return (
        f"a workflow named {submission.name} exists in {submission.namespace} but is not this decision's "
        f"(its mlops-glue labels: {theirs}): not submitted"
    )


# ------------------------------------------------------------------------------------------ REST

ACTIVE_PHASES = frozenset({"", "Pending", "Running"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})


class WorkflowLister(Protocol):
    def active(self, namespace: str, labels: dict[str, str]) -> list[str]:
        """Names of the workflows carrying ``labels`` that are still pending or running."""
        ...


def _kv(items: dict[str, str], what: str) -> str:
    """Argo's submit API takes labels and annotations as one ``k=v,k2=v2`` string."""
    for k, v in items.items():
        if "," in k or "," in v or "=" in k:
            raise ValueError(f"{what} {k}={v!r}: Argo's submit API cannot carry ',' (or '=' in a key)")
    return ",".join(f"{k}={v}" for k, v in sorted(items.items()))


def submit_request(submission: Submission) -> dict[str, object]:
    """The ``WorkflowSubmitRequest`` body for ``POST /api/v1/workflows/{namespace}/submit``."""
    opts: dict[str, object] = {
        "name": submission.name,
        "parameters": [f"{k}={v}" for k, v in submission.parameters.items()],
        "priority": submission.priority,
    }
    if submission.labels:
        opts["labels"] = _kv(submission.labels, "label")
    if submission.annotations:
        opts["annotations"] = _kv(submission.annotations, "annotation")
    if submission.service_account:
        opts["serviceAccount"] = submission.service_account
    return {
        "namespace": submission.namespace,
        "resourceKind": "WorkflowTemplate",
        "resourceName": submission.workflow_template,
        "submitOptions": opts,
    }


class ArgoRestSubmitter:
    """Submits WorkflowTemplates through the Argo server's REST API with ``requests``.

    Connection errors, read timeouts and 5xx answers are retried with exponential backoff (POST
    included: the fixed workflow name makes a repeat harmless). Every attempt's timeout, and every pause,
    is cut to the invocation's remaining time (:mod:`mlops_glue.deadline`), so a hanging server can
    never hold a Lambda past its timeout. A 409 counts as submitted only when the workflow of that name
    is read back and carries this submission's labels (``created=False``); any other 409 raises
    ArgoConflictError. Other 4xx raise ArgoRejectedError at once. The bearer token comes from Secrets
    Manager (``token_secret``) and is never logged.
    """

    def __init__(
        self,
        server: str,
        *,
        token_secret: str | None = None,
        secrets: Any | None = None,
        ui_url: str | None = None,
        verify_tls: bool = True,
        timeout: float = 10.0,
        retries: int = 4,
        backoff_factor: float = 0.5,
        session: Any | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.ui_url = (ui_url or server).rstrip("/")
        self._token_secret = token_secret
        self._secrets = secrets
        self._verify = verify_tls
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff_factor
        self._session = session

    def _http(self) -> Any:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._token_secret:
            if self._secrets is None:
                raise ArgoError("an Argo token secret is configured but no secrets provider was given")
            token = self._secrets.get(self._token_secret).strip()
            headers["Authorization"] = token if token.startswith("Bearer ") else f"Bearer {token}"
        return headers

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call with retries, each attempt and pause within the invocation's remaining time.

        Returns the last response (a 5xx after every retry included); ArgoUnavailableError when no
        answer came; OutOfTimeError when not even the first attempt fits in the time left.
        """
        import requests

        from mlops_glue import deadline

        budget = deadline.current()
        url = f"{self.server}{path}"
        what = f"Argo {method} {path}"
        last = "no attempt"
        attempts = 0
        for attempt in range(self._retries + 1):
            if attempt:
                pause = self._backoff * (2 ** (attempt - 1))
                if budget.remaining() < pause + 1.0:
                    last += "; no time left for another attempt"
                    break
                time.sleep(pause)
            try:
                timeout = budget.cap(self._timeout, what, floor=1.0)
            except deadline.OutOfTimeError:
                if attempts == 0:
                    raise
                last += "; no time left for another attempt"
                break
            attempts += 1
            try:
                resp = self._http().request(
                    method, url, headers=self._headers(), timeout=timeout, verify=self._verify, **kwargs
                )
            except requests.RequestException as exc:
                last = type(exc).__name__
                continue
            if resp.status_code not in RETRY_STATUSES or attempt == self._retries:
                return resp
            last = f"HTTP {resp.status_code}"
        raise ArgoUnavailableError(
            f"Argo server {self.server} unreachable for {method} {path} after {attempts} attempts: {last}"
        )

    def submit(self, submission: Submission) -> Submitted:
        body = submit_request(submission)
        path = f"/api/v1/workflows/{submission.namespace}/submit"
        resp = self._request("POST", path, json=body)
        url = f"{self.ui_url}/workflows/{submission.namespace}/{submission.name}"
        if resp.status_code == 200:
            return Submitted(submission.name, submission.namespace, True, url)
        message = _message(resp)
        if resp.status_code == 409:
            labels = self.labels_of(submission.namespace, submission.name)
            if labels is not None and is_ours(labels, submission):
                return Submitted(submission.name, submission.namespace, False, url)
            raise ArgoConflictError(f"{conflict_text(submission, labels)} (Argo said: {message})")
        if 400 <= resp.status_code < 500:
            raise ArgoRejectedError(
                f"Argo rejected workflow {submission.name} from template "
                f"{submission.namespace}/{submission.workflow_template}: HTTP {resp.status_code} {message}"
            )
        raise ArgoUnavailableError(
            f"Argo server answered HTTP {resp.status_code} for {submission.name} after {self._retries} "
            f"retries: {message}"
        )

    def labels_of(self, namespace: str, name: str) -> dict[str, str] | None:
        """The labels of workflow ``name`` (``GET /api/v1/workflows/{ns}/{name}``); None when it is absent."""
        resp = self._request(
            "GET",
            f"/api/v1/workflows/{namespace}/{name}",
            params={"fields": "metadata.name,metadata.labels,metadata.annotations"},
        )
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise ArgoUnavailableError(
                f"Argo get workflow {namespace}/{name} answered HTTP {resp.status_code}: {_message(resp)}"
            )
        meta = (resp.json() or {}).get("metadata") or {}
        return {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}

    def active(self, namespace: str, labels: dict[str, str]) -> list[str]:
        selector = _kv(labels, "label")
        resp = self._request(
            "GET",
            f"/api/v1/workflows/{namespace}",
            params={
                "listOptions.labelSelector": selector,
                "fields": "items.metadata.name,items.metadata.labels,items.status.phase",
            },
        )
        if resp.status_code != 200:
            raise ArgoUnavailableError(
                f"Argo list workflows answered HTTP {resp.status_code}: {_message(resp)}"
            )
        names = []
        for item in resp.json().get("items") or []:
            meta = item.get("metadata") or {}
            have = meta.get("labels") or {}
            phase = (item.get("status") or {}).get("phase") or ""
            # filter here too: an older server (or a proxy) may ignore the selector
            if all(have.get(k) == v for k, v in labels.items()) and phase in ACTIVE_PHASES:
                names.append(str(meta.get("name")))
        return sorted(names)


def _message(resp: Any) -> str:
    try:
        doc = resp.json()
        return str(doc.get("message") or doc)[:300]
    except ValueError:
        return str(resp.text)[:300]
