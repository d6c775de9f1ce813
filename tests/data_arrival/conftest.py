"""Fixtures of the data-arrival tests: one reference profile (synthetic data) and small batch files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from arrival_helpers import Harness, make_config, write_parquet
from mlops_glue.drift import Profile, build_profile, count_batch
from mlops_glue.drift.synth import make_table


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
