"""Render our Argo CD webhook templates the way the notifications controller does — for the subset we use.

Argo CD renders templates with Go's text/template and sprig. Our bodies use only ``{{ <expr> | toJson }}``
where ``<expr>`` is a field path (``.app.metadata.name``) or ``dig "k" ... "default" .app``; anything
else raises, so a template change that needs more of Go templates fails the tests instead of drifting.
Hand-written: no Python library implements Go templates with sprig. The demo renders its Argo CD
notifications with it, and the feedback tests check the shipped ``events/argocd_*.json`` against it.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CM = ROOT / "deploy" / "argocd" / "argocd-notifications-cm.yaml"
TEMPLATE_FOR = {
    "on-deployed": "app-deployed",
    "on-sync-succeeded": "app-sync-succeeded",
    "on-sync-failed": "app-sync-failed",
    "on-health-degraded": "app-health-degraded",
}
SERVICE = "mlops-glue"
TOKEN = "local-dev-token"  # noqa: S105 - the local value of argocd-notifications-secret mlops-glue-token
SHA = "5b1f0c7e9d2a4b6c8e0f1a3b5c7d9e1f2a4b6c8d"
_ACTION = re.compile(r"{{(.*?)}}", re.S)


class UnsupportedTemplateError(ValueError):
    """The template uses Go-template syntax this renderer does not implement."""


def configmap() -> dict[str, Any]:
    """The ``argocd-notifications-cm`` ConfigMap we ship."""
    return dict(yaml.safe_load(CM.read_text(encoding="utf-8")))


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
