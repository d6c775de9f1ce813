"""A real GitOps remote for tests: a seeded bare repo behind git's smart-HTTP server, and a backend factory.

Shared by the promotion and the deployment-feedback suites; keep this API stable. ``tests/`` is on
``sys.path`` (rootdir conftest), so a suite's ``conftest.py`` re-exports the fixtures::

    from gitops_fixtures import bare_repo, git_server, gitops_backend, make_git_repo, no_git_on_path  # noqa: F401

and its tests use them (helpers: ``bare_file``, ``bare_log``, ``bare_branches``, ``git``, ``values_text``)::

    def test_x(bare_repo: Path, make_git_repo: GitRepoFactory) -> None:
        repo = make_git_repo()                      # a backend on bare_repo, branch main
        text = repo.read("models/fraud-detection/values-staging.yaml")

``make_git_repo`` is parametrized over the backends that write through git (``gitops_backend``): ``git``
(dulwich over smart HTTP with a token) and ``gitlab`` (the same for commits, merge requests through a
GitLab fake that shares the bare repository, as GitLab's API and its git storage do). A module that tests
one backend overrides ``gitops_backend``. ``git`` is not on ``PATH`` while a test runs: the backends
never call it (the helpers below and the server use it by absolute path).

Seeded content (one commit on ``main``): for every model in ``MODELS``,
``models/<model>/values-staging.yaml`` and ``values-production.yaml`` with comments, an anchor and
``model.version`` set to ``STAGING_VERSION`` / ``PRODUCTION_VERSION``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mlops_glue.adapters.gitops_git import GitRepo

from glue_local.git_http import GitHttpServer

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
TOKEN = "glpat-T0kenThatMustNeverLeak"  # the smart-HTTP server's (and the GitLab fake's) only credential
BACKENDS = ("git", "gitlab")


def closed_ref(pull_request_url: str, branch: str) -> str:
    """What ``close_pull_requests`` names for a change: the MR's URL on GitLab, the branch in plain git."""
    return pull_request_url if "/-/merge_requests/" in pull_request_url else branch


@pytest.fixture
def no_git_on_path(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``PATH`` without ``git`` for the test: a backend that shells out to it fails."""
    monkeypatch.setenv("PATH", str(tmp_path_factory.mktemp("empty-path")))
    assert shutil.which("git") is None


@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    """A seeded bare GitOps repository (see the module docstring)."""
    return seed_bare_repo(tmp_path)


@pytest.fixture
def git_server(bare_repo: Path) -> Iterator[GitHttpServer]:
    """``git http-backend`` serving ``bare_repo`` at ``git_server.repo_url()`` (basic auth: ``TOKEN``)."""
    with GitHttpServer(bare_repo.parent, TOKEN) as server:
        yield server


@pytest.fixture(params=BACKENDS)
def gitops_backend(request: pytest.FixtureRequest) -> str:
    """Which backend ``make_git_repo`` builds (``git`` or ``gitlab``)."""
    return str(request.param)


@pytest.fixture
def make_git_repo(
    gitops_backend: str, git_server: GitHttpServer, bare_repo: Path, no_git_on_path: None
) -> Iterator[GitRepoFactory]:
    """A factory of backends on ``bare_repo`` over smart HTTP (each with its own fetched copy)."""
    made: list[GitRepo] = []
    stack: list[Any] = []

    def factory(**kwargs: Any) -> GitRepo:
        kwargs.setdefault("branch", BRANCH)
        kwargs.setdefault("token", TOKEN)
        kwargs.setdefault("sleep", lambda _s: None)  # the backoff is tested on its own, never waited for
        repo: GitRepo
        if gitops_backend == "gitlab":
            from gitlab_fake import start_gitlab_fake

            if not stack:
                stack.append(start_gitlab_fake(bare_repo, TOKEN))
            from mlops_glue.adapters.gitops_gitlab import GitLabRepo

            repo = GitLabRepo(
                "ml/deploy", url=stack[0].url, remote=git_server.repo_url(), throttle=False, **kwargs
            )
        else:
            repo = GitRepo(git_server.repo_url(), **kwargs)
        made.append(repo)
        return repo

    yield factory
    for repo in made:
        repo.close()
    for fake in stack:
        fake.stop()
