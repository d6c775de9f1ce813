"""The compiled counting kernel (``drift/_bins.c``) against the numpy path: the same bits, on every path.

The kernel is built by ``make sync`` (``python -m glue_local.build kernel``) where a C compiler is; the
image's copy is checked in ``tests/artifacts/``.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_glue.drift import binning
from mlops_glue.drift.binning import Binner

ROOT = Path(__file__).resolve().parents[2]

needs_kernel = pytest.mark.skipif(
    binning._kernel is None,
    reason="no compiled kernel here (no C compiler, or MLOPS_GLUE_DRIFT_KERNEL=numpy)",
)


class Added(NamedTuple):
    counts: np.ndarray[Any, Any]
    offsets: np.ndarray[Any, Any]
    at_edge: np.ndarray[Any, Any] | None
    moments: binning.Moments


def _add(b: Binner, x: np.ndarray[Any, Any], eq: bool, shift: float) -> Added:
    """Two pieces (the second half after the first) into one column's arrays, as the engine adds them."""
    k1 = b.k + 1
    counts, offsets = np.zeros(k1, np.int64), np.zeros(k1)
    at_edge = np.zeros(k1, np.int64) if eq else None
    half = len(x) // 2
    m1 = b.accumulate(x[:half], shift, counts, offsets, at_edge)
    m2 = b.accumulate(x[half:], shift, counts, offsets, at_edge, m1.lo, m1.hi)
    both = binning.Moments(m2.lo, m2.hi, m1.s1 + m2.s1, m1.s2 + m2.s2, m1.nan + m2.nan, m1.inf + m2.inf)
    return Added(counts, offsets, at_edge, both)


def _both(b: Binner, x: np.ndarray[Any, Any], eq: bool, shift: float = 0.0) -> tuple[Added, Added]:
    kernel = _add(b, x, eq, shift)
    saved, binning._kernel = binning._kernel, None
    try:
        with np.errstate(
            over="ignore", invalid="ignore"
        ):  # the grid of |x| near 1e308 overflows, then clamps
            plain = _add(b, x, eq, shift)
    finally:
        binning._kernel = saved
    return kernel, plain


def _same(a: Added, b: Added) -> None:
    for u, v in zip(a[:3], b[:3], strict=True):  # counts, per-bin offsets, counts at the edges
        if u is None or v is None:
            assert u is None and v is None
        else:
            assert u.dtype == v.dtype and u.tobytes() == v.tobytes()  # the same bits, not merely close
    ma, mb = a.moments, b.moments
    assert (ma.lo, ma.hi, ma.nan, ma.inf) == (mb.lo, mb.hi, mb.nan, mb.inf)
    # the moments: summed in order by the kernel, pairwise by numpy
    with np.errstate(over="ignore"):  # values near 1e308: the scale itself may be inf, as the sums are
        scale = max(1.0, float(np.sum(np.abs(a.offsets))), abs(mb.s2))
    assert ma.s1 == pytest.approx(mb.s1, rel=1e-9, abs=1e-9 * scale)
    assert ma.s2 == pytest.approx(mb.s2, rel=1e-9, abs=1e-12)


def test_the_kernel_is_built_where_a_compiler_is() -> None:
    if shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.skip("no C compiler on this machine: the numpy path counts")
    if os.environ.get("MLOPS_GLUE_DRIFT_KERNEL") == "numpy":
        pytest.skip("turned off for this run")
    assert binning.KERNEL_FILE.exists(), "make sync builds it (python -m glue_local.build kernel)"
    assert binning.KERNEL == "compiled"


@needs_kernel
@settings(max_examples=80, deadline=None)
@given(
    edges=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=300, unique=True),
    values=st.lists(st.floats(-1e150, 1e150, allow_nan=False), min_size=1, max_size=400),
    crowd=st.sampled_from(["no", "some", "search"]),
    near=st.booleans(),
    eq=st.booleans(),
    odd=st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=5),
    shift=st.floats(-1e3, 1e3),
)
def test_kernel_counts_and_sums_are_the_numpy_paths_bits(
    edges: list[float], values: list[float], crowd: str, near: bool, eq: bool, odd: list[float], shift: float
) -> None:
    e = np.sort(np.asarray(edges))
    if crowd == "some":  # a few edges share a cell: more than one compare pass
        e = np.unique(np.concatenate([e, e[:1] + np.array([1e-7, 2e-7, 3e-7])]))
    elif crowd == "search":  # most edges in a tiny range: the table gives up, a binary search counts
        e = np.unique(np.concatenate([e[:2], np.linspace(0, 1e-9, 50)]))
    x = np.asarray(values + e.tolist() + [float(np.nextafter(v, -np.inf)) for v in e])
    if near:
        x = np.clip(x, e[0] - 1.0, e[-1] + 1.0)
    finite = x
    x = np.concatenate([x, odd])
    b = Binner(e)
    kernel, plain = _both(b, x, eq, shift)
    _same(kernel, plain)
    idx = np.searchsorted(e, finite, side="right")  # and both are searchsorted's, over the finite values
    assert np.array_equal(kernel.counts, np.bincount(idx, minlength=len(e) + 1))
    assert (kernel.moments.nan, kernel.moments.inf) == (sum(np.isnan(odd)), sum(np.isinf(odd)))


