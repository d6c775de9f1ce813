/* One pass over a column piece: each value's bin in the reference's edges, the per-bin counts, sums and
 * counts at the bin's left edge, and the piece's range and moments. The bins and per-bin sums use the
 * same arithmetic, in the same order, as the numpy path of mlops_glue/drift/binning.py (Binner.index,
 * then np.bincount with and without weights), so they are the same bits; numpy needs about fourteen
 * vector passes and two bincounts for all of it, this one. The moments are summed in order here, pairwise
 * by numpy: they agree to rounding (tests/drift/test_drift_kernel.py).
 *
 * Plain C with no libc call and no Python API: loaded with ctypes (which releases the GIL for the call,
 * so the counting threads run at once), built by `make sync` (python -m glue_local.build kernel) and by
 * `make build` into the image.
 * Written by hand because no library on PyPI bins into arbitrary sorted edges with per-bin sums in one
 * pass (numpy's searchsorted and boost-histogram's variable axis search per value, fast-histogram has
 * uniform bins only, numba compiles with LLVM at each cold start: README, "The drift engine").
 */
#include <stdint.h>

#define MG_BINS_VERSION 3

int64_t mg_bins_version(void) { return MG_BINS_VERSION; }

/* Bin of a finite v: the cell of a uniform grid (clamped to [0, cells], truncated), the number of edges in
 * earlier cells from the table, then one compare-and-add per edge that can share a cell. `padded` holds
 * the k edges and +inf, so the index never passes k. */
#define MG_CELL_BIN(LUT)                                              \
    double f = (v - lo) * inv;                                        \
    f = f < 0.0 ? 0.0 : f;                                            \
    f = f > fcells ? fcells : f;                                      \
    int64_t b = (int64_t)(LUT)[(int64_t)f];                           \
    for (int64_t p = 0; p < passes; p++) b += padded[b] <= v;

/* The reference's edges crowd one cell (extremely heavy tails): a binary search, the count of edges <= v
 * (np.searchsorted(edges, v, side="right")). */
static inline int64_t mg_search(const double *edges, int64_t k, double v) {
    int64_t first = 0, len = k;
    while (len > 0) {
        int64_t half = len >> 1;
        if (edges[first + half] <= v) {
            first += half + 1;
            len -= half + 1;
        } else {
            len = half;
        }
    }
    return first;
}

typedef struct {
    double total;
    int64_t count;
    int64_t eq;
    double anchor;
} mg_acc; /* a bin's sums and its left edge on one cache line: one line touched per value, not four */

/* Each finite value: its bin's count, sum and count at the left edge; the minimum, the maximum and the
 * sums of (v - shift) and its square. NaN and infinities are counted apart and skip the rest. */
#define MG_LOOP(BIN, EQ)                                              \
    for (int64_t i = 0; i < n; i++) {                                 \
        double v = x[i];                                              \
        if (!(v - v == 0.0)) { /* NaN or +-inf */                     \
            nan += v != v;                                            \
            inf += v == v;                                            \
            continue;                                                 \
        }                                                             \
        mn = v < mn ? v : mn;                                         \
        mx = v > mx ? v : mx;                                         \
        double d = v - shift;                                         \
        s1 += d;                                                      \
        s2 += d * d;                                                  \
        BIN                                                           \
        acc[b].count += 1;                                            \
        acc[b].total += v;                                            \
        EQ                                                            \
    }
#define MG_COUNT(BIN)                                                 \
    if (eq) {                                                         \
        MG_LOOP(BIN, acc[b].eq += acc[b].anchor == v;)                \
    } else {                                                          \
        MG_LOOP(BIN, )                                                \
    }

/* x: n values (nulls already dropped). padded: k edges, then +inf. lut16 or lut32 (one of them, cells + 1
 * entries) or neither (binary search). anchors: k + 1 (bin i's left edge; e0 for bin 0).
 * Added to the caller's arrays of k + 1: counts, offsets (the sums of value - the bin's anchor, as
 * sum - count * anchor, the numpy path's formula) and eq (counts at the left edge; NULL: not wanted).
 * scratch: (k + 1) * sizeof(mg_acc) bytes. stats, in and out: [min, max, sum of (v - shift), sum of its
 * squares]; nonfinite, added to: [NaN, inf]. */
void mg_count(const double *x, int64_t n, const double *padded, int64_t k, const uint16_t *lut16,
              const int32_t *lut32, int64_t cells, double lo, double inv, int64_t passes,
              const double *anchors, double shift, int64_t *counts, double *offsets, int64_t *eq,
              void *scratch, double *stats, int64_t *nonfinite) {
    const double fcells = (double)cells;
    mg_acc *acc = (mg_acc *)scratch;
    for (int64_t j = 0; j <= k; j++) {
        acc[j].total = 0.0;
        acc[j].count = 0;
        acc[j].eq = 0;
        acc[j].anchor = anchors[j];
    }
    double mn = stats[0], mx = stats[1], s1 = stats[2], s2 = stats[3];
    int64_t nan = 0, inf = 0;
    if (lut16) {
        MG_COUNT(MG_CELL_BIN(lut16))
    } else if (lut32) {
        MG_COUNT(MG_CELL_BIN(lut32))
    } else {
        MG_COUNT(int64_t b = mg_search(padded, k, v);)
    }
    for (int64_t j = 0; j <= k; j++) {
        counts[j] += acc[j].count;
        offsets[j] += acc[j].total - (double)acc[j].count * acc[j].anchor;
        if (eq) eq[j] += acc[j].eq;
    }
    stats[0] = mn;
    stats[1] = mx;
    stats[2] = s1;
    stats[3] = s2;
    nonfinite[0] += nan;
    nonfinite[1] += inf;
}
