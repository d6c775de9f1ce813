"""The four flows' decisions over recorded events, with a simulated state and nothing acted on.

:class:`Simulation` feeds each recorded event, in order, to the flow's own pure rules —
``decisions.retrain.decide_window``, ``decisions.emergency.decide``, ``decisions.promote.evaluate_gate`` /
``guard_reasons`` / ``intent_for`` and ``decisions.feedback.decide`` — and keeps in memory what the
services keep in the state table: the open window of each model, the retraining and emergency ledgers
(cooldown, budget), each alarm's last state, the blocklist and pauses (``guards`` on a
:class:`~mlops_glue.adapters.state.MemoryStateStore`, the same code the services call), and what each
environment holds. Argo, Git, MLflow and Slack are never called. The scheduled sweep is simulated every
:data:`SWEEP_EVERY`, so a deferred window triggers when its cooldown or budget allows.

What replay cannot know is said, never guessed silently (:attr:`Simulation.notes`):

* a window's drift is the row-weighted mean of its files' recorded column scores (each file's own drift
  against the reference), judged with the configuration's thresholds and ``dataset_drift_share`` — exact
  for one-file windows, an approximation otherwise; a changed drift *method* is not re-run (the recorded
  scores are of the method in force when recorded);
* submissions are assumed to succeed at once (no Argo outage, nothing in flight but what the simulation
  submitted is tracked);
* Argo CD reports a deployment that happened: when the configuration replayed does not make the bump a
  notification reports, the notification is dropped from that run ("would not have happened");
* the gate needs what it read from MLflow: a gated version without recorded facts is not replayed.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlops_glue import guards
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import GlueConfig, ModelConfig
from mlops_glue.decisions import emergency
from mlops_glue.decisions import feedback as policy
from mlops_glue.decisions.budget import record_run
from mlops_glue.decisions.promote import evaluate_gate, guard_reasons, intent_for
from mlops_glue.decisions.retrain import DriftSummary, WindowStats, decide_window, readiness
from mlops_glue.documents import AlarmState, LastDataset, Ledger, Run
from mlops_glue.drift.verdict import DEFAULT_THRESHOLDS, P_VALUE_METHODS
from mlops_glue.names import InvalidNameError, canonical_version, version_number
from mlops_glue.records import Decision, Kind, Outcome, make_decision_id
from mlops_glue.replay import events as ev
from mlops_glue.replay.events import RecordedEvent

SWEEP_EVERY = timedelta(minutes=15)  # template.yaml's sweep schedule
DRIFT_REEVAL = 1.1  # as data arrival: judge drift again when the window grew by 10% since the last verdict


@dataclass(frozen=True)
class Decided:
    """One decision of a simulated run, as compared (kind, outcome, environment) and shown (reasons)."""

    kind: str
    outcome: str
    reasons: tuple[str, ...]
    environment: str | None = None
    decision_id: str = ""
    gpu_hours: float = 0.0

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.kind, self.outcome, self.environment)

    @classmethod
    def of(cls, d: Decision, gpu_hours: float = 0.0) -> Decided:
        return cls(d.kind.value, d.outcome.value, tuple(d.reasons), d.environment, d.decision_id, gpu_hours)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "outcome": self.outcome,
            "environment": self.environment,
            "reasons": list(self.reasons),
            "decision_id": self.decision_id,
        }


@dataclass(frozen=True)
class Moment:
    """Where decisions happen: one recorded event (``index``), or a sweep of one model at ``at``."""

    at: datetime
    flow: str
    model: str
    label: str
    index: int | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return ("event", self.index) if self.index is not None else ("sweep", self.model, self.at)


@dataclass
class Summary:
    retrainings: int = 0
    emergency_retrainings: int = 0
    gpu_hours: float = 0.0
    promotions: int = 0
    rollbacks: int = 0
    deferred: int = 0
    rejected: int = 0

    def add(self, d: Decided) -> None:
        if d.outcome == Outcome.ACTED.value and d.kind == Kind.RETRAIN.value:
            self.retrainings += 1
        elif d.outcome == Outcome.ACTED.value and d.kind == Kind.EMERGENCY_RETRAIN.value:
            self.emergency_retrainings += 1
        elif d.outcome == Outcome.ACTED.value and d.kind == Kind.PROMOTE.value:
            self.promotions += 1
        elif d.outcome == Outcome.ACTED.value and d.kind == Kind.ROLLBACK.value:
            self.rollbacks += 1
        if d.outcome == Outcome.DEFERRED.value:
            self.deferred += 1
        if d.outcome == Outcome.REJECTED.value:
            self.rejected += 1
        self.gpu_hours += d.gpu_hours

    def to_dict(self) -> dict[str, Any]:
        return {
            "retrainings": self.retrainings,
            "emergency_retrainings": self.emergency_retrainings,
            "gpu_hours": round(self.gpu_hours, 3),
            "promotions": self.promotions,
            "rollbacks": self.rollbacks,
            "deferred": self.deferred,
            "rejected": self.rejected,
        }


@dataclass
class _Window:
    seq: int
    opened_at: datetime
    rows: int = 0
    files: int = 0
    scores: dict[str, list[Any]] = field(default_factory=dict)  # column -> [method, sum(score*rows), rows]
    drift: DriftSummary | None = None
    drift_rows: int = 0
    deferred: str | None = None
    unknown_drift: int = 0  # files recorded without a drift summary

    @property
    def window_id(self) -> str:
        return f"w{self.seq:06d}"


class _ReplayConfig(GlueConfig):
    """The configuration with its hash computed once (the rules put it on every decision)."""

    def hash(self) -> str:
        cached: str | None = self.__dict__.get("_replay_hash")
        if cached is None:
            cached = super().hash()
            self.__dict__["_replay_hash"] = cached
        return cached


def replay_config(cfg: GlueConfig) -> GlueConfig:
    """A copy of ``cfg`` whose hash is computed once (decisions carry it; replays make 100,000s)."""
    return _ReplayConfig.model_construct(**{k: getattr(cfg, k) for k in GlueConfig.model_fields})


class Simulation:
    """One configuration over a sequence of recorded events (see the module docstring)."""

    def __init__(self, cfg: GlueConfig, *, decided_elsewhere: set[str] | None = None) -> None:
        self.cfg = replay_config(cfg)
        self.store = MemoryStateStore()  # blocklists and pauses, through guards (the services' own code)
        self.windows: dict[str, _Window] = {}
        self.runs: dict[str, list[tuple[datetime, str, float, str]]] = {}  # retraining ledger, in time order
        self._times: dict[str, list[datetime]] = {}
        self._cum: dict[str, list[float]] = {}
        self.emergency_ledgers: dict[str, Ledger] = {}
        self.alarm_docs: dict[str, AlarmState] = {}
        self.alarms_seen: set[str] = set()  # transitions handled (the live flow's claims)
        self.last_dataset: dict[str, LastDataset] = {}
        self.held: dict[tuple[str, str], str] = {}
        self.decided: dict[str, Decided] = {}  # decision id -> the decision (repeats are duplicates)
        self.facts: dict[str, dict[str, Any]] = {}  # promotion input id -> what the gate read
        self.notes: list[str] = []
        self.steps: list[tuple[Moment, list[Decided]]] = []
        self.summary = Summary()
        self.why: dict[int, str] = {}  # event index -> why it made no decision here (when not obvious)
        self._why: str | None = None
        self._thresholds: dict[tuple[str, str, str], tuple[float, bool]] = {}
        self._next_sweep: datetime | None = None
        self._warned: set[str] = set()

    # ---------------------------------------------------------------- driving
    def run(self, events: Iterable[RecordedEvent], until: datetime | None = None) -> Simulation:
        events = list(events)
        for e in events:
            if e.kind == "gate_facts":
                self.facts.setdefault(str(e.input.get("input_id", "")), e.input)
        last = None
        for i, e in enumerate(events):
            self._sweeps_until(e.at)
            last = e.at
            if e.kind == "gate_facts":
                continue
            moment = Moment(e.at, e.flow, e.model, label_of(e), i)
            self._why = None
            try:
                out = self._step(e)
            except Exception as exc:  # a record this code cannot replay: said, with the event
                self._note(
                    f"event {i} ({e.flow} {e.model} at {e.at.isoformat()}) not replayed: "
                    f"{type(exc).__name__}: {str(exc)[:200]}"
                )
                out = []
                self._why = f"not replayed: {type(exc).__name__}: {str(exc)[:200]}"
            if self._why:
                self.why[i] = self._why
            self._emit(moment, out)
        if until is not None or last is not None:
            self._sweeps_until(until or last)  # type: ignore[arg-type]
        return self

    def _emit(self, moment: Moment, out: list[Decided]) -> None:
        for d in out:
            self.summary.add(d)
        if out:
            self.steps.append((moment, out))

    def _note(self, text: str, once: str | None = None) -> None:
        if once is not None:
            if once in self._warned:
                return
            self._warned.add(once)
        self.notes.append(text)

    def _step(self, e: RecordedEvent) -> list[Decided]:
        if e.model not in self.cfg.models:
            self._note(
                f"model {e.model} is not in this configuration: its events are not replayed", once=e.model
            )
            return []
        if e.flow == "data_arrival":
            return self._object(e)
        if e.flow == "alarms":
            return self._alarm(e)
        if e.flow == "promotion":
            return self._webhook(e)
        return self._notification(e)

    # ---------------------------------------------------------------- data arrival
    def _sweeps_until(self, t: datetime) -> None:
        if self._next_sweep is None:
            base = t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)
            self._next_sweep = base + SWEEP_EVERY
            return
        while self._next_sweep <= t:
            at = self._next_sweep
            for model, w in self.windows.items():
                if w.rows:
                    out = self._judge(model, self.cfg.model(model), w, at)
                    if out:
                        self._emit(Moment(at, "data_arrival", model, "sweep"), out)
            self._next_sweep = at + SWEEP_EVERY

    def _object(self, e: RecordedEvent) -> list[Decided]:
        mcfg = self.cfg.model(e.model)
        if mcfg.data is None:
            self._note(
                f"{e.model} has no data section in this configuration: its objects are not replayed",
                once=f"data:{e.model}",
            )
            return []
        w = self.windows.get(e.model)
        if w is None:
            w = self.windows[e.model] = _Window(0, e.at)
        rows = int(e.input["rows"])
        if rows <= 0:
            return []
        w.rows += rows
        w.files += 1
        recorded: dict[str, Any] = e.input.get("scores") or {}
        if not recorded:
            w.unknown_drift += 1
        scores, isfinite = w.scores, math.isfinite
        for name, score in recorded.items():
            acc = scores.get(name)
            if acc is None:
                acc = scores[name] = [_method_of(e.input.get("methods") or {}, name), 0.0, 0]
            if score is not None and isfinite(score):
                acc[1] += score * rows
                acc[2] += rows
        drift = mcfg.retrain.drift
        if w.rows >= drift.min_rows and w.rows >= int(w.drift_rows * DRIFT_REEVAL):
            w.drift = self._drift(e.model, w, mcfg)
            w.drift_rows = w.rows
        return self._judge(e.model, mcfg, w, e.at)

    def _drift(self, model: str, w: _Window, mcfg: ModelConfig) -> DriftSummary | None:
        settings = mcfg.retrain.drift
        if not w.scores:
            return None
        if settings.method != "auto" or any(c.method for c in settings.columns.values()):
            self._note(
                "a drift method set in this configuration is not re-run: the recorded scores are of the "
                "method in force when they were recorded",
                once="method",
            )
        judged: list[tuple[str, float]] = []
        n = 0
        for name, (method, total, rows) in w.scores.items():
            if rows == 0:
                continue
            n += 1
            score = total / rows
            key = (model, name, method)
            rule = self._thresholds.get(key)
            if rule is None:
                rule = self._thresholds[key] = (_threshold(settings, name, method), method in P_VALUE_METHODS)
            threshold, p_value = rule
            if (score <= threshold) if p_value else (score >= threshold):
                judged.append((name, score))
        if n == 0:
            return None
        share = len(judged) / n
        judged.sort(key=lambda c: -c[1])
        dataset = share >= settings.dataset_drift_share
        return DriftSummary(
            verdict="drift" if dataset else "no_drift",
            drift_share=share,
            max_score=max((s for _, s in judged), default=0.0),
            drifted_columns=tuple(judged[:10]),
            dataset_drift=dataset,
        )

    def _judge(self, model: str, mcfg: ModelConfig, w: _Window, at: datetime) -> list[Decided]:
        stats = WindowStats(w.window_id, w.rows, w.files, w.opened_at, w.drift)
        trigger, _ = readiness(stats, mcfg.retrain, at)
        if trigger is None:
            return []
        verdict = decide_window(stats, mcfg.retrain, at, ledger=self._ledger(model, at), in_flight=None)
        if verdict.trigger is not None:
            did = make_decision_id("retrain", model, w.window_id)
            gpu = mcfg.retrain.budget.gpu_hours_per_run
            self.runs.setdefault(model, []).append((at, at.isoformat(), gpu, did))
            self._times.setdefault(model, []).append(at)
            cum = self._cum.setdefault(model, [0.0])
            cum.append(cum[-1] + gpu)  # cum[i]: GPU hours of runs[:i]
            self.last_dataset[model] = LastDataset(
                manifest_uri=f"replay://{model}/{w.window_id}", window_id=w.window_id
            )
            self.windows[model] = _Window(w.seq + 1, at)
            return [Decided(Kind.RETRAIN.value, Outcome.ACTED.value, tuple(verdict.reasons), None, did, gpu)]
        did = make_decision_id("retrain-deferred", w.window_id, *sorted(verdict.defer))
        if w.deferred == did:
            return []
        w.deferred = did
        return [Decided(Kind.RETRAIN.value, Outcome.DEFERRED.value, tuple(verdict.reasons), None, did)]

    def _ledger(self, model: str, now: datetime) -> Ledger | None:
        """The model's retraining ledger as ``decisions.budget`` reads it, without what cannot matter now.

        Cooldown reads the latest run, the daily budget the runs of the last 24 h, the monthly budget the
        sum of this calendar month's GPU hours: so the month's other runs are passed as one run holding
        their sum (at the newest of their times: older than 24 h, not the latest), and older months'
        runs are left out. The rules see the same facts and give the same reasons, in constant time
        however long the ledger (a month of a busy model is hundreds of runs).
        """
        runs = self.runs.get(model)
        if not runs:
            return None
        times, cum = self._times[model], self._cum[model]
        last = len(runs) - 1
        recent = bisect.bisect_right(times, now - timedelta(days=1))  # the runs younger than 24 h
        first = min(recent, last)  # ... and the latest, for the cooldown
        month = bisect.bisect_left(times, now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
        out = [Run(at=at, gpu_hours=gpu, decision_id=did) for at, _iso, gpu, did in runs[first:]]
        if month < first:  # this month's runs older than 24 h (and not the latest): one run with their sum
            hours = cum[first] - cum[month]
            out.insert(0, Run(at=runs[first - 1][0], gpu_hours=hours, decision_id="earlier this month"))
        return Ledger(runs=out)

    # ---------------------------------------------------------------- alarms
    def _alarm(self, e: RecordedEvent) -> list[Decided]:
        change, stage = ev.alarm_change(e.input)
        if change.identity in self.alarms_seen:
            return []
        self.alarms_seen.add(change.identity)
        doc = self.alarm_docs.get(change.alarm_name)
        model, _ = emergency.model_for_alarm(change, self.cfg, stage)
        plan = emergency.decide(
            change,
            self.cfg,
            stage=stage,
            now=e.at,
            alarm_doc=doc,
            ledger=self.emergency_ledgers.get(model or ""),
            last_dataset=self.last_dataset.get(model or "") or self._dataset_before(model),
        )
        doc = doc or AlarmState(alarm=change.alarm_name)
        if not doc.is_newer(change.state_timestamp):
            doc.state, doc.timestamp = change.state, change.state_timestamp
        self.alarm_docs[change.alarm_name] = doc
        gpu = 0.0
        if plan.train and model is not None:
            gpu = self.cfg.model(model).retrain.budget.gpu_hours_per_run
            self.emergency_ledgers[model] = record_run(
                self.emergency_ledgers.get(model), e.at, gpu, plan.decision.decision_id
            )
        return [Decided.of(plan.decision, gpu)]

    def _dataset_before(self, model: str | None) -> LastDataset | None:
        """Before the simulation closed a window, the model had its data (the period started mid-stream)."""
        if model is None or self.cfg.model(model).data is None:
            return None
        return LastDataset(manifest_uri=f"replay://{model}/before-the-period", window_id="before the period")

    # ---------------------------------------------------------------- promotion
    def _webhook(self, e: RecordedEvent) -> list[Decided]:
        event_type, data = str(e.input["event_type"]), dict(e.input["data"])
        input_id = str(e.input["input_id"])
        model = e.model
        promote = self.cfg.model(model).promote
        intent = intent_for(event_type, data, promote)
        if intent.action == "ignore":
            return []
        raw = str(data.get("version") or "")[:64]
        inputs = [input_id, f"mlflow:{event_type}:{model}:{raw}"]
        try:
            version = canonical_version(raw)
        except InvalidNameError as exc:
            d = self._decision(
                make_decision_id("promote", model, input_id),
                model,
                None,
                Kind.PROMOTE,
                Outcome.REJECTED,
                [intent.reason, str(exc)],
                e.at,
            )
            return [d]
        if intent.action == "block":
            guards.block_version(self.store, model, version, intent.reason, now=e.at)
            did = make_decision_id("block", model, version, input_id)
            return [
                self._decision(
                    did,
                    model,
                    None,
                    Kind.NOTIFY_ONLY,
                    Outcome.ACTED,
                    [intent.reason, "blocklisted: never promoted automatically"],
                    e.at,
                )
            ]
        if intent.action == "gate":
            return self._gate(model, version, inputs, e)
        return self._promote(
            model, version, intent.env or promote.production_environment, intent.reason, inputs, e.at, tags={}
        )

    def _gate(self, model: str, version: str, inputs: list[str], e: RecordedEvent) -> list[Decided]:
        promote = self.cfg.model(model).promote
        env = promote.staging_environment
        did = make_decision_id("promote", model, env, version, *inputs)
        facts = self.facts.get(inputs[0])
        if facts is None:
            raise LookupError(f"what the gate of v{version} read from MLflow was not recorded")
        champion = facts.get("champion")
        champion_metrics = facts.get("champion_metrics")
        if not promote.gate.must_beat:
            champion, champion_metrics = None, None
        result = evaluate_gate(
            promote.gate,
            {k: float(v) for k, v in (facts.get("metrics") or {}).items()},
            champion,
            None if champion_metrics is None else {k: float(v) for k, v in champion_metrics.items()},
            candidate_version=version,
        )
        if not result.passed:
            return [
                self._decision(
                    did,
                    model,
                    env,
                    Kind.PROMOTE,
                    Outcome.REJECTED,
                    [f"v{version} failed the gate", *result.reasons],
                    e.at,
                )
            ]
        return self._promote(
            model,
            version,
            env,
            f"v{version} passed the gate",
            inputs,
            e.at,
            tags=dict(facts.get("tags") or {}),
            decision_id=did,
            details=result.reasons,
            only_forward=True,
        )

    def _promote(
        self,
        model: str,
        version: str,
        env: str,
        reason: str,
        inputs: list[str],
        at: datetime,
        *,
        tags: dict[str, str],
        decision_id: str | None = None,
        details: list[str] | None = None,
        only_forward: bool = False,
    ) -> list[Decided]:
        did = decision_id or make_decision_id("promote", model, env, version, *inputs)
        reasons = [reason, *(details or [])]
        blocked = guard_reasons(
            version,
            env,
            guards.blocked_versions(self.store, model),
            tags,
            guards.active_pause(self.store, model, env, version),
        )
        if blocked:
            return [self._decision(did, model, env, Kind.PROMOTE, Outcome.REJECTED, [*reasons, *blocked], at)]
        held = self.held.get((model, env))
        if only_forward and held is not None and version_number(held) > int(version):
            why = f"{env} already runs v{held}, newer than v{version}"
            return [self._decision(did, model, env, Kind.PROMOTE, Outcome.IGNORED, [*reasons, why], at)]
        if held == version:
            why = f"{env} already holds v{version}"
            return [self._decision(did, model, env, Kind.PROMOTE, Outcome.IGNORED, [*reasons, why], at)]
        self.held[(model, env)] = version
        return [self._decision(did, model, env, Kind.PROMOTE, Outcome.ACTED, reasons, at)]

    def _decision(
        self,
        did: str,
        model: str,
        env: str | None,
        kind: Kind,
        outcome: Outcome,
        reasons: list[str],
        at: datetime,
    ) -> Decided:
        d = Decided(kind.value, outcome.value, tuple(reasons), env, did)
        self.decided.setdefault(did, d)
        return d

    # ---------------------------------------------------------------- feedback
    def _notification(self, e: RecordedEvent) -> list[Decided]:
        n = policy.ArgoCDNotification.model_validate(e.input["notification"])
        env = str(e.input["environment"])
        model = e.model
        dep = ev.deployment(e.input["deployment"])
        ours = policy.our_bump(dep.change, model, env)
        if ours is not None:
            made = self.decided.get(ours.decision_id)
            if made is not None and made.outcome != Outcome.ACTED.value:
                # this configuration did not make the bump the notification reports
                self._why = (
                    f"would not have happened: this configuration did not bump v{ours.version} "
                    f"({ours.decision_id} {made.outcome})"
                )
                return []
        did = policy.decision_id_for(n, policy.signal(n))
        if did in self.decided:
            return []  # a repeat: the service answers with the recorded decision
        version = ours.version if ours is not None and ours.version else None
        nxt = self.cfg.model(model).promote.auto_promote.get(env)
        last_ours = ev.bump(e.input.get("last_ours"))
        if last_ours is not None and last_ours.decision_id:
            before = self.decided.get(last_ours.decision_id)
            if before is not None and before.outcome != Outcome.ACTED.value:
                self._note(
                    f"{model} in {env}: the last bump of ours Git showed (v{last_ours.version}) was not "
                    "made by this configuration; the feedback decisions use it as recorded",
                    once=f"last_ours:{model}:{env}",
                )
        hist = policy.History(
            blocked=frozenset(guards.blocked_versions(self.store, model)),
            paused=guards.active_pause(self.store, model, env, version),
            next_paused=guards.active_pause(self.store, model, nxt, version) if nxt else None,
            last_ours=last_ours,
        )
        plan = policy.decide(self.cfg, n, model, env, dep, hist, e.at)
        out = [Decided.of(plan.decision)]
        self.decided[did] = out[0]
        if plan.block:
            guards.block_version(
                self.store, model, plan.block, "; ".join(plan.decision.reasons)[:300], now=e.at
            )
        if plan.pause_until_newer_than:
            guards.pause(
                self.store, model, env, "; ".join(plan.decision.reasons)[:300], plan.pause_until_newer_than
            )
        if plan.revert and plan.bump is not None:
            restored = plan.restore_version or dep.previous_version
            if restored:
                self.held[(model, env)] = restored
        if plan.promote_to and plan.bump is not None:
            version, nxt = plan.bump.version, plan.promote_to
            out += self._promote(
                model,
                version,
                nxt,
                f"v{version} is live and healthy in {env} (auto_promote)",
                [n.identity, f"decision:{did}"],
                e.at,
                tags={},
                decision_id=make_decision_id(Kind.PROMOTE.value, "auto", model, version, nxt),
            )
        return out


def _method_of(methods: dict[str, list[str]], column: str) -> str:
    """The drift method a column's recorded score is of (``methods``: method -> its columns)."""
    for method, names in methods.items():
        if column in names:
            return str(method)
    return "wasserstein"


