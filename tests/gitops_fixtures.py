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

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mlops_glue.adapters.gitops_git import GitRepo

# the seeding helpers live in glue_local (the demo seeds the same layout); re-exported for the suites
from glue_local.gitops_seed import (  # noqa: F401
    BRANCH,
    MODELS,
    PRODUCTION_VERSION,
    STAGING_VERSION,
    VALUES_TEMPLATE,
    bare_branches,
    bare_file,
    bare_log,
    git,
    seed_bare_repo,
    values_text,
)

GitRepoFactory = Callable[..., GitRepo]


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
