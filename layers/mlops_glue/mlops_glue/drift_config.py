"""The drift section of the configuration (``retrain.drift``), importable without the rest.

:mod:`mlops_glue.config` re-exports these models; the drift engine and ``mlops-glue drift check`` import
them from here, so a check does not load PyYAML and the whole configuration schema at start-up.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnDrift(_Model):
    """Per-column override of the drift method and threshold."""

    method: Literal["wasserstein", "jensenshannon", "psi", "ks", "chisquare", "z"] | None = None
    threshold: float | None = None


class DriftSettings(_Model):
    min_rows: int = Field(5000, ge=1, description="minimum rows in a window for a drift verdict")
    dataset_drift_share: float = Field(0.5, gt=0, le=1)
    method: Literal["auto", "wasserstein", "jensenshannon", "psi"] = "auto"
    threshold: float | None = Field(None, gt=0, description="default: Evidently's 0.1")
    columns: dict[str, ColumnDrift] = Field(default_factory=dict)
    count_in: Literal["auto", "lambda", "argo"] = Field(
        "auto",
        description="where a new data object is counted: auto = in the function unless it needs more than "
        "half the 15-minute timeout (`mlops-glue drift plan`), then on the cluster by the count_template "
        "WorkflowTemplate; lambda = always in the function; argo = always on the cluster",
    )
    count_template: str = Field(
        "drift-count", min_length=1, description="the WorkflowTemplate that counts one object (deploy/argo)"
    )
