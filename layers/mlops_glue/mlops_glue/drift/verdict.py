"""The drift verdict of a window against its reference profile (pure: profile + counts + settings).

Defaults follow Evidently 0.7's DataDriftPreset: a reference column of more than 1,000 values drifts when
the Wasserstein distance over the reference standard deviation (numeric) or the Jensen-Shannon distance
of the value shares (categorical) is >= 0.1; with at most 1,000 reference values the exact tests decide
(KS for numeric, chi-square, or the z-test for two values, at p <= 0.05); the dataset drifts when at
least half the compared columns drift. Distances decide by default because at a million rows any p-value
test flags shifts too small to matter.

Verdicts, in order of precedence: ``data_quality`` (unreadable or empty input, malformed rows,
unparseable values, a column with no values), ``schema_drift`` (missing, new or retyped columns),
``insufficient_rows`` (fewer rows than ``settings.min_rows``), then ``drift`` or ``no_drift``. The column
statistics are computed whatever the verdict, from whatever could be counted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from mlops_glue.drift import stats
from mlops_glue.drift.counts import CategoricalCounts, NumericCounts, WindowCounts
from mlops_glue.drift.profile import ColumnProfile, Profile
from mlops_glue.drift_config import DriftSettings

Verdict = Literal["no_drift", "drift", "schema_drift", "data_quality", "insufficient_rows"]
Method = Literal["wasserstein", "jensenshannon", "psi", "ks", "chisquare", "z"]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
}
P_VALUE_METHODS = frozenset({"ks", "chisquare", "z"})
NUMERIC_METHODS = frozenset({"wasserstein", "jensenshannon", "psi", "ks"})
CATEGORICAL_METHODS = frozenset({"jensenshannon", "psi", "chisquare", "z"})
MIN_STD = 0.001
"""Evidently's floor for the reference standard deviation that normalises the Wasserstein distance."""


@dataclass
class ColumnResult:
    """One column's statistic, threshold and diagnostics."""

    name: str
    kind: str
    method: str
    score: float
    threshold: float
    drifted: bool
    near_threshold: bool = False
    bound: float = 0.0
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> float:
        """How far past (> 1) or short of (< 1) its threshold the column is, comparable across methods."""
        if math.isnan(self.score):
            return 0.0
        if self.method in P_VALUE_METHODS:
            return self.threshold / max(self.score, 1e-300)
        return self.score / self.threshold if self.threshold > 0 else math.inf


