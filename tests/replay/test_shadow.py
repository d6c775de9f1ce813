"""Shadow mode for the alarm, promotion and feedback flows (data arrival: tests/data_arrival/test_arrival_shadow.py).

Each flow runs on the outside systems' fakes — the Argo stand-in (every request counted), the GitHub
fake (every request logged), the in-memory MLflow registry — with its adapters composed by
``shadow.wrap`` as the handlers compose them. A shadowed flow decides, records "would act" and says so
in Slack; nothing reaches Argo, GitHub or MLflow. The same flow with shadow off acts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from github_fake import STAGING, FakeGitHub
from mlops_glue import shadow
from mlops_glue.adapters.argo import ArgoRestSubmitter
from mlops_glue.adapters.gitops_github import GitHubRepo, token_auth
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
from mlops_glue.adapters.secrets import StaticSecrets
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import GlueConfig, parse_config
from mlops_glue.decisions.feedback import parse_notification
from mlops_glue.guards import blocked_versions
from mlops_glue.keys import last_dataset_key
from mlops_glue.records import Kind, Outcome
from mlops_glue.replay.export import config_doc
from mlops_glue.services.alarms import AlarmService
from mlops_glue.services.feedback import build_feedback_service
from mlops_glue.services.promotion import build_promotion_service
from pytest_httpserver import HTTPServer

from glue_local.standins import ArgoStandin, load_templates
from tests.conftest import ROOT, load_event

MODEL = "fraud-detection"


def config(shadow_setting: Any, argo_url: str = "https://argo.example.internal", gh: str = "") -> GlueConfig:
    doc = {
        "models": {
            MODEL: {
                "data": {
                    "bucket": "ml-data-dev",
                    "prefix": "fraud/",
                    "reference_profile": "s3://ml-data-dev/p.json",
                },
                "retrain": {"argo": {"namespace": "ml-pipelines", "workflow_template": "training-pipeline"}},
                "promote": {
                    "gate": {"metrics": {"val_auc": {"min": 0.85}}, "must_beat": None},
                    "environments": {
                        "staging": {"file": STAGING, "key": "model.version", "mode": "commit"},
                    },
                    "auto_rollback": True,
                },
                "notify": {"slack_channel": "#ml-fraud", "oncall": "@oncall"},
                "shadow": shadow_setting,
            },
        },
        "argo": {"server": argo_url, "token_secret": "argo/token", "artifacts_bucket": "ml-artifacts-dev"},
        "gitops": {"backend": "github", "repo": "o/r", "url": gh or None},
    }
    return parse_config(json.dumps(doc))


@pytest.fixture
def argo() -> Iterator[ArgoStandin]:
    server = ArgoStandin(templates=load_templates(ROOT / "deploy" / "argo"), token="argo-token")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def gh(httpserver: HTTPServer) -> FakeGitHub:
    fake = FakeGitHub(httpserver.url_for("").rstrip("/"))
    httpserver.expect_request(re.compile(".*")).respond_with_handler(fake)
    return fake


def github(gh: FakeGitHub) -> GitHubRepo:
    return GitHubRepo("o/r", "main", auth=token_auth("t0ken"), base_url=gh.base, throttle=False)


def writes(gh: FakeGitHub) -> list[tuple[str, str]]:
    return [c for c in gh.log if c[0] in ("PUT", "POST", "PATCH", "DELETE")]


def registry() -> MemoryRegistry:
    reg = MemoryRegistry()
    for v in ("1", "2"):
        reg.add(ModelVersion(MODEL, v, f"run{v}"), {"val_auc": 0.9})
    return reg


def assert_would_act(store: MemoryStateStore, slack: MemoryNotifier, kind: Kind) -> None:
    [d] = [d for d in store.decisions_for(MODEL, limit=50) if d.kind is kind]
    assert d.outcome is Outcome.ACTED
    assert d.action["shadow"] == shadow.WOULD_ACT
    assert d.reasons[0] == shadow.SHADOW_REASON
    assert slack.messages, "the decision is still noticed"
    assert all(shadow.NOTICE_MARK in m.text for m in slack.messages)
    assert all(m.blocks[0]["elements"][0]["text"] == shadow.NOTICE_MARK for m in slack.messages)


# ------------------------------------------------------------------------------------------ alarms


def alarm_service(
    cfg: GlueConfig, argo: ArgoStandin, store: MemoryStateStore, slack: MemoryNotifier
) -> AlarmService:
    real = ArgoRestSubmitter(
        argo.url, token_secret="argo/token", secrets=StaticSecrets({"argo/token": "argo-token"})
    )
    a = shadow.wrap(cfg, "alarms", store=store, submitter=real, notifier=slack)
    clock = datetime(2026, 11, 23, 10, 15, 7, tzinfo=UTC)
    return AlarmService(cfg, a.store, a.submitter, a.notifier, stage="dev", clock=lambda: clock)


@pytest.mark.parametrize("setting", [True, {"alarms": True}])
def test_alarms_in_shadow_submit_nothing_and_record_would_act(argo: ArgoStandin, setting: Any) -> None:
    store, slack = MemoryStateStore(), MemoryNotifier()
    store.put(*last_dataset_key(MODEL), {"manifest_uri": "s3://ml-data-dev/m.json", "window_id": "w1"}, None)
    cfg = config(setting, argo.url)

    [result] = alarm_service(cfg, argo, store, slack).handle_event(
        load_event("cloudwatch_quality_alarm.json")
    )

    assert argo.requests == 0 and argo.workflows == {}
    assert result.decision.kind is Kind.EMERGENCY_RETRAIN
    assert_would_act(store, slack, Kind.EMERGENCY_RETRAIN)


def test_alarms_act_when_shadow_is_off_or_for_another_flow(argo: ArgoStandin) -> None:
    store, slack = MemoryStateStore(), MemoryNotifier()
    store.put(*last_dataset_key(MODEL), {"manifest_uri": "s3://ml-data-dev/m.json", "window_id": "w1"}, None)
    cfg = config({"promotion": True}, argo.url)  # shadow for the promotion flow only

    alarm_service(cfg, argo, store, slack).handle_event(load_event("cloudwatch_quality_alarm.json"))

    assert len(argo.workflows) == 1
    [d] = store.decisions_for(MODEL)
    assert d.outcome is Outcome.ACTED and "shadow" not in d.action
    assert not any(shadow.NOTICE_MARK in m.text for m in slack.messages)


# ------------------------------------------------------------------------------------------ promotion


@pytest.mark.parametrize("setting", [True, {"promotion": True}])
def test_promotion_in_shadow_writes_no_git_and_no_tag(gh: FakeGitHub, setting: Any) -> None:
    cfg, store, slack, reg = config(setting), MemoryStateStore(), MemoryNotifier(), registry()
    a = shadow.wrap(cfg, "promotion", store=store, repo=github(gh), registry=reg, notifier=slack)
    head = gh.refs["main"]

    d = build_promotion_service(cfg, a.store, a.repo, a.registry, a.notifier).gate(
        MODEL, "2", inputs=["mlflow-delivery:x"]
    )

    assert d.outcome is Outcome.ACTED and d.environment == "staging"
    assert writes(gh) == [] and gh.refs["main"] == head and gh.pulls == []
    assert reg.tags[(MODEL, "2")] == {}  # no validation_status, no deployment_status
    assert [w["what"] for w in a.repo.would_write] == ["commit"]
    assert {t[2] for t in a.registry.would_tag} >= {"validation_status", "deployment_status.staging"}
    assert_would_act(store, slack, Kind.PROMOTE)


def test_promotion_with_shadow_off_commits_and_tags(gh: FakeGitHub) -> None:
    cfg, store, slack, reg = config(False), MemoryStateStore(), MemoryNotifier(), registry()
    a = shadow.wrap(cfg, "promotion", store=store, repo=github(gh), registry=reg, notifier=slack)

    d = build_promotion_service(cfg, a.store, a.repo, a.registry, a.notifier).gate(
        MODEL, "2", inputs=["mlflow-delivery:x"]
    )

    assert d.outcome is Outcome.ACTED and "shadow" not in d.action
    assert "version: 2\n" in gh.files("main")[STAGING]
    assert reg.tags[(MODEL, "2")]["validation_status"] == "passed"


# ------------------------------------------------------------------------------------------ feedback


def degraded(sha: str) -> Any:
    body = {
        "trigger": "on-health-degraded",
        "app": f"{MODEL}-staging",
        "namespace": "argocd",
        "revision": sha,
        "syncStatus": "Synced",
        "syncPhase": "Succeeded",
        "healthStatus": "Degraded",
    }
    return parse_notification(json.dumps(body))


def test_feedback_in_shadow_neither_reverts_nor_tags_nor_blocks(gh: FakeGitHub) -> None:
    """Promotion live, feedback in shadow: watch what a rollback would do before letting it act."""
    cfg, store, slack, reg = config({"feedback": True}), MemoryStateStore(), MemoryNotifier(), registry()
    live = shadow.wrap(
        cfg, "promotion", store=store, repo=github(gh), registry=reg, notifier=MemoryNotifier()
    )
    bump = build_promotion_service(cfg, live.store, live.repo, live.registry, live.notifier).gate(
        MODEL, "2", inputs=["mlflow-delivery:x"]
    )
    assert bump.outcome is Outcome.ACTED and bump.action["commit"] == gh.refs["main"]  # promotion acted
    head, logged, tags = gh.refs["main"], len(writes(gh)), dict(reg.tags[(MODEL, "2")])

    a = shadow.wrap(cfg, "feedback", store=store, repo=github(gh), registry=reg, notifier=slack)
    result = build_feedback_service(cfg, a.store, a.repo, a.registry, a.notifier).handle(degraded(head))

    assert result.decision.kind is Kind.ROLLBACK
    assert gh.refs["main"] == head and len(writes(gh)) == logged  # no revert commit
    assert reg.tags[(MODEL, "2")] == tags  # no blocked tag
    assert blocked_versions(store, MODEL) == {}  # the live promotion flow may still promote v2
    # the revert, and closing the blocked version's promotion PRs (one prefix per environment)
    assert [w["what"] for w in a.repo.would_write] == [
        "revert",
        "closing pull requests",
        "closing pull requests",
    ]
    assert ("fraud-detection", "2", "blocked", "true") in a.registry.would_tag
    assert_would_act(store, slack, Kind.ROLLBACK)


def test_feedback_with_shadow_off_reverts_tags_and_blocks(gh: FakeGitHub) -> None:
    cfg, store, slack, reg = config(False), MemoryStateStore(), MemoryNotifier(), registry()
    a = shadow.wrap(cfg, "feedback", store=store, repo=github(gh), registry=reg, notifier=slack)
    bump = build_promotion_service(cfg, a.store, a.repo, a.registry, a.notifier).gate(
        MODEL, "2", inputs=["mlflow-delivery:x"]
    )

    result = build_feedback_service(cfg, a.store, a.repo, a.registry, a.notifier).handle(
        degraded(bump.action["commit"])
    )

    assert result.decision.outcome is Outcome.ACTED and "shadow" not in result.decision.action
    assert "version: 1\n" in gh.files("main")[STAGING]  # reverted
    assert reg.tags[(MODEL, "2")]["blocked"] == "true" and "2" in blocked_versions(store, MODEL)


def test_wrap_leaves_the_adapters_alone_when_no_model_is_shadowed() -> None:
    cfg, store, slack = config(False), MemoryStateStore(), MemoryNotifier()
    a = shadow.wrap(cfg, "alarms", store=store, notifier=slack)
    assert a.store is store and a.notifier is slack


def load_function(name: str) -> Any:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"{name}_app_shadow", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_the_handlers_compose_shadow_and_the_recorder(
    stack: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The composition points: each handler wraps a shadowed model's adapters and wires the recorder."""
    from mlops_glue import runtime
    from mlops_glue.replay.recorder import DynamoEventLog, LogRecorder

    (tmp_path / "glue.yaml").write_text(json.dumps(config_doc(config({"alarms": True}))))
    monkeypatch.setenv("CONFIG_SOURCE", str(tmp_path / "glue.yaml"))
    monkeypatch.setenv("STATE_TABLE", stack["StateTable"])
    runtime.reset()

    svc = load_function("cloudwatch_alarm").service()

    assert isinstance(svc.submitter, shadow.ShadowSubmitter) and isinstance(
        svc.notifier, shadow.ShadowNotifier
    )
    assert isinstance(svc.recorder, LogRecorder) and isinstance(svc.recorder.log, DynamoEventLog)
    assert svc.recorder.ttl == runtime.config().replay.ttl
    worker = load_function("webhook_worker")
    repo, reg = object(), MemoryRegistry()
    monkeypatch.setattr(runtime, "gitops_repo", lambda: repo)
    monkeypatch.setattr(runtime, "registry", lambda: reg)
    promotion = worker._adapters("promotion")  # promotion is not shadowed here: the real adapters
    assert promotion.store is runtime.state_store() and promotion.repo is repo and promotion.registry is reg
