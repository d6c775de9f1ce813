"""The GitLab backend: commits through git's smart HTTP (dulwich), merge requests through python-gitlab.

The API side runs against ``gitlab_fake.FakeGitLab``, which checks every request against GitLab's REST
reference and shares the bare repository with the git server. Hostile cases first.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gitlab_fake import ENCODED, FakeGitLab, start_gitlab_fake
from gitops_fixtures import TOKEN, bare_branches, bare_file, bare_log, git
from mlops_glue.adapters.gitops import GitOpsAuthError, GitOpsError
from mlops_glue.adapters.gitops_gitlab import GitLabRepo

from glue_local.git_http import GitHttpServer

PRODUCTION = "models/fraud-detection/values-production.yaml"
CHURN_PRODUCTION = "models/churn/values-production.yaml"
STAGING = "models/fraud-detection/values-staging.yaml"
PREFIX = "mlops-glue/fraud-detection/production/"


@pytest.fixture
def gitops_backend() -> str:
    return "gitlab"


@pytest.fixture
def fake(bare_repo: Path) -> Iterator[FakeGitLab]:
    f = start_gitlab_fake(bare_repo, TOKEN)
    yield f
    f.stop()  # fails the test on any request outside GitLab's documented API


@pytest.fixture
def make(fake: FakeGitLab, git_server: GitHttpServer, no_git_on_path: None) -> Callable[..., GitLabRepo]:
    def factory(**kwargs: object) -> GitLabRepo:
        kwargs.setdefault("token", TOKEN)
        return GitLabRepo(
            "ml/deploy",
            url=fake.url,
            remote=git_server.repo_url(),
            throttle=False,
            sleep=lambda _s: None,
            **kwargs,  # type: ignore[arg-type]
        )

    return factory


def bump(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(f"version: {old}\n", f"version: {new}\n")


def mr_calls(fake: FakeGitLab, method: str, suffix: str) -> list[dict[str, object]]:
    return [p for m, pattern, p in fake.log if m == method and pattern.endswith(suffix)]


# ------------------------------------------------------------------------------ hostile


def test_an_expired_token_is_a_clear_auth_error_and_never_shown(
    make: Callable[..., GitLabRepo], fake: FakeGitLab, caplog: pytest.LogCaptureFixture
) -> None:
    fake.expired = True
    with caplog.at_level(logging.DEBUG), pytest.raises(GitOpsAuthError, match="token was refused") as caught:
        make().open_pull_request({PRODUCTION: bump("1", "2")}, PREFIX + "v2-aaaa", "t", "b", {})
    text = "".join(traceback.format_exception(caught.value)) + caplog.text
    assert "401" in str(caught.value) and "expired" in str(caught.value)
    assert TOKEN not in text


def test_a_wrong_token_fails_on_git_too_as_an_auth_error(make: Callable[..., GitLabRepo]) -> None:
    with pytest.raises(GitOpsAuthError, match="HTTP 401"):
        make(token="glpat-wrong").commit_file(STAGING, bump("1", "2"), "m", {})


@pytest.mark.parametrize("mode", ["down", "nonsense"])
def test_an_api_down_or_answering_nonsense_is_a_gitops_error(
    make: Callable[..., GitLabRepo], fake: FakeGitLab, mode: str
) -> None:
    fake.mode = mode
    with pytest.raises(GitOpsError, match="GitLab list merge requests") as caught:
        make().open_pull_request({PRODUCTION: bump("1", "2")}, PREFIX + "v2-aaaa", "t", "b", {})
    assert not isinstance(caught.value, GitOpsAuthError)


def test_a_409_for_a_merge_request_opened_concurrently_reuses_it(
    make: Callable[..., GitLabRepo], fake: FakeGitLab
) -> None:
    repo, other = make(), make()
    branch = PREFIX + "v2-aaaa"
    fake.before_create = lambda: fake.mrs.append(
        {
            "iid": 1,
            "state": "opened",
            "source_branch": branch,
            "target_branch": "main",
            "title": "t",
            "description": "",
        }
    )

    pr = repo.open_pull_request({PRODUCTION: bump("1", "2")}, branch, "t", "b", {})

    assert pr is not None and pr.reused and pr.number == 1 and len(fake.mrs) == 1
    assert other.open_pull_request({PRODUCTION: bump("1", "2")}, branch, "t", "b", {}).reused  # type: ignore[union-attr]


def test_a_project_path_that_is_not_one_is_refused() -> None:
    with pytest.raises(GitOpsError, match="GitLab project path"):
        GitLabRepo("https://gitlab.com/ml/deploy.git")


# ------------------------------------------------------------------------------ merge requests


def test_the_production_change_is_a_merge_request_with_the_decision_record(
    make: Callable[..., GitLabRepo], fake: FakeGitLab, bare_repo: Path
) -> None:
    repo = make()
    body = "### Why\nv2 passed the gate\n\nDecision d-42"

    pr = repo.open_pull_request(
        {PRODUCTION: bump("1", "2"), CHURN_PRODUCTION: bump("1", "3")},
        PREFIX + "v2-aaaa",
        "Promote fraud-detection v2 to production",
        body,
        {"Glue-Decision-Id": "d-42"},
    )
    again = make().open_pull_request({PRODUCTION: bump("1", "2")}, PREFIX + "v2-aaaa", "t", "b", {})

    assert pr is not None and not pr.reused and pr.number == 1
    assert pr.url == f"{fake.url}/ml/deploy/-/merge_requests/1"
    [create] = mr_calls(fake, "POST", "merge_requests")
    assert create == {
        "source_branch": PREFIX + "v2-aaaa",
        "target_branch": "main",
        "title": "Promote fraud-detection v2 to production",
        "description": body,
        "remove_source_branch": True,
    }
    assert git(bare_repo, "diff", "--name-only", "main", pr.branch).split() == [CHURN_PRODUCTION, PRODUCTION]
    assert "Glue-Decision-Id: d-42" in git(bare_repo, "log", "-1", "--format=%B", pr.branch)
    assert again is not None and again.reused and again.number == 1 and len(fake.mrs) == 1
    assert "version: 1\n" in bare_file(bare_repo, PRODUCTION)  # waits for review


def test_a_newer_change_closes_the_superseded_merge_request_with_a_note_pointing_to_it(
    make: Callable[..., GitLabRepo], fake: FakeGitLab, bare_repo: Path
) -> None:
    repo = make()
    old = repo.open_pull_request({PRODUCTION: bump("1", "2")}, PREFIX + "v2-aaaa", "t2", "b", {})
    other_model = repo.open_pull_request(
        {CHURN_PRODUCTION: bump("1", "2")}, "mlops-glue/churn/production/v2-cccc", "c", "b", {}
    )

    new = repo.open_pull_request(
        {PRODUCTION: bump("1", "3")}, PREFIX + "v3-bbbb", "t3", "b", {}, supersede_prefix=PREFIX
    )

    assert old is not None and other_model is not None and new is not None
    assert new.closed_branches == (PREFIX + "v2-aaaa",)
    assert [m["state"] for m in fake.mrs] == ["closed", "opened", "opened"]
    assert fake.notes == [(1, f"Superseded by !3 ({new.url}).")]
    assert [p for p in mr_calls(fake, "PUT", ":iid")] == [{"state_event": "close"}]
    assert PREFIX + "v2-aaaa" not in bare_branches(bare_repo)
    assert "mlops-glue/churn/production/v2-cccc" in bare_branches(bare_repo)


def test_close_pull_requests_notes_closes_and_is_idempotent(
    make: Callable[..., GitLabRepo], fake: FakeGitLab, bare_repo: Path
) -> None:
    repo = make()
    pr = repo.open_pull_request({PRODUCTION: bump("1", "12")}, PREFIX + "v12-aaaa", "t", "b", {})

    closed = repo.close_pull_requests(PREFIX + "v12-", "v12 was rolled back in staging")
    again = repo.close_pull_requests(PREFIX + "v12-", "v12 was rolled back in staging")

    assert pr is not None and closed == (pr.url,) and again == ()
    assert fake.notes == [(1, "v12 was rolled back in staging")]
    assert fake.mrs[0]["state"] == "closed" and PREFIX + "v12-aaaa" not in bare_branches(bare_repo)
    with pytest.raises(GitOpsError, match="empty branch prefix"):
        repo.close_pull_requests("", "all")


def test_auto_merge_waits_for_the_pipeline_when_one_runs(
    make: Callable[..., GitLabRepo], fake: FakeGitLab, bare_repo: Path
) -> None:
    fake.pipeline = "running"
    pr = make().open_pull_request(
        {PRODUCTION: bump("1", "2")}, PREFIX + "v2-aaaa", "t", "b", {}, auto_merge=True
    )

    assert pr is not None and pr.merged_sha is None
    assert mr_calls(fake, "PUT", "/merge") == [
        {"should_remove_source_branch": True, "merge_when_pipeline_succeeds": True}
    ]
    assert fake.mrs[0]["mwps"] is True and "version: 1\n" in bare_file(bare_repo, PRODUCTION)


def test_auto_merge_without_a_pipeline_merges_at_once(
    make: Callable[..., GitLabRepo], fake: FakeGitLab, bare_repo: Path
) -> None:
    pr = make().open_pull_request(
        {PRODUCTION: bump("1", "2")}, PREFIX + "v2-aaaa", "t", "b", {}, auto_merge=True
    )

    assert pr is not None and pr.merged_sha == git(bare_repo, "rev-parse", "main").strip()
    assert "version: 2\n" in bare_file(bare_repo, PRODUCTION)
    assert bare_log(bare_repo)[0].startswith("Merge branch")
    assert PREFIX + "v2-aaaa" not in bare_branches(bare_repo)


def test_a_merge_gitlab_refuses_leaves_the_merge_request_open(
    make: Callable[..., GitLabRepo], fake: FakeGitLab, bare_repo: Path
) -> None:
    fake.refuse_merge = True
    pr = make().open_pull_request(
        {PRODUCTION: bump("1", "2")}, PREFIX + "v2-aaaa", "t", "b", {}, auto_merge=True
    )

    assert pr is not None and pr.merged_sha is None and fake.mrs[0]["state"] == "opened"
    assert "version: 1\n" in bare_file(bare_repo, PRODUCTION)


def test_commits_go_through_git_with_gitlab_links(make: Callable[..., GitLabRepo], fake: FakeGitLab) -> None:
    repo = make()
    result = repo.commit_files(
        {STAGING: bump("1", "2"), "models/churn/values-staging.yaml": bump("1", "2")}, "Two", {}
    )
    assert result.url == f"{fake.url}/ml/deploy/-/commit/{result.sha}"
    info = repo.get_commit(result.sha or "")
    assert info is not None and len(info.files) == 2
    assert fake.log == []  # no API call for a commit
    assert ENCODED == "ml%2Fdeploy"
