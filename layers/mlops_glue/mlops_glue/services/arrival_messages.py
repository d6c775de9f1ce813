"""Slack Block Kit messages of the data-arrival flow: a trigger, a budget deferral, a failed submission,
a rejected file. Pure builders: the decision in, a :class:`Message` out."""

from __future__ import annotations

from typing import Any

from mlops_glue.adapters.slack import Message
from mlops_glue.records import Decision

_REASON_TITLE = {"rows": "enough new data", "drift": "data drift", "max_wait": "the window's max wait"}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}


def _fields(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"[:1900]} for k, v in pairs[:10]],
    }


def _context(d: Decision) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": f"decision `{d.decision_id}` · config `{d.config_hash or '?'}`"}
        ],
    }


def _top_columns(d: Decision, n: int = 5) -> str:
    cols = (d.evidence.get("drift") or {}).get("drifted_columns") or []
    return "\n".join(f"• `{c}` {float(s):.3f}" for c, s in cols[:n]) or "none"


def trigger_message(d: Decision, channel: str | None = None) -> Message:
    """A retraining was submitted: model, reason, rows and files, top drifted columns, links."""
    reason = str(d.evidence.get("trigger", "rows"))
    workflow_url = d.action.get("workflow_url", "")
    report_url = d.action.get("report_url", "")
    title = f"Retraining {d.model}: {_REASON_TITLE.get(reason, reason)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        _section("\n".join(f"• {r}" for r in d.reasons) or "no reason recorded"),
        _fields(
            [
                ("Rows", f"{int(d.evidence.get('rows', 0)):,}"),
                ("Files", f"{int(d.evidence.get('files', 0)):,}"),
                ("Workflow", f"<{workflow_url}|{d.action.get('workflow', '?')}>" if workflow_url else "?"),
                ("Top drifted columns", _top_columns(d)),
            ]
        ),
    ]
    buttons = []
    if workflow_url:
        buttons.append(
            {"type": "button", "text": {"type": "plain_text", "text": "Workflow"}, "url": workflow_url}
        )
    if report_url:
        buttons.append(
            {"type": "button", "text": {"type": "plain_text", "text": "Drift report"}, "url": report_url}
        )
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append(_context(d))
    text = f"{title} — {d.evidence.get('rows', 0):,} rows, workflow {d.action.get('workflow', '?')}"
    return Message(text=text, blocks=blocks, channel=channel)


def deferred_message(d: Decision, channel: str | None = None) -> Message:
    """A ready window waits for the budget (or cooldown): what it waits for and how much data is queued."""
    title = f"Retraining {d.model} deferred"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        _section("\n".join(f"• {r}" for r in d.reasons)),
        _fields(
            [
                ("Rows waiting", f"{int(d.evidence.get('rows', 0)):,}"),
                ("Files", f"{int(d.evidence.get('files', 0)):,}"),
            ]
        ),
        _context(d),
    ]
    return Message(text=f"{title}: " + "; ".join(d.reasons), blocks=blocks, channel=channel)


def failure_message(
    d: Decision,
    error: str,
    channel: str | None = None,
    oncall: str | None = None,
    *,
    rejected: bool = False,
) -> Message:
    """A submission failed: the error, the data it was for, and how it gets submitted (retry or a human)."""
    who = f"{oncall} " if oncall else ""
    title = f"Retraining {d.model} NOT submitted"
    window_id = d.action.get("window_id") or d.evidence.get("window_id", "WINDOW_ID")
    then = (
        "\nArgo rejected the request: it is not retried. The window and its manifest are kept; fix the cause,"
        f" then `mlops-glue window resubmit {d.model} {window_id}`."
        if rejected
        else "\nThe window is kept; the sweep retries, and the event stays in the queue / DLQ for `mlops-glue dlq replay`."
    )
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        _section(f"{who}*{error[:500]}*"),
        _section("\n".join(f"• {r}" for r in d.reasons) + then),
        _context(d),
    ]
    return Message(text=f"{who}{title}: {error[:300]}", blocks=blocks, channel=channel)


def rejected_message(d: Decision, channel: str | None = None) -> Message:
    """A file failed the data checks and was kept out of the window."""
    title = f"Data file rejected for {d.model}"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        _section("\n".join(f"• {r}" for r in d.reasons)),
        _context(d),
    ]
    return Message(text=f"{title}: " + "; ".join(d.reasons), blocks=blocks, channel=channel)
