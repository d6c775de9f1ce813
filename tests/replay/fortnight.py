"""Two weeks of synthetic recorded events across the four flows, and the configurations replayed over them.

One model per threshold under test, so each change's consequences stay within its model and can be
worked out by hand (see ``EXPECTED`` in test_replay_fortnight.py):

* ``rows``   — files of 4,000 rows; ``min_new_rows`` 10,000 → 6,000;
* ``drift``  — a file where 1 of 4 columns drifts; ``dataset_drift_share`` 0.5 → 0.25;
* ``cool``   — two ready windows 12 h apart; ``cooldown`` 6 h → 24 h;
* ``budget`` — three ready windows in one day; ``budget.max_per_day`` 3 → 1;
* ``alarm``  — quality alarms 2 h apart; ``retrain.emergency.cooldown`` 1 h → 12 h;
* ``gate``   — versions gated on ``val_auc`` (0.88, then 0.93), Argo CD feedback on both; the gate's
  minimum 0.85 → 0.9.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_glue.config import GlueConfig, parse_config
from mlops_glue.records import (
    TRAILER_DECISION_ID,
    TRAILER_ENVIRONMENT,
    TRAILER_MODEL,
    TRAILER_VERSION,
    make_decision_id,
)
from mlops_glue.replay.events import RecordedEvent

T0 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
UNTIL = T0 + timedelta(days=14)
GPU = {"rows": 2, "drift": 3, "cool": 4, "budget": 5, "alarm": 6}


def day(n: int, hour: int, minute: int = 0) -> datetime:
    return T0 + timedelta(days=n, hours=hour, minutes=minute)


def _data(model: str) -> dict[str, str]:
    return {
        "bucket": "ml-data",
        "prefix": f"{model}/incoming/",
        "reference_profile": f"s3://ml-data/{model}/p.json",
    }


def base_doc() -> dict[str, Any]:
    generous = {"max_per_day": 10, "monthly_gpu_hours": 10_000}
    return {
        "models": {
            "rows": {
                "data": _data("rows"),
                "retrain": {
                    "min_new_rows": 10_000,
                    "cooldown": "1h",
                    "drift": {"min_rows": 5_000},
                    "budget": {**generous, "gpu_hours_per_run": GPU["rows"]},
                },
            },
            "drift": {
                "data": _data("drift"),
                "retrain": {
                    "min_new_rows": 100_000,
                    "max_wait": "30d",
                    "drift": {"min_rows": 5_000, "dataset_drift_share": 0.5},
                    "budget": {**generous, "gpu_hours_per_run": GPU["drift"]},
                },
            },
            "cool": {
                "data": _data("cool"),
                "retrain": {
                    "min_new_rows": 5_000,
                    "cooldown": "6h",
                    "drift": {"min_rows": 5_000},
                    "budget": {**generous, "gpu_hours_per_run": GPU["cool"]},
                },
            },
            "budget": {
                "data": _data("budget"),
                "retrain": {
                    "min_new_rows": 5_000,
                    "cooldown": "0s",
                    "drift": {"min_rows": 5_000},
                    "budget": {
                        "max_per_day": 3,
                        "monthly_gpu_hours": 10_000,
                        "gpu_hours_per_run": GPU["budget"],
                    },
                },
            },
            "alarm": {
                "data": _data("alarm"),
                "retrain": {
                    "emergency": {"cooldown": "1h", "max_per_day": 2},
                    "budget": {**generous, "gpu_hours_per_run": GPU["alarm"]},
                },
                "alarms": {"debounce": "30m"},
            },
            "gate": {
                "promote": {
                    "gate": {"metrics": {"val_auc": {"min": 0.85}}, "must_beat": None},
                    "auto_promote": {"staging": "production"},
                    "auto_rollback": True,
                }
            },
        },
        "gitops": {"backend": "github", "repo": "acme/deploy"},
    }


def config(doc: dict[str, Any]) -> GlueConfig:
    return parse_config(json.dumps(doc))


def changed(*which: str) -> dict[str, Any]:
    """The base configuration with the named changes (all six when none is named)."""
    doc = copy.deepcopy(base_doc())
    m = doc["models"]
    changes = {
        "rows": lambda: m["rows"]["retrain"].__setitem__("min_new_rows", 6_000),
        "drift": lambda: m["drift"]["retrain"]["drift"].__setitem__("dataset_drift_share", 0.25),
        "cool": lambda: m["cool"]["retrain"].__setitem__("cooldown", "24h"),
        "budget": lambda: m["budget"]["retrain"]["budget"].__setitem__("max_per_day", 1),
        "alarm": lambda: m["alarm"]["retrain"]["emergency"].__setitem__("cooldown", "12h"),
        "gate": lambda: m["gate"]["promote"]["gate"]["metrics"]["val_auc"].__setitem__("min", 0.9),
    }
    for name in which or tuple(changes):
        changes[name]()
    return doc


# ------------------------------------------------------------------------------------------ events


def obj(model: str, at: datetime, rows: int, scores: dict[str, float] | None = None) -> RecordedEvent:
    scores = scores or {"a": 0.01, "b": 0.01, "c": 0.01, "d": 0.01}
    key = f"{model}/incoming/{at:%Y%m%d-%H%M}.parquet"
    return RecordedEvent(
        flow="data_arrival",
        model=model,
        at=at,
        id=f"oid-{model}-{at:%d%H%M}",
        input={
            "object": f"oid-{model}-{at:%d%H%M}",
            "key": key,
            "version_id": None,
            "rows": rows,
            "scores": scores,
            "methods": {"wasserstein": sorted(scores)},
        },
    )


def alarm(at: datetime, state: str, previous: str) -> RecordedEvent:
    name = "mlops-glue-dev-alarm-quality"
    return RecordedEvent(
        flow="alarms",
        model="alarm",
        at=at,
        id=f"alarm-{at:%d%H%M}",
        input={
            "alarm_name": name,
            "state": state,
            "previous_state": previous,
            "state_timestamp": at.isoformat(),
            "source": "eventbridge",
            "event_id": f"eb-{at:%d%H%M}",
            "reason": "Threshold Crossed",
            "namespace": "ModelServing",
            "metric_name": "AUC",
            "dimensions": {"Model": "alarm"},
            "statistic": "Average",
            "value": 0.71 if state == "ALARM" else 0.9,
            "threshold": 0.8,
            "comparison": "LessThanThreshold",
            "stage": "dev",
        },
    )


def input_id(version: str, kind: str = "created") -> str:
    return f"mlflow-delivery:{kind}-{version}"


def gate_decision_id(version: str) -> str:
    """What PromotionService.gate names the decision of a gated version (its bump commit's trailer)."""
    iid = input_id(version)
    return make_decision_id(
        "promote", "gate", "staging", version, iid, f"mlflow:model_version.created:gate:{version}"
    )


def created(at: datetime, version: str, val_auc: float) -> list[RecordedEvent]:
    iid = input_id(version)
    data = {"name": "gate", "version": version, "source": f"runs:/r{version}/model", "run_id": f"r{version}"}
    hook = RecordedEvent(
        flow="promotion",
        model="gate",
        at=at,
        id=f"wh-{version}",
        input={"event_type": "model_version.created", "data": data, "input_id": iid},
    )
    facts = RecordedEvent(
        flow="promotion",
        model="gate",
        at=at,
        id=f"wh-{version}",
        kind="gate_facts",
        input={
            "input_id": iid,
            "version": version,
            "metrics": {"val_auc": val_auc},
            "champion": None,
            "champion_metrics": None,
            "tags": {},
        },
    )
    return [hook, facts]


def tag_set(at: datetime, version: str, key: str, value: str) -> RecordedEvent:
    iid = input_id(version, f"tag-{key}")
    data = {"name": "gate", "version": version, "key": key, "value": value}
    return RecordedEvent(
        flow="promotion",
        model="gate",
        at=at,
        id=f"tag-{version}-{key}",
        input={"event_type": "model_version_tag.set", "data": data, "input_id": iid},
    )


def argocd(at: datetime, trigger: str, version: str, sha: str, health: str) -> RecordedEvent:
    path = "models/gate/values-staging.yaml"
    commit = {
        "sha": sha,
        "message": f"Promote gate to v{version} in staging",
        "author": "mlops-glue",
        "files": [path],
        "trailers": {
            TRAILER_DECISION_ID: gate_decision_id(version),
            TRAILER_MODEL: "gate",
            TRAILER_VERSION: version,
            TRAILER_ENVIRONMENT: "staging",
        },
    }
    notification = {
        "trigger": trigger,
        "app": "gate-staging",
        "namespace": "argocd",
        "revision": sha,
        "syncStatus": "Synced",
        "syncPhase": "Succeeded",
        "healthStatus": health,
    }
    return RecordedEvent(
        flow="feedback",
        model="gate",
        at=at,
        id=f"argocd-{sha[:8]}-{trigger}",
        input={
            "notification": notification,
            "environment": "staging",
            "deployment": {
                "path": path,
                "synced": commit,
                "change": commit,
                "later": [],
                "head_version": version,
                "previous_version": str(int(version) - 1),
                "on_branch": True,
                "deployed_after": [],
            },
            "last_ours": None,
        },
    )


SHA3 = "3" * 40
SHA4 = "4" * 40


def fortnight() -> list[RecordedEvent]:
    flat = {"a": 0.01, "b": 0.01, "c": 0.01, "d": 0.01}
    events = [
        # rows: six files of 4,000 rows over two days
        *(obj("rows", day(d, h), 4_000) for d in (1, 2) for h in (9, 10, 11)),
        # drift: one column of four drifts, then a flat file
        obj("drift", day(3, 9), 6_000, {**flat, "a": 0.3}),
        obj("drift", day(3, 12), 6_000, flat),
        # cool: two ready windows twelve hours apart
        obj("cool", day(4, 8), 6_000),
        obj("cool", day(4, 20), 6_000),
        # alarm: breach, recovery, breach again two hours after the first; then missing data
        alarm(day(6, 10), "ALARM", "OK"),
        alarm(day(6, 10, 20), "OK", "ALARM"),
        alarm(day(6, 12), "ALARM", "OK"),
        alarm(day(7, 9), "INSUFFICIENT_DATA", "OK"),
        # budget: three ready windows in one day
        obj("budget", day(8, 9), 6_000),
        obj("budget", day(8, 13), 6_000),
        obj("budget", day(8, 17), 6_000),
        # gate: v3 (val_auc 0.88) and v4 (0.93) registered, each deployed to staging
        *created(day(10, 10), "3", 0.88),
        argocd(day(10, 11), "on-deployed", "3", SHA3, "Healthy"),
        *created(day(11, 10), "4", 0.93),
        argocd(day(11, 11), "on-health-degraded", "4", SHA4, "Degraded"),
        tag_set(day(12, 10), "4", "deploy", "staging"),  # a human asks for the blocked v4 again
        tag_set(day(12, 11), "2", "blocked", "true"),
    ]
    return events
