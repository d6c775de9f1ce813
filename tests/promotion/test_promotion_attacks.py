"""Hostile inputs against the GitOps targets (an adversarial review's findings): each states its invariant.

Invariant: either a clear refusal (ValuesEditError/TargetError naming file and path segment, nothing
written) or an edit where only the target scalar changed. A promotion is never silent: it always
returns a Decision (recorded, noticed, tagged) instead of raising.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from gitops_shapes import GitBackend
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.adapters.values_yaml import Location, ValuesEditError, edit_scalar, read_scalar
from mlops_glue.cli import main
from mlops_glue.config import parse_config
from mlops_glue.records import Outcome
from mlops_glue.services.promotion import PromotionService
from ruamel.yaml import YAML

MODEL = "fraud-detection"
STAGING = "models/fraud-detection/values-staging.yaml"


def both(text: str) -> tuple[object, object]:
    return list(yaml.safe_load_all(text)), list(YAML(typ="safe", pure=True).load_all(text))


def service(
    backend: GitBackend, environments: str
) -> tuple[PromotionService, MemoryRegistry, MemoryNotifier]:
    config = parse_config(
        "models:\n"
        f"  {MODEL}:\n"
        "    promote:\n"
        "      gate: {metrics: {val_auc: {min: 0.8}}, must_beat: null}\n"
        "      environments:\n"
        + textwrap.indent(textwrap.dedent(environments), " " * 8)
        + '    notify: {slack_channel: "#ml"}\n'
        "gitops: {backend: git, repo: unused}\n"
    )
    registry, slack = MemoryRegistry(), MemoryNotifier()
    return PromotionService(config, MemoryStateStore(), backend.repo, registry, slack), registry, slack


def add(registry: MemoryRegistry, v: str, **tags: str) -> None:
    registry.add(ModelVersion(MODEL, v, f"run{v}", dict(tags), source=f"s3://m/{v}"), {"val_auc": 0.9})


# ------------------------------------------------------------------ F1: a bad timestamp / tagged scalar anywhere
BAD_SCALARS = [
    "built: 2024-02-30",
    "built: 2024-02-29T25:00:00",
    "n: !!int abc",
    "f: !!float x",
    "b: !!bool maybe",
]


@pytest.mark.parametrize("line", BAD_SCALARS)
def test_f1_editor_refuses_instead_of_crashing_on_an_unconstructible_scalar(line: str) -> None:
    text = f"{line}\nmodel:\n  version: v3\n"
    with pytest.raises(ValuesEditError, match=r"f\.yaml"):
        edit_scalar(text, Location.of("model.version"), "v4", "f.yaml")
    assert read_scalar(text, Location.of("model.version"), "f.yaml") is None  # not ValueError/KeyError


def test_f1_promotion_is_never_silent_on_a_file_with_an_invalid_date(tmp_path: Path) -> None:
    backend = GitBackend(tmp_path, {STAGING: "releaseDate: 2024-02-30\nmodel:\n  version: v3\n"})
    svc, registry, slack = service(backend, "staging: {value: 'v{version}'}\n")
    add(registry, "4")
    before = backend.state()
    d = svc.promote(MODEL, "4", "staging", reason="r", inputs=["i"])  # raises ValueError today
    assert d.outcome is Outcome.FAILED
    assert STAGING in " ".join(d.reasons)
    assert slack.messages
    assert registry.tags[(MODEL, "4")]["deployment_status.staging"] == "failed"
    assert backend.state() == before


def test_f1_gitops_check_reports_instead_of_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = GitBackend(tmp_path, {STAGING: "releaseDate: 2024-02-30\nmodel:\n  version: v3\n"})
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(
        f"models:\n  {MODEL}:\n    promote:\n      environments:\n        staging: {{}}\n"
        "gitops: {backend: git, repo: unused}\n"
    )
    code = main(["gitops", "check", "--config", str(cfg), "--repo", str(backend.bare)])  # ValueError today
    assert code == 1
    assert f"✗ {MODEL}/staging {STAGING}" in capsys.readouterr().out


# ------------------------------------------------------------------ F2: a Unicode digit over an integer
@pytest.mark.parametrize("value", ["²", "①", "٣²"])
def test_f2_unicode_digits_over_an_integer_are_written_as_strings_not_a_crash(value: str) -> None:
    text = "model:\n  version: 3  # int\n"
    change = edit_scalar(text, Location.of("model.version"), value, "f.yaml")  # ValueError: int('²') today
    assert both(change.text) == ([{"model": {"version": value}}], [{"model": {"version": value}}])


def test_f2_promotion_with_a_superscript_tag_is_not_a_crash(tmp_path: Path) -> None:
    backend = GitBackend(tmp_path, {STAGING: "model:\n  version: 3\n"})
    svc, registry, _slack = service(backend, "staging: {value: '{tags.image_tag}'}\n")
    add(registry, "4", image_tag="²")
    d = svc.promote(MODEL, "4", "staging", reason="r", inputs=["i"])  # raises ValueError today
    assert d.outcome in (Outcome.ACTED, Outcome.FAILED, Outcome.REJECTED)


# ------------------------------------------------------------------ F3: alias bombs (a few hundred bytes)
def alias_bomb(levels: int) -> str:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\nmodel:\n  version: v3\n"


@pytest.mark.parametrize("levels", [7, 9, 12])
def test_f3_an_alias_bomb_is_refused_before_it_expands(levels: int) -> None:
    text = alias_bomb(levels)  # 414 bytes at 7 levels; 8 levels used to take 60 s and 2.3 GB
    assert len(text) < 1000
    with pytest.raises(ValuesEditError, match="expands to more than 200,000 values through its aliases"):
        edit_scalar(text, Location.of("model.version"), "v4", "f.yaml")
    assert read_scalar(text, Location.of("model.version"), "f.yaml") is None


def test_f3_a_few_aliases_are_still_fine() -> None:
    text = alias_bomb(2) + "other: *l1\n"
    assert "version: v4" in edit_scalar(text, Location.of("model.version"), "v4", "f.yaml").text


# ------------------------------------------------------------------ F4: symlinks in the repository (git backend)
def seeded_with_symlink(
    root: Path, path: str, target: str, files: dict[str, str] | None = None
) -> GitBackend:
    backend = GitBackend(root, files or {"README.md": "x\n"})
    work = root / "seed"
    (work / path).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, work / path)
    git = ["git", "-c", "user.name=Eve", "-c", "user.email=eve@example.com"]
    for args in (["add", "-A"], ["commit", "-qm", "link"], ["push", "-q", "origin", "HEAD:main"]):
        subprocess.run([*git, *args], cwd=work, check=True, capture_output=True)
    return backend


def test_f4_a_symlink_out_of_the_repository_is_never_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("model:\n  version: v3\n")
    backend = seeded_with_symlink(tmp_path, STAGING, str(outside))
    svc, registry, _slack = service(backend, "staging: {value: 'v{version}'}\n")
    add(registry, "4")
    d = svc.promote(MODEL, "4", "staging", reason="r", inputs=["i"])
    assert (
        outside.read_text() == "model:\n  version: v3\n"
    )  # before the fix: 'version: v4' written outside the clone
    assert d.outcome is Outcome.FAILED and "symlink" in " ".join(d.reasons)


def test_f4_a_symlink_inside_the_repository_is_a_clear_not_retried_failure(tmp_path: Path) -> None:
    backend = seeded_with_symlink(
        tmp_path,
        STAGING,
        "values-common.yaml",
        {"models/fraud-detection/values-common.yaml": "model:\n  version: v3\n"},
    )
    svc, registry, _slack = service(backend, "staging: {value: 'v{version}'}\n")
    add(registry, "4")
    d = svc.promote(MODEL, "4", "staging", reason="r", inputs=["i"])
    # before the fix: FAILED, retryable, reason 'writing ...: git commit failed (1): ' (MLflow redelivers forever)
    assert not d.evidence.get("retryable"), d.reasons
    assert "symlink" in " ".join(d.reasons)


# ------------------------------------------------------------------ F5: flow collections: quote, don't refuse
@pytest.mark.parametrize("value", ["a,b", "v4}", "v4]", "x{y", "a[0]"])
@pytest.mark.parametrize(
    ("text", "path"),
    [("model: {name: m, version: v3}\n", "model.version"), ("tags: [v3, x]\n", "tags[0]")],
)
def test_f5_a_value_with_flow_indicators_inside_a_flow_collection_is_quoted(
    text: str, path: str, value: str
) -> None:
    change = edit_scalar(
        text, Location.of(path), value, "f.yaml"
    )  # before the fix: refused, 'an anchor or alias shares it'
    py, ru = both(change.text)
    assert py == ru
    node = ru[0]["model"]["version"] if path == "model.version" else ru[0]["tags"][0]
    assert node == value


# ------------------------------------------------------------------ F6: an empty value (a placeholder)
@pytest.mark.parametrize(
    "text",
    [
        "model:\n  version:\n  other: 1\n",
        "model:\n  version:\n",
        "model:\n  version:   # set by CI\n  other: 1\n",
    ],
)
def test_f6_an_empty_value_is_refused_with_the_real_reason(text: str) -> None:
    with pytest.raises(ValuesEditError, match=r"f\.yaml: model\.version holds no value \(an empty scalar\)"):
        edit_scalar(text, Location.of("model.version"), "v4", "f.yaml")


# ------------------------------------------------------------------ F7: ordering is checked once, not where the edit lands
class RacingRepo:
    """The git backend, with another promotion landing between our read of the head and our commit."""

    def __init__(self, inner: object, before_commit: object) -> None:
        self._inner, self._before_commit = inner, before_commit

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def commit_files(self, *args: object, **kwargs: object) -> object:
        hook, self._before_commit = self._before_commit, None
        if hook is not None:
            hook()  # e.g. a concurrent Lambda delivering v7 of the same model
        return self._inner.commit_files(*args, **kwargs)


def test_f7_a_concurrent_newer_version_is_never_downgraded(tmp_path: Path) -> None:
    from mlops_glue.adapters.gitops_git import GitRepo

    backend = GitBackend(tmp_path, {STAGING: "model:\n  version: v5\n"})
    env = "staging: {value: 'v{version}'}\n"
    other_clone = tmp_path / "other"
    other_clone.mkdir()
    other, other_registry, _ = service(backend, env)
    other.repo = GitRepo(str(backend.bare), "main", workdir=other_clone)
    add(other_registry, "7")

    svc, registry, _ = service(backend, env)
    svc.repo = RacingRepo(backend.repo, lambda: other.gate(MODEL, "7", inputs=["delivery-7"]))
    add(registry, "6")
    d = svc.gate(MODEL, "6", inputs=["delivery-6"])

    # before the fix: ACTED, and staging goes v7 -> v6 (the older version wins the race)
    assert backend.file(STAGING) == "model:\n  version: v7\n", (d.outcome, d.reasons)
    assert d.outcome is Outcome.IGNORED


# ------------------------------------------------------------------ F8: what we wrote is forgotten once anyone else touches the file
APPSET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: models
spec:
  generators:
    - list:
        elements:
          - model: churn
            tag: "2026.01.01"
          - model: fraud-detection
            tag: "2026.01.01"
"""


