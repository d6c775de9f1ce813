"""Repositories: where each state document lives, how it is read and how it is changed.

A :class:`Repository` pairs a document type (:mod:`mlops_glue.documents`) with its key
(:mod:`mlops_glue.keys`); ``repo.at(store, model)`` is a :class:`Ref` to one document, with
``load()`` (typed, or None), ``read()`` (with its version, for a conditional write of one's own) and
``change(fn)``: the optimistic read-modify-write of the store (:meth:`StateStore.update`: a condition on
the version read, retried after a lost race with full-jitter backoff), typed both ways. ``fn`` gets a
fresh copy of the document (or None) and returns the new one, or None to write nothing; it must be pure,
as it runs again after a lost race. ``change`` returns a :class:`Changed`: the document as last read
and what was written, so no closure has to pass results out through a list.

The services read as parse → load → decide (pure, on these types) → save (``change``) → act → notify;
the operations CLI reads through the same repositories.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from mlops_glue import keys
from mlops_glue.adapters.state import StateError, StateStore
from mlops_glue.documents import (
    AlarmState,
    Blocklist,
    Claim,
    Document,
    LastDataset,
    Ledger,
    Member,
    Offload,
    Offloads,
    Outbox,
    Pause,
    Window,
    Written,
)

D = TypeVar("D", bound=Document)
Key = tuple[str, str]


@dataclass(frozen=True)
class Stored(Generic[D]):
    """A document as read, with the version a conditional write must name."""

    doc: D
    version: int


@dataclass(frozen=True)
class Changed(Generic[D]):
    """The outcome of :meth:`Ref.change`: ``before`` as last read, ``after`` as written (None: no write)."""

    before: D | None
    after: D | None

    @property
    def written(self) -> bool:
        return self.after is not None


@dataclass(frozen=True)
class Ref(Generic[D]):
    """One document of the state table: its key, its type, its reads and its optimistic change."""

    store: StateStore
    key: Key
    document: type[D]

    def read(self) -> Stored[D] | None:
        got = self.store.get(*self.key)
        return None if got is None else Stored(self._parse(got.data), got.version)

    def load(self) -> D | None:
        got = self.read()
        return None if got is None else got.doc

    def change(self, fn: Callable[[D | None], D | None], *, expires_at: datetime | None = None) -> Changed[D]:
        """Read, ``fn``, write conditionally on the version read; again after a lost race."""
        before: list[D | None] = [None]

        def raw(cur: dict[str, Any] | None) -> dict[str, Any] | None:
            doc = None if cur is None else self._parse(cur)
            before[0] = doc
            new = fn(None if doc is None else doc.model_copy(deep=True))
            return None if new is None else new.to_json()

        written = self.store.update(*self.key, raw, expires_at=expires_at)
        after = None if written is None else self._parse(written)
        return Changed(before[0], after)

    def _parse(self, data: dict[str, Any]) -> D:
        try:
            return self.document.model_validate(data)
        except ValidationError as exc:  # a document no release of ours wrote: stop, never overwrite it
            pk, sk = self.key
            raise StateError(f"{pk}/{sk} is not a valid {self.document.__name__}: {exc}"[:1000]) from exc

    def put(self, doc: D, version: int | None) -> int:
        """Write ``doc`` when the stored version is ``version`` (None: it must not exist); ConflictError."""
        return self.store.put(*self.key, doc.to_json(), version)


@dataclass(frozen=True)
class Repository(Generic[D]):
    """A kind of document and where its documents live."""

    document: type[D]
    key: Callable[..., Key]

    def at(self, store: StateStore, *parts: str) -> Ref[D]:
        return Ref(store, self.key(*parts), self.document)


WINDOWS = Repository(Window, keys.window_key)  # at(store, model)
MEMBERS = Repository(Member, keys.member_key)  # at(store, model, object_id)
OFFLOADS = Repository(Offloads, keys.offloads_key)  # at(store, model, shard)
RETRAIN_LEDGERS = Repository(Ledger, keys.retrain_ledger_key)  # at(store, model)
EMERGENCY_LEDGERS = Repository(Ledger, keys.emergency_ledger_key)  # at(store, model)
LAST_DATASETS = Repository(LastDataset, keys.last_dataset_key)  # at(store, model)
OUTBOXES = Repository(Outbox, keys.outbox_key)  # at(store, model)
WRITTEN = Repository(Written, keys.written_key)  # at(store, model, env)
BLOCKLISTS = Repository(Blocklist, keys.blocklist_key)  # at(store, model)
PAUSES = Repository(Pause, keys.pause_key)  # at(store, model, env)
ALARMS = Repository(AlarmState, keys.alarm_key)  # at(store, alarm name)
CLAIMS = Repository(Claim, keys.claim_key)  # at(store, action id)


def offloads_of(store: StateStore, model: str) -> list[Offload]:
    """Every object of ``model`` being counted on the cluster, over the shards of ``OFFLOADS``."""
    return [
        o
        for shard in keys.OFFLOAD_SHARDS
        for o in (OFFLOADS.at(store, model, shard).load() or Offloads()).items
    ]
