"""The shipped configuration files parse, and the example documents every field of the schema."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from mlops_glue.config import GlueConfig, load_config
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]


def test_example_config_parses_with_its_values() -> None:
    cfg = load_config(str(ROOT / "config" / "glue.example.yaml"))
    m = cfg.model("fraud-detection")
    assert m.retrain.drift.columns["amount"].method == "psi"
    assert m.promote.environments["production"].mode == "pull_request"
    assert m.alarms.quality is not None and m.alarms.quality.metric == "AUC"
    assert cfg.values_file("fraud-detection", "staging") == "k8s/fraud-detection/staging.yaml"
    [app, values] = m.promote.environments["production"].edit_targets()
    assert (
        app.document is not None
        and app.document.kind == "Application"
        and values.value.startswith("models:/")
    )


def _missing(model: type[BaseModel], doc: Any, path: str) -> list[str]:
    """Fields of ``model`` (recursively, into nested models and maps of models) absent from ``doc``."""
    out = []
    for name, field in model.model_fields.items():
        if not isinstance(doc, dict) or name not in doc:
            out.append(f"{path}{name}")
            continue
        sub = field.annotation
        origin = typing.get_origin(sub)
        for candidate in typing.get_args(sub) or (sub,):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                # in a map or list of models (metrics, environments, targets), each field needs to appear in
                # one entry, with a value (null does not document a nested model)
                entries = (
                    doc[name].values() if origin is dict else doc[name] if origin in (list, tuple) else None
                )
                merged = doc[name]
                if entries is not None:
                    merged = {}
                    for entry in entries:
                        merged.update({k: v for k, v in entry.items() if v is not None or k not in merged})
                out += _missing(candidate, merged, f"{path}{name}.")
    return out


def test_example_config_documents_every_field() -> None:
    doc = yaml.safe_load((ROOT / "config" / "glue.example.yaml").read_text())
    assert _missing(GlueConfig, doc, "") == []
