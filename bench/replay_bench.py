"""Replaying recorded events: ``uv run python bench/replay_bench.py [--events N]`` (default 100,000).

Generates a month of synthetic recorded events for ten models — 90 % data arrivals (files of 500 to
5,000 rows, 20 column scores each, some drifted), 4 % alarm transitions, 4 % MLflow webhooks (half of
them gated, with their gate facts), 2 % Argo CD notifications (our bumps, half degraded) — writes them
as an export file (``mlops-glue decisions export`` format) and times, median of ``--repeats``:

* ``read``: reading and validating the file (``replay.export.read``);
* ``replay``: both configurations over every event (``replay.compare.replay``: two simulations);
* ``cli``: ``mlops-glue replay --from-file ... --json`` end to end in a fresh process (start-up, read,
  replay, the JSON report).

Prints a markdown table (lines starting with ``|``) that ``bench/run.py`` appends to its results.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "mlops_glue")]

from mlops_glue.config import GlueConfig, parse_config  # noqa: E402
from mlops_glue.records import make_decision_id  # noqa: E402
from mlops_glue.replay import export  # noqa: E402
from mlops_glue.replay.compare import replay  # noqa: E402
from mlops_glue.replay.events import RecordedEvent  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30
MODELS = [f"model-{i}" for i in range(10)]
COLUMNS = [f"c{i:02d}" for i in range(20)]


def config_doc(min_rows: int, cooldown: str, share: float, per_day: int, auc: float) -> dict[str, Any]:
    models = {
        m: {
            "data": {"bucket": "ml-data", "prefix": f"{m}/", "reference_profile": f"s3://ml-data/{m}/p.json"},
            "retrain": {
                "min_new_rows": min_rows,
                "cooldown": cooldown,
                "drift": {"min_rows": 5_000, "dataset_drift_share": share},
                "budget": {"max_per_day": per_day, "gpu_hours_per_run": 4, "monthly_gpu_hours": 400},
            },
            "promote": {
                "gate": {"metrics": {"val_auc": {"min": auc}}, "must_beat": None},
                "auto_promote": {"staging": "production"},
            },
        }
        for m in MODELS
    }
    return {"models": models, "gitops": {"backend": "github", "repo": "acme/deploy"}}


def configs() -> tuple[GlueConfig, GlueConfig]:
    base = parse_config(json.dumps(config_doc(20_000, "6h", 0.5, 4, 0.85)))
    new = parse_config(json.dumps(config_doc(12_000, "12h", 0.3, 2, 0.88)))
    return base, new


def generate(n: int, seed: int = 7) -> list[RecordedEvent]:
    rng = random.Random(seed)
    span = DAYS * 86400
    times = sorted(rng.uniform(0, span) for _ in range(n))
    versions = dict.fromkeys(MODELS, 1)
    out: list[RecordedEvent] = []
    for i, t in enumerate(times):
        at = T0 + timedelta(seconds=t)
        m = rng.choice(MODELS)
        r = rng.random()
        if r < 0.90:
            drifted = rng.random() < 0.05
            scores = [
                [
                    c,
                    "wasserstein",
                    round(rng.uniform(0.12, 0.4) if drifted and j < 8 else rng.uniform(0, 0.08), 4),
                ]
                for j, c in enumerate(COLUMNS)
            ]
            out.append(
                RecordedEvent(
                    flow="data_arrival",
                    model=m,
                    at=at,
                    id=f"o{i}",
                    input={
                        "object": f"o{i}",
                        "key": f"{m}/part-{i}.parquet",
                        "version_id": None,
                        "rows": rng.randint(500, 5_000),
                        "scores": {c: sc for c, _m, sc in scores},
                        "methods": {"wasserstein": COLUMNS},
                    },
                )
            )
        elif r < 0.94:
            state, prev = rng.choice([("ALARM", "OK"), ("OK", "ALARM"), ("INSUFFICIENT_DATA", "OK")])
            out.append(
                RecordedEvent(
                    flow="alarms",
                    model=m,
                    at=at,
                    id=f"a{i}",
                    input={
                        "alarm_name": f"mlops-glue-dev-{m}-quality",
                        "state": state,
                        "previous_state": prev,
                        "state_timestamp": at.isoformat(),
                        "source": "eventbridge",
                        "event_id": f"a{i}",
                        "namespace": "ModelServing",
                        "metric_name": "AUC",
                        "dimensions": {"Model": m},
                        "statistic": "Average",
                        "value": 0.7,
                        "threshold": 0.8,
                        "comparison": "LessThanThreshold",
                        "stage": "dev",
                    },
                )
            )
        elif r < 0.98:
            versions[m] += 1
            v = str(versions[m])
            iid = f"mlflow-delivery:{i}"
            if rng.random() < 0.5:
                out.append(
                    RecordedEvent(
                        flow="promotion",
                        model=m,
                        at=at,
                        id=f"w{i}",
                        input={
                            "event_type": "model_version.created",
                            "data": {"name": m, "version": v},
                            "input_id": iid,
                        },
                    )
                )
                out.append(
                    RecordedEvent(
                        flow="promotion",
                        model=m,
                        at=at,
                        id=f"w{i}",
                        kind="gate_facts",
                        input={
                            "input_id": iid,
                            "version": v,
                            "metrics": {"val_auc": round(rng.uniform(0.8, 0.95), 3)},
                            "champion": None,
                            "champion_metrics": None,
                            "tags": {},
                        },
                    )
                )
            else:
                out.append(
                    RecordedEvent(
                        flow="promotion",
                        model=m,
                        at=at,
                        id=f"w{i}",
                        input={
                            "event_type": "model_version_tag.set",
                            "data": {"name": m, "version": v, "key": "deploy", "value": "staging"},
                            "input_id": iid,
                        },
                    )
                )
        else:
            v = str(versions[m])
            sha = f"{i:040x}"
            did = make_decision_id("promote", m, "staging", v, f"before-{i}")
            commit = {
                "sha": sha,
                "message": "bump",
                "author": "mlops-glue",
                "files": [f"models/{m}/values-staging.yaml"],
                "trailers": {
                    "Glue-Decision-Id": did,
                    "Glue-Model": m,
                    "Glue-Version": v,
                    "Glue-Environment": "staging",
                },
            }
            bad = rng.random() < 0.5
            out.append(
                RecordedEvent(
                    flow="feedback",
                    model=m,
                    at=at,
                    id=f"n{i}",
                    input={
                        "notification": {
                            "trigger": "on-health-degraded" if bad else "on-deployed",
                            "app": f"{m}-staging",
                            "namespace": "argocd",
                            "revision": sha,
                            "syncPhase": "Succeeded",
                            "healthStatus": "Degraded" if bad else "Healthy",
                        },
                        "environment": "staging",
                        "deployment": {
                            "path": f"models/{m}/values-staging.yaml",
                            "synced": commit,
                            "change": commit,
                            "later": [],
                            "head_version": v,
                            "previous_version": str(max(1, int(v) - 1)),
                            "on_branch": True,
                            "deployed_after": [],
                        },
                        "last_ours": None,
                    },
                )
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    base, new = configs()
    events = generate(args.events)
    records = OUT / "replay-records.jsonl"
    candidate = OUT / "replay-candidate.json"  # JSON is YAML
    with records.open("w", encoding="utf-8") as fh:
        export.write(fh, events, [], config=base, since=T0, until=T0 + timedelta(days=DAYS))
    candidate.write_text(json.dumps(export.config_doc(new)), encoding="utf-8")
    size_mb = records.stat().st_size / 1e6

    read_s, replay_s, cli_s = [], [], []
    report = None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        back = export.read(records)
        read_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        report = replay(back.events, base, new, since=T0, until=T0 + timedelta(days=DAYS))
        replay_s.append(time.perf_counter() - t0)
        env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "mlops_glue")}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "mlops_glue",
                "replay",
                "--from-file",
                str(records),
                "--config",
                str(candidate),
                "--since",
                T0.isoformat(),
                "--until",
                (T0 + timedelta(days=DAYS)).isoformat(),
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        cli_s.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1) or not proc.stdout.startswith("{"):
            raise SystemExit(f"mlops-glue replay failed ({proc.returncode}): {proc.stderr[-500:]}")
        if json.loads(proc.stdout)["summary"] != report.to_dict()["summary"]:
            raise SystemExit("the CLI and the in-process replay disagree")
    assert report is not None
    b, a = report.before.to_dict(), report.after.to_dict()
    n = report.events
    load = os.getloadavg()[0]
    print(
        "| events | file (MB) | read (s) | replay, 2 configurations (s) | CLI end to end (s) | differences | "
        "retrainings before → after | load |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|---:|")
    print(
        f"| {n:,} | {size_mb:.0f} | {statistics.median(read_s):.1f} | {statistics.median(replay_s):.1f} | "
        f"{statistics.median(cli_s):.1f} | {len(report.differences):,} | {b['retrainings']} → {a['retrainings']} | "
        f"{load:.1f} |"
    )


if __name__ == "__main__":
    main()
