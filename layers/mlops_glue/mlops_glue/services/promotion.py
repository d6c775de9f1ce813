"""Model promotion through GitOps: registry event → gate → version bump (commit or PR) → record → Slack.

``PromotionService.promote`` is also the entry point of the Argo CD feedback flow (auto-promotion from
staging to production). Every path records one :class:`~mlops_glue.records.Decision`; a notice never
blocks or undoes the action.

The event comes in parsed (:class:`~mlops_glue.events.MlflowEvent`, by the worker). Retry or not is
said by the type of what comes out: a decision returned is final (acted, rejected, ignored, or failed
for good — a target that cannot be edited safely); a GitOps, MLflow or state-store outage records and
notices the failed decision, then raises :class:`PromotionUnavailableError` (a
:class:`~mlops_glue.errors.RetryableError`, carrying that decision) so the worker retries the delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mlops_glue.adapters.gitops import GitOpsError, GitOpsFileError, GitOpsRepo
from mlops_glue.adapters.registry import ModelRegistry, ModelVersion, RegistryError
from mlops_glue.adapters.slack import Message, Notifier, escape
from mlops_glue.adapters.state import StateError, StateStore
from mlops_glue.config import GlueConfig
from mlops_glue.decisions.promote import (
    blocked_prefixes,
    evaluate_gate,
    guard_reasons,
    intent_of,
    pr_branch,
    supersede_prefix,
)
from mlops_glue.errors import RetryableError
from mlops_glue.events import MlflowEvent
from mlops_glue.guards import active_pause, block_version, blocked_versions
from mlops_glue.names import InvalidNameError, canonical_version, check_name, is_newer
from mlops_glue.outbox import post_or_keep
from mlops_glue.records import Decision, Kind, Outcome, bump_trailers, make_decision_id, utcnow
from mlops_glue.replay.recorder import NULL_RECORDER, EventRecorder
from mlops_glue.services.gitops_change import (
    Change,
    HeldMovedError,
    held_version,
    plan_change,
    preview,
    remember,
)
from mlops_glue.targets import TargetError
from mlops_glue.webhooks import Delivery

logger = logging.getLogger(__name__)

VALIDATION_STATUS = "validation_status"
VALIDATION_REASONS = "validation_reasons"
VALIDATION_DECISION = "validation_decision_id"
ORDER_CHECKS = 3  # a concurrent promotion moved the environment: check the order again this often
DEPLOYMENT_STATUS = "deployment_status"  # .<env>: committed | pull_request | not_deployed | failed
DEPLOYMENT_REASON = "deployment_reason"  # .<env>: why


class PromotionUnavailableError(RetryableError):
    """GitOps, MLflow or the state store was unavailable: the failed decision is recorded; retry later."""

    def __init__(self, decision: Decision) -> None:
        super().__init__("; ".join(decision.reasons) or decision.summary())
        self.decision = decision


class PromotionService:
    """Gate, promote, record and notify for the models of one configuration."""

    recorder: EventRecorder = NULL_RECORDER  # what replay needs of each webhook (runtime wires it)

    def __init__(
        self,
        config: GlueConfig,
        store: StateStore,
        repo: GitOpsRepo,
        registry: ModelRegistry,
        notifier: Notifier,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.repo = repo
        self.registry = registry
        self.notifier = notifier
        self.now = now

    # ------------------------------------------------------------------ the webhook flow
    def process(self, event: MlflowEvent, delivery: Delivery) -> dict[str, Any]:
        """Act on one authentic MLflow event; the JSON summary is the worker's result.

        Raises PromotionUnavailableError (the worker retries the delivery) when GitOps, MLflow or
        DynamoDB failed.
        """
        ignored = self.ignore_reason(event)
        if ignored is not None:
            return {"status": "ignored", "reason": ignored}
        decision = self.on_event(event, f"mlflow-delivery:{delivery.delivery_id}")
        if decision is None:  # pragma: no cover - ignore_reason said we act on it
            return {"status": "ignored"}
        return {
            "status": decision.outcome.value,
            "decision_id": decision.decision_id,
            "reasons": decision.reasons,
            "action": decision.action,
        }

    def ignore_reason(self, event: MlflowEvent) -> str | None:
        """Why we do not act on ``event`` (an unconfigured model, an event or tag we ignore), or None."""
        if event.model not in self.config.models:
            return f"model {event.model!r} is not configured"
        intent = intent_of(event, self.config.model(event.model).promote)
        return intent.reason if intent.action == "ignore" else None

    def on_event(self, event: MlflowEvent, input_id: str) -> Decision | None:
        """The decision for one registry event, or None when we do not act on it (nothing recorded).

        Raises PromotionUnavailableError (the failed decision recorded) when a dependency is down.
        """
        if self.ignore_reason(event) is not None:
            return None
        model = event.model
        self.recorder.webhook(event, input_id, self.now())
        cfg = self.config.model(model).promote
        intent = intent_of(event, cfg)
        version = str(event.data.version or "")[:64]
        inputs = [input_id, f"mlflow:{event.event_type}:{model}:{version}"]
        try:
            version = canonical_version(version)
        except InvalidNameError as exc:
            return self._finish(
                Decision(
                    decision_id=make_decision_id("promote", model, input_id),
                    model=model,
                    kind=Kind.PROMOTE,
                    outcome=Outcome.REJECTED,
                    reasons=[intent.reason, str(exc)],
                    evidence={"version": version},
                    inputs=inputs,
                    config_hash=self.config.hash(),
                    created_at=self.now(),
                ),
                notify=False,
            )
        if intent.action == "gate":
            return self.gate(model, version, inputs=inputs)
        if intent.action == "block":
            return self.block(model, version, intent.reason, inputs=inputs, input_id=input_id)
        alias = event.data.alias if event.event_type == "model_version_alias.created" else None
        return self.promote(
            model,
            version,
            intent.env or cfg.production_environment,
            reason=intent.reason,
            inputs=inputs,
            alias=alias or None,
        )

    def block(self, model: str, version: str, reason: str, *, inputs: list[str], input_id: str) -> Decision:
        """Blocklist ``version`` and close its open promotion PRs (a human could still merge them).

        A GitOps failure while closing records ``failed`` (``evidence.retryable`` for the audit) and
        raises PromotionUnavailableError: the worker retries the delivery (blocklisting again is a no-op).
        """
        block_version(self.store, model, version, reason, now=self.now())
        decision = Decision(
            decision_id=make_decision_id("block", model, version, input_id),
            model=model,
            kind=Kind.NOTIFY_ONLY,
            outcome=Outcome.ACTED,
            reasons=[reason, "blocklisted: never promoted automatically"],
            evidence={"version": version},
            inputs=inputs,
            config_hash=self.config.hash(),
            action={"blocklisted": version},
            created_at=self.now(),
        )
        try:
            closed = close_blocked_promotions(self.config, self.repo, model, version, reason)
        except GitOpsError as exc:
            decision.outcome = Outcome.FAILED
            decision.reasons.append(f"closing the open promotion pull requests of v{version} failed: {exc}")
            decision.evidence["retryable"] = True
            raise PromotionUnavailableError(self._finish(decision)) from exc
        if closed:
            decision.action["closed_pull_requests"] = ", ".join(closed)
        return self._finish(decision)

    def gate(
        self, model: str, version: str, *, inputs: list[str], decision_id: str | None = None
    ) -> Decision:
        """Gate a new version on its run's metrics; tag the verdict; bump staging when it passed."""
        cfg = self.config.model(model).promote
        env = cfg.staging_environment
        did = decision_id or make_decision_id("promote", model, env, version, *inputs)
        try:
            mv = self.registry.get_version(model, version)
            metrics = self.registry.run_metrics(mv.run_id) if mv.run_id else {}
            champion: ModelVersion | None = None
            champion_metrics = None
            if cfg.gate.must_beat:
                champion = self.registry.version_by_alias(model, cfg.gate.must_beat)
                if champion is not None and champion.version != version:
                    champion_metrics = self.registry.run_metrics(champion.run_id) if champion.run_id else {}
        except RegistryError as exc:
            raise self._unavailable(did, model, env, inputs, f"gate of v{version}: {exc}") from exc
        champ = champion.version if champion else None
        self.recorder.gate_facts(
            model, version, inputs[0], metrics, champ, champion_metrics, mv.tags, self.now()
        )
        result = evaluate_gate(
            cfg.gate,
            metrics,
            champion.version if champion else None,
            champion_metrics,
            candidate_version=version,
        )
        evidence = {
            **result.evidence,
            "version": version,
            "run_id": mv.run_id,
            "source": mv.source,
            "version_url": self.registry.version_url(model, version),
        }
        status = "passed" if result.passed else "failed"
        try:
            # the status goes last: whoever sees it also sees its reasons
            reasons = "; ".join(result.reasons)[:4000]
            self.registry.set_version_tag(model, version, VALIDATION_REASONS, reasons)
            self.registry.set_version_tag(model, version, VALIDATION_DECISION, did)
            self.registry.set_version_tag(model, version, VALIDATION_STATUS, status)
        except RegistryError as exc:
            raise self._unavailable(did, model, env, inputs, f"tagging v{version} {status}: {exc}") from exc
        if not result.passed:
            return self._finish(
                Decision(
                    decision_id=did,
                    model=model,
                    environment=env,
                    kind=Kind.PROMOTE,
                    outcome=Outcome.REJECTED,
                    reasons=[f"v{version} failed the gate", *result.reasons],
                    evidence=evidence,
                    inputs=inputs,
                    config_hash=self.config.hash(),
                    action={"tag": f"{VALIDATION_STATUS}=failed"},
                    created_at=self.now(),
                )
            )
        return self.promote(
            model,
            version,
            env,
            reason=f"v{version} passed the gate",
            inputs=inputs,
            decision_id=did,
            evidence=evidence,
            details=result.reasons,
            only_forward=True,
        )

    # ------------------------------------------------------------------ promotion (shared with feedback)
    def promote(
        self,
        model: str,
        version: str,
        env: str,
        *,
        reason: str,
        inputs: list[str],
        decision_id: str | None = None,
        evidence: dict[str, Any] | None = None,
        details: list[str] | None = None,
        only_forward: bool = False,
        alias: str | None = None,
    ) -> Decision:
        """Bump ``model`` to ``version`` in ``env``: every target in one commit (mode ``commit``) or one PR.

        Honours the blocklist, a ``blocked`` tag and automation pauses, and needs every tag the value
        templates read (outcome ``rejected``); an environment that already holds the version gives
        ``ignored``; a target that cannot be edited safely (path not found, anchor, not YAML, file missing)
        gives ``failed``; a GitOps, registry or state-store outage records ``failed`` (with
        ``evidence.retryable`` for the audit) and raises PromotionUnavailableError. With ``only_forward``
        an environment that runs a newer MLflow version (by our commit trailers, or read back through the
        value template) is left alone. Every outcome but a retryable failure is tagged on the version
        (``deployment_status.<env>``); every one is noticed.
        """
        did = decision_id or make_decision_id("promote", model, env, version, *inputs)
        base: dict[str, Any] = {
            "decision_id": did,
            "model": model,
            "environment": env,
            "kind": Kind.PROMOTE,
            "inputs": list(inputs),
            "config_hash": self.config.hash(),
            "evidence": {**(evidence or {}), "version": str(version)[:64]},
        }
        reasons = [reason, *(details or [])]
        try:
            check_name(model, "model name")
            check_name(env, "environment")
            version = canonical_version(version)
            if model not in self.config.models:
                raise InvalidNameError(f"model {model!r} is not configured")
        except InvalidNameError as exc:
            return self._settle(base, reasons, Outcome.REJECTED, str(exc), tag=False)
        try:
            mv = self.registry.get_version(model, version)
            blocked = guard_reasons(
                version,
                env,
                blocked_versions(self.store, model),
                mv.tags,
                active_pause(self.store, model, env, version),
            )
        except (RegistryError, StateError) as exc:
            why = f"checking the blocklist of v{version}: {exc}"
            raise self._unavailable(did, model, env, inputs, why, base) from exc
        if blocked:
            return self._settle(base, reasons, Outcome.REJECTED, *blocked)
        try:
            change = plan_change(self.config, model, env, mv, alias)
        except TargetError as exc:
            return self._settle(base, reasons, Outcome.REJECTED, f"not deployed: {exc}")

        for attempt in range(1, ORDER_CHECKS + 1):
            try:
                return self._write(change, base, list(reasons), reason, only_forward=only_forward)
            except HeldMovedError as exc:  # a concurrent promotion landed: check the order again
                if attempt == ORDER_CHECKS:
                    why = f"{exc}, {ORDER_CHECKS} times"
                    raise self._unavailable(did, model, env, inputs, why, base) from exc
            except (TargetError, GitOpsFileError) as exc:
                return self._settle(
                    base, reasons, Outcome.FAILED, f"not deployed: {exc}; nothing was written"
                )
            except GitOpsError as exc:
                why = f"writing {change.where}: {exc}"
                raise self._unavailable(did, model, env, inputs, why, base) from exc
            except StateError as exc:
                why = f"reading what v{version} wrote: {exc}"
                raise self._unavailable(did, model, env, inputs, why, base) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(
        self, change: Change, base: dict[str, Any], reasons: list[str], reason: str, *, only_forward: bool
    ) -> Decision:
        """Check the order against what the environment runs, then commit or open the pull request.

        The edit refuses (HeldMovedError) when the first target moved since the check.
        """
        model, env, version = change.model, change.env, change.version
        held = held_version(self.repo, self.config, model, env, self.store)
        change.guard = held.written
        if held.version is not None:
            base["evidence"]["previous_version"] = held.version
        elif held.written is not None:
            reasons.append(f"{env} holds {held.describe()}: promoting all the same")
        if only_forward and held.version is not None and is_newer(held.version, version):
            why = f"{env} already runs v{held.version}, newer than v{version}"
            return self._settle(base, reasons, Outcome.IGNORED, why)
        already = f"{change.where} already {change.verb} v{version}"
        promote_cfg = self.config.model(model).promote
        title = f"Promote {model} to v{version} in {env}"
        trailers = bump_trailers(base["decision_id"], model, env, version)
        decision = Decision(**base, outcome=Outcome.ACTED, reasons=reasons, created_at=self.now())
        if promote_cfg.mode(env) == "commit":
            res = self.repo.commit_files(change.edits(), f"{title}\n\n{reason}", trailers)
            if not res.changed:
                return self._settle(base, reasons, Outcome.IGNORED, already)
            decision.action = {"commit": res.sha or "", "url": res.url or "", "file": change.where}
        else:
            diff = preview(self.repo, change)
            pr = (
                self.repo.open_pull_request(
                    change.edits(),
                    pr_branch(model, env, version, [str(p) + "=" + p.value for p in change.planned]),
                    title,
                    render_pr_body(decision, change, diff),
                    trailers,
                    supersede_prefix=supersede_prefix(model, env),
                    auto_merge=promote_cfg.environment(env).auto_merge,
                )
                if diff
                else None
            )
            if pr is None:
                return self._settle(base, reasons, Outcome.IGNORED, already)
            decision.action = {"pull_request": pr.url, "branch": pr.branch, "file": change.where}
            closed = [f"#{n}" for n in pr.closed] + list(pr.closed_branches)
            extra = {
                "reused": "true" if pr.reused else "",
                "superseded": ", ".join(closed),
                "merged": pr.merged_sha,
            }
            decision.action.update({k: v for k, v in extra.items() if v})
        decision.reasons.extend(change.summary())
        try:
            remember(self.store, change)
        except StateError as exc:  # the write stands; only a later ordering check may know less
            decision.reasons.append(f"could not record what v{version} wrote: {exc}")
        status = "pull_request" if "pull_request" in decision.action else "committed"
        return self._finish(self._tag_deployment(decision, status))

    # ------------------------------------------------------------------ helpers
    def _settle(
        self, base: dict[str, Any], reasons: list[str], outcome: Outcome, *why: str, tag: bool = True
    ) -> Decision:
        """Record, tag and notice a promotion that did not happen, with its reasons."""
        decision = Decision(**base, outcome=outcome, reasons=[*reasons, *why], created_at=self.now())
        status = "failed" if outcome is Outcome.FAILED else "not_deployed"
        return self._finish(self._tag_deployment(decision, status) if tag else decision)

    def _tag_deployment(self, decision: Decision, status: str) -> Decision:
        """Tag the version with what happened in the environment, and why (a failed tag is said, not raised)."""
        env, version = decision.environment or "", str(decision.evidence.get("version", ""))
        why = "; ".join(decision.reasons[1:] or decision.reasons)[:4000]
        try:
            self.registry.set_version_tag(decision.model, version, f"{DEPLOYMENT_REASON}.{env}", why)
            self.registry.set_version_tag(decision.model, version, f"{DEPLOYMENT_STATUS}.{env}", status)
            decision.action.setdefault("tag", f"{DEPLOYMENT_STATUS}.{env}={status}")
        except RegistryError as exc:
            decision.reasons.append(f"could not tag v{version} {DEPLOYMENT_STATUS}.{env}={status}: {exc}")
        return decision

    def _unavailable(
        self,
        did: str,
        model: str,
        env: str,
        inputs: list[str],
        why: str,
        base: dict[str, Any] | None = None,
    ) -> PromotionUnavailableError:
        """Record and notice the failed decision of an outage; the error to raise (the worker retries)."""
        fields = base or {
            "decision_id": did,
            "model": model,
            "environment": env,
            "kind": Kind.PROMOTE,
            "inputs": list(inputs),
            "config_hash": self.config.hash(),
            "evidence": {},
        }
        fields = {**fields, "evidence": {**fields.get("evidence", {}), "retryable": True}}
        logger.error("promotion of %s in %s failed: %s", model, env, why)
        failed = Decision(**fields, outcome=Outcome.FAILED, reasons=[why], created_at=self.now())
        return PromotionUnavailableError(self._finish(failed))

    def _finish(self, decision: Decision, notify: bool = True) -> Decision:
        """Record, log and notice ``decision``; a failed one that could not be recorded raises
        PromotionUnavailableError (retried: the record must not be lost)."""
        recorded = True
        try:
            self.store.record_decision(decision)
        except StateError as exc:
            logger.error("could not record decision %s: %s", decision.decision_id, exc)
            recorded = False
            decision.evidence["retryable"] = True
            if decision.outcome is not Outcome.FAILED:
                decision.reasons.append(f"decision not recorded: {exc}")
        logger.info(decision.summary(), extra={"decision_id": decision.decision_id})
        if notify:
            channel = (
                self.config.model(decision.model).notify.slack_channel
                if decision.model in self.config.models
                else None
            )
            message = promotion_message(decision, channel)
            try:  # a failed post of a configured model waits in its outbox for the sweep
                if decision.model in self.config.models:
                    posted = post_or_keep(self.notifier, self.store, decision.model, message)
                else:
                    posted = self.notifier.post(message)
                if not posted.ok:
                    logger.warning("Slack notice for %s not posted: %s", decision.decision_id, posted.error)
            except StateError as exc:
                logger.error("Slack notice for %s lost (store down): %s", decision.decision_id, exc)
        if not recorded and decision.outcome is Outcome.FAILED:
            raise PromotionUnavailableError(decision)
        return decision


