"""Fixtures of the deployment-feedback suite: configuration, the shared local GitOps repository, adapters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from feedback_support import CONFIG, NOW
from gitops_fixtures import bare_repo, git_server, gitops_backend, make_git_repo, no_git_on_path  # noqa: F401
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import GlueConfig, parse_config


@pytest.fixture
def config() -> GlueConfig:
    return parse_config(CONFIG, origin="feedback-test.yaml")


@pytest.fixture
def registry() -> MemoryRegistry:
    reg = MemoryRegistry()
    for model in ("fraud-detection", "churn"):
        for v in range(1, 20):
            reg.add(ModelVersion(model, str(v), f"run-{model}-{v}"), {"val_auc": 0.9})
    return reg


@pytest.fixture
def store() -> MemoryStateStore:
    return MemoryStateStore()


@pytest.fixture
def notifier() -> MemoryNotifier:
    return MemoryNotifier()


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW
