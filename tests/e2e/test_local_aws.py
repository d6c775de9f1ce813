"""The demo's AWS plumbing on in-process moto: the stack and rule from the template, moto's S3 →
EventBridge → SQS routing (and the two fields where moto's event differs from AWS's), and the event
source mapping stand-in's delete / keep behaviour."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from mlops_glue.services.data_arrival import parse_message

from glue_local.aws_local import (
    SECRET_PARAMETERS,
    DeliveryError,
    LocalStack,
    SqsEventSource,
    as_aws_sends_it,
    create_local_stack,
    pattern_matches,
)
from tests.conftest import load_event

BUCKET = "mlops-glue-demo-data"


class _MotoEndpoint:
    """The in-process moto session standing in for :class:`glue_local.aws_local.Endpoint`."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def client(self, service: str, **kwargs: Any) -> Any:
        return self.session.client(service, **kwargs)


@pytest.fixture
def local(aws: Any) -> Iterator[LocalStack]:
    secrets = {name: f"value-of-{name}" for name in SECRET_PARAMETERS.values()}
    yield create_local_stack(
        _MotoEndpoint(aws),  # type: ignore[arg-type]
        {
            "Stage": "dev",
            "DataBucketName": BUCKET,
            "AlarmModels": "fraud-detection",
            "QualitySlots": "0",
            "QualityNamespaces": "ModelServing",
            "QualityMetricNames": "AUC",
            "QualityDimensionNames": "Model",
            "QualityStatistics": "Average",
            "QualityThresholds": "0.8",
            "QualityComparisons": "LessThanThreshold",
            "QualityPeriods": "300",
            "QualityEvaluationPeriods": "3",
            "QualityDatapointsToAlarm": "3",
            "QualityTreatMissingData": "missing",
        },
        secrets,
        "models: {}\n",
    )


def _receive(local: LocalStack) -> list[dict[str, Any]]:
    sqs = local.endpoint.client("sqs")
    got = sqs.receive_message(QueueUrl=local.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
    return list(got.get("Messages", []))


def test_stack_rule_functions_and_config_come_from_the_template(local: LocalStack) -> None:
    assert local.created["StateTable"] == "mlops-glue-state-dev"
    assert local.created["QualityAlarm0"] == "mlops-glue-dev-fraud-detection-quality"
    assert local.rule_name == "mlops-glue-data-arrival-dev"
    ssm = local.endpoint.client("ssm")
    assert ssm.get_parameter(Name="/mlops-glue/dev/config")["Parameter"]["Value"] == "models: {}\n"
    assert local.parameters["ArgoCDSecretArn"] == local.secrets["mlops-glue/argocd-token"]
    fn = local.functions["S3NewDataFunction"]
    assert fn.code_dir.name == "s3_new_data" and fn.handler == "app.handler"
    assert fn.environment["STATE_TABLE"] == "mlops-glue-state-dev"
    assert fn.environment["CONFIG_SOURCE"] == "ssm:/mlops-glue/dev/config"
    assert fn.environment["POWERTOOLS_SERVICE_NAME"] == "s3-new-data"
    assert fn.environment["DATA_BUCKET"] == BUCKET
    assert fn.events["NewData"]["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert local.functions["MlflowWebhookFunction"].code_dir.name == "mlflow_webhook"
    assert local.alarm_pattern()["detail"]["alarmName"] == [{"prefix": "mlops-glue-dev-"}]


def test_moto_routes_object_created_through_the_rule_and_we_fix_only_its_two_deviations(
    local: LocalStack,
) -> None:
    s3 = local.endpoint.client("s3")
    put = s3.put_object(Bucket=BUCKET, Key="fraud/incoming/a b+c.csv", Body=b"x\n1\n")
    s3.put_object(Bucket=BUCKET, Key="mlops-glue/windows/w.bin", Body=b"ours")  # the rule excludes it
    [message] = _receive(local)
    raw = json.loads(message["Body"])
    assert raw["detail"]["object"]["eTag"] == put["ETag"].strip('"')  # moto: eTag, AWS: etag
    assert raw["detail"]["object"]["key"] == "fraud/incoming/a b+c.csv"  # moto: unencoded
    fixed = json.loads(as_aws_sends_it(message["Body"]))
    assert (
        fixed["detail"]["object"]["etag"] == put["ETag"].strip('"')
        and "eTag" not in fixed["detail"]["object"]
    )
    assert fixed["detail"]["object"]["key"] == "fraud/incoming/a+b%2Bc.csv"
    [ref] = parse_message(json.dumps(fixed))
    assert (ref.key, ref.version_id) == ("fraud/incoming/a b+c.csv", put["VersionId"])
    # an event already in AWS's shape is left alone
    aws_shaped = json.dumps(load_event("eventbridge_s3_object_created.json"))
    assert as_aws_sends_it(aws_shaped) == aws_shaped


def test_event_source_deletes_what_succeeded_and_keeps_what_failed(local: LocalStack) -> None:
    s3 = local.endpoint.client("s3")
    for key in ("fraud/incoming/ok.csv", "fraud/incoming/bad.csv"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x\n1\n")
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        bad = [
            r
            for r in event["Records"]
            if json.loads(r["body"])["detail"]["object"]["key"].endswith("bad.csv")
        ]
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in bad]}

    esm = SqsEventSource(
        local.endpoint.client("sqs"), local.queue_url, local.queue_arn, handler, lambda: None, batch_size=10
    )
    with pytest.raises(DeliveryError, match="1 of 2 message"):
        esm.drain()
    [event] = seen
    record = event["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == local.queue_arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    sqs = local.endpoint.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=local.queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"  # the failed one waits for its retry
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_a_raising_handler_deletes_nothing(local: LocalStack) -> None:
    local.endpoint.client("s3").put_object(Bucket=BUCKET, Key="fraud/incoming/x.csv", Body=b"x\n1\n")

    def handler(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("boom")

    esm = SqsEventSource(
        local.endpoint.client("sqs"), local.queue_url, local.queue_arn, handler, lambda: None
    )
    with pytest.raises(DeliveryError, match="raised on a batch of 1"):
        esm.drain()
    attrs = local.endpoint.client("sqs").get_queue_attributes(
        QueueUrl=local.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_the_alarm_rule_pattern_routes_only_our_alarms(local: LocalStack) -> None:
    event = load_event("cloudwatch_quality_alarm.json")
    assert pattern_matches(local.alarm_pattern(), event)
    other = {**event, "detail": {**event["detail"], "alarmName": "someone-elses-alarm"}}
    assert not pattern_matches(local.alarm_pattern(), other)
