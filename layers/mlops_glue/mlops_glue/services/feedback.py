"""Deployment feedback: an Argo CD notification → facts from Git and state → plan → act → Slack.

The pure policy lives in :mod:`mlops_glue.decisions.feedback`; this service does the I/O around it:

1. the application → (model, environment) and its values file;
2. the synced revision → on the configured branch? (an unmerged branch never acts) → the change it
   deployed (the revision itself when it touched the values file, else the newest change to the file
   when nothing changed it since) and whatever else the sync deployed after it → our bump via its
   trailers;
3. the blocklist, pauses and our last bump from the state store;
4. the plan's actions: pause, block (state, then the MLflow tag, then closing the version's open
   promotion pull requests in every environment), ``git revert`` of our bump (or a pull request back
   to the previous version), promotion to the next environment through the promotion service; then
   one Slack message. The decision is recorded in every case.

Repeats are harmless: each plan has a stable decision id (one per application, revision and outcome),
and an action is taken under a claim on that id in the state store, so on-sync-failed and
on-health-degraded for one revision revert once, and a replay a day later finds the recorded decision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mlops_glue import guards
from mlops_glue.adapters.gitops import GitOpsConflictError, GitOpsRepo
from mlops_glue.adapters.registry import ModelRegistry
from mlops_glue.adapters.slack import Message, Notifier, Posted
from mlops_glue.adapters.state import StateError, StateStore
from mlops_glue.claims import claim, claim_status, release
from mlops_glue.config import GlueConfig
from mlops_glue.decisions import feedback as policy
from mlops_glue.decisions.feedback import (
    Bump,
    Deployment,
    FeedbackNotice,
    FeedbackPlan,
    History,
)
from mlops_glue.documents import ClaimStatus
from mlops_glue.errors import RetryableError
from mlops_glue.events import ArgoCDNotification
from mlops_glue.keys import claim_key
from mlops_glue.outbox import post_or_keep
from mlops_glue.records import CommitInfo, Decision, Kind, Outcome, bump_trailers, make_decision_id, utcnow
from mlops_glue.replay.recorder import NULL_RECORDER, EventRecorder
from mlops_glue.services import feedback_messages as messages
from mlops_glue.services.gitops_change import held_version, plan_change
from mlops_glue.services.promotion import close_blocked_promotions

logger = logging.getLogger(__name__)

# a claim older than this is considered abandoned (a Lambda that timed out): the next delivery takes over
CLAIM_TTL = timedelta(minutes=5)


class FeedbackInProgressError(RetryableError):
    """Another delivery of the same notification is being handled right now (retry later)."""


class FeedbackActionError(RetryableError):
    """An action failed (Git, state store, promotion); the decision is recorded as failed, retry later."""


class Promoter(Protocol):
    def promote(
        self,
        model: str,
        version: str,
        env: str,
        *,
        reason: str,
        inputs: list[str],
        decision_id: str | None = None,
    ) -> Decision:
        """Promote ``version`` of ``model`` to ``env`` (honours the blocklist and pauses); a
        :class:`~mlops_glue.errors.RetryableError` when GitOps, MLflow or the state store is down."""
        ...


@dataclass(frozen=True)
class FeedbackResult:
    decision: Decision
    duplicate: bool = False

    def body(self) -> dict[str, Any]:
        """The JSON answer of the Function URL."""
        d = self.decision
        return {
            "decision_id": d.decision_id,
            "kind": d.kind.value,
            "outcome": d.outcome.value,
            "model": d.model,
            "environment": d.environment,
            "reasons": d.reasons,
            "action": d.action,
            "duplicate": self.duplicate,
        }


class FeedbackService:
    """Handles one validated Argo CD notification (see the module docstring)."""

    recorder: EventRecorder = NULL_RECORDER  # what replay needs of each notification (runtime wires it)

    def __init__(
        self,
        config: GlueConfig,
        store: StateStore,
        repo: GitOpsRepo,
        registry: ModelRegistry,
        notifier: Notifier,
        promoter: Promoter | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._owners: dict[str, str] = {}  # decision id -> the token of the claim held for it
        self.config = config
        self.store = store
        self.repo = repo
        self.registry = registry
        self.notifier = notifier
        self.promoter = promoter
        self.now = now

    # ------------------------------------------------------------------ entry point
    def handle(self, n: ArgoCDNotification) -> FeedbackResult:
        """Decide and act on ``n`` once; a repeat returns the recorded decision (``duplicate``)."""
        target = policy.app_target(self.config, n.app, n.namespace)
        if target is None:
            return self._run(policy.unknown_app(self.config, n, self.now()), n, None, None, None)
        model, env = target
        did = policy.decision_id_for(n, policy.signal(n))
        prior = self._prior(did)
        if prior is not None:
            return FeedbackResult(prior, duplicate=True)
        try:
            dep = self._deployment(model, env, n)
            hist = self._history(model, env, dep)
        except Exception as exc:  # Git or the state store unreachable: keep the notification, retry later
            self._record_quietly(
                Decision(
                    decision_id=did,
                    model=model,
                    environment=env,
                    kind=Kind.NOTIFY_ONLY,
                    outcome=Outcome.FAILED,
                    reasons=[f"reading Git and state failed: {type(exc).__name__}: {str(exc)[:300]}"],
                    evidence={"notification": n.model_dump(mode="json", by_alias=True)},
                    inputs=[n.identity],
                    config_hash=self.config.hash(),
                    created_at=self.now(),
                )
            )
            raise FeedbackActionError(f"{n.identity}: {type(exc).__name__}: {exc}") from exc
        self.recorder.notification(n, model, env, dep, hist.last_ours, self.now())
        plan = policy.decide(self.config, n, model, env, dep, hist, self.now())
        return self._run(plan, n, model, env, dep)

    # ------------------------------------------------------------------ facts
    def _deployment(self, model: str, env: str, n: ArgoCDNotification) -> Deployment:
        path = self.config.values_file(model, env)
        rev = n.synced_revision
        if not policy.is_commit_id(rev):
            return Deployment(path, None, None)
        synced = self.repo.get_commit(rev)
        if synced is None:
            return Deployment(path, None, None)
        later = tuple(self.repo.commits_touching(path, since=synced.sha))
        change: CommitInfo | None
        if path in synced.files:
            change = synced
        elif not later:
            change = self.repo.last_commit_touching(path)
        else:
            change = None  # the file moved on since: the change at the revision is not the head's
        head_version = held_version(self.repo, self.config, model, env, self.store).version
        ours = policy.our_bump(change, model, env)
        previous = self._previous_version(ours) if ours is not None else None
        on_branch = self.repo.is_ancestor(synced.sha)
        deployed_after: tuple[CommitInfo, ...] = ()
        if change is not None and change.sha != synced.sha and on_branch:
            deployed_after = tuple(self.repo.commits_between(change.sha, synced.sha))
        return Deployment(path, synced, change, later, head_version, previous, on_branch, deployed_after)

    def _previous_version(self, bump: Bump) -> str | None:
        """The version before our bump, as ``PromotionService.promote`` recorded it in the bump's decision."""
        d = self.store.get_decision(bump.decision_id)
        value = d.evidence.get("previous_version") if d is not None else None
        if isinstance(value, str | int) and str(value) and str(value) != bump.version:
            return str(value)
        return None

    def _history(self, model: str, env: str, dep: Deployment) -> History:
        ours = policy.our_bump(dep.change, model, env)
        version = ours.version if ours is not None and ours.version else None
        nxt = self.config.model(model).promote.auto_promote.get(env)
        return History(
            blocked=frozenset(guards.blocked_versions(self.store, model)),
            paused=guards.active_pause(self.store, model, env, version),
            next_paused=guards.active_pause(self.store, model, nxt, version) if nxt else None,
            last_ours=self._last_ours(model, env),
        )

    def _last_ours(self, model: str, env: str) -> Bump | None:
        """Our newest bump (promotion or rollback) of ``model`` in ``env``, from the decision log."""
        for d in self.store.decisions_for(model, limit=50):
            if d.environment != env or d.outcome != Outcome.ACTED:
                continue
            if d.kind not in (Kind.PROMOTE, Kind.ROLLBACK):
                continue
            sha = d.action.get("commit")  # what PromotionService.promote and _revert record
            if not sha or not policy.is_commit_id(sha):
                continue
            bump = policy.our_bump(self.repo.get_commit(sha), model, env)
            if bump is not None:
                return bump
        return None

    # ------------------------------------------------------------------ claims
    def _claim_key(self, decision_id: str) -> tuple[str, str]:
        return claim_key(decision_id)

    def _prior(self, decision_id: str) -> Decision | None:
        prior = self.store.get_decision(decision_id)
        if prior is not None and prior.outcome != Outcome.FAILED:
            return prior
        return None

    def _claim(self, decision_id: str) -> bool:
        """Take the right to act for ``decision_id`` (False: done or being done by someone else).

        A claim on the state store rather than Powertools idempotency: the identity here is the action
        (shared by two triggers) and it must outlive the idempotency window.
        """
        owner = claim(self.store, self._claim_key(decision_id), CLAIM_TTL, self.now())
        if owner is not None:
            self._owners[decision_id] = owner
        return owner is not None

    def _claim_status(self, decision_id: str) -> str | None:
        return claim_status(self.store, self._claim_key(decision_id))

    def _release(self, decision_id: str, status: ClaimStatus) -> None:
        owner = self._owners.pop(decision_id, None)
        release(self.store, self._claim_key(decision_id), status, self.now(), owner)

    # ------------------------------------------------------------------ act
    def _run(
        self,
        plan: FeedbackPlan,
        n: ArgoCDNotification,
        model: str | None,
        env: str | None,
        dep: Deployment | None,
    ) -> FeedbackResult:
        did = plan.decision.decision_id
        prior = self._prior(did)
        if prior is not None:
            return FeedbackResult(prior, duplicate=True)
        if not self._claim(did):
            prior = self._prior(did)
            if prior is None and self._claim_status(did) == "done":
                prior = self.store.get_decision(did)  # done means done, whatever its outcome: never 503
            if prior is not None:
                return FeedbackResult(prior, duplicate=True)
            raise FeedbackInProgressError(f"{n.identity} is being handled by another delivery")
        try:
            decision = self._act(plan, n, model, env, dep)
        except Exception as exc:
            failed = plan.decision.model_copy(
                update={
                    "outcome": Outcome.FAILED,
                    "reasons": [*plan.decision.reasons, f"failed: {type(exc).__name__}: {str(exc)[:300]}"],
                }
            )
            self._record_quietly(failed)
            self._release(did, "failed")
            raise FeedbackActionError(f"{n.identity}: {type(exc).__name__}: {exc}") from exc
        self.store.record_decision(decision)
        # a failed outcome (a revert that did not apply) leaves the claim open to the next delivery:
        # it plans again on what Git holds then, so the rollback is retried, never silently dropped
        self._release(did, "failed" if decision.outcome is Outcome.FAILED else "done")
        logger.info("argocd feedback: %s", decision.summary(), extra={"decision_id": did})
        return FeedbackResult(decision)

    def _record_quietly(self, decision: Decision) -> None:
        try:
            self.store.record_decision(decision)
        except Exception as exc:  # the original failure is the one to report
            logger.warning("could not record failed decision %s: %s", decision.decision_id, exc)

    def _act(
        self,
        plan: FeedbackPlan,
        n: ArgoCDNotification,
        model: str | None,
        env: str | None,
        dep: Deployment | None,
    ) -> Decision:
        d = plan.decision
        action: dict[str, str] = {}
        evidence: dict[str, Any] = dict(d.evidence)
        reasons = list(d.reasons)
        outcome = d.outcome
        notes: list[str] = []
        now = self.now()
        model_cfg = self.config.models.get(model) if model else None
        channel = (model_cfg.notify.slack_channel if model_cfg else None) or self.config.slack.default_channel
        oncall = model_cfg.notify.oncall if model_cfg else None

        if model:
            self._guard(plan, model, env, now, action)
        restored: str | None = None
        revert_text = ""
        if model and env and dep and plan.bump:
            restored, revert_text, ok = self._roll_back(plan, model, env, dep, action)
            if not ok:
                outcome = Outcome.FAILED
                reasons.append(revert_text)

        if model and plan.block:
            # PRs first: the MLflow tag comes back as a webhook that closes them too (whoever is first)
            notes += self._close_promotions(model, plan.block, d.reasons[0], action, evidence)
            notes += self._tag_blocked(model, plan.block, d.reasons[0], evidence)

        promotion: str | None = None
        if model and plan.promote_to and plan.bump:
            promotion = self._promote(plan, n, model, action)

        if restored:
            evidence["restored_version"] = restored
        decision = d.model_copy(
            update={"action": action, "evidence": evidence, "reasons": reasons, "outcome": outcome}
        )
        commit_url = dep.change.url if dep is not None and dep.change is not None else None
        msg = self._message(
            plan,
            decision,
            n,
            (model, env),
            (channel, oncall),
            restored,
            revert_text,
            notes,
            promotion,
            commit_url,
        )
        if msg is not None:
            self._post(model if model_cfg else None, msg, decision)
        return decision

    def _guard(
        self, plan: FeedbackPlan, model: str, env: str | None, now: datetime, action: dict[str, str]
    ) -> None:
        """Pause the environment, blocklist the version: what the plan asks, before anything is reverted."""
        reason = plan.decision.reasons[0]
        if env and plan.pause_until_newer_than:
            guards.pause(self.store, model, env, reason, plan.pause_until_newer_than)
            action["pause"] = f"{model}/{env} until newer than v{plan.pause_until_newer_than}"
        if plan.block:
            guards.block_version(self.store, model, plan.block, reason, now)
            action["blocked"] = plan.block

    def _roll_back(
        self, plan: FeedbackPlan, model: str, env: str, dep: Deployment, action: dict[str, str]
    ) -> tuple[str | None, str, bool]:
        """Revert our bump (a commit, or a pull request restoring the previous version): (restored
        version, what was done, False when a revert commit did not apply)."""
        if plan.revert == "commit":
            return self._revert(plan, model, env, dep, action)
        if plan.revert == "pull_request" and plan.restore_version:
            return plan.restore_version, self._revert_pr(plan, model, env, dep, action), True
        return None, "", True

    def _post(self, model: str | None, msg: Message, decision: Decision) -> None:
        """Post; a failure is noted in the evidence and the alert waits in the model's outbox for the sweep."""
        if not model:  # not a configured model: the sweep would never resend it; the evidence is all
            posted = self.notifier.post(msg)
        else:
            try:
                posted = post_or_keep(self.notifier, self.store, model, msg)
                if not posted.ok:
                    decision.evidence["slack_kept"] = True
            except StateError as exc:
                logger.error("Slack alert for %s lost (store down): %s", decision.decision_id, exc)
                posted = Posted(False, error=f"not posted, not kept: {exc}")
        if not posted.ok:
            decision.evidence["slack_error"] = posted.error or "unknown"

    def _revert(
        self, plan: FeedbackPlan, model: str, env: str, dep: Deployment, action: dict[str, str]
    ) -> tuple[str | None, str, bool]:
        """``git revert`` our bump: (restored version, what happened, ok)."""
        assert plan.bump is not None
        bump, d = plan.bump, plan.decision
        message = (
            f"Roll back {model} v{bump.version} in {env}\n\n{d.reasons[0]}\n\nThis reverts commit {bump.sha}."
        )
        trailers = bump_trailers(d.decision_id, model, env, dep.previous_version, reverts=bump.sha)
        try:
            res = self.repo.revert(bump.sha, message, trailers)
        except GitOpsConflictError as exc:
            return None, f"the revert of {bump.short} did not apply ({exc}); revert it by hand", False
        restored = held_version(self.repo, self.config, model, env, self.store).version
        if res.sha:
            action["commit"] = res.sha
        if res.url:
            action["url"] = res.url
        what = (
            f"reverted {bump.short} in {res.sha[:8] if res.sha else '?'}"
            if res.changed
            else "already reverted"
        )
        return restored, what, True

    def _revert_pr(
        self, plan: FeedbackPlan, model: str, env: str, dep: Deployment, action: dict[str, str]
    ) -> str:
        assert plan.bump is not None and plan.restore_version is not None
        bump, d = plan.bump, plan.decision
        branch = f"mlops-glue/rollback/{model}/{env}/v{bump.version}-{bump.sha[:10]}"
        title = f"Roll back {model} v{bump.version} → v{plan.restore_version} in {env}"
        body = "\n".join(
            [*d.reasons, "", f"Reverts the version change of {bump.sha}.", f"Decision: {d.decision_id}"]
        )
        pr = self.repo.open_pull_request(
            plan_change(
                self.config, model, env, self.registry.get_version(model, plan.restore_version)
            ).edits(),
            branch,
            title,
            body,
            bump_trailers(d.decision_id, model, env, plan.restore_version, reverts=bump.sha),
        )
        if pr is None:
            return f"{dep.path} already holds v{plan.restore_version}"
        action["pull_request"] = pr.url
        action["branch"] = pr.branch
        return f"opened {pr.url}" if not pr.reused else f"pull request already open: {pr.url}"

    def _tag_blocked(self, model: str, version: str, reason: str, evidence: dict[str, Any]) -> list[str]:
        """Tag the version in the registry; a failure is recorded and said, never raised (the blocklist holds)."""
        try:
            self.registry.set_version_tag(model, version, "blocked", "true")
            self.registry.set_version_tag(model, version, "blocked_reason", reason[:250])
        except Exception as exc:
            evidence["registry_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            return [f"could not tag v{version} blocked in MLflow ({type(exc).__name__}); the blocklist holds"]
        return []

    def _close_promotions(
        self, model: str, version: str, reason: str, action: dict[str, str], evidence: dict[str, Any]
    ) -> list[str]:
        """Close the blocked version's open promotion PRs (every environment); a failure is said, not raised.

        Not raised because the rollback itself is done and must not be retried for this; the notice
        tells people to close them by hand (the blocklist stops automation, not a human merge).
        """
        try:
            closed = close_blocked_promotions(self.config, self.repo, model, version, reason)
        except Exception as exc:
            evidence["close_pull_requests_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            return [
                f"could not close the open promotion PRs of v{version} ({type(exc).__name__}): "
                "close them by hand"
            ]
        if not closed:
            return []
        action["closed_pull_requests"] = ", ".join(closed)
        return [f"closed the open promotion PR of v{version}: {x}" for x in closed]

    def _promote(self, plan: FeedbackPlan, n: ArgoCDNotification, model: str, action: dict[str, str]) -> str:
        assert plan.bump is not None and plan.promote_to is not None
        if self.promoter is None:
            return f"auto_promote to {plan.promote_to} is configured but no promotion service is wired"
        version, nxt = plan.bump.version, plan.promote_to
        try:
            promoted = self.promoter.promote(
                model,
                version,
                nxt,
                reason=f"v{version} is live and healthy in {plan.decision.environment} (auto_promote)",
                inputs=[n.identity, f"decision:{plan.decision.decision_id}"],
                decision_id=make_decision_id(Kind.PROMOTE.value, "auto", model, version, nxt),
            )
        except RetryableError as exc:
            # GitOps, registry or state store down: fail this notification so it is retried;
            # recording "live" as acted would lose the promotion for good
            why = str(exc) or "no reason recorded"
            raise FeedbackActionError(f"auto_promote of v{version} to {nxt} failed, retry: {why}") from exc
        action["promotion_decision"] = promoted.decision_id
        for k, v in promoted.action.items():
            action[f"promotion_{k}"] = v
        summary = f"promotion to {nxt}: {promoted.outcome.value}"
        link = promoted.action.get("pull_request") or promoted.action.get("url")
        return f"{summary} ({link})" if link else f"{summary} — {'; '.join(promoted.reasons[-1:])}"

    def _message(
        self,
        plan: FeedbackPlan,
        d: Decision,
        n: ArgoCDNotification,
        target: tuple[str | None, str | None],
        where: tuple[str | None, str | None],
        restored: str | None,
        revert_text: str,
        notes: list[str],
        promotion: str | None,
        commit_url: str | None,
    ) -> Message | None:
        model, env = target
        channel, oncall = where
        if plan.notice is FeedbackNotice.NONE:
            return None
        if plan.notice is FeedbackNotice.FOREIGN:
            return messages.foreign(d, n, channel)
        if plan.notice is FeedbackNotice.LIVE and plan.bump and model and env:
            return messages.live(model, env, plan.bump, commit_url, d, n, channel, promotion)
        if plan.notice is FeedbackNotice.ROLLED_BACK and plan.bump and model and env:
            if d.outcome is Outcome.FAILED:
                return messages.alert(model, env, d, n, channel, oncall, notes)
            return messages.rolled_back(
                model, env, plan.bump, restored, revert_text, d, n, channel, oncall, notes
            )
        if plan.notice is FeedbackNotice.PAUSED and model and env:
            return messages.paused(model, env, d, n, channel)
        return messages.alert(model, env, d, n, channel, oncall, notes)


def build_feedback_service(
    config: GlueConfig,
    store: StateStore,
    repo: GitOpsRepo,
    registry: ModelRegistry,
    notifier: Notifier,
    promoter: Promoter | None = None,
    now: Callable[[], datetime] = utcnow,
) -> FeedbackService:
    """The service with the promotion service of the GitOps flow as its promoter (unless one is given)."""
    if promoter is None:
        from mlops_glue.services.promotion import build_promotion_service

        promoter = build_promotion_service(config, store, repo, registry, notifier, now=now)
    return FeedbackService(config, store, repo, registry, notifier, promoter, now)
