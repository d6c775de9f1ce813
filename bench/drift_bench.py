"""Drift engine benchmark steps. Each step runs in its own process (``python bench/drift_bench.py STEP
ARGS``) and prints one JSON line: in-process seconds, peak RSS in MB and the flagged columns.

Steps: ``gen`` (datasets), ``gen-wide`` (the wide datasets), ``read`` (raw pyarrow read: the floor),
``read-columns`` (raw read of the same column batches our engine reads), ``profile`` (our profile build),
``check`` (our check against a prebuilt profile), ``scipy`` (naive: full arrays, ks_2samp / chi-square),
``evidently`` (DataDriftPreset), ``read-variant`` (row groups vs iter_batches, CSV block sizes).
``profile`` and ``check`` take an optional thread count (default: every core).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def gen(out: str, rows: str, scale_rows: str) -> dict[str, Any]:
    """Reference (Parquet), current (Parquet + CSV) at ``rows``; current at ``scale_rows`` written in chunks."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from mlops_glue.drift import synth

    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    n, big = int(rows), int(scale_rows)
    synth.write(synth.make_table(n, 0), d / f"ref-{n}.parquet")
    cur = synth.make_table(n, 1, drift=True)
    synth.write(cur, d / f"cur-{n}.parquet")
    synth.write(cur, d / f"cur-{n}.csv")
    if big > n:
        chunk = 1_000_000
        pw = None
        with open(d / f"cur-{big}.csv", "wb") as csv_out:
            for i, start in enumerate(range(0, big, chunk)):
                t = synth.make_table(min(chunk, big - start), 100 + i, drift=True)
                if pw is None:
                    pw = pq.ParquetWriter(d / f"cur-{big}.parquet", t.schema)
                for batch in t.to_batches(max_chunksize=131_072):
                    pw.write_batch(batch, row_group_size=131_072)
                pacsv.write_csv(t, csv_out, pacsv.WriteOptions(include_header=i == 0))
        assert pw is not None
        pw.close()
    return {"seconds": 0.0, "rss_mb": _rss_mb(), "flagged": []}


def gen_wide(path: str, rows: str, columns: str, seed: str, drift: str) -> dict[str, Any]:
    """One wide file (Parquet or CSV by suffix), written a row group at a time; kept if it exists."""
    from mlops_glue.drift import synth

    if not Path(path).exists():
        tmp = Path(path).with_name(Path(path).name + ".part" + Path(path).suffix)
        synth.write_wide(tmp, int(rows), int(seed), int(columns), drift=drift == "drift")
        tmp.rename(path)
    return {"seconds": 0.0, "rss_mb": _rss_mb(), "flagged": []}


def read_columns(path: str) -> dict[str, Any]:
    """The floor for our reads: the same column batches of each row group (Parquet), or the same
    width-sized blocks (CSV), read with pyarrow and nothing else."""
    import pyarrow.csv as pacsv
    from mlops_glue.drift import source

    t0 = time.perf_counter()
    rows = 0
    src = source.open_source(path)
    if src.fmt == "parquet":
        with source.ParquetReader(src, []) as reader:
            for piece in reader.pieces(reader.row_major(reader.names)):
                rows += piece.rows
    else:
        names = source.csv_header(src)
        opts = pacsv.ReadOptions(block_size=source.csv_block_size(len(names)))
        for batch in pacsv.open_csv(path, read_options=opts):
            rows += batch.num_rows
    return {"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(), "flagged": [], "rows": rows}


def read(path: str) -> dict[str, Any]:
    """The floor: pyarrow reads every column of the file (row groups / CSV blocks), nothing else."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    rows = 0
    if path.endswith(".parquet"):
        pf = pq.ParquetFile(path)
        for i in range(pf.num_row_groups):
            rows += pf.read_row_group(i).num_rows
    else:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=4 << 20))
        for batch in reader:
            rows += batch.num_rows
    return {"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(), "flagged": [], "rows": rows}


def read_variant(path: str, variant: str) -> dict[str, Any]:
    """Reading strategies compared: ``rowgroup``, ``iter_batches``; CSV ``block4mb``, ``block64mb``."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    if variant == "rowgroup":
        pf = pq.ParquetFile(path)
        for i in range(pf.num_row_groups):
            pf.read_row_group(i)
    elif variant == "iter_batches":
        for _ in pq.ParquetFile(path).iter_batches(batch_size=65_536):
            pass
    else:
        size = {"block4mb": 4 << 20, "block64mb": 64 << 20}[variant]
        for _ in pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=size)):
            pass
    return {"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(), "flagged": []}


def _warm_imports() -> None:
    """Imports count in the wall time, not in the in-process time: load what the engine loads (it never
    imports pandas or scipy.stats on these paths; tests/drift/test_imports.py holds it to that)."""
    import pyarrow.csv
    import pyarrow.parquet  # noqa: F401
    import scipy.special  # noqa: F401


def profile(path: str, out: str, threads: str = "0") -> dict[str, Any]:
    _warm_imports()
    from mlops_glue.drift import build_profile

    t0 = time.perf_counter()
    p = build_profile(path, threads=int(threads) or None)
    Path(out).write_bytes(p.to_json())
    return {
        "seconds": time.perf_counter() - t0,
        "rss_mb": _rss_mb(),
        "flagged": [],
        "bytes": len(p.to_json()),
    }


def check(profile_path: str, path: str, threads: str = "0") -> dict[str, Any]:
    """Our check end to end inside the process: load the profile, stream-count the batch, evaluate."""
    _warm_imports()
    from mlops_glue.config import DriftSettings
    from mlops_glue.drift import count_batch, evaluate, load_profile

    t0 = time.perf_counter()
    p = load_profile(profile_path)
    counts = count_batch(p, path, threads=int(threads) or None)
    result = evaluate(p, counts, DriftSettings(min_rows=1))
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "rss_mb": _rss_mb(),
        "flagged": sorted(result.drifted_columns),
        "window_bytes": len(counts.to_bytes()),
        "verdict": result.verdict,
    }


