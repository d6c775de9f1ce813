"""``mlops-glue window show``, ``decisions list/show`` and ``dlq replay`` against moto (stack from template.yaml)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from arrival_helpers import MODEL, config_text
from mlops_glue import runtime
from mlops_glue.adapters.state import DynamoStateStore
from mlops_glue.cli import main
from mlops_glue.keys import window_key
from mlops_glue.records import Decision, Kind, Outcome


@pytest.fixture
def env(aws: Any, stack: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> DynamoStateStore:
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(config_text())
    monkeypatch.setenv("STATE_TABLE", stack["StateTable"])
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    runtime.reset()
    return DynamoStateStore(stack["StateTable"], aws.client("dynamodb"))


def test_window_show_and_decisions(env: DynamoStateStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["window", "show", MODEL]) == 1
    env.put(
        *window_key(MODEL),
        {"window_id": "w000003-ab", "rows": 42, "files": 3, "pending": [], "payload": {"inline": "eA=="}},
        None,
    )
    d = Decision(
        decision_id="d-1",
        model=MODEL,
        kind=Kind.RETRAIN,
        outcome=Outcome.DEFERRED,
        reasons=["cooldown: wait"],
    )
    env.record_decision(d)
    capsys.readouterr()
    assert main(["window", "show", MODEL]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["rows"] == 42 and shown["payload"] == "inline" and shown["version"] == 1
    assert main(["decisions", "list", MODEL]) == 0
    assert "d-1" in capsys.readouterr().out
    assert main(["decisions", "show", "d-1"]) == 0
    assert json.loads(capsys.readouterr().out)["reasons"] == ["cooldown: wait"]
    assert main(["decisions", "show", "d-404"]) == 1
    assert main(["window", "show", "../etc"]) == 2
    assert "invalid model name" in capsys.readouterr().err


def test_dlq_replay_moves_every_message_back(
    aws: Any, stack: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = aws.client("sqs")
    dlq, queue = stack["DataArrivalDLQ"], stack["DataArrivalQueue"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert redrive["deadLetterTargetArn"].endswith("mlops-glue-data-arrival-dlq-dev")
    for i in range(12):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"n": i}))
    assert main(["dlq", "replay", "--dlq", dlq, "--queue", queue, "--dry-run"]) == 0
    assert "would replay 10" in capsys.readouterr().out
    assert main(["dlq", "replay", "--dlq", dlq, "--queue", queue]) == 0
    got = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        got += [json.loads(m["Body"])["n"] for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert sorted(got) == list(range(12))
    assert sqs.receive_message(QueueUrl=dlq).get("Messages", []) == []
