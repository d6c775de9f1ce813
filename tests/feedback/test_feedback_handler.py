"""The Argo CD notification path on moto: Function URL (secret, validation, 202) → intake queue → worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argocd_render import TOKEN, application, body, function_url_event
from feedback_support import CONFIG
from gitops_fixtures import GitRepoFactory, bare_branches, bare_log
from intake_support import Intake, SqsClock, intake
from mlops_glue import runtime
from mlops_glue.adapters.gitops import GitOpsError
from mlops_glue.adapters.registry import MemoryRegistry
from mlops_glue.adapters.secrets import StaticSecrets
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import DynamoStateStore
from mlops_glue.services.promotion import build_promotion_service

from tests.conftest import load_event


class Env:
    def __init__(
        self, it: Intake, notifier: MemoryNotifier, repo: Any, clock: SqsClock, monkeypatch: Any
    ) -> None:
        self.it, self.notifier, self.repo, self.clock = it, notifier, repo, clock
        self.monkeypatch = monkeypatch

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        """POST ``event``; on 202, run the worker on what is visible. (status, the worker's result or None)."""
        status, answer = self.it.post_argocd(event)
        if status != 202:
            return status, answer
        before = len(self.it.results)
        self.it.drain()
        done = self.it.results[before:]
        return status, (done[-1][1] if done else None)

    def retry(self) -> dict[str, Any] | None:
        """Let the backoff pass (moto's clock) and run the worker on the retried message."""
        before = len(self.it.results)
        self.clock.advance(3600)
        self.it.drain()
        done = self.it.results[before:]
        return done[-1][1] if done else None


@pytest.fixture
def env(
    stack: dict[str, str],
    aws: Any,
    tmp_path: Path,
    bare_repo: Path,
    make_git_repo: GitRepoFactory,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> Iterator[Env]:
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(CONFIG.replace("/tmp/unused", str(bare_repo)), encoding="utf-8")
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    notifier, repo, registry = MemoryNotifier(), make_git_repo(), MemoryRegistry()
    from mlops_glue.adapters.registry import ModelVersion

    for v in range(1, 20):
        registry.add(ModelVersion("fraud-detection", str(v), f"r{v}"), {})
    monkeypatch.setattr(runtime, "secrets", lambda: StaticSecrets({"mlops-glue/argocd-token": TOKEN}))
    monkeypatch.setattr(runtime, "notifier", lambda: notifier)
    monkeypatch.setattr(runtime, "gitops_repo", lambda: repo)
    monkeypatch.setattr(runtime, "registry", lambda: registry)
    clock = SqsClock(monkeypatch)
    it = intake(stack, aws, monkeypatch, lambda_context)
    it.observe()
    it.worker.worker().now = clock.now
    yield Env(it, notifier, repo, clock, monkeypatch)


def test_sample_events_get_their_documented_answers(env: Env) -> None:
    status, answer = env.call(load_event("argocd_wrong_secret.json"))
    assert status == 401 and answer and "secret" in answer["error"] and answer["request_id"]
    status, answer = env.call(load_event("argocd_malformed_body.json"))
    assert status == 400 and answer and "trigger" in answer["detail"]
    # the sample revision is not in the GitOps repository: accepted, then ignored and recorded
    status, result = env.call(load_event("argocd_on_deployed.json"))
    assert status == 202 and result is not None
    assert result["outcome"] == "ignored" and not result["duplicate"]
    assert "not found" in result["reasons"][0]


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (function_url_event(body("on-deployed", application()), token=None), 401),
        (function_url_event(body("on-deployed", application()), token=TOKEN + "x"), 401),
        (function_url_event(body("on-deployed", application()), method="GET"), 405),
        (function_url_event(body("on-deployed", application()), content_type="text/plain"), 415),
        (function_url_event("not json"), 400),
        (function_url_event("[1, 2]"), 400),
        (function_url_event(json.dumps({"trigger": "on-deployed", "app": "../etc", "namespace": "x"})), 400),
    ],
)
def test_rejections(env: Env, event: dict[str, Any], status: int) -> None:
    got, answer = env.call(event)
    assert got == status and answer and answer["error"] and answer["request_id"]
    assert env.it.depth() == 0  # nothing was queued


def test_repeated_notification_is_deduplicated(env: Env) -> None:
    event = load_event("argocd_on_health_degraded.json")
    first = env.call(event)
    # within SQS's 5-minute deduplication interval SQS drops the repeat; moto forgets the deduplication
    # id once the first message is deleted, so here it may reach the worker: either way it never acts
    second = env.call(event)
    env.clock.advance(6 * 60)
    third = env.call(event)  # a later repeat reaches the worker, whose idempotency replays the answer
    assert first[0] == second[0] == third[0] == 202
    assert first[1] is not None and not first[1]["duplicate"]
    assert second[1] is None or second[1]["duplicate"]
    assert third[1] is not None and third[1]["duplicate"]
    assert third[1]["decision_id"] == first[1]["decision_id"]
    store = DynamoStateStore("mlops-glue-state-dev")
    assert store.get_decision(first[1]["decision_id"]) is not None