def scipy_naive(ref: str, cur: str) -> dict[str, Any]:
    """What one writes first: load both files whole, ks_2samp per numeric column, chi-square per category."""
    import pyarrow.parquet as pq
    from scipy import stats

    t0 = time.perf_counter()
    a, b = pq.read_table(ref), pq.read_table(cur)
    flagged = []
    for name in a.column_names:
        x = a.column(name).drop_null().to_numpy(zero_copy_only=False)
        y = b.column(name).drop_null().to_numpy(zero_copy_only=False)
        if x.dtype.kind == "f":
            p = stats.ks_2samp(x[~np.isnan(x)], y[~np.isnan(y)]).pvalue
        else:
            keys = np.union1d(np.unique(x), np.unique(y))
            fx = np.array([np.sum(x == k) for k in keys], dtype=float)
            fy = np.array([np.sum(y == k) for k in keys], dtype=float)
            p = stats.chi2_contingency(np.vstack([fx, fy]))[1]
        if p < 0.05:
            flagged.append(name)
    return {"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(), "flagged": sorted(flagged)}


def evidently(ref: str, cur: str) -> dict[str, Any]:
    """Evidently 0.7 DataDriftPreset with its defaults on the two files read into pandas."""
    import pyarrow.parquet as pq
    from evidently import Report
    from evidently.presets import DataDriftPreset

    t0 = time.perf_counter()
    a, b = pq.read_table(ref).to_pandas(), pq.read_table(cur).to_pandas()
    snap = Report([DataDriftPreset()]).run(current_data=b, reference_data=a)
    flagged = []
    for m in snap.dict()["metrics"]:
        cfg = m["config"]
        if "column" not in cfg:
            continue
        value, thr = float(m["value"]), float(cfg["threshold"])
        distance = cfg["method"].startswith(("Wasserstein", "Jensen"))
        if (value >= thr) if distance else (value <= thr):
            flagged.append(cfg["column"])
    return {"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(), "flagged": sorted(flagged)}


STEPS = {
    "gen": gen,
    "gen-wide": gen_wide,
    "read-columns": read_columns,
    "read": read,
    "read-variant": read_variant,
    "profile": profile,
    "check": check,
    "scipy": scipy_naive,
    "evidently": evidently,
}

ONE_CORE = ":1core"
"""A step name ending in this runs pinned to one core (before pyarrow or numpy start a thread): the
speedup from the machine's cores, in turn with the same step on all of them."""

if __name__ == "__main__":
    name = sys.argv[1]
    if name.endswith(ONE_CORE):
        import os

        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        name = name[: -len(ONE_CORE)]
    print(json.dumps(STEPS[name](*sys.argv[2:])))
