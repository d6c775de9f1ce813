"""The typed state documents and their repositories: the JSON the flows always wrote, read and written back
unchanged; a document no release wrote stops with a clear error and is never overwritten; no lost update."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mlops_glue.adapters.state import MemoryStateStore, StateError
from mlops_glue.documents import Ledger, Window
from mlops_glue.keys import window_key
from mlops_glue.repositories import RETRAIN_LEDGERS, WINDOWS

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# a window document as the release before typed documents wrote it: a pending entry with its lease and its
# evidence inline (older entries), a rejected one, fields this release no longer writes
OLD_WINDOW: dict[str, Any] = {
    "window_id": "w000002-1a2b3c4d",
    "seq": 2,
    "opened_at": "2026-11-30T08:00:00+00:00",
    "updated_at": "2026-11-30T09:30:00+00:00",
    "rows": 420,
    "files": 3,
    "payload": {"inline": "TUdXMg=="},
    "drift": None,
    "deferred": {"decision_id": "d-def", "kinds": ["cooldown"], "reasons": ["cooldown: wait 2.0 h"]},
    "previous_window_id": "w000001-00000000",
    "pending": [
        {
            "window_id": "w000001-00000000",
            "seq": 1,
            "decision_id": "retrain-abc",
            "trigger": "rows",
            "reasons": ["1,000 new rows ≥ min_new_rows 1,000"],
            "evidence": {"rows": 1000},
            "payload_uri": "s3://b/mlops-glue/windows/m/w1/p.bin",
            "rows": 1000,
            "files": 2,
            "opened_at": "2026-11-29T08:00:00+00:00",
            "closed_at": "2026-11-30T08:00:00+00:00",
            "attempts": 1,
            "lease_until": "2026-11-30T08:03:00+00:00",
            "alerted": False,
            "last_error": None,
        }
    ],
    "model": "fraud-detection",
    "rejected": [],
}


def test_a_document_the_previous_release_wrote_reads_and_writes_back_unchanged() -> None:
    store = MemoryStateStore()
    store.put(*window_key("fraud-detection"), OLD_WINDOW, None)
    ref = WINDOWS.at(store, "fraud-detection")
    doc = ref.load()
    assert doc is not None and doc.pending[0].closed_at == datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert doc.deferred is not None and doc.deferred.kinds == ["cooldown"]
    assert ref.change(lambda d: d).written
    stored = store.get(*window_key("fraud-detection"))
    assert stored is not None
    for field, value in OLD_WINDOW.items():  # every field as it was, the retired ones kept
        if field != "pending":
            assert stored.data[field] == value, field
    entry = stored.data["pending"][0]
    assert {k: entry[k] for k in OLD_WINDOW["pending"][0]} == OLD_WINDOW["pending"][0]


@pytest.mark.parametrize(
    "bad",
    [
        {"window_id": "w1", "seq": "two"},  # the wrong type
        {"window_id": "w1", "seq": 1, "opened_at": "yesterday", "updated_at": "x"},  # not a time
        {"seq": 1},  # no id
        {
            "window_id": "w1",
            "seq": 1,
            "opened_at": T0.isoformat(),
            "updated_at": T0.isoformat(),
            "pending": [{}],
        },
    ],
)
def test_a_document_no_release_wrote_stops_with_its_key_and_is_never_overwritten(bad: dict[str, Any]) -> None:
    store = MemoryStateStore()
    store.put(*window_key("m"), bad, None)
    calls: list[Window | None] = []
    with pytest.raises(StateError, match=r"MODEL#m/WINDOW is not a valid Window"):
        WINDOWS.at(store, "m").change(lambda d: calls.append(d) or d)  # type: ignore[func-returns-value]
    with pytest.raises(StateError, match=r"MODEL#m/WINDOW is not a valid Window"):
        WINDOWS.at(store, "m").load()
    stored = store.get(*window_key("m"))
    assert calls == [] and stored is not None and stored.data == bad and stored.version == 1


def test_change_says_what_it_read_and_what_it_wrote_and_none_writes_nothing() -> None:
    store = MemoryStateStore()
    ref = RETRAIN_LEDGERS.at(store, "m")
    first = ref.change(lambda led: (led or Ledger()).with_run(T0, 4.0, "d-1"))
    assert (
        first.before is None
        and first.after is not None
        and [r.decision_id for r in first.after.runs] == ["d-1"]
    )
    again = ref.change(lambda led: None if led and led.has("d-1") else Ledger())
    assert not again.written and again.before is not None and again.before.has("d-1")
    stored = store.get(*ref.key)
    assert stored is not None and stored.version == 1
    assert stored.data == {
        "runs": [{"at": T0.isoformat(), "gpu_hours": 4.0, "decision_id": "d-1", "shadow": False}]
    }


def test_the_function_gets_a_copy_so_a_lost_race_never_leaks_a_half_change() -> None:
    store = MemoryStateStore()
    ref = RETRAIN_LEDGERS.at(store, "m")
    ref.change(lambda _led: Ledger())
    seen: list[int] = []

    def add(led: Ledger | None) -> Ledger:
        assert led is not None
        seen.append(len(led.runs))
        led.runs.append(led.with_run(T0, 1.0, f"d-{len(seen)}").runs[-1])
        if len(seen) == 1:  # a concurrent writer gets in between this read and its write
            store.put(*ref.key, {"runs": []}, store.get(*ref.key).version)  # type: ignore[union-attr]
        return led

    ref.change(add)
    assert seen == [0, 0]  # the retry read the document again, not the first attempt's edited copy


def test_sixteen_threads_adding_runs_lose_none() -> None:
    store = MemoryStateStore()
    ref = RETRAIN_LEDGERS.at(store, "m")
    barrier = threading.Barrier(16)

    def add(i: int) -> None:
        barrier.wait()
        for j in range(10):
            ref.change(
                lambda led, d=f"d-{i}-{j}": (led or Ledger()).with_run(T0 + timedelta(seconds=i), 1.0, d)
            )

    threads = [threading.Thread(target=add, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    led = ref.load()
    assert led is not None and len({r.decision_id for r in led.runs}) == len(led.runs) == 160
