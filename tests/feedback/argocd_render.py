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
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CM = ROOT / "deploy" / "argocd" / "argocd-notifications-cm.yaml"
SPEC_EVENT = ROOT.parent / "shared" / "specs" / "aws-events" / "lambdaFunctionUrlEventWithHeaders.json"
TEMPLATE_FOR = {
    "on-deployed": "app-deployed",
    "on-sync-succeeded": "app-sync-succeeded",
    "on-sync-failed": "app-sync-failed",
    "on-health-degraded": "app-health-degraded",
}
SERVICE = "mlops-glue"
TOKEN = "local-dev-token"  # the demo/test value of argocd-notifications-secret's mlops-glue-token
SHA = "5b1f0c7e9d2a4b6c8e0f1a3b5c7d9e1f2a4b6c8d"
_ACTION = re.compile(r"{{(.*?)}}", re.S)


class UnsupportedTemplateError(ValueError):
    """The template uses Go-template syntax this renderer does not implement."""


def configmap() -> dict[str, Any]:
    return yaml.safe_load(CM.read_text(encoding="utf-8"))


def webhook(trigger: str) -> dict[str, Any]:
    """The ``webhook.mlops-glue`` section of the template the trigger sends."""
    tpl = yaml.safe_load(configmap()["data"][f"template.{TEMPLATE_FOR[trigger]}"])
    return dict(tpl["webhook"][SERVICE])


def _path(path: str, scope: dict[str, Any]) -> Any:
    if not path.startswith("."):
        raise UnsupportedTemplateError(f"not a field path: {path!r}")
    value: Any = scope
    for part in path[1:].split("."):
        if not isinstance(value, dict):
            raise UnsupportedTemplateError(f"{path}: nil pointer evaluating .{part}")  # as Go would fail
        value = value.get(part)
    return value


def _to_json(value: Any) -> str:
    """sprig ``toJson`` (Go's json.Marshal: UTF-8 kept, <, > and & escaped)."""
    out = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _eval(expr: str, scope: dict[str, Any]) -> str:
    stages = [s.strip() for s in expr.strip().split("|")]
    head = shlex.split(stages[0])
    if head and head[0] == "dig":
        keys, default, target = head[1:-2], head[-2], _path(head[-1], scope)
        value: Any = target
        for k in keys:
            if not isinstance(value, dict) or k not in value:
                value = default
                break
            value = value[k]
    elif len(head) == 1:
        value = _path(head[0], scope)
    else:
        raise UnsupportedTemplateError(f"unsupported expression {stages[0]!r}")
    for fn in stages[1:]:
        if fn != "toJson":
            raise UnsupportedTemplateError(f"unsupported function {fn!r}")
        value = _to_json(value)
    if isinstance(value, str):
        return value
    return "<no value>" if value is None else str(value)


def render(template: str, app: dict[str, Any]) -> str:
    scope = {"app": app}
    return _ACTION.sub(lambda m: _eval(m.group(1), scope), template)


def application(
    name: str = "fraud-detection-staging",
    revision: str = SHA,
    phase: str = "Succeeded",
    health: str = "Healthy",
    message: str = "successfully synced (all tasks run)",
    namespace: str = "argocd",
) -> dict[str, Any]:
    """An Argo CD Application object as the notifications controller sees it (the fields we read)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "destination": {"namespace": "ml-serving", "server": "https://kubernetes.default.svc"},
            "source": {
                "repoURL": "https://github.com/company/ml-deployments",
                "path": f"charts/{name}",
                "targetRevision": "main",
            },
        },
        "status": {
            "sync": {"status": "Synced" if phase == "Succeeded" else "OutOfSync", "revision": revision},
            "health": {"status": health, "lastTransitionTime": "2026-11-23T10:02:10Z"},
            "operationState": {
                "phase": phase,
                "message": message,
                "startedAt": "2026-11-23T10:01:02Z",
                "finishedAt": "2026-11-23T10:01:40Z",
                "syncResult": {"revision": revision},
            },
        },
    }


def body(trigger: str, app: dict[str, Any]) -> str:
    return render(webhook(trigger)["body"], app)


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