def close_blocked_promotions(
    config: GlueConfig, repo: GitOpsRepo, model: str, version: str, reason: str
) -> tuple[str, ...]:
    """Close the open promotion PRs of a blocked ``version`` in every environment of ``model``.

    Shared by the blocked tag (here) and the rollback of the feedback flow. Returns what was closed
    (PR URLs, or branch names on plain git); raises GitOpsError when the repository is unreachable.
    """
    comment = (
        f"Closed by mlops-glue: {model} v{version} is blocked and must not be promoted. "
        f"Reason: {reason[:300]}"
    )
    closed: list[str] = []
    for prefix in blocked_prefixes(model, version, config.model(model).promote):
        closed += repo.close_pull_requests(prefix, comment)
    return tuple(closed)


def build_promotion_service(
    config: GlueConfig,
    store: StateStore,
    repo: GitOpsRepo,
    registry: ModelRegistry,
    notifier: Notifier,
    now: Callable[[], datetime] = utcnow,
) -> PromotionService:
    """The promotion service on the given adapters (handlers pass runtime's, tests pass fakes)."""
    return PromotionService(config, store, repo, registry, notifier, now=now)


# ---------------------------------------------------------------------- texts
def render_pr_body(decision: Decision, change: Change, diff: str) -> str:
    """The PR body: the decision record in Markdown (what changes, the diff, reasons, metrics, links)."""
    ev = decision.evidence
    targets = [f"- `{p.file}`: `{p.location}` → `{p.value}`" for p in change.planned]
    fence = "````" if "```" in diff else "```"
    lines = [
        f"Promotes **{decision.model}** to **v{change.version}** in **{decision.environment}**:",
        "",
        *targets,
        "",
        "### Diff",
        "",
        f"{fence}diff",
        diff.rstrip("\n")[:50000],
        fence,
        "",
        "### Why",
        *[f"- {r}" for r in decision.reasons],
    ]
    gate = ev.get("gate") or {}
    if gate:
        lines += [
            "",
            "### Metrics",
            "",
            "| metric | candidate | min | max | champion |",
            "|---|---|---|---|---|",
        ]
        for name, row in gate.items():
            cells = [row.get("value"), row.get("min"), row.get("max"), row.get("champion")]
            lines.append(f"| {name} | " + " | ".join("—" if c is None else f"{c}" for c in cells) + " |")
        if ev.get("champion"):
            lines.append(f"\nChampion: v{ev['champion']}")
    links = []
    if ev.get("version_url"):
        links.append(f"- MLflow version: {ev['version_url']}")
    if ev.get("run_id"):
        links.append(f"- Run id: `{ev['run_id']}`")
    if links:
        lines += ["", "### MLflow", *links]
    lines += [
        "",
        "### Decision record",
        f"- Decision id: `{decision.decision_id}`",
        f"- Triggered by: {', '.join(f'`{i}`' for i in decision.inputs) or '—'}",
        f"- Config hash: `{decision.config_hash}`",
        "",
        "_Opened by mlops-glue. Older promotion PRs for this model and environment are closed in favour of this one._",
    ]
    return "\n".join(lines)


