"""Render our Argo CD webhook templates the way the notifications controller does — for the subset we use.

Argo CD renders templates with Go's text/template and sprig. Our bodies use only ``{{ <expr> | toJson }}``
where ``<expr>`` is a field path (``.app.metadata.name``) or ``dig "k" ... "default" .app``; anything
else raises, so a template change that needs more of Go templates fails the tests instead of drifting.
Run ``uv run python tests/feedback/argocd_render.py`` to rewrite ``events/argocd_*.json`` from the
template (a test checks they are in sync).
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

# the renderer lives in glue_local (the demo renders its notifications with it); re-exported here
from glue_local.argocd_render import (  # noqa: F401
    CM,
    SERVICE,
    SHA,
    TEMPLATE_FOR,
    TOKEN,
    UnsupportedTemplateError,
    application,
    body,
    configmap,
    render,
    webhook,
)

ROOT = Path(__file__).resolve().parents[2]
SPEC_EVENT = ROOT / "specs" / "aws-events" / "lambdaFunctionUrlEventWithHeaders.json"


def function_url_event(
    body_text: str, token: str | None = TOKEN, method: str = "POST", content_type: str = "application/json"
) -> dict[str, Any]:
    """A Function URL event (the spec's shape) carrying what Argo CD's webhook service sends."""
    event = json.loads(SPEC_EVENT.read_text(encoding="utf-8"))
    event = copy.deepcopy(event)
    headers = {
        "host": event["headers"]["host"],
        "user-agent": "Go-http-client/1.1",
        "content-type": content_type,
        "accept-encoding": "gzip",
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        "x-forwarded-for": "10.0.12.34",
        "x-amzn-trace-id": "Root=1-6741a0b2-3c9d5e7f1a2b4c6d8e0f1a2b",
    }
    if token is not None:
        headers["x-glue-token"] = token
    event.update(
        {
            "rawPath": "/",
            "rawQueryString": "",
            "headers": headers,
            "body": body_text,
            "isBase64Encoded": False,
        }
    )
    event.pop("queryStringParameters", None)
    event["requestContext"]["http"].update(
        {"method": method, "path": "/", "sourceIp": "10.0.12.34", "userAgent": "Go-http-client/1.1"}
    )
    return event


SAMPLES = {
    "argocd_on_deployed.json": ("on-deployed", {}),
    "argocd_on_sync_succeeded.json": ("on-sync-succeeded", {"health": "Progressing"}),
    "argocd_on_sync_failed.json": (
        "on-sync-failed",
        {
            "phase": "Failed",
            "health": "Healthy",
            "message": 'one or more objects failed to apply, reason: Deployment.apps "fraud-detection" is '
            "invalid: spec.template.spec.containers[0].image: Required value",
        },
    ),
    "argocd_on_health_degraded.json": (
        "on-health-degraded",
        {"health": "Degraded", "message": "successfully synced (all tasks run)"},
    ),
}


def sample_events() -> dict[str, dict[str, Any]]:
    """The ``events/argocd_*.json`` payloads as the template renders them."""
    out = {}
    for name, (trigger, kw) in SAMPLES.items():
        out[name] = function_url_event(body(trigger, application(**kw)))
    out["argocd_wrong_secret.json"] = function_url_event(body("on-deployed", application()), token="wrong")
    out["argocd_malformed_body.json"] = function_url_event(
        '{"trigger": "on-created", "app": "fraud-detection"}'
    )
    return out


if __name__ == "__main__":  # pragma: no cover - regenerates the files the sync test checks
    for name, event in sample_events().items():
        (ROOT / "events" / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote events/{name}", file=sys.stderr)
