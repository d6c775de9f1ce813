"""Pure promotion policy: what a registry event asks for, the metric gate, the guards, the PR branch.

No I/O: the service reads the registry, the state store and the config, and passes plain values in;
the event comes in parsed (:class:`~mlops_glue.events.MlflowEvent`), never as a dict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mlops_glue.config import Gate, Promote
from mlops_glue.events import MlflowEvent

TRUTHY = {"true", "1", "yes", "y", "on"}


@dataclass(frozen=True)
class Intent:
    """What an event asks for: gate a new version, promote a version to an environment, block it, or nothing."""

    action: Literal["gate", "promote", "block", "ignore"]
    reason: str
    env: str | None = None


def intent_of(event: MlflowEvent, promote: Promote) -> Intent:
    """Map a (parsed) MLflow registry event of a configured model to what we do about it."""
    d = event.data
    return _intent(event.event_type, d.version, d.alias, d.key, d.value, promote)


def intent_for(event_type: str, data: Mapping[str, Any], promote: Promote) -> Intent:
    """:func:`intent_of` for an event recorded as ``event_type`` + its ``data`` fields (replay reads those)."""
    return _intent(
        event_type, data.get("version"), data.get("alias"), data.get("key"), data.get("value"), promote
    )


def _intent(event_type: str, version: Any, alias: Any, key: Any, value: Any, promote: Promote) -> Intent:
    if event_type == "model_version.created":
        return Intent("gate", f"version {version} registered")
    if event_type == "model_version_alias.created":
        if alias == promote.production_alias:
            return Intent(
                "promote",
                f"alias {alias!r} set on version {version}",
                promote.production_environment,
            )
        return Intent("ignore", f"alias {alias!r} is not the production alias {promote.production_alias!r}")
    if event_type == "model_version_tag.set":
        text = str(value or "")
        if key == promote.deploy_tag:
            if text not in environments(promote):
                return Intent("ignore", f"tag {key}={text!r} names no configured environment")
            return Intent("promote", f"tag {key}={text} requested a deployment", text)
        if key == "blocked" and text.lower() in TRUTHY:
            return Intent("block", f"version {version} tagged blocked={text}")
        return Intent("ignore", f"tag {key!r} is not one we act on")
    return Intent("ignore", f"{event_type} is not an event we act on")


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """The reasons that failed the gate (prefixed ``✗``)."""
        return [r for r in self.reasons if r.startswith("✗")]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def evaluate_gate(
    gate: Gate,
    metrics: dict[str, float],
    champion_version: str | None = None,
    champion_metrics: dict[str, float] | None = None,
    candidate_version: str | None = None,
) -> GateResult:
    """Compare a candidate's metrics with the thresholds and with the champion (the production alias).

    Every reason is a sentence; failing ones start with ``✗``, passing ones with ``✓``. A metric the
    gate names but the run lacks fails the gate. Without a champion (first model) only thresholds apply.
    """
    reasons: list[str] = []
    table: dict[str, dict[str, Any]] = {}
    ok = True
    for name, rule in sorted(gate.metrics.items()):
        row: dict[str, Any] = {"value": metrics.get(name), "min": rule.min, "max": rule.max}
        table[name] = row
        value = metrics.get(name)
        if value is None:
            ok = False
            reasons.append(f"✗ {name} is missing from the run")
            continue
        if rule.min is not None:
            good = value >= rule.min
            ok &= good
            reasons.append(
                f"{'✓' if good else '✗'} {name} {_fmt(value)} {'≥' if good else '<'} {_fmt(rule.min)}"
            )
        if rule.max is not None:
            good = value <= rule.max
            ok &= good
            reasons.append(
                f"{'✓' if good else '✗'} {name} {_fmt(value)} {'≤' if good else '>'} {_fmt(rule.max)}"
            )
        if gate.must_beat and champion_metrics is not None and champion_version != candidate_version:
            champ = champion_metrics.get(name)
            row["champion"] = champ
            if champ is None:
                reasons.append(f"✓ {name}: champion v{champion_version} has no value to beat")
                continue
            delta = (value - champ) if rule.higher_is_better else (champ - value)
            good = delta >= gate.min_improvement
            ok &= good
            verb = "beats" if good else "does not beat"
            reasons.append(
                f"{'✓' if good else '✗'} {name} {_fmt(value)} {verb} champion v{champion_version} {_fmt(champ)}"
                + (f" by ≥ {_fmt(gate.min_improvement)}" if gate.min_improvement else "")
            )
    if not gate.metrics:
        reasons.append("✓ no metric thresholds configured")
    if gate.must_beat and champion_metrics is None:
        reasons.append(f"✓ no version holds alias {gate.must_beat!r}: nothing to beat")
    evidence = {"metrics": dict(metrics), "gate": table, "champion": champion_version}
    return GateResult(ok, reasons, evidence)


def guard_reasons(
    version: str,
    env: str,
    blocked: dict[str, dict[str, str]],
    tags: dict[str, str],
    pause: dict[str, Any] | None,
) -> list[str]:
    """Why ``version`` must not be promoted to ``env`` automatically (empty: it may)."""
    out = []
    if version in blocked:
        out.append(
            f"version {version} is blocklisted: {blocked[version].get('reason', 'no reason recorded')}"
        )
    if str(tags.get("blocked", "")).lower() in TRUTHY:
        out.append(f"version {version} is tagged blocked={tags['blocked']}")
    if pause:
        out.append(
            f"automation for {env} is paused until a version newer than {pause.get('until_newer_than')}: "
            f"{pause.get('reason', 'no reason recorded')}"
        )
    return out


def pr_branch(model: str, env: str, version: str, edits: Sequence[str]) -> str:
    """The pull-request branch of a change: named from model, environment and a hash of its edits."""
    digest = hashlib.sha256("\x1f".join([model, env, version, *edits]).encode()).hexdigest()[:10]
    return f"{version_prefix(model, env, version)}{digest}"


def supersede_prefix(model: str, env: str) -> str:
    """The branch prefix shared by every promotion PR of ``model`` to ``env`` (older ones get closed)."""
    return f"mlops-glue/{model}/{env}/"


def version_prefix(model: str, env: str, version: str) -> str:
    """The branch prefix of every promotion PR of ``version`` to ``env`` (the ``-`` keeps v1 from v12)."""
    return f"{supersede_prefix(model, env)}v{version}-"


def environments(promote: Promote) -> list[str]:
    """Every environment a version of the model can be promoted to (staging, production, configured)."""
    names = [promote.staging_environment, promote.production_environment, *promote.environments]
    return list(dict.fromkeys(names))


def blocked_prefixes(model: str, version: str, promote: Promote) -> list[str]:
    """The branch prefixes of the promotion PRs a blocked ``version`` may still have open, one per environment."""
    return [version_prefix(model, env, version) for env in environments(promote)]
