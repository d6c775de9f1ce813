"""``mlops-glue replay`` and ``mlops-glue decisions export``: the file, the command, hostile inputs.

The replay of a local file runs in a fresh interpreter without any AWS credentials (and must not even
import botocore). The export reads a moto state table written by the real recorder.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlops_glue.adapters.state import DynamoStateStore
from mlops_glue.cli import main
from mlops_glue.records import Decision, Kind, Outcome
from mlops_glue.replay import export
from mlops_glue.replay.compare import replay
from mlops_glue.replay.recorder import DynamoEventLog, LogRecorder

from tests.conftest import ROOT
from tests.replay.fortnight import T0, UNTIL, base_doc, changed, config, fortnight

CLEAN_RUN = """
import sys
from mlops_glue.cli import main
code = main(sys.argv[1:])
assert "botocore" not in sys.modules, "a local replay imported botocore"
sys.exit(code)
"""


def write_export(path: Path, events: Any = None, doc: dict[str, Any] | None = None) -> Path:
    with path.open("w", encoding="utf-8") as out:
        export.write(
            out,
            fortnight() if events is None else events,
            [],
            config=config(doc or base_doc()),
            since=T0,
            until=UNTIL,
        )
    return path


def yaml_file(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def run_clean(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter with no AWS credentials or configuration anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME="/nonexistent",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return subprocess.run(
        [sys.executable, "-c", CLEAN_RUN, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def replay_args(records: Path, candidate: Path, *extra: str) -> list[str]:
    return [
        "replay",
        "--from-file",
        str(records),
        "--config",
        str(candidate),
        "--since",
        T0.isoformat(),
        "--until",
        UNTIL.isoformat(),
        *extra,
    ]


def test_a_local_file_replays_without_aws_and_prints_each_difference(tmp_path: Path) -> None:
    records = write_export(tmp_path / "records.jsonl")
    candidate = yaml_file(tmp_path / "new.yaml", changed())

    text = run_clean(*replay_args(records, candidate))
    as_json = run_clean(*replay_args(records, candidate, "--json"))

    assert text.returncode == 1, text.stderr  # decisions differ
    assert "12 decision(s) differ" in text.stdout
    assert "before: retrain ACTED" in text.stdout and "after:  retrain DEFERRED" in text.stdout
    report = json.loads(as_json.stdout)
    assert len(report["differences"]) == 12
    assert report["summary"]["before"]["promotions"] == 3 and report["summary"]["after"]["promotions"] == 1


def test_the_same_configuration_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = write_export(tmp_path / "records.jsonl")
    same = yaml_file(tmp_path / "same.yaml", base_doc())

    assert main(replay_args(records, same)) == 0
    assert "no decision differs" in capsys.readouterr().out


def test_a_baseline_config_overrides_the_exported_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = write_export(tmp_path / "records.jsonl")
    new = yaml_file(tmp_path / "new.yaml", changed("rows"))

    assert main([*replay_args(records, new), "--baseline-config", str(new)]) == 0
    assert "no decision differs" in capsys.readouterr().out


def test_records_out_of_order_and_repeated_replay_in_time_order_and_say_so(tmp_path: Path) -> None:
    events = fortnight()
    shuffled = list(reversed(events)) + events[:3]
    a = replay(shuffled, config(base_doc()), config(changed()), since=T0, until=UNTIL)
    b = replay(events, config(base_doc()), config(changed()), since=T0, until=UNTIL)

    assert [d.to_dict() for d in a.differences] == [d.to_dict() for d in b.differences]
    assert a.after.to_dict() == b.after.to_dict()
    assert any("out of time order" in n for n in a.notes)
    assert any("3 repeated record(s)" in n for n in a.notes)


def test_what_cannot_be_replayed_is_said_with_its_reason(tmp_path: Path) -> None:
    no_facts = [e for e in fortnight() if e.kind != "gate_facts"]
    report = replay(no_facts, config(base_doc()), config(changed()), since=T0, until=UNTIL)
    assert any("what the gate of v3 read from MLflow was not recorded" in n for n in report.notes)

    doc = base_doc()
    del doc["models"]["cool"]
    report = replay(fortnight(), config(base_doc()), config(doc), since=T0, until=UNTIL)
    assert "model cool is not in this configuration: its events are not replayed" in report.notes


# ------------------------------------------------------------------------------------------ hostile


def fail(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlops-glue: ") and err.count("\n") == 1  # one line, never a traceback
    return err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty: not an export of mlops-glue records"),
        (b'{"Records": [{"eventName": "ObjectCreated:Put"}]}\n', "not an export of mlops-glue records"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00\xff\xfe\n", "not UTF-8 text"),
        (b"not json at all\n", "the first line is not JSON"),
        (b'{"format": "mlops-glue-records", "version": 99}\n', "export version 99"),
        (b"[1, 2, 3]\n", "a JSON list, not a record"),
    ],
)
def test_a_foreign_or_malformed_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    new = yaml_file(tmp_path / "new.yaml", changed())
    assert message in fail(capsys, replay_args(bad, new))


def test_a_bad_record_is_refused_naming_its_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = write_export(tmp_path / "records.jsonl")
    lines = records.read_text().splitlines()
    e = json.loads(lines[3])
    e["event"]["at"] = "2026-11-03T10:00:00"  # no time zone
    lines[3] = json.dumps(e)
    lines.insert(5, '{"record": "event", "event": {"flow": "cron", "model": "rows"}}')
    records.write_text("\n".join(lines) + "\n")
    new = yaml_file(tmp_path / "new.yaml", changed())

    err = fail(capsys, replay_args(records, new))
    assert ":4: event record: at: Value error, timestamp without a time zone" in err

    lines[3] = json.dumps({**e, "event": {**e["event"], "at": "2026-11-03T10:00:00+00:00"}})
    records.write_text("\n".join(lines) + "\n")
    err = fail(capsys, replay_args(records, new))
    assert ":6: event record: flow:" in err

    lines[5] = (
        '{"record": "event", "event": {"flow": "alarms", "model": "../etc", "at": "2026-11-03T10:00:00+00:00", "id": "x", "input": {}}}'
    )
    records.write_text("\n".join(lines) + "\n")
    assert ":6: event record: model:" in fail(capsys, replay_args(records, new))


def test_oversized_lines_and_files_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    new = yaml_file(tmp_path / "new.yaml", changed())
    records = write_export(tmp_path / "records.jsonl")
    with records.open("a") as out:
        out.write('{"record": "event", "event": {"pad": "' + "x" * (export.MAX_LINE_BYTES + 10) + '"}}\n')
    assert "a line longer than 1,048,576 bytes" in fail(capsys, replay_args(records, new))

    monkeypatch.setattr(export, "MAX_FILE_BYTES", 1000)
    assert "bytes is over the 1,000 an export may have" in fail(capsys, replay_args(records, new))


def test_a_configuration_that_does_not_validate_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = write_export(tmp_path / "records.jsonl")
    doc = changed()
    doc["models"]["rows"]["retrain"]["min_new_rows"] = 0
    err = fail(capsys, replay_args(records, yaml_file(tmp_path / "bad.yaml", doc)))
    assert "models.rows.retrain.min_new_rows: Input should be greater than or equal to 1" in err

    exported = json.loads(records.read_text().splitlines()[0])
    exported["config"]["models"]["rows"]["retrain"]["cooldown"] = "soon"
    rest = records.read_text().splitlines()[1:]
    records.write_text("\n".join([json.dumps(exported), *rest]) + "\n")
    err = fail(capsys, replay_args(records, yaml_file(tmp_path / "new.yaml", changed())))
    assert ":1: the exported configuration does not validate: models.rows.retrain.cooldown" in err


def test_a_bad_period_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = write_export(tmp_path / "records.jsonl")
    new = yaml_file(tmp_path / "new.yaml", changed())
    args = replay_args(records, new)
    args[args.index("--since") + 1] = "last tuesday"
    assert "not a time: 'last tuesday'" in fail(capsys, args)


# ------------------------------------------------------------------------------------------ export


def test_decisions_export_reads_the_state_table_and_replays(
    stack: dict[str, str],
    aws: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    table, client = stack["StateTable"], aws.client("dynamodb")
    cfg_file = yaml_file(tmp_path / "glue.yaml", base_doc())
    monkeypatch.setenv("STATE_TABLE", table)
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg_file))
    log = DynamoEventLog(table, client)
    recorder = LogRecorder(log, ttl=timedelta(days=35))
    now = fortnight()[-1].at + timedelta(days=1)
    events = [e.model_copy(update={"at": e.at - (UNTIL - now)}) for e in fortnight()]  # the last 14 days
    for e in events:
        recorder.log.append(e, e.at + recorder.ttl)
    old = events[0].model_copy(update={"at": events[0].at - timedelta(days=40), "id": "old"})
    log.append(old, old.at + recorder.ttl)  # outside the period: not exported
    store = DynamoStateStore(table, client)
    decided = Decision(
        decision_id="d-0123456789abcdef0123",
        model="rows",
        kind=Kind.RETRAIN,
        outcome=Outcome.ACTED,
        reasons=["12,000 new rows in 3 files ≥ min_new_rows 10,000"],
        created_at=events[2].at,
    )
    store.record_decision(decided)
    item = client.get_item(TableName=table, Key={"pk": {"S": "REPLAY#rows"}, "sk": {"S": events[0].sort_key}})
    assert int(item["Item"]["expires_at"]["N"]) == int((events[0].at + timedelta(days=35)).timestamp())

    out = tmp_path / "export.jsonl"
    assert main(["decisions", "export", "--since", "30d", "--output", str(out)]) == 0
    # 23 events and what the gate read for the two gated versions; the decision of the period
    assert f"exported {len(events)} event(s) and 1 decision(s)" in capsys.readouterr().err

    back = export.read(out)
    assert sorted(e.sort_key for e in back.events) == sorted(e.sort_key for e in events)
    assert back.decisions == [decided]
    assert back.config == config(base_doc())
    again = replay(back.events, export.config_of(back), config(changed()))
    assert len(again.differences) == 12

    # the same period straight from the state table, the deployed configuration as the baseline
    new = yaml_file(tmp_path / "new.yaml", changed())
    assert main(["replay", "--since", "30d", "--config", str(new), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert len(report["differences"]) == 12 and report["events"] == 23


def test_the_export_round_trips() -> None:
    buf = io.StringIO()
    export.write(buf, fortnight(), [], config=config(base_doc()), since=T0, until=UNTIL)
    lines = [(i, t) for i, t in enumerate(buf.getvalue().splitlines(), start=1)]
    back = export.parse(lines)
    assert back.events == fortnight() and back.config == config(base_doc())


def test_times_in_another_zone_are_kept_in_utc_so_sort_keys_order_by_time() -> None:
    from datetime import datetime, timezone

    from mlops_glue.replay.events import RecordedEvent

    east = timezone(timedelta(hours=5))
    early = RecordedEvent(
        flow="alarms", model="m", at=datetime(2026, 11, 3, 4, 0, tzinfo=east), id="a", input={}
    )
    late = RecordedEvent(
        flow="alarms", model="m", at=datetime(2026, 11, 3, 0, 30, tzinfo=UTC), id="b", input={}
    )
    assert early.at < late.at and early.sort_key < late.sort_key
    assert early.sort_key.startswith("2026-11-02T23:00:00.000000+00:00#")
