"""The drift engine: reference profiles, streaming counts, Evidently-compatible verdicts, HTML reports
(``mlops_glue.drift.report.render_html``, imported only where a report is made).

numpy, scipy and pyarrow are imported only inside this package (the light Lambda layer lacks them).
"""

from mlops_glue.drift.counts import CategoricalCounts, NumericCounts, WindowCounts, count_batch
from mlops_glue.drift.profile import ColumnProfile, Profile, ProfileError, build_profile, load_profile
from mlops_glue.drift.source import S3Object, SourceError
from mlops_glue.drift.verdict import ColumnResult, DriftResult, evaluate

__all__ = [
    "CategoricalCounts",
    "ColumnProfile",
    "ColumnResult",
    "DriftResult",
    "NumericCounts",
    "Profile",
    "ProfileError",
    "S3Object",
    "SourceError",
    "WindowCounts",
    "build_profile",
    "count_batch",
    "evaluate",
    "load_profile",
]
