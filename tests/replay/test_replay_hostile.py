"""Review of issue 16: the period, the order of records and odd records (each found by an attack)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from mlops_glue.cli import main
from mlops_glue.replay import export
from mlops_glue.replay.compare import replay
from mlops_glue.replay.events import RecordedEvent

from tests.replay.fortnight import T0, UNTIL, base_doc, changed, config, fortnight, obj
from tests.replay.test_replay_cli import fail, replay_args, write_export, yaml_file


def by_model(events: list[RecordedEvent]) -> list[RecordedEvent]:
    """As the event log and the export give them: each model's events in turn, each in time order."""
    return sorted(events, key=lambda e: (e.model, e.at, e.sort_key))


def test_events_given_model_by_model_are_not_said_to_be_out_of_order() -> None:
    events = fortnight()
    report = replay(by_model(events), config(base_doc()), config(changed()), since=T0, until=UNTIL)
    plain = replay(events, config(base_doc()), config(changed()), since=T0, until=UNTIL)

    assert not any("out of time order" in n for n in report.notes), report.notes
    assert [d.to_dict() for d in report.differences] == [d.to_dict() for d in plain.differences]


def test_a_models_own_late_record_is_still_said() -> None:
    events = by_model(fortnight())
    rows = [i for i, e in enumerate(events) if e.model == "rows"]
    events[rows[0]], events[rows[1]] = events[rows[1]], events[rows[0]]  # one of its records late
    report = replay(events, config(base_doc()), config(changed()), since=T0, until=UNTIL)
    assert "1 record(s) out of time order: replayed in time order" in report.notes


def test_a_repeated_record_is_replayed_at_its_first_time_whatever_the_order_given() -> None:
    first = obj("rows", T0 + timedelta(days=1, hours=9), 8_000)  # ready at 6,000, not 10,000
    again = first.model_copy(update={"at": first.at + timedelta(hours=3)})  # the same delivery, later
    cfg = config(base_doc())

    for given in ([first, again], [again, first]):
        report = replay(given, cfg, config(changed("rows")), since=T0, until=UNTIL)
        at_events = [d.moment.at for d in report.differences if d.moment.index is not None]
        assert at_events == [first.at], given  # (a sweep later differs too: the baseline's max_wait)
        assert "1 repeated record(s) (same event twice): replayed once, at the first" in report.notes


def test_a_period_that_ends_before_it_starts_is_an_error() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        replay(fortnight(), config(base_doc()), config(base_doc()), since=UNTIL, until=T0)


def test_an_empty_period_says_there_was_nothing_to_replay() -> None:
    report = replay(fortnight(), config(base_doc()), config(changed()), since=UNTIL, until=UNTIL)
    assert report.events == 0 and report.differences == []
    assert "no recorded event in the period: nothing to replay" in report.notes


def test_the_cli_refuses_until_before_since(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = write_export(tmp_path / "records.jsonl")
    new = yaml_file(tmp_path / "new.yaml", changed())
    args = replay_args(records, new)
    args[args.index("--since") + 1], args[args.index("--until") + 1] = UNTIL.isoformat(), T0.isoformat()
    assert "before it starts" in fail(capsys, args)
    # a duration too far back is a reason, not an OverflowError
    args = replay_args(records, new)
    args[args.index("--since") + 1] = "10000000d"
    assert "before the year 1" in fail(capsys, args)


def test_the_cli_ends_a_future_until_now_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = write_export(tmp_path / "records.jsonl")
    new = yaml_file(tmp_path / "new.yaml", changed())
    args = replay_args(records, new, "--json")
    args[args.index("--until") + 1] = (
        "9999-12-31T00:00:00+00:00"  # swept to 9999 it ran for minutes, then overflowed
    )

    assert main(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["notes"][0].startswith("--until 9999-12-31T00:00:00+00:00 is in the future")
    assert report["until"] < "9999" and len(report["differences"]) == 12


def test_a_record_too_odd_to_label_is_not_replayed_and_said_the_others_are(
    tmp_path: Path,
) -> None:
    events = fortnight()
    odd = obj("rows", T0 + timedelta(days=1, hours=8), 1)
    odd = odd.model_copy(update={"input": {**odd.input, "rows": "many"}})
    report = replay([odd, *events], config(base_doc()), config(changed()), since=T0, until=UNTIL)
    plain = replay(events, config(base_doc()), config(changed()), since=T0, until=UNTIL)

    assert any("not replayed: ValueError" in n and "rows" in n for n in report.notes), report.notes
    assert report.before.to_dict() == plain.before.to_dict()
    assert report.after.to_dict() == plain.after.to_dict()


def test_an_export_saved_with_a_byte_order_mark_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = write_export(tmp_path / "records.jsonl")
    records.write_bytes(b"\xef\xbb\xbf" + records.read_bytes())
    new = yaml_file(tmp_path / "new.yaml", changed())
    assert main(replay_args(records, new, "--json")) == 1
    assert len(json.loads(capsys.readouterr().out)["differences"]) == 12


def test_a_negative_limit_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = write_export(tmp_path / "records.jsonl")
    new = yaml_file(tmp_path / "new.yaml", changed())
    assert "--limit -5" in fail(capsys, replay_args(records, new, "--limit", "-5"))


def test_an_export_never_carries_a_token_pasted_into_the_configuration(tmp_path: Path) -> None:
    """The schema refuses URLs with credentials (below); a token pasted into a free-text field is scrubbed
    from the export all the same."""
    doc = base_doc()
    doc["gitops"] = {**doc.get("gitops", {}), "author_name": "ci ghp_abcdefghijklmnopqrstu"}
    records = write_export(tmp_path / "records.jsonl", doc=doc)

    text = records.read_text()
    assert "ghp_abcdefghijklmnopqrstu" not in text
    exported = export.read(records)
    assert exported.config is not None
    assert "ghp_" not in exported.config.gitops.author_name


@pytest.mark.parametrize(
    "gitops",
    [
        {"backend": "git", "repo": "https://ci:ghp_abcdefghijklmnopqrstu@git.example.com/d.git"},
        {
            "backend": "gitlab",
            "repo": "g/p",
            "remote": "https://oauth2:glpat-abcdefghijklmnop@gitlab.com/g/p.git",
        },
    ],
)
def test_a_configuration_with_credentials_in_a_url_does_not_validate(gitops: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="credentials"):
        config({**base_doc(), "gitops": gitops})


def test_a_recorded_last_bump_this_configuration_did_not_make_is_said() -> None:
    from tests.replay.fortnight import SHA3, gate_decision_id

    events = fortnight()
    [i] = [k for k, e in enumerate(events) if e.flow == "feedback" and "on-health-degraded" in str(e.input)]
    v3 = {"sha": SHA3, "version": "3", "decision_id": gate_decision_id("3"), "reverts": None}
    events[i] = events[i].model_copy(update={"input": {**events[i].input, "last_ours": v3}})

    same = replay(events, config(base_doc()), config(base_doc()), since=T0, until=UNTIL)
    stricter = replay(events, config(base_doc()), config(changed("gate")), since=T0, until=UNTIL)

    said = [n for n in stricter.notes if "last bump of ours" in n]
    assert said == [
        "gate in staging: the last bump of ours Git showed (v3) was not made by this configuration; "
        "the feedback decisions use it as recorded"
    ]
    assert not any("last bump of ours" in n for n in same.notes)
