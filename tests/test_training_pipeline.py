"""The training pipeline as the glue submits it: every parameter sent is one the WorkflowTemplate declares
(Argo refuses the others), every parameter without a default is sent, and placeholders in
``retrain.argo.parameters`` are checked when the configuration loads. The template's S3 locations
against the executor's IAM policy: ``terraform/tests/training_pipeline.tftest.hcl``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from mlops_glue.config import ConfigError, parse_config
from mlops_glue.records import Decision, Kind, Outcome
from mlops_glue.services.training import build_submission

from tests.conftest import ROOT

TEMPLATE = ROOT / "deploy" / "argo" / "training-pipeline.yaml"

CONFIG = """
models:
  fraud-detection:
    retrain:
      argo:
        parameters:
          image: "registry.example/train:{environment}"
          mlflow-tracking-uri: http://mlflow.{environment}.svc:5000
argo:
  server: https://argo.example
  artifacts_bucket: mlops-glue-prod-artifacts-123456789012
  environment: prod
"""


def _declared() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    return {p["name"]: p for p in doc["spec"]["arguments"]["parameters"]}


def _decision(**evidence: Any) -> Decision:
    return Decision(
        decision_id="d-0123456789abcdef0123",
        model="fraud-detection",
        kind=Kind.RETRAIN,
        outcome=Outcome.ACTED,
        reasons=["3,600 new rows"],
        evidence={"trigger": "rows", **evidence},
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("evidence", "manifest", "version"),
    [
        (
            {"window_id": "w000003-abcd1234"},
            "s3://d/mlops-glue/manifests/fraud-detection/w000003-abcd1234.json",
            "w000003-abcd1234",
        ),
        (
            {"dataset": {"uri": "s3://d/m/w000002-ffff0000.json", "window_id": "w000002-ffff0000"}},
            "s3://d/m/w000002-ffff0000.json",
            "w000002-ffff0000",
        ),
        ({}, "s3://ml-data-prod/fraud/incoming/", ""),
    ],
)
def test_every_parameter_sent_is_declared_and_every_required_one_is_sent(
    evidence: dict[str, Any], manifest: str, version: str
) -> None:
    cfg = parse_config(CONFIG)
    sub = build_submission(
        _decision(**evidence),
        cfg.model("fraud-detection"),
        dataset_manifest_uri=manifest,
        priority=0,
        argo=cfg.argo,
    )
    declared = _declared()
    assert set(sub.parameters) <= set(declared)
    assert {n for n, p in declared.items() if "value" not in p} <= set(sub.parameters)
    assert sub.parameters["dataset-version"] == version
    assert sub.parameters["environment"] == "prod"
    assert sub.parameters["artifacts-bucket"] == "mlops-glue-prod-artifacts-123456789012"
    assert sub.parameters["image"] == "registry.example/train:prod"


def test_every_workflow_parameter_the_template_uses_is_declared() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    import re

    used = set(re.findall(r"\{\{workflow\.parameters\.([a-z0-9-]+)\}\}", text))
    assert used and used <= set(_declared())
    assert "s3://ml-artifacts" not in text  # the bucket is a parameter, never hard-coded


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{dataset}", "unknown placeholder(s) ['dataset']"),
        ("{model}-{windw}", "unknown placeholder(s) ['windw']"),
        ("{}", "unknown placeholder(s) ['']"),
        ("{model", "expected '}' before end of string"),
    ],
)
def test_unknown_placeholders_fail_when_the_configuration_loads(value: str, message: str) -> None:
    text = CONFIG.replace('"registry.example/train:{environment}"', f'"{value}"')
    with pytest.raises(ConfigError, match=r"models\.fraud-detection\.retrain\.argo\.parameters") as exc:
        parse_config(text)
    assert message in str(exc.value)


def test_known_placeholders_and_literal_braces_load() -> None:
    text = CONFIG.replace(
        '"registry.example/train:{environment}"', '"{{literal}}-{dataset_version}-{decision_id}"'
    )
    cfg = parse_config(text)
    assert cfg.model("fraud-detection").retrain.argo.parameters["image"].startswith("{{literal}}")
