"""Fixtures of the promotion suite: the shared local GitOps repository."""

from gitops_fixtures import bare_repo, git_server, gitops_backend, make_git_repo, no_git_on_path  # noqa: F401
