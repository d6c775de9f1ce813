"""The Slack outbox: a notice that fails to post waits in the state store until the sweep resends it.

Shared by every flow that posts (data arrival, promotion, Argo CD feedback), so a lost alert is never
only a log line. Items live in one document per model (``keys.outbox_key``) as plain JSON
(text, blocks, channel, thread_ts); writes go through the store's optimistic ``update``. The scheduled
data-arrival sweep calls :func:`resend` for every configured model. Hand-written: a few lines over the
state store; a queue (SQS) would add a resource and still need a scheduled drainer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

from mlops_glue.adapters.slack import Message, Notifier, Posted
from mlops_glue.adapters.state import StateStore
from mlops_glue.keys import outbox_key

logger = logging.getLogger(__name__)

MAX_ITEMS = 50  # per model; the oldest notices are dropped beyond this


def _item(message: Message) -> dict[str, Any]:
    item: dict[str, Any] = {"text": message.text, "blocks": message.blocks, "channel": message.channel}
    if message.thread_ts:
        item["thread_ts"] = message.thread_ts
    return item


def _message(item: dict[str, Any]) -> Message:
    return Message(item["text"], item.get("blocks") or [], item.get("channel"), item.get("thread_ts"))


def post_or_keep(notifier: Notifier, store: StateStore, model: str, message: Message) -> Posted:
    """Post ``message``; on failure keep it in ``model``'s outbox. Returns what Slack answered.

    Raises :class:`~mlops_glue.adapters.state.StateError` only when Slack failed and the store did too.
    """
    posted = notifier.post(message)
    if posted.ok:
        return posted
    logger.warning("Slack notice kept for retry", extra={"model": model, "error": posted.error})
    item = _item(message)
    store.update(
        *outbox_key(model), lambda doc: {"items": [*((doc or {}).get("items", [])), item][-MAX_ITEMS:]}
    )
    return posted


def _drop_sent(sent: list[dict[str, Any]], doc: dict[str, Any] | None) -> dict[str, Any]:
    """The outbox minus one occurrence of each sent item (notices appended meanwhile stay)."""
    left = list((doc or {}).get("items", []))
    for s in sent:
        if s in left:
            left.remove(s)
    return {"items": left}


def resend(notifier: Notifier, store: StateStore, models: Iterable[str]) -> tuple[int, int]:
    """Post the kept notices of ``models`` in order: (sent, still waiting).

    A model stops at its first failure (Slack is likely down; order is kept for the next sweep).
    """
    sent_total = waiting = 0
    for model in models:
        got = store.get(*outbox_key(model))
        items = list((got.data if got else {}).get("items", []))
        sent: list[dict[str, Any]] = []
        for item in items:
            if not notifier.post(_message(item)).ok:
                break
            sent.append(item)
        if sent:
            store.update(*outbox_key(model), partial(_drop_sent, sent))
        sent_total += len(sent)
        waiting += len(items) - len(sent)
    return sent_total, waiting
