"""Shadow mode: a model (or one flow of it) decides and records "would act", and acts on nothing.

:func:`wrap` is called where a flow's adapters are composed (``runtime``, the function handlers). For
every model whose ``shadow`` covers the flow, the acting adapters become "would act" ones:

* Argo: nothing is submitted and nothing is asked (a submission answers with the workflow it would be);
* GitOps: reads go to the repository, writes (commit, pull request, revert, closing PRs) are not made;
* MLflow: reads go to the registry, tags are not set;
* guards: the blocklist and pauses a shadow decision would set are not written (they would stop the
  model's live flows);
* the decision record says so (``action.shadow = would_act`` and a first reason "shadow mode: …");
* Slack: the notice is posted, marked "shadow mode — would act; nothing was done".

The flows' code, their decisions and their state (windows, ledgers, cooldowns) are the live ones, so
what is recorded is what the model would have done. Models not in shadow go straight to the real
adapters. The configuration is read per call: switching ``shadow`` off acts from the next event on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from mlops_glue.adapters.argo import Submission, Submitted
from mlops_glue.adapters.gitops import Edits, GitOpsRepo, PullRequest, WriteResult
from mlops_glue.adapters.registry import ModelRegistry, ModelVersion
from mlops_glue.adapters.slack import Message, Notifier, Posted
from mlops_glue.adapters.state import Create, StateStore, Versioned
from mlops_glue.config import GlueConfig
from mlops_glue.records import TRAILER_MODEL, CommitInfo, Decision, Outcome

logger = logging.getLogger(__name__)

WOULD_ACT = "would_act"
SHADOW_REASON = "shadow mode: would act — nothing was submitted, committed, tagged or reverted"
SHADOW_QUIET = "shadow mode: decided and recorded only"
NOTICE_MARK = ":ghost: *shadow mode — would act; nothing was done*"
_DECISION_ID = re.compile(r"d-[0-9a-f]{20}")
_BRANCH_MODEL = re.compile(r"^mlops-glue/([^/]+)/")
MODEL_LABEL = "mlops-glue/model"
GUARD_DOCS = ("BLOCKLIST", "PAUSE#")  # guards.py's documents: they would stop the live flows
LEDGER_DOCS = "LEDGER#"  # the retraining ledgers (keys.py): cooldown and budget count their runs


class _Book:
    """Decision ids recorded in shadow mode by this execution environment (bounded), for the notices."""

    def __init__(self, size: int = 1000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def add(self, did: str) -> None:
        with self._lock:
            self._ids[did] = None
            while len(self._ids) > self._size:
                self._ids.popitem(last=False)

    def __contains__(self, did: object) -> bool:
        with self._lock:
            return did in self._ids


@dataclass
class Shadow:
    """Which models are shadowed for one flow (read from the configuration at each call)."""

    cfg: GlueConfig
    flow: str

    def __post_init__(self) -> None:
        self.book = _Book()
        self._local = threading.local()

    def on(self, model: str | None) -> bool:
        if not model or model not in self.cfg.models:
            return False
        return self.cfg.models[model].shadowed(self.flow)

    def skipped(self, model: str | None) -> None:
        """An action of ``model`` was not taken: its coming notice (before its record) says so."""
        self._local.model = model

    def take_skipped(self) -> str | None:
        model: str | None = getattr(self._local, "model", None)
        self._local.model = None
        return model


class ShadowSubmitter:
    """Argo: a shadowed model's workflow is not submitted (nor are its running workflows asked for)."""

    def __init__(self, inner: Any, shadow: Shadow) -> None:
        self.inner, self.shadow = inner, shadow
        self.would_submit: list[Submission] = []

    def submit(self, submission: Submission) -> Submitted:
        if self.shadow.on(submission.labels.get(MODEL_LABEL)):
            self.would_submit.append(submission)
            self.shadow.skipped(submission.labels.get(MODEL_LABEL))
            logger.info("shadow mode: workflow not submitted", extra={"workflow": submission.name})
            return Submitted(submission.name, submission.namespace, created=False, url=None)
        result: Submitted = self.inner.submit(submission)
        return result

    def active(self, namespace: str, labels: dict[str, str]) -> list[str]:
        if self.shadow.on(labels.get(MODEL_LABEL)):
            return []
        lister = getattr(self.inner, "active", None)
        return [] if lister is None else list(lister(namespace, labels))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ShadowRepo(GitOpsRepo):
    """GitOps: reads from the repository; a shadowed model's writes are not made."""

    def __init__(self, inner: GitOpsRepo, shadow: Shadow) -> None:
        self.inner, self.shadow = inner, shadow
        self.would_write: list[dict[str, Any]] = []

    def _skip(self, what: str, model: str | None, **detail: Any) -> bool:
        if not self.shadow.on(model):
            return False
        self.would_write.append({"what": what, "model": model, **detail})
        self.shadow.skipped(model)
        logger.info(f"shadow mode: {what} not made", extra={"model": model})
        return True

    def read(self, path: str) -> str:
        return self.inner.read(path)

    def commit_files(self, edits: Edits, message: str, trailers: dict[str, str]) -> WriteResult:
        if self._skip("commit", trailers.get(TRAILER_MODEL), files=sorted(edits), message=message):
            for path, edit in edits.items():
                edit(self.inner.read(path))  # the edit still has to apply: a broken target is still said
            return WriteResult(changed=True, sha=None, url=None)
        return self.inner.commit_files(edits, message, trailers)

    def open_pull_request(
        self,
        edits: Edits,
        branch: str,
        title: str,
        body: str,
        trailers: dict[str, str],
        supersede_prefix: str | None = None,
        auto_merge: bool = False,
    ) -> PullRequest | None:
        if self._skip("pull request", trailers.get(TRAILER_MODEL), branch=branch, title=title):
            return PullRequest(number=0, url="", branch=branch)
        return self.inner.open_pull_request(
            edits, branch, title, body, trailers, supersede_prefix=supersede_prefix, auto_merge=auto_merge
        )

    def close_pull_requests(self, prefix: str, comment: str) -> tuple[str, ...]:
        m = _BRANCH_MODEL.match(prefix)
        if self._skip("closing pull requests", m.group(1) if m else None, prefix=prefix):
            return ()
        return self.inner.close_pull_requests(prefix, comment)

    def get_commit(self, revision: str) -> CommitInfo | None:
        return self.inner.get_commit(revision)

    def last_commit_touching(self, path: str) -> CommitInfo | None:
        return self.inner.last_commit_touching(path)

    def commits_touching(self, path: str, since: str) -> list[CommitInfo]:
        return self.inner.commits_touching(path, since)

    def is_ancestor(self, sha: str) -> bool:
        return self.inner.is_ancestor(sha)

    def commits_between(self, older: str, newer: str) -> list[CommitInfo]:
        return self.inner.commits_between(older, newer)

    def revert(self, sha: str, message: str, trailers: dict[str, str]) -> WriteResult:
        if self._skip("revert", trailers.get(TRAILER_MODEL), reverts=sha):
            return WriteResult(changed=True, sha=None, url=None)
        return self.inner.revert(sha, message, trailers)


