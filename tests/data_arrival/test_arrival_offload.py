"""Objects too large for one invocation: counted on the cluster by the shipped ``drift-count`` WorkflowTemplate
(run here with its own arguments against moto), collected by the sweep into the window exactly once."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from arrival_helpers import MODEL, PREFIX, parquet_bytes, put, sqs_event
from mlops_glue import runtime
from mlops_glue.cli import main
from mlops_glue.drift import capacity
from mlops_glue.drift.shape import Shape
from mlops_glue.drift.synth import make_table
from mlops_glue.keys import OFFLOAD_SHARDS, offloads_key

from glue_local.standins import ArgoStandin, SlackStandin
from tests.conftest import ROOT, load_event


def count_in(deployed: dict[str, Any], where: str) -> None:
    """The model's ``retrain.drift.count_in``, written to the deployed configuration."""
    doc = deployed["doc"]
    doc["models"][MODEL]["retrain"]["drift"]["count_in"] = where
    deployed["config"].write_text(yaml.safe_dump(doc))
    runtime.reset()


def count_workflows(argo: ArgoStandin) -> list[dict[str, Any]]:
    return [w for w in argo.workflows.values() if w["spec"]["workflowTemplateRef"]["name"] == "drift-count"]


def step_args(submitted: dict[str, str]) -> list[str]:
    """The shipped template's container arguments, ``{{workflow.parameters.*}}`` filled from
    ``submitted`` and the template's defaults, as Argo fills them."""
    template = yaml.safe_load((ROOT / "deploy" / "argo" / "drift-count.yaml").read_text())
    params = {p["name"]: p.get("value", "") for p in template["spec"]["arguments"]["parameters"]}
    params.update(submitted)
    [step] = [t for t in template["spec"]["templates"] if t["name"] == template["spec"]["entrypoint"]]
    pattern = re.compile(r"\{\{workflow\.parameters\.([\w-]+)\}\}")
    return [pattern.sub(lambda m: params[m.group(1)], a) for a in step["container"]["args"]]


def run_on_the_cluster(argo: ArgoStandin, workflow: dict[str, Any], *, phase: str = "Succeeded") -> int:
    """What the cluster does with the workflow: the step's arguments through our CLI (the image's entry
    point), then the workflow's phase."""
    rc = main(step_args({p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}))
    workflow["status"]["phase"] = phase
    return rc


