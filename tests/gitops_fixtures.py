"""A real local GitOps repository for tests: a seeded bare repo and a ``GitRepo`` factory.

Shared by the promotion and the deployment-feedback suites; keep this API stable. ``tests/`` is on
``sys.path`` (rootdir conftest), so a suite's ``conftest.py`` re-exports the fixtures::

    from gitops_fixtures import bare_repo, make_git_repo  # noqa: F401 (pytest fixtures)

and its tests use them (helpers: ``bare_file``, ``bare_log``, ``bare_branches``, ``git``, ``values_text``)::

    def test_x(bare_repo: Path, make_git_repo: GitRepoFactory) -> None:
        repo = make_git_repo()                      # a GitRepo on bare_repo, branch main
        text = repo.read("models/fraud-detection/values-staging.yaml")

Seeded content (one commit on ``main``): for every model in ``MODELS``,
``models/<model>/values-staging.yaml`` and ``values-production.yaml`` with comments, an anchor and
``model.version`` set to ``STAGING_VERSION`` / ``PRODUCTION_VERSION``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mlops_glue.adapters.gitops_git import GitRepo

MODELS = ("fraud-detection", "churn")
BRANCH = "main"
STAGING_VERSION = "1"
PRODUCTION_VERSION = "1"

VALUES_TEMPLATE = """\
# Values for {model} in {env} — managed by mlops-glue (model.version) and by humans (the rest).
defaults: &defaults
  replicas: 2   # keep two for the PDB
  resources:
    limits: {{cpu: "1", memory: 2Gi}}

model:
  name: {model}
  # bumped by mlops-glue; everything else is left alone
  version: {version}
  uri: 'models:/{model}/{version}'

serving:
  <<: *defaults
  port: 8080
"""

GitRepoFactory = Callable[..., GitRepo]


def values_text(model: str, env: str, version: str) -> str:
    """The seeded values file of ``model`` in ``env`` at ``version``."""
    return VALUES_TEMPLATE.format(model=model, env=env, version=version)


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (test helper; author fixed) and return its stdout."""
    proc = subprocess.run(
        ["git", "-c", "user.name=Test Human", "-c", "user.email=human@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def seed_bare_repo(root: Path, models: tuple[str, ...] = MODELS, extra: dict[str, str] | None = None) -> Path:
    """Create ``root/gitops.git`` (bare) with one commit on ``main``; return the bare repo's path."""
    bare = root / "gitops.git"
    work = root / "seed"
    git(root, "init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(bare))
    git(root, "init", "--quiet", f"--initial-branch={BRANCH}", str(work))
    for model in models:
        for env, version in (("staging", STAGING_VERSION), ("production", PRODUCTION_VERSION)):
            f = work / "models" / model / f"values-{env}.yaml"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(values_text(model, env, version), encoding="utf-8")
    for rel, text in (extra or {}).items():
        f = work / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text, encoding="utf-8")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "Seed the GitOps repository")
    git(work, "push", "--quiet", str(bare), f"{BRANCH}:{BRANCH}")
    return bare


def bare_file(bare: Path, path: str, ref: str = BRANCH) -> str:
    """A file's text in the bare repo at ``ref`` (what Argo CD would sync)."""
    return git(bare, "show", f"{ref}:{path}")


def bare_log(bare: Path, ref: str = BRANCH) -> list[str]:
    """Commit subjects on ``ref``, newest first."""
    return git(bare, "log", "--format=%s", ref).splitlines()


def bare_branches(bare: Path) -> list[str]:
    """Branch names in the bare repo."""
    return git(bare, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()


@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    """A seeded bare GitOps repository (see the module docstring)."""
    return seed_bare_repo(tmp_path)


@pytest.fixture
def make_git_repo(bare_repo: Path, tmp_path: Path) -> Iterator[GitRepoFactory]:
    """A factory of ``GitRepo`` instances on ``bare_repo`` (each with its own clone, cleaned up after)."""
    made: list[GitRepo] = []

    def factory(**kwargs: Any) -> GitRepo:
        kwargs.setdefault("branch", BRANCH)
        repo = GitRepo(str(bare_repo), **kwargs)
        made.append(repo)
        return repo

    yield factory
    for repo in made:
        repo.close()
