"""The storm: 2,000 small-file events for one model, random order, 10% duplicates, concurrent invocations.

Eight threads play eight Lambda invocations, each with its own service instance, sharing the state store,
the object store, the idempotency records and the Argo submitter. The files' counts come from a pool of
twenty real 10-row Parquet files counted by the drift engine once (counting 2,000 files would only time
the engine); what is under test is the window: every row counted once, every window closed once.
"""

from __future__ import annotations

import base64
import json
import random
import threading
from collections import Counter as Tally
from pathlib import Path
from typing import Any

from arrival_helpers import MODEL, PREFIX, Harness, eb_event, make_config, write_parquet
from mlops_glue.adapters.argo import MemorySubmitter, Submission, Submitted
from mlops_glue.drift import count_batch
from mlops_glue.drift.synth import make_table
from mlops_glue.keys import window_key
from mlops_glue.services.arrival_window import Payload

FILES, ROWS_PER_FILE, MIN_NEW_ROWS, THREADS = 2000, 10, 700, 4


class CountingSubmitter(MemorySubmitter):
    """Counts every submit call per workflow name (a second call for a name would be a double trigger)."""

    def __init__(self) -> None:
        super().__init__(phase="Succeeded")
        self.calls: Tally[str] = Tally()

    def submit(self, submission: Submission) -> Submitted:
        with self._lock:
            self.calls[submission.name] += 1
        return super().submit(submission)


def test_storm_counts_every_row_once_and_triggers_each_window_once(profile: Any, tmp_path: Path) -> None:
    pool = [
        count_batch(
            profile, str(write_parquet(make_table(ROWS_PER_FILE, seed=s), tmp_path / f"p{s}.parquet"))
        )
        for s in range(20)
    ]
    assert all(c.rows == ROWS_PER_FILE for c in pool)
    submitter = CountingSubmitter()
    h = Harness(make_config(min_new_rows=MIN_NEW_ROWS), profile, submitter=submitter)

    def counter(_profile: Any, ref: Any) -> Any:
        return pool[int(ref.key.rsplit("-", 1)[1].split(".")[0]) % len(pool)]

    rng = random.Random(7)
    events = [
        eb_event(f"{PREFIX}2026/11/23/part-{i:05d}.parquet", etag=f"e{i}", version=f"v{i}")
        for i in range(FILES)
    ]
    deliveries = events + rng.sample(events, FILES // 10)  # 10% delivered twice
    rng.shuffle(deliveries)
    chunks = [deliveries[i::THREADS] for i in range(THREADS)]
    errors: list[BaseException] = []

    def invocation(chunk: list[dict[str, Any]]) -> None:
        svc = h.service(counter=counter)
        queue = [(ev, 1) for ev in chunk]
        while queue:  # a failed message comes back later with a higher receive count, as SQS does
            ev, receive_count = queue.pop(0)
            try:
                svc.handle_message(json.dumps(ev), message_id=ev["id"], receive_count=receive_count)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=invocation, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    h.service(counter=counter).sweep()  # nothing should be left pending; the sweep must not add any

    total = FILES * ROWS_PER_FILE
    expected = total // MIN_NEW_ROWS
    assert len(submitter.submissions) == expected
    assert set(submitter.calls.values()) == {1}  # none twice
    manifests = [
        json.loads(h.objects.get_bytes(s.parameters["dataset-manifest"]))
        for s in submitter.submissions.values()
    ]
    assert all(m["rows"] == MIN_NEW_ROWS for m in manifests)
    keys = [o["key"] for m in manifests for o in m["objects"]]
    assert len(keys) == len(set(keys))  # no file in two windows
    w = h.store.get(*window_key(MODEL))
    assert w is not None and w.data["pending"] == []
    open_objects = Payload.unpack(base64.b64decode(w.data["payload"]["inline"])).objects
    open_keys = {v[1] for v in open_objects.values()}
    assert open_keys.isdisjoint(keys)
    assert len(keys) + len(open_keys) == FILES  # every file counted exactly once
    assert w.data["rows"] == total - expected * MIN_NEW_ROWS
    assert sum(m["rows"] for m in manifests) + w.data["rows"] == total
    assert len({d.decision_id for d in h.store.decisions_for(MODEL, limit=1000)}) == expected
