"""Where a job runs: one Lambda invocation while the measured throughput says it fits, else Argo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from drift_data import frame, write
from mlops_glue.cli import main
from mlops_glue.drift import capacity


def test_lambda_cores_follow_memory() -> None:
    assert capacity.lambda_vcpus(1769) == pytest.approx(1.0)
    assert capacity.lambda_vcpus(10_240) == pytest.approx(10_240 / 1769)
    assert capacity.lambda_vcpus(64_000) == 6.0


def test_small_jobs_stay_in_lambda_and_large_ones_go_to_argo() -> None:
    small = capacity.plan("check", "parquet", 1_000_000, 25, 200_000_000)
    assert small.runs_in == "lambda" and small.seconds < small.budget
    limit = capacity.largest_rows("profile", "parquet", 1000, 5.5, 10_240)
    assert capacity.plan("profile", "parquet", limit, 1000, int(limit * 1000 * 5.5)).runs_in == "lambda"
    over = capacity.plan("profile", "parquet", 2 * limit, 1000, int(2 * limit * 1000 * 5.5))
    assert over.runs_in == "argo" and "exceeds one invocation" in over.reason
    # reading S3 bounds uncompressed doubles whatever the cores; well-compressed data is bound by the
    # cores, and 2 GB of memory is 1.2 vCPU
    assert capacity.largest_rows("check", "parquet", 1000, 5.5, 2048) == capacity.largest_rows(
        "check", "parquet", 1000, 5.5, 10_240
    )
    assert capacity.largest_rows("check", "parquet", 1000, 0.1, 2048) < capacity.largest_rows(
        "check", "parquet", 1000, 0.1, 10_240
    )


def test_plan_command_reads_only_the_footer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(frame(3000, 1), tmp_path / "ref.parquet")
    assert main(["drift", "plan", str(path), "--step", "profile", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs_in"] == "lambda" and "3,000 rows x 6 columns" in out["reason"]
    csv = write(frame(3000, 1), tmp_path / "ref.csv")
    assert main(["drift", "plan", str(csv)]) == 0
    assert capsys.readouterr().out.startswith("Lambda: check of 3,000 rows x 6 columns")
