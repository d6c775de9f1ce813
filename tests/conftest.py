"""Shared fixtures: real-shaped events from ``events/``, moto-backed AWS built from ``template.yaml``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
SPECS = ROOT / "specs"  # vendored copy of ../shared/specs (tests/test_specs.py)

# never talk to a real AWS account from the tests
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "MLOpsGlue")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "mlops-glue-tests")
os.environ.setdefault(
    "STATE_TABLE", "mlops-glue-state-dev"
)  # template.yaml's Globals set it for every function


# Hypothesis' default 200 ms per-example deadline is a wall-clock limit: on a shared 2-core machine
# (two pytest workers, CI) a first example that imports or compiles ran past it and failed a correct
# test as "flaky". Every example is still run and checked; only the wall-clock limit is off.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")

# The suite runs on two workers (`make unit`: pytest -n 2 --dist loadfile --no-loadscope-reorder);
# a file is one unit of work and a worker takes the next file when it is almost idle. These files
# take the longest (real MLflow servers, the demo's whole loop, the storms), so they go first: a long
# file started last would leave one worker running it alone at the end. Order within a file is kept.
SLOW_FIRST = (
    "tests/e2e/test_demo_e2e.py",
    "tests/promotion/test_promotion_mlflow_e2e.py",
    "tests/data_arrival/test_arrival_faults.py",
    "tests/data_arrival/test_arrival_fault_storm.py",
    "tests/data_arrival/test_arrival_bounds.py",
    "tests/data_arrival/test_arrival_storm.py",
    "tests/data_arrival/test_arrival_offload.py",
    "tests/intake/test_intake_outage.py",
    "tests/drift/test_drift_evidently.py",
    "tests/feedback/test_feedback_git.py",
    "tests/feedback/test_feedback_handler.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable


def load_event(name: str) -> dict[str, Any]:
    """A payload from ``events/`` (the same files feed ``sam local invoke -e``)."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def aws() -> Iterator[Any]:
    """A boto3 Session on moto (in-process)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.Session(region_name="eu-west-1")


@pytest.fixture
def stack(aws: Any) -> dict[str, str]:
    """The template's tables, queues and alarms created on moto, stage ``dev``."""
    from glue_local.devstack import create_stack

    params = {
        "Stage": "dev",
        "DataBucketName": "ml-data-dev",
        "MlflowWebhookSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mlflow",
        "GitOpsTokenSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gitops",
        "SlackSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack",
        "ArgoTokenSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:argo",
        "ArgoCDSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:argocd",
    }
    return create_stack(ROOT / "template.yaml", params, aws)


@pytest.fixture
def lambda_context() -> Any:
    """Enough of the Lambda context for Powertools' decorators (the demo's LocalContext)."""
    from glue_local.localfront import LocalContext

    return LocalContext("mlops-glue-test")


@pytest.fixture(autouse=True)
def _reset_runtime() -> Iterator[None]:
    """Cached runtime adapters never leak from one test into the next."""
    from mlops_glue import runtime

    runtime.reset()
    yield
    runtime.reset()
