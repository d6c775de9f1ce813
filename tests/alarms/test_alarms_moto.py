"""End to end on moto: the template's alarm, real metric data, a state change, the handler, Argo and Slack.

The alarm is created from ``template.yaml`` (``devstack.create_stack``) with the parameters derived
from the model's ``alarms`` config; metric data is put with ``put_metric_data``; the test evaluates the
alarm's own definition over ``get_metric_statistics`` and sets its state as CloudWatch would (moto
does not evaluate alarms); the EventBridge and SNS deliveries are built from ``describe_alarms``.
Argo and Slack are the local HTTP stand-ins: the Argo one validates each request against the swagger.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mlops_glue import runtime
from mlops_glue.adapters.slack import SlackNotifier
from mlops_glue.adapters.state import DynamoStateStore
from mlops_glue.cli.alarms import template_parameters
from mlops_glue.config import parse_config
from mlops_glue.keys import last_dataset_key
from mlops_glue.services import training

from glue_local.cloudwatch import evaluate, eventbridge, sns
from glue_local.devstack import create_stack
from glue_local.standins import ArgoStandin, SlackStandin
from tests.alarms.conftest import CONFIG, MANIFEST
from tests.conftest import ROOT

ALARM = "mlops-glue-dev-fraud-detection-quality"
SECRETS = {
    k: f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:{k}"
    for k in (
        "MlflowWebhookSecretArn",
        "GitOpsTokenSecretArn",
        "SlackSecretArn",
        "ArgoTokenSecretArn",
        "ArgoCDSecretArn",
    )
}


def _handler() -> Any:
    spec = importlib.util.spec_from_file_location(
        "cloudwatch_alarm_app", ROOT / "functions" / "cloudwatch_alarm" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@pytest.fixture
def argo() -> Iterator[ArgoStandin]:
    declared = [
        {"name": n}
        for n in (
            training.P_MODEL,
            training.P_DATASET,
            training.P_REASON,
            training.P_DECISION,
            training.P_DATASET_VERSION,
            training.P_ENVIRONMENT,
        )
    ]
    template = {
        "kind": "WorkflowTemplate",
        "metadata": {"name": "training-pipeline", "namespace": "ml-pipelines"},
        "spec": {"arguments": {"parameters": declared}},
    }
    server = ArgoStandin(templates={("ml-pipelines", "training-pipeline"): template})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    server = SlackStandin(token="xoxb-test")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def deployed(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argo: ArgoStandin, slack: SlackStandin
) -> Any:
    cfg_text = CONFIG.replace("https://argo.example.internal", argo.url)
    cfg = parse_config(cfg_text)
    params = {
        "Stage": "dev",
        "DataBucketName": "ml-data-dev",
        **SECRETS,
        **template_parameters(cfg),
    }
    created = create_stack(ROOT / "template.yaml", params, aws)
    assert created["QualityAlarm0"] == ALARM  # fraud-detection is the configuration's first model
    (tmp_path / "config.yaml").write_text(cfg_text)
    monkeypatch.setenv("CONFIG_SOURCE", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("STATE_TABLE", created["StateTable"])
    monkeypatch.setenv("STAGE", "dev")
    runtime.reset()
    notifier = SlackNotifier(bot_token="xoxb-test", base_url=f"{slack.url}/api/", max_retries=0)
    monkeypatch.setattr(runtime, "notifier", lambda: notifier)
    DynamoStateStore(created["StateTable"], aws.client("dynamodb")).put(
        *last_dataset_key("fraud-detection"), {"manifest_uri": MANIFEST, "window_id": "w-0042"}, None
    )
    return aws.client("cloudwatch")


def put_auc(cw: Any, values: list[float], now: datetime) -> None:
    data = [
        {
            "MetricName": "AUC",
            "Dimensions": [{"Name": "Model", "Value": "fraud-detection"}],
            "Value": v,
            "Timestamp": now - timedelta(minutes=5 * (len(values) - i)),
            "Unit": "None",
        }
        for i, v in enumerate(values)
    ]
    cw.put_metric_data(Namespace="ModelServing", MetricData=data)


@pytest.mark.parametrize(
    ("first", "second"), [(eventbridge, sns), (sns, eventbridge)], ids=["eventbridge", "sns"]
)
def test_degraded_metric_to_one_emergency_workflow_and_one_alert_then_recovery_in_thread(
    deployed: Any, argo: ArgoStandin, slack: SlackStandin, lambda_context: Any, first: Any, second: Any
) -> None:
    cw, handler, now = deployed, _handler(), datetime.now(UTC)
    [alarm] = cw.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "ModelServing",
        "AUC",
        0.8,
        "LessThanThreshold",
    )
    assert alarm["Dimensions"] == [{"Name": "Model", "Value": "fraud-detection"}]

    put_auc(cw, [0.74, 0.72, 0.71], now)
    before, after = evaluate(cw, ALARM, now)
    assert (before["StateValue"], after["StateValue"]) == ("OK", "ALARM")

    out = handler(first(before, after), lambda_context)
    assert out["results"][0]["outcome"] == "acted"
    again = handler(second(before, after), lambda_context)  # the same transition through the other route
    assert again["results"][0]["duplicate"] is True

    assert argo.rejected == []
    [wf] = argo.workflows.values()
    assert wf["spec"]["priority"] == 100
    params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert params["dataset-manifest"] == MANIFEST and params["trigger-reason"] == "alarm"
    assert wf["metadata"]["labels"]["mlops-glue/kind"] == "emergency-retrain"
    [alert] = slack.messages
    assert alert.channel == "#ml-fraud" and alert.thread_ts is None
    assert "<!subteam^S0ONCALL>" in alert.text and "0.71" in json.dumps(alert.blocks)
    assert wf["metadata"]["name"] in json.dumps(alert.blocks)

    put_auc(cw, [0.88, 0.9, 0.91], now + timedelta(minutes=15))
    before, after = evaluate(cw, ALARM, now + timedelta(minutes=15))
    assert after["StateValue"] == "OK"
    handler(first(before, after), lambda_context)
    assert len(argo.workflows) == 1
    alert, recovery = slack.messages
    assert recovery.thread_ts == alert.ts and "back to OK" in recovery.text


def test_the_template_routes_only_our_alarms_with_retries_and_a_dlq() -> None:
    from glue_local.devstack import load_template

    res = load_template(ROOT / "template.yaml")["Resources"]
    fn = res["CloudwatchAlarmFunction"]["Properties"]
    rule = fn["Events"]["AlarmStateChange"]["Properties"]
    assert rule["Pattern"]["source"] == ["aws.cloudwatch"]
    assert rule["Pattern"]["detail-type"] == ["CloudWatch Alarm State Change"]
    assert rule["Pattern"]["detail"]["alarmName"][0]["prefix"].value == "mlops-glue-${Stage}-"
    assert rule["RetryPolicy"]["MaximumRetryAttempts"] > 0 and "DeadLetterConfig" in rule
    assert fn["EventInvokeConfig"]["MaximumRetryAttempts"] == 2 and fn["DeadLetterQueue"]["Type"] == "SQS"
    loops = [k for k in res if k.startswith("Fn::ForEach::")]
    assert sorted(loops) == [
        "Fn::ForEach::DriftScoreAlarms",
        "Fn::ForEach::DriftShareAlarms",
        "Fn::ForEach::QualityAlarms",
        "Fn::ForEach::QualityAnomalyAlarms",
        "Fn::ForEach::QualityPercentileAlarms",
    ]
    for loop in loops:
        [(_, alarm)] = res[loop][2].items()
        assert alarm["Properties"]["AlarmName"].value[0].startswith("mlops-glue-${Stage}-${Model}-")


def test_template_parameters_come_from_the_config_and_refuse_what_the_template_cannot_express() -> None:
    cfg = parse_config(CONFIG)
    p = template_parameters(cfg)
    assert p["AlarmModels"] == "fraud-detection,fraud-detection-eu,ranker"  # the configuration's order
    assert p["QualitySlots"] == "0" and p["QualityMetricNames"] == "AUC,,"  # only fraud-detection's
    assert p["QualityThresholds"] == "0.8,," and p["QualityDatapointsToAlarm"] == "3,,"
    assert p["DriftScoreSlots"] == "0,1,2" and p["DriftScoreThresholds"] == "0.2,0.2,0.2"
    assert p["QualityPercentiles"] == ",," and p["QualityAnomalyBandWidths"] == ",,"  # kinds switched off
    assert template_parameters(cfg, ["ranker"])["QualityMetricNames"] == ""  # no quality alarm configured
    bad = parse_config(
        CONFIG.replace(
            "dimensions: {Model: fraud-detection}", "dimensions: {Model: fraud-detection, Region: eu}"
        )
    )
    with pytest.raises(ValueError, match="one dimension whose value is the model name"):
        template_parameters(bad)


def test_cli_prints_the_parameter_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlops_glue.cli import main

    (tmp_path / "c.yaml").write_text(CONFIG)
    assert main(["alarms", "params", "--config", str(tmp_path / "c.yaml")]) == 0
    out = capsys.readouterr().out.split()
    assert "AlarmModels=fraud-detection,fraud-detection-eu,ranker" in out
    assert "QualityComparisons=LessThanThreshold,," in out
    assert main(["alarms", "params", "nope", "--config", str(tmp_path / "c.yaml")]) == 2
    assert "model 'nope' is not configured" in capsys.readouterr().err


def test_an_alarm_flapping_fifty_times_in_five_minutes_trains_once_in_one_thread(
    deployed: Any, argo: ArgoStandin, slack: SlackStandin, lambda_context: Any
) -> None:
    cw, handler, now = deployed, _handler(), datetime.now(UTC)
    put_auc(cw, [0.74, 0.72, 0.71], now)
    ok, alarm = evaluate(cw, ALARM, now)
    assert (ok["StateValue"], alarm["StateValue"]) == ("OK", "ALARM")
    start = alarm["StateUpdatedTimestamp"]
    for i in range(100):  # ALARM, OK, ALARM, ... every 3 s: 50 flaps
        after, before = (alarm, ok) if i % 2 == 0 else (ok, alarm)
        after = {**after, "StateUpdatedTimestamp": start + timedelta(seconds=3 * i)}
        handler(eventbridge(before, after), lambda_context)
    assert len(argo.workflows) == 1
    alert, *replies = slack.messages
    assert alert.thread_ts is None and len(replies) == 2 and all(r.thread_ts == alert.ts for r in replies)
    assert 1 <= len(slack.edits) <= 11 and all(e.ts == alert.ts for e in slack.edits)
    assert "flapping:" in slack.edits[-1].text
