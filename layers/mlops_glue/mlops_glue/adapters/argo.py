"""Argo Workflows: submit a WorkflowTemplate through the Argo server's REST API.

Interface (used by the data-arrival and alarm flows) and its in-memory fake. The REST implementation
(``ArgoRestSubmitter``) lives below them in this module.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol


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
            created = submission.name not in self.submissions
            self.submissions.setdefault(submission.name, submission)
        return Submitted(submission.name, submission.namespace, created, f"memory://{submission.name}")

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


# ------------------------------------------------------------------------------------------ REST

ACTIVE_PHASES = frozenset({"", "Pending", "Running"})


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

    Connection errors, read timeouts and 5xx answers are retried with exponential backoff by urllib3's
    ``Retry`` (POST included: the fixed workflow name makes a repeat harmless — the server answers 409
    "already exists", which is success with ``created=False``). Other 4xx raise ArgoRejectedError at
    once. The bearer token comes from Secrets Manager (``token_secret``) and is never logged.
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
            from requests.adapters import HTTPAdapter
            from urllib3.util.retry import Retry

            retry = Retry(
                total=self._retries,
                connect=self._retries,
                read=self._retries,
                status=self._retries,
                backoff_factor=self._backoff,
                status_forcelist=(500, 502, 503, 504),
                allowed_methods=frozenset({"GET", "POST"}),
                raise_on_status=False,
                respect_retry_after_header=True,
            )
            session = requests.Session()
            session.mount("http://", HTTPAdapter(max_retries=retry))
            session.mount("https://", HTTPAdapter(max_retries=retry))
            self._session = session
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
        import requests

        url = f"{self.server}{path}"
        try:
            return self._http().request(
                method, url, headers=self._headers(), timeout=self._timeout, verify=self._verify, **kwargs
            )
        except requests.RequestException as exc:
            raise ArgoUnavailableError(
                f"Argo server {self.server} unreachable for {method} {path} after {self._retries} retries: "
                f"{type(exc).__name__}"
            ) from exc

    def submit(self, submission: Submission) -> Submitted:
        body = submit_request(submission)
        path = f"/api/v1/workflows/{submission.namespace}/submit"
        resp = self._request("POST", path, json=body)
        url = f"{self.ui_url}/workflows/{submission.namespace}/{submission.name}"
        if resp.status_code == 200:
            return Submitted(submission.name, submission.namespace, True, url)
        message = _message(resp)
        if resp.status_code == 409 or "already exists" in message:
            return Submitted(submission.name, submission.namespace, False, url)
        if 400 <= resp.status_code < 500:
            raise ArgoRejectedError(
                f"Argo rejected workflow {submission.name} from template "
                f"{submission.namespace}/{submission.workflow_template}: HTTP {resp.status_code} {message}"
            )
        raise ArgoUnavailableError(
            f"Argo server answered HTTP {resp.status_code} for {submission.name} after {self._retries} "
            f"retries: {message}"
        )

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
