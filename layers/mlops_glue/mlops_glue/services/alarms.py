"""CloudWatch alarm -> emergency retraining -> Slack on-call: decide, act, notify (the event is parsed at
the edge, :mod:`.alarm_events`).

Exactly once, without a lock service:

* each transition (alarm + state + state timestamp) is one action, claimed once (:mod:`mlops_glue.claims`,
  keyed by its decision id): a redelivery finds it done and runs nothing; a concurrent duplicate finds it
  in progress and leaves it to its owner; an invocation that died holding it is taken over after
  ``CLAIM_TTL``;
* the emergency ledger is the commit point: a training is reserved there under optimistic concurrency
  before it is submitted, so two different ALARM transitions racing for one model start one training;
* the workflow name derives from the decision id, so a retried submission finds "already exists";
* a notice Slack refuses waits in the outbox (:mod:`mlops_glue.outbox`) for the sweep, like every flow's:
  the delivery is not failed for it. The alarm's state document (:class:`~mlops_glue.documents.AlarmState`)
  keeps the newest state seen and the alert posted, so recoveries and re-alarms reply in its thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlops_glue.adapters.argo import ArgoError, ArgoRejectedError, Submitted, WorkflowSubmitter
from mlops_glue.adapters.slack import Message, Notifier, Posted, escape
from mlops_glue.adapters.state import StateStore
from mlops_glue.claims import claim, release
from mlops_glue.config import GlueConfig
from mlops_glue.decisions import emergency
from mlops_glue.decisions.budget import record_run
from mlops_glue.decisions.emergency import AlarmChange, AlarmPlan
from mlops_glue.documents import AlarmState, Alert, Ledger
from mlops_glue.keys import claim_key
from mlops_glue.outbox import post_or_keep
from mlops_glue.records import Decision, Outcome, utcnow
from mlops_glue.replay.recorder import NULL_RECORDER, EventRecorder
from mlops_glue.repositories import ALARMS, EMERGENCY_LEDGERS, LAST_DATASETS
from mlops_glue.services.alarm_events import changes_from_event

logger = logging.getLogger(__name__)

CLAIM_TTL = timedelta(minutes=2)  # longer than one invocation: a claim older than this was abandoned


class EmergencySubmitError(RuntimeError):
    """The emergency workflow could not be submitted; the delivery must be retried (then the DLQ)."""


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
        """One transition, once: claimed, decided, acted on, remembered, told."""
        did = emergency.decision_id_for(change)
        action = claim_key(did)
        state = ALARMS.at(self.store, change.alarm_name).load()  # read once: the rules decide on it
        if _handled_before_claims(state, change, did):
            return self._duplicate(change, did, state)
        owner = claim(self.store, action, CLAIM_TTL, self._clock())
        if owner is None:
            return self._duplicate(change, did, state)
        try:
            result = self._handle(change, self._clock(), state)
        except BaseException:
            release(self.store, action, "failed", self._clock(), owner)  # the retried delivery does it
            raise
        release(self.store, action, "done", self._clock(), owner)
        return result

    def _handle(self, change: AlarmChange, now: datetime, state: AlarmState | None) -> Result:
        self.recorder.alarm(
            change, emergency.model_for_alarm(change, self.cfg, self.stage)[0], self.stage, now
        )
        prior = self.store.get_decision(emergency.decision_id_for(change))
        if prior is not None and prior.outcome is Outcome.ACTED:
            return self._finish_acted(change, prior)
        plan = self._decide(change, now, state)
        submitted = None
        if plan.train:
            won, ledger = self._reserve(plan, now)
            if not won:  # another emergency took the slot meanwhile: decide again on the fresh ledger
                plan = self._decide(change, now, state, ledger=ledger)
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
        remembered = self._remember(change, plan)
        posted = self._notify(plan, change, remembered.alert) if plan.notice != "none" else None
        return Result(plan.decision, submitted=submitted, posted=posted)

    def _finish_acted(self, change: AlarmChange, prior: Decision) -> Result:
        """A retry of a transition an earlier attempt trained for, then failed after recording (a late
        retry may come after newer states of the alarm): its ACTED decision stands, where deciding again
        would record "stale" or "debounced" over it, and nothing trains again. What that attempt may not
        have finished is done: the alarm's state, and the alert unless the alarm already holds it."""
        logger.warning(
            "retry of an emergency already started: its decision stands",
            extra={"decision_id": prior.decision_id, "alarm": change.alarm_name},
        )
        plan = AlarmPlan(prior, notice="alert")
        remembered = self._remember(change, plan)
        posted = None
        if remembered.alert is None or remembered.alert.decision_id != prior.decision_id:
            posted = self._notify(plan, change, remembered.alert)
        return Result(prior, duplicate=True, posted=posted)

    def _decide(
        self, change: AlarmChange, now: datetime, state: AlarmState | None, *, ledger: Ledger | None = None
    ) -> AlarmPlan:
        """Load what the rules read besides the alarm's ``state`` (the model's emergency ledger and latest
        data window) and decide; ``ledger`` given: decide again on that one."""
        model, _ = emergency.model_for_alarm(change, self.cfg, self.stage)
        last = None
        if model is not None:
            ledger = ledger or EMERGENCY_LEDGERS.at(self.store, model).load()
            last = LAST_DATASETS.at(self.store, model).load()
        return emergency.decide(
            change,
            self.cfg,
            stage=self.stage,
            now=now,
            alarm_doc=state,
            ledger=ledger,
            last_dataset=last,
        )

    def _duplicate(self, change: AlarmChange, did: str, state: AlarmState | None) -> Result:
        """A transition handled (or being handled) by another delivery: nothing runs again."""
        decision = self.store.get_decision(did)
        logger.info("duplicate alarm delivery %s", change.identity, extra={"decision_id": did})
        if decision is None:  # its owner is still at it: say what it is deciding, act on nothing
            decision = self._decide(change, self._clock(), state).decision
        return Result(decision, duplicate=True)

    # -- act

    def _reserve(self, plan: AlarmPlan, now: datetime) -> tuple[bool, Ledger | None]:
        """Reserve the emergency run in the ledger (the commit point): (won, the ledger as last read)."""
        model_cfg = self.cfg.model(plan.decision.model)
        did = plan.decision.decision_id
        gpu = model_cfg.retrain.budget.gpu_hours_per_run

        def reserve(ledger: Ledger | None) -> Ledger | None:
            debounce, blocked = emergency.blocking_reasons(ledger, now, model_cfg, did)
            if debounce or blocked or (ledger is not None and ledger.has(did)):
                return None  # lost the slot, or a retried delivery of this very decision
            return record_run(ledger, now, gpu, did)

        changed = EMERGENCY_LEDGERS.at(self.store, plan.decision.model).change(reserve)
        ledger = changed.before
        won = changed.written or (ledger is not None and ledger.has(did))
        return won, ledger

    def _release(self, plan: AlarmPlan) -> None:
        did = plan.decision.decision_id
        EMERGENCY_LEDGERS.at(self.store, plan.decision.model).change(
            lambda ledger: ledger.without(did) if ledger is not None and ledger.has(did) else None
        )

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

    def _remember(self, change: AlarmChange, plan: AlarmPlan) -> AlarmState:
        """Keep the alarm's newest state (an older, late delivery never moves it back); returns it."""

        def newest(doc: AlarmState | None) -> AlarmState:
            doc = doc or AlarmState(alarm=change.alarm_name)
            doc.model = plan.decision.model
            if not doc.is_newer(change.state_timestamp):
                doc.state, doc.timestamp = change.state, change.state_timestamp
            return doc

        written = ALARMS.at(self.store, change.alarm_name).change(newest).after
        assert written is not None  # ``newest`` always writes
        return written

    def _notify(self, plan: AlarmPlan, change: AlarmChange, alert: Alert | None) -> Posted:
        """Post the plan's notice; ``alert``: the alarm's open alert as just written (its thread)."""
        if emergency.collapses(alert, plan.notice):
            assert alert is not None
            return self._collapse(plan, change)
        thread_ts = (
            alert.ts if alert and plan.notice in ("recovery", "reply") and self.notifier.threads else None
        )
        if plan.notice == "reply" and thread_ts is None:
            return Posted(True)  # a flapping re-alarm without a thread to reply in: the first alert covers it
        message = build_message(plan, change, self.cfg, thread_ts)
        posted = post_or_keep(self.notifier, self.store, plan.decision.model, message)
        if posted.ok:
            self._posted(change, plan, message, posted)
        return posted

    def _posted(self, change: AlarmChange, plan: AlarmPlan, message: Message, posted: Posted) -> None:
        """Remember the alert (its thread) or count a reply in it."""

        def remember(doc: AlarmState | None) -> AlarmState | None:
            if doc is None:
                return None
            if plan.notice == "alert":
                doc.alert = Alert(
                    decision_id=plan.decision.decision_id,
                    ts=posted.ts,
                    channel=posted.channel,
                    text=message.text[:600],
                )
            elif doc.alert is not None:
                doc.alert.replies += 1
            return doc

        ALARMS.at(self.store, change.alarm_name).change(remember)

    def _collapse(self, plan: AlarmPlan, change: AlarmChange) -> Posted:
        """A flapping alarm's change past the thread's reply budget: count it and edit the alert's status
        line (a bot token is needed to edit; without one the count is kept and logged)."""

        def bump(doc: AlarmState | None) -> AlarmState | None:
            if doc is None or doc.alert is None:
                return None
            alert = doc.alert
            alert.flaps += 1
            alert.state = change.state
            if emergency.status_edit_due(alert, change.state_timestamp):
                alert.edited_at = change.state_timestamp
            return doc

        changed = ALARMS.at(self.store, change.alarm_name).change(bump)
        alert = changed.after.alert if changed.after else None
        before = changed.before.alert if changed.before else None
        if alert is None or (before is not None and before.edited_at == alert.edited_at):
            logger.info("flapping change counted", extra={"alarm": change.alarm_name, "state": change.state})
            return Posted(True)
        status = emergency.flapping_status(alert.flaps, change.state, change.state_timestamp)
        edit = getattr(self.notifier, "update", None)
        if edit is None or not self.notifier.threads or not alert.ts:
            logger.info(
                "flapping change folded into the alert", extra={"alarm": change.alarm_name, "status": status}
            )
            return Posted(True)
        text = f"{alert.text}\n{status}"
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": alert.text[:2900]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": status}]},
        ]
        posted: Posted = edit(Message(text, blocks, alert.channel), alert.ts)
        if not posted.ok:  # a status edit is not retried: the next change edits it again
            logger.warning(
                "alert status not edited", extra={"alarm": change.alarm_name, "error": posted.error}
            )
        return Posted(True, ts=posted.ts, channel=posted.channel)


def _handled_before_claims(doc: AlarmState | None, change: AlarmChange, did: str) -> bool:
    """Whether the release before claims handled this transition: it kept the identities it handled in
    the alarm document's ``seen`` and each notice under ``notices`` (``ts`` set once posted, or settled).
    A redelivery of such a transition after the upgrade has no claim document and must not page again;
    one whose notice was claimed but never posted is handled again (as that release would have)."""
    extra = (doc.model_extra or {}) if doc is not None else {}
    seen = extra.get("seen")
    if not isinstance(seen, list) or change.identity not in seen:
        return False
    notices = extra.get("notices")
    notice = notices.get(did) if isinstance(notices, dict) else None
    return not isinstance(notice, dict) or bool(notice.get("ts"))


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
