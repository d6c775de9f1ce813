"""Bounded state and tolerant verdicts: the window item stays under a fixed budget at 1,000 columns with
100 windows Argo rejected and a full backlog of pending ones; a tolerated new column does not veto drift.

At 1,000 columns one drift evaluation takes seconds, so the wide tests evaluate the real drifted file
once and reuse that summary for every window (and skip the HTML report): what is under test is the
size of the state, with the real summary of a window where every one of 1,000 columns drifted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from arrival_helpers import MODEL, PREFIX, Harness, eb_event, make_config, write_parquet
from mlops_glue import deadline
from mlops_glue.adapters.argo import ArgoRejectedError, ArgoUnavailableError, MemorySubmitter
from mlops_glue.decisions.retrain import MAX_PENDING
from mlops_glue.drift import build_profile, count_batch
from mlops_glue.drift.synth import make_table
from mlops_glue.keys import window_key
from mlops_glue.services import data_arrival as da
from mlops_glue.services.arrival_merge import WINDOW_ITEM_BUDGET, WindowWriter
from mlops_glue.services.arrival_submit import MAX_REJECTED, Submission
from mlops_glue.services.arrival_window import TEXT_MAX
from mlops_glue.services.data_arrival import DriveError

WIDTH = 1000


def wide(rows: int, seed: int, shift: float = 0.0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({f"c{i:04d}": rng.normal(shift, 1.0, rows) for i in range(WIDTH)})


@pytest.fixture(scope="module")
def wide_state(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Any]:
    d = tmp_path_factory.mktemp("wide")
    profile = build_profile(str(write_parquet(wide(300, 1), d / "ref.parquet")))
    drifted = count_batch(profile, str(write_parquet(wide(100, 2, shift=3.0), d / "drifted.parquet")))
    assert len(profile.compared) == WIDTH and drifted.rows == 100
    cfg = make_config(min_new_rows=100, drift={"min_rows": 50, "dataset_drift_share": 0.5})
    summary = WindowWriter._drift_summary(None, profile, drifted, cfg.model(MODEL))  # type: ignore[arg-type]
    assert summary.verdict == "drift" and len(summary.drifted_columns) == 10
    return profile, drifted, summary


@pytest.fixture
def wide_counts(wide_state: tuple[Any, Any, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    profile, drifted, summary = wide_state
    monkeypatch.setattr(WindowWriter, "_drift_summary", lambda self, p, c, m: summary)
    monkeypatch.setattr(Submission, "_report", lambda self, *a: ("", ""))
    return profile, drifted


class Encoded:
    """A file's counts with their encoding done once (encoding 1,000 columns takes a tenth of a second)."""

    def __init__(self, counts: Any) -> None:
        self.counts, self.blob = counts, counts.to_bytes()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.counts, name)

    def to_bytes(self) -> bytes:
        return self.blob


def item_bytes(h: Harness) -> int:
    got = h.store.get(*window_key(MODEL))
    assert got is not None
    return len(json.dumps(got.data, separators=(",", ":")))


def send(svc: da.DataArrival, n: int) -> list[da.ObjectResult]:
    ev = eb_event(f"{PREFIX}wide/part-{n:04d}.parquet", etag=f"e{n}", version=f"v{n}", size=1000)
    return svc.handle_message(json.dumps(ev), message_id=f"m-{n}")


def test_window_item_stays_under_budget_at_1000_columns_and_100_rejected_windows(
    wide_counts: tuple[Any, Any],
) -> None:
    profile, drifted = wide_counts
    cfg = make_config(min_new_rows=100, drift={"min_rows": 50, "dataset_drift_share": 0.5})
    h = Harness(cfg, profile, submitter=MemorySubmitter(fail_with=ArgoRejectedError("HTTP 400 template")))
    encoded = Encoded(drifted)
    svc = h.service(counter=lambda _p, _ref: encoded)
    for n in range(MAX_REJECTED + 5):
        assert send(svc, n)[0].status == "counted"
    w = h.store.get(*window_key(MODEL))
    assert w is not None
    assert len(w.data["rejected"]) == MAX_REJECTED == 100 and w.data["rejected_archived"] == 5
    assert item_bytes(h) < WINDOW_ITEM_BUDGET
    entry = w.data["rejected"][-1]
    assert all(len(r) <= TEXT_MAX for r in entry["reasons"]) and "evidence" not in entry
    # the full evidence moved to S3, not lost: every drifted column is there
    evidence = json.loads(h.objects.get_bytes(entry["evidence_uri"]))
    assert evidence["drift"]["verdict"] == "drift" and len(evidence["drift"]["drifted_columns"]) == 10
    # an archived window is restored from S3 and resubmitted like any other
    h.submitter.fail_with = None
    archived = "w000000"
    first = json.loads(h.objects.get_bytes(svc.ctx.workspace.archive_uri(MODEL, _first_id(h, archived))))
    svc.resubmit(MODEL, first["window_id"])
    assert len(h.submitter.submissions) == 1


def _first_id(h: Harness, prefix: str) -> str:
    for uri in h.objects.objects:
        if "/rejected/" in uri and f"/{prefix}" in uri:
            return uri.rsplit("/", 1)[1].removesuffix(".json")
    raise AssertionError("no archived window")


def test_pending_backlog_is_capped_and_the_window_keeps_collecting(profile: Any, tmp_path: Path) -> None:
    cfg = make_config(min_new_rows=100, drift={"min_rows": 50, "dataset_drift_share": 0.5})
    h = Harness(cfg, profile, submitter=MemorySubmitter(fail_with=ArgoUnavailableError("down")))
    counts = count_batch(
        profile, str(write_parquet(make_table(100, seed=3, drift=True), tmp_path / "d.parquet"))
    )
    svc = h.service(counter=lambda _p, _ref: counts)
    for n in range(MAX_PENDING + 10):
        # one invocation per message, as the handler runs it: Argo found down is not asked again in it
        with deadline.within(deadline.Deadline()), pytest.raises(DriveError):
            send(svc, n)
    w = h.store.get(*window_key(MODEL))
    assert w is not None and len(w.data["pending"]) == MAX_PENDING
    assert w.data["rows"] == 1000 and "backlog" in w.data["deferred"]["kinds"]  # nothing lost, it waits
    assert item_bytes(h) < WINDOW_ITEM_BUDGET


def test_a_tolerated_extra_column_does_not_veto_drift_for_the_rest_of_the_window(
    harness: Harness, local_counter: Any, tmp_path: Path
) -> None:
    harness.cfg = make_config(min_new_rows=100_000, drift={"min_rows": 500, "dataset_drift_share": 0.15})
    files, count = local_counter
    svc = harness.service(counter=count)
    extra = make_table(600, seed=31).append_column("new_col", pa.array(range(600)))
    files[f"{PREFIX}x/extra.parquet"] = write_parquet(extra, tmp_path / "extra.parquet")
    files[f"{PREFIX}x/drifted.parquet"] = write_parquet(
        make_table(3000, seed=32, drift=True), tmp_path / "d.parquet"
    )
    for n, key in enumerate(files):
        ev = eb_event(key, etag=f"e{n}", version=f"v{n}", size=1000)
        assert svc.handle_message(json.dumps(ev), message_id=f"m{n}")[0].status == "counted"
    (sub,) = harness.submitter.submissions.values()
    assert sub.parameters["trigger-reason"] == "drift"
    d = harness.store.get_decision(sub.parameters["decision-id"])
    assert d is not None and d.evidence["drift"]["verdict"] == "schema_drift"  # reported...
    assert any("new columns: new_col" in r for r in d.reasons)  # ...with the reason, not a veto
