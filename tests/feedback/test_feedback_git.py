"""Deployment feedback end to end on a REAL local git repository (bare remote + private clones).

Given a bump made by the promotion service (commit with our trailers), when Argo CD reports on the
synced revision (a body rendered from our template), then the feedback service acts on Git, the state
store, the registry and Slack — once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from argocd_render import application, body
from feedback_support import texts
from gitops_fixtures import (
    STAGING_VERSION,
    GitRepoFactory,
    bare_branches,
    bare_file,
    bare_log,
    closed_ref,
    git,
)
from mlops_glue import guards
from mlops_glue.adapters.gitops import GitOpsConflictError, GitOpsError, WriteResult
from mlops_glue.adapters.registry import MemoryRegistry
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.adapters.values_yaml import read_value
from mlops_glue.config import GlueConfig
from mlops_glue.decisions.feedback import parse_notification
from mlops_glue.keys import outbox_key
from mlops_glue.outbox import resend
from mlops_glue.records import Kind, Outcome
from mlops_glue.services.feedback import (
    FeedbackInProgressError,
    FeedbackResult,
    FeedbackService,
    build_feedback_service,
)
from mlops_glue.services.promotion import PromotionService, build_promotion_service

STAGING = "models/fraud-detection/values-staging.yaml"
PRODUCTION = "models/fraud-detection/values-production.yaml"


class World:
    """The adapters of one test: a git clone of the bare repo, memory state/registry/Slack."""

    def __init__(
        self,
        config: GlueConfig,
        make_git_repo: GitRepoFactory,
        store: MemoryStateStore,
        registry: MemoryRegistry,
        notifier: MemoryNotifier,
        clock: Callable[[], datetime],
    ) -> None:
        self.config, self.store, self.registry, self.notifier = config, store, registry, notifier
        self.repo = make_git_repo()
        self.promotion: PromotionService = build_promotion_service(
            config, store, self.repo, registry, notifier, now=clock
        )
        self.service: FeedbackService = build_feedback_service(
            config, store, self.repo, registry, notifier, now=clock
        )

    def bump(self, version: str, env: str = "staging") -> str:
        d = self.promotion.promote(
            "fraud-detection", version, env, reason=f"test bump to v{version}", inputs=[f"test:{version}"]
        )
        assert d.outcome is Outcome.ACTED, d.reasons
        return d.action["commit"]

    def notify(
        self, trigger: str, revision: str, app: str = "fraud-detection-staging", **kw: Any
    ) -> FeedbackResult:
        n = parse_notification(body(trigger, application(name=app, revision=revision, **kw)))
        return self.service.handle(n)


@pytest.fixture
def world(
    config: GlueConfig,
    make_git_repo: GitRepoFactory,
    store: MemoryStateStore,
    registry: MemoryRegistry,
    notifier: MemoryNotifier,
    clock: Callable[[], datetime],
) -> World:
    return World(config, make_git_repo, store, registry, notifier, clock)


def human_commit(bare: Path, tmp_path: Path, change: Callable[[Path], list[str]], message: str) -> str:
    """A person's commit pushed to main from their own clone; returns its sha."""
    work = tmp_path / f"human-{len(list(tmp_path.glob('human-*')))}"
    git(tmp_path, "clone", "--quiet", str(bare), str(work))
    args = change(work)
    if args:
        git(work, *args)
    else:
        git(work, "commit", "--quiet", "-am", message)
    git(work, "push", "--quiet", "origin", "main")
    return git(work, "rev-parse", "HEAD").strip()


def staging_version(bare: Path) -> str | None:
    return read_value(bare_file(bare, STAGING), "model.version")


# ------------------------------------------------------------------------------ deployed → live + PR


def test_deployed_posts_live_and_opens_the_promotion_pull_request(world: World, bare_repo: Path) -> None:
    bump = world.bump("12")
    sent_before = len(world.notifier.messages)

    result = world.notify("on-deployed", bump)

    d = result.decision
    assert d.outcome is Outcome.ACTED and not result.duplicate
    assert d.model == "fraud-detection" and d.environment == "staging"
    assert "v12 is live in staging" in d.reasons[0]
    branches = [b for b in bare_branches(bare_repo) if b.startswith("mlops-glue/fraud-detection/production/")]
    assert len(branches) == 1 and "v12" in branches[0]
    assert read_value(bare_file(bare_repo, PRODUCTION, branches[0]), "model.version") == "12"
    assert read_value(bare_file(bare_repo, PRODUCTION), "model.version") == "1"  # main untouched: review
    assert d.action["promotion_branch"] == branches[0]
    live = [t for t in texts(world.notifier)[sent_before:] if t.startswith(":white_check_mark:")]
    assert len(live) == 1 and "v12" in live[0] and bump[:8] in live[0] and "staging" in live[0]
    assert world.store.get_decision(d.decision_id) is not None


