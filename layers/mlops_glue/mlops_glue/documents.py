"""The state documents: what the flows keep in the state table, as typed pydantic models.

Pure (no I/O): the rules in ``decisions/`` take and return these, and :mod:`mlops_glue.repositories`
owns where each lives (its key), how it is stored (JSON, the same shape the flows have always written)
and the optimistic read-modify-write.

Every model keeps fields it does not know (``extra="allow"``): a document written by a newer release,
or by an older one with a field since retired, survives a round trip through this one. Times are
ISO 8601 strings on the wire (``datetime.isoformat()``, as before) and aware datetimes in code.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

IsoTime = Annotated[datetime, PlainSerializer(lambda t: t.isoformat(), return_type=str)]

LEDGER_DAYS = 40  # runs older than this are dropped from a ledger (the monthly budget needs 31)


class Document(BaseModel):
    """A state document: validated on read, dumped to the JSON the table holds."""

    model_config = ConfigDict(extra="allow")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


# ------------------------------------------------------------------------------------------ ledgers


class Run(Document):
    """One training counted for cooldown and budget. ``shadow``: made in shadow mode, nothing trained."""

    at: IsoTime
    gpu_hours: float = 0.0
    decision_id: str = ""
    shadow: bool = False


class Ledger(Document):
    """A model's trainings of one kind (normal or emergency), for cooldown and budget."""

    runs: list[Run] = Field(default_factory=list)

    def counted(self) -> list[Run]:
        """The runs cooldown and budget count: not the shadow ones (see :mod:`mlops_glue.shadow`)."""
        return [r for r in self.runs if not r.shadow]

    def has(self, decision_id: str) -> bool:
        return any(r.decision_id == decision_id for r in self.runs)

    def with_run(self, now: datetime, gpu_hours: float, decision_id: str) -> Ledger:
        """The ledger with one more run (idempotent on ``decision_id``), runs past ``LEDGER_DAYS`` dropped."""
        runs = [r for r in self.runs if now - r.at < timedelta(days=LEDGER_DAYS)]
        if not any(r.decision_id == decision_id for r in runs):
            runs.append(Run(at=now, gpu_hours=gpu_hours, decision_id=decision_id))
        return self.model_copy(update={"runs": runs})

    def without(self, decision_id: str) -> Ledger:
        return self.model_copy(update={"runs": [r for r in self.runs if r.decision_id != decision_id]})


# ------------------------------------------------------------------------------------------ guards


class Block(Document):
    reason: str
    at: str


class Blocklist(Document):
    """Versions of a model never promoted automatically again (canonical version -> why, when)."""

    versions: dict[str, Block] = Field(default_factory=dict)


class Pause(Document):
    """Automation paused for a model and environment until a version newer than ``until_newer_than``.

    A lifted pause is stored empty (``reason`` None), as it always was.
    """

    reason: str | None = None
    until_newer_than: str | None = None
    at: str | None = None

    @property
    def active(self) -> bool:
        return self.reason is not None


# ------------------------------------------------------------------------------------------ claims


ClaimStatus = Literal["in_progress", "done", "failed"]


class Claim(Document):
    """The right to do one action once (:mod:`mlops_glue.claims`)."""

    status: ClaimStatus
    at: str  # ISO 8601; read only while in progress (a done claim is final, whatever it says)
    owner: str | None = None  # the token of whoever holds it in progress (claims.claim)

    @model_validator(mode="after")
    def _aware_while_in_progress(self) -> Claim:
        """An in-progress claim's time is compared (``held``): unreadable or naive, it fails validation
        (a StateError on read) instead of a ValueError / TypeError there."""
        if self.status == "in_progress" and datetime.fromisoformat(self.at).tzinfo is None:
            raise ValueError(f"claim time {self.at!r} has no UTC offset")
        return self

    def held(self, now: datetime, ttl: timedelta) -> bool:
        """Whether the claim stops another taker now: done, or in progress and younger than ``ttl``."""
        if self.status == "done":
            return True
        return self.status == "in_progress" and now - datetime.fromisoformat(self.at) < ttl


# ------------------------------------------------------------------------------------------ outbox


