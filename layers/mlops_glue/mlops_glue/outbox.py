"""The Slack outbox: a notice that fails to post waits in the state store until the sweep resends it.

Shared by every flow that posts (data arrival, promotion, Argo CD feedback), so a lost alert is never
only a log line. Items live in one document per model (``keys.outbox_key``) as plain JSON
(text, blocks, channel, thread_ts); writes go through the store's optimistic ``update``. The scheduled
data-arrival sweep calls :func:`resend` for every configured model. Hand-written: a few lines over the
state store; a queue (SQS) would add a resource and still need a scheduled drainer.

No notice is dropped silently. The document has a byte budget (``MAX_BYTES``, well under DynamoDB's
400 KB item limit: hundreds of notices): past it the oldest notices first lose their Block Kit layout
(their text stays), and only then are the oldest dropped — counted in ``dropped``, logged as an error,
and announced by the next resend ("N notices could not be kept") before the kept ones.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from functools import partial
from typing import Any

from mlops_glue.adapters.slack import Message, Notifier, Posted
from mlops_glue.adapters.state import StateStore
from mlops_glue.keys import outbox_key

logger = logging.getLogger(__name__)

MAX_BYTES = 300_000  # per model's outbox document; see the module docstring for what happens past it


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
    store.update(*outbox_key(model), lambda doc: _append(doc, item, model))
    return posted


def keep(store: StateStore, model: str, message: Message, why: str) -> None:
    """Put ``message`` in ``model``'s outbox without trying Slack (e.g. no invocation time left for it)."""
    logger.warning("Slack notice kept for the sweep", extra={"model": model, "reason": why})
    item = _item(message)
    store.update(*outbox_key(model), lambda doc: _append(doc, item, model))


def _size(item: dict[str, Any]) -> int:
    return len(json.dumps(item, separators=(",", ":"), default=str)) + 1


def _append(doc: dict[str, Any] | None, item: dict[str, Any], model: str) -> dict[str, Any]:
    """The outbox with ``item`` appended, shrunk to ``MAX_BYTES`` (layouts first, then the oldest)."""
    items = [*((doc or {}).get("items", [])), item]
    dropped = int((doc or {}).get("dropped", 0))
    sizes = [_size(i) for i in items]
    total = sum(sizes)
    i = 0
    while total > MAX_BYTES and i < len(items) - 1:  # the newest keeps its layout
        if items[i].get("blocks"):
            items[i] = {**items[i], "blocks": []}
            total += _size(items[i]) - sizes[i]
            sizes[i] = _size(items[i])
        i += 1
    lost = 0
    while total > MAX_BYTES and len(items) > 1:
        total -= sizes.pop(0)
        items.pop(0)
        lost += 1
    if lost:
        logger.error(
            "Slack outbox full: oldest notices dropped",
            extra={"model": model, "dropped": lost, "dropped_total": dropped + lost, "kept": len(items)},
        )
    return {"items": items, "dropped": dropped + lost}


def _drop_sent(sent: list[dict[str, Any]], reported: int, doc: dict[str, Any] | None) -> dict[str, Any]:
    """The outbox minus one occurrence of each sent item (notices appended meanwhile stay), and minus
    the ``reported`` count of dropped notices the summary just announced."""
    left = list((doc or {}).get("items", []))
    for s in sent:
        if s in left:
            left.remove(s)
    return {"items": left, "dropped": max(0, int((doc or {}).get("dropped", 0)) - reported)}


def dropped_notice(model: str, dropped: int, channel: str | None) -> Message:
    """The notice that says how many notices the full outbox could not keep."""
    text = (
        f":warning: {model}: {dropped:,} Slack notice{'s' if dropped != 1 else ''} could not be kept while "
        f"Slack was unreachable (outbox full); their decisions are recorded: `mlops-glue decisions list {model}`"
    )
    return Message(text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}], channel)


def resend(notifier: Notifier, store: StateStore, models: Iterable[str]) -> tuple[int, int]:
    """Post the kept notices of ``models`` in order: (sent, still waiting).

    A model stops at its first failure (Slack is likely down; order is kept for the next sweep).
    """
    sent_total = waiting = 0
    for model in models:
        got = store.get(*outbox_key(model))
        items = list((got.data if got else {}).get("items", []))
        dropped = int((got.data if got else {}).get("dropped", 0))
        sent: list[dict[str, Any]] = []
        reported = 0
        channel = next((i.get("channel") for i in items if i.get("channel")), None)
        if dropped and notifier.post(dropped_notice(model, dropped, channel)).ok:
            reported = dropped
        if reported == dropped:
            for item in items:
                if not notifier.post(_message(item)).ok:
                    break
                sent.append(item)
        if sent or reported:
            store.update(*outbox_key(model), partial(_drop_sent, sent, reported))
        sent_total += len(sent)
        waiting += len(items) - len(sent)
    return sent_total, waiting
