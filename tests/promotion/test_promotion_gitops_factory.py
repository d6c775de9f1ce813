"""``gitops.backend`` = github | gitlab | git builds the right backend with the token from Secrets Manager."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitops_fixtures import TOKEN, bare_log
from mlops_glue.adapters.gitops import GitOpsError
from mlops_glue.adapters.gitops_factory import gitops_repo_from_config
from mlops_glue.adapters.gitops_git import GitRepo
from mlops_glue.adapters.gitops_gitlab import GitLabRepo
from mlops_glue.adapters.secrets import StaticSecrets
from mlops_glue.config import parse_config

from glue_local.git_http import GitHttpServer

SECRETS = StaticSecrets({"gitops/token": TOKEN + "\n"})


def config(gitops: str) -> str:
    return f"models: {{fraud-detection: {{}}}}\ngitops: {gitops}\n"


@pytest.fixture
def gitops_backend() -> str:
    return "git"


def test_git_backend_over_https_with_the_token_commits(
    git_server: GitHttpServer, bare_repo: Path, no_git_on_path: None
) -> None:
    cfg = parse_config(
        config(f"{{backend: git, repo: '{git_server.repo_url()}', token_secret: gitops/token}}")
    )
    repo = gitops_repo_from_config(cfg, SECRETS)
    assert isinstance(repo, GitRepo) and not isinstance(repo, GitLabRepo)
    path = "models/fraud-detection/values-staging.yaml"
    assert repo.commit_file(
        path, lambda t: t.replace("version: 1\n", "version: 2\n"), "via config", {}
    ).changed
    assert bare_log(bare_repo)[0] == "via config"


def test_gitlab_backend_reads_url_remote_and_username() -> None:
    cfg = parse_config(
        config(
            "{backend: gitlab, repo: ml/deploy, url: 'https://gitlab.example.com/', token_secret: gitops/token}"
        )
    )
    repo = gitops_repo_from_config(cfg, SECRETS)
    assert isinstance(repo, GitLabRepo)
    assert (
        repo.remote == "https://gitlab.example.com/ml/deploy.git" and repo.url == "https://gitlab.example.com"
    )
    assert repo._username == "oauth2" and repo._token == TOKEN  # stripped of the secret's newline


@pytest.mark.parametrize(
    ("gitops", "message"),
    [
        ("{backend: gitlab, repo: ml/deploy}", "token_secret is required for the GitLab backend"),
        (
            "{backend: gitlab, repo: 'https://gitlab.com/ml/deploy.git', token_secret: gitops/token}",
            "project path",
        ),
    ],
)
def test_misconfigurations_are_named(gitops: str, message: str) -> None:
    with pytest.raises(GitOpsError, match=message):
        gitops_repo_from_config(parse_config(config(gitops)), SECRETS)


@pytest.mark.parametrize(
    "gitops",
    [
        "{backend: git, repo: 'https://u:p@git.example.com/r.git'}",
        "{backend: gitlab, repo: g/p, url: 'https://oauth2:t@gitlab.example.com', token_secret: t}",
        "{backend: gitlab, repo: g/p, remote: 'https://oauth2:t@gitlab.com/g/p.git', token_secret: t}",
    ],
)
def test_a_url_with_credentials_fails_when_the_configuration_loads(gitops: str) -> None:
    with pytest.raises(Exception, match="credentials in it"):
        parse_config(config(gitops))


def test_an_unknown_backend_fails_when_the_configuration_loads() -> None:
    with pytest.raises(Exception, match="backend"):
        parse_config(config("{backend: bitbucket, repo: x}"))
