"""The Lambda edge end to end on moto: SQS batch -> S3 (versioned, streamed by the drift engine) ->
DynamoDB windows + Powertools idempotency -> the Argo stand-in (validates against the swagger and the
shipped WorkflowTemplate) -> Slack stand-in; partial batch failures; the scheduled sweep."""

from __future__ import annotations

import json
from typing import Any

import pytest
from arrival_helpers import MODEL, PREFIX, parquet_bytes, put, sqs_event
from mlops_glue import runtime
from mlops_glue.cli import main
from mlops_glue.drift.synth import make_table

from glue_local.standins import ArgoStandin, SlackStandin
from tests.conftest import load_event


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
