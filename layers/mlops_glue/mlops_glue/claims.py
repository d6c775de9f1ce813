"""One claim: the right to do an action once, whatever the redeliveries and concurrent duplicates.

``claim(store, key, ttl, now)`` takes the :class:`~mlops_glue.documents.Claim` at ``key`` (usually
``keys.claim_key(action id)``) unless it is ``done``, or ``in_progress`` and younger than ``ttl`` (an older
one was abandoned — a Lambda that timed out — and is taken over), and returns the new owner's token.
``release(store, key, status, now, owner)`` ends it: ``done`` for good, ``failed`` open to the next
delivery. With the token, an owner that lost its claim to a takeover cannot end its successor's. Used
by every flow where an action must happen once: the Argo CD feedback's action, the alarm flow's handling
of one transition, the submission of one closed data window.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from mlops_glue.adapters.state import StateStore
from mlops_glue.documents import Claim, ClaimStatus
from mlops_glue.repositories import Ref

Key = tuple[str, str]

logger = logging.getLogger(__name__)


def _ref(store: StateStore, key: Key) -> Ref[Claim]:
    return Ref(store, key, Claim)


def claim(store: StateStore, key: Key, ttl: timedelta, now: datetime) -> str | None:
    """Take the claim at ``key``: the owner's token (for :func:`release`), or None when it is done, or
    being done by someone else."""
    owner = uuid.uuid4().hex

    def take(cur: Claim | None) -> Claim | None:
        return (
            None
            if cur is not None and cur.held(now, ttl)
            else Claim(status="in_progress", at=now.isoformat(), owner=owner)
        )

    return owner if _ref(store, key).change(take).written else None


def claim_status(store: StateStore, key: Key) -> ClaimStatus | None:
    """``in_progress``, ``done``, ``failed`` or None (never claimed)."""
    cur = _ref(store, key).load()
    return None if cur is None else cur.status


def release(
    store: StateStore, key: Key, status: ClaimStatus, now: datetime, owner: str | None = None
) -> bool:
    """End the claim: ``done`` (never again) or ``failed`` (the next delivery may claim it); a claim
    already ``done`` stays done. ``owner`` (the token :func:`claim` gave): a claim another owner took
    over meanwhile is left to it. Returns whether this call ended the claim."""
    ended = Claim(status=status, at=now.isoformat())

    def end(cur: Claim | None) -> Claim | None:
        # a done claim is final: an owner that lost it to a takeover (it outlived ``ttl``) and then
        # fails must not reopen what its successor finished
        if cur is not None and cur.status == "done" and status != "done":
            return None
        # nor end its successor's claim while that one is at work
        if (
            owner is not None
            and cur is not None
            and cur.status == "in_progress"
            and cur.owner not in (None, owner)
        ):
            return None
        return ended

    written = _ref(store, key).change(end).written
    if not written and owner is not None:
        logger.warning("claim %s was taken over meanwhile: left to its new owner (not %s)", key[0], status)
    return written
