"""The argocd_notification Lambda (Function URL) on moto: secret, validation, dedup, answers."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from argocd_render import TOKEN, application, body, function_url_event
from feedback_support import CONFIG, ROOT
from gitops_fixtures import GitRepoFactory, bare_branches, bare_log
from mlops_glue import runtime
from mlops_glue.adapters.gitops import GitOpsError
from mlops_glue.adapters.registry import MemoryRegistry
from mlops_glue.adapters.secrets import StaticSecrets
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import DynamoStateStore
from mlops_glue.services.promotion import build_promotion_service

from tests.conftest import load_event


def _load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "argocd_notification_app", ROOT / "functions" / "argocd_notification" / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


APP = _load_app()


class Env:
    def __init__(self, app: ModuleType, notifier: MemoryNotifier, repo: Any, ctx: Any) -> None:
        self.app, self.notifier, self.repo, self.ctx = app, notifier, repo, ctx

    def call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        out = self.app.handler(event, self.ctx)
        return out["statusCode"], json.loads(out["body"])


@pytest.fixture
def env(
    stack: dict[str, str],
    tmp_path: Path,
    bare_repo: Path,
    make_git_repo: GitRepoFactory,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> Iterator[Env]:
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(CONFIG.replace("/tmp/unused", str(bare_repo)), encoding="utf-8")
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    monkeypatch.setenv("STATE_TABLE", "mlops-glue-state-dev")
    notifier, repo, registry = MemoryNotifier(), make_git_repo(), MemoryRegistry()
    from mlops_glue.adapters.registry import ModelVersion

    for v in range(1, 20):
        registry.add(ModelVersion("fraud-detection", str(v), f"r{v}"), {})
    monkeypatch.setattr(runtime, "secrets", lambda: StaticSecrets({"mlops-glue/argocd-token": TOKEN}))
    monkeypatch.setattr(runtime, "notifier", lambda: notifier)
    monkeypatch.setattr(runtime, "gitops_repo", lambda: repo)
    monkeypatch.setattr(runtime, "registry", lambda: registry)
    APP._persistence.cache_clear()
    yield Env(APP, notifier, repo, lambda_context)
    APP._persistence.cache_clear()


def test_sample_events_get_their_documented_answers(env: Env) -> None:
    status, answer = env.call(load_event("argocd_wrong_secret.json"))
    assert status == 401 and "secret" in answer["error"]
    status, answer = env.call(load_event("argocd_malformed_body.json"))
    assert status == 400 and "trigger" in answer["error"]
    # the sample revision is not in the GitOps repository: ignored, recorded, no action
    status, answer = env.call(load_event("argocd_on_deployed.json"))
    assert status == 200 and answer["outcome"] == "ignored" and not answer["duplicate"]
    assert "not found" in answer["reasons"][0]


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
    assert got == status and answer["error"]


def test_repeated_notification_is_deduplicated_by_powertools(env: Env) -> None:
    event = load_event("argocd_on_health_degraded.json")
    first = env.call(event)
    second = env.call(event)
    assert first[0] == second[0] == 200
    assert not first[1]["duplicate"] and second[1]["duplicate"]
    assert first[1]["decision_id"] == second[1]["decision_id"]
    store = DynamoStateStore("mlops-glue-state-dev")
    assert store.get_decision(first[1]["decision_id"]) is not None


def test_degraded_bump_is_reverted_once_through_the_function(env: Env, bare_repo: Path) -> None:
    store = runtime.state_store()
    promo = build_promotion_service(runtime.config(), store, env.repo, runtime.registry(), env.notifier)
    bump = promo.promote("fraud-detection", "12", "staging", reason="t", inputs=["t"]).action["commit"]
    degraded = function_url_event(body("on-health-degraded", application(revision=bump, health="Degraded")))
    failed = function_url_event(body("on-sync-failed", application(revision=bump, phase="Failed")))

    s1, a1 = env.call(degraded)
    s2, a2 = env.call(failed)
    s3, a3 = env.call(degraded)

    assert (s1, s2, s3) == (200, 200, 200)
    assert a1["kind"] == "rollback" and a1["outcome"] == "acted" and a1["action"]["blocked"] == "12"
    assert a2["duplicate"] and a3["duplicate"]
    assert [s for s in bare_log(bare_repo) if s.startswith("Roll back")] == [
        "Roll back fraud-detection v12 in staging"
    ]


def test_git_unreachable_answers_503_and_keeps_the_notification(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_rev: str) -> None:
        raise GitOpsError("git fetch failed (128): could not read from remote repository")

    monkeypatch.setattr(env.repo, "get_commit", broken)
    event = function_url_event(body("on-health-degraded", application(health="Degraded")))
    status, answer = env.call(event)
    assert status == 503 and "could not read" in answer["error"]
    failed = DynamoStateStore("mlops-glue-state-dev").decisions_for("fraud-detection")
    assert failed and failed[0].outcome.value == "failed"
    assert failed[0].evidence["notification"]["healthStatus"] == "Degraded"
    # the retry, once Git is back, is processed (the failure was not stored as an idempotent result)
    monkeypatch.undo()
    monkeypatch.setattr(runtime, "secrets", lambda: StaticSecrets({"mlops-glue/argocd-token": TOKEN}))
    monkeypatch.setattr(runtime, "notifier", lambda: env.notifier)
    monkeypatch.setattr(runtime, "gitops_repo", lambda: env.repo)
    monkeypatch.setattr(runtime, "registry", lambda: MemoryRegistry())
    status, answer = env.call(event)
    assert status == 200 and answer["outcome"] == "ignored" and not answer["duplicate"]


def test_no_shared_secret_configured_refuses_everything(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "nosecret.yaml"
    cfg.write_text(CONFIG.replace("argocd: {secret: mlops-glue/argocd-token}", ""), encoding="utf-8")
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    runtime.settings.cache_clear()
    runtime.config.cache_clear()
    status, answer = env.call(load_event("argocd_on_deployed.json"))
    assert status == 500 and "no shared secret" in answer["error"]


def test_auto_promotion_during_a_git_outage_answers_503_and_the_retry_opens_the_pr_once(
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

    status, answer = env.call(event)

    assert status == 503 and "auto_promote of v12 to production failed" in answer["error"]
    production = [b for b in bare_branches(bare_repo) if "/production/" in b]
    assert production == []
    failed = [d for d in store.decisions_for("fraud-detection") if d.kind.value == "notify_only"]
    assert failed and failed[0].outcome.value == "failed"
    assert not [m for m in env.notifier.messages if m.text.startswith(":white_check_mark:")]

    # Argo CD retries once the repository is back: the promotion happens, exactly once
    monkeypatch.setattr(env.repo, "open_pull_request", real_open)
    status, answer = env.call(event)
    assert status == 200 and answer["outcome"] == "acted" and not answer["duplicate"]
    assert answer["action"]["promotion_branch"].startswith("mlops-glue/fraud-detection/production/v12-")
    status, again = env.call(event)
    assert status == 200 and again["duplicate"]
    production = [b for b in bare_branches(bare_repo) if "/production/" in b]
    assert production == [answer["action"]["promotion_branch"]]
    live = [m for m in env.notifier.messages if m.text.startswith(":white_check_mark:")]
    assert len(live) == 1
