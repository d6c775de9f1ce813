"""Every model's alarms in one stack: ``template.yaml``'s ``Fn::ForEach`` loops, expanded by the local
stack builder (cfn-lint's language extensions) with the parameters ``mlops-glue alarms params`` derives
from the configuration, created on moto and evaluated. ``make checkov`` scans the same expansion.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_glue.cli.alarms import template_parameters
from mlops_glue.config import parse_config

from glue_local.cloudwatch import evaluate
from glue_local.devstack import create_stack, expand
from tests.conftest import ROOT

CONFIG = """
models:
  fraud-detection:
    alarms:
      drift_score_threshold: 0.2
      drift_share_threshold: 0.5
      quality: {namespace: ModelServing, metric: AUC, dimensions: {Model: fraud-detection}, threshold: 0.8,
                comparison: LessThanThreshold, period: 60, evaluation_periods: 3}
  churn:
    alarms:
      drift_score_threshold: 0.35
      drift_share_threshold: null
      quality: {namespace: Churn, metric: Latency, dimensions: {model: churn}, statistic: p99, threshold: 250,
                comparison: GreaterThanThreshold, period: 60, evaluation_periods: 2, datapoints_to_alarm: 1}
  ranker:
    alarms:
      drift_score_threshold: null
      drift_share_threshold: 0.25
      quality: {namespace: Ranking, metric: NDCG, threshold: 0.6, period: 60, evaluation_periods: 1}
"""
BASE = {"Stage": "dev", "DataBucketName": "ml-data-dev"}


def _params() -> dict[str, str]:
    return {**BASE, **template_parameters(parse_config(CONFIG))}


def test_the_loops_expand_to_each_models_alarms_with_its_own_thresholds() -> None:
    doc = expand(ROOT / "template.yaml", _params())
    alarms = {k: v for k, v in doc["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {
        "DriftScoreAlarm0",
        "DriftScoreAlarm1",
        "DriftShareAlarm0",
        "DriftShareAlarm2",
        "QualityAlarm0",
        "QualityAlarm2",
        "QualityPercentileAlarm1",
        "QualityAnomalyAlarm0",  # the placeholder slot: switched off by its empty band widths
    }
    assert doc["Resources"]["QualityAnomalyAlarm0"]["Condition"] == "HasQualityAnomalyAlarms"


def test_three_models_alarms_created_by_the_local_stack_builder_and_evaluated(aws: Any) -> None:
    created = create_stack(ROOT / "template.yaml", _params(), aws)
    names = {v for k, v in created.items() if "Alarm" in k and not k.endswith("DLQ")}
    assert names == {
        "mlops-glue-dev-fraud-detection-drift-score",
        "mlops-glue-dev-fraud-detection-drift-share",
        "mlops-glue-dev-fraud-detection-quality",
        "mlops-glue-dev-churn-drift-score",
        "mlops-glue-dev-churn-quality",
        "mlops-glue-dev-ranker-drift-share",
        "mlops-glue-dev-ranker-quality",
    }  # no anomaly alarm: no model configures one
    cw = aws.client("cloudwatch")
    described = {a["AlarmName"]: a for a in cw.describe_alarms()["MetricAlarms"]}
    assert described["mlops-glue-dev-churn-drift-score"]["Threshold"] == 0.35  # per-model thresholds
    assert described["mlops-glue-dev-fraud-detection-drift-score"]["Threshold"] == 0.2
    assert described["mlops-glue-dev-ranker-drift-share"]["Threshold"] == 0.25
    churn_q = described["mlops-glue-dev-churn-quality"]
    assert churn_q["ExtendedStatistic"] == "p99" and churn_q["ComparisonOperator"] == "GreaterThanThreshold"
    assert (
        churn_q["Dimensions"] == [{"Name": "model", "Value": "churn"}] and churn_q["DatapointsToAlarm"] == 1
    )
    ranker_q = described["mlops-glue-dev-ranker-quality"]
    assert (
        ranker_q["Dimensions"] == [{"Name": "Model", "Value": "ranker"}]
        and ranker_q["Statistic"] == "Average"
    )

    # each model's metric crosses only its own threshold: fraud-detection's AUC and ranker's NDCG drop
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for namespace, metric, dim, value, points in (
        ("ModelServing", "AUC", {"Name": "Model", "Value": "fraud-detection"}, 0.7, 3),
        ("Ranking", "NDCG", {"Name": "Model", "Value": "ranker"}, 0.65, 1),
    ):
        cw.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [dim],
                    "Value": value,
                    "Timestamp": now - timedelta(minutes=i + 1),
                }
                for i in range(points)
            ],
        )
    _, fraud = evaluate(cw, "mlops-glue-dev-fraud-detection-quality", now)
    _, ranker = evaluate(cw, "mlops-glue-dev-ranker-quality", now)
    assert fraud["StateValue"] == "ALARM" and "0.7" in fraud["StateReason"]
    assert ranker["StateValue"] == "OK"  # 0.65 is above ranker's own 0.6
