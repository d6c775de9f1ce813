"""Constants and helpers of the feedback suite (importable by name; conftest.py holds the fixtures)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mlops_glue.adapters.slack import MemoryNotifier

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
CATALOG = ROOT / "specs" / "argocd-notifications" / "catalog-install.yaml"

CONFIG = """
models:
  fraud-detection:
    promote:
      environments:
        staging: {file: models/fraud-detection/values-staging.yaml, key: model.version, mode: commit}
        production: {file: models/fraud-detection/values-production.yaml, key: model.version, mode: pull_request}
      auto_rollback: true
      auto_promote: {staging: production}
    notify: {slack_channel: "#ml-fraud", oncall: "@ml-oncall"}
  churn:
    promote:
      environments:
        staging: {argocd_app: churn-stg}
      auto_rollback: false
gitops: {backend: git, repo: /tmp/unused, branch: main}
slack: {default_channel: "#ml-deploys"}
argocd: {secret: mlops-glue/argocd-token}
"""

NOW = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)


def texts(notifier: MemoryNotifier) -> list[str]:
    return [m.text for m in notifier.messages]
