"""A secret rotated in Secrets Manager between two deliveries: both are accepted and processed.

The handlers read secrets through the real adapter (Powertools' SecretsProvider, cached 5 minutes) on
moto's Secrets Manager: a delivery signed with the new secret matches after one fresh read, and a sender
still signing with the old one matches ``AWSPREVIOUS`` during the rotation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from intake_support import Intake, intake
from mlops_glue.webhooks import sign

from glue_local.argocd_render import application, body
from tests.conftest import load_event
from tests.feedback.argocd_render import function_url_event

OLD, NEW = "webhook-secret-before-rotation", "webhook-secret-after-rotation"
TOKEN_OLD, TOKEN_NEW = "argocd-token-before-rotation", "argocd-token-after-rotation"


def delivery(secret: str, delivery_id: str, version: str) -> dict[str, Any]:
    event = load_event("mlflow_model_version_alias_created.json")
    raw = json.dumps(
        {
            "entity": "model_version_tag",
            "action": "set",
            "timestamp": "2026-11-23T08:23:41+00:00",
            "data": {"name": "fraud-detection", "version": version, "key": "note", "value": "x"},
        }
    ).encode()
    stamp = event["headers"]["x-mlflow-timestamp"]
    event["headers"].update(
        {"x-mlflow-delivery-id": delivery_id, "x-mlflow-signature": sign(secret, delivery_id, stamp, raw)}
    )
    event["body"] = raw.decode()
    return event


@pytest.fixture
def it(
    stack: dict[str, str],
    aws: Any,
    tmp_path: Path,
    bare_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> Intake:
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(
        "models:\n  fraud-detection: {}\n"
        "mlflow: {webhook_secret: mlflow-webhook, replay_window: 36500d}\n"
        "argocd: {secret: argocd-token}\n"
        f'gitops: {{backend: git, repo: "{bare_repo}", branch: main}}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="mlflow-webhook", SecretString=OLD)
    sm.create_secret(Name="argocd-token", SecretString=TOKEN_OLD)
    pipeline = intake(stack, aws, monkeypatch, lambda_context)
    pipeline.observe()
    return pipeline


def test_mlflow_secret_rotated_between_two_deliveries(it: Intake, aws: Any) -> None:
    first = it.post_mlflow(delivery(OLD, "d-before", "1"))  # fills the 5-minute cache with OLD
    aws.client("secretsmanager").put_secret_value(SecretId="mlflow-webhook", SecretString=NEW)
    second = it.post_mlflow(delivery(NEW, "d-after", "2"))  # cache says OLD: one fresh read finds NEW
    late = it.post_mlflow(delivery(OLD, "d-late-sender", "3"))  # a sender not updated yet: AWSPREVIOUS
    forged = it.post_mlflow(delivery("never-the-secret", "d-forged", "4"))
    it.drain()

    assert [first[0], second[0], late[0], forged[0]] == [202, 202, 202, 401]
    assert [e.delivery_id for e, _ in it.results] == ["d-before", "d-after", "d-late-sender"]
    assert all(r["status"] == "ignored" for _, r in it.results)  # a tag we do not act on: processed


def test_argocd_token_rotated_between_two_notifications(it: Intake, aws: Any) -> None:
    event = function_url_event(body("on-deployed", application()), token=TOKEN_OLD)
    assert it.post_argocd(event)[0] == 202
    aws.client("secretsmanager").put_secret_value(SecretId="argocd-token", SecretString=TOKEN_NEW)
    rotated = function_url_event(body("on-health-degraded", application(health="Degraded")), token=TOKEN_NEW)
    assert it.post_argocd(rotated)[0] == 202
    wrong = function_url_event(body("on-sync-failed", application(phase="Failed")), token="guess")
    assert it.post_argocd(wrong)[0] == 401
    it.drain()
    assert len(it.results) == 2 and all(r["outcome"] == "ignored" for _, r in it.results)
