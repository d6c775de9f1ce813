"""Data arrival under faults, through the real handler on moto with the Argo and Slack stand-ins.

Each test reproduces one finding of issue 17: a late redelivery counted twice, a foreign 409 taken for
"already exists", keys re-parsed from a URI, quoted newlines across CSV blocks, bad files crashing into
the DLQ, and a hanging Argo holding the invocation past its timeout.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import yaml
from arrival_helpers import MODEL, PREFIX, parquet_bytes, put, sqs_event, sqs_record
from mlops_glue import runtime
from mlops_glue.adapters.argo import ArgoUnavailableError, Submission, Submitted
from mlops_glue.drift.synth import make_table
from mlops_glue.keys import member_key, window_key
from mlops_glue.records import Outcome
from mlops_glue.services import arrival_submit
from mlops_glue.services import data_arrival as da

from glue_local.localfront import LocalContext
from glue_local.standins import ArgoStandin, SlackStandin
from tests.conftest import load_event


@pytest.fixture(autouse=True)
def _trainings_finish(argo: ArgoStandin) -> None:
    """Each submitted workflow has finished by the next message (none is in flight)."""
    argo.on_submit = lambda wf: wf["status"].update(phase="Succeeded")


def manifests(s3: Any, argo: ArgoStandin) -> list[dict[str, Any]]:
    out = []
    for wf in argo.workflows.values():
        params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
        bucket, key = params["dataset-manifest"].removeprefix("s3://").split("/", 1)
        out.append(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    return out


def open_window() -> dict[str, Any]:
    got = runtime.state_store().get(*window_key(MODEL))
    assert got is not None
    return got.data


def decisions(outcome: Outcome | None = None) -> list[Any]:
    got = runtime.state_store().decisions_for(MODEL, limit=100)
    return [d for d in got if outcome is None or d.outcome == outcome]


def test_a_replay_or_redelivery_after_windows_closed_never_counts_an_object_twice(
    deployed: dict[str, Any], argo: ArgoStandin, lambda_context: Any
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    objs = [put(s3, f"{PREFIX}late/p{i}.parquet", parquet_bytes(make_table(150, seed=i))) for i in range(6)]
    for i, o in enumerate(objs):
        assert app.handler({"Records": [sqs_record(o, f"m-{i}")]}, lambda_context) == {
            "batchItemFailures": []
        }
    assert len(argo.workflows) == 3  # 900 rows, 300 a window: three windows closed
    # the first message again from the DLQ (receive count 1) and the fourth redelivered late (count 4)
    late = {"Records": [sqs_record(objs[0], "replay-0"), sqs_record(objs[3], "redelivered-3", 4)]}
    assert app.handler(late, lambda_context) == {"batchItemFailures": []}
    assert len(argo.workflows) == 3
    assert (open_window()["rows"], open_window()["files"]) == (0, 0)
    keys = [o["key"] for m in manifests(s3, argo) for o in m["objects"]]
    assert sorted(keys) == sorted(o["key"] for o in objs)  # each object in exactly one window
    ref = da.ObjectRef("ml-data-dev", objs[0]["key"], objs[0]["version"], objs[0]["etag"], None, "")
    member = runtime.state_store().get(*member_key(MODEL, ref.oid))
    assert member is not None and member.data["key"] == objs[0]["key"]
    first = next(m for m in manifests(s3, argo) if objs[0]["key"] in [o["key"] for o in m["objects"]])
    assert member.data["window_id"] == first["window_id"]


def test_a_409_for_no_workflow_of_ours_is_a_failure_recorded_and_alerted(
    deployed: dict[str, Any], argo: ArgoStandin, slack: SlackStandin, lambda_context: Any
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    argo.fail_next[:] = [409]  # a 409 while no workflow of that name exists
    objs = [put(s3, f"{PREFIX}c/p{i}.parquet", parquet_bytes(make_table(150, seed=i))) for i in range(2)]
    assert app.handler(sqs_event(objs), lambda_context) == {"batchItemFailures": []}  # not a poison pill
    assert argo.workflows == {}
    (entry,) = open_window()["rejected"]
    d = runtime.state_store().get_decision(entry["decision_id"])
    assert d is not None and d.outcome == Outcome.FAILED and d.action["rejected"] == "true"
    assert "no workflow of that name exists" in d.action["error"]
    texts = [m.text for m in slack.messages]
    assert any("NOT submitted" in t for t in texts)
    assert not any(t.startswith("Retraining fraud-detection:") for t in texts)  # never "started"


def test_a_workflow_created_before_the_answer_was_lost_is_read_back_and_counted_once(
    deployed: dict[str, Any], argo: ArgoStandin, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    real = runtime.argo_submitter()
    lost: list[str] = []

    def submit_then_lose_the_answer(sub: Submission) -> Submitted:
        got = real.__class__.submit(real, sub)
        if not lost:
            lost.append(got.name)
            raise ArgoUnavailableError("connection reset after the server created the workflow")
        return got

    monkeypatch.setattr(real, "submit", submit_then_lose_the_answer)
    objs = [put(s3, f"{PREFIX}l/p{i}.parquet", parquet_bytes(make_table(150, seed=i))) for i in range(2)]
    first = app.handler(sqs_event(objs), lambda_context)
    assert first == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}  # retried: the answer was lost
    retry = app.handler({"Records": [sqs_record(objs[1], "msg-1", 2)]}, lambda_context)
    assert retry == {"batchItemFailures": []}
    assert [n for _, n in argo.workflows] == lost  # one workflow, confirmed ours by reading it back
    (acted,) = decisions(Outcome.ACTED)
    assert acted.action["workflow"] == lost[0] and acted.action["created"] == "false"


@pytest.mark.parametrize(
    "name",
    [
        "what?versionId=x.parquet",
        "hash#frag.parquet",
        "100% sure.parquet",
        "été ü 中.parquet",
        "a+b c.parquet",
    ],
)
def test_keys_with_query_fragment_percent_space_and_unicode_are_counted_by_their_fields(
    deployed: dict[str, Any], argo: ArgoStandin, lambda_context: Any, name: str
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    objs = [put(s3, f"{PREFIX}odd/{i}-{name}", parquet_bytes(make_table(150, seed=i))) for i in range(2)]
    assert app.handler(sqs_event(objs), lambda_context) == {"batchItemFailures": []}
    assert decisions(Outcome.IGNORED) == []  # never "object version no longer exists"
    (m,) = manifests(s3, argo)
    assert sorted((o["bucket"], o["key"], o["version_id"]) for o in m["objects"]) == sorted(
        ("ml-data-dev", o["key"], o["version"]) for o in objs
    )


def test_a_csv_over_4_mb_with_newlines_in_quoted_values_is_counted_whole(
    deployed: dict[str, Any], argo: ArgoStandin, lambda_context: Any
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    n = 30_000
    table = make_table(n, seed=5)
    notes = pa.array([f'line one of {i}\nline two, with a comma\nand "quotes"' for i in range(n)])
    buf = io.BytesIO()
    pacsv.write_csv(table.append_column("note", notes), buf)
    body = buf.getvalue()
    assert len(body) > da_block() and body.count(b"\n") > 2 * n
    o = put(s3, f"{PREFIX}csv/notes.csv", body)
    assert app.handler(sqs_event([o]), lambda_context) == {"batchItemFailures": []}
    assert decisions(Outcome.REJECTED) == []
    (m,) = manifests(s3, argo)
    assert m["rows"] == n and m["objects"][0]["rows"] == n


def da_block() -> int:
    from mlops_glue.drift.source import CSV_BLOCK

    return CSV_BLOCK


def test_bad_files_are_verdicts_with_file_row_and_column_not_crashes(
    deployed: dict[str, Any], argo: ArgoStandin, lambda_context: Any
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    t = make_table(50, seed=1)
    dup = pa.Table.from_arrays(
        [t.column("num_00"), t.column("num_00"), *t.columns[1:]], ["num_00", *t.column_names]
    )
    empty_pq = parquet_bytes(make_table(0, seed=1))
    header = ",".join(t.column_names).encode() + b"\n"
    buf = io.BytesIO()
    pacsv.write_csv(make_table(40, seed=2), buf)
    lines = buf.getvalue().split(b"\n")
    lines.insert(3, b"1,2,3")  # line 4 of the file: three fields where 25 are expected
    objs = [
        put(s3, f"{PREFIX}bad/dup cols.parquet", parquet_bytes(dup)),
        put(s3, f"{PREFIX}bad/empty.parquet", empty_pq),
        put(s3, f"{PREFIX}bad/header-only.csv", header),
        put(s3, f"{PREFIX}bad/short row.csv", b"\n".join(lines)),
    ]
    assert app.handler(sqs_event(objs), lambda_context) == {"batchItemFailures": []}  # none to the DLQ
    rejected = {d.inputs[0]: " ".join(d.reasons) for d in decisions(Outcome.REJECTED)}
    dup_reason = next(r for u, r in rejected.items() if "dup cols" in u)
    assert f"{PREFIX}bad/dup cols.parquet" in dup_reason and "'num_00' at columns 1, 2" in dup_reason
    row_reason = next(r for u, r in rejected.items() if "short row" in u)
    assert f"{PREFIX}bad/short row.csv line 4 (byte offset " in row_reason
    assert "expected 25 columns, got 3" in row_reason and "line None" not in row_reason
    ignored = {d.inputs[0]: " ".join(d.reasons) for d in decisions(Outcome.IGNORED)}
    assert len(ignored) == 2 and all("empty: no data rows" in r for r in ignored.values())
    assert runtime.state_store().get(*window_key(MODEL)) is None  # none entered a window or a manifest
    assert argo.workflows == {}


def test_a_hanging_argo_hands_back_the_batch_before_the_invocation_times_out(
    deployed: dict[str, Any], argo: ArgoStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    doc = dict(deployed["doc"])
    doc["argo"] = {**doc["argo"], "timeout_seconds": 1.0}
    deployed["config"].write_text(yaml.safe_dump(doc))
    runtime.reset()
    monkeypatch.setattr(app, "MESSAGE_NEED_S", 1.0)
    monkeypatch.setattr(da, "COUNT_NEED_S", 0.5)
    monkeypatch.setattr(arrival_submit, "SUBMIT_NEED_S", 0.5)
    argo.hang = 30.0  # every request waits far past any timeout
    objs = [put(s3, f"{PREFIX}h/p{i:02d}.parquet", parquet_bytes(make_table(150, seed=i))) for i in range(50)]
    context = LocalContext("mlops-glue-s3-new-data")
    context._deadline = time.monotonic() + 8.0  # an invocation with 8 s left
    resp = app.handler(sqs_event(objs), context)
    assert context.get_remaining_time_in_millis() > 0  # returned before the timeout, not killed
    failed = [f["itemIdentifier"] for f in resp["batchItemFailures"]]
    assert failed and failed == [f"msg-{i}" for i in range(50 - len(failed), 50)]  # the unprocessed tail
    assert argo.requests <= 5  # Argo was found down once, not waited on for every record
    # Argo answers again: the handed-back records are delivered again and nothing is lost or doubled
    argo.hang = 0.0
    runtime.reset()
    again = app.handler(sqs_event([objs[int(i.split("-")[1])] for i in failed]), LocalContext("x"))
    assert again == {"batchItemFailures": []}
    keys = [o["key"] for m in manifests(s3, argo) for o in m["objects"]]
    w = open_window()
    assert len(keys) == len(set(keys)) and len(keys) + w["files"] == 50


def test_slack_down_for_sixty_notices_keeps_every_one_for_the_sweep(
    deployed: dict[str, Any], slack: SlackStandin, lambda_context: Any
) -> None:
    s3, app = deployed["s3"], deployed["app"]
    slack.fail_next[:] = [500] * 60
    objs = [put(s3, f"{PREFIX}corrupt/c{i:02d}.parquet", b"PAR1 not parquet PAR1") for i in range(60)]
    assert app.handler(sqs_event(objs), lambda_context) == {"batchItemFailures": []}
    assert slack.messages == []
    sweep = app.handler(load_event("scheduler_sweep.json"), lambda_context)
    assert (sweep["notices_resent"], sweep["notices_waiting"]) == (60, 0)  # none of the 60 dropped
    assert sorted(m.text.split(": ", 1)[1][:40] for m in slack.messages) == sorted(
        f"{o['key']}: kept out of the window"[:40] for o in objs
    )


def test_a_full_outbox_says_how_many_notices_it_could_not_keep(
    deployed: dict[str, Any], slack: SlackStandin, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_glue import outbox

    monkeypatch.setattr(outbox, "MAX_BYTES", 4000)  # room for a handful of notices
    s3, app = deployed["s3"], deployed["app"]
    slack.fail_next[:] = [500] * 30
    objs = [put(s3, f"{PREFIX}corrupt/c{i:02d}.parquet", b"PAR1 not parquet PAR1") for i in range(30)]
    assert app.handler(sqs_event(objs), lambda_context) == {"batchItemFailures": []}
    sweep = app.handler(load_event("scheduler_sweep.json"), lambda_context)
    first, *kept = slack.messages
    dropped = int(first.text.split(f"{MODEL}: ", 1)[1].split(" ")[0])
    assert "could not be kept while Slack was unreachable (outbox full)" in first.text
    assert dropped > 0 and dropped + len(kept) == 30 == dropped + sweep["notices_resent"]
    assert kept[-1].text.split(": ", 1)[1].startswith(f"{objs[-1]['key']}: kept out")  # the newest kept
