"""Acting only on our own word: namespace, branch reachability, a later human commit, canonical versions.

On a real local git repository: each case would have reverted and blocked before; now each is an alert
with the reason — no revert, no block — and the Slack text carries Argo CD's words escaped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from argocd_render import application, body
from feedback_support import texts
from gitops_fixtures import GitRepoFactory, bare_log, git
from mlops_glue import guards
from mlops_glue.adapters.registry import MemoryRegistry
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import GlueConfig, parse_config
from mlops_glue.decisions.feedback import app_target, parse_notification
from mlops_glue.names import InvalidNameError
from mlops_glue.records import Kind, Outcome
from mlops_glue.services.feedback import FeedbackResult, build_feedback_service
from mlops_glue.services.promotion import build_promotion_service

from tests.feedback.feedback_support import CONFIG


class World:
    def __init__(
        self,
        config: GlueConfig,
        make_git_repo: GitRepoFactory,
        store: MemoryStateStore,
        registry: MemoryRegistry,
        notifier: MemoryNotifier,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.notifier = store, notifier
        self.repo = make_git_repo()
        self.promotion = build_promotion_service(config, store, self.repo, registry, notifier, now=clock)
        self.service = build_feedback_service(config, store, self.repo, registry, notifier, now=clock)

    def bump(self, version: str) -> str:
        d = self.promotion.promote("fraud-detection", version, "staging", reason="t", inputs=[f"t:{version}"])
        assert d.outcome is Outcome.ACTED, d.reasons
        return str(d.action["commit"])

    def degraded(self, revision: str, **kw: str) -> FeedbackResult:
        kw.setdefault("health", "Degraded")
        return self.service.handle(
            parse_notification(body("on-health-degraded", application(revision=revision, **kw)))
        )


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


def _push(bare: Path, tmp_path: Path, name: str, *, branch: str = "main", path: str = "README.md") -> str:
    """A person's commit (touching ``path``, not a values file by default) pushed to ``branch``."""
    work = tmp_path / name
    git(tmp_path, "clone", "--quiet", str(bare), str(work))
    if branch != "main":
        git(work, "checkout", "--quiet", "-b", branch)
    (work / path).parent.mkdir(parents=True, exist_ok=True)
    (work / path).write_text(f"changed by {name}\n", encoding="utf-8")
    git(work, "add", path)
    git(work, "commit", "--quiet", "-m", f"{name}: tweak the deployment")
    git(work, "push", "--quiet", "origin", branch)
    return git(work, "rev-parse", "HEAD").strip()


def _nothing_done(world: World, bare: Path, result: FeedbackResult) -> None:
    d = result.decision
    assert not [s for s in bare_log(bare) if s.startswith("Roll back")]  # no revert
    assert guards.blocked_versions(world.store, "fraud-detection") == {}  # no block
    assert "blocked" not in d.action and "commit" not in d.action
    alerts = [t for t in texts(world.notifier) if t.startswith(":rotating_light:")]
    assert alerts, "an alert is posted"


def test_same_app_name_in_another_namespace_is_not_ours(world: World, bare_repo: Path) -> None:
    bump = world.bump("12")
    result = world.degraded(bump, namespace="team-b")
    assert result.decision.outcome is Outcome.IGNORED and result.decision.model == "-"
    assert (
        "argocd/" not in result.decision.reasons[0]
        and "team-b/fraud-detection-staging" in result.decision.reasons[0]
    )
    assert not [s for s in bare_log(bare_repo) if s.startswith("Roll back")]
    assert guards.blocked_versions(world.store, "fraud-detection") == {}


def test_namespace_name_in_the_configuration_and_the_default_namespace() -> None:
    cfg = parse_config(
        CONFIG.replace("staging: {argocd_app: churn-stg}", "staging: {argocd_app: ml-apps/churn-stg}") + "\n"
    )
    assert app_target(cfg, "churn-stg", "ml-apps") == ("churn", "staging")
    assert app_target(cfg, "churn-stg", "argocd") is None  # same name, default namespace: not ours
    assert app_target(cfg, "fraud-detection-staging") == ("fraud-detection", "staging")  # default: argocd
    assert app_target(cfg, "fraud-detection-staging", "argocd") == ("fraud-detection", "staging")
    assert app_target(cfg, "fraud-detection-staging", "other") is None


