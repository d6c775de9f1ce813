"""What one Lambda invocation can do in 15 minutes, from the throughput measured in ``bench/wide.py``.

Memory is not the limit: reads are column-batched, so a check or a profile build peaks under 600 MB at
1,000 columns whatever the row count. Time is: a 15-minute invocation with ``vCPUs = min(6, memory /
1,769 MB)`` cores counts so many values per second, and reads S3 at so many bytes per second. A job that
would take more than :data:`SAFETY` of the timeout runs as the ``drift-engine`` Argo WorkflowTemplate
(``deploy/argo/drift-engine.yaml``) with the same engine instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Step = Literal["check", "profile"]
Format = Literal["parquet", "csv"]

LAMBDA_TIMEOUT_S = 900.0
LAMBDA_MB_PER_VCPU = 1769.0
LAMBDA_MAX_MB = 10_240
LAMBDA_MAX_VCPUS = 6.0
SAFETY = 0.5
"""Plan for half the timeout: S3 slower than the benchmark's page cache, a slow neighbour, a retry."""

S3_BYTES_PER_S = 90e6
"""One sequential stream of 8 MB range requests from S3 in the same region (an assumption, not measured
here: this machine reaches no S3); the bound only matters where it is below the compute bound."""


@dataclass(frozen=True)
class Throughput:
    """Values (rows × columns) counted per second on one core, and the share of the work that runs in
    parallel (from the 1- and 2-thread runs: speedup s on 2 cores gives f = 2 (1 - 1/s))."""

    values_per_s: float
    parallel: float

    def seconds(self, values: float, vcpus: float) -> float:
        """Amdahl's law: ``values`` on ``vcpus`` cores."""
        speedup = 1.0 / ((1.0 - self.parallel) + self.parallel / max(vcpus, 1.0))
        return values / (self.values_per_s * speedup)


# bench/wide.py, 1,000,000 rows x 1,000 columns on this project's 2-core machine (README "Benchmarks"):
# Parquet check 18.0 s on 1 thread, 14.3 s on 2; profile build 30.5 s and 20.4 s. CSV was measured on 2
# threads only (check 62 s; parsing is pyarrow's own threads): no gain from more cores is assumed, and the
# CSV profile build (two parses, not measured at this width) is taken as twice the check.
MEASURED: dict[tuple[Step, Format], Throughput] = {
    ("check", "parquet"): Throughput(values_per_s=55e6, parallel=0.41),
    ("profile", "parquet"): Throughput(values_per_s=33e6, parallel=0.67),
    ("check", "csv"): Throughput(values_per_s=16e6, parallel=0.0),
    ("profile", "csv"): Throughput(values_per_s=8e6, parallel=0.0),
}


def lambda_vcpus(memory_mb: float) -> float:
    """Lambda's cores for a memory size: one vCPU per 1,769 MB, up to 6."""
    return min(LAMBDA_MAX_VCPUS, max(memory_mb, 128.0) / LAMBDA_MB_PER_VCPU)


@dataclass(frozen=True)
class Plan:
    """Where a job runs and why."""

    runs_in: Literal["lambda", "argo"]
    seconds: float
    """Estimated seconds in Lambda at ``memory_mb``."""
    budget: float
    vcpus: float
    reason: str


def plan(
    step: Step, fmt: Format, rows: int, columns: int, size_bytes: int, memory_mb: float = LAMBDA_MAX_MB
) -> Plan:
    """Lambda when the job's estimated time, the slower of counting and reading S3, fits in
    :data:`SAFETY` of the 15-minute timeout; else the Argo step."""
    vcpus = lambda_vcpus(memory_mb)
    compute = MEASURED[(step, fmt)].seconds(float(rows) * columns, vcpus)
    passes = 2.0 if step == "profile" else 1.0  # the profile build reads the file twice (at most)
    io = passes * size_bytes / S3_BYTES_PER_S
    seconds = max(compute, io)
    budget = SAFETY * LAMBDA_TIMEOUT_S
    what = f"{step} of {rows:,} rows x {columns:,} columns ({size_bytes / 1e9:.2f} GB {fmt})"
    detail = f"about {seconds:.0f} s at {memory_mb:,.0f} MB ({vcpus:.1f} vCPU); budget {budget:.0f} s"
    if seconds <= budget:
        return Plan("lambda", seconds, budget, vcpus, f"{what} fits one invocation: {detail}")
    return Plan("argo", seconds, budget, vcpus, f"{what} exceeds one invocation: {detail}")


def largest_rows(step: Step, fmt: Format, columns: int, bytes_per_value: float, memory_mb: float) -> int:
    """The most rows of ``columns`` columns one invocation handles within the budget."""
    vcpus = lambda_vcpus(memory_mb)
    budget = SAFETY * LAMBDA_TIMEOUT_S
    per_row = max(
        MEASURED[(step, fmt)].seconds(float(columns), vcpus),
        (2.0 if step == "profile" else 1.0) * columns * bytes_per_value / S3_BYTES_PER_S,
    )
    return int(budget / per_row)
