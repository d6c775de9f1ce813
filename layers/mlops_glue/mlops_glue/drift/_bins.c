/* One pass over a column piece: each value's bin in the reference's edges, the per-bin counts, sums and
 * counts at the bin's left edge, and the piece's range and moments. The bins and per-bin sums use the
 * same arithmetic, in the same order, as the numpy path of mlops_glue/drift/binning.py (Binner.index,
 * then np.bincount with and without weights), so they are the same bits; numpy needs about fourteen
 * vector passes and two bincounts for all of it, this one. The moments are summed in order (in four
 * lanes with AVX2) here, pairwise by numpy: they agree to rounding (tests/drift/test_drift_kernel.py).
 *
 * Where the CPU has AVX2 (every x86-64 Lambda does; checked at run time, `mg_use_avx2`), values go in
 * blocks of MG_BLOCK, in two steps: the range, the moments and each value's grid cell four values at a
 * time (the scalar loop's operations, value by value, so the same cells), then the table, the compare
 * passes and the per-bin sums value by value, in order (so the same sums). A block holding a NaN or an
 * infinity, the last n % MG_BLOCK values, and a CPU without AVX2 take the scalar loop.
 *
 * Plain C with no libc call and no Python API: loaded with ctypes (which releases the GIL for the call,
 * so the counting threads run at once), built by `make sync` (python -m glue_local.build kernel) and by
 * `make build` into the image.
 * Written by hand because no library on PyPI bins into arbitrary sorted edges with per-bin sums in one
 * pass (numpy's searchsorted and boost-histogram's variable axis search per value, fast-histogram has
 * uniform bins only, numba compiles with LLVM at each cold start: README, "The drift engine").
 */
#include <stdint.h>

#define MG_BINS_VERSION 6
#define MG_BLOCK 256

int64_t mg_bins_version(void) { return MG_BINS_VERSION; }

/* A categorical column piece: counts[c] += 1 for each of the n codes (dictionary indices) c in [0, k);
 * returns how many were outside it (none, in a valid Arrow array). A few categories repeat often, so a
 * dictionary of up to MG_LANES_K codes is counted in four interleaved tables (no store waits on the one
 * before it to the same counter), added up at the end. np.bincount costs about 2 ns a code and holds the
 * GIL; this, about 1 with the ctypes call (0.65-1.2 ns measured) and released. */
#define MG_LANES_K 1024
int64_t mg_count_codes(const int32_t *codes, int64_t n, int64_t *counts, int64_t k) {
    int64_t outside = 0, i = 0;
    if (k <= MG_LANES_K) {
        int64_t lane[4][MG_LANES_K];
        for (int l = 0; l < 4; l++)
            for (int64_t c = 0; c < k; c++) lane[l][c] = 0;
        for (; i + 4 <= n; i += 4) {
            for (int l = 0; l < 4; l++) {
                int32_t c = codes[i + l];
                if (c >= 0 && c < k) {
                    lane[l][c] += 1;
                } else {
                    outside += 1;
                }
            }
        }
        for (int64_t c = 0; c < k; c++) counts[c] += (lane[0][c] + lane[1][c]) + (lane[2][c] + lane[3][c]);
    }
    for (; i < n; i++) {
        int32_t c = codes[i];
        if (c >= 0 && c < k) {
            counts[c] += 1;
        } else {
            outside += 1;
        }
    }
    return outside;
}

typedef struct {
    double total;
    int32_t count; /* a call counts at most MG_CHUNK values at a time: no overflow */
    int32_t eq;
} mg_acc; /* a bin's sums in 16 bytes: the per-bin table of 1,001 bins stays in 16 KB of L1 */
#ifndef MG_CHUNK
#define MG_CHUNK ((int64_t)1 << 30) /* -DMG_CHUNK=...: a test builds one of a few blocks */
#endif

typedef struct {
    const double *padded; /* the k edges, then +inf */
    const double *anchors; /* bin i's left edge (e0 for bin 0) */
    int64_t k;
    const uint16_t *lut16; /* one of the two tables (cells + 1 entries), or neither: the binary search */
    const int32_t *lut32;
    int64_t cells;
    double fcells, lo, inv;
    int64_t passes;
    double shift;
    int eq; /* count the values at the bins' left edges */
} mg_args;

typedef struct {
    double mn, mx, s1, s2;
    int64_t nan, inf;
} mg_moments;

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
    if (a->eq) {                                                      \
        MG_LOOP(BIN, acc[b].eq += anchors[b] == v;)                \
    } else {                                                          \
        MG_LOOP(BIN, )                                                \
    }

