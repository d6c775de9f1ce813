"""Fixtures for the drift engine tests: a reference profile and batches on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from drift_data import frame, write


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("drift")
    return {
        "ref": write(frame(6000, 1), d / "ref.parquet", row_group_size=1000),
        "same": write(frame(6000, 2), d / "same.parquet"),
        "shifted": write(frame(6000, 3, shift=0.6, cat_p=[0.1, 0.2, 0.3, 0.4]), d / "shifted.parquet"),
        "same_csv": write(frame(6000, 2), d / "same.csv"),
    }


@pytest.fixture(scope="module")
def profile(files: dict[str, Path]) -> Any:
    from mlops_glue.drift import build_profile

    return build_profile(files["ref"])
