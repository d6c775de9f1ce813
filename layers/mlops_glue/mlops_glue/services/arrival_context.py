"""What every part of the data-arrival flow shares: the configuration, the injected adapters, the clock,
the reference profiles and the brief "in flight in Argo" answers (both cached per execution environment),
and the two ways out — the decision record and the Slack notice (kept in the outbox when Slack fails)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlops_glue import deadline
from mlops_glue.adapters.argo import ArgoError, ArgoUnavailableError, WorkflowSubmitter
from mlops_glue.adapters.s3 import ObjectStore
from mlops_glue.adapters.slack import Message, Notifier
from mlops_glue.adapters.state import StateStore
from mlops_glue.config import GlueConfig, ModelConfig
from mlops_glue.outbox import keep, post_or_keep
from mlops_glue.records import Decision, Outcome
from mlops_glue.services.arrival_metrics import MetricSink
from mlops_glue.services.arrival_window import Workspace
from mlops_glue.services.training import LABEL_PREFIX

logger = logging.getLogger(__name__)

IN_FLIGHT_TTL = 30.0  # seconds an Argo "in flight" answer is reused within one execution environment
NOTICE_NEED_S = 20.0  # invocation seconds a Slack post may take with its retries (else kept for the sweep)


@dataclass
class ArrivalContext:
    """The data-arrival flow's configuration and adapters (every one injected; nothing reads the environment)."""

    cfg: GlueConfig
    store: StateStore
    objects: ObjectStore
    submitter: WorkflowSubmitter
    notifier: Notifier
    workspace: Workspace
    metrics: MetricSink
    clock: Callable[[], datetime]
    s3_client: Any | None = None
    profile_loader: Callable[[str], Any] | None = None
    _profiles: dict[str, Any] = field(default_factory=dict)
    _in_flight: dict[str, tuple[float, list[str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def profile(self, model: str) -> Any:
        """The model's reference profile, loaded once per execution environment."""
        data = self.cfg.model(model).data
        assert data is not None
        uri = data.reference_profile
        with self._lock:
            cached = self._profiles.get(uri)
        if cached is None:
            if self.profile_loader is not None:
                cached = self.profile_loader(uri)
            else:
                from mlops_glue.drift import load_profile

                cached = load_profile(uri, s3_client=self.s3_client)
            with self._lock:
                self._profiles[uri] = cached
        return cached

    def active(self, model: str, model_cfg: ModelConfig) -> list[str]:
        """Workflows of this model still pending or running in Argo (cached briefly); unreachable = in flight."""
        lister = getattr(self.submitter, "active", None)
        if lister is None:
            return []
        with self._lock:
            hit = self._in_flight.get(model)
        if hit and time.monotonic() - hit[0] < IN_FLIGHT_TTL and hit[1]:
            return hit[1]
        budget = deadline.current()
        if "argo" in budget.down:  # not asked again within this invocation: treated as in flight
            return [f"unknown ({budget.down['argo']})"[:200]]
        try:
            names: list[str] = lister(
                model_cfg.retrain.argo.namespace,
                {f"{LABEL_PREFIX}/model": model, f"{LABEL_PREFIX}/kind": "retrain"},
            )
        except ArgoError as exc:  # not cached: the next message asks again
            if isinstance(exc, ArgoUnavailableError):
                mark_argo_down(exc)
            return [f"unknown (cannot ask Argo: {exc})"[:200]]
        with self._lock:
            self._in_flight[model] = (time.monotonic(), names)
        return names

    def forget_in_flight(self, model: str) -> None:
        """A workflow was just submitted: the next window asks Argo again."""
        with self._lock:
            self._in_flight.pop(model, None)

    def channel(self, model: str) -> str | None:
        return self.cfg.model(model).notify.slack_channel or self.cfg.slack.default_channel

    def notify(self, model: str, message: Message) -> None:
        """Post; a failure never undoes the action: the notice waits in the model's outbox for the sweep.

        With less than ``NOTICE_NEED_S`` of the invocation left, Slack (whose client retries for up to
        about that long) is not tried: the notice goes straight to the outbox."""
        left = deadline.current().remaining()
        if left < NOTICE_NEED_S:
            keep(self.store, model, message, f"{max(0.0, left):.1f} s of the invocation left")
            return
        post_or_keep(self.notifier, self.store, model, message)

    def record(self, d: Decision) -> None:
        """Record the decision; ACTED and FAILED are counted by the submission, which knows the result."""
        self.store.record_decision(d)
        if d.outcome != Outcome.ACTED and d.outcome != Outcome.FAILED:
            self.metrics.emit("Decisions", 1, "Count", {"model": d.model, "outcome": d.outcome.value})


def mark_argo_down(exc: ArgoError) -> None:
    """Argo is unavailable: not waited on again within this invocation."""
    deadline.current().down["argo"] = f"Argo unavailable earlier in this invocation ({str(exc)[:200]})"