def test_repeated_and_overlapping_notifications_act_once(world: World, bare_repo: Path) -> None:
    bump = world.bump("12")
    first = world.notify("on-deployed", bump)
    sent = len(world.notifier.messages)
    log = bare_log(bare_repo)

    again = world.notify("on-deployed", bump)  # Argo CD's oncePer repeating itself
    healthy_sync = world.notify("on-sync-succeeded", bump)  # same revision, same outcome

    assert again.duplicate and healthy_sync.duplicate
    assert again.decision.decision_id == healthy_sync.decision.decision_id == first.decision.decision_id
    assert len(world.notifier.messages) == sent
    assert bare_log(bare_repo) == log
    assert len([b for b in bare_branches(bare_repo) if "/production/" in b]) == 1


def test_sync_succeeded_while_progressing_waits(world: World, bare_repo: Path) -> None:
    bump = world.bump("12")
    sent = len(world.notifier.messages)
    r = world.notify("on-sync-succeeded", bump, health="Progressing")
    assert r.decision.outcome is Outcome.IGNORED
    assert "waiting" in r.decision.reasons[0]
    assert len(world.notifier.messages) == sent
    assert not [b for b in bare_branches(bare_repo) if "/production/" in b]


# ------------------------------------------------------------------------------ degraded → revert


def test_degraded_reverts_blocks_and_is_never_promoted_again(world: World, bare_repo: Path) -> None:
    bump = world.bump("12")
    assert staging_version(bare_repo) == "12"

    r = world.notify("on-health-degraded", bump, health="Degraded")

    d = r.decision
    assert d.kind is Kind.ROLLBACK and d.outcome is Outcome.ACTED
    assert staging_version(bare_repo) == "1"  # what Argo CD syncs next
    assert bare_log(bare_repo)[0] == "Roll back fraud-detection v12 in staging"
    revert = world.repo.get_commit(d.action["commit"])
    assert revert is not None and revert.trailers["Glue-Reverts"] == bump
    assert f"This reverts commit {bump}" in revert.message
    assert "12" in guards.blocked_versions(world.store, "fraud-detection")
    tags = world.registry.get_version("fraud-detection", "12").tags
    assert tags["blocked"] == "true" and "Degraded" in tags["blocked_reason"]
    rolled = [t for t in texts(world.notifier) if "rolled back" in t]
    assert len(rolled) == 1 and "v12 → v1" in rolled[0] and "@ml-oncall" in rolled[0]
    assert d.evidence["restored_version"] == "1"

    # the sync failure of the same revision arrives too: no second revert
    log = bare_log(bare_repo)
    again = world.notify("on-sync-failed", bump, phase="Failed", message="apply failed")
    assert again.duplicate and bare_log(bare_repo) == log

    # a late on-deployed for the bad revision does not promote it
    late = world.notify("on-deployed", bump)
    assert late.decision.outcome is Outcome.IGNORED
    assert not [b for b in bare_branches(bare_repo) if "/production/" in b]
    # the revert itself deploying is "live", but a rollback is never promoted
    back = world.notify("on-deployed", d.action["commit"])
    assert "is live in staging" in back.decision.reasons[0] and "no promotion" in back.decision.reasons[1]
    assert not [b for b in bare_branches(bare_repo) if "/production/" in b]
    # and the registry webhook path refuses it too
    retry = world.promotion.promote("fraud-detection", "12", "staging", reason="again", inputs=["x"])
    assert retry.outcome is Outcome.REJECTED and any("blocklisted" in x for x in retry.reasons)


