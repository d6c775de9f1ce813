"""Build the configured GitOps backend (``gitops.backend``: ``github`` or ``git``) with its credentials."""

from __future__ import annotations

import json

from mlops_glue.adapters.gitops import GitOpsError, GitOpsRepo
from mlops_glue.adapters.secrets import Secrets
from mlops_glue.config import GlueConfig


def gitops_repo_from_config(config: GlueConfig, secrets: Secrets) -> GitOpsRepo:
    """The GitOps repository of ``config.gitops``.

    The token secret holds either a token string, or a GitHub App as JSON
    ``{"app_id": ..., "installation_id": ..., "private_key": "-----BEGIN ..."}``.
    """
    g = config.gitops
    if g is None:
        raise GitOpsError("no 'gitops' section in the configuration")
    secret = secrets.get(g.token_secret) if g.token_secret else None
    if g.backend == "git":
        from mlops_glue.adapters.gitops_git import GitRepo

        return GitRepo(g.repo, g.branch, author_name=g.author_name, author_email=g.author_email, token=secret)
    from mlops_glue.adapters.gitops_github import GitHubRepo, app_auth, token_auth

    if secret is None:
        raise GitOpsError("gitops.token_secret is required for the GitHub backend")
    if secret.lstrip().startswith("{"):
        try:
            app = json.loads(secret)
            auth = app_auth(int(app["app_id"]), str(app["private_key"]), int(app["installation_id"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise GitOpsError(
                f"GitHub App secret {g.token_secret!r} is malformed: {type(exc).__name__}"
            ) from None
    else:
        auth = token_auth(secret.strip())
    return GitHubRepo(g.repo, g.branch, auth=auth, author_name=g.author_name, author_email=g.author_email)
