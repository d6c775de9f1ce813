"""The Slack outbox: a notice that fails to post waits in the state store until the sweep resends it.

Shared by every flow that posts (data arrival, alarms, promotion, Argo CD feedback), so a lost alert is never
only a log line. Items live in one document per model (:class:`~mlops_glue.documents.Outbox`, at
``keys.outbox_key``), written through its repository's optimistic ``change``. The scheduled
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

from mlops_glue.adapters.slack import Message, Notifier, Posted
from mlops_glue.adapters.state import StateStore
from mlops_glue.documents import Outbox, OutboxItem
from mlops_glue.repositories import OUTBOXES

logger = logging.getLogger(__name__)

MAX_BYTES = 300_000  # per model's outbox document; see the module docstring for what happens past it


def _item(message: Message) -> OutboxItem:
    return OutboxItem(
        text=message.text, blocks=message.blocks, channel=message.channel, thread_ts=message.thread_ts
    )


def _message(item: OutboxItem) -> Message:
    return Message(item.text, item.blocks, item.channel, item.thread_ts)


def post_or_keep(notifier: Notifier, store: StateStore, model: str, message: Message) -> Posted:
    """Post ``message``; on failure keep it in ``model``'s outbox. Returns what Slack answered.

    Raises :class:`~mlops_glue.adapters.state.StateError` only when Slack failed and the store did too.
    """
    posted = notifier.post(message)
    if posted.ok:
        return posted
    logger.warning("Slack notice kept for retry", extra={"model": model, "error": posted.error})
    _keep(store, model, _item(message))
    return posted


def keep(store: StateStore, model: str, message: Message, why: str) -> None:
    """Put ``message`` in ``model``'s outbox without trying Slack (e.g. no invocation time left for it)."""
    logger.warning("Slack notice kept for the sweep", extra={"model": model, "reason": why})
    _keep(store, model, _item(message))


def _keep(store: StateStore, model: str, item: OutboxItem) -> None:
    OUTBOXES.at(store, model).change(lambda doc: _append(doc, item, model))


def _size(item: OutboxItem) -> int:
    return len(json.dumps(item.to_json(), separators=(",", ":"), default=str)) + 1


def _append(doc: Outbox | None, item: OutboxItem, model: str) -> Outbox:
    """The outbox with ``item`` appended, shrunk to ``MAX_BYTES`` (layouts first, then the oldest)."""
    doc = doc or Outbox()
    items = [*doc.items, item]
    sizes = [_size(i) for i in items]
    total = sum(sizes)
    i = 0
    while total > MAX_BYTES and i < len(items) - 1:  # the newest keeps its layout
        if items[i].blocks:
            items[i] = items[i].model_copy(update={"blocks": []})
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
            extra={"model": model, "dropped": lost, "dropped_total": doc.dropped + lost, "kept": len(items)},
        )
    return Outbox(items=items, dropped=doc.dropped + lost)


def _drop_sent(sent: list[OutboxItem], reported: int, doc: Outbox | None) -> Outbox:
    """The outbox minus one occurrence of each sent item (notices appended meanwhile stay), and minus
    the ``reported`` count of dropped notices the summary just announced."""
    doc = doc or Outbox()
    left = list(doc.items)
    for s in sent:
        if s in left:
            left.remove(s)
    return Outbox(items=left, dropped=max(0, doc.dropped - reported))


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
        ref = OUTBOXES.at(store, model)
        doc = ref.load() or Outbox()
        items, dropped = doc.items, doc.dropped
        sent: list[OutboxItem] = []
        reported = 0
        channel = next((i.channel for i in items if i.channel), None)
        if dropped and notifier.post(dropped_notice(model, dropped, channel)).ok:
            reported = dropped
        if reported == dropped:
            for item in items:
                if not notifier.post(_message(item)).ok:
                    break
                sent.append(item)
        if sent or reported:
            ref.change(partial(_drop_sent, sent, reported))
        sent_total += len(sent)
        waiting += len(items) - len(sent)
    return sent_total, waiting
