"""Fast, exact assignment of values to the reference's bins.

``np.searchsorted`` over ~2,000 edges costs ~70 ns per value (a branchy binary search); counting 20
columns of a million rows that way would take longer than reading the file. :class:`Binner` gives the
same answer as ``np.searchsorted(edges, x, side="right")`` with a few branch-free vector passes: a
uniform grid maps each value to a cell, a lookup table gives the number of edges in earlier cells, and
one compare-and-add pass per edge that can share a cell finishes the job. The cell function is monotone
(subtract, multiply, clip, truncate), so an edge in an earlier cell is always below the value: the result
is exact, never approximate. When edges crowd one cell (extremely heavy tails) it falls back to
``np.searchsorted``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]

MAX_PASSES = 6


class Binner:
    """Maps values to bin indexes 0..k for k sorted, distinct ``edges`` (bin i = [e(i-1), e(i)))."""

    def __init__(self, edges: Array) -> None:
        self.edges = np.ascontiguousarray(edges, dtype=np.float64)
        self.k = len(self.edges)
        self.anchors = np.concatenate([self.edges[:1], self.edges])  # bin i's anchor: e0, e0, e1, ...
        self._lut: Array | None = None
        self.passes = 0
        if self.k < 2 or not np.all(np.isfinite(self.edges)):
            return
        lo, hi = float(self.edges[0]), float(self.edges[-1])
        for factor in (8, 64):
            cells = factor * self.k
            inv = cells / (hi - lo)
            if not np.isfinite(inv):
                return
            self._lo, self._inv, self._cells = lo, inv, cells
            edge_cells = self._cell(self.edges)
            passes = int(np.bincount(edge_cells).max())
            if passes <= MAX_PASSES:
                self._lut = np.searchsorted(edge_cells, np.arange(cells + 1), "left").astype(np.int32)
                self._padded = np.concatenate([self.edges, [np.inf]])
                self.passes = passes
                return

    def _cell(self, x: Array) -> Array:
        c = (x - self._lo) * self._inv
        np.clip(c, 0, self._cells, out=c)
        return c.astype(np.int32)

    def __call__(self, x: Array) -> Array:
        """Bin index of every value of ``x`` (finite float64 values)."""
        if self._lut is None:
            return np.searchsorted(self.edges, x, side="right").astype(np.int32)
        # np.take, not fancy indexing: the same gather, about three times faster (numpy 2.2)
        idx = np.take(self._lut, self._cell(x))
        for _ in range(self.passes):
            idx += np.take(self._padded, idx) <= x
        return idx