def commit_as_human(backend: GitBackend, root: Path, path: str, old: str, new: str) -> None:
    work = root / "seed"
    git = ["git", "-c", "user.name=Dana", "-c", "user.email=dana@example.com"]
    subprocess.run([*git, "pull", "-q", "origin", "main"], cwd=work, check=True, capture_output=True)
    text = (work / path).read_text()
    assert old in text
    (work / path).write_text(text.replace(old, new))
    for args in (["commit", "-qam", "human edit"], ["push", "-q", "origin", "HEAD:main"]):
        subprocess.run([*git, *args], cwd=work, check=True, capture_output=True)


def test_f8_a_late_older_version_is_ignored_after_a_human_touched_another_line(tmp_path: Path) -> None:
    apps = "apps/models.yaml"
    backend = GitBackend(tmp_path, {apps: APPSET})
    env = (
        f"staging: {{file: {apps}, document: {{kind: ApplicationSet, name: models}}, "
        "key: 'spec.generators[0].list.elements[model=fraud-detection].tag', value: '{tags.image_tag}'}\n"
    )
    svc, registry, _ = service(backend, env)
    add(registry, "5", image_tag="2026.12.05")
    assert svc.gate(MODEL, "5", inputs=["d5"]).outcome is Outcome.ACTED  # our commit: Glue-Version 5
    # someone bumps churn (by hand, or mlops-glue for the churn model) in the same shared file
    commit_as_human(
        backend,
        tmp_path,
        apps,
        '- model: churn\n            tag: "2026.01.01"',
        '- model: churn\n            tag: "2026.12.06"',
    )
    add(registry, "4", image_tag="2026.12.04")
    d = svc.gate(MODEL, "4", inputs=["d4-late"])  # a late redelivery of an older version

    # before the fix: ACTED, fraud-detection goes back 2026.12.05 (v5) -> 2026.12.04 (v4)
    assert '- model: fraud-detection\n            tag: "2026.12.05"' in backend.file(apps), d.reasons
    assert d.outcome is Outcome.IGNORED


