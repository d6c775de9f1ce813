"""The alarm flow's edge: a CloudWatch alarm state change, as EventBridge delivers it or wrapped in SNS,
parsed once into :class:`~mlops_glue.decisions.emergency.AlarmChange` (Powertools data classes; the SNS
message's reason data for the latest value and the comparison)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, SNSEvent
from aws_lambda_powertools.utilities.data_classes.cloud_watch_alarm_event import (
    CloudWatchAlarmData,
    CloudWatchAlarmEvent,
)

from mlops_glue.decisions import emergency
from mlops_glue.decisions.emergency import AlarmChange

DETAIL_TYPE = "CloudWatch Alarm State Change"


class MalformedAlarmEventError(ValueError):
    """The event is not a CloudWatch alarm state change in any shape we accept."""


def changes_from_event(event: Any) -> list[AlarmChange]:
    """The alarm state changes in an EventBridge event, an SNS event or a Lambda alarm-action event.

    Powertools data classes read each shape; the SNS message is the JSON string CloudWatch publishes
    (dimensions as a list of ``{name, value}``).
    """
    if not isinstance(event, dict):
        raise MalformedAlarmEventError(f"event is a {type(event).__name__}, not a JSON object")
    try:
        if "Records" in event:
            return [_from_sns(r.sns.message, r.sns.message_id) for r in SNSEvent(event).records]
        if event.get("detail-type") == DETAIL_TYPE:
            eb = EventBridgeEvent(event)
            if eb.source != "aws.cloudwatch":
                raise MalformedAlarmEventError(f"EventBridge source {eb.source!r} is not aws.cloudwatch")
            return [
                _from_alarm_data(
                    CloudWatchAlarmData(eb.detail),
                    source="eventbridge",
                    event_id=eb.get_id,
                    arn=eb.resources[0] if eb.resources else None,
                    region=eb.region,
                    account=eb.account,
                )
            ]
        if "alarmData" in event:
            ev = CloudWatchAlarmEvent(event)
            return [
                _from_alarm_data(
                    ev.alarm_data,
                    source="alarm_action",
                    event_id=f"{ev.alarm_arn}@{ev.timestamp}",
                    arn=ev.alarm_arn,
                    region=ev.region,
                    account=ev.source_account_id,
                )
            ]
    except MalformedAlarmEventError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedAlarmEventError(f"malformed alarm event: {type(exc).__name__}: {exc}") from exc
    keys = ", ".join(sorted(event)[:8]) or "none"
    raise MalformedAlarmEventError(
        f"not a CloudWatch alarm event (no detail-type {DETAIL_TYPE!r}, SNS Records or alarmData; keys: {keys})"
    )


def _ts(value: Any, where: str) -> datetime:
    try:
        ts = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise MalformedAlarmEventError(f"{where}: not a timestamp: {value!r}") from exc
    if ts.tzinfo is None:
        raise MalformedAlarmEventError(f"{where}: timestamp without a time zone: {value!r}")
    return ts


def _state(value: Any, where: str) -> str:
    if value not in emergency.STATES:
        raise MalformedAlarmEventError(f"{where}: unknown alarm state {value!r}")
    return str(value)


def _float(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _from_alarm_data(
    data: CloudWatchAlarmData,
    *,
    source: Any,
    event_id: str,
    arn: str | None,
    region: str | None,
    account: str | None,
) -> AlarmChange:
    name = data.alarm_name
    if not isinstance(name, str) or not name:
        raise MalformedAlarmEventError("alarmName is missing")
    state = data.state
    previous = data.get("previousState") and data.previous_state
    reason_data: dict[str, Any] = {}
    if state.get("reasonData"):
        try:
            decoded = json.loads(state.reason_data)
            reason_data = decoded if isinstance(decoded, dict) else {}
        except ValueError:
            reason_data = {}  # free text in reasonData is allowed; the value then stays unknown
    value = _latest_value(reason_data)
    metric: dict[str, Any] = {}
    stat: str | None = reason_data.get("statistic")
    metrics = data.configuration.metrics if data.get("configuration") else []
    returned = [m for m in metrics if m.get("returnData", True)][:1]
    for m in returned:
        if m.get("metricStat"):
            metric = m.metric_stat.metric
            stat = stat or m.metric_stat.stat
        elif m.expression:  # metric math or an anomaly band: name the expression, there is no namespace
            metric = {"name": m.label or m.expression}
    return AlarmChange(
        alarm_name=name,
        state=_state(state.value, "state.value"),
        previous_state=_state(previous.value, "previousState.value") if previous else None,
        state_timestamp=_ts(state.timestamp, "state.timestamp"),
        source=source,
        event_id=event_id,
        reason=str(state.get("reason") or ""),
        alarm_arn=arn,
        region=region,
        account=account,
        namespace=metric.get("namespace"),
        metric_name=metric.get("name"),
        dimensions={str(k): str(v) for k, v in (metric.get("dimensions") or {}).items()},
        statistic=_statistic(stat),
        value=value,
        threshold=_float(reason_data.get("threshold")),
        comparison=_comparison(str(state.get("reason") or "")),
    )


def _statistic(value: Any) -> str | None:
    """SNS spells statistics in capitals (``AVERAGE``), EventBridge as CloudWatch does (``Average``)."""
    if not value:
        return None
    text = str(value)
    return text.title() if text.isupper() and text.isalpha() else text


def _latest_value(reason_data: dict[str, Any]) -> float | None:
    """The newest evaluated datapoint (by timestamp), else the last of ``recentDatapoints``."""
    evaluated = [
        p for p in reason_data.get("evaluatedDatapoints") or [] if isinstance(p, dict) and "value" in p
    ]
    if evaluated:
        return _float(max(evaluated, key=lambda p: str(p.get("timestamp", "")))["value"])
    recent = reason_data.get("recentDatapoints") or []
    return _float(recent[-1]) if recent else None


_COMPARISON = re.compile(r"was (?:not )?(greater|less) than( or equal to)? the threshold")


def _comparison(reason: str) -> str | None:
    """EventBridge events carry no comparison operator: read it from CloudWatch's reason sentence."""
    m = _COMPARISON.search(reason)
    if not m:
        return None
    return f"{m.group(1).title()}Than{'OrEqualTo' if m.group(2) else ''}Threshold"


