"""The drift engine's Argo WorkflowTemplate: valid against the Argo swagger, and its commands are ours."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml
from mlops_glue.cli import build_parser

from glue_local.argo_api import validate

ROOT = Path(__file__).resolve().parents[2]


def load() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "argo" / "drift-engine.yaml").read_text())
    return doc


def template(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in doc["spec"]["templates"] if t["name"] == name)
    return found


def test_the_template_matches_the_swagger() -> None:
    doc = load()
    validate("WorkflowTemplate", doc)  # closed schema: a misspelt field fails
    params = {p["name"] for p in doc["spec"]["arguments"]["parameters"]}
    assert {"source", "profile", "output-key", "image", "cpu", "memory"} <= params
    assert {t["name"] for t in doc["spec"]["templates"]} == {"profile-build", "drift-check"}


def test_profile_build_runs_our_cli() -> None:
    c = template(load(), "profile-build")["container"]
    assert c["command"][:2] == ["python", "-c"] and "mlops_glue.cli" in c["command"][2]
    args = build_parser().parse_args(c["args"])
    assert args.func.__name__ == "_build" and args.output == "/tmp/profile.json"
    assert template(load(), "profile-build")["outputs"]["artifacts"][0]["path"] == args.output


def test_drift_check_runs_our_cli_and_keeps_the_verdict_exit_codes() -> None:
    t = template(load(), "drift-check")
    script = t["container"]["args"][0]
    words = shlex.split(script.split("&&", 1)[1].split(">", 1)[0])
    assert words[:2] == ["python", "-c"] and "mlops_glue.cli" in words[2]
    args = build_parser().parse_args(
        [w.replace("$PROFILE", "p.json").replace("$SOURCE", "b.parquet") for w in words[3:]]
    )
    assert args.func.__name__ == "_check" and args.json and args.current == ["b.parquet"]
    assert 'test "$rc" -le 1' in script  # 0 no drift and 1 drift succeed; 2 (error) fails the step
    env = {e["name"]: e["value"] for e in t["container"]["env"]}
    assert env["SOURCE"] == "{{workflow.parameters.source}}"
    assert t["outputs"]["parameters"][0]["valueFrom"]["path"] == "/tmp/out/exit-code"