def test_degraded_bump_is_reverted_once_through_the_functions(env: Env, bare_repo: Path) -> None:
    store = runtime.state_store()
    promo = build_promotion_service(runtime.config(), store, env.repo, runtime.registry(), env.notifier)
    bump = promo.promote("fraud-detection", "12", "staging", reason="t", inputs=["t"]).action["commit"]
    degraded = function_url_event(body("on-health-degraded", application(revision=bump, health="Degraded")))
    failed = function_url_event(body("on-sync-failed", application(revision=bump, phase="Failed")))

    s1, a1 = env.call(degraded)
    s2, a2 = env.call(failed)
    env.clock.advance(6 * 60)
    s3, a3 = env.call(degraded)

    assert (s1, s2, s3) == (202, 202, 202)
    assert a1 and a1["kind"] == "rollback" and a1["outcome"] == "acted" and a1["action"]["blocked"] == "12"
    assert a2 and a3 and a2["duplicate"] and a3["duplicate"]
    assert [s for s in bare_log(bare_repo) if s.startswith("Roll back")] == [
        "Roll back fraud-detection v12 in staging"
    ]


def test_git_unreachable_is_retried_by_the_worker_and_keeps_the_notification(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = env.repo.get_commit

    def broken(_rev: str) -> None:
        raise GitOpsError("git fetch failed (128): could not read from remote repository")

    monkeypatch.setattr(env.repo, "get_commit", broken)
    event = function_url_event(body("on-health-degraded", application(health="Degraded")))
    status, result = env.call(event)
    assert status == 202 and result is None  # the worker failed: the message stays, delayed
    assert env.it.failures == 1 and env.it.depth() == 1 and env.it.depth(env.it.dlq_url) == 0
    failed = DynamoStateStore("mlops-glue-state-dev").decisions_for("fraud-detection")
    assert failed and failed[0].outcome.value == "failed"
    assert failed[0].evidence["notification"]["healthStatus"] == "Degraded"
    # once Git is back, the retry is processed (the failure was not stored as an idempotent result)
    monkeypatch.setattr(env.repo, "get_commit", real)
    result = env.retry()
    assert result is not None and result["outcome"] == "ignored" and not result["duplicate"]
    assert env.it.depth() == 0


def test_no_shared_secret_configured_refuses_everything_with_503(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "nosecret.yaml"
    cfg.write_text(CONFIG.replace("argocd: {secret: mlops-glue/argocd-token}", ""), encoding="utf-8")
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    runtime.settings.cache_clear()
    runtime.config.cache_clear()
    status, answer = env.call(load_event("argocd_on_deployed.json"))
    assert status == 503 and answer and answer["error"] == "not configured"
    assert env.it.depth() == 0


def test_auto_promotion_during_a_git_outage_is_retried_and_opens_the_pr_once(
    env: Env, bare_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = runtime.state_store()
    promo = build_promotion_service(runtime.config(), store, env.repo, runtime.registry(), env.notifier)
    bump = promo.promote("fraud-detection", "12", "staging", reason="t", inputs=["t"]).action["commit"]
    away = bare_repo.with_name("gone.git")
    real_open = env.repo.open_pull_request

    def outage(*args: Any, **kwargs: Any) -> Any:
        """The remote disappears while the production pull request is pushed (real git failure)."""
        bare_repo.rename(away)
        try:
            return real_open(*args, **kwargs)
        finally:
            away.rename(bare_repo)

    monkeypatch.setattr(env.repo, "open_pull_request", outage)
    event = function_url_event(body("on-deployed", application(revision=bump)))

    status, result = env.call(event)

    assert status == 202 and result is None and env.it.failures == 1
    production = [b for b in bare_branches(bare_repo) if "/production/" in b]
    assert production == []
    failed = [d for d in store.decisions_for("fraud-detection") if d.kind.value == "notify_only"]
    assert failed and failed[0].outcome.value == "failed"
    assert not [m for m in env.notifier.messages if m.text.startswith(":white_check_mark:")]

    # the worker retries once the repository is back: the promotion happens, exactly once
    monkeypatch.setattr(env.repo, "open_pull_request", real_open)
    result = env.retry()
    assert result is not None and result["outcome"] == "acted" and not result["duplicate"]
    assert result["action"]["promotion_branch"].startswith("mlops-glue/fraud-detection/production/v12-")
    env.clock.advance(6 * 60)
    status, again = env.call(event)
    assert status == 202 and again is not None and again["duplicate"]
    production = [b for b in bare_branches(bare_repo) if "/production/" in b]
    assert production == [result["action"]["promotion_branch"]]
    live = [m for m in env.notifier.messages if m.text.startswith(":white_check_mark:")]
    assert len(live) == 1
