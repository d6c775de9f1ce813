"""One claim: the right to do an action once, whatever the redeliveries and concurrent duplicates.

``claim(store, key, ttl)`` takes the document at ``key`` (``{"status": "in_progress", "at": …}``) unless
it is ``done``, or ``in_progress`` and younger than ``ttl`` (an older one was abandoned — a Lambda that
timed out — and is taken over). ``release(store, key, status)`` ends it: ``done`` for good, ``failed``
open to the next delivery.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mlops_glue.adapters.state import StateStore

Key = tuple[str, str]


def claim(store: StateStore, key: Key, ttl: timedelta, now: datetime) -> bool:
    """Take the claim at ``key``; False when it is done, or being done by someone else."""

    def take(cur: dict[str, Any] | None) -> dict[str, Any] | None:
        if cur and cur.get("status") == "done":
            return None
        fresh = cur and now - datetime.fromisoformat(cur["at"]) < ttl
        if cur and cur.get("status") == "in_progress" and fresh:
            return None
        return {"status": "in_progress", "at": now.isoformat()}

    return store.update(*key, take) is not None


def claim_status(store: StateStore, key: Key) -> str | None:
    """``in_progress``, ``done``, ``failed`` or None (never claimed)."""
    cur = store.get(*key)
    status = cur.data.get("status") if cur is not None else None
    return str(status) if status is not None else None


def release(store: StateStore, key: Key, status: str, now: datetime) -> None:
    """End the claim: ``done`` (never again) or ``failed`` (the next delivery may claim it)."""
    doc = {"status": status, "at": now.isoformat()}
    store.update(*key, lambda _cur: doc)
