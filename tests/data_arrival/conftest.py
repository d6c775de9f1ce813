"""Fixtures of the data-arrival tests: one reference profile (synthetic data) and small batch files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from arrival_helpers import BUCKET, Harness, config_text, load_app, make_config, write_parquet
from mlops_glue import runtime
from mlops_glue.drift import Profile, build_profile, count_batch
from mlops_glue.drift.synth import make_table

from glue_local.standins import ArgoStandin, SlackStandin, load_templates
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("arrival-data")


@pytest.fixture(scope="session")
def reference(data_dir: Path) -> Path:
    return write_parquet(make_table(4000, seed=1), data_dir / "reference.parquet")


@pytest.fixture(scope="session")
def profile(reference: Path) -> Profile:
    return build_profile(str(reference))


@pytest.fixture
def harness(profile: Profile) -> Harness:
    return Harness(make_config(), profile)


@pytest.fixture
def local_counter(tmp_path: Path) -> tuple[dict[str, Path], Callable[[Any, Any], Any]]:
    """Files by S3 key, counted for real from local disk (the S3 streaming path has its own moto test)."""
    files: dict[str, Path] = {}

    def count(profile: Any, ref: Any) -> Any:
        return count_batch(profile, str(files[ref.key]), source_id=ref.oid)

    return files, count


@pytest.fixture
def argo() -> Iterator[ArgoStandin]:
    server = ArgoStandin(templates=load_templates(ROOT / "deploy" / "argo"), token="argo-token")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    server = SlackStandin()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def deployed(
    aws: Any,
    stack: dict[str, str],
    profile: Profile,
    argo: ArgoStandin,
    slack: SlackStandin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """The function's environment as template.yaml sets it, on moto, with the stand-ins as Argo and Slack."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="fraud/reference/profile.json", Body=profile.to_json())
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="mlops-glue/argo-token", SecretString="argo-token")
    sm.create_secret(Name="mlops-glue/slack-webhook", SecretString=f"{slack.url}/hooks/T0/B0/x")
    doc = json.loads(config_text(min_new_rows=300))
    doc["argo"] = {
        "server": argo.url,
        "token_secret": "mlops-glue/argo-token",
        "artifacts_bucket": "mlops-glue-dev-artifacts-123456789012",  # the template requires it
    }
    doc["slack"] = {"webhook_secret": "mlops-glue/slack-webhook"}
    cfg_file = tmp_path / "glue.yaml"
    cfg_file.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("STATE_TABLE", stack["StateTable"])
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg_file))
    monkeypatch.setenv("DATA_BUCKET", BUCKET)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "s3-new-data")
    runtime.reset()
    return {"s3": s3, "stack": stack, "app": load_app(), "config": cfg_file, "doc": doc}
