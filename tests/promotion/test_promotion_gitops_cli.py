"""``mlops-glue gitops check`` and ``gitops preview`` on a real repository (exit codes, output, nothing written)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from gitops_shapes import APPLICATION, HELM_VALUES, GitBackend
from mlops_glue.cli import main

APP = "apps/fraud-detection-production.yaml"
STAGING = "models/fraud-detection/values-staging.yaml"

CONFIG = f"""\
models:
  fraud-detection:
    promote:
      environments:
        staging: {{key: model.version, value: "v{{version}}"}}
        production:
          targets:
            - file: {APP}
              document: {{kind: Application, name: fraud-detection-production}}
              path: spec.source.helm.parameters[name=model.version].value
              value: "{{tags.image_tag}}"
gitops: {{backend: git, repo: unused}}
"""


@pytest.fixture
def repo(tmp_path: Path) -> GitBackend:
    return GitBackend(tmp_path, {STAGING: HELM_VALUES, APP: APPLICATION})


def config(tmp_path: Path, text: str = CONFIG) -> str:
    path = tmp_path / "glue.yaml"
    path.write_text(text)
    return str(path)


def test_check_reports_every_target_and_passes(
    repo: GitBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["gitops", "check", "--config", config(tmp_path), "--repo", str(repo.bare)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"✓ fraud-detection/staging {STAGING}: model.version holds 'v2.3.1'" in out
    assert (
        f"✓ fraud-detection/production {APP}: Application/fraud-detection-production: "
        "spec.source.helm.parameters[name=model.version].value holds 'v3'; every version needs tag image_tag"
    ) in out
    assert out.rstrip().endswith("every target resolves")


def test_check_names_each_target_that_would_fail(
    repo: GitBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = CONFIG.replace("[name=model.version]", "[name=model.tag]").replace(
        "staging: {key: model.version", "staging: {file: models/nope.yaml, key: model.version"
    )
    before = repo.state()
    code = main(["gitops", "check", "--config", config(tmp_path, broken), "--repo", str(repo.bare)])
    out = capsys.readouterr().out
    assert code == 1
    assert "✗ fraud-detection/staging models/nope.yaml: model.version: models/nope.yaml does not exist" in out
    assert (
        f"{APP}: spec.source.helm.parameters[name=model.tag]: no item of spec.source.helm.parameters "
        "has name=model.tag (name values: image.repository, model.version, replicas)"
    ) in out
    assert out.rstrip().endswith("2 target(s) would fail")
    assert repo.state() == before


def test_preview_prints_the_diff_and_writes_nothing(
    repo: GitBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = repo.state()
    args = ["gitops", "preview", "fraud-detection", "production", "7", "--tag", "image_tag=2026.12.01-ab12"]
    code = main([*args, "--config", config(tmp_path), "--repo", str(repo.bare)])
    out = capsys.readouterr().out
    assert code == 0
    assert out == textwrap.dedent(
        f"""\
        --- a/{APP}
        +++ b/{APP}
        @@ -14,7 +14,7 @@
                 - name: image.repository
                   value: registry.example.com/models/fraud-detection
                 - name: model.version
        -          value: "v3"
        +          value: "2026.12.01-ab12"
                 - name: replicas
                   value: "2"
           destination: {{server: https://kubernetes.default.svc, namespace: fraud}}
        """
    )
    assert repo.state() == before


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ([], "tag 'image_tag' is not set"),
        (["--tag", "image_tag"], "--tag takes NAME=VALUE"),
        (["--tag", "image_tag=a\tb"], "control character"),
    ],
)
def test_preview_errors_are_one_line_and_exit_2(
    repo: GitBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], reason: str
) -> None:
    code = main(
        [
            "gitops",
            "preview",
            "fraud-detection",
            "production",
            "7",
            *extra,
            "--config",
            config(tmp_path),
            "--repo",
            str(repo.bare),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("mlops-glue: ") and reason in line


@pytest.mark.parametrize(
    ("model", "env", "version", "reason"),
    [
        ("fraud-detection", "staging", "012", "positive integers"),
        ("unknown", "staging", "3", "model 'unknown' is not configured"),
        ("fraud-detection", "../x", "3", "invalid environment"),
    ],
)
def test_preview_refuses_bad_names(
    repo: GitBackend,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model: str,
    env: str,
    version: str,
    reason: str,
) -> None:
    code = main(
        ["gitops", "preview", model, env, version, "--config", config(tmp_path), "--repo", str(repo.bare)]
    )
    assert code == 2 and reason in capsys.readouterr().err


def test_preview_of_what_is_already_there_prints_nothing(
    repo: GitBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = CONFIG.replace('value: "v{version}"', 'value: "v2.3.{version}"')  # v1 is what staging holds
    code = main(
        [
            "gitops",
            "preview",
            "fraud-detection",
            "staging",
            "1",
            "--config",
            config(tmp_path, text),
            "--repo",
            str(repo.bare),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0 and captured.out == "" and "already holds v1: nothing to commit" in captured.err


def test_a_bad_configuration_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = CONFIG.replace("spec.source.helm.parameters[name=model.version].value", "spec..value")
    assert main(["gitops", "check", "--config", config(tmp_path, bad), "--repo", str(tmp_path)]) == 2
    assert "targets.0.path" in capsys.readouterr().err