# ------------------------------------------------------------------ F9: gitops check: an unreachable repository is an error (2), not "a target would fail" (1)
def test_f9_check_on_an_unreachable_repository_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(
        f"models:\n  {MODEL}:\n    promote:\n      environments:\n        staging: {{}}\n        production: {{}}\n"
        "gitops: {backend: git, repo: unused}\n"
    )
    code = main(["gitops", "check", "--config", str(cfg), "--repo", str(tmp_path / "missing.git")])
    captured = capsys.readouterr()
    # before the fix: exit 1, one '✗ ... git clone failed' line per target (a clone attempt per target)
    assert code == 2, captured.out
    assert "missing.git is not a git repository" in captured.err and len(captured.err.splitlines()) == 1


# ------------------------------------------------------------------ F10: configurations that cannot be right load silently
@pytest.mark.parametrize("value", ["version", "v-latest", "{{version}}"])
def test_f10_a_value_template_without_any_placeholder_is_refused_at_load(value: str) -> None:
    from mlops_glue.config import ConfigError

    with pytest.raises(
        ConfigError, match="value"
    ):  # before the fix: accepted; every version writes the same literal
        parse_config(
            f"models:\n  m:\n    promote:\n      environments:\n        staging: {{value: '{value}'}}\n"
            "gitops: {backend: git, repo: unused}\n"
        )