def _threshold(settings: Any, column: str, method: str) -> float:
    """A column's drift threshold, as ``drift.verdict`` chooses it (per-column override, setting, default)."""
    override = settings.columns.get(column)
    if override is not None and override.threshold is not None:
        return float(override.threshold)
    if settings.threshold is not None and method not in P_VALUE_METHODS:
        return float(settings.threshold)
    return DEFAULT_THRESHOLDS.get(method, 0.1)


def label_of(e: RecordedEvent) -> str:
    """What the event was, for people; a record too odd to describe is named by its id (it never stops a replay)."""
    try:
        return _label(e)
    except Exception:  # a label is a courtesy: the step itself says why the record is not replayed
        return f"{e.flow} record {e.id}"


def _label(e: RecordedEvent) -> str:
    i = e.input
    if e.flow == "data_arrival":
        return f"object {str(i.get('key', '?'))[:120]} ({int(i.get('rows', 0)):,} rows)"
    if e.flow == "alarms":
        return f"alarm {i.get('alarm_name')}: {i.get('previous_state') or '?'} → {i.get('state')}"
    if e.flow == "promotion":
        data = i.get("data") or {}
        extra = data.get("alias") or (f"{data.get('key')}={data.get('value')}" if data.get("key") else "")
        return f"mlflow {i.get('event_type')} v{data.get('version')}" + (f" {extra}" if extra else "")
    n = i.get("notification") or {}
    return f"argocd {n.get('trigger')} {n.get('app')}@{str(n.get('revision') or n.get('syncRevision') or '')[:8]}"
