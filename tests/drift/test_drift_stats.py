"""The binned statistics against exact scipy/numpy computations on known distributions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlops_glue.drift import stats
from mlops_glue.drift.binning import Binner
from mlops_glue.drift.profile import _edges
from scipy import stats as sps
from scipy.spatial import distance


def binned(
    x: np.ndarray[Any, Any], edges: np.ndarray[Any, Any], eq: bool = False
) -> tuple[stats.Binned, Any]:
    b = Binner(edges)
    counts, offsets = np.zeros(b.k + 1, np.int64), np.zeros(b.k + 1)
    at_edge = np.zeros(b.k + 1, np.int64) if eq else None
    b.accumulate(x, 0.0, counts, offsets, at_edge)
    return stats.Binned(counts, offsets, float(x.min()), float(x.max())), at_edge


DISTRIBUTIONS = [
    ("normal", lambda r, n: r.normal(0, 1, n), 0.0),
    ("normal shifted 0.05 sd", lambda r, n: r.normal(0, 1, n), 0.05),
    ("normal shifted 0.1 sd", lambda r, n: r.normal(0, 1, n), 0.1),
    ("lognormal shifted", lambda r, n: r.lognormal(0, 0.75, n), 0.2),
    ("exponential", lambda r, n: r.exponential(3.0, n), 0.0),
    ("uniform shifted", lambda r, n: r.uniform(-5, 5, n), 0.5),
    ("poisson counts", lambda r, n: r.poisson(30, n).astype(float), 1.0),
]


@pytest.mark.parametrize(("name", "draw", "shift"), DISTRIBUTIONS, ids=[d[0] for d in DISTRIBUTIONS])
def test_wasserstein_within_1e3_of_exact_and_inside_its_bound(name: str, draw: Any, shift: float) -> None:
    rng = np.random.default_rng(7)
    ref, cur = draw(rng, 50_000), draw(rng, 80_000) + shift
    edges = _edges(ref, 1000)
    approx = stats.wasserstein(edges, binned(ref, edges)[0], binned(cur, edges)[0])
    exact = sps.wasserstein_distance(ref, cur)
    std = np.std(ref)
    assert abs(approx.value - exact) / std < 1e-3
    # the binned value is a lower bound and the exact value lies within the computed bound
    assert approx.value <= exact + 1e-9 * std
    assert exact <= approx.value + approx.bound + 1e-9 * std


def test_identical_data_gives_zero_distances() -> None:
    x = np.random.default_rng(1).normal(5, 2, 20_000)
    edges = _edges(x, 1000)
    b, _ = binned(x, edges, eq=True)
    assert stats.wasserstein(edges, b, b).value == pytest.approx(0.0, abs=1e-12)
    assert stats.ks_statistic(b, b).value == 0.0
    assert stats.psi(b.counts, b.counts) == 0.0
    assert stats.js_distance(b.counts, b.counts) == pytest.approx(0.0, abs=1e-7)


def test_binned_ks_within_documented_bound_of_exact() -> None:
    rng = np.random.default_rng(3)
    for shift in (0.0, 0.02, 0.3):
        ref, cur = rng.normal(0, 1, 30_000), rng.normal(shift, 1, 40_000)
        edges = _edges(ref, 1000)
        d = stats.ks_statistic(binned(ref, edges)[0], binned(cur, edges)[0])
        exact = sps.ks_2samp(ref, cur).statistic
        assert d.value <= exact + 1e-12
        assert exact - d.value <= d.bound
        assert d.bound <= 2.0 / 1000  # about one reference bin of mass


def test_ks_is_exact_when_every_reference_value_is_an_edge() -> None:
    rng = np.random.default_rng(4)
    ref, cur = rng.normal(0, 1, 600), rng.normal(0.15, 1.2, 3000)
    edges = _edges(ref, 1000)
    assert len(edges) == 600
    (r, req), (c, ceq) = binned(ref, edges, eq=True), binned(cur, edges, eq=True)
    d = stats.ks_statistic(r, c, req, ceq)
    res = sps.ks_2samp(ref, cur)
    assert d.bound == 0.0
    assert d.value == pytest.approx(res.statistic, abs=1e-12)
    assert stats.ks_pvalue(d.value, 600, 3000) == pytest.approx(res.pvalue, rel=1e-9)


def test_ks_pvalue_matches_scipy_for_large_samples() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 20_000), rng.normal(0.01, 1, 30_000)
    res = sps.ks_2samp(a, b)
    assert stats.ks_pvalue(res.statistic, 20_000, 30_000) == pytest.approx(res.pvalue, rel=1e-9)


def test_shifted_data_is_flagged_by_every_statistic() -> None:
    rng = np.random.default_rng(6)
    ref, cur = rng.normal(0, 1, 20_000), rng.normal(0.5, 1, 20_000)
    edges = _edges(ref, 1000)
    r, c = binned(ref, edges)[0], binned(cur, edges)[0]
    assert stats.wasserstein(edges, r, c).value / np.std(ref) > 0.45
    d = stats.ks_statistic(r, c)
    assert stats.ks_pvalue(d.value, r.n, c.n) < 1e-10
    deciles = np.searchsorted(np.cumsum(r.counts), r.n * np.arange(1, 10) / 10) + 1
    groups = np.concatenate([[0], deciles])
    assert (
        stats.psi(np.add.reduceat(r.counts, groups), np.add.reduceat(c.counts, groups)) > 0.2
    )  # about shift**2


def test_categorical_statistics_match_scipy() -> None:
    ref, cur = np.array([400, 300, 200, 100, 0]), np.array([100, 200, 300, 350, 50])
    assert stats.js_distance(ref, cur) == pytest.approx(distance.jensenshannon(ref / 1000, cur / 1000))
    chi2, p = stats.chisquare_pvalue(ref[:4], cur[:4])
    expected = sps.chisquare(cur[:4], ref[:4] * cur[:4].sum() / ref[:4].sum())
    assert (chi2, p) == pytest.approx((expected.statistic, expected.pvalue))
    # a category the reference never saw: infinite statistic, p = 0 (as Evidently's chi test)
    assert stats.chisquare_pvalue(ref, cur) == (float("inf"), 0.0)


def test_psi_uses_the_documented_epsilon_for_empty_bins() -> None:
    p = stats.psi(np.array([50, 50, 0]), np.array([40, 40, 20]))
    e = stats.PSI_EPSILON
    by_hand = (0.5 - 0.4) * np.log(0.5 / 0.4) * 2 + (e - 0.2) * np.log(e / 0.2)
    assert p == pytest.approx(by_hand)


def test_z_test_matches_two_proportion_formula() -> None:
    # 300 of 1000 vs 450 of 1000 of the first category
    p = stats.z_pvalue(300, 1000, 450, 1000)
    p1, p2 = 0.7, 0.55
    pooled = (p1 + p2) / 2
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert p == pytest.approx(2 * (1 - sps.norm.cdf(abs(z))))
    assert stats.z_pvalue(1000, 1000, 500, 500) == 1.0


@settings(max_examples=60, deadline=None)
@given(
    edges=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=300, unique=True),
    values=st.lists(st.floats(-2e6, 2e6, allow_nan=False), min_size=1, max_size=400),
    heavy=st.booleans(),
)
def test_binner_equals_searchsorted(edges: list[float], values: list[float], heavy: bool) -> None:
    e = np.sort(np.asarray(edges))
    if heavy:  # crowd most edges into a tiny range to force the fallback path
        e = np.unique(np.concatenate([e[:2], np.linspace(0, 1e-9, 50)]))
    x = np.asarray(values + e.tolist())  # values on the edges themselves too
    assert np.array_equal(Binner(e)(x), np.searchsorted(e, x, side="right"))


def test_kolmogorov_and_rel_entr_equal_scipys() -> None:
    from scipy import special

    for x in np.linspace(0.0, 10.0, 2001):
        assert stats.kolmogorov_sf(float(x)) == pytest.approx(float(special.kolmogorov(x)), abs=1e-14)
    p = np.array([0.5, 0.0, 0.25, 0.25])
    m = np.array([0.4, 0.1, 0.25, 0.25])
    assert np.allclose(stats.rel_entr(p, m), special.rel_entr(p, m), rtol=1e-15, atol=0)
    z = 0.08 / np.sqrt(0.66 * 0.34 * (2 / 1000))  # shares 0.70 and 0.62 of 1,000 each, pooled 0.66
    assert stats.z_pvalue(300, 1000, 380, 1000) == pytest.approx(float(2 * (1 - special.ndtr(z))), rel=1e-12)


@pytest.mark.parametrize("df", [1, 2, 3, 7, 11, 40, 999])
def test_chi_square_p_value_equals_scipys(df: int) -> None:
    from scipy import special

    for x in np.concatenate([np.linspace(0.0, 5.0 * df + 50.0, 300), [1e-6, 1e4]]):
        want = float(special.chdtrc(df, x))
        assert stats.gamma_q(df / 2.0, x / 2.0) == pytest.approx(want, rel=1e-11, abs=1e-14)


@settings(max_examples=60, deadline=None)
@given(
    edges=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=300, unique=True),
    values=st.lists(st.floats(-1e300, 1e300, allow_nan=False), min_size=1, max_size=400),
    near=st.booleans(),
    eq=st.booleans(),
)
def test_binner_sums_equal_searchsorted_counts(
    edges: list[float], values: list[float], near: bool, eq: bool
) -> None:
    """The fused counts (value range given, so the clamp may be skipped; combined index for the counts
    at the edges) equal plain searchsorted and bincount, for values near the edges or far beyond them."""
    e = np.sort(np.asarray(edges))
    x = np.asarray(values + e.tolist())
    if near:
        x = np.clip(x, e[0] - 1.0, e[-1] + 1.0)
    b = Binner(e)
    counts, total, at_edge = b.sums(x, eq, float(x.min()), float(x.max()))
    idx = np.searchsorted(e, x, side="right")
    assert np.array_equal(counts, np.bincount(idx, minlength=len(e) + 1))
    assert np.array_equal(total, np.bincount(idx, weights=x, minlength=len(e) + 1))
    if eq:
        on_edge = (idx > 0) & (b.anchors[idx] == x)
        assert at_edge is not None
        assert np.array_equal(at_edge, np.bincount(idx[on_edge], minlength=len(e) + 1))
    else:
        assert at_edge is None
    assert np.array_equal(b(x), idx)  # the scratch buffers reused in between change nothing
