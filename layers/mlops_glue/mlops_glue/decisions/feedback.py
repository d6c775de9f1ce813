"""Deployment feedback: what to do about one Argo CD notification. Pure: no I/O.

The edge parses the body our ``argocd-notifications-cm`` template renders into an
:class:`~mlops_glue.events.ArgoCDNotification` (:func:`mlops_glue.events.parse_argocd_notification`), the
type these rules take; the service gathers the facts from Git and the state store (:class:`Deployment`,
:class:`History`) and :func:`decide` returns a :class:`FeedbackPlan`: the decision record plus the actions to take.

Policy per model and environment (``promote`` section of the model's configuration):

* deployed and healthy after our bump → "vN is live in ENV"; with ``auto_promote[ENV]`` the version is
  promoted to the next environment (never a blocked version, never while that environment is paused);
* sync failed or health degraded after our bump → alert; with ``auto_rollback`` our bump commit is
  reverted (a commit while it is still the latest change to the values file, else a pull request), and
  the version is blocked (MLflow tag + blocklist);
* a human revert or manual edit of a version we bumped → pause automation for the model and environment
  until a newer version is registered;
* anything else (an application or revision that is not ours) → a Slack notice at most, no action.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from mlops_glue.config import GlueConfig
from mlops_glue.events import (
    TRIGGERS,
    ArgoCDNotification,
    InvalidNotificationError,
    parse_argocd_notification,
)
from mlops_glue.names import InvalidNameError, canonical_version, is_newer
from mlops_glue.records import (
    TRAILER_DECISION_ID,
    TRAILER_ENVIRONMENT,
    TRAILER_MODEL,
    TRAILER_REVERTS,
    TRAILER_VERSION,
    CommitInfo,
    Decision,
    Kind,
    Outcome,
    make_decision_id,
)

# git object names (sha-1 or sha-256, abbreviated or not); anything else is not a commit of ours
_SHA = re.compile(r"^[0-9a-f]{7,64}$")
# "This reverts commit <sha>." — the message `git revert` and GitHub's revert button write
_REVERTS = re.compile(r"This reverts commit ([0-9a-f]{7,64})")

# the edge parses (mlops_glue.events); the name stays for the local demo's scenario
parse_notification = parse_argocd_notification


# ------------------------------------------------------------------------------ app → model/env


def app_ref(value: str, default_namespace: str) -> tuple[str, str]:
    """``namespace/name`` (or a bare ``name`` in ``default_namespace``) as (namespace, name)."""
    namespace, sep, name = value.partition("/")
    return (namespace, name) if sep else (default_namespace, value)


def app_target(config: GlueConfig, app: str, namespace: str | None = None) -> tuple[str, str] | None:
    """The (model, environment) an Argo CD application deploys, or None when it is not ours.

    An application is identified by its namespace and name (Argo CD's apps-in-any-namespace, or a
    second Argo CD, can hold an application of the same name elsewhere). ``namespace`` None means
    ``argocd.default_namespace``. An environment's explicit ``argocd_app`` (``namespace/name``, or a
    bare ``name`` in the default namespace) wins; otherwise the convention is ``<model>-<env>`` in the
    default namespace for a configured model and one of its environments (the declared ones, or the
    staging and production environment names when none are declared). The longest model name wins.
    """
    default_ns = config.argocd.default_namespace
    ns = namespace or default_ns
    for model, model_cfg in config.models.items():
        for env, e in model_cfg.promote.environments.items():
            if e.argocd_app and app_ref(e.argocd_app, default_ns) == (ns, app):
                return model, env
    if ns != default_ns:
        return None
    best: tuple[str, str] | None = None
    for model, model_cfg in config.models.items():
        if not app.startswith(model + "-"):
            continue
        env = app[len(model) + 1 :]
        envs = set(model_cfg.promote.environments) or {
            model_cfg.promote.staging_environment,
            model_cfg.promote.production_environment,
        }
        explicit = model_cfg.promote.environments.get(env)
        matches = env in envs and (
            explicit is None
            or explicit.argocd_app is None
            or app_ref(explicit.argocd_app, default_ns) == (ns, app)
        )
        if matches and (best is None or len(model) > len(best[0])):
            best = (model, env)
    return best


# ------------------------------------------------------------------------------ facts


def is_commit_id(revision: str) -> bool:
    return bool(_SHA.fullmatch(revision))


@dataclass(frozen=True)
class Bump:
    """One of our commits on a values file, read from its trailers."""

    sha: str
    version: str  # "" only on a rollback commit whose restored version was unknown when committing
    decision_id: str
    reverts: str | None = None  # set on our rollback commits

    @property
    def short(self) -> str:
        return self.sha[:8]


def our_bump(commit: CommitInfo | None, model: str, env: str) -> Bump | None:
    """The bump this commit made for ``model`` in ``env`` when it carries our trailers, else None."""
    if commit is None:
        return None
    t = commit.trailers
    if t.get(TRAILER_MODEL) != model or t.get(TRAILER_ENVIRONMENT) != env or not t.get(TRAILER_DECISION_ID):
        return None
    reverts = t.get(TRAILER_REVERTS) or None
    raw = t.get(TRAILER_VERSION, "")
    if not raw and reverts:
        return Bump(commit.sha, "", t[TRAILER_DECISION_ID], reverts)  # a rollback: version read from the file
    try:
        version = canonical_version(raw)  # "012" in a trailer is nobody's bump of 12
    except InvalidNameError:
        return None
    return Bump(commit.sha, version, t[TRAILER_DECISION_ID], reverts)


def is_ours(commit: CommitInfo) -> bool:
    """Whether ``commit`` was written by mlops-glue (any model or environment: it carries our trailers)."""
    return bool(commit.trailers.get(TRAILER_DECISION_ID))


def reverted_sha(commit: CommitInfo) -> str | None:
    """The commit a ``git revert`` (or GitHub's revert button) undid, from its message."""
    m = _REVERTS.search(commit.message)
    return m.group(1) if m else None


@dataclass(frozen=True)
class Deployment:
    """What Git says about the synced revision and the application's values file."""

    path: str
    synced: CommitInfo | None  # the commit at the synced revision; None: not in the GitOps repository
    change: CommitInfo | None  # the newest change to the values file at or below the synced revision
    later: tuple[CommitInfo, ...] = ()  # changes to the file after the synced revision, oldest first
    head_version: str | None = None  # the version the values file holds at the branch head
    previous_version: str | None = None  # the version before our bump (for a rollback pull request)
    on_branch: bool = True  # the synced revision is reachable from the configured branch's head
    # commits after ``change`` up to and including the synced revision (any file), oldest first: what
    # else this sync deployed besides the change to the values file
    deployed_after: tuple[CommitInfo, ...] = ()


@dataclass(frozen=True)
class History:
    """What the state store says about the model and environment."""

    blocked: frozenset[str] = frozenset()
    paused: dict[str, Any] | None = None  # the pause in force for this environment
    next_paused: dict[str, Any] | None = None  # the pause in force for the auto_promote target
    last_ours: Bump | None = None  # our newest bump of this environment recorded in the decision log


# ------------------------------------------------------------------------------ the plan


class Signal(StrEnum):
    HEALTHY = "healthy"  # synced and healthy
    PROGRESSING = "progressing"  # synced, health not settled yet
    BAD = "bad"  # sync failed or health degraded


class FeedbackNotice(StrEnum):
    """Which Slack message the service posts."""

    NONE = "none"
    LIVE = "live"
    ALERT = "alert"
    ROLLED_BACK = "rolled_back"
    PAUSED = "paused"
    FOREIGN = "foreign"


@dataclass(frozen=True)
class FeedbackPlan:
    decision: Decision
    notice: FeedbackNotice
    bump: Bump | None = None
    revert: Literal["commit", "pull_request"] | None = None
    restore_version: str | None = None  # for a rollback pull request
    block: str | None = None  # version to block (MLflow tag + blocklist)
    pause_until_newer_than: str | None = None
    promote_to: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


PlanFn = Callable[..., FeedbackPlan]


def signal(n: ArgoCDNotification) -> Signal:
    """What the notification says about the deployment."""
    if n.trigger == "on-sync-failed" or n.sync_phase in ("Failed", "Error"):
        return Signal.BAD
    if n.trigger == "on-health-degraded" or n.health_status == "Degraded":
        return Signal.BAD
    if n.health_status == "Healthy" and n.sync_phase in ("Succeeded", ""):
        return Signal.HEALTHY
    return Signal.PROGRESSING


def decision_id_for(n: ArgoCDNotification, sig: Signal) -> str:
    """Stable per application, revision and outcome: on-deployed and a healthy on-sync-succeeded share
    one id (one "live" notice, one promotion), on-sync-failed and on-health-degraded share one (one
    rollback); anything else is per trigger."""
    if sig is Signal.HEALTHY:
        return make_decision_id("argocd-live", n.app_id, n.synced_revision)
    if sig is Signal.BAD:
        return make_decision_id("argocd-bad", n.app_id, n.synced_revision)
    return make_decision_id("argocd", n.app_id, n.synced_revision, n.trigger)


def _evidence(n: ArgoCDNotification) -> dict[str, Any]:
    return {
        "notification": n.model_dump(mode="json", by_alias=True),
        "app": n.app_id,
        "revision": n.synced_revision,
        "trigger": n.trigger,
        "sync_phase": n.sync_phase,
        "sync_message": n.sync_message[:500],
        "health": n.health_status,
    }


def _what(n: ArgoCDNotification) -> str:
    if n.trigger == "on-sync-failed" or n.sync_phase in ("Failed", "Error"):
        msg = f": {n.sync_message[:200]}" if n.sync_message else ""
        return f"sync {n.sync_phase or 'failed'}{msg}"
    if n.health_status == "Degraded" or n.trigger == "on-health-degraded":
        return "health Degraded"
    return f"sync {n.sync_phase or 'unknown'}, health {n.health_status or 'unknown'}"


def unknown_app(config: GlueConfig, n: ArgoCDNotification, now: datetime) -> FeedbackPlan:
    """An application no model maps to: a notice at most (``argocd.notify_unknown_apps``)."""
    d = Decision(
        decision_id=make_decision_id("argocd", n.app_id, n.synced_revision, n.trigger),
        model="-",
        kind=Kind.NOTIFY_ONLY,
        outcome=Outcome.IGNORED,
        reasons=[f"application {n.app_id} is not mapped to a configured model and environment"],
        evidence=_evidence(n),
        inputs=[n.identity],
        config_hash=config.hash(),
        created_at=now,
    )
    notify = config.argocd.notify_unknown_apps
    return FeedbackPlan(d, FeedbackNotice.FOREIGN if notify else FeedbackNotice.NONE)


def decide(
    config: GlueConfig,
    n: ArgoCDNotification,
    model: str,
    env: str,
    dep: Deployment,
    hist: History,
    now: datetime,
) -> FeedbackPlan:
    """The plan for one notification of an application we map to ``model`` in ``env``."""
    model_cfg = config.model(model)
    sig = signal(n)
    base: dict[str, Any] = {
        "decision_id": decision_id_for(n, sig),
        "model": model,
        "environment": env,
        "evidence": {**_evidence(n), "values_file": dep.path},
        "inputs": [n.identity],
        "config_hash": config.hash(),
        "created_at": now,
    }
    notify_foreign = model_cfg.notify.notify_foreign

    def plan(
        kind: Kind, outcome: Outcome, reasons: list[str], notice: FeedbackNotice, **kw: Any
    ) -> FeedbackPlan:
        return FeedbackPlan(Decision(kind=kind, outcome=outcome, reasons=reasons, **base), notice, **kw)

    def foreign(reason: str) -> FeedbackPlan:
        alert = sig is Signal.BAD
        notice = (
            FeedbackNotice.ALERT
            if alert
            else (FeedbackNotice.FOREIGN if notify_foreign else FeedbackNotice.NONE)
        )
        return plan(Kind.NOTIFY_ONLY, Outcome.IGNORED, [reason, "no automatic action"], notice)

    if sig is Signal.PROGRESSING:
        return plan(
            Kind.NOTIFY_ONLY,
            Outcome.IGNORED,
            [f"{n.trigger}: {_what(n)}; waiting for on-deployed or on-health-degraded"],
            FeedbackNotice.NONE,
        )
    if not is_commit_id(n.synced_revision):
        return foreign(f"revision {n.synced_revision!r} is not a git commit of the GitOps repository")
    if dep.synced is None:
        return foreign(f"revision {n.synced_revision[:12]} was not found in the GitOps repository")
    if not dep.on_branch:
        branch = config.gitops.branch if config.gitops else "the configured branch"
        return foreign(
            f"revision {n.synced_revision[:12]} is not reachable from the head of {branch} "
            "(an unmerged branch or pull request?): not acting on it"
        )

    bump = our_bump(dep.change, model, env)
    if bump is not None and not bump.version and not dep.later and dep.head_version:
        bump = replace(bump, version=dep.head_version)
    later_ours = [b for b in (our_bump(c, model, env) for c in dep.later) if b is not None]
    later_human = [c for c in dep.later if our_bump(c, model, env) is None]

    # a human changed the version we bumped (revert or manual edit): stop fighting them
    override = _human_override(dep, bump, hist, later_human, later_ours)
    if override is not None:
        reason, until = override
        if hist.paused is not None and hist.paused.get("until_newer_than") == until:
            return plan(
                Kind.NOTIFY_ONLY,
                Outcome.IGNORED,
                [
                    reason,
                    f"automation already paused for {model} in {env} until a version newer than v{until}",
                ],
                FeedbackNotice.NONE,
            )
        return plan(
            Kind.NOTIFY_ONLY,
            Outcome.ACTED,
            [
                reason,
                f"automation paused for {model} in {env} until a version newer than v{until} is registered",
            ],
            FeedbackNotice.PAUSED,
            pause_until_newer_than=until,
        )

    if bump is None:
        if dep.change is None:
            return foreign(
                f"{dep.path} changed after revision {n.synced_revision[:8]}: the notification is stale"
                if dep.later
                else f"{dep.path} has no commit at or below revision {n.synced_revision[:8]}"
            )
        return foreign(
            f"the deployed change to {dep.path} ({dep.change.sha[:8]} by {dep.change.author}) "
            "is not a bump of ours"
        )
    base["evidence"] = {
        **base["evidence"],
        "bump_commit": bump.sha,
        "bump_decision": bump.decision_id,
        "version": bump.version,
    }
    if later_ours:
        newest = later_ours[-1]
        reason = (
            f"v{bump.version} ({bump.short}) was superseded by our v{newest.version} ({newest.short})"
            if newest.reverts != bump.sha
            else f"v{bump.version} ({bump.short}) was already rolled back by {newest.short}"
        )
        notice = (
            FeedbackNotice.ALERT if sig is Signal.BAD and newest.reverts != bump.sha else FeedbackNotice.NONE
        )
        return plan(Kind.NOTIFY_ONLY, Outcome.IGNORED, [reason, "no automatic action"], notice, bump=bump)

    if sig is Signal.HEALTHY:
        return _healthy(config, model, env, bump, hist, plan)
    return _bad(config, n, model, env, bump, dep, later_human, plan)


def _newest(a: str, b: str | None) -> str:
    """The newer of two MLflow versions, by number; ``a`` (ours) when ``b`` is no canonical version."""
    if b is None:
        return a
    try:
        return canonical_version(b) if is_newer(b, a) else a
    except InvalidNameError:
        try:
            return a if a else canonical_version(b)
        except InvalidNameError:
            return a


def _human_override(
    dep: Deployment, bump: Bump | None, hist: History, later_human: list[CommitInfo], later_ours: list[Bump]
) -> tuple[str, str] | None:
    """(reason, pause-until-newer-than) when a human reverted or changed the version of one of our bumps."""
    head = dep.head_version
    if later_ours:
        return None  # we bumped again since: the newest change is ours
    if bump is not None:
        # our bump was deployed; did a human undo or change it since?
        ours, humans = bump, later_human
    else:
        # the deployed change is a human's; was it made over one of our bumps?
        if hist.last_ours is None or dep.change is None:
            return None
        ours, humans = hist.last_ours, [dep.change, *later_human]
    if not humans:
        return None
    for c in humans:
        undone = reverted_sha(c)
        if undone is not None and ours.sha.startswith(undone):
            return (
                f"{c.author} reverted our bump to v{ours.version} ({c.sha[:8]})",
                _newest(ours.version, head),
            )
    if head is not None and head != ours.version:
        c = humans[-1]
        return (
            f"{c.author} changed the version from our v{ours.version} to v{head} ({c.sha[:8]})",
            _newest(ours.version, head),
        )
    return None


def _healthy(
    config: GlueConfig, model: str, env: str, bump: Bump, hist: History, plan: PlanFn
) -> FeedbackPlan:
    model_cfg = config.model(model)
    live = f"v{bump.version} is live in {env} ({bump.short})"
    if bump.reverts:
        return plan(
            Kind.NOTIFY_ONLY,
            Outcome.ACTED,
            [live, "a rollback: no promotion"],
            FeedbackNotice.LIVE,
            bump=bump,
        )
    nxt = model_cfg.promote.auto_promote.get(env)
    if not nxt:
        return plan(Kind.NOTIFY_ONLY, Outcome.ACTED, [live], FeedbackNotice.LIVE, bump=bump)
    if bump.version in hist.blocked:
        return plan(
            Kind.NOTIFY_ONLY,
            Outcome.ACTED,
            [live, f"v{bump.version} is blocked: not promoted to {nxt}"],
            FeedbackNotice.LIVE,
            bump=bump,
        )
    if hist.paused is not None or hist.next_paused is not None:
        where = env if hist.paused is not None else nxt
        return plan(
            Kind.NOTIFY_ONLY,
            Outcome.ACTED,
            [live, f"automation is paused for {model} in {where}: not promoted to {nxt}"],
            FeedbackNotice.LIVE,
            bump=bump,
        )
    return plan(
        Kind.NOTIFY_ONLY,
        Outcome.ACTED,
        [live, f"auto_promote: {env} → {nxt}"],
        FeedbackNotice.LIVE,
        bump=bump,
        promote_to=nxt,
    )


def _bad(
    config: GlueConfig,
    n: ArgoCDNotification,
    model: str,
    env: str,
    bump: Bump,
    dep: Deployment,
    later_human: list[CommitInfo],
    plan: PlanFn,
) -> FeedbackPlan:
    model_cfg = config.model(model)
    what = f"{n.trigger}: {_what(n)} after our bump to v{bump.version} ({bump.short})"
    if bump.reverts:
        return plan(
            Kind.ROLLBACK,
            Outcome.DEFERRED,
            [what, "the failing change is our own rollback: not reverting a revert; needs a human"],
            FeedbackNotice.ALERT,
            bump=bump,
        )
    if not model_cfg.promote.auto_rollback:
        return plan(
            Kind.ROLLBACK, Outcome.DEFERRED, [what, "auto_rollback is off"], FeedbackNotice.ALERT, bump=bump
        )
    humans = [c for c in dep.deployed_after if not is_ours(c)]
    if humans:
        c = humans[-1]
        return plan(
            Kind.ROLLBACK,
            Outcome.DEFERRED,
            [
                f"{n.trigger}: {_what(n)} at {n.synced_revision[:8]}",
                f"the sync also deployed {c.sha[:8]} by {c.author}, a later change than our bump to "
                f"v{bump.version} ({bump.short}): not reverting or blocking our bump; needs a human",
            ],
            FeedbackNotice.ALERT,
            bump=bump,
        )
    if not later_human:
        return plan(
            Kind.ROLLBACK,
            Outcome.ACTED,
            [what, f"our bump is the latest change to {dep.path}: reverting it"],
            FeedbackNotice.ROLLED_BACK,
            bump=bump,
            revert="commit",
            block=bump.version,
        )
    if dep.previous_version is None:
        return plan(
            Kind.ROLLBACK,
            Outcome.DEFERRED,
            [
                what,
                f"{dep.path} changed after our bump ({later_human[-1].sha[:8]}) and the version before "
                f"v{bump.version} is unknown: revert {bump.short} by hand",
            ],
            FeedbackNotice.ALERT,
            bump=bump,
            block=bump.version,
        )
    return plan(
        Kind.ROLLBACK,
        Outcome.ACTED,
        [
            what,
            f"{dep.path} changed after our bump ({later_human[-1].sha[:8]}): "
            f"opening a pull request back to v{dep.previous_version}",
        ],
        FeedbackNotice.ROLLED_BACK,
        bump=bump,
        revert="pull_request",
        restore_version=dep.previous_version,
        block=bump.version,
    )


__all__ = [
    "TRIGGERS",
    "ArgoCDNotification",
    "Bump",
    "Deployment",
    "FeedbackNotice",
    "FeedbackPlan",
    "History",
    "InvalidNotificationError",
    "Signal",
    "app_target",
    "decide",
    "parse_notification",
    "unknown_app",
]
