"""Synthetic tabular data with known drift, for the demo, the tests and the benchmark.

``make_table(rows, seed)`` gives a reference; ``make_table(rows, seed, drift=True)`` a batch where exactly
:data:`DRIFTED` columns drift (Evidently's defaults flag them), :data:`SUBTLE` shifts by 0.03 standard
deviations (flagged by p-value tests at a million rows, not by distances) and the rest do not change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

N_NUMERIC = 20
N_CATEGORICAL = 5
DRIFTED = ("num_03", "num_07", "num_12", "cat_1", "cat_3")
SUBTLE = "num_15"
WITH_NULLS = ("num_05", "num_11", "cat_2")

_CATS = {
    0: ["a", "b", "c"],
    1: ["red", "green", "blue", "yellow", "black", "white"],
    2: [f"region-{i:02d}" for i in range(12)],
    3: [f"sku-{i:03d}" for i in range(40)],
    4: ["yes", "no"],
}


def _numeric(i: int, rng: np.random.Generator, rows: int, drift: bool) -> np.ndarray[Any, Any]:
    kind = i % 5
    if kind == 0:
        x = rng.normal(10 * i, 3 + i, rows)
    elif kind == 1:
        x = rng.lognormal(0.5, 0.75, rows)
    elif kind == 2:
        x = rng.uniform(-i, 2 * i + 1, rows)
    elif kind == 3:
        x = rng.exponential(2.0 + i, rows)
    else:
        x = rng.poisson(30 + i, rows).astype(np.float64)
    if drift:
        std = float(np.std(x))
        if f"num_{i:02d}" == "num_03":
            x = x + 0.5 * std
        elif f"num_{i:02d}" == "num_07":
            x = (x - x.mean()) * 1.6 + x.mean()
        elif f"num_{i:02d}" == "num_12":
            x = x + rng.normal(0.0, 0.8 * std, rows)
        elif f"num_{i:02d}" == SUBTLE:
            x = x + 0.03 * std
    return x


def _categorical(j: int, rng: np.random.Generator, rows: int, drift: bool) -> pa.Array:
    values = list(_CATS[j])
    weights: np.ndarray[Any, Any] = np.arange(len(values), 0, -1, dtype=np.float64)
    if drift and j == 1:
        weights = weights[::-1].copy()
    if drift and j == 3:
        values = [*values, "sku-new-1", "sku-new-2"]
        weights = np.concatenate([weights, [weights.sum() * 0.2, weights.sum() * 0.2]])
    idx = rng.choice(len(values), size=rows, p=weights / weights.sum()).astype(np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(idx), pa.array(values)).cast(pa.string())


def make_table(rows: int, seed: int = 0, *, drift: bool = False) -> pa.Table:
    """A table of ``rows`` rows: ``num_00..num_19`` (float64) and ``cat_0..cat_4`` (string)."""
    rng = np.random.default_rng(seed)
    cols: dict[str, pa.Array] = {}
    for i in range(N_NUMERIC):
        name = f"num_{i:02d}"
        x = _numeric(i, rng, rows, drift)
        mask = rng.random(rows) < 0.05 if name in WITH_NULLS else None
        cols[name] = pa.array(x, mask=mask)
    for j in range(N_CATEGORICAL):
        name = f"cat_{j}"
        arr = _categorical(j, rng, rows, drift)
        if name in WITH_NULLS:
            mask = pa.array(rng.random(rows) < 0.05)
            arr = pc.if_else(mask, pa.scalar(None, pa.string()), arr)
        cols[name] = arr
    return pa.table(cols)


def write(table: pa.Table, path: str | Path, *, row_group_size: int = 131_072) -> Path:
    """Write ``table`` as Parquet or CSV, chosen by the file suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path, row_group_size=row_group_size)
    return path


# ------------------------------------------------------------------------------------------ wide

WIDE_CATEGORIES = [f"v{i}" for i in range(8)]


def wide_names(columns: int) -> list[str]:
    """``n0000``… numeric and every tenth column (``c0009``, ``c0019``…) categorical."""
    return [f"c{j:04d}" if j % 10 == 9 else f"n{j:04d}" for j in range(columns)]


_DRIFT_AT = (0, 9, 3, 6)  # position of the drifted column in each run of ten, cycling


def wide_drifted(columns: int) -> list[str]:
    """The tenth of the columns :func:`wide_table` drifts: one in each run of ten, at positions 0, 9, 3,
    6 in turn (``n0000, c0019, n0023, n0036, n0040…``), so a quarter of them are categorical; sorted."""
    names = wide_names(columns)
    return sorted(names[j] for j in range(columns) if j % 10 == _DRIFT_AT[(j // 10) % 4])


def wide_table(rows: int, seed: int, columns: int = 1000, *, drift: bool = False) -> pa.Table:
    """``rows`` × ``columns``: numeric columns of five distribution families (rounded to 4 decimals, as
    measured data is), categorical columns of 8 strings, nulls in every 50th column; with ``drift`` the
    :func:`wide_drifted` columns shift by half a standard deviation (numeric) or reverse their category
    shares (categorical), the others keep their distribution."""
    rng = np.random.default_rng(seed)
    drifted = set(wide_drifted(columns)) if drift else set()
    cols: dict[str, pa.Array] = {}
    weights = np.arange(len(WIDE_CATEGORIES), 0, -1, dtype=np.float64)
    dictionary = pa.array(WIDE_CATEGORIES)
    for j, name in enumerate(wide_names(columns)):
        mask = rng.random(rows) < 0.05 if j % 50 == 7 else None
        if name.startswith("c"):
            w = weights[::-1] if name in drifted else weights
            idx = rng.choice(len(w), size=rows, p=w / w.sum()).astype(np.int32)
            arr = pa.DictionaryArray.from_arrays(pa.array(idx, mask=mask), dictionary).cast(pa.string())
            cols[name] = arr
            continue
        x = _numeric(j % 20, rng, rows, False)
        if name in drifted:
            x = x + 0.5 * float(np.std(x))
        cols[name] = pa.array(np.round(x, 4), mask=mask)
    return pa.table(cols)


def write_wide(
    path: str | Path,
    rows: int,
    seed: int,
    columns: int = 1000,
    *,
    drift: bool = False,
    row_group_size: int = 65_536,
) -> Path:
    """Write :func:`wide_table` data of ``rows`` rows as Parquet (row groups of ``row_group_size``) or CSV,
    one row group's worth generated at a time (memory stays that of one chunk)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: Any = None
    try:
        for k, start in enumerate(range(0, rows, row_group_size)):
            t = wide_table(min(row_group_size, rows - start), seed * 100_003 + k, columns, drift=drift)
            if writer is None:
                writer = (
                    pacsv.CSVWriter(path, t.schema)
                    if path.suffix == ".csv"
                    else pq.ParquetWriter(path, t.schema)
                )
            writer.write_table(t)
    finally:
        if writer is not None:
            writer.close()
    return path