class ShadowRegistry:
    """MLflow: reads from the registry; a shadowed model's versions are not tagged."""

    def __init__(self, inner: ModelRegistry, shadow: Shadow) -> None:
        self.inner, self.shadow = inner, shadow
        self.would_tag: list[tuple[str, str, str, str]] = []

    def get_version(self, model: str, version: str) -> ModelVersion:
        return self.inner.get_version(model, version)

    def version_by_alias(self, model: str, alias: str) -> ModelVersion | None:
        return self.inner.version_by_alias(model, alias)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return self.inner.run_metrics(run_id)

    def set_version_tag(self, model: str, version: str, key: str, value: str) -> None:
        if self.shadow.on(model):
            self.would_tag.append((model, version, key, value))
            self.shadow.skipped(model)
            return
        self.inner.set_version_tag(model, version, key, value)

    def version_url(self, model: str, version: str) -> str | None:
        return self.inner.version_url(model, version)


class ShadowStore(StateStore):
    """The state store, with a shadowed model's decision records marked "would act"."""

    def __init__(self, inner: StateStore, shadow: Shadow) -> None:
        self.inner, self.shadow = inner, shadow
        self.skipped: list[tuple[str, str]] = []

    def _shadow_ledger(self, pk: str, sk: str) -> bool:
        return sk.startswith(LEDGER_DOCS) and self.shadow.on(_model_of(pk))

    def get(self, pk: str, sk: str = "#") -> Versioned | None:
        got = self.inner.get(pk, sk)
        if got is None or not self._shadow_ledger(pk, sk):
            return got
        # in shadow mode the model's cooldown and budget count its shadow runs, as if they had trained
        runs = [{k: v for k, v in r.items() if k != "shadow"} for r in got.data.get("runs", [])]
        return replace(got, data={**got.data, "runs": runs})

    def put(
        self, pk: str, sk: str, data: dict[str, Any], expected_version: int | None, expires_at: Any = None
    ) -> int:
        model = _model_of(pk)
        if sk.startswith(GUARD_DOCS) and self.shadow.on(model):
            # a blocklist or pause would stop the live flows of the model: a shadow decision leaves it be
            self.skipped.append((pk, sk))
            logger.info("shadow mode: guard not written", extra={"model": model, "document": sk})
            return (expected_version or 0) + 1
        if self._shadow_ledger(pk, sk):
            data = self._mark_shadow_runs(pk, sk, data)
        return self.inner.put(pk, sk, data, expected_version, expires_at)

    def _mark_shadow_runs(self, pk: str, sk: str, data: dict[str, Any]) -> dict[str, Any]:
        """Every run not trained for real is marked ``shadow``: live decisions leave it out (budget.py), so
        switching shadow off acts from the next event on, not after the cooldown of a run that never was."""
        stored = self.inner.get(pk, sk)  # the version check of the put catches a change in between
        live = {
            r.get("decision_id")
            for r in (stored.data if stored else {}).get("runs", [])
            if not r.get("shadow")
        }
        runs = [r if r.get("decision_id") in live else {**r, "shadow": True} for r in data.get("runs", [])]
        return {**data, "runs": runs}

    def put_with_creates(
        self, pk: str, sk: str, data: dict[str, Any], expected_version: int | None, creates: list[Create]
    ) -> int:
        return self.inner.put_with_creates(pk, sk, data, expected_version, creates)

    def record_decision(self, decision: Decision) -> None:
        if self.shadow.on(decision.model):
            decision = mark(decision)
            self.shadow.book.add(decision.decision_id)
        self.inner.record_decision(decision)

    def get_decision(self, decision_id: str) -> Decision | None:
        return self.inner.get_decision(decision_id)

    def decisions_for(self, model: str, limit: int = 20) -> list[Decision]:
        return self.inner.decisions_for(model, limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _model_of(pk: str) -> str | None:
    return pk.removeprefix("MODEL#") if pk.startswith("MODEL#") else None


def mark(decision: Decision) -> Decision:
    """The record of a decision made in shadow mode (idempotent)."""
    if decision.action.get("shadow"):
        return decision
    acted = decision.outcome is Outcome.ACTED
    first = SHADOW_REASON if acted else SHADOW_QUIET
    action = {"shadow": WOULD_ACT if acted else "decided", **decision.action}
    return decision.model_copy(update={"reasons": [first, *decision.reasons], "action": action})


def is_shadow(decision: Decision | None) -> bool:
    return bool(decision is not None and decision.action.get("shadow"))


def _names(model: str, text: str) -> bool:
    """Whether ``text`` names ``model`` as a whole name (``churn`` is not named by ``churn-eu``)."""
    return re.search(rf"(?<![a-z0-9._-]){re.escape(model)}(?![a-z0-9_-]|\.[a-z0-9])", text) is not None


class ShadowNotifier:
    """Slack: a notice about a shadow decision says so (the decision id in the message tells which)."""

    def __init__(self, inner: Notifier, shadow: Shadow, store: StateStore | None = None) -> None:
        self.inner, self.shadow, self.store = inner, shadow, store

    @property
    def threads(self) -> bool:
        return self.inner.threads

    def _shadowed(self, message: Message) -> bool:
        skipped = self.shadow.take_skipped()  # an action just not taken, for a flow that notifies first
        if skipped and _names(skipped, message.text):
            return True
        ids = set(_DECISION_ID.findall(message.text + repr(message.blocks)))
        if not ids:
            return False
        if any(i in self.shadow.book for i in ids):
            return True
        if self.store is None:
            return False
        return any(is_shadow(self.store.get_decision(i)) for i in sorted(ids))

    def _marked(self, message: Message) -> Message:
        if NOTICE_MARK in message.text or not self._shadowed(message):
            return message
        block = {"type": "context", "elements": [{"type": "mrkdwn", "text": NOTICE_MARK}]}
        return replace(message, text=f"{NOTICE_MARK}\n{message.text}", blocks=[block, *message.blocks])

    def post(self, message: Message) -> Posted:
        return self.inner.post(self._marked(message))

    def update(self, message: Message, ts: str) -> Posted:
        edit = getattr(self.inner, "update", None)
        if edit is None:
            return Posted(False, error="this notifier cannot edit messages")
        result: Posted = edit(self._marked(message), ts)
        return result


@dataclass
class Adapters:
    """A flow's adapters after :func:`wrap` (the given ones when no model is shadowed for the flow)."""

    store: Any
    submitter: Any = None
    notifier: Any = None
    repo: Any = None
    registry: Any = None


def any_shadow(cfg: GlueConfig, flow: str) -> bool:
    return any(m.shadowed(flow) for m in cfg.models.values())


def wrap(
    cfg: GlueConfig,
    flow: str,
    *,
    store: StateStore,
    submitter: Any = None,
    notifier: Any = None,
    repo: Any = None,
    registry: Any = None,
) -> Adapters:
    """The adapters of ``flow`` with shadow mode applied to the models that have it (see the module)."""
    if not any_shadow(cfg, flow):
        return Adapters(store, submitter, notifier, repo, registry)
    shadow = Shadow(cfg, flow)
    wrapped_store = ShadowStore(store, shadow)
    return Adapters(
        wrapped_store,
        None if submitter is None else ShadowSubmitter(submitter, shadow),
        None if notifier is None else ShadowNotifier(notifier, shadow, store),
        None if repo is None else ShadowRepo(repo, shadow),
        None if registry is None else ShadowRegistry(registry, shadow),
    )