def offload_failing_every_attempt(
    deployed: dict[str, Any], argo: ArgoStandin, lambda_context: Any, key: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An object at ``key`` sent to the cluster, whose count workflow then fails (no counts) at each of
    its 3 attempts, the sweep running after each: the object and the sweep event."""
    count_in(deployed, "argo")
    s3, app = deployed["s3"], deployed["app"]
    obj = put(s3, key, parquet_bytes(make_table(400, seed=3)))
    assert app.handler(sqs_event([obj]), lambda_context) == {"batchItemFailures": []}
    sweep = load_event("scheduler_sweep.json")
    for attempt in (1, 2, 3):
        [wf] = [w for w in count_workflows(argo) if w["metadata"]["name"].endswith(f"-{attempt}")]
        wf["status"]["phase"] = "Failed"  # the pod died: no counts
        app.handler(sweep, lambda_context)
    return obj, sweep


def test_an_object_counted_on_the_cluster_lands_in_the_window_once(
    deployed: dict[str, Any],
    argo: ArgoStandin,
    slack: SlackStandin,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    count_in(deployed, "argo")
    s3, app = deployed["s3"], deployed["app"]
    obj = put(s3, f"{PREFIX}2026/12/01/big part?#%.parquet", parquet_bytes(make_table(400, seed=3)))
    event = sqs_event([obj])
    assert app.handler(event, lambda_context) == {"batchItemFailures": []}
    [wf] = count_workflows(argo)
    params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert (params["bucket"], params["key"], params["version-id"]) == (
        "ml-data-dev",
        obj["key"],
        obj["version"],
    )
    assert params["format"] == "parquet" and params["profile"].endswith("profile.json")
    assert params["output"].startswith("s3://ml-data-dev/mlops-glue/counts/fraud-detection/")
    assert wf["metadata"]["labels"]["mlops-glue/kind"] == "drift-count"
    window = runtime.data_arrival().window(MODEL)["window"]
    assert window is None or window.get("rows", 0) == 0  # nothing counted in the function
    [offloaded] = [d for d in runtime.state_store().decisions_for(MODEL) if d.outcome.value == "deferred"]
    assert "counted on the cluster" in offloaded.reasons[0] and "count_in: argo" in offloaded.reasons[0]

    capsys.readouterr()
    assert main(["window", "show", MODEL]) == 0  # the operator sees what the cluster is counting
    shown = json.loads(capsys.readouterr().out)
    assert [o["key"] for o in shown["offloads"]] == [obj["key"]] and shown["offloads"][0]["attempts"] == 1

    # a redelivery while the cluster counts: no second workflow
    assert app.handler(event, lambda_context) == {"batchItemFailures": []}
    assert len(count_workflows(argo)) == 1

    sweep = load_event("scheduler_sweep.json")
    assert app.handler(sweep, lambda_context)["offloads_collected"] == 0  # still running: left alone
    assert run_on_the_cluster(argo, wf) == 0
    assert app.handler(sweep, lambda_context)["offloads_collected"] == 1
    # 400 rows ≥ min_new_rows 300: the window triggered; its manifest names the object once
    [training] = [
        w for w in argo.workflows.values() if w["spec"]["workflowTemplateRef"]["name"] == "training-pipeline"
    ]
    tparams = {p["name"]: p["value"] for p in training["spec"]["arguments"]["parameters"]}
    bucket, key = tparams["dataset-manifest"].removeprefix("s3://").split("/", 1)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert [(o["key"], o["version_id"], o["rows"]) for o in manifest["objects"]] == [
        (obj["key"], obj["version"], 400)
    ]
    # the counts are gone, the offload too; later sweeps and redeliveries count nothing again
    listed = s3.list_objects_v2(Bucket="ml-data-dev", Prefix="mlops-glue/counts/").get("KeyCount", 0)
    assert listed == 0
    assert app.handler(sweep, lambda_context)["offloads_collected"] == 0
    assert app.handler(event, lambda_context) == {"batchItemFailures": []}
    assert len(count_workflows(argo)) == 1 and runtime.data_arrival().window(MODEL)["window"]["rows"] == 0
    assert any("Retraining fraud-detection" in m.text for m in slack.messages)


def test_auto_sends_only_what_one_invocation_cannot_count_and_says_why(
    deployed: dict[str, Any], argo: ArgoStandin, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``auto``: the plan from the measured throughput. A slow engine (a hundred-thousandth of the measured
    throughput) makes a 100,000-row file too large for half the timeout; the 100-row one stays here."""
    s3, app = deployed["s3"], deployed["app"]
    slow = {
        k: capacity.Throughput(t.values_per_s / 100_000, t.parallel) for k, t in capacity.MEASURED.items()
    }
    monkeypatch.setattr(capacity, "MEASURED", slow)
    monkeypatch.setattr("mlops_glue.services.arrival_offload.FOOTER_ABOVE", 0)  # read every footer
    small = put(s3, f"{PREFIX}small.parquet", parquet_bytes(make_table(100, seed=1)))
    large = put(s3, f"{PREFIX}large.parquet", parquet_bytes(make_table(100_000, seed=2)))
    assert app.handler(sqs_event([small, large]), lambda_context) == {"batchItemFailures": []}
    [wf] = count_workflows(argo)
    assert {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}["key"] == large["key"]
    assert runtime.data_arrival().window(MODEL)["window"]["rows"] == 100
    [offloaded] = [d for d in runtime.state_store().decisions_for(MODEL) if d.outcome.value == "deferred"]
    assert (
        "check of 100,000 rows" in offloaded.reasons[0] and "exceeds one invocation" in offloaded.reasons[0]
    )


def test_a_count_workflow_that_keeps_failing_is_retried_then_said_with_the_command_that_sends_it_again(
    deployed: dict[str, Any], argo: ArgoStandin, slack: SlackStandin, lambda_context: Any
) -> None:
    obj, sweep = offload_failing_every_attempt(deployed, argo, lambda_context, f"{PREFIX}big.parquet")
    app = deployed["app"]
    assert sorted(w["metadata"]["name"][-1] for w in count_workflows(argo)) == ["1", "2", "3"]
    failed = [d for d in runtime.state_store().decisions_for(MODEL) if d.outcome.value == "failed"]
    assert len(failed) == 1 and "ended without counts 3 times" in failed[0].reasons[0]
    [notice] = [m for m in slack.messages if "could not be counted on the cluster" in m.text]
    assert f"aws s3api copy-object --bucket=ml-data-dev --key={obj['key']}" in notice.text
    state = runtime.state_store()
    left = [state.get(*offloads_key(MODEL, shard)) for shard in OFFLOAD_SHARDS]
    assert [i for got in left if got is not None for i in got.data["items"]] == []
    app.handler(sweep, lambda_context)
    assert len(count_workflows(argo)) == 3  # given up: not submitted forever

    # sent again as the notice says (an unversioned bucket keeps the object's id: a new event): workflows
    # of its own, not the finished ones Argo still keeps, and this time it is counted
    again = sqs_event([obj])
    body = json.loads(again["Records"][0]["body"])
    body["id"] = "ev-sent-again"
    again["Records"][0]["body"] = json.dumps(body)
    assert app.handler(again, lambda_context) == {"batchItemFailures": []}
    [fresh] = [w for w in count_workflows(argo) if w["status"]["phase"] == "Pending"]
    assert len(count_workflows(argo)) == 4 and fresh["metadata"]["name"].endswith("-1")
    assert run_on_the_cluster(argo, fresh) == 0
    assert app.handler(sweep, lambda_context)["offloads_collected"] == 1


def test_unreadable_counts_are_counted_again_and_never_merged(
    deployed: dict[str, Any], argo: ArgoStandin, lambda_context: Any
) -> None:
    count_in(deployed, "argo")
    s3, app = deployed["s3"], deployed["app"]
    obj = put(s3, f"{PREFIX}big.parquet", parquet_bytes(make_table(400, seed=3)))
    app.handler(sqs_event([obj]), lambda_context)
    [first] = count_workflows(argo)
    output = {p["name"]: p["value"] for p in first["spec"]["arguments"]["parameters"]}["output"]
    bucket, key = output.removeprefix("s3://").split("/", 1)
    for junk in (b"", b"MGWC not counts", b"\x00" * 100):
        s3.put_object(Bucket=bucket, Key=key, Body=junk)  # truncated, or someone else's bytes
        first["status"]["phase"] = "Succeeded"
        assert app.handler(load_event("scheduler_sweep.json"), lambda_context)["offloads_collected"] == 0
        latest = max(count_workflows(argo), key=lambda w: w["metadata"]["name"])
        first = latest
    # three unreadable results are three attempts: given up, nothing counted
    assert len(count_workflows(argo)) == 3
    window = runtime.data_arrival().window(MODEL)["window"]
    assert window is None or window.get("rows", 0) == 0
    assert [d.outcome.value for d in runtime.state_store().decisions_for(MODEL)].count("failed") == 1


def test_counts_with_problems_are_kept_out_like_a_file_counted_here(
    deployed: dict[str, Any], argo: ArgoStandin, slack: SlackStandin, lambda_context: Any
) -> None:
    count_in(deployed, "argo")
    s3, app = deployed["s3"], deployed["app"]
    table = make_table(400, seed=3)
    broken = table.drop_columns([table.column_names[0]])  # a column of the reference is missing
    obj = put(s3, f"{PREFIX}broken.parquet", parquet_bytes(broken))
    app.handler(sqs_event([obj]), lambda_context)
    [wf] = count_workflows(argo)
    assert run_on_the_cluster(argo, wf) == 0
    assert app.handler(load_event("scheduler_sweep.json"), lambda_context)["offloads_collected"] == 1
    [rejected] = [d for d in runtime.state_store().decisions_for(MODEL) if d.outcome.value == "rejected"]
    assert "missing columns" in rejected.reasons[0]
    assert any("Data file rejected" in m.text for m in slack.messages)
    window = runtime.data_arrival().window(MODEL)["window"]
    assert window is None or window.get("rows", 0) == 0


def test_the_shipped_template_matches_the_swagger_and_runs_our_cli() -> None:
    from mlops_glue.cli import build_parser

    from glue_local.argo_api import validate

    doc = yaml.safe_load((ROOT / "deploy" / "argo" / "drift-count.yaml").read_text())
    validate("WorkflowTemplate", doc)
    given = {
        "bucket": "b",
        "key": "--a key?#%",
        "profile": "s3://b/p.json",
        "output": "s3://b/c.bin",
        "model": "m",
    }
    args = build_parser().parse_args(step_args(given))
    assert args.func.__name__ == "_count" and args.s3_key == "--a key?#%" and args.s3_version_id == ""
    assert (args.format, args.output, args.source) == ("csv", "s3://b/c.bin", None)
    declared = {p["name"] for p in doc["spec"]["arguments"]["parameters"]}
    assert {"bucket", "key", "version-id", "format", "profile", "output"} <= declared


def test_a_shape_probe_is_read_only_for_large_parquet(deployed: dict[str, Any]) -> None:
    """CSV and small Parquet objects are planned from their size alone (no extra S3 request)."""
    from mlops_glue.services.arrival_events import ObjectRef

    probed: list[str] = []

    def probe(ref: ObjectRef) -> Shape:
        probed.append(ref.key)
        return Shape("parquet", 10, 10, int(ref.size or 0))

    svc = runtime.data_arrival()
    svc.offloader._probe = probe
    cfg = runtime.config().model(MODEL)
    for key, size in [("a.csv", 10**9), ("b.parquet", 1 << 20), ("c.parquet", 1 << 30)]:
        assert svc.offloader.reason(cfg, ObjectRef("ml-data-dev", PREFIX + key, "v", "e", size, "ev")) is None
    assert probed == [PREFIX + "c.parquet"]
