"""The promotion service on a real local GitOps repo, the in-memory registry, state store and Slack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gitops_fixtures import GitRepoFactory, bare_branches, bare_file, bare_log, closed_ref, git
from mlops_glue.adapters.gitops import GitOpsError, parse_trailers
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import parse_config
from mlops_glue.guards import block_version, blocked_versions, pause
from mlops_glue.keys import outbox_key
from mlops_glue.outbox import resend
from mlops_glue.records import Outcome
from mlops_glue.services.promotion import (
    PromotionService,
    PromotionUnavailableError,
    build_promotion_service,
    promotion_message,
)
from mlops_glue.webhooks import WebhookEvent, parse_event

CONFIG = """
models:
  fraud-detection:
    promote:
      gate: {metrics: {val_auc: {min: 0.85}, latency_ms: {max: 50, higher_is_better: false}}, must_beat: champion}
      environments:
        staging: {key: model.version, mode: commit}
        production: {key: model.version, mode: pull_request}
    notify: {slack_channel: "#ml-fraud"}
  churn: {}
gitops: {backend: git, repo: unused, branch: main}
"""

SPECS = Path(__file__).resolve().parents[2] / "specs"  # vendored copy of ../shared/specs
STAGING = "models/fraud-detection/values-staging.yaml"
PRODUCTION = "models/fraud-detection/values-production.yaml"


class Env:
    def __init__(self, make_git_repo: GitRepoFactory) -> None:
        self.config = parse_config(CONFIG)
        self.store = MemoryStateStore()
        self.repo = make_git_repo()
        self.registry = MemoryRegistry()
        self.slack = MemoryNotifier()
        self.service: PromotionService = build_promotion_service(
            self.config, self.store, self.repo, self.registry, self.slack
        )

    def version(self, v: str, metrics: dict[str, float], aliases: tuple[str, ...] = (), **tags: str) -> None:
        self.registry.add(ModelVersion("fraud-detection", v, f"run{v}", dict(tags), aliases), metrics)


@pytest.fixture
def env(make_git_repo: GitRepoFactory) -> Env:
    e = Env(make_git_repo)
    e.version("1", {"val_auc": 0.86, "latency_ms": 30}, aliases=("champion",))
    return e


def test_passing_version_is_tagged_and_bumped_in_staging_with_trailers(env: Env, bare_repo: Path) -> None:
    env.version("2", {"val_auc": 0.9, "latency_ms": 20})

    d = env.service.gate("fraud-detection", "2", inputs=["mlflow-delivery:abc"])

    assert d.outcome is Outcome.ACTED and d.environment == "staging"
    assert "version: 2\n" in bare_file(bare_repo, STAGING)
    assert env.registry.tags[("fraud-detection", "2")]["validation_status"] == "passed"
    head = git(bare_repo, "log", "-1", "--format=%B", "main")
    assert parse_trailers(head) == {
        "Glue-Decision-Id": d.decision_id,
        "Glue-Model": "fraud-detection",
        "Glue-Version": "2",
        "Glue-Environment": "staging",
    }
    assert d.action["commit"] == git(bare_repo, "rev-parse", "main").strip()
    assert env.store.get_decision(d.decision_id) == d
    [msg] = env.slack.messages
    assert msg.channel == "#ml-fraud" and "bumped in *staging*" in msg.blocks[0]["text"]["text"]


def test_failing_version_is_tagged_failed_with_reasons_and_not_committed(env: Env, bare_repo: Path) -> None:
    env.version("2", {"val_auc": 0.8, "latency_ms": 20})
    before = bare_log(bare_repo)

    d = env.service.gate("fraud-detection", "2", inputs=["x"])

    assert d.outcome is Outcome.REJECTED
    assert bare_log(bare_repo) == before
    tags = env.registry.tags[("fraud-detection", "2")]
    assert tags["validation_status"] == "failed"
    assert "✗ val_auc 0.8 < 0.85" in tags["validation_reasons"]
    text = str(env.slack.messages[0].blocks)
    assert (
        "failed the gate" in text and "val_auc 0.8 &lt; 0.85" in text and "latency" not in text
    )  # mrkdwn-escaped


def test_a_version_that_does_not_beat_the_champion_fails(env: Env) -> None:
    env.version("2", {"val_auc": 0.855, "latency_ms": 20})  # above the threshold, below the champion
    d = env.service.gate("fraud-detection", "2", inputs=["x"])
    assert d.outcome is Outcome.REJECTED
    assert any("does not beat champion v1" in r for r in d.reasons)


def test_missing_metric_fails_the_gate(env: Env) -> None:
    env.version("2", {"val_auc": 0.95})
    d = env.service.gate("fraud-detection", "2", inputs=["x"])
    assert d.outcome is Outcome.REJECTED and "✗ latency_ms is missing from the run" in d.reasons


def test_production_opens_a_pr_with_the_decision_record_then_reuses_it(env: Env, bare_repo: Path) -> None:
    env.version("2", {"val_auc": 0.9, "latency_ms": 20})
    d1 = env.service.promote("fraud-detection", "2", "production", reason="alias champion set", inputs=["a"])
    d2 = env.service.promote("fraud-detection", "2", "production", reason="alias champion set", inputs=["b"])

    assert d1.outcome is Outcome.ACTED and "pull_request" in d1.action
    assert d2.action["branch"] == d1.action["branch"] and d2.action.get("reused") == "true"
    assert "version: 1\n" in bare_file(bare_repo, PRODUCTION)  # the base waits for review
    branch = d1.action["branch"]
    assert branch.startswith("mlops-glue/fraud-detection/production/v2-")
    assert "version: 2\n" in bare_file(bare_repo, PRODUCTION, branch)
    body = git(bare_repo, "log", "-1", "--format=%B", branch)
    assert "### Why" in body and "alias champion set" in body and d1.decision_id in body

    env.version("3", {"val_auc": 0.95, "latency_ms": 20})
    d3 = env.service.promote("fraud-detection", "3", "production", reason="alias champion set", inputs=["c"])
    assert d3.action["superseded"] == branch
    assert branch not in bare_branches(bare_repo)


def test_already_deployed_version_is_ignored_with_a_notice_and_a_tag(env: Env, bare_repo: Path) -> None:
    before = bare_log(bare_repo)
    d = env.service.promote("fraud-detection", "1", "staging", reason="tag deploy=staging", inputs=["x"])
    assert d.outcome is Outcome.IGNORED and f"{STAGING} already holds v1" in d.reasons
    assert bare_log(bare_repo) == before
    [msg] = env.slack.messages
    assert "already holds v1" in str(msg.blocks)
    tags = env.registry.tags[("fraud-detection", "1")]
    assert tags["deployment_status.staging"] == "not_deployed"
    assert "already holds v1" in tags["deployment_reason.staging"]


def test_out_of_order_gate_never_moves_staging_backwards(env: Env, bare_repo: Path) -> None:
    env.version("2", {"val_auc": 0.9, "latency_ms": 20})
    env.version("3", {"val_auc": 0.91, "latency_ms": 20})
    env.service.gate("fraud-detection", "3", inputs=["late"])
    d = env.service.gate("fraud-detection", "2", inputs=["early"])
    assert d.outcome is Outcome.IGNORED and "newer than v2" in d.reasons[-1]
    assert "version: 3\n" in bare_file(bare_repo, STAGING)


@pytest.mark.parametrize("how", ["blocklist", "tag", "pause"])
def test_blocked_or_paused_versions_are_never_promoted(env: Env, bare_repo: Path, how: str) -> None:
    env.version("2", {"val_auc": 0.9, "latency_ms": 20}, **({"blocked": "true"} if how == "tag" else {}))
    if how == "blocklist":
        block_version(env.store, "fraud-detection", "2", "rolled back after degraded health")
    if how == "pause":
        pause(env.store, "fraud-detection", "staging", "human revert", until_newer_than="2")
    before = bare_log(bare_repo)

    d = env.service.promote("fraud-detection", "2", "staging", reason="auto", inputs=["x"])

    assert d.outcome is Outcome.REJECTED
    assert bare_log(bare_repo) == before
    assert any(w in " ".join(d.reasons) for w in ("blocklisted", "tagged blocked", "paused"))


@pytest.mark.parametrize(
    ("model", "version", "env_name"),
    [("../etc", "2", "staging"), ("fraud-detection", "../../2", "staging"), ("fraud-detection", "2", "a/b")],
)
def test_path_tricks_are_rejected(env: Env, bare_repo: Path, model: str, version: str, env_name: str) -> None:
    before = bare_log(bare_repo)
    d = env.service.promote(model, version, env_name, reason="x", inputs=["x"])
    assert d.outcome is Outcome.REJECTED and bare_log(bare_repo) == before


def anchor_the_model_block(bare_repo: Path, tmp_path: Path) -> None:
    """Push a staging values file whose model block is a YAML anchor another key aliases: an edit of it
    cannot be made safely."""
    work = tmp_path / "h"
    git(tmp_path, "clone", "--quiet", str(bare_repo), str(work))
    (work / STAGING).write_text("model: &m {version: 1}\nother: *m\n")
    git(work, "commit", "--quiet", "-am", "anchor the model block")
    git(work, "push", "--quiet", "origin", "main")


def test_unsafe_values_edit_fails_with_the_reason(env: Env, bare_repo: Path, tmp_path: Path) -> None:
    anchor_the_model_block(bare_repo, tmp_path)
    env.version("2", {"val_auc": 0.9, "latency_ms": 20})
    d = env.service.promote("fraud-detection", "2", "staging", reason="x", inputs=["x"])
    assert d.outcome is Outcome.FAILED and "refusing the edit" in d.reasons[-1]


def test_unreachable_repo_is_a_retryable_failure(env: Env, make_git_repo: GitRepoFactory) -> None:
    class Down:
        def __getattr__(self, name: str) -> Any:
            def fail(*a: Any, **k: Any) -> Any:
                raise GitOpsError("git fetch failed (128): could not read from remote")

            return fail

    env.service.repo = Down()  # type: ignore[assignment]
    env.version("2", {"val_auc": 0.9, "latency_ms": 20})
    with pytest.raises(PromotionUnavailableError) as raised:  # retried because of its type
        env.service.promote("fraud-detection", "2", "staging", reason="x", inputs=["x"])
    d = raised.value.decision
    assert d.outcome is Outcome.FAILED and d.evidence["retryable"] is True  # the audit says so too
    assert "could not read from remote" in d.reasons[0]
    assert env.store.get_decision(d.decision_id) == d  # recorded before it was raised


def test_unconfigured_production_defaults_to_a_pull_request(env: Env, bare_repo: Path) -> None:
    env.registry.add(ModelVersion("churn", "4", None), {})
    d = env.service.promote("churn", "4", "production", reason="x", inputs=["x"])
    assert "pull_request" in d.action and "version: 1\n" in bare_file(
        bare_repo, "models/churn/values-production.yaml"
    )


def test_slack_message_shapes() -> None:
    from mlops_glue.records import Decision, Kind

    d = Decision(
        decision_id="d-1",
        model="m",
        environment="production",
        kind=Kind.PROMOTE,
        outcome=Outcome.ACTED,
        evidence={"version": "3", "version_url": "http://mlflow/#/models/m/versions/3"},
        action={"pull_request": "https://github.com/o/r/pull/7", "branch": "b"},
    )
    msg = promotion_message(d, "#c")
    assert "PR opened to promote *m* v3 to *production*: <https://github.com/o/r/pull/7|review it>" in str(
        msg.blocks
    )
    assert msg.channel == "#c" and msg.text


def blocked_tag_event(version: str) -> WebhookEvent:
    """A ``model_version_tag.set`` delivery (the vendored real one) retargeted to ``blocked=true``."""
    raw = json.loads((SPECS / "mlflow-webhooks" / "model_version_tag.set.json").read_text())
    body = json.loads(raw["body_text"])
    body["data"].update(name="fraud-detection", version=version, key="blocked", value="true")
    return parse_event(json.dumps(body).encode())


def test_blocked_tag_blocklists_and_closes_the_open_promotion_pull_request(env: Env, bare_repo: Path) -> None:
    env.version("2", {"val_auc": 0.9, "latency_ms": 20})
    env.version("3", {"val_auc": 0.9, "latency_ms": 20})
    d2 = env.service.promote("fraud-detection", "2", "production", reason="alias set", inputs=["a"])
    d3 = env.service.promote("fraud-detection", "3", "staging", reason="tag deploy", inputs=["b"])
    open_pr = d2.action["branch"]
    closed = closed_ref(d2.action["pull_request"], open_pr)  # the branch, or the MR on GitLab
    assert open_pr in bare_branches(bare_repo) and "commit" in d3.action

    d = env.service.on_event(blocked_tag_event("2"), "mlflow-delivery:tag-1")

    assert d is not None and d.outcome is Outcome.ACTED
    assert "2" in blocked_versions(env.store, "fraud-detection")
    assert d.action == {"blocklisted": "2", "closed_pull_requests": closed}
    assert open_pr not in bare_branches(bare_repo)
    assert "version: 3\n" in bare_file(bare_repo, STAGING)  # blocking v2 touches nothing else
    msg = env.slack.messages[-1]
    headline = msg.blocks[0]["text"]["text"]
    assert headline.startswith(":no_entry: *fraud-detection* v2 blocklisted")
    assert f"closed its open promotion PRs: {closed}" in headline and ":rocket:" not in headline
    # a redelivery finds nothing left to close
    again = env.service.on_event(blocked_tag_event("2"), "mlflow-delivery:tag-2")
    assert again is not None and again.outcome is Outcome.ACTED and "closed_pull_requests" not in again.action


def test_blocked_tag_with_the_repository_down_is_retryable(env: Env) -> None:
    def down(prefix: str, comment: str) -> tuple[str, ...]:
        raise GitOpsError("git fetch failed (128): could not read from remote")

    env.repo.close_pull_requests = down  # type: ignore[method-assign]

    with pytest.raises(PromotionUnavailableError) as raised:
        env.service.on_event(blocked_tag_event("2"), "mlflow-delivery:tag-1")

    d = raised.value.decision
    assert d is not None and d.outcome is Outcome.FAILED and d.evidence["retryable"] is True
    assert "2" in blocked_versions(env.store, "fraud-detection")  # the blocklist holds meanwhile
    assert "could not read from remote" in d.reasons[-1]
    headline = env.slack.messages[-1].blocks[0]["text"]["text"]
    assert headline.startswith(":warning: *fraud-detection* v2 blocklisted")
    assert "could not be closed" in headline


def test_blocklisted_notice_has_its_own_icon() -> None:
    from mlops_glue.records import Decision, Kind

    d = Decision(
        decision_id="d-2",
        model="m",
        kind=Kind.NOTIFY_ONLY,
        outcome=Outcome.ACTED,
        reasons=["version 4 tagged blocked=true", "blocklisted: never promoted automatically"],
        action={"blocklisted": "4"},
    )
    headline = promotion_message(d).blocks[0]["text"]["text"]
    assert headline == ":no_entry: *m* v4 blocklisted: it will not be promoted automatically"


def test_blocked_prefixes_name_every_environment_and_only_that_version() -> None:
    from mlops_glue.decisions.promote import blocked_prefixes, pr_branch, version_prefix

    with_canary = CONFIG.replace("production: {key", "canary: {mode: pull_request}\n        production: {key")
    promote = parse_config(with_canary).model("fraud-detection").promote
    prefixes = blocked_prefixes("fraud-detection", "1", promote)
    assert prefixes == [
        "mlops-glue/fraud-detection/staging/v1-",
        "mlops-glue/fraud-detection/production/v1-",
        "mlops-glue/fraud-detection/canary/v1-",
    ]
    v1 = pr_branch("fraud-detection", "production", "1", [f"{PRODUCTION}: model.version=1"])
    v12 = pr_branch("fraud-detection", "production", "12", [f"{PRODUCTION}: model.version=12"])
    assert v1.startswith(version_prefix("fraud-detection", "production", "1"))
    assert not any(v12.startswith(p) for p in prefixes)


def test_a_notice_slack_refused_waits_in_the_outbox_and_is_resent_once(env: Env, bare_repo: Path) -> None:
    env.version("2", {"val_auc": 0.9, "latency_ms": 20})
    env.slack.fail = True

    d = env.service.gate("fraud-detection", "2", inputs=["mlflow-delivery:abc"])

    assert d.outcome is Outcome.ACTED and "version: 2\n" in bare_file(bare_repo, STAGING)  # never undone
    assert env.slack.messages == []
    kept = env.store.get(*outbox_key("fraud-detection"))
    assert kept is not None and [i["channel"] for i in kept.data["items"]] == ["#ml-fraud"]
    json.dumps(kept.data)  # plain JSON, as the DynamoDB store keeps it
    assert resend(env.slack, env.store, env.config.models) == (0, 1)  # still down: kept, in order
    env.slack.fail = False
    assert resend(env.slack, env.store, env.config.models) == (1, 0)
    assert resend(env.slack, env.store, env.config.models) == (0, 0)
    [msg] = env.slack.messages
    assert msg == promotion_message(d, "#ml-fraud")


# ---------------------------------------------------------------------------- retry or reject, by type
def created_event(version: str) -> WebhookEvent:
    raw = json.loads((SPECS / "mlflow-webhooks" / "model_version.created.json").read_text())
    body = json.loads(raw["body_text"])
    body["data"].update(name="fraud-detection", version=version)
    return parse_event(json.dumps(body).encode())


def test_process_raises_a_retryable_error_when_the_registry_is_down(env: Env) -> None:
    from mlops_glue.adapters.registry import RegistryError
    from mlops_glue.errors import RetryableError
    from mlops_glue.webhooks import Delivery

    def down(*a: Any, **k: Any) -> Any:
        raise RegistryError("MLflow answered 503")

    env.registry.get_version = down  # type: ignore[method-assign]

    with pytest.raises(RetryableError, match="MLflow answered 503") as raised:
        env.service.process(created_event("2"), Delivery("dlv-1", 0, b"{}"))

    assert isinstance(raised.value, PromotionUnavailableError)
    d = raised.value.decision
    assert d.outcome is Outcome.FAILED and env.store.get_decision(d.decision_id) == d  # recorded
    assert ":warning:" in env.slack.messages[-1].blocks[0]["text"]["text"]  # and said


def test_process_answers_a_final_failure_without_raising(env: Env, bare_repo: Path, tmp_path: Path) -> None:
    """A target that cannot be edited safely fails for good: a result, not a retry (nothing reads a flag)."""
    from mlops_glue.webhooks import Delivery

    anchor_the_model_block(bare_repo, tmp_path)
    env.version("2", {"val_auc": 0.9, "latency_ms": 20})

    result = env.service.process(created_event("2"), Delivery("dlv-2", 0, b"{}"))

    assert result["status"] == "failed" and "refusing the edit" in result["reasons"][-1]
    d = env.store.get_decision(result["decision_id"])
    assert d is not None and "retryable" not in d.evidence


def test_a_failed_decision_the_store_could_not_record_is_retried(env: Env) -> None:
    """Losing the record of a failure would be silent: the store being down makes it retryable."""
    from mlops_glue.adapters.registry import RegistryError
    from mlops_glue.adapters.state import StateError

    def down(*a: Any, **k: Any) -> Any:
        raise RegistryError("MLflow answered 503")

    def store_down(decision: Any) -> None:
        raise StateError("DynamoDB throttled")

    env.registry.get_version = down  # type: ignore[method-assign]
    env.store.record_decision = store_down  # type: ignore[method-assign]

    with pytest.raises(PromotionUnavailableError) as raised:
        env.service.gate("fraud-detection", "2", inputs=["x"])

    assert raised.value.decision.evidence["retryable"] is True
