"""The data-arrival service on in-memory adapters with the real drift engine counting real files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from arrival_helpers import BUCKET, MODEL, PREFIX, Harness, config_text, eb_event, make_config, write_parquet
from mlops_glue.adapters.argo import ArgoRejectedError, ArgoUnavailableError, MemorySubmitter
from mlops_glue.adapters.s3 import ObjectStoreError
from mlops_glue.adapters.slack import MemoryNotifier, Message
from mlops_glue.config import parse_config
from mlops_glue.drift.synth import make_table
from mlops_glue.keys import last_dataset_key, outbox_key, retrain_ledger_key, window_key
from mlops_glue.outbox import post_or_keep
from mlops_glue.records import Outcome
from mlops_glue.services import arrival_context, arrival_window
from mlops_glue.services import data_arrival as da
from mlops_glue.services.data_arrival import DataArrival, DriveError

Counter = tuple[dict[str, Path], Callable[[Any, Any], Any]]


def put_file(counter: Counter, tmp: Path, name: str, table: pa.Table) -> str:
    files, _ = counter
    key = f"{PREFIX}2026/11/23/{name}"
    files[key] = write_parquet(table, tmp / name.replace("/", "_"))
    return key


def send(svc: DataArrival, key: str, n: int, **kw: Any) -> list[da.ObjectResult]:
    ev = eb_event(key, etag=f"etag-{n}", version=f"v{n}", size=1000)
    return svc.handle_message(json.dumps(ev), message_id=f"m-{n}", **kw)


def window(h: Harness) -> dict[str, Any]:
    got = h.store.get(*window_key(MODEL))
    assert got is not None
    return got.data


def test_rows_trigger_submits_one_workflow_with_manifest_report_and_records(
    harness: Harness, local_counter: Counter, tmp_path: Path
) -> None:
    harness.cfg = make_config(min_new_rows=600)
    svc = harness.service(counter=local_counter[1])
    keys = [
        put_file(local_counter, tmp_path, f"part-{i}.parquet", make_table(200, seed=10 + i)) for i in range(4)
    ]
    results = [send(svc, k, i) for i, k in enumerate(keys)]
    assert [r[0].status for r in results] == ["counted"] * 4
    assert results[2][0].closed  # the third file reached 600 rows
    (sub,) = harness.submitter.submissions.values()
    assert sub.name.startswith("retrain-d-") and sub.parameters["trigger-reason"] == "rows"
    manifest = json.loads(harness.objects.get_bytes(sub.parameters["dataset-manifest"]))
    assert [o["key"] for o in manifest["objects"]] == sorted(keys[:3])
    assert [o["version_id"] for o in manifest["objects"]] == ["v0", "v1", "v2"]
    assert manifest["rows"] == 600 and manifest["decision_id"] == sub.parameters["decision-id"]
    assert sub.labels["mlops-glue/decision-id"] == sub.parameters["decision-id"]
    # the fourth file opened the next window
    assert window(harness)["rows"] == 200 and window(harness)["pending"] == []
    d = harness.store.get_decision(sub.parameters["decision-id"])
    assert d is not None and d.outcome == Outcome.ACTED
    assert d.reasons == ["600 new rows in 3 files ≥ min_new_rows 600"]
    assert d.action["workflow"] == sub.name and d.config_hash == harness.cfg.hash()
    assert len(d.inputs) == 3 and d.evidence["thresholds"]["min_new_rows"] == 600
    last = harness.store.get(*last_dataset_key(MODEL))
    assert last is not None and last.data["manifest_uri"] == sub.parameters["dataset-manifest"]
    ledger = harness.store.get(*retrain_ledger_key(MODEL))
    assert ledger is not None and [r["decision_id"] for r in ledger.data["runs"]] == [d.decision_id]
    (msg,) = harness.notifier.messages
    assert msg.channel == "#ml-fraud" and sub.name in msg.text
    assert harness.metrics.total("RowsReceived", model=MODEL) == 800
    assert harness.metrics.total("Decisions", model=MODEL, outcome="acted") == 1


def test_duplicates_and_redeliveries_count_once(
    harness: Harness, local_counter: Counter, tmp_path: Path
) -> None:
    harness.cfg = make_config(min_new_rows=400)
    svc = harness.service(counter=local_counter[1])
    key = put_file(local_counter, tmp_path, "a.parquet", make_table(200, seed=3))
    key2 = put_file(local_counter, tmp_path, "b.parquet", make_table(200, seed=4))
    assert send(svc, key, 1)[0].status == "counted"
    send(svc, key, 1)  # a duplicate event: the object's membership answers it
    assert window(harness)["rows"] == 200
    send(svc, key2, 2)  # closes the window
    assert len(harness.submitter.submissions) == 1
    # another execution environment: a redelivery is still caught, whatever its receive count and
    # however many windows closed since: the object's membership says where it is
    bare = harness.service(counter=local_counter[1])
    assert send(bare, key2, 2, receive_count=2)[0].status == "duplicate"
    (sub,) = harness.submitter.submissions.values()
    closed = json.loads(harness.objects.get_bytes(sub.parameters["dataset-manifest"]))
    late = send(bare, key, 1, receive_count=1)[0]
    assert late.status == "duplicate" and late.window_id == closed["window_id"]
    assert window(harness)["rows"] == 0 and window(harness)["files"] == 0


def test_drifted_file_triggers_with_drift_reason_and_report_link(
    harness: Harness, local_counter: Counter, tmp_path: Path
) -> None:
    harness.cfg = make_config(min_new_rows=100_000, drift={"min_rows": 500, "dataset_drift_share": 0.15})
    svc = harness.service(counter=local_counter[1])
    clean = put_file(local_counter, tmp_path, "clean.parquet", make_table(1500, seed=21))
    send(svc, clean, 1)
    assert harness.submitter.submissions == {}
    assert window(harness)["drift"]["verdict"] == "no_drift"
    drifted = put_file(local_counter, tmp_path, "drifted.parquet", make_table(3000, seed=22, drift=True))
    send(svc, drifted, 2)
    (sub,) = harness.submitter.submissions.values()
    assert sub.parameters["trigger-reason"] == "drift"
    d = harness.store.get_decision(sub.parameters["decision-id"])
    assert d is not None and d.reasons[0].startswith("drift share")
    top = [c for c, _ in d.evidence["drift"]["drifted_columns"]]
    assert "num_03" in top
    (msg,) = harness.notifier.messages
    blocks = json.dumps(msg.blocks)
    assert "num_03" in blocks and "data drift" in msg.text
    if d.action["report_url"]:  # the HTML report is stored and linked (when the engine renders one)
        assert harness.objects.get_bytes(d.action["report_uri"]).lstrip().startswith(b"<")
        assert d.action["report_url"] in blocks
    assert harness.metrics.total("DriftShare", model=MODEL) > 0


def test_cooldown_defers_and_the_sweep_triggers_later(
    harness: Harness, local_counter: Counter, tmp_path: Path
) -> None:
    harness.cfg = make_config(min_new_rows=200, cooldown="6h")
    svc = harness.service(counter=local_counter[1])
    for i in range(2):
        send(svc, put_file(local_counter, tmp_path, f"c{i}.parquet", make_table(200, seed=30 + i)), i)
    assert len(harness.submitter.submissions) == 1  # the second window waits for the cooldown
    w = window(harness)
    assert w["deferred"]["kinds"] == ["cooldown"] and w["rows"] == 200
    deferred = harness.store.get_decision(w["deferred"]["decision_id"])
    assert deferred is not None and deferred.outcome == Outcome.DEFERRED
    assert any(r.startswith("cooldown: last training 0 s ago < 6.0 h") for r in deferred.reasons)
    harness.clock.advance(hours=3)
    assert svc.sweep().triggered == []
    harness.clock.advance(hours=3, minutes=1)
    report = svc.sweep()
    assert len(report.triggered) == 1 and len(report.submitted) == 1
    assert len(harness.submitter.submissions) == 2
    assert svc.sweep().triggered == []  # each window triggers once


def test_in_flight_training_defers_until_it_finishes(
    profile: Any, local_counter: Counter, tmp_path: Path
) -> None:
    h = Harness(make_config(min_new_rows=200), profile, submitter=MemorySubmitter(phase="Running"))
    svc = h.service(counter=local_counter[1])
    for i in range(2):
        send(svc, put_file(local_counter, tmp_path, f"f{i}.parquet", make_table(200, seed=40 + i)), i)
    (first,) = h.submitter.submissions
    assert window(h)["deferred"]["kinds"] == ["in_flight"]
    assert first in " ".join(window(h)["deferred"]["reasons"])
    h.submitter.phases[first] = "Succeeded"
    arrival_context.IN_FLIGHT_TTL, old = 0.0, arrival_context.IN_FLIGHT_TTL
    try:
        assert len(svc.sweep().submitted) == 1
    finally:
        arrival_context.IN_FLIGHT_TTL = old
    assert len(h.submitter.submissions) == 2


def test_budget_defers_with_a_slack_notice_then_the_next_day_triggers(
    harness: Harness, local_counter: Counter, tmp_path: Path
) -> None:
    harness.cfg = make_config(
        min_new_rows=200, budget={"max_per_day": 1, "gpu_hours_per_run": 4, "monthly_gpu_hours": 100}
    )
    svc = harness.service(counter=local_counter[1])
    for i in range(3):
        send(svc, put_file(local_counter, tmp_path, f"b{i}.parquet", make_table(200, seed=50 + i)), i)
    assert len(harness.submitter.submissions) == 1
    texts = [m.text for m in harness.notifier.messages]
    assert sum("deferred" in t for t in texts) == 1  # once per deferral, not per file
    assert "max_per_day 1" in texts[-1]
    assert window(harness)["rows"] == 400  # a deferred window keeps accumulating
    harness.clock.advance(days=1, minutes=1)
    assert len(svc.sweep().submitted) == 1
    manifests = [
        json.loads(harness.objects.get_bytes(s.parameters["dataset-manifest"]))
        for s in harness.submitter.submissions.values()
    ]
    assert sorted(m["rows"] for m in manifests) == [200, 400]


def test_max_wait_sweep_triggers_an_aging_window(
    harness: Harness, local_counter: Counter, tmp_path: Path
) -> None:
    harness.cfg = make_config(min_new_rows=10_000, max_wait="2d", drift={"min_rows": 100})
    svc = harness.service(counter=local_counter[1])
    send(svc, put_file(local_counter, tmp_path, "old.parquet", make_table(150, seed=60)), 1)
    assert svc.sweep().triggered == []
    harness.clock.advance(days=2)
    (sub,) = (svc.sweep(), *harness.submitter.submissions.values())[1:]
    assert sub.parameters["trigger-reason"] == "max_wait"


def test_corrupt_and_missing_column_files_are_rejected_and_kept_out(
    harness: Harness, local_counter: Counter, tmp_path: Path
) -> None:
    svc = harness.service(counter=local_counter[1])
    files, _ = local_counter
    corrupt_key = f"{PREFIX}corrupt.parquet"
    files[corrupt_key] = tmp_path / "corrupt.parquet"
    files[corrupt_key].write_bytes(b"PAR1 this is not really parquet PAR1")
    missing_key = put_file(
        local_counter, tmp_path, "missing.parquet", make_table(100, seed=70).drop_columns(["num_03"])
    )
    good_key = put_file(local_counter, tmp_path, "good.parquet", make_table(100, seed=71))
    assert send(svc, corrupt_key, 1)[0].status == "rejected"
    (missing,) = send(svc, missing_key, 2)
    assert missing.status == "rejected" and "missing columns: num_03" in missing.reason
    assert send(svc, good_key, 3)[0].status == "counted"
    assert window(harness)["rows"] == 100 and window(harness)["files"] == 1
    rejected = [d for d in harness.store.decisions_for(MODEL) if d.outcome == Outcome.REJECTED]
    assert len(rejected) == 2 and all(d.inputs for d in rejected)
    assert sum("rejected" in m.text for m in harness.notifier.messages) == 2


def test_markers_folders_and_unknown_suffixes_are_recorded_as_ignored(harness: Harness) -> None:
    from tests.conftest import load_event

    svc = harness.service(counter=lambda *_: pytest.fail("must not read a skipped object"))
    statuses = []
    for rec in load_event("sqs_eventbridge_s3_markers_and_folders.json")["Records"]:
        statuses += [r.status for r in svc.handle_message(rec["body"], message_id=rec["messageId"])]
    assert statuses == ["skipped"] * 3
    ignored = [d for d in harness.store.decisions_for(MODEL) if d.outcome == Outcome.IGNORED]
    assert sorted(d.reasons[0].split(": ", 1)[1] for d in ignored) == [
        "folder marker",
        "unknown suffix (expected .parquet, .csv, .csv.gz)",
        "zero-byte object",
    ]


def test_argo_rejection_fails_once_without_poisoning_later_messages_or_sweeps(
    profile: Any, local_counter: Counter, tmp_path: Path
) -> None:
    h = Harness(
        make_config(min_new_rows=200),
        profile,
        submitter=MemorySubmitter(
            fail_with=ArgoRejectedError("HTTP 404 template not found"), phase="Succeeded"
        ),
    )
    svc = h.service(counter=local_counter[1])
    key = put_file(local_counter, tmp_path, "x.parquet", make_table(200, seed=80))
    (res,) = send(svc, key, 1)  # Argo's 4xx does not fail the message: retrying cannot help
    assert res.status == "counted" and res.closed
    (entry,) = window(h)["rejected"]
    assert window(h)["pending"] == [] and entry["window_id"] == res.window_id
    assert "HTTP 404 template not found" in entry["last_error"]
    failed = h.store.get_decision(entry["decision_id"])
    assert failed is not None and failed.outcome == Outcome.FAILED
    assert "Argo rejected the submission" in failed.reasons[-1] and "template not found" in failed.reasons[-1]
    assert h.metrics.total("Decisions", model=MODEL, outcome="failed") == 1
    alerts = [m for m in h.notifier.messages if "NOT submitted" in m.text]
    assert len(alerts) == 1 and "@ml-oncall" in alerts[0].text
    assert f"window resubmit {MODEL} {entry['window_id']}" in json.dumps(alerts[0].blocks)
    # a later object of the same model is processed normally, and the sweep neither raises nor resubmits
    h.submitter.fail_with = ArgoRejectedError("HTTP 403 forbidden")  # any further submission would show
    (later,) = send(svc, put_file(local_counter, tmp_path, "y.parquet", make_table(100, seed=81)), 2)
    assert later.status == "counted" and not later.closed and window(h)["rows"] == 100
    report = svc.sweep()
    assert report.failed == [] and report.submitted == []
    assert len(window(h)["rejected"]) == 1 and window(h)["pending"] == []
    assert len([m for m in h.notifier.messages if "NOT submitted" in m.text]) == 1
    assert h.metrics.total("Decisions", model=MODEL, outcome="failed") == 1
    assert (
        "rejected" in svc.window(MODEL)["window"]
        and "evidence" not in svc.window(MODEL)["window"]["rejected"][0]
    )
    # the rejection survives the next window closing; after the fix a human re-queues it
    h.submitter.fail_with = None
    (closing,) = send(svc, put_file(local_counter, tmp_path, "z.parquet", make_table(100, seed=82)), 3)
    assert closing.closed and len(h.submitter.submissions) == 1
    assert [e["window_id"] for e in window(h)["rejected"]] == [entry["window_id"]]
    (sub,) = svc.resubmit(MODEL, entry["window_id"])
    assert sub.name.endswith(entry["decision_id"]) or entry["decision_id"] in sub.name
    assert window(h)["rejected"] == [] and window(h)["pending"] == []
    d = h.store.get_decision(entry["decision_id"])
    assert d is not None and d.outcome == Outcome.ACTED
    with pytest.raises(KeyError, match="no window"):
        arrival_window.requeue_rejected(h.store, MODEL, entry["window_id"])


def test_argo_unavailable_keeps_the_window_pending_alerts_once_and_retries(
    profile: Any, local_counter: Counter, tmp_path: Path
) -> None:
    h = Harness(
        make_config(min_new_rows=200),
        profile,
        submitter=MemorySubmitter(
            fail_with=ArgoUnavailableError("HTTP 503 after 4 retries"), phase="Succeeded"
        ),
    )
    svc = h.service(counter=local_counter[1])
    key = put_file(local_counter, tmp_path, "x.parquet", make_table(200, seed=80))
    with pytest.raises(DriveError, match="503"):
        send(svc, key, 1)
    (entry,) = window(h)["pending"]
    failed = h.store.get_decision(entry["decision_id"])
    assert failed is not None and failed.outcome == Outcome.FAILED
    assert "HTTP 503 after 4 retries" in failed.reasons[-1]
    with pytest.raises(DriveError):
        send(svc, key, 1, receive_count=2)  # SQS redelivers: counted once, submission retried
    assert window(h)["rows"] == 0 and len(window(h)["pending"]) == 1 and window(h)["rejected"] == []
    alerts = [m for m in h.notifier.messages if "NOT submitted" in m.text]
    assert (
        len(alerts) == 1 and "@ml-oncall" in alerts[0].text and "dlq replay" in json.dumps(alerts[0].blocks)
    )
    assert len(svc.sweep().failed) == 1  # still down: the sweep reports it
    h.submitter.fail_with = None  # Argo is back: the sweep (or a DLQ replay) submits it
    assert len(svc.sweep().submitted) == 1
    assert window(h)["pending"] == []
    d = h.store.get_decision(entry["decision_id"])
    assert d is not None and d.outcome == Outcome.ACTED


def test_slack_down_never_blocks_the_training_and_the_notice_is_resent(
    profile: Any, local_counter: Counter, tmp_path: Path
) -> None:
    h = Harness(make_config(min_new_rows=200), profile, notifier=MemoryNotifier(fail=True))
    svc = h.service(counter=local_counter[1])
    send(svc, put_file(local_counter, tmp_path, "s.parquet", make_table(200, seed=90)), 1)
    assert len(h.submitter.submissions) == 1
    outbox = h.store.get(*outbox_key(MODEL))
    assert outbox is not None and len(outbox.data["items"]) == 1
    h.notifier.fail = False
    assert svc.sweep().notices_resent == 1
    assert len(h.notifier.messages) == 1 and "Retraining" in h.notifier.messages[0].text
    assert svc.sweep().notices_resent == 0


def test_the_sweep_resends_every_configured_models_notices_of_every_flow(profile: Any) -> None:
    doc = json.loads(config_text())
    doc["models"]["churn"] = {}  # no data section: only promotion / feedback post for it
    h = Harness(parse_config(json.dumps(doc)), profile, notifier=MemoryNotifier(fail=True))
    alert = Message(":rotating_light: churn degraded in staging", [{"type": "section"}], "#ml", "1.0001")
    assert not post_or_keep(h.notifier, h.store, "churn", alert).ok
    svc = h.service()
    report = svc.sweep()
    assert (report.notices_resent, report.notices_waiting) == (0, 1)
    h.notifier.fail = False
    assert svc.sweep().notices_resent == 1 and h.notifier.messages == [alert]
    assert svc.sweep().notices_resent == 0 and h.notifier.messages == [alert]


def test_one_models_unexpected_failure_never_stops_the_sweep_of_the_others(
    profile: Any, local_counter: Counter, tmp_path: Path
) -> None:
    """An S3 error (or a bug) in one model is said in the report, which fails the scheduled invocation
    (retried, then its on-failure destination); the other models and the outbox are swept meanwhile."""
    doc = json.loads(
        config_text(max_wait="1h", min_new_rows=100, drift={"min_rows": 50, "dataset_drift_share": 1.0})
    )
    doc["models"]["churn"] = json.loads(json.dumps(doc["models"][MODEL]))
    doc["models"]["churn"]["data"]["prefix"] = "churn/incoming/"
    h = Harness(parse_config(json.dumps(doc)), profile)
    svc = h.service(counter=local_counter[1])
    files, _ = local_counter
    for n, key in enumerate((f"{PREFIX}a.parquet", "churn/incoming/a.parquet")):
        files[key] = write_parquet(make_table(60, seed=n), tmp_path / f"{n}.parquet")
        send(svc, key, n)
    kept = Message("kept while Slack was down", [], "#ml")
    h.store.update(*outbox_key("churn"), lambda _d: {"items": [{"text": kept.text, "channel": "#ml"}]})
    h.clock.advance(hours=2)  # both windows are past max_wait: the sweep closes them

    real = svc.offloader.collect

    def broken(model: str, *args: Any) -> int:
        if model == MODEL:
            raise ObjectStoreError("S3 GetObject: SlowDown")
        return real(model, *args)

    svc.offloader.collect = broken  # type: ignore[method-assign]
    report = svc.sweep()
    assert report.failed == [f"{MODEL}: ObjectStoreError: S3 GetObject: SlowDown"]
    assert len(report.triggered) == 1 and len(h.submitter.submissions) == 1  # churn's window went on
    assert report.notices_resent == 1


def test_large_windows_spill_to_s3_and_stay_consistent(
    harness: Harness, local_counter: Counter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(arrival_window, "INLINE_MAX", 10)
    harness.cfg = make_config(min_new_rows=300)
    svc = harness.service(counter=local_counter[1])
    send(svc, put_file(local_counter, tmp_path, "l0.parquet", make_table(100, seed=1)), 0)
    first = window(harness)["payload"]["uri"]
    send(svc, put_file(local_counter, tmp_path, "l1.parquet", make_table(100, seed=2)), 1)
    second = window(harness)["payload"]["uri"]
    assert first != second and first not in harness.objects.objects  # superseded blobs are deleted
    send(svc, put_file(local_counter, tmp_path, "l2.parquet", make_table(100, seed=3)), 2)
    (sub,) = harness.submitter.submissions.values()
    assert json.loads(harness.objects.get_bytes(sub.parameters["dataset-manifest"]))["files"] == 3
    assert second not in harness.objects.objects
    windows = [u for u in harness.objects.objects if "/windows/" in u and u.endswith(".bin")]
    assert len(windows) == 1  # only the closed window's blob (the manifest's source) remains
    evidence = [u for u in harness.objects.objects if "/windows/" in u and "/evidence-" in u]
    assert len(evidence) == 1  # and its evidence, kept out of the window item


def test_unrouted_objects_are_left_alone(harness: Harness) -> None:
    svc = harness.service(counter=lambda *_: pytest.fail("must not read"))
    ev = eb_event("other/data.parquet", etag="e", size=10)
    ev["detail"]["bucket"]["name"] = BUCKET
    assert svc.handle_message(ev)[0].status == "unrouted"
