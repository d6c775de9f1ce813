"""``mlops-glue alarms params``: the ``template.yaml`` parameters declaring every model's alarms.

The template loops (``Fn::ForEach``) over positions in ``AlarmModels``; each setting is a list aligned
with it (empty where a model has no such alarm), and each kind's ``*Slots`` list names the positions that
get that alarm. The configuration file stays the one source: ``sam deploy --parameter-overrides`` takes
what this prints.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the configuration loads only when a command of this group runs (CLI start-up)
    from mlops_glue.config import GlueConfig

LISTS = (
    "DriftScoreThresholds",
    "DriftShareThresholds",
    "QualityNamespaces",
    "QualityMetricNames",
    "QualityDimensionNames",
    "QualityStatistics",
    "QualityPercentiles",
    "QualityThresholds",
    "QualityComparisons",
    "QualityPeriods",
    "QualityEvaluationPeriods",
    "QualityDatapointsToAlarm",
    "QualityTreatMissingData",
    "QualityAnomalyBandWidths",
    "QualityAnomalyComparisons",
)
SLOTS = (
    "DriftScoreSlots",
    "DriftShareSlots",
    "QualitySlots",
    "QualityPercentileSlots",
    "QualityAnomalySlots",
)


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


def template_parameters(cfg: GlueConfig, models: list[str] | None = None) -> dict[str, str]:
    """The parameter overrides for the alarms of ``models`` (default: every model with an alarm, in the
    configuration's order). The template puts the model name in one dimension of the quality metric;
    any other dimension set is refused (ValueError)."""
    names = models or [
        m
        for m, c in cfg.models.items()
        if c.alarms.quality
        or c.alarms.drift_score_threshold is not None
        or c.alarms.drift_share_threshold is not None
    ]
    lists: dict[str, list[str]] = {k: [] for k in LISTS}
    slots: dict[str, list[str]] = {k: [] for k in SLOTS}
    for i, model in enumerate(names):
        a = cfg.model(model).alarms
        row = dict.fromkeys(LISTS, "")
        row["DriftScoreThresholds"] = _num(a.drift_score_threshold)
        row["DriftShareThresholds"] = _num(a.drift_share_threshold)
        if a.drift_score_threshold is not None:
            slots["DriftScoreSlots"].append(str(i))
        if a.drift_share_threshold is not None:
            slots["DriftShareSlots"].append(str(i))
        q = a.quality
        if q is not None:
            dims = dict(q.dimensions) or {"Model": model}
            if len(dims) != 1 or next(iter(dims.values())) != model:
                raise ValueError(
                    f"alarms.quality.dimensions of {model}: the template supports one dimension whose value "
                    f"is the model name, got {dims}"
                )
            percentile = q.statistic.startswith("p")
            slots["QualityPercentileSlots" if percentile else "QualitySlots"].append(str(i))
            row.update(
                QualityNamespaces=q.namespace,
                QualityMetricNames=q.metric,
                QualityDimensionNames=next(iter(dims)),
                QualityStatistics="" if percentile else q.statistic,
                QualityPercentiles=q.statistic if percentile else "",
                QualityThresholds=f"{q.threshold:g}",
                QualityComparisons=q.comparison,
                QualityPeriods=str(q.period),
                QualityEvaluationPeriods=str(q.evaluation_periods),
                QualityDatapointsToAlarm=str(q.datapoints_to_alarm or q.evaluation_periods),
                QualityTreatMissingData=q.treat_missing_data,
            )
        for k in LISTS:
            lists[k].append(row[k])
    out = {"AlarmModels": ",".join(names)}
    # a slot list cannot be empty: "0" is the template's placeholder, its kind's empty values switch it off
    out.update({k: ",".join(v) or "0" for k, v in slots.items()})
    out.update({k: ",".join(v) for k, v in lists.items()})
    return out


def register(subparsers: Any) -> None:
    alarms = subparsers.add_parser("alarms", help="CloudWatch alarms of the models")
    asub = alarms.add_subparsers(dest="command", required=True)
    params = asub.add_parser(
        "params",
        help="print `sam deploy --parameter-overrides` declaring every model's alarms (from `alarms` config)",
    )
    params.add_argument("models", nargs="*", help="only these models (default: every model with an alarm)")
    params.add_argument("--config", required=True, help="the configuration file (path or ssm:/name)")
    params.set_defaults(func=_params)


def _params(args: argparse.Namespace) -> int:
    from mlops_glue.config import ConfigError, load_config

    try:
        overrides = template_parameters(load_config(args.config), list(args.models) or None)
    except (ConfigError, KeyError, ValueError) as exc:
        print(f"mlops-glue alarms params: {exc}", file=sys.stderr)
        return 2
    print(" ".join(f"{k}={shlex.quote(v)}" for k, v in overrides.items()))
    return 0
