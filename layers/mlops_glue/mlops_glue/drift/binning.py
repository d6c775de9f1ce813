"""Fast, exact assignment of values to the reference's bins, and the per-bin sums counted from them.

``np.searchsorted`` over ~2,000 edges costs ~70 ns per value (a branchy binary search); counting 20
columns of a million rows that way would take longer than reading the file. :class:`Binner` gives the
same answer as ``np.searchsorted(edges, x, side="right")`` with a few branch-free vector passes: a
uniform grid maps each value to a cell, a lookup table gives the number of edges in earlier cells, and
one compare-and-add pass per edge that can share a cell finishes the job. The cell function is monotone
(subtract, multiply, truncate, clamp), so an edge in an earlier cell is always below the value: the
result is exact, never approximate. When edges crowd one cell (extremely heavy tails) it falls back to
``np.searchsorted``.

Every pass writes into per-thread scratch buffers (:func:`_scratch`), in ``np.intp`` indexes, so the hot
path neither allocates nor converts: a fresh temporary of a row group's column is a megabyte of page
faults, and ``np.take`` / ``np.bincount`` convert 32-bit indexes to ``intp`` on every call. The grid is the
finest of 8, 16, 32 or 64 cells per edge that leaves one edge per cell at most (one pass), and the clamp
to the grid is ``np.take(mode="clip")``'s when the values' range is known to fit (the caller has their
minimum and maximum). :meth:`Binner.sums` counts a column in 1.5 passes fewer than before, with the
counts and the counts at the left edges from one ``np.bincount`` over a combined index (2 x bin +
on-edge). Together: ~14 ns per value down to ~9 ns (bench/, ``bench/wide.py``).

:meth:`Binner.accumulate` is what the engine calls for a column piece: it adds the piece to the
column's per-bin counts and sums, and gives its range, moments and non-finite values. Where the compiled
kernel is built (``_bins.c``; ``make sync`` and the data-arrival image build it) that is one pass in C
instead of about fourteen numpy passes, in AVX2 blocks where the CPU has them (``bench/kernel.py``).
Its bins and per-bin sums are the numpy path's bits, its range the same values (a zero's sign may
differ: the lanes are merged in another order); its moments agree to rounding (summed in
order, or in four lanes, where numpy sums pairwise; ``tests/drift/test_drift_kernel.py``).
``MLOPS_GLUE_DRIFT_KERNEL=numpy`` turns it off, ``=scalar`` its AVX2 blocks; :data:`KERNEL` and
:data:`KERNEL_AVX2` say which one counts.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import platform
import threading
import weakref
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

Array = np.ndarray[Any, Any]

MAX_PASSES = 6
FACTORS = (8, 16, 32, 64)
"""Grid cells per edge tried in turn: the first with one edge per cell at most wins (else the fewest passes)."""
_SAFE = float(1 << 52)  # |cell| below this converts to intp exactly: no clamp needed before the cast

_local = threading.local()

KERNEL_VERSION = 6
KERNEL_FILE = Path(__file__).with_name(f"_bins.{platform.machine()}.so")
"""Not an importable name (``_bins.so`` would be taken for an extension module)."""

_log = logging.getLogger(__name__)


def _load_kernel() -> tuple[Any, Any, bool]:
    """``mg_count`` and ``mg_count_codes`` from the compiled kernel (or None: not built here, turned off,
    or of another version), and whether it counts in AVX2 blocks."""
    choice = os.environ.get("MLOPS_GLUE_DRIFT_KERNEL", "")
    if choice == "numpy" or not KERNEL_FILE.exists():
        return None, None, False
    lib = ctypes.CDLL(str(KERNEL_FILE))  # ctypes releases the GIL for each call: the threads count at once
    lib.mg_bins_version.restype = ctypes.c_int64
    version = lib.mg_bins_version()
    if version != KERNEL_VERSION:
        _log.warning(
            "drift kernel %s is version %s, this engine needs %s: counting with numpy (make sync rebuilds it)",
            KERNEL_FILE.name,
            version,
            KERNEL_VERSION,
        )
        return None, None, False
    lib.mg_use_avx2.restype = ctypes.c_int64
    lib.mg_use_avx2.argtypes = [ctypes.c_int64]
    avx2 = bool(lib.mg_use_avx2(choice != "scalar"))
    fn = lib.mg_count
    p, i, d = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
    fn.argtypes = [p, i, p, i, p, p, i, d, d, i, p, d, p, p, p, p, p, p]
    fn.restype = None
    codes = lib.mg_count_codes
    codes.argtypes, codes.restype = [p, i, p, i], i
    return fn, codes, avx2


_kernel, _codes, KERNEL_AVX2 = _load_kernel()
"""``KERNEL_AVX2``: the kernel counts in blocks of four-value AVX2 steps (the CPU has AVX2, and
``MLOPS_GLUE_DRIFT_KERNEL`` is not ``scalar``), the same bins and sums as one value at a time."""
KERNEL = "compiled" if _kernel is not None else "numpy"
"""Which one counts: ``compiled`` (one pass in C) or ``numpy`` (vector passes)."""


def count_codes(codes: Array, k: int) -> Array:
    """How many times each of the codes 0..k-1 occurs (a categorical piece's dictionary indices, int32 as
    Arrow reads them): one pass of the kernel without the GIL, where ``np.bincount`` (the fallback, and
    for other integer types) costs 2-3 ns a code and holds it. ValueError for a code outside 0..k-1."""
    if codes.dtype.kind not in "iu":
        raise TypeError(f"dictionary indices are integers, not {codes.dtype}")
    codes = codes.reshape(-1)
    if _codes is None or codes.dtype != np.int32:
        if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= k):
            raise ValueError(f"dictionary indices outside the dictionary of {k}")
        return np.bincount(codes.astype(np.int64), minlength=k)
    codes = np.require(codes, np.int32, ["C", "A"])  # the kernel reads len(codes) aligned int32s
    counts = np.zeros(k, np.int64)
    outside = _codes(codes.ctypes.data, len(codes), counts.ctypes.data, k)
    if outside:
        raise ValueError(f"{outside} dictionary indices outside the dictionary of {k}")
    return counts


def _scratch(n: int) -> tuple[Array, Array, Array]:
    """This thread's float64, intp and bool buffers of at least ``n`` values (views of length ``n``)."""
    have = getattr(_local, "size", 0)
    if have < n:
        size = max(n, 2 * have)
        _local.f, _local.i, _local.m, _local.size = (
            np.empty(size),
            np.empty(size, np.intp),
            np.empty(size, np.bool_),
            size,
        )
    return _local.f[:n], _local.i[:n], _local.m[:n]


