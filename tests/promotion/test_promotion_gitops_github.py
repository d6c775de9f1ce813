"""The GitHub backend against a fake GitHub (pytest-httpserver) that checks PyGithub's requests.

The fake keeps a tiny repository (branches → files, commits) and checks each request's method, path
and body fields against GitHub's REST reference (contents, branches, git refs/trees/commits, pulls,
issue comments). It answers 409 to a contents update with a stale blob sha, like GitHub.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from github_fake import PROD, STAGING, TEXT, FakeGitHub
from mlops_glue.adapters.gitops import GitOpsConflictError, GitOpsError
from mlops_glue.adapters.gitops_github import GitHubRepo, token_auth
from pytest_httpserver import HTTPServer


@pytest.fixture
def gh(httpserver: HTTPServer) -> FakeGitHub:
    fake = FakeGitHub(httpserver.url_for("").rstrip("/"))
    httpserver.expect_request(re.compile(".*")).respond_with_handler(fake)
    return fake


@pytest.fixture
def repo(gh: FakeGitHub) -> GitHubRepo:
    return GitHubRepo("o/r", "main", auth=token_auth("t0ken"), base_url=gh.base, throttle=False)


def bump(old: str, new: str) -> Any:
    return lambda t: t.replace(f"version: {old}\n", f"version: {new}\n")


def test_commit_through_contents_api_with_trailers_then_no_op(gh: FakeGitHub, repo: GitHubRepo) -> None:
    res = repo.commit_file(STAGING, bump("1", "2"), "Bump to 2", {"Glue-Version": "2"})
    again = repo.commit_file(STAGING, bump("1", "2"), "Bump to 2", {"Glue-Version": "2"})

    assert res.changed and gh.refs["main"] == res.sha
    assert gh.files("main")[STAGING] == TEXT.replace("version: 1", "version: 2")
    assert gh.commits[res.sha]["message"] == "Bump to 2\n\nGlue-Version: 2"
    assert not again.changed
    info = repo.get_commit(res.sha or "")
    assert info is not None and info.trailers == {"Glue-Version": "2"} and info.files == (STAGING,)


def test_stale_sha_409_is_re_read_and_retried(gh: FakeGitHub, repo: GitHubRepo) -> None:
    gh.stale_next_put = 2
    res = repo.commit_file(STAGING, bump("1", "2"), "Bump", {})
    puts = [c for c in gh.log if c[0] == "PUT"]
    reads = [c for c in gh.log if c == ("GET", f"/repos/o/r/contents/{STAGING}")]
    assert res.changed and len(puts) == 3 and len(reads) >= 3


def test_persistent_conflict_gives_up_with_a_conflict_error(gh: FakeGitHub, repo: GitHubRepo) -> None:
    gh.stale_next_put = 99
    with pytest.raises(GitOpsConflictError, match="kept changing"):
        repo.commit_file(STAGING, bump("1", "2"), "Bump", {})


def test_pull_request_opened_reused_and_older_one_closed(gh: FakeGitHub, repo: GitHubRepo) -> None:
    first = repo.open_pull_request(
        {PROD: bump("1", "2")}, "glue/m/production/v2-a", "Promote v2", "why", {"Glue-Version": "2"}
    )
    again = repo.open_pull_request({PROD: bump("1", "2")}, "glue/m/production/v2-a", "Promote v2", "why", {})
    newer = repo.open_pull_request(
        {PROD: bump("1", "3")},
        "glue/m/production/v3-b",
        "Promote v3",
        "why",
        {},
        supersede_prefix="glue/m/production/",
    )
    nothing = repo.open_pull_request({PROD: lambda t: t}, "glue/m/production/v1-c", "t", "b", {})

    assert first is not None and first.number == 1 and not first.reused
    assert again is not None and again.reused and again.number == 1
    assert newer is not None and newer.number == 2 and newer.closed == (1,)
    assert gh.pulls[0]["state"] == "closed" and gh.comments == [
        (1, "Superseded by #2 (https://github.com/o/r/pull/2).")
    ]
    assert nothing is None
    assert "version: 3" in gh.files("glue/m/production/v3-b")[PROD]
    assert gh.files("main")[PROD] == TEXT  # the base waits for the review
    assert [c for c in gh.log if c[0] == "POST" and c[1] == "/repos/o/r/pulls"] == [
        ("POST", "/repos/o/r/pulls")
    ] * 2


def test_close_pull_requests_comments_and_closes_only_the_matching_open_ones(
    gh: FakeGitHub, repo: GitHubRepo
) -> None:
    for branch, new in [
        ("mlops-glue/m/production/v12-a", "12"),
        ("mlops-glue/m/production/v1-b", "3"),  # v1-: not v12's
        ("mlops-glue/m/staging/v12-c", "12"),
    ]:
        path = STAGING if "/staging/" in branch else PROD
        assert repo.open_pull_request({path: bump("1", new)}, branch, f"Promote {branch}", "why", {})
    gh.log.clear()

    closed = repo.close_pull_requests("mlops-glue/m/production/v12-", "v12 is blocked: rolled back")
    again = repo.close_pull_requests("mlops-glue/m/production/v12-", "v12 is blocked: rolled back")

    assert closed == ("https://github.com/o/r/pull/1",) and again == ()
    assert [p["state"] for p in gh.pulls] == ["closed", "open", "open"]
    assert gh.comments == [(1, "v12 is blocked: rolled back")]
    # the comment goes on the issue before the pull request is closed (PATCH state=closed)
    writes = [c for c in gh.log if c[0] != "GET"]
    assert writes == [("POST", "/repos/o/r/issues/1/comments"), ("PATCH", "/repos/o/r/pulls/1")]
    assert gh.refs["mlops-glue/m/production/v12-a"]  # closing a PR keeps its branch, like GitHub
    with pytest.raises(GitOpsError, match="empty branch prefix"):
        repo.close_pull_requests("", "everything")


def test_history_and_revert_through_git_data_api(gh: FakeGitHub, repo: GitHubRepo) -> None:
    seed = gh.refs["main"]
    a = repo.commit_file(STAGING, bump("1", "2"), "to 2", {})
    b = repo.commit_file(STAGING, bump("2", "3"), "to 3", {})
    last = repo.last_commit_touching(STAGING)
    history = repo.commits_touching(STAGING, seed)

    reverted = repo.revert(b.sha or "", "Revert to 2", {"Glue-Decision-Id": "d-rb"})

    assert last is not None and last.sha == b.sha
    assert [c.sha for c in history] == [a.sha, b.sha]
    assert reverted.changed and "version: 2" in gh.files("main")[STAGING]
    assert gh.commits[reverted.sha or ""]["message"].endswith("Glue-Decision-Id: d-rb")
    assert not repo.revert(b.sha or "", "again", {}).changed
    assert repo.get_commit("f" * 40) is None


def test_reachability_and_commits_between_for_feedback_authenticity(gh: FakeGitHub, repo: GitHubRepo) -> None:
    seed = gh.refs["main"]
    a = repo.commit_file(STAGING, bump("1", "2"), "to 2", {})
    b = repo.commit_file(STAGING, bump("2", "3"), "to 3", {})
    pr = repo.open_pull_request({STAGING: bump("3", "4")}, "mlops-glue/x/staging/v4", "to 4", "body", {})
    assert pr is not None
    on_branch = gh.refs["mlops-glue/x/staging/v4"]

    assert repo.is_ancestor(seed) and repo.is_ancestor(b.sha or "")
    assert not repo.is_ancestor(on_branch)  # a pull request's commit is not deployed from main
    assert not repo.is_ancestor("")
    assert [c.sha for c in repo.commits_between(seed, b.sha or "")] == [a.sha, b.sha]
    assert repo.commits_between(b.sha or "", b.sha or "") == []


def test_an_error_while_paging_through_history_is_a_gitops_error(
    gh: FakeGitHub, repo: GitHubRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyGithub's lists are lazy: the request happens while iterating, so that is wrapped too."""
    seed = gh.refs["main"]
    b = repo.commit_file(STAGING, bump("1", "2"), "to 2", {})
    real = FakeGitHub.__call__

    def listing_refused(self: FakeGitHub, request: Any) -> Any:
        if request.method == "GET" and request.path == "/repos/o/r/commits":
            from werkzeug import Response

            return Response('{"message": "Not Found"}', 404, content_type="application/json")
        return real(self, request)

    monkeypatch.setattr(FakeGitHub, "__call__", listing_refused)

    for call in (
        lambda: repo.last_commit_touching(STAGING),
        lambda: repo.commits_touching(STAGING, seed),
        lambda: repo.is_ancestor(seed),
        lambda: repo.commits_between(seed, b.sha or ""),
    ):
        with pytest.raises(GitOpsError, match=r"list commits on o/r failed \(404\)"):
            call()
