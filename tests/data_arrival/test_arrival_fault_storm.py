"""The fault-injection storm, through the real handler on moto with the Argo and Slack stand-ins.

Three models receive small Parquet files (real objects in moto S3, counted by the drift engine), each
delivered once and a fifth of them twice, shuffled, in SQS batches of ten. While the storm runs,
every DynamoDB call may be throttled (after botocore's own retries gave up) and the "Lambda" may die
right after any AWS or Argo call succeeded — between any two steps of a message. A batch whose
invocation died comes back whole; a failed record comes back alone; after five receives a message goes
to the DLQ. Then the DLQ is replayed without faults and the scheduled sweep runs once the leases of
the dead invocations have expired. Every object must be counted exactly once, and each model must have
trained exactly floor(rows / min_new_rows) times.
"""

from __future__ import annotations

import json
import random
from collections import Counter as Tally
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import botocore.client
import pytest
import requests
import yaml
from arrival_helpers import BUCKET, parquet_bytes, put, sqs_record
from botocore.exceptions import ClientError
from mlops_glue import runtime
from mlops_glue.drift.synth import make_table
from mlops_glue.keys import window_key
from mlops_glue.records import utcnow

from glue_local.localfront import LocalContext
from glue_local.standins import ArgoStandin
from tests.conftest import load_event

MODELS = {"fraud-detection": 70, "churn": 50, "ranker": 30}  # model -> min_new_rows
FILES, ROWS, DUPLICATES, BATCH, MAX_RECEIVES = 40, 10, 0.2, 5, 5
THROTTLE, CRASH = 0.12, 0.008


class LambdaCrash(BaseException):
    """The execution environment died (timeout, OOM, kill) right after a call succeeded."""


class Faults:
    """Random DynamoDB throttling before a call and crashes after any AWS or HTTP call, when on."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.on = False
        self.tally: Tally[str] = Tally()

    def before(self, service: str, operation: str) -> None:
        if self.on and service == "dynamodb" and self.rng.random() < THROTTLE:
            self.tally["throttled"] += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}},
                operation,
            )

    def after(self, what: str) -> None:
        if self.on and self.rng.random() < CRASH:
            self.tally["crashed"] += 1
            raise LambdaCrash(f"died after {what}")


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    f = Faults(seed=17)
    make_call = botocore.client.BaseClient._make_api_call
    http = requests.Session.request

    def api_call(self: Any, operation: str, params: Any) -> Any:
        f.before(self.meta.service_model.service_name, operation)
        out = make_call(self, operation, params)
        f.after(f"{self.meta.service_model.service_name}.{operation}")
        return out

    def http_call(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        out = http(self, method, url, *args, **kwargs)
        f.after(f"{method} {url}")
        return out

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", api_call)
    monkeypatch.setattr(requests.Session, "request", http_call)
    yield f


def three_models(deployed: dict[str, Any]) -> None:
    doc = dict(deployed["doc"])
    base = doc["models"].pop("fraud-detection")
    for model, min_rows in MODELS.items():
        m = json.loads(json.dumps(base))
        m["data"]["prefix"] = f"{model}/incoming/"
        m["retrain"]["min_new_rows"] = min_rows
        doc["models"][model] = m
    deployed["config"].write_text(yaml.safe_dump(doc))
    runtime.reset()


def test_fault_storm_counts_every_object_once_and_trains_floor_rows_over_min_rows(
    deployed: dict[str, Any], argo: ArgoStandin, faults: Faults
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    three_models(deployed)
    argo.on_submit = lambda wf: wf["status"].update(phase="Succeeded")  # nothing stays in flight
    objs = [
        {**put(s3, f"{model}/incoming/2026/12/01/part {i:03d} #?%.parquet", body), "model": model}
        for model in MODELS
        for i, body in enumerate(parquet_bytes(make_table(ROWS, seed=s)) for s in range(FILES))
    ]
    rng = random.Random(7)
    deliveries = objs + rng.sample(objs, int(len(objs) * DUPLICATES))
    rng.shuffle(deliveries)
    queue = [(o, f"m-{n}", 1) for n, o in enumerate(deliveries)]
    dlq: list[tuple[dict[str, Any], str, int]] = []

    def run(queue: list[tuple[dict[str, Any], str, int]]) -> None:
        while queue:
            batch, queue[:] = queue[:BATCH], queue[BATCH:]
            event = {"Records": [sqs_record(o, mid, count) for o, mid, count in batch]}
            try:
                failed = {
                    f["itemIdentifier"] for f in app.handler(event, LocalContext("s3"))["batchItemFailures"]
                }
            except LambdaCrash:
                runtime.reset()  # a new execution environment: nothing cached survives
                failed = {mid for _, mid, _ in batch}
            for o, mid, count in batch:
                if mid in failed:
                    (queue if count < MAX_RECEIVES else dlq).append((o, mid, count + 1))

    faults.on = True
    run(queue)
    faults.on = False
    assert faults.tally["throttled"] > 0 and faults.tally["crashed"] > 0  # the storm did hit
    assert dlq  # and some messages exhausted their receives: the replay has work to do
    replay = [(o, f"replay-{mid}", 1) for o, mid, _ in dlq]  # mlops-glue dlq replay: receive count 1
    run(replay)
    # the scheduled sweep, after the leases of the invocations that died mid-submission have expired
    service = runtime.data_arrival()
    service.ctx.clock = lambda: utcnow() + timedelta(minutes=10)
    sweep = app.handler(load_event("scheduler_sweep.json"), LocalContext("sweep"))
    assert sweep["failed"] == []

    store = runtime.state_store()
    for model, min_rows in MODELS.items():
        mine = [wf for wf in argo.workflows.values() if wf["metadata"]["labels"]["mlops-glue/model"] == model]
        manifests = []
        for wf in mine:
            params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
            key = params["dataset-manifest"].removeprefix(f"s3://{BUCKET}/")
            manifests.append(json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
        w = store.get(*window_key(model))
        assert w is not None and w.data["pending"] == [] and w.data.get("rejected", []) == []
        counted = [o["key"] for m in manifests for o in m["objects"]]
        assert len(counted) == len(set(counted))  # no object in two windows
        assert all(m["rows"] == min_rows for m in manifests)
        total = FILES * ROWS
        assert len(mine) == total // min_rows, model  # floor(rows / min_new_rows) retrainings
        assert sum(m["rows"] for m in manifests) + w.data["rows"] == total  # every object exactly once
        assert len(counted) + w.data["files"] == FILES
