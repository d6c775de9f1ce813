"""CloudWatch as the demo and the tests need it on moto: evaluate an alarm, deliver its state change.

moto stores alarms and metric data but neither evaluates alarms nor emits their state changes. So
:func:`evaluate` applies the alarm's own definition (from ``describe_alarms``) to its datapoints
(``get_metric_statistics``) and sets the state CloudWatch would, with CloudWatch's reason text; and
:func:`eventbridge` / :func:`sns` build the deliveries CloudWatch sends for that change.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

OPS: dict[str, Callable[[float, float], bool]] = {
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
}


def evaluate(cw: Any, name: str, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply the alarm's definition to its metric and set the state CloudWatch would: (before, after)."""
    [alarm] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    n = alarm["EvaluationPeriods"]
    stats = cw.get_metric_statistics(
        Namespace=alarm["Namespace"],
        MetricName=alarm["MetricName"],
        Dimensions=alarm["Dimensions"],
        StartTime=now - timedelta(seconds=alarm["Period"] * (n + 1)),
        EndTime=now,
        Period=alarm["Period"],
        Statistics=[alarm["Statistic"]],
    )["Datapoints"]
    points = sorted(stats, key=lambda p: p["Timestamp"], reverse=True)[:n]
    values = [p[alarm["Statistic"]] for p in points]
    breaching = sum(OPS[alarm["ComparisonOperator"]](v, alarm["Threshold"]) for v in values)
    state = "ALARM" if breaching >= alarm["DatapointsToAlarm"] else "OK"
    word = {"LessThanThreshold": "less than"}.get(alarm["ComparisonOperator"], "beyond")
    listed = ", ".join(
        f"{v:g} ({p['Timestamp']:%d/%m/%y %H:%M:%S})" for v, p in zip(values, points, strict=True)
    )
    reason = (
        f"Threshold Crossed: {n} out of the last {n} datapoints [{listed}] was {'' if state == 'ALARM' else 'not '}"
        f"{word} the threshold ({alarm['Threshold']:g}) (minimum {alarm['DatapointsToAlarm']} datapoint for transition)."
    )
    reason_data = {
        "version": "1.0",
        "queryDate": f"{now:%Y-%m-%dT%H:%M:%S.000+0000}",
        "statistic": alarm["Statistic"],
        "period": alarm["Period"],
        "recentDatapoints": list(reversed(values)),
        "threshold": alarm["Threshold"],
    }
    cw.set_alarm_state(
        AlarmName=name, StateValue=state, StateReason=reason, StateReasonData=json.dumps(reason_data)
    )
    [after] = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return alarm, after


def _state(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "value": a["StateValue"],
        "reason": a["StateReason"],
        "reasonData": a.get("StateReasonData", "{}"),
        "timestamp": a["StateUpdatedTimestamp"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        + "+0000",
    }


def eventbridge(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The "CloudWatch Alarm State Change" event CloudWatch sends to EventBridge."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        "region": "eu-west-1",
        "resources": [after["AlarmArn"]],
        "detail": {
            "alarmName": after["AlarmName"],
            "state": _state(after),
            "previousState": _state(before),
            "configuration": {
                "description": after.get("AlarmDescription", ""),
                "metrics": [
                    {
                        "id": "m1",
                        "returnData": True,
                        "metricStat": {
                            "metric": {
                                "namespace": after["Namespace"],
                                "name": after["MetricName"],
                                "dimensions": {d["Name"]: d["Value"] for d in after["Dimensions"]},
                            },
                            "period": after["Period"],
                            "stat": after["Statistic"],
                        },
                    }
                ],
            },
        },
    }


def sns(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The SNS notification an alarm action publishes (the message is a JSON string)."""
    message = {
        "AlarmName": after["AlarmName"],
        "AlarmDescription": after.get("AlarmDescription"),
        "AWSAccountId": "123456789012",
        "NewStateValue": after["StateValue"],
        "NewStateReason": after["StateReason"],
        "StateChangeTime": _state(after)["timestamp"],
        "Region": "EU (Ireland)",
        "AlarmArn": after["AlarmArn"],
        "OldStateValue": before["StateValue"],
        "Trigger": {
            "MetricName": after["MetricName"],
            "Namespace": after["Namespace"],
            "StatisticType": "Statistic",
            "Statistic": after["Statistic"].upper(),
            "Unit": None,
            "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in after["Dimensions"]],
            "Period": after["Period"],
            "EvaluationPeriods": after["EvaluationPeriods"],
            "ComparisonOperator": after["ComparisonOperator"],
            "Threshold": after["Threshold"],
            "TreatMissingData": after.get("TreatMissingData", "missing"),
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:eu-west-1:123456789012:ml-alarms:1",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ml-alarms",
                    "Subject": "ALARM",
                    "Message": json.dumps(message),
                    "Timestamp": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.000Z}",
                    "SignatureVersion": "1",
                    "Signature": "x",
                    "SigningCertUrl": "x",
                    "UnsubscribeUrl": "x",
                    "MessageAttributes": {},
                },
            }
        ]
    }
