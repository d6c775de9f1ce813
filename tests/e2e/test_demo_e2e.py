"""The demo's whole loop as a test: ``glue_local.demo.run`` on real local servers, each step's outcome.

One run (about a minute: the MLflow server's start is most of it) feeds every assertion below; then
no child process, server thread or open port of the run is left. The functions run from their built
artifacts (``glue_local.functions.ArtifactFunction``), as Lambda runs them.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
from mlops_glue.drift.synth import DRIFTED

from glue_local.demo import DemoResult, run
from glue_local.gitops_seed import bare_branches, bare_file, bare_log, git
from glue_local.standins import render_blocks

pytestmark = pytest.mark.slow

MODEL = "fraud-detection"
STAGING = f"models/{MODEL}/values-staging.yaml"
PRODUCTION = f"apps/{MODEL}-production.yaml"  # an Argo CD Application: helm parameter model.version
SERVER_THREADS = ("LocalFront", "ArgoStandin", "SlackStandin", "mlflow-start")


def _new_server_threads(before: set[threading.Thread]) -> list[str]:
    """Server threads started since ``before`` still alive (another suite's session servers don't count)."""
    return [t.name for t in threading.enumerate() if t.name in SERVER_THREADS and t not in before]


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


Demo = tuple[DemoResult, list[str], set[int], set[threading.Thread]]


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Demo]:
    before, threads_before = _children(), set(threading.enumerate())
    env_before = dict(os.environ)
    lines: list[str] = []
    # every function runs from its built artifact (make build), in an interpreter holding only the
    # artifact and the Lambda runtime's boto3: a dependency the artifact lacks fails the story
    result = run(tmp_path_factory.mktemp("demo") / "run", lines.append, artifacts=True)
    assert dict(os.environ) == env_before  # the run's environment is put back
    yield result, lines, before, threads_before


def test_the_batches_accumulate_into_one_retraining_and_the_drifted_batch_into_another(
    demo: Demo,
) -> None:
    result, _, _, _ = demo
    assert result.argo_rejected == []  # every submission valid against the swagger and the template
    kinds = [w["metadata"]["labels"]["mlops-glue/kind"] for w in result.workflows]
    assert kinds == ["retrain", "retrain", "emergency-retrain"]
    params = [{p["name"]: p["value"] for p in w["spec"]["arguments"]["parameters"]} for w in result.workflows]
    assert [p["trigger-reason"] for p in params] == ["rows", "drift", "alarm"]
    assert [w["spec"]["priority"] for w in result.workflows] == [10, 10, 100]

    by_id = {d.decision_id: d for d in result.decisions}
    rows_wf, drift_wf, emergency_wf = result.workflows
    for wf, p in zip(result.workflows, params, strict=True):
        d = by_id[wf["metadata"]["labels"]["mlops-glue/decision-id"]]  # the workflow answers "why?"
        assert d.action["workflow"] == wf["metadata"]["name"] and p["decision-id"] == d.decision_id

    rows = by_id[rows_wf["metadata"]["labels"]["mlops-glue/decision-id"]]
    assert rows.reasons == ["3,600 new rows in 3 files ≥ min_new_rows 3,500"]
    manifest = result.manifests[rows_wf["metadata"]["name"]]
    assert sorted((o["key"], o["version_id"]) for o in manifest["objects"]) == sorted(result.facts["batches"])

    drift = by_id[drift_wf["metadata"]["labels"]["mlops-glue/decision-id"]]
    assert drift.reasons[0].startswith("drift share 0.20 ≥ 0.15")
    # exactly the columns the synthetic batch shifted, none of the others
    assert {c for c, _ in drift.evidence["drift"]["drifted_columns"]} == set(DRIFTED)
    assert drift.evidence["rows"] == 1500 and drift.inputs[0].endswith(result.facts["drift_batch"][1])
    [(key, version)] = [
        (o["key"], o["version_id"]) for o in result.manifests[drift_wf["metadata"]["name"]]["objects"]
    ]
    assert (key, version) == result.facts["drift_batch"]
    assert result.report is not None and result.report.exists()
    html = result.report.read_text(encoding="utf-8")
    assert all(c in html for c in DRIFTED)

    # the emergency retraining trains on the latest window: the drift window's manifest
    assert params[2]["dataset-manifest"] == params[1]["dataset-manifest"]
    assert emergency_wf["metadata"]["labels"]["mlops-glue/model"] == MODEL


def test_the_gate_tags_mlflow_and_only_the_passing_version_reaches_staging(
    demo: Demo,
) -> None:
    result, _, _, _ = demo
    tags = result.mlflow_tags
    assert "validation_status" not in tags["1"]  # the champion, registered before the webhook
    assert (
        tags["2"]["validation_status"] == "failed" and "val_auc 0.8 < 0.85" in tags["2"]["validation_reasons"]
    )
    assert tags["3"]["validation_status"] == "passed"
    assert tags["3"]["blocked"] == "true" and "Degraded" in tags["3"]["blocked_reason"]
    front = [r for r in result.front_requests if r["path"] == "/mlflow"]
    assert front and {r["status"] for r in front} == {202}  # every real delivery verified and queued


def test_gitops_history_commit_pull_request_branch_and_revert(
    demo: Demo,
) -> None:
    result, _, _, _ = demo
    bare = result.bare_repo
    assert bare_log(bare) == [
        f"Roll back {MODEL} v3 in staging",
        f"Promote {MODEL} to v3 in staging",
        "Seed the GitOps repository",
    ]
    staging_sha, revert_sha = result.facts["staging_sha"], result.facts["revert_sha"]
    assert git(bare, "rev-parse", "main~1").strip() == staging_sha
    assert git(bare, "rev-parse", "main").strip() == revert_sha
    trailers = git(bare, "log", "-1", "--format=%(trailers:only,unfold)", revert_sha)
    assert f"Glue-Reverts: {staging_sha}" in trailers
    assert "version: 1\n" in bare_file(bare, STAGING)  # back to the champion
    assert "# bumped by mlops-glue; everything else is left alone" in bare_file(bare, STAGING)
    # v3's production PR (checked when opened: its branch set v3) ...
    branch = result.facts["pr_branch"]
    assert branch.startswith(f"mlops-glue/{MODEL}/production/v3-")
    # ... was closed (plain git: its branch deleted) when v3 was rolled back and blocked
    assert branch not in bare_branches(bare)
    rollback = next(d for d in result.decisions if d.kind.value == "rollback")
    assert rollback.action["closed_pull_requests"] == branch
    assert 'value: "v1"' in bare_file(bare, PRODUCTION)  # production changes only through review


def test_decisions_blocklist_and_slack(demo: Demo) -> None:
    result, lines, _, _ = demo
    got = Counter((d.kind.value, d.environment, d.outcome.value) for d in result.decisions)
    assert got == Counter(
        {
            ("retrain", None, "acted"): 2,
            ("promote", "staging", "rejected"): 1,
            ("promote", "staging", "acted"): 1,
            ("notify_only", "staging", "acted"): 1,  # v3 live in staging, auto_promote
            ("promote", "production", "acted"): 1,  # the pull request
            ("rollback", "staging", "acted"): 1,
            ("notify_only", None, "acted"): 1,  # the blocked=true tag came back as a webhook
            ("emergency_retrain", None, "acted"): 1,
        }
    )
    assert set(result.blocked) == {"3"}
    rollback = next(d for d in result.decisions if d.kind.value == "rollback")
    assert rollback.action["blocked"] == "3" and rollback.action["commit"] == result.facts["revert_sha"]

    shown = [render_blocks(m.text, m.blocks) for m in result.slack]  # what the channel shows
    for expected in (
        "Retraining fraud-detection: enough new data",
        "Retraining fraud-detection: data drift",
        "*fraud-detection* v2 failed the gate: not promoted",
        "*fraud-detection* v3 bumped in *staging*",
        "*fraud-detection* v3 is live in *staging*",
        "PR opened to promote *fraud-detection* v3 to *production*",
        "@ml-oncall rolled back *fraud-detection* v3 → v1 in *staging*",
        "*fraud-detection* v3 blocklisted",
        "@ml-oncall :rotating_light: fraud-detection: mlops-glue-dev-fraud-detection-quality in ALARM",
    ):
        assert sum(expected in t for t in shown) == 1, expected
    assert len(shown) == 9

    # the narration: every decision with its reasons, and the Slack stand-in's rendering
    out = "\n".join(lines)
    assert out.count("decision ") >= len(result.decisions)
    assert "because 3,600 new rows in 3 files ≥ min_new_rows 3,500" in out and "slack ┆" in out
    assert "Where to look" in out and f"decisions list {MODEL}" in out


def test_nothing_is_left_running(demo: Demo) -> None:
    result, _, before, threads_before = demo
    assert _children() <= before  # the MLflow server (its process group) and every git/CLI child are gone
    assert _new_server_threads(threads_before) == []
    for name, url in result.endpoints.items():
        port = urlsplit(url).port
        assert port is not None and not _answers(port), f"{name} still answers on {url}"
    assert not list(Path(result.workdir).glob("*.lock"))


def test_ctrl_c_during_start_stops_everything(tmp_path: Path) -> None:
    """An interrupt while MLflow is still starting: run() re-raises it after stopping every piece."""
    before, env_before, threads_before = _children(), dict(os.environ), set(threading.enumerate())
    seen: list[str] = []

    def printer(text: str) -> None:
        seen.append(text)
        if "1 · Reference data" in text:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "run", printer)
    assert any("Starting the local pieces" in s for s in seen)
    assert _children() <= before
    assert _new_server_threads(threads_before) == []
    assert dict(os.environ) == env_before


def test_every_function_of_the_template_ran_from_its_built_artifact(demo: Demo) -> None:
    from glue_local.build import functions

    result, _, _, _ = demo
    assert set(result.invocations) == set(functions())  # discovered from template.yaml, not listed here
    idle = [k for k, n in result.invocations.items() if n == 0]
    assert idle == [], (
        f"the story never invokes {idle}: give each new function a step in glue_local/scenario.py"
    )