def test_rollback_closes_the_blocked_versions_open_promotion_pull_request(
    world: World, bare_repo: Path
) -> None:
    bump = world.bump("12")
    live = world.notify("on-deployed", bump)
    promotion_branch = live.decision.action["promotion_branch"]
    assert promotion_branch.startswith("mlops-glue/fraud-detection/production/v12-")
    assert promotion_branch in bare_branches(bare_repo)

    r = world.notify("on-health-degraded", bump, health="Degraded")

    d = r.decision
    assert d.kind is Kind.ROLLBACK and d.outcome is Outcome.ACTED
    assert staging_version(bare_repo) == "1"  # reverted
    assert "12" in guards.blocked_versions(world.store, "fraud-detection")  # blocked
    assert promotion_branch not in bare_branches(bare_repo)  # the open "PR" is gone
    assert not [b for b in bare_branches(bare_repo) if "/v12-" in b]
    closed = closed_ref(live.decision.action["promotion_pull_request"], promotion_branch)  # the MR on GitLab
    assert d.action["closed_pull_requests"] == closed
    assert world.store.get_decision(d.decision_id) == d
    [rolled] = [t for t in texts(world.notifier) if "rolled back" in t]
    assert f"closed the open promotion PR of v12: {closed}" in rolled


def test_rollback_leaves_other_versions_promotion_pull_requests_open(world: World, bare_repo: Path) -> None:
    world.bump("11")
    eleven = world.promotion.promote("fraud-detection", "11", "production", reason="t", inputs=["t"])
    bump = world.bump("12")

    r = world.notify("on-health-degraded", bump, health="Degraded")

    assert r.decision.outcome is Outcome.ACTED and staging_version(bare_repo) == "11"
    assert eleven.action["branch"] in bare_branches(bare_repo)  # v11's PR is not v12's
    assert "closed_pull_requests" not in r.decision.action
    [rolled] = [t for t in texts(world.notifier) if "rolled back" in t]
    assert "closed the open promotion PR" not in rolled