@needs_kernel
def test_kernel_paths_the_tests_above_rarely_draw() -> None:
    rng = np.random.default_rng(3)
    wide = np.unique(rng.normal(size=70_000))  # more than 65,535 edges: a 32-bit table
    b = Binner(wide)
    assert b._lut is not None and b._lut.dtype == np.int32
    x = np.concatenate([rng.normal(size=50_000), wide[::7], [-1e308, 1e308]])
    _same(*_both(b, x, True))
    heavy = Binner(np.unique(np.concatenate([[-1.0, 1.0], np.linspace(0, 1e-12, 400)])))
    assert heavy._lut is None  # the binary search
    _same(*_both(heavy, np.linspace(-2, 2, 10_001), True))
    single = Binner(np.array([0.5]))
    _same(*_both(single, np.array([0.0, 0.5, 1.0]), True))
    only_odd = _both(b, np.array([np.nan, np.inf, -np.inf, np.nan]), True)
    _same(*only_odd)
    assert only_odd[0].moments == (np.inf, -np.inf, 0.0, 0.0, 2, 2)
    assert int(only_odd[0].counts.sum()) == 0


def _cpu_has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@needs_kernel
def test_the_kernel_counts_in_avx2_blocks_where_the_cpu_has_avx2() -> None:
    wanted = os.environ.get("MLOPS_GLUE_DRIFT_KERNEL") != "scalar"
    assert binning.KERNEL_AVX2 is (_cpu_has_avx2() and wanted)