class _Buffers(NamedTuple):
    """One thread's small buffers for the kernel's calls, and their addresses (``.ctypes.data`` costs a
    microsecond each time)."""

    stats: Array  # range and moments, in and out
    nonfinite: Array  # NaN and infinities, added to
    stats_at: int
    nonfinite_at: int
    acc_at: int  # the per-bin accumulators, 16 bytes a bin
    bins: int
    acc: Array


def _kernel_buffers(k1: int) -> _Buffers:
    """This thread's buffers for a kernel call over ``k1`` bins."""
    kb: _Buffers | None = getattr(_local, "kb", None)
    if kb is None or kb.bins < k1:
        bins = max(k1, 1024)
        acc, stats, nonfinite = np.empty(16 * bins, np.uint8), np.empty(4), np.empty(2, np.int64)
        kb = _local.kb = _Buffers(
            stats, nonfinite, stats.ctypes.data, nonfinite.ctypes.data, acc.ctypes.data, bins, acc
        )
    return kb


class Moments(NamedTuple):
    """What :meth:`Binner.accumulate` returns besides the bins: over the finite values the minimum and
    maximum (with those passed in), the sums of ``value - shift`` and of its square; ``nan`` and ``inf``,
    the values left out."""

    lo: float
    hi: float
    s1: float
    s2: float
    nan: int
    inf: int


def square_sum(x: Array) -> float:
    """Sum of squares without BLAS (``x @ x`` spins BLAS threads; slow on a busy machine)."""
    return float(np.einsum("i,i->", x, x))


def _lut_scratch(lut: Array) -> Array:
    """``lut`` (kept as uint16: 1,000 columns of up to 16,000 cells each) widened to ``intp`` in this thread's buffer:
    a few microseconds a call, where ``np.take`` would convert the indexes of every value instead."""
    n = len(lut)
    buf: Array | None = getattr(_local, "lut", None)
    if buf is None or len(buf) < n:
        buf = _local.lut = np.empty(max(n, 2 * (len(buf) if buf is not None else 0)), np.intp)
    out = buf[:n]
    np.copyto(out, lut)
    return out


