"""Each function's settings are checked when its handler starts, and a missing variable is named; the
production environment is promoted through a pull request whether it is listed in the configuration or not."""

from __future__ import annotations

from typing import Any

import pytest
from intake_support import load_app
from mlops_glue import runtime
from mlops_glue.config import parse_config

from tests.conftest import load_event


def test_a_missing_state_table_is_named_instead_of_using_the_dev_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STATE_TABLE")
    runtime.reset()
    with pytest.raises(runtime.SettingsError, match=r"^Settings: STATE_TABLE is not set$"):
        runtime.state_store()


@pytest.mark.parametrize(
    ("folder", "kind", "missing"),
    [
        ("s3_new_data", "DataArrivalSettings", "DATA_BUCKET"),
        ("s3_new_data", "DataArrivalSettings", "STATE_TABLE"),
        ("cloudwatch_alarm", "Settings", "STATE_TABLE"),
        ("webhook_worker", "IntakeSettings", "INTAKE_QUEUE_URL"),
    ],
)
def test_a_handler_fails_at_start_naming_the_missing_variable(
    folder: str, kind: str, missing: str, monkeypatch: pytest.MonkeyPatch, lambda_context: Any
) -> None:
    monkeypatch.setenv("DATA_BUCKET", "ml-data-dev")
    monkeypatch.setenv("INTAKE_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/intake.fifo")
    monkeypatch.delenv(missing)
    runtime.reset()
    app = load_app(folder)
    # an S3 test event: before, the data-arrival function only found a missing DATA_BUCKET when it
    # first wrote a window, as a retried record failure
    with pytest.raises(runtime.SettingsError, match=rf"^{kind}: {missing} is not set$"):
        app.handler(load_event("sqs_s3_test_event.json"), lambda_context)


def test_the_intake_queue_names_a_missing_intake_queue_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # the Function URL handlers verify first and never raise (tests/intake/test_intake_hostile.py): for
    # them this error is a 503, so the sender retries
    monkeypatch.delenv("INTAKE_QUEUE_URL", raising=False)
    runtime.reset()
    with pytest.raises(runtime.SettingsError, match=r"^IntakeSettings: INTAKE_QUEUE_URL is not set$"):
        runtime.intake_queue()


def test_settings_are_read_once_per_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_BUCKET", "ml-data-dev")
    monkeypatch.setenv("STATE_TABLE", "mlops-glue-state-prod")
    runtime.reset()
    s = runtime.settings(runtime.DataArrivalSettings)
    assert (s.data_bucket, s.state_table) == ("ml-data-dev", "mlops-glue-state-prod")
    assert runtime.settings(runtime.DataArrivalSettings) is s
    assert runtime.settings().state_table == "mlops-glue-state-prod"


PROMOTE = """
models:
  fraud-detection:
    promote:
      environments:
{environments}
gitops: {{repo: company/ml-deployments}}
"""


@pytest.mark.parametrize(
    "environments",
    [
        "        staging: {}",
        "        staging: {}\n        production: {argocd_app: ml/fraud-detection-production}",
        "        production: {file: models/fraud/values-prod.yaml}",
    ],
)
def test_production_is_a_pull_request_whether_listed_or_not(environments: str) -> None:
    promote = parse_config(PROMOTE.format(environments=environments)).model("fraud-detection").promote
    assert promote.mode("production") == "pull_request"
    assert promote.mode("staging") == "commit"


def test_an_explicit_mode_wins_over_the_production_default() -> None:
    text = PROMOTE.format(
        environments="        production: {mode: commit}\n        staging: {mode: pull_request}"
    )
    promote = parse_config(text).model("fraud-detection").promote
    assert (promote.mode("production"), promote.mode("staging")) == ("commit", "pull_request")
