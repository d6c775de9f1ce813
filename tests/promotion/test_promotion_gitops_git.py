"""The plain-git backend on a real local bare repository."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gitops_fixtures import GitRepoFactory, bare_branches, bare_file, bare_log, git, values_text
from mlops_glue.adapters.gitops import GitOpsConflictError, GitOpsError
from mlops_glue.adapters.gitops_git import GitRepo

STAGING = "models/fraud-detection/values-staging.yaml"


def bump(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(f"version: {old}\n", f"version: {new}\n")


def test_commit_lands_with_trailers_and_repeat_is_a_no_op(
    bare_repo: Path, make_git_repo: GitRepoFactory
) -> None:
    repo = make_git_repo(web_url="https://git.example.com/ml/deploy")
    trailers = {"Glue-Decision-Id": "d-1", "Glue-Model": "fraud-detection", "Glue-Version": "2"}

    first = repo.commit_file(STAGING, bump("1", "2"), "Bump fraud-detection to 2", trailers)
    again = repo.commit_file(STAGING, bump("1", "2"), "Bump fraud-detection to 2", trailers)

    assert first.changed and first.sha
    assert first.url == f"https://git.example.com/ml/deploy/commit/{first.sha}"
    assert not again.changed and again.sha == first.sha
    assert "version: 2\n" in bare_file(bare_repo, STAGING)
    info = repo.get_commit(first.sha)
    assert info is not None and info.trailers == trailers
    assert info.files == (STAGING,)
    assert info.author == "mlops-glue <mlops-glue@users.noreply.github.com>"


def test_rejected_push_is_retried_after_a_concurrent_human_commit(
    bare_repo: Path, make_git_repo: GitRepoFactory, tmp_path: Path
) -> None:
    repo = make_git_repo()
    repo.read(STAGING)  # clone now; a human pushes afterwards, so our first push is rejected
    human = tmp_path / "human"
    git(tmp_path, "clone", "--quiet", str(bare_repo), str(human))
    (human / "README.md").write_text("hello\n")
    git(human, "add", "README.md")
    git(human, "commit", "--quiet", "-m", "Human change")
    git(human, "push", "--quiet", "origin", "main")

    calls: list[str] = []

    def edit(text: str) -> str:
        calls.append(text)
        return bump("1", "3")(text)

    # force the stale-clone path: sync happens inside commit_file, so make the remote move in between
    original_sync = repo._sync
    moved = {"done": False}

    def racing_sync() -> str:
        head = original_sync()
        if not moved["done"]:
            moved["done"] = True
            (human / "OTHER.md").write_text("x\n")
            git(human, "add", "OTHER.md")
            git(human, "commit", "--quiet", "-m", "Another human change")
            git(human, "push", "--quiet", "origin", "main")
        return head

    repo._sync = racing_sync  # type: ignore[method-assign]
    result = repo.commit_file(STAGING, edit, "Bump to 3", {})

    assert result.changed
    assert len(calls) == 2  # re-read and re-applied after the rejected push
    assert bare_log(bare_repo)[:3] == ["Bump to 3", "Another human change", "Human change"]


def test_two_racing_bumps_of_different_models_both_land(
    bare_repo: Path, make_git_repo: GitRepoFactory
) -> None:
    repos = [make_git_repo(), make_git_repo()]
    files = ["models/fraud-detection/values-staging.yaml", "models/churn/values-staging.yaml"]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            repos[i].read(files[i])
            barrier.wait()
            for n in range(2, 5):
                repos[i].commit_file(files[i], bump(str(n - 1), str(n)), f"bump {i} to {n}", {})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    for f in files:
        assert "version: 4\n" in bare_file(bare_repo, f)
    assert len(bare_log(bare_repo)) == 1 + 6


def test_pull_request_branch_reuse_supersede_and_auto_merge(
    bare_repo: Path, make_git_repo: GitRepoFactory
) -> None:
    repo = make_git_repo()
    prod = "models/fraud-detection/values-production.yaml"

    first = repo.open_pull_request(
        {prod: bump("1", "2")}, "glue/fraud-detection/production/v2-aaaa", "t2", "b", {}
    )
    reused = repo.open_pull_request(
        {prod: bump("1", "2")}, "glue/fraud-detection/production/v2-aaaa", "t2", "b", {}
    )
    newer = repo.open_pull_request(
        {prod: bump("1", "3")},
        "glue/fraud-detection/production/v3-bbbb",
        "t3",
        "b",
        {"Glue-Version": "3"},
        supersede_prefix="glue/fraud-detection/production/",
    )
    nothing = repo.open_pull_request(
        {prod: lambda t: t}, "glue/fraud-detection/production/v1-cccc", "t", "b", {}
    )

    assert first is not None and not first.reused
    assert reused is not None and reused.reused
    assert newer is not None and newer.closed_branches == ("glue/fraud-detection/production/v2-aaaa",)
    assert nothing is None
    assert sorted(bare_branches(bare_repo)) == ["glue/fraud-detection/production/v3-bbbb", "main"]
    assert "version: 3\n" in bare_file(bare_repo, prod, "glue/fraud-detection/production/v3-bbbb")
    assert "version: 1\n" in bare_file(bare_repo, prod)  # base untouched without auto-merge

    merged = repo.open_pull_request(
        {prod: bump("1", "3")}, "glue/fraud-detection/production/v3-bbbb", "t3", "b", {}, auto_merge=True
    )
    assert merged is not None and merged.merged_sha
    assert "version: 3\n" in bare_file(bare_repo, prod)


def test_close_pull_requests_deletes_only_the_matching_branches(
    bare_repo: Path, make_git_repo: GitRepoFactory
) -> None:
    repo = make_git_repo()
    prod = "models/fraud-detection/values-production.yaml"
    for branch, new in [
        ("mlops-glue/fraud-detection/production/v12-aaaa", "12"),
        ("mlops-glue/fraud-detection/production/v1-bbbb", "3"),  # v1-: not v12's
        ("mlops-glue/churn/production/v12-cccc", "12"),
    ]:
        assert repo.open_pull_request({prod: bump("1", new)}, branch, "t", "b", {}) is not None

    closed = repo.close_pull_requests("mlops-glue/fraud-detection/production/v12-", "v12 is blocked")
    again = repo.close_pull_requests("mlops-glue/fraud-detection/production/v12-", "v12 is blocked")

    assert closed == ("mlops-glue/fraud-detection/production/v12-aaaa",)
    assert again == ()
    assert sorted(bare_branches(bare_repo)) == [
        "main",
        "mlops-glue/churn/production/v12-cccc",
        "mlops-glue/fraud-detection/production/v1-bbbb",
    ]
    with pytest.raises(GitOpsError, match="empty branch prefix"):
        repo.close_pull_requests("", "everything")


def test_history_queries_and_revert(bare_repo: Path, make_git_repo: GitRepoFactory) -> None:
    repo = make_git_repo()
    seed = git(bare_repo, "rev-parse", "main").strip()
    a = repo.commit_file(STAGING, bump("1", "2"), "to 2", {"Glue-Version": "2"})
    repo.commit_file("models/churn/values-staging.yaml", bump("1", "5"), "churn to 5", {})
    b = repo.commit_file(STAGING, bump("2", "3"), "to 3", {"Glue-Version": "3"})

    last = repo.last_commit_touching(STAGING)
    history = repo.commits_touching(STAGING, seed)
    reverted = repo.revert(b.sha or "", "Revert to 2", {"Glue-Decision-Id": "d-rb"})
    again = repo.revert(b.sha or "", "Revert to 2", {})

    assert last is not None and last.sha == b.sha
    assert [c.sha for c in history] == [a.sha, b.sha]
    assert reverted.changed and "version: 2\n" in bare_file(bare_repo, STAGING)
    assert not again.changed
    info = repo.get_commit(reverted.sha or "")
    assert info is not None and info.trailers == {"Glue-Decision-Id": "d-rb"}
    assert repo.get_commit("0" * 40) is None
    assert repo.get_commit("--all") is None
    repo.commit_file(STAGING, bump("2", "4"), "to 4", {})
    with pytest.raises(GitOpsConflictError, match="does not apply"):
        repo.revert(a.sha or "", "Revert to 1", {})  # the same line changed since: does not apply
    assert "version: 4\n" in repo.read(STAGING)  # the failed revert left nothing behind


@pytest.mark.parametrize("path", ["../outside.yaml", "/etc/passwd", "models/../../x", "-rf"])
def test_paths_that_escape_the_repository_are_refused(make_git_repo: GitRepoFactory, path: str) -> None:
    with pytest.raises(GitOpsError, match="inside the repository"):
        make_git_repo().commit_file(path, lambda t: t + "x", "m", {})


def test_unreachable_remote_names_what_failed(tmp_path: Path) -> None:
    repo = GitRepo(str(tmp_path / "nope.git"))
    with pytest.raises(GitOpsError, match="git clone failed"):
        repo.read(STAGING)
    repo.close()


def test_seeded_values_match_the_documented_template(bare_repo: Path) -> None:
    assert bare_file(bare_repo, STAGING) == values_text("fraud-detection", "staging", "1")


def test_the_token_travels_in_the_environment_never_in_argv(
    bare_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import subprocess

    from mlops_glue.adapters import gitops_git

    seen: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(cmd: list[str], **kwargs: Any) -> Any:
        seen.append((list(cmd), dict(kwargs.get("env") or {})))
        return real_run(cmd, **kwargs)

    monkeypatch.setattr(gitops_git.subprocess, "run", spy)
    (tmp_path / "clone").mkdir()
    repo = GitRepo(str(bare_repo), token="ghs_s3cr3t", workdir=tmp_path / "clone")
    assert "version" in repo.read("models/fraud-detection/values-staging.yaml")
    assert seen, "git was not called"
    basic = base64.b64encode(b"x-access-token:ghs_s3cr3t").decode()
    for argv, env in seen:
        assert not any("s3cr3t" in a or basic in a for a in argv)
        assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
        assert env["GIT_CONFIG_VALUE_0"] == f"Authorization: Basic {basic}"
