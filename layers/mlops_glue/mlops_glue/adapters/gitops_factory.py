"""Build the configured GitOps backend (``gitops.backend``: ``github``, ``gitlab`` or ``git``) with its credentials."""

from __future__ import annotations

import json

from mlops_glue.adapters.gitops import GitOpsError, GitOpsRepo
from mlops_glue.adapters.secrets import Secrets
from mlops_glue.config import GlueConfig


def gitops_repo_from_config(config: GlueConfig, secrets: Secrets) -> GitOpsRepo:
    """The GitOps repository of ``config.gitops``.

    The token secret holds a token string; for GitHub it may instead be a GitHub App as JSON
    ``{"app_id": ..., "installation_id": ..., "private_key": "-----BEGIN ..."}``.
    """
    g = config.gitops
    if g is None:
        raise GitOpsError("no 'gitops' section in the configuration")
    secret = secrets.get(g.token_secret).strip() if g.token_secret else None
    name, email = g.author_name, g.author_email
    if g.backend == "git":
        from mlops_glue.adapters.gitops_git import GitRepo

        remote = g.remote or g.repo
        return GitRepo(
            remote,
            g.branch,
            token=secret,
            username=g.username or "x-access-token",
            author_name=name,
            author_email=email,
        )
    if g.backend == "gitlab":
        from mlops_glue.adapters.gitops_gitlab import GitLabRepo

        if secret is None:
            raise GitOpsError("gitops.token_secret is required for the GitLab backend")
        return GitLabRepo(
            g.repo,
            g.branch,
            url=g.url or "https://gitlab.com",
            remote=g.remote,
            token=secret,
            username=g.username or "oauth2",
            author_name=name,
            author_email=email,
        )
    from mlops_glue.adapters.gitops_github import GitHubRepo, app_auth, token_auth

    if secret is None:
        raise GitOpsError("gitops.token_secret is required for the GitHub backend")
    if secret.startswith("{"):
        try:
            app = json.loads(secret)
            auth = app_auth(int(app["app_id"]), str(app["private_key"]), int(app["installation_id"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise GitOpsError(
                f"GitHub App secret {g.token_secret!r} is malformed: {type(exc).__name__}"
            ) from None
    else:
        auth = token_auth(secret)
    return GitHubRepo(g.repo, g.branch, auth=auth, base_url=g.url, author_name=name, author_email=email)
