"""Data arrival: shadow mode (no Argo request, a "would act" record and notice) and what replay records.

Real files counted by the drift engine; the Argo stand-in counts every request it receives.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from arrival_helpers import MODEL, PREFIX, Harness, config_text, eb_event, write_parquet
from mlops_glue import shadow
from mlops_glue.adapters.argo import ArgoRestSubmitter
from mlops_glue.adapters.secrets import StaticSecrets
from mlops_glue.config import GlueConfig, parse_config
from mlops_glue.drift.synth import make_table
from mlops_glue.keys import OFFLOAD_SHARDS, offloads_key, retrain_ledger_key
from mlops_glue.records import Kind, Outcome
from mlops_glue.replay.compare import replay
from mlops_glue.replay.recorder import LogRecorder, MemoryEventLog
from mlops_glue.services.data_arrival import DataArrival

from glue_local.standins import ArgoStandin


def cfg(argo: ArgoStandin, shadow_setting: Any, **retrain: Any) -> GlueConfig:
    doc = json.loads(config_text(**{"min_new_rows": 600, **retrain}))
    doc["models"][MODEL]["shadow"] = shadow_setting
    doc["argo"] = {"server": argo.url, "token_secret": "argo/token", "artifacts_bucket": "ml-artifacts-dev"}
    return parse_config(json.dumps(doc))


def service(harness: Harness, counter: Any, argo: ArgoStandin) -> DataArrival:
    """The service with its adapters composed as ``runtime.data_arrival`` composes them."""
    real = ArgoRestSubmitter(
        argo.url, token_secret="argo/token", secrets=StaticSecrets({"argo/token": "argo-token"})
    )
    a = shadow.wrap(
        harness.cfg, "data_arrival", store=harness.store, submitter=real, notifier=harness.notifier
    )
    svc = harness.service(counter=counter)
    svc.ctx.store, svc.ctx.submitter, svc.ctx.notifier = a.store, a.submitter, a.notifier
    return svc


def send_files(svc: DataArrival, counter: Any, tmp: Path, first: int, n: int = 3) -> None:
    """``n`` files of 200 rows, a minute apart."""
    files, _ = counter
    for i in range(first, first + n):
        svc.ctx.clock.advance(minutes=1)  # type: ignore[attr-defined]
        key = f"{PREFIX}2026/11/23/part-{i}.parquet"
        files[key] = write_parquet(make_table(200, seed=40 + i), tmp / f"part-{i}.parquet")
        svc.handle_message(
            json.dumps(eb_event(key, etag=f"e{i}", version=f"v{i}", size=1000)), message_id=f"m{i}"
        )


@pytest.mark.parametrize("setting", [True, {"data_arrival": True}])
def test_a_shadowed_model_triggers_without_any_argo_request(
    harness: Harness, local_counter: Any, tmp_path: Path, argo: ArgoStandin, setting: Any
) -> None:
    harness.cfg = cfg(argo, setting)
    svc = service(harness, local_counter[1], argo)

    send_files(svc, local_counter, tmp_path, 0)

    assert argo.requests == 0 and argo.workflows == {}
    [d] = [d for d in harness.store.decisions_for(MODEL) if d.kind is Kind.RETRAIN]
    assert d.outcome is Outcome.ACTED and d.action["shadow"] == shadow.WOULD_ACT
    assert d.reasons[0] == shadow.SHADOW_REASON and "600 new rows" in d.reasons[1]
    [msg] = harness.notifier.messages
    assert msg.text.startswith(shadow.NOTICE_MARK)
    # the flow's own state evolves as if it had acted: cooldown and budget count this run
    ledger = harness.store.get(*retrain_ledger_key(MODEL))
    assert ledger is not None and [r["decision_id"] for r in ledger.data["runs"]] == [d.decision_id]


def test_switching_shadow_off_acts_from_the_next_event(
    harness: Harness, local_counter: Any, tmp_path: Path, argo: ArgoStandin
) -> None:
    harness.cfg = cfg(argo, True, cooldown="0s")
    send_files(service(harness, local_counter[1], argo), local_counter, tmp_path, 0)
    assert argo.requests == 0

    harness.cfg = cfg(argo, False, cooldown="0s")  # the next configuration the function loads
    harness.clock.advance(minutes=5)
    send_files(service(harness, local_counter[1], argo), local_counter, tmp_path, 3)

    assert len(argo.workflows) == 1
    acted = [d for d in harness.store.decisions_for(MODEL) if d.outcome is Outcome.ACTED]
    assert [("shadow" in d.action) for d in acted] == [False, True]  # newest first
    assert not harness.notifier.messages[-1].text.startswith(shadow.NOTICE_MARK)


def test_each_counted_object_is_recorded_small_with_its_ttl_and_replays_as_it_ran(
    harness: Harness, local_counter: Any, tmp_path: Path, argo: ArgoStandin, profile: Any
) -> None:
    harness.cfg = cfg(argo, False)
    svc = service(harness, local_counter[1], argo)
    log = MemoryEventLog()
    svc.recorder = LogRecorder(log, ttl=timedelta(days=35))

    send_files(svc, local_counter, tmp_path, 0, n=5)
    send_files(svc, local_counter, tmp_path, 0, n=1)  # a redelivery: counted once, recorded once

    events = log.all()
    assert [e.flow for e in events] == ["data_arrival"] * 5
    first = events[0]
    assert first.input["rows"] == 200 and first.input["key"] == f"{PREFIX}2026/11/23/part-0.parquet"
    assert sorted(first.input["scores"]) == sorted(c.name for c in profile.columns)
    assert sorted(n for names in first.input["methods"].values() for n in names) == sorted(
        first.input["scores"]
    )
    assert len(first.model_dump_json()) < 4096  # small: a counts summary, no data
    [(_event, expires)] = [v for v in log._items.values() if v[0] == first]
    assert expires == first.at + timedelta(days=35)

    # replayed with the configuration it ran under, the simulation makes the live decisions: one retraining
    live = [
        d for d in harness.store.decisions_for(MODEL) if d.kind is Kind.RETRAIN and d.outcome is Outcome.ACTED
    ]
    same = replay(events, harness.cfg, harness.cfg)
    assert same.differences == [] and same.before.retrainings == len(live) == 1
    # and a lower min_new_rows closes the windows at 400 rows instead of 600: after files 2 and 4
    lower = replay(events, harness.cfg, cfg(argo, False, min_new_rows=400))
    assert [d.moment.index for d in lower.differences] == [1, 2, 3]
    assert (lower.before.retrainings, lower.after.retrainings) == (1, 2)


def test_switching_shadow_off_acts_from_the_next_event_within_the_cooldown(
    harness: Harness, local_counter: Any, tmp_path: Path, argo: ArgoStandin
) -> None:
    harness.cfg = cfg(argo, True, cooldown="6h")
    send_files(service(harness, local_counter[1], argo), local_counter, tmp_path, 0)
    assert argo.requests == 0  # a shadow run: nothing trained

    harness.cfg = cfg(argo, False, cooldown="6h")  # onboarded: the next ready window should train
    harness.clock.advance(minutes=5)
    send_files(service(harness, local_counter[1], argo), local_counter, tmp_path, 3)

    [latest, *_] = harness.store.decisions_for(MODEL)
    assert latest.outcome is Outcome.ACTED, latest.reasons
    assert len(argo.workflows) == 1


def test_in_shadow_mode_the_cooldown_counts_the_shadow_runs(
    harness: Harness, local_counter: Any, tmp_path: Path, argo: ArgoStandin
) -> None:
    """While shadowed, the model's decisions are what it would do: its own would-act run starts its cooldown
    (the ledger keeps the run marked ``shadow``, which only live decisions leave out)."""
    harness.cfg = cfg(argo, True, cooldown="6h")
    send_files(service(harness, local_counter[1], argo), local_counter, tmp_path, 0)
    harness.clock.advance(minutes=5)
    send_files(service(harness, local_counter[1], argo), local_counter, tmp_path, 3)

    assert argo.requests == 0
    latest = harness.store.decisions_for(MODEL)[0]
    assert latest.outcome is Outcome.DEFERRED and any("cooldown" in r for r in latest.reasons), latest.reasons
    ledger = harness.store.get(*retrain_ledger_key(MODEL))
    assert ledger is not None and [r.get("shadow") for r in ledger.data["runs"]] == [True]


def test_a_shadowed_models_large_object_would_be_counted_on_the_cluster_and_waits_for_nothing(
    harness: Harness, local_counter: Any, tmp_path: Path, argo: ArgoStandin
) -> None:
    """No count workflow is submitted in shadow mode, so none is waited for, retried or failed."""
    drift = {"min_rows": 1_000_000, "dataset_drift_share": 0.5, "count_in": "argo"}
    harness.cfg = cfg(argo, True, drift=drift)
    svc = service(harness, local_counter[1], argo)
    send_files(svc, local_counter, tmp_path, 0, n=1)
    for _ in range(4):
        report = svc.sweep()
        assert report.offloads_collected == 0 and report.failed == []
    assert argo.requests == 0 and argo.workflows == {}
    [d] = [d for d in harness.store.decisions_for(MODEL) if d.kind is Kind.RETRAIN]
    assert d.outcome is Outcome.DEFERRED and d.action["shadow"] == shadow.WOULD_ACT
    assert any("would be counted on the cluster" in r for r in d.reasons)
    assert all(harness.store.get(*offloads_key(MODEL, s)) is None for s in OFFLOAD_SHARDS)
    assert not [m for m in harness.notifier.messages if "could not be counted" in m.text]