class OutboxItem(Document):
    """A Slack notice that failed to post, as it will be posted again."""

    text: str
    blocks: list[dict[str, Any]] = Field(default_factory=list)
    channel: str | None = None
    thread_ts: str | None = None


class Outbox(Document):
    """A model's notices waiting for the sweep, and how many a full outbox could not keep."""

    items: list[OutboxItem] = Field(default_factory=list)
    dropped: int = 0


# ------------------------------------------------------------------------------------------ alarms


class Alert(Document):
    """The on-call alert posted for an alarm: where it is, so recoveries and re-alarms reply to it."""

    decision_id: str
    ts: str | None = None
    channel: str | None = None
    text: str = ""
    replies: int = 0
    flaps: int = 0
    state: str | None = None
    edited_at: IsoTime | None = None


class AlarmState(Document):
    """One CloudWatch alarm as the glue last saw it: its newest state and its open alert."""

    alarm: str
    model: str | None = None
    state: str | None = None
    timestamp: IsoTime | None = None
    alert: Alert | None = None

    def is_newer(self, at: datetime) -> bool:
        """Whether the alarm was seen in a state newer than ``at`` (a change at ``at`` is stale)."""
        return self.timestamp is not None and self.timestamp > at


# ------------------------------------------------------------------------------------------ data windows


class LastDataset(Document):
    """The latest submitted data window of a model (data arrival writes it, the alarm flow trains on it)."""

    manifest_uri: str = ""  # empty: no window recorded yet
    window_id: str | None = None
    decision_id: str | None = None
    seq: int = -1


class Member(Document):
    """One data object's membership: the window it was counted in (created once, never overwritten)."""

    window_id: str
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    etag: str | None = None
    rows: int = 0
    counted_at: str | None = None


class Offload(Document):
    """A data object too large for one invocation, being counted by the ``drift-count`` workflow."""

    oid: str
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int = 0
    event_id: str | None = None
    workflow: str
    counts_uri: str
    attempts: int = 1
    submitted_at: IsoTime
    reason: str = ""


class Offloads(Document):
    """A model's objects being counted on the cluster (one shard of them, ``keys.offloads_key``),
    collected by the sweep when their counts land."""

    items: list[Offload] = Field(default_factory=list)

    def find(self, oid: str) -> Offload | None:
        return next((o for o in self.items if o.oid == oid), None)


class Deferral(Document):
    """Why the open window waits (recorded once per window and set of reasons)."""

    decision_id: str
    kinds: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


class PendingWindow(Document):
    """A window closed (it triggered) and not yet submitted: compact, its payload and evidence in S3."""

    window_id: str
    seq: int
    decision_id: str
    trigger: str
    reasons: list[str] = Field(default_factory=list)
    evidence_uri: str | None = None
    payload_uri: str
    rows: int = 0
    files: int = 0
    opened_at: str
    closed_at: IsoTime
    attempts: int = 0
    alerted: bool = False
    last_error: str | None = None
    rejected_at: str | None = None  # set while it sits in ``rejected``


class Window(Document):
    """A model's window document: the open window, the closed ones waiting (``pending``) and those Argo
    rejected (``rejected``; the oldest beyond the item's budget are archived to S3)."""

    window_id: str
    seq: int
    model: str | None = None
    opened_at: IsoTime
    updated_at: IsoTime
    rows: int = 0
    files: int = 0
    payload: dict[str, str] | None = None  # {"inline": base64} or {"uri": s3://…} (services.arrival_window)
    drift: dict[str, Any] | None = None  # decisions.retrain.DriftSummary.to_dict()
    drift_rows: int = 0
    deferred: Deferral | None = None
    previous_window_id: str | None = None
    pending: list[PendingWindow] = Field(default_factory=list)
    rejected: list[PendingWindow] = Field(default_factory=list)
    rejected_archived: int = 0

    def pending_entry(self, window_id: str) -> PendingWindow | None:
        return next((e for e in self.pending if e.window_id == window_id), None)


class Written(Document):
    """What each version of a model writes to an environment's first target (promotion; feedback reads)."""

    target: str = ""
    values: dict[str, str] = Field(default_factory=dict)