/* n values, one at a time, into acc and m. */
static void mg_scalar(const double *x, int64_t n, const mg_args *a, mg_acc *acc, mg_moments *m) {
    const double *padded = a->padded, *anchors = a->anchors;
    const double lo = a->lo, inv = a->inv, fcells = a->fcells, shift = a->shift;
    const int64_t passes = a->passes;
    double mn = m->mn, mx = m->mx, s1 = m->s1, s2 = m->s2;
    int64_t nan = m->nan, inf = m->inf;
    if (a->lut16) {
        MG_COUNT(MG_CELL_BIN(a->lut16))
    } else if (a->lut32) {
        MG_COUNT(MG_CELL_BIN(a->lut32))
    } else {
        MG_COUNT(int64_t b = mg_search(padded, a->k, v);)
    }
    m->mn = mn, m->mx = mx, m->s1 = s1, m->s2 = s2, m->nan = nan, m->inf = inf;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MG_AVX2 1

static int mg_avx2 = -1; /* -1: not decided yet */

/* Whether blocks go through AVX2: on (when the CPU has it) or off, for a comparison. Returns the state. */
int64_t mg_use_avx2(int64_t on) {
    __builtin_cpu_init();
    mg_avx2 = on && __builtin_cpu_supports("avx2");
    return mg_avx2;
}

/* Step one of a block, four values at a time: the range and moments into the lanes `st` and each value's
 * cell into `cell` (MG_CELL_BIN's operations: max with 0 is `f < 0 ? 0 : f` up to the sign of a zero,
 * the same cell). 0, with `st` as it was, when the block holds a NaN or an infinity. */
__attribute__((target("avx2"))) static int mg_cells(const double *x, const mg_args *a, __m256d *st,
                                                    int32_t *cell) {
    const __m256d lo = _mm256_set1_pd(a->lo), inv = _mm256_set1_pd(a->inv);
    const __m256d shift = _mm256_set1_pd(a->shift), cells = _mm256_set1_pd(a->fcells);
    const __m256d zero = _mm256_setzero_pd();
    __m256d mn = st[0], mx = st[1], s1 = st[2], s2 = st[3], odd = zero;
    for (int64_t i = 0; i < MG_BLOCK; i += 4) {
        __m256d v = _mm256_loadu_pd(x + i);
        odd = _mm256_or_pd(odd, _mm256_sub_pd(v, v)); /* NaN in a lane once a value is not finite */
        mn = _mm256_min_pd(v, mn);                     /* v < mn ? v : mn */
        mx = _mm256_max_pd(v, mx);                     /* v > mx ? v : mx */
        __m256d d = _mm256_sub_pd(v, shift);
        s1 = _mm256_add_pd(s1, d);
        s2 = _mm256_add_pd(s2, _mm256_mul_pd(d, d));
        __m256d f = _mm256_mul_pd(_mm256_sub_pd(v, lo), inv);
        f = _mm256_min_pd(cells, _mm256_max_pd(f, zero));
        _mm_storeu_si128((__m128i *)(cell + i), _mm256_cvttpd_epi32(f));
    }
    if (_mm256_movemask_pd(_mm256_cmp_pd(odd, zero, _CMP_EQ_OQ)) != 0xF) return 0;
    st[0] = mn, st[1] = mx, st[2] = s1, st[3] = s2;
    return 1;
}

/* Step two, value by value: each value's bin from the table and the passes (the first one unrolled),
 * written over its cell, then the per-bin sums in order. Two loops: the first only loads, so the values'
 * lookups overlap; 6-7 % less time a value than one loop doing both (bench/kernel.py). */
#define MG_SCATTER(LUT, EQ)                                           \
    for (int64_t q = 0; q < MG_BLOCK; q++) {                          \
        double v = x[q];                                              \
        int32_t b = (int32_t)(LUT)[cell[q]];                          \
        b += padded[b] <= v;                                          \
        for (int64_t p = 1; p < passes; p++) b += padded[b] <= v;     \
        cell[q] = b;                                                  \
    }                                                                 \
    for (int64_t q = 0; q < MG_BLOCK; q++) {                          \
        double v = x[q];                                              \
        int64_t b = cell[q];                                          \
        acc[b].count += 1;                                            \
        acc[b].total += v;                                            \
        EQ                                                            \
    }

/* Whole blocks of n; returns how many values it took (the rest: the scalar loop). */
__attribute__((target("avx2"))) static int64_t mg_blocks(const double *x, int64_t n, const mg_args *a,
                                                         mg_acc *acc, mg_moments *m) {
    const double *padded = a->padded, *anchors = a->anchors;
    const int64_t passes = a->passes;
    __m256d st[4] = {_mm256_set1_pd(m->mn), _mm256_set1_pd(m->mx), _mm256_setzero_pd(),
                     _mm256_setzero_pd()};
    int32_t cell[MG_BLOCK];
    int64_t done = 0;
    for (; done + MG_BLOCK <= n; done += MG_BLOCK, x += MG_BLOCK) {
        if (!mg_cells(x, a, st, cell)) {
            mg_scalar(x, MG_BLOCK, a, acc, m);
        } else if (a->lut16) {
            if (a->eq) {
                MG_SCATTER(a->lut16, acc[b].eq += anchors[b] == v;)
            } else {
                MG_SCATTER(a->lut16, )
            }
        } else if (a->eq) {
            MG_SCATTER(a->lut32, acc[b].eq += anchors[b] == v;)
        } else {
            MG_SCATTER(a->lut32, )
        }
    }
    double mn[4], mx[4], s1[4], s2[4];
    _mm256_storeu_pd(mn, st[0]);
    _mm256_storeu_pd(mx, st[1]);
    _mm256_storeu_pd(s1, st[2]);
    _mm256_storeu_pd(s2, st[3]);
    for (int l = 0; l < 4; l++) {
        m->mn = mn[l] < m->mn ? mn[l] : m->mn;
        m->mx = mx[l] > m->mx ? mx[l] : m->mx;
    }
    m->s1 += (s1[0] + s1[1]) + (s1[2] + s1[3]);
    m->s2 += (s2[0] + s2[1]) + (s2[2] + s2[3]);
    return done;
}
#else
int64_t mg_use_avx2(int64_t on) {
    (void)on;
    return 0;
}
#endif

/* x: n values (nulls already dropped). padded: k edges, then +inf. lut16 or lut32 (one of them, cells + 1
 * entries) or neither (binary search). anchors: k + 1 (bin i's left edge; e0 for bin 0).
 * Added to the caller's arrays of k + 1: counts, offsets (the sums of value - the bin's anchor, as
 * sum - count * anchor, the numpy path's formula) and eq (counts at the left edge; NULL: not wanted).
 * scratch: (k + 1) * sizeof(mg_acc) bytes. stats, in and out: [min, max, sum of (v - shift), sum of its
 * squares]; nonfinite, added to: [NaN, inf]. A piece of more than MG_CHUNK values (8 GiB) is counted
 * MG_CHUNK at a time, so its per-bin sums are added up in parts (numpy's bits up to that size). */
void mg_count(const double *x, int64_t n, const double *padded, int64_t k, const uint16_t *lut16,
              const int32_t *lut32, int64_t cells, double lo, double inv, int64_t passes,
              const double *anchors, double shift, int64_t *counts, double *offsets, int64_t *eq,
              void *scratch, double *stats, int64_t *nonfinite) {
    const mg_args a = {padded, anchors, k,   lut16, lut32, cells, (double)cells, lo,
                       inv,    passes,  shift, eq != 0};
    mg_acc *acc = (mg_acc *)scratch;
    mg_moments m = {stats[0], stats[1], stats[2], stats[3], 0, 0};
#ifdef MG_AVX2
    if (mg_avx2 < 0) mg_use_avx2(1);
    /* cells below 2^31: the 32-bit cell of the vector conversion */
    const int blocks = mg_avx2 > 0 && (lut16 || lut32) && passes >= 1 && cells < INT32_MAX;
#endif
    do {
        int64_t part = n < MG_CHUNK ? n : MG_CHUNK;
        n -= part;
        for (int64_t j = 0; j <= k; j++) {
            acc[j].total = 0.0;
            acc[j].count = 0;
            acc[j].eq = 0;
        }
#ifdef MG_AVX2
        if (blocks) {
            int64_t done = mg_blocks(x, part, &a, acc, &m);
            x += done;
            part -= done;
        }
#endif
        mg_scalar(x, part, &a, acc, &m);
        x += part;
        for (int64_t j = 0; j <= k; j++) {
            counts[j] += acc[j].count;
            offsets[j] += acc[j].total - (double)acc[j].count * anchors[j];
            if (eq) eq[j] += acc[j].eq;
        }
    } while (n > 0);
    stats[0] = m.mn;
    stats[1] = m.mx;
    stats[2] = m.s1;
    stats[3] = m.s2;
    nonfinite[0] += m.nan;
    nonfinite[1] += m.inf;
}
