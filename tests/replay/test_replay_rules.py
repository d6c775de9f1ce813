"""The simulation feeds the budget rules a compact ledger: it must give the very reasons the full one gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from mlops_glue.decisions.budget import deferral_reasons, record_run
from mlops_glue.documents import Ledger
from mlops_glue.replay.simulate import Simulation

from tests.replay.fortnight import base_doc, config


@pytest.mark.parametrize("seed", range(5))
def test_the_compact_ledger_gives_the_reasons_of_the_full_one(seed: int) -> None:
    rng = random.Random(seed)
    sim = Simulation(config(base_doc()))
    full: Ledger | None = None
    t = datetime(2026, 10, 20, tzinfo=UTC)  # across a month boundary
    for i in range(300):
        t += timedelta(minutes=rng.choice([5, 30, 90, 240, 600]))
        gpu = rng.choice([0.5, 2.0, 4.0])
        full = record_run(full, t, gpu, f"d{i}")
        sim.runs.setdefault("m", []).append((t, t.isoformat(), gpu, f"d{i}"))
        sim._times.setdefault("m", []).append(t)
        cum = sim._cum.setdefault("m", [0.0])
        cum.append(cum[-1] + gpu)
        now = t + timedelta(minutes=rng.choice([0, 1, 60, 1439, 1441, 3000]))
        kw = {
            "cooldown": timedelta(hours=rng.choice([0, 6, 24])),
            "max_per_day": rng.choice([1, 3, 8]),
            "gpu_hours_per_run": 4.0,
            "monthly_gpu_hours": rng.choice([50.0, 200.0, 400.0]),
        }
        assert deferral_reasons(sim._ledger("m", now), now, **kw) == deferral_reasons(full, now, **kw)  # type: ignore[arg-type]
