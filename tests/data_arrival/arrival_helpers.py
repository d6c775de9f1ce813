"""Builders shared by the data-arrival tests: config, events, an in-memory idempotency store, a harness."""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import sys
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from mlops_glue.adapters.argo import MemorySubmitter
from mlops_glue.adapters.s3 import MemoryObjectStore
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import GlueConfig, parse_config
from mlops_glue.services.arrival_metrics import MemoryMetrics
from mlops_glue.services.data_arrival import DataArrival, Workspace

from tests.conftest import ROOT, load_event

BUCKET = "ml-data-dev"
PREFIX = "fraud/incoming/"
MODEL = "fraud-detection"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def config_text(**retrain: Any) -> str:
    r = {
        "min_new_rows": 1000,
        "max_wait": "7d",
        "cooldown": "0s",
        "drift": {"min_rows": 1_000_000, "dataset_drift_share": 0.5},
        "budget": {"max_per_day": 1000, "gpu_hours_per_run": 4, "monthly_gpu_hours": 100000},
        "argo": {"namespace": "ml-pipelines", "workflow_template": "training-pipeline", "priority": 5},
    }
    r.update(retrain)
    doc = {
        "models": {
            MODEL: {
                "data": {
                    "bucket": BUCKET,
                    "prefix": PREFIX,
                    "reference_profile": f"s3://{BUCKET}/fraud/reference/profile.json",
                },
                "retrain": r,
                "notify": {"slack_channel": "#ml-fraud", "oncall": "@ml-oncall"},
            }
        },
        "argo": {"server": "https://argo.example.internal"},
    }
    return json.dumps(doc)


def make_config(**retrain: Any) -> GlueConfig:
    return parse_config(config_text(**retrain))


def eb_event(
    key: str, *, etag: str, size: int = 100, version: str | None = None, event_id: str = ""
) -> dict[str, Any]:
    """An EventBridge "Object Created" event shaped like events/eventbridge_s3_object_created.json."""
    e = copy.deepcopy(load_event("eventbridge_s3_object_created.json"))
    e["id"] = event_id or f"ev-{etag}"
    obj: dict[str, Any] = {"key": key, "size": size, "etag": etag, "sequencer": "00AB"}
    if version:
        obj["version-id"] = version
    e["detail"]["object"] = obj
    return e


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Harness:
    """Every adapter in memory (thread-safe), shared by as many service instances as needed."""

    cfg: GlueConfig
    profile: Any
    store: MemoryStateStore = field(default_factory=MemoryStateStore)
    objects: MemoryObjectStore = field(default_factory=MemoryObjectStore)
    submitter: MemorySubmitter = field(default_factory=lambda: MemorySubmitter(phase="Succeeded"))
    notifier: Any = field(default_factory=MemoryNotifier)
    metrics: MemoryMetrics = field(default_factory=MemoryMetrics)
    clock: Clock = field(default_factory=Clock)
    files: dict[str, Any] = field(default_factory=dict)  # key -> counts (or a path) for the counter
    s3_client: Any = None

    def service(self, *, counter: Any = None, **kw: Any) -> DataArrival:
        svc = DataArrival(
            self.cfg,
            store=self.store,
            objects=self.objects,
            submitter=self.submitter,
            notifier=self.notifier,
            workspace=Workspace(BUCKET),
            metrics=self.metrics,
            s3_client=self.s3_client,
            counter=counter,
            profile_loader=lambda _uri: self.profile,
            clock=self.clock,
            **kw,
        )
        return svc


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def write_parquet(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


APP = ROOT / "functions" / "s3_new_data" / "app.py"


def load_app() -> Any:
    """The S3 function's handler module, loaded from its file as Lambda does."""
    spec = importlib.util.spec_from_file_location("s3_new_data_app", APP)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["s3_new_data_app"] = mod
    spec.loader.exec_module(mod)
    return mod


def put(s3: Any, key: str, body: bytes, bucket: str = BUCKET) -> dict[str, Any]:
    resp = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return {"key": key, "etag": resp["ETag"].strip('"'), "version": resp["VersionId"], "size": len(body)}


def sqs_record(o: dict[str, Any], message_id: str, receive_count: int = 1) -> dict[str, Any]:
    """One SQS record carrying the EventBridge event of object ``o`` (its key URL-encoded, as S3 does)."""
    template = load_event("sqs_eventbridge_s3_object_created.json")["Records"][0]
    ev = load_event("eventbridge_s3_object_created.json")
    ev["id"] = f"ev-{o['version']}"
    if "bucket" in o:
        ev["detail"]["bucket"]["name"] = o["bucket"]
    ev["detail"]["object"] = {
        "key": urllib.parse.quote_plus(o["key"], safe="/"),
        "size": o["size"],
        "etag": o["etag"],
        "version-id": o["version"],
    }
    r = copy.deepcopy(template)
    r["messageId"], r["body"] = message_id, json.dumps(ev)
    r["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return r


def sqs_event(objs: list[dict[str, Any]], extra_bodies: tuple[str, ...] = ()) -> dict[str, Any]:
    template = load_event("sqs_eventbridge_s3_object_created.json")["Records"][0]
    records = [sqs_record(o, f"msg-{i}") for i, o in enumerate(objs)]
    for j, body in enumerate(extra_bodies):
        r = copy.deepcopy(template)
        r["messageId"], r["body"] = f"bad-{j}", body
        records.append(r)
    return {"Records": records}