_ICONS = {
    Outcome.ACTED: ":rocket:",
    Outcome.REJECTED: ":no_entry:",
    Outcome.FAILED: ":warning:",
    Outcome.IGNORED: ":information_source:",
    Outcome.DEFERRED: ":hourglass:",
}


def _icon(decision: Decision) -> str:
    if decision.outcome is Outcome.ACTED and "blocklisted" in decision.action:
        return ":no_entry:"  # a block is an action, but nothing ships
    return _ICONS[decision.outcome]


def _headline(decision: Decision) -> str:
    a = decision.action
    who = f"*{decision.model}*"
    version = decision.evidence.get("version", "")
    v = f" v{version}" if version else ""
    if decision.outcome is Outcome.ACTED and "pull_request" in a:
        verb = "PR updated" if a.get("reused") else "PR opened"
        return f"{verb} to promote {who}{v} to *{decision.environment}*: <{a['pull_request']}|review it>"
    if decision.outcome is Outcome.ACTED and "commit" in a:
        link = f"<{a['url']}|{a['commit'][:10]}>" if a.get("url") else f"`{a['commit'][:10]}`"
        return f"{who}{v} bumped in *{decision.environment}*: commit {link}"
    if "blocklisted" in a:
        head = f"{who} v{a['blocklisted']} blocklisted: it will not be promoted automatically"
        if decision.outcome is Outcome.FAILED:
            return f"{head}, but its open promotion PRs could not be closed (retrying): close them by hand"
        closed = a.get("closed_pull_requests")
        return f"{head}; closed its open promotion PRs: {closed}" if closed else head
    if decision.outcome is Outcome.REJECTED and a.get("tag", "").endswith("failed"):
        return f"{who}{v} failed the gate: not promoted"
    if decision.outcome in (Outcome.REJECTED, Outcome.IGNORED):
        return f"{who}{v} not promoted to *{decision.environment}*"
    return f"Promotion of {who}{v} to *{decision.environment}* {decision.outcome.value}"


def promotion_message(decision: Decision, channel: str | None = None) -> Message:
    """The Slack Block Kit notice of a promotion decision (gate failed, bumped, PR opened, refused)."""
    headline = f"{_icon(decision)} {_headline(decision)}"
    reasons = decision.reasons[1:] if decision.outcome is Outcome.REJECTED else decision.reasons
    failing = [r for r in reasons if r.startswith("✗")] or reasons
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": headline}}]
    if failing:
        text = "\n".join(f"• {escape(r)}" for r in failing[:10])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}})
    context = [f"decision `{decision.decision_id}`"]
    if decision.evidence.get("version_url"):
        context.append(f"<{decision.evidence['version_url']}|MLflow>")
    if decision.evidence.get("run_id"):
        context.append(f"run `{decision.evidence['run_id']}`")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    return Message(text=decision.summary()[:3000], blocks=blocks, channel=channel)
