"""Slack messages of the deployment-feedback flow (Block Kit: one section, one context line).

Everything Argo CD or Git wrote (sync messages, phases, application names, commit authors inside the
reasons) is escaped for mrkdwn (:func:`~mlops_glue.adapters.slack.escape`): a ``<!channel>`` or a
``<https://evil|link>`` in a sync message arrives as text. Our own mentions (``notify.oncall``) are not.
"""

from __future__ import annotations

from typing import Any

from mlops_glue.adapters.slack import Message, escape
from mlops_glue.decisions.feedback import Bump
from mlops_glue.events import ArgoCDNotification
from mlops_glue.records import Decision


def _link(url: str | None, text: str) -> str:
    return f"<{url}|{text}>" if url else text


def _blocks(text: str, decision: Decision, n: ArgoCDNotification) -> list[dict[str, Any]]:
    context = (
        f"app `{escape(n.app_id)}` · revision `{escape(n.synced_revision[:12])}` · {escape(n.trigger)} "
        f"· decision `{decision.decision_id}`"
    )
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]


def _msg(text: str, decision: Decision, n: ArgoCDNotification, channel: str | None) -> Message:
    return Message(text=text, blocks=_blocks(text, decision, n), channel=channel)


def live(
    model: str,
    env: str,
    bump: Bump,
    commit_url: str | None,
    decision: Decision,
    n: ArgoCDNotification,
    channel: str | None,
    promotion: str | None = None,
) -> Message:
    """ ":white_check_mark: fraud-detection v12 is live in staging" (+ the promotion it started)."""
    version = f"v{bump.version}" if bump.version else "the previous version"
    text = (
        f":white_check_mark: *{model}* {version} is live in *{env}* "
        f"(commit {_link(commit_url, bump.short)}, bump decision `{bump.decision_id}`)"
    )
    notes = [escape(r) for r in decision.reasons[1:]]
    if promotion:
        notes.append(escape(promotion))
    if notes:
        text += "\n" + "\n".join(f"• {r}" for r in notes)
    return _msg(text, decision, n, channel)


def rolled_back(
    model: str,
    env: str,
    bump: Bump,
    restored: str | None,
    action: str,
    decision: Decision,
    n: ArgoCDNotification,
    channel: str | None,
    oncall: str | None,
    notes: list[str],
) -> Message:
    """ ":rewind: rolled back fraud-detection v12 → v11 in staging" with the cause and what was done."""
    to = f"v{restored}" if restored else "the previous version"
    who = f"{oncall} " if oncall else ""
    text = (
        f":rewind: {who}rolled back *{model}* v{bump.version} → {to} in *{env}*: "
        f"{escape(decision.reasons[0])}\n• {escape(action)}\n• v{bump.version} is blocked from promotion"
    )
    text += "".join(f"\n• {escape(x)}" for x in notes)
    return _msg(text, decision, n, channel)


def alert(
    model: str | None,
    env: str | None,
    decision: Decision,
    n: ArgoCDNotification,
    channel: str | None,
    oncall: str | None,
    notes: list[str] | None = None,
) -> Message:
    """ ":rotating_light: <app> sync failed / degraded" with the reasons (and ``notes``: what was done)."""
    who = f"{oncall} " if oncall else ""
    what = f"*{model}* in *{env}*" if model and env else f"application `{escape(n.app_id)}`"
    health = escape(n.health_status or "unknown")
    text = f":rotating_light: {who}{what}: sync {escape(n.sync_phase or 'unknown')}, health {health}"
    if n.sync_message:
        text += f"\n> {escape(n.sync_message[:300])}"
    text += "".join(f"\n• {escape(r)}" for r in [*decision.reasons, *(notes or [])])
    return _msg(text, decision, n, channel)


def paused(model: str, env: str, decision: Decision, n: ArgoCDNotification, channel: str | None) -> Message:
    """ ":pause_button: a human changed what we deployed; automation paused"."""
    text = f":pause_button: *{model}* in *{env}*: " + "; ".join(escape(r) for r in decision.reasons)
    return _msg(text, decision, n, channel)


def foreign(decision: Decision, n: ArgoCDNotification, channel: str | None) -> Message:
    """A notice for an application or revision that is not ours (no action)."""
    text = (
        f":information_source: `{escape(n.app_id)}` {escape(n.trigger)}: "
        f"sync {escape(n.sync_phase or 'unknown')}, health {escape(n.health_status or 'unknown')} — "
        + "; ".join(escape(r) for r in decision.reasons)
    )
    return _msg(text, decision, n, channel)
