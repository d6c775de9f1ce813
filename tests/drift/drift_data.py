"""Small generated datasets for the drift tests (written as Parquet or CSV with pyarrow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def frame(n: int, seed: int, *, shift: float = 0.0, scale: float = 1.0, cat_p: Any = None) -> dict[str, Any]:
    """Columns: x (normal float), i (many integers), k (4 integers), c (strings), m (float with NaNs),
    b (two strings; its share follows the first category share of ``cat_p``)."""
    rng = np.random.default_rng(seed)
    m = rng.exponential(2.0, n) + shift
    m[rng.random(n) < 0.1] = np.nan
    c = rng.choice(["a", "b", "c", "d"], n, p=cat_p or [0.4, 0.3, 0.2, 0.1]).astype(object)
    c[rng.random(n) < 0.05] = None
    yes = (cat_p or [0.4])[0]
    b = rng.choice(["no", "yes"], n, p=[1 - yes, yes])
    return {
        "b": b,
        "x": rng.normal(shift, scale, n),
        "i": rng.integers(0, 200, n) + int(shift * 20),
        "k": rng.integers(0, 4, n),
        "c": c,
        "m": m,
    }


def table(cols: dict[str, Any]) -> pa.Table:
    return pa.table({k: pa.array(v, from_pandas=True) for k, v in cols.items()})


def write(cols: dict[str, Any] | pa.Table, path: Path, **kwargs: Any) -> Path:
    t = cols if isinstance(cols, pa.Table) else table(cols)
    if path.suffix == ".csv":
        pacsv.write_csv(t, path)
    else:
        pq.write_table(t, path, **kwargs)
    return path
