"""A self-contained HTML drift report: verdict, statistics table by drift score, histograms (inline SVG).

No scripts, fonts or images from elsewhere: the file opens offline and can be stored in S3 and linked
from Slack as is. Histograms are drawn from the binned counts (reference in grey, current in colour).
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from mlops_glue.drift.counts import CategoricalCounts, NumericCounts, WindowCounts
from mlops_glue.drift.profile import ColumnProfile, Profile
from mlops_glue.drift.verdict import ColumnResult, DriftResult

_W, _H, _PAD = 360, 120, 18
_DISPLAY_BINS = 30
_TOP_CATEGORIES = 15
_COLOURS = {
    "no_drift": "#1a7f37",
    "drift": "#cf222e",
    "schema_drift": "#bc4c00",
    "data_quality": "#bc4c00",
    "insufficient_rows": "#6e7781",
}
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px} .verdict{display:inline-block;padding:4px 10px;border-radius:6px;color:#fff}
table{border-collapse:collapse;font-size:13px;margin:12px 0} td,th{border-bottom:1px solid #d0d7de;
padding:4px 8px;text-align:right} td:first-child,th:first-child{text-align:left}
tr.drift td{background:#ffebe9} .near{color:#9a6700} .grid{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:6px} figcaption{font-size:12px}
.ref{fill:#8c959f;opacity:.55} .cur{fill:#0969da;opacity:.6} .drifted .cur{fill:#cf222e}
ul{font-size:14px}
"""


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        if math.isnan(x):
            return "–"
        return f"{x:.4g}"
    return html.escape(str(x))


def _bars(ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any], labels: list[str], drifted: bool) -> str:
    """Two overlaid bar series (shares) as an inline SVG."""
    ref = ref / ref.sum() if ref.sum() else ref.astype(float)
    cur = cur / cur.sum() if cur.sum() else cur.astype(float)
    top = max(float(ref.max(initial=0)), float(cur.max(initial=0)), 1e-12)
    n = len(ref)
    w = (_W - 2 * _PAD) / max(n, 1)
    parts = [
        f'<svg width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" class="{"drifted" if drifted else ""}">'
    ]
    for i in range(n):
        x = _PAD + i * w
        for cls, v, dx in (("ref", ref[i], 0.0), ("cur", cur[i], w * 0.35)):
            h = (_H - 2 * _PAD) * float(v) / top
            parts.append(
                f'<rect class="{cls}" x="{x + dx:.1f}" y="{_H - _PAD - h:.1f}" width="{w * 0.6:.1f}" height="{h:.1f}">'
                f"<title>{html.escape(labels[i])}: {cls} {float(v):.3%}</title></rect>"
            )
    parts.append(f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#57606a"/>')
    if labels:
        parts.append(f'<text x="{_PAD}" y="{_H - 4}" font-size="10">{html.escape(labels[0][:18])}</text>')
        parts.append(
            f'<text x="{_W - _PAD}" y="{_H - 4}" font-size="10" text-anchor="end">{html.escape(labels[-1][:18])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _numeric_hist(col: ColumnProfile, c: NumericCounts, drifted: bool) -> str:
    edges = np.asarray(col.edges)
    ref = np.asarray(col.counts, dtype=np.int64)
    lo, hi = float(edges[0]), float(edges[-1])
    if hi <= lo:
        hi = lo + 1.0
    # regroup the fine bins into equal-width display bins by their left edge
    left = np.concatenate([[lo], edges])
    group = np.clip(((left - lo) / (hi - lo) * _DISPLAY_BINS).astype(int), 0, _DISPLAY_BINS - 1)
    r = np.bincount(group, weights=ref, minlength=_DISPLAY_BINS)
    k = np.bincount(group, weights=c.counts, minlength=_DISPLAY_BINS)
    step = (hi - lo) / _DISPLAY_BINS
    labels = [f"{lo + i * step:.4g} – {lo + (i + 1) * step:.4g}" for i in range(_DISPLAY_BINS)]
    return _bars(r, k, labels, drifted)


def _categorical_hist(col: ColumnProfile, c: CategoricalCounts, drifted: bool) -> str:
    ref = np.asarray(col.category_counts or [], dtype=np.int64)
    cur = np.asarray(c.counts, dtype=np.int64)
    order = np.argsort(-(ref / max(ref.sum(), 1) + cur / max(cur.sum(), 1)), kind="stable")[:_TOP_CATEGORIES]
    labels = [str((col.categories or [])[i]) for i in order]
    r, k = ref[order], cur[order]
    rest_r = int(ref.sum() - r.sum()) + col.other
    rest_c = int(cur.sum() - k.sum()) + c.unknown
    if rest_r or rest_c:
        labels.append("other / unseen")
        r, k = np.append(r, rest_r), np.append(k, rest_c)
    return _bars(r, k, labels, drifted)


def _row(r: ColumnResult) -> str:
    d = r.diagnostics
    near = (
        ' <span class="near" title="threshold within the approximation bound">≈</span>'
        if r.near_threshold
        else ""
    )
    return (
        f'<tr class="{"drift" if r.drifted else ""}"><td>{html.escape(r.name)}</td><td>{r.kind}</td>'
        f"<td>{r.method}</td><td>{_fmt(r.score)}{near}</td><td>{_fmt(r.threshold)}</td>"
        f"<td>{_fmt(r.drifted)}</td><td>{_fmt(d.get('psi'))}</td><td>{_fmt(d.get('ks_statistic'))}</td>"
        f"<td>{_fmt(d.get('ks_pvalue', d.get('chi2_pvalue')))}</td><td>{_fmt(d.get('null_rate_change'))}</td>"
        f"<td>{_fmt(d.get('unseen_share'))}</td></tr>"
    )


def render_html(profile: Profile, counts: WindowCounts, result: DriftResult) -> str:
    """The report as one HTML string."""
    colour = _COLOURS.get(result.verdict, "#6e7781")
    src = profile.source
    head = (
        f"<h1>Drift report <span class='verdict' style='background:{colour}'>{result.verdict}</span></h1>"
        f"<p>{counts.rows:,} rows in {counts.files} file(s) against the reference "
        f"<code>{html.escape(src.uri)}</code> ({profile.rows:,} rows, profile {profile.fingerprint}). "
        f"Drift share {result.drift_share:.2f} (dataset drift at ≥ {result.threshold_share:g}).</p>"
        "<ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in result.messages) + "</ul>"
    )
    table = (
        "<table><tr><th>column</th><th>kind</th><th>method</th><th>score</th><th>threshold</th>"
        "<th>drift</th><th>PSI</th><th>KS</th><th>p-value</th><th>Δ null rate</th><th>unseen</th></tr>"
        + "".join(_row(r) for r in result.columns)
        + "</table>"
    )
    figures = []
    for r in result.columns:
        col = profile.column(r.name)
        c = counts.columns.get(r.name)
        if isinstance(c, NumericCounts):
            svg = _numeric_hist(col, c, r.drifted)
        elif isinstance(c, CategoricalCounts):
            svg = _categorical_hist(col, c, r.drifted)
        else:  # pragma: no cover - results only exist for counted columns
            continue
        figures.append(
            f"<figure>{svg}<figcaption><b>{html.escape(r.name)}</b> · {r.method} {_fmt(r.score)}"
            f" · <span style='color:#8c959f'>■</span> reference <span style='color:#0969da'>■</span> current"
            "</figcaption></figure>"
        )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Drift report</title>"
        f"<style>{_CSS}</style></head><body>{head}{table}<div class='grid'>{''.join(figures)}</div></body></html>"
    )
