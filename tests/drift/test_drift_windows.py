"""Counts are additive: merging windows is associative, commutative and independent of chunk size."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from drift_data import frame, table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_glue.drift import WindowCounts, count_batch, evaluate
from mlops_glue.drift.counts import CategoricalCounts, NumericCounts


def same(a: WindowCounts, b: WindowCounts) -> None:
    """Equal counts (float sums to rounding)."""
    assert (a.rows, a.files, a.missing, a.new, a.retyped, a.bad_rows, a.sources) == (
        b.rows,
        b.files,
        b.missing,
        b.new,
        b.retyped,
        b.bad_rows,
        b.sources,
    )
    assert a.columns.keys() == b.columns.keys()
    for name, x in a.columns.items():
        y = b.columns[name]
        assert np.array_equal(x.counts, y.counts), name
        assert (x.nulls, x.unparseable) == (y.nulls, y.unparseable), name
        if isinstance(x, NumericCounts):
            assert isinstance(y, NumericCounts)
            np.testing.assert_allclose(x.offsets, y.offsets, rtol=1e-9, atol=1e-6)
            assert (x.lo, x.hi) == (y.lo, y.hi)
        else:
            assert isinstance(y, CategoricalCounts)
            assert (x.unknown, x.unknown_examples) == (y.unknown, y.unknown_examples)


def parquet_bytes(t: pa.Table, row_group_size: int) -> io.BytesIO:
    buf = io.BytesIO()
    pq.write_table(t, buf, row_group_size=row_group_size)
    buf.seek(0)
    return buf


@pytest.fixture(scope="module")
def batches(profile: Any) -> list[WindowCounts]:
    out = []
    for seed in range(4):
        t = table(frame(300 + 50 * seed, 10 + seed, shift=0.2 * seed))
        if seed == 3:  # a batch with an extra column and without one
            t = t.drop_columns(["m"]).append_column("extra", pa.array(np.arange(t.num_rows)))
        out.append(count_batch(profile, parquet_bytes(t, 128), fmt="parquet", source_id=f"s3://b/k{seed}"))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(4)), split=st.integers(1, 3))
def test_merge_is_associative_and_commutative(
    batches: list[WindowCounts], order: list[int], split: int
) -> None:
    ws = [batches[i] for i in order]
    left = ws[0]
    for w in ws[1:]:
        left = left.merge(w)
    a, b = ws[:split], ws[split:]
    ma, mb = a[0], b[0]
    for w in a[1:]:
        ma = ma.merge(w)
    for w in b[1:]:
        mb = mb.merge(w)
    same(left, mb.merge(ma))
    same(left, batches[0].merge(batches[1]).merge(batches[2]).merge(batches[3]))


def test_empty_is_the_identity(profile: Any, batches: list[WindowCounts]) -> None:
    same(WindowCounts.empty(profile).merge(batches[0]), batches[0])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 900), group=st.integers(1, 400), seed=st.integers(0, 10_000))
def test_counts_do_not_depend_on_the_chunk_size(profile: Any, rows: int, group: int, seed: int) -> None:
    t = table(frame(rows, seed))
    whole = count_batch(profile, parquet_bytes(t, max(rows, 1)), fmt="parquet", source_id="x")
    chunked = count_batch(profile, parquet_bytes(t, group), fmt="parquet", source_id="x")
    same(whole, chunked)
    # and one file equals the merge of its halves
    half = rows // 2
    if 0 < half < rows:
        a = count_batch(profile, parquet_bytes(t.slice(0, half), 64), fmt="parquet", source_id="x")
        b = count_batch(profile, parquet_bytes(t.slice(half), 64), fmt="parquet", source_id="x")
        merged = a.merge(b)
        assert merged.rows == whole.rows
        for name, c in whole.columns.items():
            assert np.array_equal(merged.columns[name].counts, c.counts)


def test_csv_block_size_does_not_change_counts(
    profile: Any, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_glue.drift import source

    small = count_batch(profile, files["same_csv"])
    monkeypatch.setattr(source, "CSV_BLOCK", 4096)
    monkeypatch.setattr(source, "CSV_BLOCK_PER_COLUMN", 256)
    monkeypatch.setattr(source, "CSV_BLOCK_MAX", 4096)
    assert source.csv_block_size(6) == 4096
    tiny = count_batch(profile, files["same_csv"])
    same(small, tiny)


def test_csv_and_parquet_of_the_same_data_count_the_same(profile: Any, files: dict[str, Path]) -> None:
    a, b = count_batch(profile, files["same_csv"]), count_batch(profile, files["same"])
    for name in a.columns:
        assert np.array_equal(a.columns[name].counts, b.columns[name].counts), name


def test_bytes_round_trip_keeps_the_verdict(profile: Any, batches: list[WindowCounts]) -> None:
    w = batches[0].merge(batches[1]).merge(batches[2])
    back = WindowCounts.from_bytes(w.to_bytes())
    # offsets travel as float32: compare what they decide
    r1, r2 = evaluate(profile, w), evaluate(profile, back)
    assert [c.name for c in r1.columns] == [c.name for c in r2.columns]
    for x, y in zip(r1.columns, r2.columns, strict=True):
        assert x.score == pytest.approx(y.score, rel=1e-5, abs=1e-9)
        assert x.drifted == y.drifted
    for name, c in w.columns.items():
        assert np.array_equal(c.counts, back.columns[name].counts)
    assert back.rows == w.rows and back.sources == w.sources and back.new == w.new


def test_bytes_are_compact_and_checked(profile: Any, files: dict[str, Path]) -> None:
    w = count_batch(profile, files["same"])
    data = w.to_bytes()
    assert len(data) < 40_000
    with pytest.raises(ValueError, match="magic"):
        WindowCounts.from_bytes(b"nope" + data[4:])
    with pytest.raises(ValueError, match="corrupt"):
        WindowCounts.from_bytes(data[:20])


def test_windows_of_different_profiles_never_merge(profile: Any, batches: list[WindowCounts]) -> None:
    other = WindowCounts(profile="0" * 16)
    with pytest.raises(ValueError, match="cannot merge"):
        batches[0].merge(other)
