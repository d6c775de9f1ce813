"""Fixtures for the alarm flow: a two-model configuration, in-memory adapters, a movable clock."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlops_glue.adapters.argo import MemorySubmitter
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import GlueConfig, parse_config
from mlops_glue.keys import last_dataset_key
from mlops_glue.services.alarms import AlarmService

from tests.conftest import load_event

CONFIG = """
models:
  fraud-detection:
    data: {bucket: ml-data-dev, prefix: fraud/incoming/, reference_profile: s3://ml-data-dev/fraud/ref.json}
    retrain:
      emergency: {cooldown: 1h, max_per_day: 2, priority: 100}
      argo: {namespace: ml-pipelines, workflow_template: training-pipeline}
    alarms:
      drift_score_threshold: 0.2
      drift_share_threshold: 0.5
      quality:
        namespace: ModelServing
        metric: AUC
        dimensions: {Model: fraud-detection}
        threshold: 0.8
        comparison: LessThanThreshold
        period: 300
        evaluation_periods: 3
      debounce: 30m
    notify: {slack_channel: "#ml-fraud", oncall: "<!subteam^S0ONCALL>"}
  fraud-detection-eu:
    data: {bucket: ml-data-dev, prefix: fraud/incoming/eu/, reference_profile: s3://ml-data-dev/fraud/ref.json}
  ranker:
    notify: {slack_channel: "#ml-ranker"}
argo: {server: "https://argo.example.internal", ui_url: "https://argo.example.internal"}
"""

MANIFEST = "s3://ml-data-dev/mlops-glue/manifests/fraud-detection/w-0042.json"


@pytest.fixture
def cfg() -> GlueConfig:
    return parse_config(CONFIG)


class Clock:
    """The service's clock, moved by the tests (no sleeping)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, iso: str, plus: timedelta = timedelta(seconds=3)) -> None:
        self.now = datetime.fromisoformat(iso) + plus


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 10, 15, 7, tzinfo=UTC))


@pytest.fixture
def store() -> MemoryStateStore:
    s = MemoryStateStore()
    s.put(
        *last_dataset_key("fraud-detection"),
        {"manifest_uri": MANIFEST, "window_id": "w-0042", "decision_id": "d-x"},
        None,
    )
    return s


@pytest.fixture
def submitter() -> MemorySubmitter:
    return MemorySubmitter()


@pytest.fixture
def notifier() -> MemoryNotifier:
    return MemoryNotifier(threads=True)


@pytest.fixture
def make_service(
    cfg: GlueConfig,
    store: MemoryStateStore,
    submitter: MemorySubmitter,
    notifier: MemoryNotifier,
    clock: Clock,
) -> Callable[..., AlarmService]:
    def make(**overrides: Any) -> AlarmService:
        kw: dict[str, Any] = {"store": store, "submitter": submitter, "notifier": notifier}
        kw.update(overrides)
        return AlarmService(cfg, kw["store"], kw["submitter"], kw["notifier"], stage="dev", clock=clock)

    return make


def event(name: str, shape: str) -> dict[str, Any]:
    """``events/cloudwatch_<name>.json`` (EventBridge) or ``events/sns_cloudwatch_<name>.json`` (SNS)."""
    prefix = "sns_cloudwatch_" if shape == "sns" else "cloudwatch_"
    return load_event(f"{prefix}{name}.json")


def renamed(ev: dict[str, Any], alarm_name: str) -> dict[str, Any]:
    """The same event for another alarm name (both shapes)."""
    ev = copy.deepcopy(ev)
    if "Records" in ev:
        msg = json.loads(ev["Records"][0]["Sns"]["Message"])
        msg["AlarmName"] = alarm_name
        ev["Records"][0]["Sns"]["Message"] = json.dumps(msg)
    else:
        ev["detail"]["alarmName"] = alarm_name
    return ev


SHAPES = ("eventbridge", "sns")