_FIRST_DATAPOINT = re.compile(r"\[\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*\(")


def _from_sns(message: str, message_id: str) -> AlarmChange:
    try:
        msg = json.loads(message)
    except ValueError as exc:
        raise MalformedAlarmEventError(f"SNS message {message_id} is not JSON: {exc}") from exc
    if not isinstance(msg, dict) or "AlarmName" not in msg or "NewStateValue" not in msg:
        raise MalformedAlarmEventError(
            f"SNS message {message_id} is not a CloudWatch alarm notification (no AlarmName/NewStateValue)"
        )
    trigger = msg.get("Trigger") or {}
    dims = {
        str(d.get("name", d.get("Name"))): str(d.get("value", d.get("Value")))
        for d in trigger.get("Dimensions") or []
        if isinstance(d, dict)
    }
    reason = str(msg.get("NewStateReason") or "")
    # SNS carries no reasonData: the most recent datapoint is the first one quoted in the reason text
    # ("... datapoints [0.71 (23/11/26 10:05:00), 0.74 (...)] was less than the threshold (0.8) ...").
    m = _FIRST_DATAPOINT.search(reason)
    region = None
    arn = msg.get("AlarmArn")
    if isinstance(arn, str) and arn.count(":") >= 5:
        region = arn.split(":")[3]
    return AlarmChange(
        alarm_name=str(msg["AlarmName"]),
        state=_state(msg["NewStateValue"], "NewStateValue"),
        previous_state=_state(msg["OldStateValue"], "OldStateValue") if msg.get("OldStateValue") else None,
        state_timestamp=_ts(msg.get("StateChangeTime"), "StateChangeTime"),
        source="sns",
        event_id=message_id,
        reason=reason,
        alarm_arn=arn,
        region=region,
        account=msg.get("AWSAccountId"),
        namespace=trigger.get("Namespace"),
        metric_name=trigger.get("MetricName"),
        dimensions=dims,
        statistic=_statistic(trigger.get("Statistic") or trigger.get("ExtendedStatistic")),
        value=_float(m.group(1)) if m else None,
        threshold=_float(trigger.get("Threshold")),
        comparison=trigger.get("ComparisonOperator"),
    )