def test_f10_two_targets_on_the_same_scalar_are_refused_at_load() -> None:
    from mlops_glue.config import ConfigError

    with pytest.raises(
        ConfigError, match=r"model\.version"
    ):  # before the fix: accepted; the last one silently wins
        parse_config(
            "models:\n  m:\n    promote:\n      environments:\n        staging:\n          targets:\n"
            "            - {file: a.yaml, path: model.version, value: 'v{version}'}\n"
            "            - {file: a.yaml, path: model.version, value: '{tags.image_tag}'}\n"
            "gitops: {backend: git, repo: unused}\n"
        )


# ------------------------------------------------------------------ F11: read-back is not an inverse of render
def test_f11_read_back_inverts_render_for_adjacent_placeholders() -> None:
    from mlops_glue.targets import parse_template

    template = parse_template("{version}{version}")
    written = template.render({"version": "12"}, {}, "t")
    assert written == "1212"
    assert template.version_in(written, "m", "staging") in ("12", None)  # before the fix: '121'


# ------------------------------------------------------------------ F12: the preview diff of files with other line breaks
class OneFile:
    def __init__(self, text: str) -> None:
        self.text = text

    def read(self, path: str) -> str:
        return self.text


@pytest.mark.parametrize(
    "text",
    ["model:\r  version: v3\r  other: 1\r", 'note: "a\x85b"\nmodel:\n  version: v3\n'],
    ids=["cr-only", "nel-in-a-string"],
)
def test_f12_preview_marks_no_newline_only_at_the_end_of_a_file(text: str) -> None:
    from mlops_glue.services.gitops_change import Change, PlannedEdit, preview

    change = Change(MODEL, "staging", "4", (PlannedEdit("f.yaml", Location.of("model.version"), "v4"),))
    diff = preview(OneFile(text), change)  # type: ignore[arg-type]
    # before the fix: '\ No newline at end of file' after every line (CR-only) or in the middle of a string (NEL)
    assert diff.count("\\ No newline at end of file") == 0, diff
