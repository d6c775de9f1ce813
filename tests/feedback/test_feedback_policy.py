"""The pure policy: application mapping, signals and decisions over hand-made Git facts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from argocd_render import application, body
from mlops_glue.config import GlueConfig
from mlops_glue.decisions.feedback import (
    ArgoCDNotification,
    Bump,
    Deployment,
    FeedbackNotice,
    History,
    InvalidNotificationError,
    Signal,
    app_target,
    decide,
    parse_notification,
    signal,
)
from mlops_glue.records import CommitInfo, Kind, Outcome

NOW = datetime(2026, 11, 23, tzinfo=UTC)
PATH = "models/fraud-detection/values-staging.yaml"
B = "b" * 40


def ours(sha: str, version: str, reverts: str | None = None) -> CommitInfo:
    t = {"Glue-Decision-Id": f"d-{sha[:4]}", "Glue-Model": "fraud-detection", "Glue-Environment": "staging"}
    if version:
        t["Glue-Version"] = version
    if reverts:
        t["Glue-Reverts"] = reverts
    return CommitInfo(sha, "bump", "mlops-glue <bot@x>", (PATH,), t)


def human(sha: str, message: str = "tweak") -> CommitInfo:
    return CommitInfo(sha, message, "Ana <ana@x>", (PATH,), {})


def note(trigger: str = "on-deployed", rev: str = B, **kw: str) -> ArgoCDNotification:
    return parse_notification(body(trigger, application(revision=rev, **kw)))


def test_app_mapping_explicit_then_convention_longest_model_wins(config: GlueConfig) -> None:
    assert app_target(config, "churn-stg") == ("churn", "staging")
    assert app_target(config, "fraud-detection-production") == ("fraud-detection", "production")
    assert app_target(config, "churn-staging") is None  # churn/staging is deployed by churn-stg
    assert app_target(config, "fraud-detection-qa") is None  # not a configured environment
    assert app_target(config, "payments") is None


@pytest.mark.parametrize(
    ("trigger", "kw", "expected"),
    [
        ("on-deployed", {}, Signal.HEALTHY),
        ("on-sync-succeeded", {"health": "Progressing"}, Signal.PROGRESSING),
        ("on-sync-succeeded", {"health": "Degraded"}, Signal.BAD),
        ("on-sync-failed", {"phase": "Failed"}, Signal.BAD),
        ("on-health-degraded", {"health": "Degraded"}, Signal.BAD),
    ],
)
def test_signal(trigger: str, kw: dict[str, str], expected: Signal) -> None:
    assert signal(note(trigger, **kw)) is expected


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty body"),
        ("{", "not JSON"),
        ('{"trigger": "on-deployed", "app": "a", "namespace": "argocd"}', "revision: missing"),
        ('{"trigger": "on-deployed", "app": "A B", "namespace": "argocd", "revision": "abc1234"}', "app"),
        ('{"trigger": "on-deployed", "app": "a", "namespace": "argocd", "revision": "-rf"}', "revision"),
    ],
)
def test_invalid_bodies_say_why(raw: str, why: str) -> None:
    with pytest.raises(InvalidNotificationError, match=why):
        parse_notification(raw)


def test_healthy_our_bump_promotes_unless_blocked_or_paused(config: GlueConfig) -> None:
    dep = Deployment(PATH, ours(B, "12"), ours(B, "12"), (), "12")
    plan = decide(config, note(), "fraud-detection", "staging", dep, History(), NOW)
    assert plan.promote_to == "production" and plan.notice is FeedbackNotice.LIVE
    blocked = decide(
        config, note(), "fraud-detection", "staging", dep, History(blocked=frozenset({"12"})), NOW
    )
    assert blocked.promote_to is None and "blocked" in blocked.decision.reasons[-1]
    paused = decide(config, note(), "fraud-detection", "staging", dep, History(next_paused={"x": 1}), NOW)
    assert paused.promote_to is None and "paused" in paused.decision.reasons[-1]


def test_bad_after_our_rollback_is_not_reverted_again(config: GlueConfig) -> None:
    c = ours(B, "", reverts="a" * 40)
    plan = decide(
        config,
        note("on-health-degraded", health="Degraded"),
        "fraud-detection",
        "staging",
        Deployment(PATH, c, c, (), "11"),
        History(),
        NOW,
    )
    assert plan.revert is None and plan.decision.outcome is Outcome.DEFERRED
    assert plan.bump is not None and plan.bump.version == "11"  # read from the file


def test_superseded_bump_is_left_alone(config: GlueConfig) -> None:
    c = ours(B, "12")
    dep = Deployment(PATH, c, c, (ours("c" * 40, "13"),), "13")
    plan = decide(
        config, note("on-sync-failed", phase="Failed"), "fraud-detection", "staging", dep, History(), NOW
    )
    assert plan.revert is None and plan.decision.kind is Kind.NOTIFY_ONLY
    assert "superseded by our v13" in plan.decision.reasons[0]


def test_later_human_edit_keeps_version_then_rollback_is_a_pull_request(config: GlueConfig) -> None:
    c = ours(B, "12")
    dep = Deployment(PATH, c, c, (human("c" * 40),), "12", previous_version="11")
    plan = decide(
        config,
        note("on-health-degraded", health="Degraded"),
        "fraud-detection",
        "staging",
        dep,
        History(),
        NOW,
    )
    assert plan.revert == "pull_request" and plan.restore_version == "11" and plan.block == "12"


def test_pause_is_not_repeated(config: GlueConfig) -> None:
    h = human(B, f'Revert "bump"\n\nThis reverts commit {"a" * 40}.')
    hist = History(last_ours=Bump("a" * 40, "12", "d-a"))
    dep = Deployment(PATH, h, h, (), "11")
    first = decide(config, note(), "fraud-detection", "staging", dep, hist, NOW)
    assert first.pause_until_newer_than == "12" and first.notice is FeedbackNotice.PAUSED
    hist2 = History(last_ours=hist.last_ours, paused={"until_newer_than": "12"})
    again = decide(config, note(), "fraud-detection", "staging", dep, hist2, NOW)
    assert again.pause_until_newer_than is None and again.notice is FeedbackNotice.NONE


def test_non_commit_revision_is_not_ours(config: GlueConfig) -> None:
    plan = decide(
        config, note(rev="1.4.2"), "fraud-detection", "staging", Deployment(PATH, None, None), History(), NOW
    )
    assert plan.decision.outcome is Outcome.IGNORED and "not a git commit" in plan.decision.reasons[0]


def test_the_rules_import_nothing_from_adapters_and_parse_no_payload() -> None:
    """``decisions/`` is pure: no adapter; the webhook rules parse no JSON, their events come in typed."""
    import ast
    from pathlib import Path

    import mlops_glue.decisions as package

    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }
        assert not {m for m in imported if m.startswith("mlops_glue.adapters")}, path.name
        if path.stem in ("promote", "feedback"):  # the webhook rules: the payload was parsed at the edge
            assert "json" not in imported, f"{path.name} parses a payload: that is the edge's job"
