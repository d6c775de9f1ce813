"""The emergency decision: a CloudWatch alarm state change -> emergency retraining, a notice, or nothing.

Pure: given the alarm change, the configuration, the alarm's state document, the model's emergency ledger
and the latest data window, return a :class:`AlarmPlan`. The service does the I/O.

Rules, in order (each outcome is recorded with the alarm, the metric value and the threshold):

* **model**: the alarm name is exactly ``mlops-glue-<stage>-<model>-<kind>`` for a configured model and
  one of the template's alarm kinds (:data:`ALARM_KINDS`) — never a prefix match, so the alarm of an
  unconfigured ``fraud-detection-eu`` is not taken for ``fraud-detection`` (nor by its metric
  dimension); an alarm not named by the convention maps by a ``model``/``Model`` metric dimension naming
  a configured model. Neither -> ``ignored`` (unknown alarm).
* **stale**: a change older than the last state already seen for that alarm (out-of-order delivery) ->
  ``ignored``.
* **INSUFFICIENT_DATA** -> ``ignored`` (missing data is not a degradation; the reason is logged).
* **ALARM -> ALARM** (a reason update, composite re-evaluation) -> ``ignored``.
* **ALARM -> OK** -> ``notify_only`` / ``acted``: the recovery notice (a thread reply to the alert).
* **OK or INSUFFICIENT_DATA -> ALARM** -> an emergency retraining unless:
  the last emergency training of the model is younger than ``alarms.debounce`` (flapping) -> ``ignored``,
  with a thread reply; the emergency cooldown or the emergency budget (``retrain.emergency``, a ledger
  separate from normal retrainings) -> ``rejected``, with an on-call alert saying no training runs; no
  dataset known -> ``rejected``. The emergency path never waits: a rejected alarm is a human's call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from mlops_glue.config import GlueConfig, ModelConfig
from mlops_glue.decisions.budget import deferral_reasons, last_run
from mlops_glue.documents import AlarmState, Alert, LastDataset, Ledger
from mlops_glue.keys import alarm_key as alarm_key  # the alarm's state document (re-exported)
from mlops_glue.records import Decision, Kind, Outcome, make_decision_id
from mlops_glue.texts import duration_text

State = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
STATES: tuple[str, ...] = ("OK", "ALARM", "INSUFFICIENT_DATA")
UNKNOWN_MODEL = "(unknown)"  # not a valid model name, so it never collides with a configured one
ALARM_PREFIX = "mlops-glue-{stage}-"
MODEL_DIMENSIONS = ("model", "Model")
ALARM_KINDS = ("drift-score", "drift-share", "quality", "quality-anomaly")  # template.yaml's alarms
MAX_THREAD_REPLIES = 2  # replies under one alert; later changes edit the alert's status line instead
STATUS_EDIT_EVERY = timedelta(seconds=30)  # at most one status edit per 30 s of alarm time


def alarm_name_for(stage: str, model: str, kind: str) -> str:
    """The alarm naming convention that maps an alarm to its model: ``mlops-glue-<stage>-<model>-<kind>``."""
    return f"{ALARM_PREFIX.format(stage=stage)}{model}-{kind}"


@dataclass(frozen=True)
class AlarmChange:
    """One alarm state change, whatever shape it arrived in (EventBridge, SNS, Lambda alarm action)."""

    alarm_name: str
    state: str
    previous_state: str | None
    state_timestamp: datetime
    source: Literal["eventbridge", "sns", "alarm_action"]
    event_id: str
    reason: str = ""
    alarm_arn: str | None = None
    region: str | None = None
    account: str | None = None
    namespace: str | None = None
    metric_name: str | None = None
    dimensions: dict[str, str] = field(default_factory=dict)
    statistic: str | None = None
    value: float | None = None
    threshold: float | None = None
    comparison: str | None = None

    @property
    def identity(self) -> str:
        """Alarm + new state + state timestamp: the same transition delivered twice (or through both
        EventBridge and SNS) has the same identity."""
        ts = self.state_timestamp.isoformat(timespec="milliseconds")
        return f"{self.alarm_name}|{self.state}|{ts}"

    @property
    def console_url(self) -> str | None:
        if not self.region:
            return None
        return (
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#alarmsV2:alarm/{quote(self.alarm_name, safe='')}"
        )

    def metric_label(self) -> str:
        if not self.metric_name:
            return "(expression or composite alarm)"
        dims = ",".join(f"{k}={v}" for k, v in sorted(self.dimensions.items()))
        stat = f" {self.statistic}" if self.statistic else ""
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{ns}{self.metric_name}{stat}" + (f" [{dims}]" if dims else "")


AlarmNotice = Literal["alert", "recovery", "reply", "none"]


@dataclass(frozen=True)
class AlarmPlan:
    """The decision and what the service must do for it."""

    decision: Decision
    train: bool = False
    notice: AlarmNotice = "none"
    dataset_uri: str | None = None
    priority: int = 0


def decision_id_for(change: AlarmChange) -> str:
    """Stable per transition: every delivery of the same change gets the same decision id."""
    return make_decision_id("emergency", change.identity)


def model_for_alarm(change: AlarmChange, cfg: GlueConfig, stage: str) -> tuple[str | None, str]:
    """The configured model an alarm belongs to and how it was found (for the decision record)."""
    prefix = ALARM_PREFIX.format(stage=stage)
    if change.alarm_name.startswith(prefix):
        rest = change.alarm_name[len(prefix) :]
        matches = [m for m in cfg.models for kind in ALARM_KINDS if rest == f"{m}-{kind}"]
        if len(matches) == 1:
            return matches[0], f"alarm name {prefix}<model>-<kind>"
        # one of our alarms for a model that is not configured here: never borrowed by a dimension
        return None, f"alarm name {prefix}<model>-<kind> names no configured model ({rest!r})"
    for dim in MODEL_DIMENSIONS:
        value = change.dimensions.get(dim)
        if value and value in cfg.models:
            return value, f"metric dimension {dim}={value}"
    return None, "no configured model in the alarm name or a model dimension"


def blocking_reasons(
    ledger: Ledger | None, now: datetime, model_cfg: ModelConfig, decision_id: str
) -> tuple[str | None, list[str]]:
    """(debounce reason, cooldown/budget reasons) against the emergency ledger.

    Runs recorded for ``decision_id`` itself are left out, so a retried delivery is not blocked by its
    own reservation.
    """
    others = (ledger or Ledger()).without(decision_id)
    debounce = model_cfg.alarms.debounce
    last = last_run(others)
    if last is not None and now - last < debounce:
        return (
            f"debounce: last emergency training {duration_text(now - last)} ago < {duration_text(debounce)} (flapping)",
            [],
        )
    em = model_cfg.retrain.emergency
    return None, [
        "emergency " + r
        for r in deferral_reasons(others, now, cooldown=em.cooldown, max_per_day=em.max_per_day)
    ]


def decide(
    change: AlarmChange,
    cfg: GlueConfig,
    *,
    stage: str,
    now: datetime,
    alarm_doc: AlarmState | None,
    ledger: Ledger | None,
    last_dataset: LastDataset | None,
) -> AlarmPlan:
    """What to do about ``change`` (see the module docstring for the rules)."""
    decision_id = decision_id_for(change)
    model, how = model_for_alarm(change, cfg, stage)
    decision = Decision(
        decision_id=decision_id,
        model=model or UNKNOWN_MODEL,
        kind=Kind.EMERGENCY_RETRAIN if change.state == "ALARM" else Kind.NOTIFY_ONLY,
        outcome=Outcome.IGNORED,
        evidence=_evidence(change, how),
        inputs=[change.identity, f"{change.source}:{change.event_id}"],
        config_hash=cfg.hash(),
        created_at=now,
    )
    transition = f"{change.alarm_name}: {change.previous_state or '?'} → {change.state}"

    def ignored(reason: str) -> AlarmPlan:
        return AlarmPlan(_with(decision, Outcome.IGNORED, f"{transition}; {reason}"))

    if model is None:
        return ignored(f"unknown alarm: {how}")
    if alarm_doc is not None and alarm_doc.is_newer(change.state_timestamp):
        assert alarm_doc.timestamp is not None
        seen = alarm_doc.timestamp.isoformat()
        return ignored(f"stale: the alarm has since moved to {alarm_doc.state} at {seen}")
    if change.state == "INSUFFICIENT_DATA":
        return ignored("INSUFFICIENT_DATA: missing data is not a degradation")
    if change.state == change.previous_state:
        return ignored(f"no transition (already {change.state})")
    if change.state == "OK":
        if change.previous_state != "ALARM":
            return ignored("OK after INSUFFICIENT_DATA: nothing to recover from")
        reason = f"{transition}; recovered: {_value_vs_threshold(change, breaching=False)}"
        return AlarmPlan(_with(decision, Outcome.ACTED, reason), notice="recovery")
    if change.state != "ALARM":
        return ignored(f"unknown state {change.state!r}")

    model_cfg = cfg.model(model)
    breach = f"{transition}; {change.metric_label()}: {_value_vs_threshold(change)}"
    debounce, blocked = blocking_reasons(ledger, now, model_cfg, decision_id)
    if debounce:
        return AlarmPlan(_with(decision, Outcome.IGNORED, breach, debounce), notice="reply")
    if blocked:
        return AlarmPlan(_with(decision, Outcome.REJECTED, breach, *blocked), notice="alert")
    dataset, dataset_reason = _dataset(model_cfg, last_dataset)
    if dataset is None:
        return AlarmPlan(_with(decision, Outcome.REJECTED, breach, dataset_reason), notice="alert")
    decision = _with(decision, Outcome.ACTED, breach, dataset_reason)
    decision.evidence["dataset"] = {"uri": dataset, **(last_dataset.to_json() if last_dataset else {})}
    decision.evidence["trigger"] = "alarm"  # the workflow's trigger-reason parameter and annotation
    return AlarmPlan(
        decision,
        train=True,
        notice="alert",
        dataset_uri=dataset,
        priority=model_cfg.retrain.emergency.priority,
    )


def _dataset(model_cfg: ModelConfig, last: LastDataset | None) -> tuple[str | None, str]:
    """The latest data window's manifest; else the model's whole data prefix (documented fallback)."""
    if last and last.manifest_uri:
        return last.manifest_uri, f"dataset: latest data window {last.window_id or '?'}"
    if model_cfg.data is not None:
        uri = f"s3://{model_cfg.data.bucket}/{model_cfg.data.prefix}"
        return uri, f"dataset: no data window recorded yet, training on the data prefix {uri}"
    return None, "no dataset: no data window recorded and no data prefix configured"


def _evidence(change: AlarmChange, how: str) -> dict[str, Any]:
    return {
        "alarm": change.alarm_name,
        "alarm_arn": change.alarm_arn,
        "alarm_url": change.console_url,
        "state": change.state,
        "previous_state": change.previous_state,
        "state_timestamp": change.state_timestamp.isoformat(),
        "state_reason": change.reason[:500],
        "metric": {
            "namespace": change.namespace,
            "name": change.metric_name,
            "dimensions": dict(change.dimensions),
            "statistic": change.statistic,
        },
        "value": change.value,
        "threshold": change.threshold,
        "comparison": change.comparison,
        "mapped_by": how,
        "source": change.source,
    }


def _with(decision: Decision, outcome: Outcome, *reasons: str) -> Decision:
    return decision.model_copy(update={"outcome": outcome, "reasons": list(reasons)}, deep=True)


def _value_vs_threshold(change: AlarmChange, breaching: bool = True) -> str:
    value = "?" if change.value is None else f"{change.value:g}"
    threshold = "?" if change.threshold is None else f"{change.threshold:g}"
    op = _OPS.get(change.comparison or "", "vs") if breaching else "vs"
    return f"value {value} {op} threshold {threshold}"


_OPS = {
    "GreaterThanOrEqualToThreshold": "≥",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "≤",
}


def collapses(alert: Alert | None, notice: AlarmNotice) -> bool:
    """Whether a recovery or re-alarm notice folds into the alert's status line instead of a new reply.

    An alert thread takes at most :data:`MAX_THREAD_REPLIES` replies; a flapping alarm's further changes
    are counted and edit the alert message's status line (no new message), at most once per
    :data:`STATUS_EDIT_EVERY` (:func:`status_edit_due`); the line says as of when it is.
    """
    if notice not in ("recovery", "reply") or alert is None or not alert.decision_id:
        return False
    return alert.replies >= MAX_THREAD_REPLIES


def status_edit_due(alert: Alert, at: datetime) -> bool:
    """Whether a folded change edits the status line now: at most one edit per ``STATUS_EDIT_EVERY`` of
    the alarm's own state timestamps, so 100 changes in 5 minutes make at most 11 edits."""
    return alert.edited_at is None or at - alert.edited_at >= STATUS_EDIT_EVERY


def flapping_status(flaps: int, state: str, at: datetime) -> str:
    """The alert's status line while the alarm flaps."""
    return (
        f"↻ flapping: {flaps} more state change{'s' if flaps != 1 else ''} since this alert; "
        f"now {state} (at {at.strftime('%H:%M:%S %Z').strip()})"
    )