@needs_kernel
@pytest.mark.skipif(not binning.KERNEL_AVX2, reason="the kernel counts one value at a time on this CPU")
@pytest.mark.parametrize("eq", [False, True])
@pytest.mark.parametrize("table", ["16-bit, one pass", "16-bit, crowded", "32-bit"])
def test_avx2_blocks_are_the_scalar_loops_bits(table: str, eq: bool) -> None:
    """Blocks of 256 values in AVX2 steps against one value at a time and against numpy: the same counts,
    sums and range, whatever blocks hold NaN or infinities, with a tail of n % 256."""
    import ctypes

    rng = np.random.default_rng(11)
    if table == "32-bit":
        edges = np.unique(rng.normal(size=70_000))
    else:
        edges = np.unique(np.round(np.quantile(rng.normal(size=50_000) * 3, np.linspace(0, 1, 1000)), 3))
        if table == "16-bit, crowded":
            edges = np.unique(np.concatenate([edges, edges[5] + np.array([1e-9, 2e-9, 3e-9])]))
    b = Binner(edges)
    assert b._lut is not None and (b._lut.dtype == np.int32) == (table == "32-bit")
    assert (b.passes > 1) == (table != "16-bit, one pass")
    x = np.concatenate([rng.normal(size=30_000) * 4, edges[::3], np.nextafter(edges[::5], 0)])
    x = np.round(x, 3)  # values on the edges, for the counts at the left edges
    rng.shuffle(x)
    x[[7, 300, 301, 9_000]] = [np.nan, np.inf, -np.inf, np.nan]  # three blocks that take the scalar loop
    x = np.concatenate([x, [1e6, -1e6, np.nan]])  # and a tail (huge values would make the moments' scale inf)
    assert len(x) % 256 and len(x) > 30_000
    lib = ctypes.CDLL(str(binning.KERNEL_FILE))  # the loaded library: its switch is the engine's
    lib.mg_use_avx2.restype = ctypes.c_int64
    blocks, plain = _both(b, x, eq, shift=1.0)
    try:
        assert lib.mg_use_avx2(0) == 0
        scalar = _add(b, x, eq, 1.0)
    finally:
        assert lib.mg_use_avx2(1) == 1
    _same(blocks, plain)
    _same(blocks, scalar)
    assert (blocks.moments.nan, blocks.moments.inf) == (3, 2)
    assert blocks.moments.s2 < 1e14  # a finite scale: _same compared the moments to 1e-9
    huge = x.copy()
    huge[[1000, 1001, 600]] = [1e300, -1e300, 1.7e308]  # in AVX2 blocks: the grid overflows, then clamps
    blocks, plain = _both(b, huge, eq, shift=1.0)
    _same(blocks, plain)  # the bins, sums and range (the moments' scale is inf here)


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler here")
def test_a_kernel_of_another_version_is_refused_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One left from an old build: the engine counts with numpy, and says so."""
    src = (ROOT / "layers/mlops_glue/mlops_glue/drift/_bins.c").read_text()
    old = tmp_path / "old.c"
    old.write_text(
        src.replace(f"#define MG_BINS_VERSION {binning.KERNEL_VERSION}", "#define MG_BINS_VERSION 3")
    )
    lib = tmp_path / "_bins.so"
    subprocess.run(
        [os.environ.get("CC", "cc"), "-O1", "-fPIC", "-shared", "-o", str(lib), str(old)], check=True
    )
    monkeypatch.setattr(binning, "KERNEL_FILE", lib)
    monkeypatch.delenv("MLOPS_GLUE_DRIFT_KERNEL", raising=False)
    with caplog.at_level("WARNING", logger="mlops_glue.drift.binning"):
        assert binning._load_kernel() == (None, None, False)
    assert f"is version 3, this engine needs {binning.KERNEL_VERSION}: counting with numpy" in caplog.text


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler here")
def test_a_piece_longer_than_a_chunk_is_counted_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-bin table holds 32-bit counts, so a piece of more than MG_CHUNK values (2^30 in the
    build) is counted a chunk at a time; here a kernel built with chunks of 1,000 values counts 10,007."""
    lib = tmp_path / "_bins.so"
    src = ROOT / "layers/mlops_glue/mlops_glue/drift/_bins.c"
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O1", "-fPIC", "-shared", "-DMG_CHUNK=1000", "-o", str(lib), str(src)], check=True)
    monkeypatch.setattr(binning, "KERNEL_FILE", lib)
    monkeypatch.delenv("MLOPS_GLUE_DRIFT_KERNEL", raising=False)
    chunked = binning._load_kernel()[0]
    assert chunked is not None
    rng = np.random.default_rng(7)
    b = Binner(np.unique(np.round(rng.normal(size=200), 2)))
    x = np.round(rng.normal(size=10_007), 2)  # many values on an edge
    x[[5, 2_500, 9_999]] = [np.nan, np.inf, -np.inf]
    monkeypatch.setattr(binning, "_kernel", chunked)
    parts, plain = _both(b, x, eq=True, shift=0.5)
    assert parts.counts.tobytes() == plain.counts.tobytes()
    assert parts.at_edge is not None and plain.at_edge is not None
    assert parts.at_edge.tobytes() == plain.at_edge.tobytes()
    np.testing.assert_allclose(parts.offsets, plain.offsets, rtol=1e-12, atol=1e-9)  # added up in parts
    assert (parts.moments.lo, parts.moments.hi, parts.moments.nan, parts.moments.inf) == (
        plain.moments.lo,
        plain.moments.hi,
        1,
        2,
    )
    assert parts.moments.s2 == pytest.approx(plain.moments.s2, rel=1e-12)


@needs_kernel
def test_category_codes_are_counted_as_bincount_counts_them() -> None:
    rng = np.random.default_rng(2)
    for k, n in ((1, 10), (8, 65_536), (1_000, 100_003)):
        codes = rng.integers(0, k, n).astype(np.int32)
        want = np.bincount(codes, minlength=k)
        for piece in (codes, codes[::3], codes[:0]):  # contiguous, strided, empty
            got = binning.count_codes(piece, k)
            assert got.dtype == np.int64 and np.array_equal(got, np.bincount(piece, minlength=k))
        saved, binning._codes = binning._codes, None  # the numpy path gives the same
        try:
            assert np.array_equal(binning.count_codes(codes, k), want)
        finally:
            binning._codes = saved
    for bad in (np.array([0, 3], np.int32), np.array([-1, 0], np.int32)):  # outside a dictionary of 3
        with pytest.raises(ValueError, match="outside the dictionary of 3"):
            binning.count_codes(bad, 3)
        saved, binning._codes = binning._codes, None
        try:
            with pytest.raises(ValueError, match="outside the dictionary of 3"):
                binning.count_codes(bad, 3)
        finally:
            binning._codes = saved


