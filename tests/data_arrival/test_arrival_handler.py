"""The Lambda edge end to end on moto: SQS batch -> S3 (versioned, streamed by the drift engine) ->
DynamoDB windows + Powertools idempotency -> the Argo stand-in (validates against the swagger and the
shipped WorkflowTemplate) -> Slack stand-in; partial batch failures; the scheduled sweep."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from arrival_helpers import BUCKET, MODEL, PREFIX, config_text, parquet_bytes
from mlops_glue import runtime
from mlops_glue.cli import main
from mlops_glue.drift import Profile
from mlops_glue.drift.synth import make_table

from glue_local.standins import ArgoStandin, SlackStandin, load_templates
from tests.conftest import ROOT, load_event

APP = ROOT / "functions" / "s3_new_data" / "app.py"


def load_app() -> Any:
    spec = importlib.util.spec_from_file_location("s3_new_data_app", APP)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["s3_new_data_app"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def argo() -> Iterator[ArgoStandin]:
    server = ArgoStandin(templates=load_templates(ROOT / "deploy" / "argo"), token="argo-token")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    server = SlackStandin()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def deployed(
    aws: Any,
    stack: dict[str, str],
    profile: Profile,
    argo: ArgoStandin,
    slack: SlackStandin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """The function's environment as template.yaml sets it, on moto, with the stand-ins as Argo and Slack."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="fraud/reference/profile.json", Body=profile.to_json())
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="mlops-glue/argo-token", SecretString="argo-token")
    sm.create_secret(Name="mlops-glue/slack-webhook", SecretString=f"{slack.url}/hooks/T0/B0/x")
    doc = json.loads(config_text(min_new_rows=300))
    doc["argo"] = {
        "server": argo.url,
        "token_secret": "mlops-glue/argo-token",
        "artifacts_bucket": "mlops-glue-dev-artifacts-123456789012",  # the template requires it
    }
    doc["slack"] = {"webhook_secret": "mlops-glue/slack-webhook"}
    cfg_file = tmp_path / "glue.yaml"
    cfg_file.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("STATE_TABLE", stack["StateTable"])
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg_file))
    monkeypatch.setenv("DATA_BUCKET", BUCKET)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "s3-new-data")
    runtime.reset()
    return {"s3": s3, "stack": stack, "app": load_app()}


def put(s3: Any, key: str, body: bytes) -> dict[str, Any]:
    resp = s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return {"key": key, "etag": resp["ETag"].strip('"'), "version": resp["VersionId"], "size": len(body)}


def sqs_event(objs: list[dict[str, Any]], extra_bodies: tuple[str, ...] = ()) -> dict[str, Any]:
    template = load_event("sqs_eventbridge_s3_object_created.json")["Records"][0]
    records = []
    for i, o in enumerate(objs):
        ev = load_event("eventbridge_s3_object_created.json")
        ev["id"] = f"ev-{o['version']}"
        ev["detail"]["object"] = {
            "key": o["key"].replace(" ", "+"),
            "size": o["size"],
            "etag": o["etag"],
            "version-id": o["version"],
        }
        r = copy.deepcopy(template)
        r["messageId"], r["body"] = f"msg-{i}", json.dumps(ev)
        records.append(r)
    for j, body in enumerate(extra_bodies):
        r = copy.deepcopy(template)
        r["messageId"], r["body"] = f"bad-{j}", body
        records.append(r)
    return {"Records": records}


