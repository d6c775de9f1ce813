"""End to end: a real MLflow server sends its real webhooks through the local front to the handler.

Registering a passing version ends in a commit in a local bare repo; a failing one in a
``validation_status=failed`` tag and no commit. The server starts once per session and is stopped after.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gitops_fixtures import bare_file, bare_log, seed_bare_repo, values_text
from mlops_glue import runtime

from glue_local.aws_local import SqsEventSource, then_drain
from glue_local.localfront import LocalContext, LocalFront
from glue_local.servers import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECRET = "e2e-webhook-secret"
MODEL = "fraud-detection"
STAGING = f"models/{MODEL}/values-staging.yaml"


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from glue_local.servers import MlflowServer

    with MlflowServer(tmp_path_factory.mktemp("mlflow"), cache_ttl=1) as server:
        yield server


@pytest.fixture(scope="session")
def front() -> Iterator[LocalFront]:
    """The local Function URL front; each test routes /mlflow to its handler."""
    with LocalFront({}) as f:
        yield f


@pytest.fixture
def loop(
    mlflow_server: Any,
    front: LocalFront,
    aws: Any,
    stack: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Any]]:
    from mlflow import MlflowClient

    bare = seed_bare_repo(tmp_path, extra={STAGING: values_text(MODEL, "staging", "0")})
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(
        f"""
models:
  {MODEL}:
    promote:
      gate: {{metrics: {{val_auc: {{min: 0.85}}}}, must_beat: champion}}
      environments:
        staging: {{key: model.version, mode: commit}}
mlflow: {{tracking_uri: "{mlflow_server.url}", webhook_secret: mlflow-webhook}}
gitops: {{backend: git, repo: "{bare}", branch: main}}
"""
    )
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    monkeypatch.setenv("STATE_TABLE", "mlops-glue-state-dev")
    monkeypatch.setenv("INTAKE_QUEUE_URL", stack["WebhookIntakeQueue"])
    monkeypatch.setenv("INTAKE_DLQ_URL", stack["WebhookIntakeDLQ"])
    aws.client("secretsmanager").create_secret(Name="mlflow-webhook", SecretString=SECRET)
    app, worker = _load("mlflow_webhook"), _load("webhook_worker")
    intake = SqsEventSource(
        aws.client("sqs"),
        stack["WebhookIntakeQueue"],
        "arn:aws:sqs:eu-west-1:123456789012:intake.fifo",
        worker.handler,
        lambda: LocalContext("mlops-glue-webhook-worker"),
        fix_moto_shape=False,
    )
    front.routes["/mlflow"] = ("mlops-glue-mlflow-webhook", then_drain(app.handler, intake))

    client = MlflowClient(tracking_uri=mlflow_server.url)
    hook = client.create_webhook(
        name=f"glue-{tmp_path.name}"[:60],
        url=f"{front.url}/mlflow",
        events=["model_version.created", "model_version_alias.created", "model_version_tag.set"],
        secret=SECRET,
    )
    time.sleep(1.5)  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL (1 s here)
    front.requests.clear()
    yield {"client": client, "bare": bare, "app": app, "front": front}
    client.delete_webhook(hook.webhook_id)
    front.routes.pop("/mlflow", None)
    app.endpoint.cache_clear()
    runtime.reset()


def _load(folder: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"{folder}_e2e", ROOT / "functions" / folder / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def register(client: Any, name: str, val_auc: float) -> str:
    exp = client.get_experiment_by_name("e2e") or client.get_experiment(client.create_experiment("e2e"))
    run = client.create_run(exp.experiment_id)
    client.log_metric(run.info.run_id, "val_auc", val_auc)
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    mv = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return str(mv.version)


def test_passing_version_is_committed_and_failing_one_only_tagged(loop: dict[str, Any]) -> None:
    client, bare = loop["client"], loop["bare"]

    good = register(client, MODEL, 0.91)
    wait_for(lambda: f"version: {good}\n" in bare_file(bare, STAGING), "the staging bump commit")

    assert client.get_model_version(MODEL, good).tags["validation_status"] == "passed"
    head = bare_log(bare)
    assert head[0] == f"Promote {MODEL} to v{good} in staging"

    bad = register(client, MODEL, 0.70)
    tags = wait_for(
        lambda: client.get_model_version(MODEL, bad).tags.get("validation_status"),
        "the failed validation tag",
    )
    assert tags == "failed"
    assert "val_auc 0.7 < 0.85" in client.get_model_version(MODEL, bad).tags["validation_reasons"]
    assert bare_log(bare) == head  # no commit for the failing version
    assert f"version: {good}\n" in bare_file(bare, STAGING)

    mine = [r for r in loop["front"].requests if r["path"] == "/mlflow"]
    assert mine and all(r["status"] == 202 for r in mine)  # every real delivery verified and was queued
    assert all(json.loads(r["body"])["status"] == "queued" for r in mine)
    # the worker gated both versions (the failing one's decision is recorded just after its tag is set)
    wait_for(
        lambda: (
            {"acted", "rejected"} <= {d.outcome.value for d in runtime.state_store().decisions_for(MODEL)}
        ),
        "both versions' gate decisions",
    )
