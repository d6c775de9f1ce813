"""Validation of request bodies against the Argo Workflows server's swagger description.

The swagger leaves ``additionalProperties`` open, so a misspelt field would pass plain JSON-schema
validation; :func:`validate` closes every object schema first, so a field Argo does not know fails.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[1]
SWAGGER = (
    ROOT / "specs" / "argo-workflows-swagger.json"
)  # vendored copy of ../shared/specs (tests/test_specs.py)
PREFIX = "io.argoproj.workflow.v1alpha1."


class SpecViolationError(ValueError):
    """A request body does not match the Argo Workflows API description."""


def _close(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _close(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_close(v) for v in schema]
    return schema


@lru_cache(maxsize=1)
def _swagger() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SWAGGER.read_text(encoding="utf-8"))
    return doc


@lru_cache(maxsize=16)
def _validator(definition: str) -> jsonschema.protocols.Validator:
    defs = _close(copy.deepcopy(_swagger()["definitions"]))
    schema = {"$ref": f"#/definitions/{definition}", "definitions": defs}
    cls = jsonschema.validators.validator_for({"$schema": "http://json-schema.org/draft-04/schema#"})
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def validate(definition: str, body: Any) -> None:
    """Raise SpecViolationError naming every path where ``body`` breaks ``definition``.

    ``definition`` is a short name such as ``WorkflowSubmitRequest`` or ``WorkflowTemplate`` (the
    ``io.argoproj.workflow.v1alpha1.`` prefix is added) or a full definition name.
    """
    name = definition if "." in definition else PREFIX + definition
    errors = sorted(_validator(name).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(str(p) for p in e.absolute_path) or '<body>'}: {e.message}" for e in errors[:10]]
        raise SpecViolationError(f"not a valid {name.removeprefix(PREFIX)}: " + "; ".join(lines))


def submit_path_ok(path: str) -> str | None:
    """The namespace of ``/api/v1/workflows/{namespace}/submit``, or None for another path."""
    parts = path.strip("/").split("/")
    if len(parts) == 5 and parts[:3] == ["api", "v1", "workflows"] and parts[4] == "submit" and parts[3]:
        return parts[3]
    return None