@dataclass
class DriftResult:
    """The verdict of one window, with its reasons."""

    verdict: Verdict
    dataset_drift: bool
    drift_share: float
    drifted_columns: list[str]
    columns: list[ColumnResult]
    max_score: float
    messages: list[str]
    rows: int = 0
    threshold_share: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (NaN and infinities become None)."""
        out: dict[str, Any] = _json_safe(asdict(self))
        return out


def _json_safe(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, np.generic):
        return _json_safe(x.item())
    return x


def _groups(ref_counts: np.ndarray[Any, Any], n: int) -> np.ndarray[Any, Any]:
    """Start indexes that cut the bins into about ``n`` groups of equal reference mass (deciles for 10)."""
    total = ref_counts.sum()
    cum = np.cumsum(ref_counts)
    cuts = np.searchsorted(cum, total * np.arange(1, n) / n, side="left") + 1
    return np.asarray(np.unique(np.concatenate([[0], cuts[cuts < len(ref_counts)]])), dtype=np.int64)


def _method(col: ColumnProfile, settings: DriftSettings, n_values: int, notes: list[str]) -> str:
    allowed = NUMERIC_METHODS if col.kind == "numeric" else CATEGORICAL_METHODS
    override = settings.columns.get(col.name)
    if override is not None and override.method is not None:
        if override.method in allowed:
            return override.method
        notes.append(
            f"{col.name}: method {override.method} does not apply to a {col.kind} column; using the default"
        )
    elif settings.method != "auto" and settings.method in allowed:
        return settings.method
    if col.exact_tests:
        if col.kind == "numeric":
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    return "wasserstein" if col.kind == "numeric" else "jensenshannon"


def _threshold(col: ColumnProfile, method: str, settings: DriftSettings) -> float:
    override = settings.columns.get(col.name)
    if override is not None and override.threshold is not None:
        return override.threshold
    if settings.threshold is not None and method not in P_VALUE_METHODS:
        return settings.threshold
    return DEFAULT_THRESHOLDS[method]


def _numeric(col: ColumnProfile, c: NumericCounts, settings: DriftSettings, notes: list[str]) -> ColumnResult:
    edges, ref_counts, ref_offsets, ref_eq = col.bins
    ref = stats.Binned(ref_counts, ref_offsets, float(col.min or 0.0), float(col.max or 0.0))
    cur = stats.Binned(c.counts, c.offsets, c.lo, c.hi)
    method = _method(col, settings, 0, notes)
    threshold = _threshold(col, method, settings)
    norm = max(float(col.std or 0.0), MIN_STD)
    w = stats.wasserstein(edges, ref, cur)
    ks = stats.ks_statistic(ref, cur, ref_eq, c.at_edge)
    ks_p = stats.ks_pvalue(ks.value, ref.n, cur.n)
    deciles = _groups(ref_counts, 10)
    psi = stats.psi(np.add.reduceat(ref_counts, deciles), np.add.reduceat(c.counts, deciles))
    n = cur.n
    diag: dict[str, Any] = {
        "wasserstein_norm": w.value / norm,
        "wasserstein_bound": w.bound / norm,
        "psi": psi,
        "ks_statistic": ks.value,
        "ks_bound": ks.bound,
        "ks_pvalue": ks_p,
        "mean_ref": col.mean,
        "mean_cur": (col.mean or 0.0) + c.s1 / n if n else None,
        "std_ref": col.std,
        "std_cur": stats.std_from_moments(n, c.s1, c.s2) if n else None,
    }
    diag.update(_null_rates(col, c.nulls + c.nonfinite, n + c.nulls + c.nonfinite))
    bound = 0.0
    near = False
    if method == "wasserstein":
        score, bound = w.value / norm, w.bound / norm
        drifted = score >= threshold
        near = not drifted and score + bound >= threshold
    elif method == "ks":
        score = ks_p
        drifted = score <= threshold
        if ks.bound > 0 and not drifted:
            low = stats.ks_pvalue(ks.value + ks.bound, ref.n, cur.n)
            near, bound = low <= threshold, score - low
    elif method == "psi":
        score = psi
        drifted = score >= threshold
    else:  # jensenshannon over about 20 reference-quantile groups (Evidently bins the joined data instead)
        groups = _groups(ref_counts, 20)
        score = stats.js_distance(np.add.reduceat(ref_counts, groups), np.add.reduceat(c.counts, groups))
        diag["jensenshannon"] = score
        drifted = score >= threshold
    if math.isnan(score):  # values near the float64 limit overflow the distances: say so, never "no drift"
        notes.append(
            f"{col.name}: its {method} score is not a number (values this large overflow it): not judged"
        )
    return ColumnResult(col.name, "numeric", method, score, threshold, bool(drifted), bool(near), bound, diag)


def _categorical(
    col: ColumnProfile, c: CategoricalCounts, settings: DriftSettings, notes: list[str]
) -> ColumnResult:
    ref = np.asarray([*(col.category_counts or []), col.other], dtype=np.int64)
    cur = np.asarray([*c.counts.tolist(), c.unknown], dtype=np.int64)
    seen = [v for v, k in zip(col.categories or [], col.category_counts or [], strict=True) if k > 0]
    n_values = len(seen) + (len(c.unknown_examples) if not col.capped else 0)
    method = _method(col, settings, n_values, notes)
    threshold = _threshold(col, method, settings)
    n = c.n
    js = stats.js_distance(ref, cur)
    chi2, chi2_p = stats.chisquare_pvalue(ref, cur)
    diag: dict[str, Any] = {
        "jensenshannon": js,
        "psi": stats.psi(ref, cur),
        "chi2": chi2,
        "chi2_pvalue": chi2_p,
        "unseen_share": (c.unknown / n if n else None) if not col.capped else None,
        "unseen_examples": list(c.unknown_examples),
        "other_bucket": col.capped,
        "other_share_cur": (c.unknown / n if n else None) if col.capped else None,
    }
    diag.update(_null_rates(col, c.nulls, n + c.nulls))
    if method == "jensenshannon":
        score, drifted = js, js >= threshold
    elif method == "psi":
        score = diag["psi"]
        drifted = score >= threshold
    elif method == "chisquare":
        score, drifted = chi2_p, chi2_p < threshold
    else:
        # Evidently: the first of the sorted values against all others (two-proportion z-test)
        unseen = [_parse(x, col) for x in c.unknown_examples] if not col.capped else []
        first = min([*seen, *unseen], key=_sort_key)
        if first in seen:
            i = (col.categories or []).index(first)
            ref_first, cur_first = int(ref[i]), int(c.counts[i])
        else:  # an unseen value sorts first; with two values in all, every unseen value is this one
            ref_first, cur_first = 0, c.unknown
        score = stats.z_pvalue(ref_first, int(ref.sum()), cur_first, n)
        drifted = score < threshold
    return ColumnResult(col.name, "categorical", method, score, threshold, bool(drifted), False, 0.0, diag)


def _parse(text: str, col: ColumnProfile) -> Any:
    """An unseen value back from its recorded text."""
    if col.family == "numeric":
        return float(text)
    if col.family == "bool":
        return text == "True"
    return text


def _sort_key(v: Any) -> Any:
    return (0, float(v)) if isinstance(v, int | float) and not isinstance(v, bool) else (1, str(v))


def _null_rates(col: ColumnProfile, cur_nulls: int, cur_total: int) -> dict[str, Any]:
    ref_total = col.count + col.nulls + col.nonfinite
    ref_rate = (col.nulls + col.nonfinite) / ref_total if ref_total else 0.0
    cur_rate = cur_nulls / cur_total if cur_total else None
    return {
        "null_rate_ref": ref_rate,
        "null_rate_cur": cur_rate,
        "null_rate_change": cur_rate - ref_rate if cur_rate is not None else None,
    }


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.4g}"


def evaluate(profile: Profile, counts: WindowCounts, settings: DriftSettings | None = None) -> DriftResult:
    """Judge ``counts`` against ``profile``: per-column statistics, the dataset verdict and its reasons."""
    if counts.profile != profile.fingerprint:
        raise ValueError(f"counts belong to profile {counts.profile}, not {profile.fingerprint}")
    settings = settings or DriftSettings()
    quality: list[str] = []
    notes: list[str] = []
    results = _compare_columns(profile, counts, settings, quality, notes)
    drifted = [r.name for r in results if r.drifted]
    share = len(drifted) / len(results) if results else 0.0
    dataset_drift = bool(results) and share >= settings.dataset_drift_share
    distances = [r.score for r in results if r.method not in P_VALUE_METHODS and not math.isnan(r.score)]
    pvalues = [1.0 - r.score for r in results if r.method in P_VALUE_METHODS and not math.isnan(r.score)]
    max_score = max(distances or pvalues or [0.0])
    messages = _file_quality(counts, quality)
    schema = _schema_changes(counts)
    notes.extend(_approximation_notes(profile, results))
    verdict = _verdict(quality, schema, counts.rows < settings.min_rows, dataset_drift)
    messages = quality + schema + messages
    if counts.rows < settings.min_rows:
        messages.append(f"{counts.rows:,} rows < min_rows {settings.min_rows:,}")
    if results:
        summary = f"drift share {share:.2f} {'≥' if dataset_drift else '<'} {settings.dataset_drift_share:g}"
        if drifted:
            summary += ": " + ", ".join(drifted)
        messages.append(f"{len(drifted)} of {len(results)} columns drifted; {summary}")
    messages.extend(notes)
    return DriftResult(
        verdict,
        dataset_drift,
        share,
        drifted,
        results,
        max_score,
        messages,
        counts.rows,
        settings.dataset_drift_share,
    )


def _compare_columns(
    profile: Profile, counts: WindowCounts, settings: DriftSettings, quality: list[str], notes: list[str]
) -> list[ColumnResult]:
    """Every compared column with values, judged (drifted first, then by severity); all-null and
    unparseable columns are added to ``quality``."""
    results: list[ColumnResult] = []
    absent = set(counts.missing) | {k.split(": ", 1)[0] for k in counts.retyped}
    for col in profile.compared:
        c = counts.columns.get(col.name)
        if c is None or c.n == 0:
            if c is not None and counts.rows > 0 and col.name not in absent:
                quality.append(f"column {col.name} has no values in {counts.rows:,} rows (all null)")
            continue
        if c.unparseable:
            quality.append(f"column {col.name}: {c.unparseable:,} values could not be parsed as {col.family}")
        if isinstance(c, NumericCounts):
            results.append(_numeric(col, c, settings, notes))
        else:
            results.append(_categorical(col, c, settings, notes))
    results.sort(key=lambda r: (not r.drifted, -r.severity, r.name))
    return results


def _file_quality(counts: WindowCounts, quality: list[str]) -> list[str]:
    """Unreadable files, no rows and malformed rows go to ``quality``; returns the informational messages."""
    messages: list[str] = []
    if counts.read_errors:
        errors = "; ".join(counts.errors[:3])
        quality.insert(0, f"{counts.read_errors} of {counts.files} files could not be read: {errors}")
    elif counts.rows == 0:
        quality.insert(0, f"no rows to check ({counts.empty_files} empty of {counts.files} files)")
    if counts.empty_files and counts.rows > 0:
        messages.append(f"{counts.empty_files} of {counts.files} files were empty")
    if counts.bad_rows:
        example = f" (e.g. {counts.bad_row_examples[0]})" if counts.bad_row_examples else ""
        quality.append(f"{counts.bad_rows:,} malformed rows were skipped{example}")
    return messages


def _schema_changes(counts: WindowCounts) -> list[str]:
    schema: list[str] = []
    if counts.missing:
        schema.append("missing columns: " + ", ".join(sorted(counts.missing)))
    if counts.retyped:
        schema.append("retyped columns: " + ", ".join(sorted(counts.retyped)))
    if counts.new:
        schema.append("new columns: " + ", ".join(sorted(counts.new)))
    return schema


def _approximation_notes(profile: Profile, results: list[ColumnResult]) -> list[str]:
    """Where a column's verdict rests on an approximation: near its threshold, or capped categories."""
    notes = []
    for r in results:
        if r.near_threshold:
            notes.append(
                f"{r.name}: {r.method} {_fmt(r.score)} is within the approximation bound {_fmt(r.bound)} "
                f"of the threshold {r.threshold:g}"
            )
        if r.diagnostics.get("other_bucket"):
            notes.append(
                f"{r.name}: more than {profile.category_cap} categories; the rest are compared as one 'other' bucket"
            )
    return notes


def _verdict(quality: list[str], schema: list[str], too_few_rows: bool, dataset_drift: bool) -> Verdict:
    """The first that applies: data quality, schema drift, too few rows, drift, no drift."""
    if quality:
        return "data_quality"
    if schema:
        return "schema_drift"
    if too_few_rows:
        return "insufficient_rows"
    return "drift" if dataset_drift else "no_drift"