def test_a_revision_not_on_the_branch_never_reverts(world: World, bare_repo: Path, tmp_path: Path) -> None:
    """Our own unmerged production PR's commit, degraded: not "rolled back v12 → v1"."""
    world.bump("12")
    pr = world.promotion.promote(
        "fraud-detection", "13", "production", reason="t", inputs=["t:13"]
    )  # production goes through a pull request: a branch, not main
    branch = pr.action["branch"]
    pr_sha = git(bare_repo, "rev-parse", branch).strip()

    result = world.degraded(pr_sha, name="fraud-detection-production")

    d = result.decision
    assert d.kind is Kind.NOTIFY_ONLY and d.outcome is Outcome.IGNORED
    assert "not reachable from the head of main" in d.reasons[0]
    _nothing_done(world, bare_repo, result)
    assert guards.blocked_versions(world.store, "fraud-detection") == {}


def test_a_later_human_commit_gets_an_alert_not_a_revert(
    world: World, bare_repo: Path, tmp_path: Path
) -> None:
    bump = world.bump("12")  # our healthy bump
    human = _push(bare_repo, tmp_path, "alice", path="models/fraud-detection/configmap.yaml")

    result = world.degraded(human, message="<!channel> see <https://evil.example|this> & that")

    d = result.decision
    assert d.kind is Kind.ROLLBACK and d.outcome is Outcome.DEFERRED
    assert human[:8] in d.reasons[1] and "not reverting or blocking" in d.reasons[1]
    assert bump[:8] in d.reasons[1]
    _nothing_done(world, bare_repo, result)


def test_our_bump_as_the_newest_deployed_change_is_still_reverted(world: World, bare_repo: Path) -> None:
    """The control case: the same degraded notification at our own bump reverts and blocks."""
    bump = world.bump("12")
    result = world.degraded(bump)
    assert result.decision.outcome is Outcome.ACTED and result.decision.action["blocked"] == "12"
    assert [s for s in bare_log(bare_repo) if s.startswith("Roll back")] == [
        "Roll back fraud-detection v12 in staging"
    ]


def test_sync_message_reaches_slack_escaped(world: World, bare_repo: Path, tmp_path: Path) -> None:
    world.bump("12")
    human = _push(bare_repo, tmp_path, "bob")
    world.degraded(human, message="<!channel> deploy broke, see <https://evil.example|here> & fix")
    alert = [m for m in world.notifier.messages if m.text.startswith(":rotating_light:")][-1]
    for text in (alert.text, str(alert.blocks)):
        assert "<!channel>" not in text and "<https://evil.example|here>" not in text
        assert (
            "&lt;!channel&gt;" in text and "&lt;https://evil.example|here&gt;" in text and "&amp; fix" in text
        )
    assert "@ml-oncall" in alert.text  # our own configured mention is not escaped


def test_non_canonical_versions_never_pass_a_block(world: World) -> None:
    guards.block_version(world.store, "fraud-detection", "12", "rolled back")
    assert guards.is_blocked(world.store, "fraud-detection", "12")
    for sneaky in ("012", "+12", " 12", "12.0", "0", "abc"):
        with pytest.raises(InvalidNameError):
            guards.is_blocked(world.store, "fraud-detection", sneaky)
        with pytest.raises(InvalidNameError):
            guards.block_version(world.store, "fraud-detection", sneaky, "x")
    # pauses compare numbers: 9 is not newer than 10 (a string compare says it is)
    guards.pause(world.store, "fraud-detection", "staging", "a human edit", "10")
    assert guards.active_pause(world.store, "fraud-detection", "staging", "9") is not None
    assert guards.active_pause(world.store, "fraud-detection", "staging", "010") is not None  # not a version
    assert guards.active_pause(world.store, "fraud-detection", "staging", "11") is None


def test_012_against_a_blocklisted_12_is_rejected_by_the_promotion(world: World, bare_repo: Path) -> None:
    guards.block_version(world.store, "fraud-detection", "12", "rolled back")
    before = bare_log(bare_repo)
    for sneaky in ("012", "12"):
        d = world.promotion.promote("fraud-detection", sneaky, "staging", reason="t", inputs=[f"t:{sneaky}"])
        assert d.outcome is Outcome.REJECTED, (sneaky, d.reasons)
    assert bare_log(bare_repo) == before