def test_rollback_stands_when_closing_the_pull_requests_fails(
    world: World, bare_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bump = world.bump("12")
    branch = world.notify("on-deployed", bump).decision.action["promotion_branch"]

    def down(prefix: str, comment: str) -> tuple[str, ...]:
        raise GitOpsError("git push failed (128): could not read from remote")

    monkeypatch.setattr(world.repo, "close_pull_requests", down)
    r = world.notify("on-health-degraded", bump, health="Degraded")

    d = r.decision
    assert d.outcome is Outcome.ACTED and staging_version(bare_repo) == "1"  # the revert is not undone
    assert "12" in guards.blocked_versions(world.store, "fraud-detection")
    assert "could not read from remote" in d.evidence["close_pull_requests_error"]
    assert branch in bare_branches(bare_repo)
    [rolled] = [t for t in texts(world.notifier) if "rolled back" in t]
    assert "could not close the open promotion PRs of v12 (GitOpsError): close them by hand" in rolled


def test_concurrent_failure_notifications_revert_once(
    config: GlueConfig,
    make_git_repo: GitRepoFactory,
    store: MemoryStateStore,
    registry: MemoryRegistry,
    clock: Callable[[], datetime],
    bare_repo: Path,
) -> None:
    a = World(config, make_git_repo, store, registry, MemoryNotifier(), clock)
    b = World(config, make_git_repo, store, registry, MemoryNotifier(), clock)
    bump = a.bump("12")
    gate = threading.Barrier(2)
    outcomes: list[str] = []

    def run(w: World, trigger: str, **kw: Any) -> None:
        gate.wait()
        try:
            r = w.notify(trigger, bump, **kw)
            outcomes.append("duplicate" if r.duplicate else r.decision.outcome.value)
        except FeedbackInProgressError:
            outcomes.append("in_progress")

    threads = [
        threading.Thread(target=run, args=(a, "on-health-degraded"), kwargs={"health": "Degraded"}),
        threading.Thread(target=run, args=(b, "on-sync-failed"), kwargs={"phase": "Failed"}),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[0] == "acted" and outcomes.count("acted") == 1
    assert [s for s in bare_log(bare_repo) if s.startswith("Roll back")] == [
        "Roll back fraud-detection v12 in staging"
    ]


def test_auto_rollback_off_alerts_only(world: World, bare_repo: Path, tmp_path: Path) -> None:
    # churn's staging app is "churn-stg" (explicit argocd_app) and auto_rollback is off
    d = world.promotion.promote("churn", "7", "staging", reason="t", inputs=["t"])
    bump = d.action["commit"]
    log = bare_log(bare_repo)
    r = world.notify("on-health-degraded", bump, app="churn-stg", health="Degraded")
    assert r.decision.kind is Kind.ROLLBACK and r.decision.outcome is Outcome.DEFERRED
    assert "auto_rollback is off" in r.decision.reasons
    assert bare_log(bare_repo) == log
    assert any(":rotating_light:" in t and "churn" in t for t in texts(world.notifier))


def test_an_alert_slack_refused_waits_in_the_outbox_and_is_resent_once(world: World, bare_repo: Path) -> None:
    # auto_rollback off: the alert is the only action, so a Slack outage must not lose it
    bump = world.promotion.promote("churn", "7", "staging", reason="t", inputs=["t"]).action["commit"]
    before = len(world.notifier.messages)
    world.notifier.fail = True

    r = world.notify("on-health-degraded", bump, app="churn-stg", health="Degraded")

    assert r.decision.outcome is Outcome.DEFERRED and len(world.notifier.messages) == before
    recorded = world.store.get_decision(r.decision.decision_id)
    assert recorded is not None and recorded.evidence["slack_kept"] is True
    assert "unavailable" in recorded.evidence["slack_error"]
    kept = world.store.get(*outbox_key("churn"))
    assert kept is not None and len(kept.data["items"]) == 1
    assert world.notify("on-health-degraded", bump, app="churn-stg", health="Degraded").duplicate
    assert len(world.store.get(*outbox_key("churn")).data["items"]) == 1  # type: ignore[union-attr]
    world.notifier.fail = False
    assert resend(world.notifier, world.store, world.config.models) == (1, 0)
    assert resend(world.notifier, world.store, world.config.models) == (0, 0)
    alerts = [t for t in texts(world.notifier)[before:] if ":rotating_light:" in t]
    assert len(alerts) == 1 and "churn" in alerts[0] and len(world.notifier.messages) == before + 1


# ------------------------------------------------------------------------------ humans


def test_human_revert_pauses_automation(world: World, bare_repo: Path, tmp_path: Path) -> None:
    bump = world.bump("12")
    human = human_commit(bare_repo, tmp_path, lambda w: ["revert", "--no-edit", bump], "")
    assert staging_version(bare_repo) == "1"

    r = world.notify("on-deployed", human)

    assert r.decision.outcome is Outcome.ACTED
    assert "reverted our bump to v12" in r.decision.reasons[0]
    pause = guards.active_pause(world.store, "fraud-detection", "staging")
    assert pause is not None and pause["until_newer_than"] == "12"
    assert any(":pause_button:" in t and "paused" in t for t in texts(world.notifier))
    assert not [b for b in bare_branches(bare_repo) if "/production/" in b]
    # automation respects it: v12 (or older) is not re-applied, a newer registered version is
    again = world.promotion.promote("fraud-detection", "12", "staging", reason="retry", inputs=["y"])
    assert again.outcome is Outcome.REJECTED and staging_version(bare_repo) == "1"
    newer = world.promotion.promote("fraud-detection", "13", "staging", reason="new", inputs=["z"])
    assert newer.outcome is Outcome.ACTED and staging_version(bare_repo) == "13"


def test_human_edit_of_our_version_pauses_automation(world: World, bare_repo: Path, tmp_path: Path) -> None:
    world.bump("12")

    def edit(work: Path) -> list[str]:
        f = work / STAGING
        f.write_text(f.read_text().replace("version: 12", "version: 11"))
        return []

    human = human_commit(bare_repo, tmp_path, edit, "pin fraud-detection to 11 (incident 4711)")
    r = world.notify("on-deployed", human)
    assert "changed the version from our v12 to v11" in r.decision.reasons[0]
    assert guards.active_pause(world.store, "fraud-detection", "staging") is not None


def test_human_change_not_touching_our_version_is_only_a_notice(
    world: World, bare_repo: Path, tmp_path: Path
) -> None:
    world.bump("12")

    def edit(work: Path) -> list[str]:
        f = work / STAGING
        f.write_text(f.read_text().replace("replicas: 2", "replicas: 3"))
        return []

    human = human_commit(bare_repo, tmp_path, edit, "three replicas")
    r = world.notify("on-deployed", human)
    assert r.decision.outcome is Outcome.IGNORED
    assert "is not a bump of ours" in r.decision.reasons[0]
    assert guards.active_pause(world.store, "fraud-detection", "staging") is None
    assert not [b for b in bare_branches(bare_repo) if "/production/" in b]
    assert any(":information_source:" in t for t in texts(world.notifier))


def test_degraded_after_our_bump_and_a_later_human_edit_does_not_commit_over_it(
    world: World, bare_repo: Path, tmp_path: Path
) -> None:
    bump = world.bump("12")

    def edit(work: Path) -> list[str]:
        f = work / STAGING
        f.write_text(f.read_text().replace("port: 8080", "port: 8081"))
        return []

    human_commit(bare_repo, tmp_path, edit, "port 8081")
    log = bare_log(bare_repo)
    branches = set(bare_branches(bare_repo))
    r = world.notify("on-health-degraded", bump, health="Degraded")
    # our bump is no longer the latest change: never a direct commit on main; the promotion recorded
    # the version v12 replaced, so a pull request (a pushed branch, git backend) restores it
    assert bare_log(bare_repo) == log
    assert r.decision.kind is Kind.ROLLBACK and r.decision.outcome is Outcome.ACTED
    assert "opening a pull request back to v" in r.decision.reasons[-1]
    new_branches = set(bare_branches(bare_repo)) - branches
    assert len(new_branches) == 1
    (branch,) = new_branches
    restored = bare_file(bare_repo, STAGING, ref=branch)
    assert "port: 8081" in restored  # the human's later edit is kept
    assert "\n  version: 12\n" not in restored
    assert f"\n  version: {STAGING_VERSION}\n" in restored  # back to the version v12 replaced
    assert "12" in guards.blocked_versions(world.store, "fraud-detection")


# ------------------------------------------------------------------------------ not ours


def test_unknown_app_and_unknown_revision_are_ignored_and_recorded(world: World, bare_repo: Path) -> None:
    log = bare_log(bare_repo)
    other = world.notify("on-deployed", "0" * 40, app="payments-api")
    assert other.decision.outcome is Outcome.IGNORED and "not mapped" in other.decision.reasons[0]
    assert world.store.get_decision(other.decision.decision_id) is not None

    missing = world.notify(
        "on-health-degraded", "abcdef1234567890abcdef1234567890abcdef12", health="Degraded"
    )
    assert missing.decision.outcome is Outcome.IGNORED
    assert "not found in the GitOps repository" in missing.decision.reasons[0]
    assert missing.decision.evidence["notification"]["healthStatus"] == "Degraded"  # kept for replay
    assert bare_log(bare_repo) == log
    assert any(":rotating_light:" in t for t in texts(world.notifier))  # degraded: still an alert


# ------------------------------------------------------------------------------ a revert that does not apply


def test_revert_conflict_is_retried_by_the_next_delivery_on_what_git_holds_then(
    world: World, bare_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bump = world.bump("12")
    real_revert = world.repo.revert

    def pin_then_revert(sha: str, message: str, trailers: dict[str, str]) -> WriteResult:
        """A person pins v11 between our reading of Git and our revert: a real conflict."""

        def edit(work: Path) -> list[str]:
            f = work / STAGING
            f.write_text(f.read_text().replace("version: 12", "version: 11"))
            return []

        human_commit(bare_repo, tmp_path, edit, "pin fraud-detection to 11")
        monkeypatch.setattr(world.repo, "revert", real_revert)
        return real_revert(sha, message, trailers)

    monkeypatch.setattr(world.repo, "revert", pin_then_revert)

    first = world.notify("on-health-degraded", bump, health="Degraded")

    assert first.decision.kind is Kind.ROLLBACK and first.decision.outcome is Outcome.FAILED
    assert "did not apply" in first.decision.reasons[-1] and "revert it by hand" in first.decision.reasons[-1]
    assert staging_version(bare_repo) == "11"  # the failed revert left the person's pin alone
    assert any(":rotating_light:" in t for t in texts(world.notifier))

    # the sync failure of the same revision (same decision) is not stuck behind a "done" claim: it
    # plans again on the repository as it is now: the person's pin is the latest change, so
    # automation pauses for the model (as for any human edit of our version)
    again = world.notify("on-sync-failed", bump, phase="Failed", message="apply failed")

    d = again.decision
    assert not again.duplicate and d.decision_id == first.decision.decision_id
    assert d.outcome is Outcome.ACTED and "changed the version from our v12 to v11" in d.reasons[0]
    assert guards.active_pause(world.store, "fraud-detection", "staging") is not None
    assert world.store.get_decision(d.decision_id) == d
    assert staging_version(bare_repo) == "11"  # never a commit over the person's pin
    assert "12" in guards.blocked_versions(world.store, "fraud-detection")
    # and once that outcome is recorded, a further repeat is a duplicate
    assert world.notify("on-health-degraded", bump, health="Degraded").duplicate


def test_revert_that_lost_a_race_is_not_lost(
    world: World, bare_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bump = world.bump("12")
    real_revert = world.repo.revert

    def raced(sha: str, message: str, trailers: dict[str, str]) -> WriteResult:
        monkeypatch.setattr(world.repo, "revert", real_revert)
        raise GitOpsConflictError(f"main kept moving: revert of {sha[:12]} not pushed")

    monkeypatch.setattr(world.repo, "revert", raced)
    first = world.notify("on-health-degraded", bump, health="Degraded")
    assert first.decision.outcome is Outcome.FAILED and staging_version(bare_repo) == "12"

    again = world.notify("on-sync-failed", bump, phase="Failed", message="apply failed")

    assert not again.duplicate and again.decision.outcome is Outcome.ACTED
    assert staging_version(bare_repo) == "1"
    assert [s for s in bare_log(bare_repo) if s.startswith("Roll back")] == [
        "Roll back fraud-detection v12 in staging"
    ]
    assert world.notify("on-health-degraded", bump, health="Degraded").duplicate


def test_a_done_claim_never_answers_in_progress(world: World, bare_repo: Path) -> None:
    """A claim released "done" over a failed decision (written before failed outcomes reopened it)."""
    bump = world.bump("12")
    first = world.notify("on-health-degraded", bump, health="Degraded")
    failed = first.decision.model_copy(update={"outcome": Outcome.FAILED})
    world.store.record_decision(failed)
    world.store.update(f"CLAIM#{failed.decision_id}", "#", lambda _cur: {"status": "done", "at": "x"})

    again = world.notify("on-sync-failed", bump, phase="Failed")

    assert again.duplicate and again.decision == failed


# ------------------------------------------------------------------------------ retry by the error's type
class Promoter:
    """A promoter that raises ``error``, or answers ``decision`` (an audit record, whatever it says)."""

    def __init__(self, error: Exception | None = None, decision: Any = None) -> None:
        self.error, self.decision, self.calls = error, decision, 0

    def promote(self, model: str, version: str, env: str, **kw: Any) -> Any:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.decision


def test_auto_promote_down_is_retried_because_of_the_error_type(world: World, bare_repo: Path) -> None:
    from mlops_glue.errors import RetryableError
    from mlops_glue.services.feedback import FeedbackActionError

    bump = world.bump("12")
    world.service.promoter = Promoter(RetryableError("writing values-production.yaml: git push failed"))

    with pytest.raises(FeedbackActionError, match="auto_promote of v12 to production failed, retry") as err:
        world.notify("on-deployed", bump)

    assert isinstance(err.value, RetryableError)  # the worker retries it, by type
    failed = [
        x for x in world.store.decisions_for("fraud-detection", limit=10) if x.outcome is Outcome.FAILED
    ]
    assert failed and "git push failed" in failed[0].reasons[-1]  # recorded as failed meanwhile
    world.service.promoter = world.promotion  # the repository is back: the retry promotes once
    again = world.notify("on-deployed", bump)
    assert again.decision.outcome is Outcome.ACTED and "promotion_pull_request" in again.decision.action


def test_a_returned_decision_is_final_whatever_its_evidence_says(world: World, bare_repo: Path) -> None:
    """Retry is the error's type, not a field of the record: a returned failure is not retried."""
    bump = world.bump("12")
    audit = world.promotion.promote(
        "fraud-detection", "12", "production", reason="seen before", inputs=["t"], decision_id="d-audit"
    ).model_copy(update={"outcome": Outcome.FAILED, "evidence": {"retryable": True}})
    promoter = Promoter(decision=audit)
    world.service.promoter = promoter

    result = world.notify("on-deployed", bump)

    assert promoter.calls == 1 and result.decision.outcome is Outcome.ACTED
    assert result.decision.action["promotion_decision"] == "d-audit"