@needs_kernel
def test_window_counts_are_the_same_bytes_with_either_engine(tmp_path: Path) -> None:
    """A whole check, kernel and numpy in separate processes (the switch is read at import): the same
    counts, per-bin offsets and ranges, byte for byte, and the same verdicts; the moments to rounding."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from mlops_glue.drift import build_profile

    rng = np.random.default_rng(5)
    n = 30_000
    table = pa.table(
        {
            "a": np.round(rng.normal(size=n), 3),
            "b": pa.array(np.where(rng.random(n) < 0.1, None, rng.lognormal(size=n)), pa.float64()),
            "c": rng.choice(["x", "y", "z"], n),
            "d": rng.integers(0, 1000, n).astype(float),
        }
    )
    pq.write_table(table, tmp_path / "ref.parquet", row_group_size=7_000)
    cur = table.set_column(0, "a", pa.array(np.round(rng.normal(0.2, 1, n), 3)))
    pq.write_table(cur, tmp_path / "cur.parquet", row_group_size=5_000)
    (tmp_path / "profile.json").write_bytes(build_profile(str(tmp_path / "ref.parquet")).to_json())
    script = (
        "import sys, json\n"
        "from mlops_glue.drift import count_batch, evaluate, load_profile\n"
        "from mlops_glue.drift import binning\n"
        "from mlops_glue.drift_config import DriftSettings\n"
        "p = load_profile(sys.argv[1])\n"
        "c = count_batch(p, sys.argv[2])\n"
        "cols = {n: {'counts': v.counts.tolist(), 'offsets': v.offsets.tolist(), 'lo': v.lo, 'hi': v.hi,\n"
        "  'nulls': v.nulls, 's1': v.s1, 's2': v.s2} for n, v in c.columns.items() if hasattr(v, 'offsets')}\n"
        "r = evaluate(p, c, DriftSettings(min_rows=1))\n"
        "print(json.dumps({'kernel': binning.KERNEL, 'cols': cols, 'drifted': sorted(r.drifted_columns)}))\n"
    )
    out = {}
    for engine in ("compiled", "numpy"):
        env = {**os.environ, "MLOPS_GLUE_DRIFT_KERNEL": "" if engine == "compiled" else "numpy"}
        run = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "profile.json"), str(tmp_path / "cur.parquet")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        got = json.loads(run.stdout)
        assert got["kernel"] == engine
        out[engine] = got
    a, b = out["compiled"], out["numpy"]
    assert a["drifted"] == b["drifted"] == ["a"]
    assert a["cols"].keys() == b["cols"].keys() == {"a", "b", "d"}
    for name, col in a["cols"].items():
        other = b["cols"][name]
        for key in ("counts", "offsets", "lo", "hi", "nulls"):
            assert col[key] == other[key], (name, key)
        assert col["s1"] == pytest.approx(other["s1"], rel=1e-9, abs=1e-6)
        assert col["s2"] == pytest.approx(other["s2"], rel=1e-9)


@needs_kernel
def test_the_kernel_writes_only_into_arrays_of_its_shape() -> None:
    """C writes k + 1 values into each array it is given: anything else is refused before the call."""
    b = Binner(np.linspace(0.0, 1.0, 11))
    x = np.concatenate([b.edges, [0.05, 0.55]])
    good = np.zeros(12, np.int64), np.zeros(12), np.zeros(12, np.int64)
    for bad in (
        (np.zeros(12, np.int32), good[1], None),  # narrower counts
        (good[0], np.zeros(11), None),  # too short
        (good[0], np.zeros(24)[::2], None),  # not contiguous
        (good[0], good[1], np.zeros(12)),  # float counts at the edges
    ):
        with pytest.raises(ValueError, match="must be a writable contiguous"):
            b.accumulate(x, 0.0, *bad)
    frozen = np.zeros(12, np.int64)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="counts must be"):
        b.accumulate(x, 0.0, frozen, good[1], None)
    b.accumulate(x, 0.0, *good)
    assert int(good[0].sum()) == 13 and int(good[2].sum()) == 11  # each edge is its bin's left edge
    # checked arrays are then known by identity: another column's (or window's) arrays are checked in
    # turn, a known array cannot move to another address, and the binner keeps none of them alive
    other = np.zeros(12, np.int64), np.zeros(12), None
    for _ in range(2):
        b.accumulate(x, 0.0, *good)
        b.accumulate(x[:3], 0.0, *other)
    assert int(good[0].sum()) == 39 and int(good[2].sum()) == 33 and int(other[0].sum()) == 6
    grown = np.zeros(12, np.int64)
    b.accumulate(x, 0.0, grown, good[1], None)
    with pytest.raises(ValueError, match="cannot resize"):  # to a new, larger buffer: numpy refuses
        grown.resize(24, refcheck=False)
    b.accumulate(x, 0.0, *other)
    assert b._outs is not None
    seen = b._outs[0]
    del other
    gc.collect()
    assert seen() is None
    # values of any layout and float type are read as they are, never past their end
    strided = np.repeat(x, 2)[::2]
    for values in (strided, x.astype(np.float32), x.reshape(13, 1)):
        c, o = np.zeros(12, np.int64), np.zeros(12)
        b.accumulate(values, 0.0, c, o, None)
        assert int(c.sum()) == 13


# ------------------------------------------------------------------ hostile inputs (found by review)


def test_a_copied_or_pickled_binner_counts_with_its_own_arrays() -> None:
    """The kernel's cached arguments are the addresses of the binner's arrays: a copy must not keep them
    (it read the original's freed memory)."""
    import copy
    import gc
    import pickle

    x = np.linspace(0, 1, 1000)
    want = np.bincount(np.searchsorted(np.linspace(0, 1, 2001), x, side="right"), minlength=2002)
    b = Binner(np.linspace(0, 1, 2001))
    b.accumulate(x[:1], 0.0, np.zeros(2002, np.int64), np.zeros(2002), None)  # its arguments cached
    for other in (copy.deepcopy(b), pickle.loads(pickle.dumps(b))):  # noqa: S301 (our own bytes)
        counts = np.zeros(2002, np.int64)
        other.accumulate(x, 0.0, counts, np.zeros(2002), None)
        assert np.array_equal(counts, want)
    twin = copy.deepcopy(b)
    del b
    gc.collect()
    counts = np.zeros(2002, np.int64)
    twin.accumulate(x, 0.0, counts, np.zeros(2002), None)
    assert np.array_equal(counts, want)


def test_edges_whose_span_overflows_and_no_edges_at_all_still_count() -> None:
    wide = Binner(np.array([-9e307, 0.0, 9e307]))  # hi - lo is inf: no grid, the binary search
    assert wide._lut is None
    x = np.array([-9e307, -5e307, -1.0, 0.0, 5e307, 9e307])  # on, between and beside the edges
    kernel, plain = _both(wide, x, True)
    _same(kernel, plain)
    assert (
        kernel.counts.tolist()
        == np.bincount(np.searchsorted(wide.edges, x, side="right"), minlength=4).tolist()
    )
    none = Binner(np.array([]))  # a hand-made profile's column without edges: one bin
    kernel, plain = _both(none, np.array([1.0, 2.0, np.nan]), False)
    _same(kernel, plain)
    assert kernel.counts.tolist() == [2] and kernel.offsets.tolist() == [3.0]


def test_other_float_types_and_layouts_are_binned_as_float64() -> None:
    """numpy's passes computed a float32 piece in float32 (wrong bins near edges); both engines now read
    float64, whatever the type, shape or alignment of the values."""
    lo = 1e6 + 0.03
    e = np.unique(np.r_[lo, lo + 5, lo + np.random.default_rng(3).uniform(0, 5, 30)])
    b = Binner(e)
    x32 = np.arange(1e6 - 1, 1e6 + 7, 0.0625).astype(np.float32)
    want = np.bincount(np.searchsorted(e, x32.astype(np.float64), side="right"), minlength=len(e) + 1)
    kernel, plain = _both(b, x32, False)
    _same(kernel, plain)
    assert np.array_equal(kernel.counts, want)
    raw = np.zeros(len(x32) * 8 + 1, np.uint8)
    misaligned = raw[1:].view(np.float64)  # offset by one byte
    misaligned[:] = x32
    assert not misaligned.flags.aligned
    for values in (misaligned, x32.astype(np.float64).reshape(-1, 4)):
        kernel, plain = _both(b, values, False)
        _same(kernel, plain)
        assert np.array_equal(kernel.counts, want)
    if binning._kernel is not None:  # C writes aligned int64s: misaligned counts are refused
        counts = np.zeros(len(e) * 8 + 9, np.uint8)[1:].view(np.int64)
        with pytest.raises(ValueError, match="counts must be"):
            b.accumulate(x32, 0.0, counts, np.zeros(len(e) + 1), None)


def test_category_codes_of_any_shape_and_only_integers() -> None:
    grid = (np.arange(12, dtype=np.int32) % 3).reshape(4, 3)
    assert binning.count_codes(grid, 3).tolist() == [4, 4, 4]
    assert binning.count_codes(grid.astype(np.int64), 3).tolist() == [4, 4, 4]
    with pytest.raises(TypeError, match="dictionary indices are integers"):
        binning.count_codes(np.array([0.0, 1.5, 2.0]), 3)