class Binner:
    """Maps values to bin indexes 0..k for k sorted, distinct ``edges`` (bin i = [e(i-1), e(i)))."""

    def __init__(self, edges: Array) -> None:
        self.edges = np.ascontiguousarray(edges, dtype=np.float64)
        self.k = len(self.edges)
        # bin i's anchor: e0, e0, e1, ... (without edges, the one bin's sums are about 0)
        self.anchors = np.concatenate([self.edges[:1], self.edges]) if self.k else np.zeros(1)
        self._lut: Array | None = None
        self._padded = np.concatenate([self.edges, [np.inf]])
        self._lo, self._inv, self._cells = 0.0, 0.0, 0
        self._kargs: tuple[Any, ...] | None = None  # the kernel's constant arguments, once
        self._outs: tuple[Any, ...] | None = None  # the last output arrays checked (weakly), their addresses
        self.passes = 0
        if self.k < 2 or not np.all(np.isfinite(self.edges)):
            return
        lo, hi = float(self.edges[0]), float(self.edges[-1])
        best: tuple[int, float, int, Array] | None = None
        for factor in FACTORS:
            cells = factor * self.k
            inv = cells / (hi - lo)
            if not (np.isfinite(inv) and inv > 0):  # a span of edges that overflows: the binary search
                return
            edge_cells = self._cell_of(self.edges, lo, inv, cells)
            passes = int(np.bincount(edge_cells).max())
            if best is None or passes < best[0]:
                best = (passes, inv, cells, edge_cells)
            if passes <= 1 or (factor >= 16 and passes <= 2):
                break  # finer grids cost memory (a table per column) and cache for one pass less
        assert best is not None
        passes, inv, cells, edge_cells = best
        if passes > MAX_PASSES:
            return
        self._lo, self._inv, self._cells = lo, inv, cells
        small = (
            np.uint16 if self.k < np.iinfo(np.uint16).max else np.int32
        )  # a table per column: keep it small
        # lut[c] = the number of edges in cells before c (searchsorted of every cell, in one cumulative sum)
        per_cell = np.bincount(edge_cells, minlength=cells + 1)
        lut = np.empty(cells + 1, small)
        lut[0] = 0
        np.cumsum(per_cell[:-1], out=lut[1:])
        self._lut = lut
        self.passes = passes

    def __getstate__(self) -> dict[str, Any]:
        """A copy or a pickle rebuilds the kernel's arguments: they are the addresses of this object's
        arrays, which a copy does not share (the kernel would read freed memory)."""
        return {**self.__dict__, "_kargs": None, "_outs": None}

    @staticmethod
    def _cell_of(x: Array, lo: float, inv: float, cells: int) -> Array:
        c = (x - lo) * inv
        np.clip(c, 0, cells, out=c)
        return c.astype(np.intp)

    def __call__(self, x: Array) -> Array:
        """Bin index of every value of ``x`` (finite float64 values), a new ``intp`` array."""
        return self.index(x).copy()

    def index(self, x: Array, lo: float | None = None, hi: float | None = None) -> Array:
        """Bin indexes of ``x`` (finite float64) in this thread's scratch buffer: valid until the thread's
        next call. ``lo``/``hi`` (the values' minimum and maximum, when known) let it skip a clamp pass."""
        n = len(x)
        f, idx, m = _scratch(n)
        if self._lut is None:
            idx[...] = np.searchsorted(self.edges, x, side="right")
            return idx
        np.subtract(x, self._lo, out=f)
        np.multiply(f, self._inv, out=f)
        fits = lo is not None and hi is not None and (lo - self._lo) * self._inv > -_SAFE
        if not (fits and hi is not None and (hi - self._lo) * self._inv < _SAFE):
            np.clip(f, 0, self._cells, out=f)
        # truncation toward zero, then np.take's clamp to [0, cells]: the same cell as clip-then-floor
        np.copyto(idx, f, casting="unsafe")
        np.take(_lut_scratch(self._lut), idx, out=idx, mode="clip")
        for _ in range(self.passes):
            np.take(self._padded, idx, out=f, mode="clip")
            np.less_equal(f, x, out=m)
            np.add(idx, m, out=idx)
        return idx

    def sums(
        self, x: Array, with_eq: bool, lo: float | None = None, hi: float | None = None
    ) -> tuple[Array, Array, Array | None]:
        """Per-bin counts, sums of the values and, if asked, counts of values equal to the bin's left edge."""
        k1 = self.k + 1
        idx = self.index(x, lo, hi)
        total = np.bincount(idx, weights=x, minlength=k1)
        if not with_eq:
            return np.bincount(idx, minlength=k1), total, None
        # a value of bin 0 is below e0 = its anchor: equality marks a left edge only in bins 1..k
        f, _, m = _scratch(len(x))
        np.take(self.anchors, idx, out=f, mode="clip")
        np.equal(f, x, out=m)
        np.multiply(idx, 2, out=idx)
        np.add(idx, m, out=idx)
        both = np.bincount(idx, minlength=2 * k1).reshape(k1, 2)
        return both.sum(axis=1), total, np.ascontiguousarray(both[:, 1])

    def accumulate(
        self,
        x: Array,
        shift: float,
        counts: Array,
        offsets: Array,
        at_edge: Array | None,
        lo: float = math.inf,
        hi: float = -math.inf,
    ) -> Moments:
        """Add a column piece to the caller's per-bin ``counts`` (int64), ``offsets`` (float64: the sums
        of value - the bin's anchor) and ``at_edge`` (int64, or None); ``x``: float64 values, nulls
        dropped, NaN and infinities counted apart. One call of the compiled kernel (its constants and
        buffers prepared once: ~16-23 us of Python a call, against ~45 before), or the numpy passes."""
        # one aligned, contiguous float64 run (numpy's passes would compute a float32 piece in float32)
        x = np.require(np.asarray(x, dtype=np.float64).reshape(-1), np.float64, ["C", "A"])
        if _kernel is not None and self.k > 0:
            return self._kernel_accumulate(x, shift, counts, offsets, at_edge, lo, hi)
        nan = inf = 0
        if len(x):
            lo_x, hi_x = float(x.min()), float(x.max())
            if not (math.isfinite(lo_x) and math.isfinite(hi_x)):
                finite = np.isfinite(x)
                nan = int(np.isnan(x).sum())
                inf = len(x) - nan - int(finite.sum())
                x = x[finite]
                lo_x, hi_x = (float(x.min()), float(x.max())) if len(x) else (math.inf, -math.inf)
        if len(x) == 0:
            return Moments(lo, hi, 0.0, 0.0, nan, inf)
        c, total, eq = self.sums(x, at_edge is not None, lo_x, hi_x)
        counts += c
        offsets += total - c * self.anchors  # sum(v - anchor) = sum(v) - count * anchor
        if at_edge is not None and eq is not None:
            at_edge += eq
        d = x - shift
        return Moments(min(lo, lo_x), max(hi, hi_x), float(d.sum()), square_sum(d), nan, inf)

    def _kernel_accumulate(
        self,
        x: Array,
        shift: float,
        counts: Array,
        offsets: Array,
        at_edge: Array | None,
        lo: float,
        hi: float,
    ) -> Moments:
        """:meth:`accumulate` in C; ``x`` as it prepared it: one aligned, contiguous float64 run."""
        if self._kargs is None:
            lut = self._lut
            self._kargs = (
                self._padded.ctypes.data,
                self.k,
                lut.ctypes.data if lut is not None and lut.dtype == np.uint16 else None,
                lut.ctypes.data if lut is not None and lut.dtype == np.int32 else None,
                self._cells,
                self._lo,
                self._inv,
                self.passes,
                self.anchors.ctypes.data,
            )
        outs = self._outs
        if outs is None or not _known(outs, counts, offsets, at_edge):
            outs = self._outs = self._check_outputs(counts, offsets, at_edge)
        kb = _kernel_buffers(self.k + 1)
        stats, nonfinite = kb.stats, kb.nonfinite
        stats[:] = (lo, hi, 0.0, 0.0)
        nonfinite[:] = 0
        _kernel(
            x.ctypes.data,
            len(x),
            *self._kargs,
            shift,
            *outs[3],
            kb.acc_at,
            kb.stats_at,
            kb.nonfinite_at,
        )
        lo, hi, s1, s2 = stats.tolist()
        nan, inf = nonfinite.tolist()
        return Moments(lo, hi, s1, s2, nan, inf)

    def _check_outputs(self, counts: Array, offsets: Array, at_edge: Array | None) -> tuple[Any, ...]:
        """The kernel writes k + 1 values into each output: never into anything else. Checked once for
        a column's arrays, which then are known by weak reference (a warm function keeps no window
        alive through its binners) with their addresses."""
        k1 = self.k + 1
        for name, arr, dtype in (
            ("counts", counts, np.int64),
            ("offsets", offsets, np.float64),
            ("at_edge", at_edge, np.int64),
        ):
            if arr is not None and not (
                arr.dtype == dtype
                and arr.shape == (k1,)
                and arr.flags.c_contiguous
                and arr.flags.aligned
                and arr.flags.writeable
            ):
                raise ValueError(
                    f"{name} must be a writable contiguous {np.dtype(dtype)} array of {k1} values"
                )
        eq = weakref.ref(at_edge) if at_edge is not None else None
        at = (counts.ctypes.data, offsets.ctypes.data, at_edge.ctypes.data if at_edge is not None else None)
        return (weakref.ref(counts), weakref.ref(offsets), eq, at)


def _known(outs: tuple[Any, ...], counts: Array, offsets: Array, at_edge: Array | None) -> bool:
    """The output arrays are the ones last checked. Their addresses cannot have moved: numpy refuses
    to resize an array in place while a weak reference to it exists."""
    if outs[0]() is not counts or outs[1]() is not offsets:
        return False
    return outs[2] is None if at_edge is None else outs[2] is not None and outs[2]() is at_edge
