"""Fixtures of the intake suite: the shared local GitOps repository."""

from gitops_fixtures import bare_repo, make_git_repo  # noqa: F401 (pytest fixtures)
