"""Shared guards kept in the state store: the blocklist of versions and the automation pauses.

A version is blocked after a rollback (or a ``blocked`` tag in the registry) and is never promoted
automatically again. A human revert or manual edit pauses automation for a model and environment until
a newer version is registered.

Versions are canonical MLflow version numbers (:func:`mlops_glue.names.canonical_version`) on the way
in and on the way out: ``"012"``, ``"+12"`` or ``" 12"`` can never slip past a block of ``12`` (they
are refused with InvalidNameError), and pauses compare numbers, never strings.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from mlops_glue.adapters.state import StateStore
from mlops_glue.documents import Block, Blocklist, Pause
from mlops_glue.names import InvalidNameError, canonical_version, is_newer
from mlops_glue.records import utcnow
from mlops_glue.repositories import BLOCKLISTS, PAUSES


def block_version(
    store: StateStore, model: str, version: str, reason: str, now: datetime | None = None
) -> None:
    """Add ``version`` of ``model`` to the blocklist (idempotent; InvalidNameError for a non-version)."""
    version = canonical_version(version)
    block = Block(reason=reason, at=(now or utcnow()).isoformat())

    def add(doc: Blocklist | None) -> Blocklist | None:
        doc = doc or Blocklist()
        if version in doc.versions:
            return None
        doc.versions[version] = block
        return doc

    BLOCKLISTS.at(store, model).change(add)


def blocked_versions(store: StateStore, model: str) -> dict[str, dict[str, str]]:
    """Blocked version (canonical) -> {reason, at}."""
    doc = BLOCKLISTS.at(store, model).load()
    out: dict[str, dict[str, str]] = {}
    for raw, entry in ({} if doc is None else doc.versions).items():
        try:
            out[canonical_version(raw)] = {"reason": entry.reason, "at": entry.at}
        except InvalidNameError:
            out[str(raw)] = {"reason": entry.reason, "at": entry.at}  # written before versions were canonical
    return out


def is_blocked(store: StateStore, model: str, version: str) -> bool:
    """Whether ``version`` is blocklisted (InvalidNameError when it is not a canonical version)."""
    return canonical_version(version) in blocked_versions(store, model)


def pause(store: StateStore, model: str, env: str, reason: str, until_newer_than: str) -> None:
    """Pause automation for ``model`` in ``env`` until a version newer than ``until_newer_than`` arrives."""
    # a value a human wrote that is no version stays as written: the pause then holds until lifted
    with contextlib.suppress(InvalidNameError):
        until_newer_than = canonical_version(until_newer_than)
    doc = Pause(reason=reason, until_newer_than=until_newer_than, at=utcnow().isoformat())
    PAUSES.at(store, model, env).change(lambda _cur: doc)


def active_pause(
    store: StateStore, model: str, env: str, version: str | None = None
) -> dict[str, Any] | None:
    """The pause in force for ``model``/``env`` (for ``version``: lifted when it is newer), or None."""
    doc = PAUSES.at(store, model, env).load()
    if doc is None or not doc.active:
        return None
    limit = doc.until_newer_than
    if version is not None and limit is not None and _newer(version, limit):
        return None
    return doc.to_json()


def lift_pause(store: StateStore, model: str, env: str) -> None:
    PAUSES.at(store, model, env).change(lambda cur: Pause() if cur else None)


def _newer(a: str, b: str) -> bool:
    """Whether version ``a`` is newer than ``b``, by number; a non-version never lifts a pause."""
    try:
        return is_newer(a, b)
    except InvalidNameError:
        return False
