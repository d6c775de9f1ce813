"""The Argo CD side we ship: argocd-notifications-cm entries, checked against the catalog and our parser."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from argocd_render import (
    SPEC_EVENT,
    TEMPLATE_FOR,
    application,
    body,
    configmap,
    render,
    sample_events,
    webhook,
)
from feedback_support import CATALOG, EVENTS
from mlops_glue.config import ArgoCD
from mlops_glue.decisions.feedback import TRIGGERS, parse_notification


def catalog() -> dict[str, Any]:
    return dict(yaml.safe_load(CATALOG.read_text(encoding="utf-8"))["data"])


def test_configmap_is_the_argocd_notifications_cm() -> None:
    cm = configmap()
    assert cm["apiVersion"] == "v1" and cm["kind"] == "ConfigMap"
    assert cm["metadata"]["name"] == "argocd-notifications-cm"
    assert all(isinstance(v, str) for v in cm["data"].values()), "ConfigMap data values must be strings"


def test_webhook_service_posts_json_with_the_shared_secret_from_the_secret() -> None:
    service = yaml.safe_load(configmap()["data"]["service.webhook.mlops-glue"])
    assert service["url"] == "$mlops-glue-url"
    headers = {h["name"]: h["value"] for h in service["headers"]}
    assert headers["Content-Type"] == "application/json"
    # the header the function checks by default, with the value from argocd-notifications-secret
    assert headers[ArgoCD().header] == "$mlops-glue-token"
    assert set(service) <= {"url", "headers", "basicAuth", "insecureSkipVerify", "retryMax"}


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_templates_are_the_catalogs_plus_our_webhook(trigger: str) -> None:
    name = f"template.{TEMPLATE_FOR[trigger]}"
    ours = yaml.safe_load(configmap()["data"][name])
    theirs = yaml.safe_load(catalog()[name])
    hook = ours.pop("webhook")
    assert ours == theirs, f"{name}: the catalog part drifted from the catalog"
    assert set(hook) == {"mlops-glue"}
    assert hook["mlops-glue"]["method"] == "POST"  # the webhook service defaults to GET
    assert set(hook["mlops-glue"]) == {"method", "body"}


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_catalog_trigger_sends_the_template_we_extended(trigger: str) -> None:
    conditions = yaml.safe_load(catalog()[f"trigger.{trigger}"])
    assert any(TEMPLATE_FOR[trigger] in c["send"] for c in conditions)


def test_subscriptions_cover_the_four_catalog_triggers_for_our_service() -> None:
    subs = yaml.safe_load(configmap()["data"]["subscriptions"])
    assert subs == [{"recipients": ["mlops-glue"], "triggers": list(TRIGGERS)}]
    for trigger in TRIGGERS:
        assert f"trigger.{trigger}" in catalog()


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_rendered_body_is_what_the_function_parses(trigger: str) -> None:
    tricky = 'Deployment "x" is invalid: <image> & "tag"\nline two'
    n = parse_notification(body(trigger, application(message=tricky, phase="Failed", health="Degraded")))
    assert n.trigger == trigger
    assert n.app == "fraud-detection-staging" and n.namespace == "argocd"
    assert n.synced_revision == application()["status"]["operationState"]["syncResult"]["revision"]
    assert n.sync_phase == "Failed" and n.health_status == "Degraded"
    assert n.sync_message == tricky  # toJson keeps quotes, newlines and HTML characters intact
    assert n.finished_at is not None and n.finished_at.isoformat() == "2026-11-23T10:01:40+00:00"


def test_body_without_an_operation_state_still_parses() -> None:
    app = application()
    del app["status"]["operationState"]
    n = parse_notification(body("on-health-degraded", app))
    assert n.revision == "" and n.synced_revision == app["status"]["sync"]["revision"]
    assert n.sync_phase == "" and n.finished_at is None


def test_renderer_refuses_what_it_does_not_implement() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        render("{{ .app.metadata.name | upper }}", application())
    with pytest.raises(ValueError, match="unsupported"):
        render('{{ printf "%s" .app.metadata.name }}', application())


def test_events_are_what_the_template_renders() -> None:
    """``events/argocd_*.json`` stay in sync with the template (regenerate with argocd_render.py)."""
    spec = json.loads(SPEC_EVENT.read_text(encoding="utf-8"))
    for name, expected in sample_events().items():
        got = json.loads((EVENTS / name).read_text(encoding="utf-8"))
        assert got == expected, f"events/{name} is stale: run tests/feedback/argocd_render.py"
        assert set(spec) - {"queryStringParameters"} <= set(got)
    assert {f"argocd_{t.replace('-', '_')}.json" for t in TRIGGERS} <= set(sample_events())


def test_webhook_sections_only_differ_by_trigger() -> None:
    bodies = {t: webhook(t)["body"].replace(f'"trigger": "{t}"', '"trigger": "T"') for t in TRIGGERS}
    assert len(set(bodies.values())) == 1