def test_batch_counts_streams_from_s3_submits_and_reports_only_bad_records(
    deployed: dict[str, Any], argo: ArgoStandin, slack: SlackStandin, lambda_context: Any
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    objs = [
        put(s3, f"{PREFIX}2026/11/23/part {i} été.parquet", parquet_bytes(make_table(100, seed=i)))
        for i in range(3)
    ]
    corrupt = put(s3, f"{PREFIX}2026/11/23/corrupt.parquet", b"PAR1 not parquet at all PAR1")
    event = sqs_event([*objs, corrupt], extra_bodies=("not json",))
    resp = app.handler(event, lambda_context)
    assert resp == {
        "batchItemFailures": [{"itemIdentifier": "bad-0"}]
    }  # only the malformed message is retried
    ((_, name),) = argo.workflows
    wf = argo.workflows[("ml-pipelines", name)]
    params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert params["model"] == MODEL and params["trigger-reason"] == "rows"
    assert wf["metadata"]["labels"]["mlops-glue/decision-id"] == params["decision-id"]
    bucket, key = params["dataset-manifest"].removeprefix("s3://").split("/", 1)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert sorted((o["key"], o["version_id"]) for o in manifest["objects"]) == sorted(
        (o["key"], o["version"]) for o in objs
    )
    assert any("Retraining fraud-detection" in m.text for m in slack.messages)
    assert any("Data file rejected" in m.text for m in slack.messages)
    # the same batch again (SQS redelivery): nothing counted twice, no second workflow
    assert app.handler(event, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "bad-0"}]}
    assert len(argo.workflows) == 1
    assert runtime.data_arrival().window(MODEL)["window"]["rows"] == 0


def test_argo_4xx_fails_the_decision_not_the_message_and_a_human_resubmits(
    deployed: dict[str, Any], argo: ArgoStandin, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    objs = [put(s3, f"{PREFIX}p{i}.parquet", parquet_bytes(make_table(150, seed=i))) for i in range(2)]
    shipped = dict(argo.templates)
    argo.templates.clear()  # the WorkflowTemplate is not deployed yet: Argo answers 400 "not found"
    resp = app.handler(sqs_event(objs), lambda_context)
    assert resp == {"batchItemFailures": []}  # retrying cannot help: no poison pill in the DLQ
    assert argo.workflows == {} and len(argo.rejected) == 1 and "not found" in argo.rejected[0]
    argo.templates.update(shipped)
    sweep = app.handler(load_event("scheduler_sweep.json"), lambda_context)
    assert sweep["submitted"] == [] and sweep["failed"] == [] and len(argo.rejected) == 1
    (entry,) = runtime.data_arrival().window(MODEL)["window"]["rejected"]
    assert main(["window", "resubmit", MODEL, entry["window_id"]]) == 0
    assert entry["decision_id"] in capsys.readouterr().out
    assert main(["window", "resubmit", MODEL, entry["window_id"]]) == 1  # nothing left to re-queue
    assert app.handler(load_event("scheduler_sweep.json"), lambda_context)["submitted"]
    assert len(argo.workflows) == 1


def test_slack_429_then_success_posts_one_message(
    deployed: dict[str, Any], slack: SlackStandin, argo: ArgoStandin, lambda_context: Any
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    slack.fail_next[:] = [429]
    objs = [put(s3, f"{PREFIX}s{i}.parquet", parquet_bytes(make_table(150, seed=i))) for i in range(2)]
    assert app.handler(sqs_event(objs), lambda_context) == {"batchItemFailures": []}
    assert len(argo.workflows) == 1
    assert [m.text.split(" — ")[0] for m in slack.messages] == ["Retraining fraud-detection: enough new data"]


def test_slack_down_still_submits_the_training(
    deployed: dict[str, Any], slack: SlackStandin, argo: ArgoStandin, lambda_context: Any
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    slack.fail_next[:] = [500] * 20
    objs = [put(s3, f"{PREFIX}d{i}.parquet", parquet_bytes(make_table(150, seed=i))) for i in range(2)]
    assert app.handler(sqs_event(objs), lambda_context) == {"batchItemFailures": []}
    assert len(argo.workflows) == 1 and slack.messages == []
    slack.fail_next.clear()
    assert app.handler(load_event("scheduler_sweep.json"), lambda_context)["notices_resent"] == 1
    assert len(slack.messages) == 1


def test_s3_test_event_and_markers_succeed_without_work(
    deployed: dict[str, Any], lambda_context: Any
) -> None:
    app = deployed["app"]
    for name in ("sqs_s3_test_event.json", "sqs_eventbridge_s3_markers_and_folders.json"):
        assert app.handler(load_event(name), lambda_context) == {"batchItemFailures": []}
