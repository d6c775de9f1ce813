"""CloudWatch alarm -> emergency retraining -> Slack on-call: decide, act, notify (the event is parsed at
the edge, :mod:`.alarm_events`).

Exactly once, without a lock service:

* a delivery whose identity (alarm + state + state timestamp) the alarm's state document has already
  recorded is a duplicate: nothing runs again (a notice that failed earlier is posted again);
* the emergency ledger is the commit point: a training is reserved there under optimistic concurrency
  before it is submitted, so two different ALARM transitions racing for one model start one training;
* the workflow name derives from the decision id, so a retried submission finds "already exists";
* the right to post a notice is claimed in the alarm document with a lease, so concurrent duplicates
  post once, and a crash between claim and post is retried after the lease.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlops_glue.adapters.argo import ArgoError, ArgoRejectedError, Submitted, WorkflowSubmitter
from mlops_glue.adapters.slack import Message, Notifier, Posted, escape
from mlops_glue.adapters.state import StateError, StateStore
from mlops_glue.config import GlueConfig
from mlops_glue.decisions import emergency
from mlops_glue.decisions.budget import record_run
from mlops_glue.decisions.emergency import AlarmChange, AlarmPlan
from mlops_glue.keys import emergency_ledger_key, last_dataset_key
from mlops_glue.records import Decision, Outcome, utcnow
from mlops_glue.replay.recorder import NULL_RECORDER, EventRecorder
from mlops_glue.services.alarm_events import changes_from_event

logger = logging.getLogger(__name__)

NOTICE_LEASE = timedelta(minutes=2)  # longer than one invocation: a claim older than this was abandoned
SEEN_LIMIT = 50


class EmergencySubmitError(RuntimeError):
    """The emergency workflow could not be submitted; the delivery must be retried (then the DLQ)."""


class NoticeNotSentError(RuntimeError):
    """The on-call notice could not be posted; the action stands, the delivery is retried for the notice."""


# ------------------------------------------------------------------------------------------ messages


def _mention(oncall: str | None) -> str:
    return f"{oncall} " if oncall else ""


def build_message(plan: AlarmPlan, change: AlarmChange, cfg: GlueConfig, thread_ts: str | None) -> Message:
    """The on-call alert, the recovery or the re-alarm reply, as Block Kit."""
    d = plan.decision
    model_cfg = cfg.models.get(d.model)
    notify = model_cfg.notify if model_cfg else None
    channel = notify.slack_channel if notify else None
    value = "?" if change.value is None else f"{change.value:g}"
    threshold = "?" if change.threshold is None else f"{change.threshold:g}"
    workflow = d.action.get("workflow_url") or d.action.get("workflow")
    links = [f"<{change.console_url}|alarm>"] if change.console_url else []
    if workflow:
        links.append(f"<{workflow}|workflow {d.action.get('workflow', '')}>")
    if plan.notice == "recovery":
        text = f":white_check_mark: {d.model}: {escape(change.alarm_name)} is back to OK (value {value}, threshold {threshold})"
    elif plan.notice == "reply":
        text = f":repeat: {escape(change.alarm_name)} is in ALARM again (value {value}); {escape('; '.join(d.reasons[1:]))}"
    else:
        head = (
            "emergency retraining started"
            if d.outcome is Outcome.ACTED
            else "NO emergency retraining: " + escape("; ".join(d.reasons[1:]))
        )
        mention = _mention(notify.oncall if notify else None)
        text = f"{mention}:rotating_light: {d.model}: {escape(change.alarm_name)} in ALARM — {head}"
    fields = [
        f"*Model*\n{d.model}",
        f"*Metric*\n{escape(change.metric_label())}",
        f"*Recent value*\n{value}",
        f"*Threshold*\n{threshold} ({change.comparison or 'see alarm'})",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
    ]
    if plan.notice == "alert":
        blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]})
    context = [*links, f"decision `{d.decision_id}`"]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    return Message(text=text, blocks=blocks, channel=channel, thread_ts=thread_ts)


# ------------------------------------------------------------------------------------------ service

SubmitFn = Callable[..., Submitted]


@dataclass(frozen=True)
class Result:
    """What happened to one alarm change."""

    decision: Decision
    duplicate: bool = False
    submitted: Submitted | None = None
    posted: Posted | None = None


class AlarmService:
    """decide -> act -> notify for alarm state changes. Every adapter is injected."""

    recorder: EventRecorder = NULL_RECORDER  # what replay needs of each transition (runtime wires it)

    def __init__(
        self,
        cfg: GlueConfig,
        store: StateStore,
        submitter: WorkflowSubmitter,
        notifier: Notifier,
        *,
        stage: str,
        submit: SubmitFn | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.submitter = submitter
        self.notifier = notifier
        self.stage = stage
        self._submit = submit
        self._clock = clock

    def handle_event(self, event: Any) -> list[Result]:
        """Every alarm change in one delivery (SNS may batch; EventBridge sends one)."""
        return [self.handle(change) for change in changes_from_event(event)]

    def handle(self, change: AlarmChange) -> Result:
        now = self._clock()
        akey = emergency.alarm_key(change.alarm_name)
        got = self.store.get(*akey)
        alarm_doc = got.data if got else None
        if alarm_doc and change.identity in alarm_doc.get("seen", []):
            return self._duplicate(change, alarm_doc, now)

        model, _ = emergency.model_for_alarm(change, self.cfg, self.stage)
        self.recorder.alarm(change, model, self.stage, now)
        ledger = last = None
        if model is not None:
            led = self.store.get(*emergency_ledger_key(model))
            ledger = led.data if led else None
            ds = self.store.get(*last_dataset_key(model))
            last = ds.data if ds else None
        decide = functools.partial(
            emergency.decide,
            change,
            self.cfg,
            stage=self.stage,
            now=now,
            alarm_doc=alarm_doc,
            last_dataset=last,
        )
        plan = decide(ledger=ledger)
        submitted = None
        if plan.train:
            won, ledger = self._reserve(plan, now)
            if not won:  # another emergency took the slot meanwhile: decide again on the fresh ledger
                plan = decide(ledger=ledger)
        if plan.train:
            try:
                submitted = self._submit_training(plan)
            except ArgoRejectedError as exc:  # 4xx, or a 409 for a workflow not ours: a retry cannot help
                plan = _rejected_by_argo(plan, exc)
        self.store.record_decision(plan.decision)
        logger.info(
            plan.decision.summary(),
            extra={"decision_id": plan.decision.decision_id, "outcome": plan.decision.outcome.value},
        )
        claimed = self._mark_seen(change, plan, now)
        posted = self._notify(plan, change) if claimed else None
        if posted is not None and not posted.ok:
            raise NoticeNotSentError(
                f"{plan.decision.decision_id}: Slack notice not sent ({posted.error}); retry the delivery"
            )
        return Result(plan.decision, submitted=submitted, posted=posted)

    # -- act

    def _reserve(self, plan: AlarmPlan, now: datetime) -> tuple[bool, dict[str, Any] | None]:
        """Reserve the emergency run in the ledger (the commit point): (won, the ledger as last read)."""
        model_cfg = self.cfg.model(plan.decision.model)
        did = plan.decision.decision_id
        seen: list[dict[str, Any] | None] = []
        lost: list[bool] = []

        def reserve(ledger: dict[str, Any] | None) -> dict[str, Any] | None:
            seen[:], lost[:] = [ledger], []
            debounce, blocked = emergency.blocking_reasons(ledger, now, model_cfg, did)
            if debounce or blocked:
                lost.append(True)
                return None
            if any(r.get("decision_id") == did for r in (ledger or {}).get("runs", [])):
                return None  # a retried delivery of this very decision: already reserved
            return record_run(ledger, now, model_cfg.retrain.budget.gpu_hours_per_run, did)

        self.store.update(*emergency_ledger_key(plan.decision.model), reserve)
        return not lost, seen[0] if seen else None

    def _release(self, plan: AlarmPlan) -> None:
        did = plan.decision.decision_id

        def drop(ledger: dict[str, Any] | None) -> dict[str, Any] | None:
            runs = (ledger or {}).get("runs", [])
            kept = [r for r in runs if r.get("decision_id") != did]
            return None if len(kept) == len(runs) else {**(ledger or {}), "runs": kept}

        self.store.update(*emergency_ledger_key(plan.decision.model), drop)

    def _submit_training(self, plan: AlarmPlan) -> Submitted:
        submit = self._submit
        if submit is None:
            from mlops_glue.services.training import submit_training

            submit = submit_training
        d = plan.decision
        try:
            submitted = submit(
                d,
                self.cfg.model(d.model),
                dataset_manifest_uri=plan.dataset_uri or "",
                priority=plan.priority,
                submitter=self.submitter,
                argo=self.cfg.argo,
            )
        except ArgoRejectedError:
            self._release(plan)
            raise
        except ArgoError as exc:
            self._release(plan)
            failed = d.model_copy(
                update={
                    "outcome": Outcome.FAILED,
                    "reasons": [*d.reasons, f"Argo submission failed: {exc}"],
                },
                deep=True,
            )
            self.store.record_decision(failed)
            raise EmergencySubmitError(
                f"{d.decision_id}: emergency workflow for {d.model} not submitted: {exc}"
            ) from exc
        d.action["workflow"] = submitted.name
        d.action["namespace"] = submitted.namespace
        if submitted.url:
            d.action["workflow_url"] = submitted.url
        return submitted

    # -- remember and notify

    def _mark_seen(self, change: AlarmChange, plan: AlarmPlan, now: datetime) -> bool:
        """Record the identity and the newest state; claim the notice. True: this call must post it."""
        did = plan.decision.decision_id
        claimed: list[bool] = []

        def mark(doc: dict[str, Any] | None) -> dict[str, Any]:
            claimed.clear()
            doc = dict(doc or {"alarm": change.alarm_name})
            doc["model"] = plan.decision.model
            seen = [i for i in doc.get("seen", []) if i != change.identity]
            doc["seen"] = [*seen, change.identity][-SEEN_LIMIT:]
            ts = change.state_timestamp.isoformat()
            if not doc.get("timestamp") or datetime.fromisoformat(doc["timestamp"]) <= change.state_timestamp:
                doc["state"], doc["timestamp"] = change.state, ts
            notices = dict(doc.get("notices", {}))
            if plan.notice != "none" and _claimable(notices.get(did), now):
                notices[did] = {"claimed_at": now.isoformat(), "ts": None}
                claimed.append(True)
            doc["notices"] = dict(list(notices.items())[-SEEN_LIMIT:])
            return doc

        self.store.update(*emergency.alarm_key(change.alarm_name), mark)
        return bool(claimed)

    def _notify(self, plan: AlarmPlan, change: AlarmChange) -> Posted:
        akey = emergency.alarm_key(change.alarm_name)
        got = self.store.get(*akey)
        alert = (got.data if got else {}).get("alert") or {}
        if emergency.collapses(alert, plan.notice):
            return self._collapse(plan, change)
        thread_ts = None
        if plan.notice in ("recovery", "reply") and self.notifier.threads:
            thread_ts = alert.get("ts")
        if plan.notice == "reply" and thread_ts is None:
            # a flapping re-alarm without a thread to reply in stays quiet: the first alert covers it
            self._forget_claim(change, plan)
            return Posted(True)
        message = build_message(plan, change, self.cfg, thread_ts)
        posted = self.notifier.post(message)
        did = plan.decision.decision_id
        now_iso = self._clock().isoformat()

        def store_ts(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None:
                return None
            notices = dict(doc.get("notices", {}))
            if not posted.ok:
                notices.pop(did, None)  # release the claim: the retried delivery posts it
            else:
                notices[did] = {"claimed_at": now_iso, "ts": posted.ts or "sent"}
                if plan.notice == "alert":
                    doc["alert"] = {
                        "decision_id": did,
                        "ts": posted.ts,
                        "channel": posted.channel,
                        "text": message.text[:600],
                        "replies": 0,
                        "flaps": 0,
                    }
                elif doc.get("alert"):
                    doc["alert"] = {**doc["alert"], "replies": int(doc["alert"].get("replies", 0)) + 1}
            doc["notices"] = notices
            return doc

        self.store.update(*akey, store_ts)
        return posted

    def _collapse(self, plan: AlarmPlan, change: AlarmChange) -> Posted:
        """A flapping alarm's change past the thread's reply budget: count it and edit the alert's status
        line (a bot token is needed to edit; without one the count is kept and logged)."""
        did = plan.decision.decision_id
        now_iso = self._clock().isoformat()
        seen: list[dict[str, Any]] = []

        def bump(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            seen.clear()
            if doc is None or not doc.get("alert"):
                return None
            notices = dict(doc.get("notices", {}))
            notices[did] = {"claimed_at": now_iso, "ts": "collapsed"}
            alert = {**doc["alert"], "flaps": int(doc["alert"].get("flaps", 0)) + 1, "state": change.state}
            due = emergency.status_edit_due(alert, change.state_timestamp)
            if due:
                alert["edited_at"] = change.state_timestamp.isoformat()
            seen[:] = [alert, {"due": due}]
            return {**doc, "alert": alert, "notices": notices}

        self.store.update(*emergency.alarm_key(change.alarm_name), bump)
        if not seen or not seen[1]["due"]:
            logger.info("flapping change counted", extra={"alarm": change.alarm_name, "state": change.state})
            return Posted(True)
        alert = seen[0]
        status = emergency.flapping_status(int(alert["flaps"]), change.state, change.state_timestamp)
        edit = getattr(self.notifier, "update", None)
        if edit is None or not self.notifier.threads or not alert.get("ts"):
            logger.info(
                "flapping change folded into the alert", extra={"alarm": change.alarm_name, "status": status}
            )
            return Posted(True)
        text = f"{alert.get('text', '')}\n{status}"
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": str(alert.get("text", ""))[:2900]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": status}]},
        ]
        posted: Posted = edit(Message(text, blocks, alert.get("channel")), str(alert["ts"]))
        if not posted.ok:  # a status edit is not retried: the next change edits it again
            logger.warning(
                "alert status not edited", extra={"alarm": change.alarm_name, "error": posted.error}
            )
        return Posted(True, ts=posted.ts, channel=posted.channel)

    def _forget_claim(self, change: AlarmChange, plan: AlarmPlan) -> None:
        did = plan.decision.decision_id

        def settle(doc: dict[str, Any] | None) -> dict[str, Any] | None:
            if doc is None:
                return None
            notices = dict(doc.get("notices", {}))
            notices[did] = {"claimed_at": notices.get(did, {}).get("claimed_at"), "ts": "skipped"}
            return {**doc, "notices": notices}

        self.store.update(*emergency.alarm_key(change.alarm_name), settle)

    def _duplicate(self, change: AlarmChange, alarm_doc: dict[str, Any], now: datetime) -> Result:
        """A delivery already handled: post its notice only if that earlier post failed or was abandoned."""
        did = emergency.decision_id_for(change)
        decision = self.store.get_decision(did)
        logger.info("duplicate alarm delivery %s", change.identity, extra={"decision_id": did})
        if decision is None:
            raise StateError(f"{did}: delivery seen but its decision is not readable yet; retry")
        notice = alarm_doc.get("notices", {}).get(did)
        wanted = _notice_for(decision)
        posted = None
        if wanted != "none" and _claimable(notice, now) and (notice is None or not notice.get("ts")):
            plan = AlarmPlan(decision, notice=wanted)
            if self._mark_seen(change, plan, now):
                posted = self._notify(plan, change)
                if not posted.ok:
                    raise NoticeNotSentError(f"{did}: Slack notice not sent ({posted.error})")
        return Result(decision, duplicate=True, posted=posted)


def _rejected_by_argo(plan: AlarmPlan, exc: ArgoRejectedError) -> AlarmPlan:
    """The decision FAILED with Argo's answer and an on-call alert saying no training runs (not retried)."""
    failed = plan.decision.model_copy(
        update={
            "outcome": Outcome.FAILED,
            "reasons": [
                *plan.decision.reasons,
                f"Argo rejected the emergency workflow, not retried: {exc}"[:600],
            ],
        },
        deep=True,
    )
    logger.error(
        "emergency workflow rejected by Argo",
        extra={"decision_id": failed.decision_id, "error": str(exc)[:300]},
    )
    return AlarmPlan(failed, notice="alert")


def _claimable(notice: dict[str, Any] | None, now: datetime) -> bool:
    if notice is None:
        return True
    if notice.get("ts"):
        return False
    claimed_at = notice.get("claimed_at")
    return not claimed_at or now - datetime.fromisoformat(claimed_at) > NOTICE_LEASE


def _notice_for(decision: Decision) -> emergency.AlarmNotice:
    if decision.kind.value == "notify_only":
        return "recovery" if decision.outcome is Outcome.ACTED else "none"
    if decision.outcome in (Outcome.ACTED, Outcome.REJECTED, Outcome.FAILED):
        return "alert"
    if decision.outcome is Outcome.IGNORED and any(r.startswith("debounce") for r in decision.reasons):
        return "reply"
    return "none"


def summarize(results: Iterable[Result]) -> list[dict[str, Any]]:
    """The handler's return value: one line per change."""
    return [
        {
            "decision_id": r.decision.decision_id,
            "model": r.decision.model,
            "outcome": r.decision.outcome.value,
            "duplicate": r.duplicate,
            "workflow": r.decision.action.get("workflow"),
        }
        for r in results
    ]
