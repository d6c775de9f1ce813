"""The plain-git backend (dulwich) against git's own smart-HTTP server, with ``git`` off ``PATH``.

Hostile cases first: a wrong token, a server that is down, slow or answers nonsense, a push refused
in the per-ref status, a library that raises on a rejected ref — then the happy paths.
"""

from __future__ import annotations

import base64
import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gitops_fixtures import TOKEN, GitRepoFactory, bare_branches, bare_file, bare_log, git
from mlops_glue.adapters.gitops import GitOpsAuthError, GitOpsConflictError, GitOpsError
from mlops_glue.adapters.gitops_git import GitRepo

from glue_local.git_http import GitHttpServer, deny_non_fast_forwards

STAGING = "models/fraud-detection/values-staging.yaml"
PRODUCTION = "models/fraud-detection/values-production.yaml"
CHURN = "models/churn/values-staging.yaml"
BASIC = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()


@pytest.fixture
def gitops_backend() -> str:
    return "git"  # this module tests the plain-git backend only


def bump(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(f"version: {old}\n", f"version: {new}\n")


def human_push(bare: Path, tmp_path: Path, name: str, message: str) -> str:
    """Someone else's commit pushed straight to the bare repository; returns its sha."""
    work = tmp_path / f"human-{len(list(tmp_path.glob('human-*')))}"
    git(tmp_path, "clone", "--quiet", str(bare), str(work))
    (work / name).write_text(f"{message}\n")
    git(work, "add", name)
    git(work, "commit", "--quiet", "-m", message)
    git(work, "push", "--quiet", "origin", "main")
    return git(work, "rev-parse", "HEAD").strip()


def every_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of every library (urllib3, dulwich, ours) at DEBUG."""
    with caplog.at_level(logging.DEBUG):
        yield caplog


# ------------------------------------------------------------------------------ hostile: credentials


def test_a_wrong_token_is_a_clear_auth_error_that_never_shows_the_token(
    make_git_repo: GitRepoFactory, git_server: GitHttpServer, all_logs: pytest.LogCaptureFixture
) -> None:
    wrong = "glpat-WrongButAlsoSecret"
    repo = make_git_repo(token=wrong)

    with pytest.raises(GitOpsAuthError, match=r"refused the credentials \(HTTP 401\)") as caught:
        repo.commit_file(STAGING, bump("1", "2"), "Bump", {})

    assert isinstance(caught.value, GitOpsError)  # retried as an outage by the flows, not a bad event
    text = every_text(caught.value) + all_logs.text
    assert wrong not in text and base64.b64encode(f"x-access-token:{wrong}".encode()).decode() not in text
    assert git_server.requests[0][2] == 401, git_server.requests


def test_the_token_is_sent_as_basic_auth_and_appears_in_no_log_url_or_error(
    make_git_repo: GitRepoFactory,
    git_server: GitHttpServer,
    bare_repo: Path,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    repo = make_git_repo()
    texts: list[str] = []
    repo.commit_files({STAGING: bump("1", "2"), CHURN: bump("1", "2")}, "Bump two", {"Glue-Version": "2"})
    repo.revert(repo.last_commit_touching(STAGING).sha or "", "Revert", {})  # type: ignore[union-attr]
    for mode in ("down", "nonsense"):
        git_server.mode = mode  # type: ignore[assignment]
        with pytest.raises(GitOpsError) as caught:
            make_git_repo().read(STAGING)
        texts.append(every_text(caught.value))
    git_server.mode = "ok"

    assert set(git_server.auth_headers) == {f"Basic {BASIC}"}  # a header, never the URL
    assert all(TOKEN not in path for _m, path, _s in git_server.requests)
    everything = "\n".join(texts) + all_logs.text + repr(repo.__dict__.get("remote"))
    assert TOKEN not in everything and BASIC not in everything


def test_a_remote_url_with_credentials_in_it_is_refused() -> None:
    with pytest.raises(GitOpsError, match="credentials in it") as caught:
        GitRepo(f"https://oauth2:{TOKEN}@gitlab.example.com/ml/deploy.git")
    assert TOKEN not in every_text(caught.value)


# ------------------------------------------------------------------------------ hostile: the server


@pytest.mark.parametrize(
    ("mode", "message"),
    [("down", "unexpected http resp 503"), ("nonsense", "not git's smart protocol|not a git repository")],
)
def test_a_server_down_or_answering_nonsense_is_a_gitops_error(
    make_git_repo: GitRepoFactory, git_server: GitHttpServer, mode: str, message: str
) -> None:
    git_server.mode = mode  # type: ignore[assignment]
    with pytest.raises(GitOpsError, match=message) as caught:
        make_git_repo().commit_file(STAGING, bump("1", "2"), "Bump", {})
    assert not isinstance(caught.value, GitOpsAuthError)


def test_a_slow_server_times_out_into_a_gitops_error(
    make_git_repo: GitRepoFactory, git_server: GitHttpServer, bare_repo: Path
) -> None:
    git_server.mode, git_server.slow_seconds = "slow", 3.0
    before = bare_log(bare_repo)
    with pytest.raises(GitOpsError, match="failed"):
        make_git_repo(timeout=0.5).commit_file(STAGING, bump("1", "2"), "Bump", {})
    assert bare_log(bare_repo) == before


def test_nothing_listening_is_a_gitops_error() -> None:
    from glue_local.servers import free_port

    repo = GitRepo(f"http://127.0.0.1:{free_port()}/gitops.git", token=TOKEN, timeout=2)
    with pytest.raises(GitOpsError, match=r"git fetch on http://127\.0\.0\.1") as caught:
        repo.read(STAGING)
    assert TOKEN not in every_text(caught.value)


def test_a_missing_branch_or_file_is_named_and_nothing_is_written(
    make_git_repo: GitRepoFactory, bare_repo: Path
) -> None:
    before = bare_log(bare_repo)
    with pytest.raises(GitOpsError, match="branch release does not exist"):
        make_git_repo(branch="release").read(STAGING)
    with pytest.raises(GitOpsError, match=r"models/nope\.yaml does not exist on main"):
        make_git_repo().commit_files({STAGING: bump("1", "2"), "models/nope.yaml": bump("1", "2")}, "m", {})

    def refuse(text: str) -> str:
        raise GitOpsError("refusing the edit: anchored")

    with pytest.raises(GitOpsError, match="anchored"):
        make_git_repo().commit_files({STAGING: bump("1", "2"), CHURN: refuse}, "m", {})
    assert bare_log(bare_repo) == before


# ------------------------------------------------------------------------------ hostile: refused pushes


def test_a_push_from_elsewhere_before_ours_is_caught_by_the_expected_head_and_retried(
    make_git_repo: GitRepoFactory, bare_repo: Path, tmp_path: Path
) -> None:
    """The server accepts non-fast-forward updates: only our expected-head check keeps the human commit."""
    slept: list[float] = []
    repo = make_git_repo(sleep=slept.append, rng=lambda: 0.5)
    calls: list[str] = []

    def edit(text: str) -> str:
        calls.append(text)
        if len(calls) == 1:  # someone pushes between our fetch and our push
            human_push(bare_repo, tmp_path, "README.md", "Human change")
        return bump("1", "3")(text)

    result = repo.commit_file(STAGING, edit, "Bump to 3", {})

    assert result.changed and len(calls) == 2  # fetched again, the edit re-applied
    assert bare_log(bare_repo)[:2] == ["Bump to 3", "Human change"]
    assert slept == [0.25]  # one backoff: 0.25 s x (0.5 + jitter 0.5)


def test_a_push_rejected_in_the_per_ref_status_by_a_server_denying_non_fast_forwards_is_retried(
    make_git_repo: GitRepoFactory, git_server: GitHttpServer, bare_repo: Path, tmp_path: Path
) -> None:
    """A push lands between the ref advertisement and our update: git reports ``ng ... failed to update ref``."""
    deny_non_fast_forwards(bare_repo)
    repo = make_git_repo()
    statuses: list[Any] = []
    real = repo._push

    def spy(updates: dict[str, tuple[str | None, str | None]]) -> dict[str, str | None]:
        out = real(updates)
        statuses.append(out)
        return out

    repo._push = spy  # type: ignore[method-assign]
    git_server.before_receive_pack = lambda: human_push(bare_repo, tmp_path, "OTHER.md", "Racing human")

    result = repo.commit_file(STAGING, bump("1", "4"), "Bump to 4", {"Glue-Version": "4"})

    assert statuses[0]["main"] and "failed to update ref" in statuses[0]["main"]
    assert statuses[1] == {"main": None}
    assert result.changed and bare_log(bare_repo)[:2] == ["Bump to 4", "Racing human"]
    assert "version: 4\n" in bare_file(bare_repo, STAGING)


def test_a_library_that_raises_on_a_rejected_ref_is_retried_too(make_git_repo: GitRepoFactory) -> None:
    repo = make_git_repo()
    repo.read(STAGING)
    client, _path = repo._transport()
    real = client.send_pack

    class UpdateRefsError(Exception):
        def __init__(self) -> None:
            super().__init__("refs/heads/main: non-fast-forward")
            self.ref_status = {b"refs/heads/main": "non-fast-forward"}

    calls = []

    def once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise UpdateRefsError()
        return real(*args, **kwargs)

    client.send_pack = once
    assert repo.commit_file(STAGING, bump("1", "2"), "Bump", {}).changed
    assert len(calls) == 2


def test_a_hook_that_declines_is_an_error_not_a_retry(make_git_repo: GitRepoFactory, bare_repo: Path) -> None:
    hook = bare_repo / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: merge requests only' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(GitOpsError, match="refused the update of main") as caught:
        make_git_repo().commit_file(STAGING, bump("1", "2"), "Bump", {})
    assert not isinstance(caught.value, GitOpsConflictError)


def test_a_branch_that_never_stops_moving_gives_up_with_a_conflict(
    make_git_repo: GitRepoFactory, git_server: GitHttpServer, bare_repo: Path, tmp_path: Path
) -> None:
    repo = make_git_repo(max_attempts=3)

    def edit(text: str) -> str:
        human_push(bare_repo, tmp_path, "README.md", f"human {len(list(tmp_path.glob('human-*')))}")
        return bump("1", "2")(text)

    with pytest.raises(GitOpsConflictError, match="kept moving"):
        repo.commit_file(STAGING, edit, "Bump", {})
    assert "version: 1\n" in bare_file(bare_repo, STAGING)


# ------------------------------------------------------------------------------ the happy paths


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
    assert git(bare_repo, "rev-parse", "main").strip() == first.sha
    info = make_git_repo().get_commit(first.sha)
    assert info is not None and info.trailers == trailers
    assert info.files == (STAGING,)
    assert info.author == "mlops-glue <mlops-glue@users.noreply.github.com>"
    assert git(bare_repo, "log", "-1", "--format=%an <%ae>|%s", "main").strip() == (
        "mlops-glue <mlops-glue@users.noreply.github.com>|Bump fraud-detection to 2"
    )


def test_two_files_land_in_one_commit_and_in_one_change_branch(
    bare_repo: Path, make_git_repo: GitRepoFactory
) -> None:
    repo = make_git_repo()
    result = repo.commit_files(
        {STAGING: bump("1", "5"), CHURN: bump("1", "6")}, "Two targets", {"Glue-Version": "5"}
    )
    pr = repo.open_pull_request(
        {PRODUCTION: bump("1", "5"), "models/churn/values-production.yaml": bump("1", "6")},
        "glue/two/production/v5-aaaa",
        "Two targets to production",
        "body",
        {},
    )

    info = repo.get_commit(result.sha or "")
    assert info is not None and info.files == (CHURN, STAGING)
    assert bare_log(bare_repo)[:2] == ["Two targets", "Seed the GitOps repository"]
    assert pr is not None
    changed = git(bare_repo, "diff", "--name-only", "main", pr.branch).split()
    assert changed == ["models/churn/values-production.yaml", PRODUCTION]
    assert len(git(bare_repo, "rev-list", f"main..{pr.branch}").split()) == 1


def test_the_first_fetch_is_shallow_and_history_deepens_only_when_asked(
    bare_repo: Path, make_git_repo: GitRepoFactory
) -> None:
    writer = make_git_repo()
    seed = git(bare_repo, "rev-parse", "main").strip()
    shas = [writer.commit_file(STAGING, bump(str(n - 1), str(n)), f"to {n}", {}).sha for n in range(2, 6)]

    reader = make_git_repo()
    assert "version: 5\n" in reader.read(STAGING)
    assert reader.shallow == {shas[-1].encode()}  # type: ignore[union-attr]
    assert seed.encode() not in reader.local.object_store

    history = reader.commits_touching(STAGING, seed)  # needs the history: deepened
    assert [c.sha for c in history] == shas
    assert reader.shallow == set()  # all 5 commits < the first deepening step (50)
    last = make_git_repo().last_commit_touching(STAGING)
    assert last is not None and last.sha == shas[-1]


def test_rejected_push_is_retried_after_a_concurrent_human_commit_through_a_stale_copy(
    bare_repo: Path, make_git_repo: GitRepoFactory, tmp_path: Path
) -> None:
    repo = make_git_repo()
    repo.read(STAGING)  # fetched now; humans push afterwards
    human_push(bare_repo, tmp_path, "README.md", "Human change")
    human_push(bare_repo, tmp_path, "OTHER.md", "Another human change")

    result = repo.commit_file(STAGING, bump("1", "3"), "Bump to 3", {})

    assert result.changed
    assert bare_log(bare_repo)[:3] == ["Bump to 3", "Another human change", "Human change"]


def test_two_racing_bumps_of_different_models_both_land(
    bare_repo: Path, make_git_repo: GitRepoFactory
) -> None:
    repos = [make_git_repo(), make_git_repo()]
    files = [STAGING, CHURN]
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

    first = repo.open_pull_request(
        {PRODUCTION: bump("1", "2")}, "glue/fraud-detection/production/v2-aaaa", "t2", "b", {}
    )
    reused = repo.open_pull_request(
        {PRODUCTION: bump("1", "2")}, "glue/fraud-detection/production/v2-aaaa", "t2", "b", {}
    )
    newer = repo.open_pull_request(
        {PRODUCTION: bump("1", "3")},
        "glue/fraud-detection/production/v3-bbbb",
        "t3",
        "b",
        {"Glue-Version": "3"},
        supersede_prefix="glue/fraud-detection/production/",
    )
    nothing = repo.open_pull_request(
        {PRODUCTION: lambda t: t}, "glue/fraud-detection/production/v1-cccc", "t", "b", {}
    )

    assert first is not None and not first.reused
    assert reused is not None and reused.reused
    assert newer is not None and newer.closed_branches == ("glue/fraud-detection/production/v2-aaaa",)
    assert nothing is None
    assert sorted(bare_branches(bare_repo)) == ["glue/fraud-detection/production/v3-bbbb", "main"]
    assert "version: 3\n" in bare_file(bare_repo, PRODUCTION, "glue/fraud-detection/production/v3-bbbb")
    assert "version: 1\n" in bare_file(bare_repo, PRODUCTION)  # base untouched without auto-merge

    merged = repo.open_pull_request(
        {PRODUCTION: bump("1", "3")},
        "glue/fraud-detection/production/v3-bbbb",
        "t3",
        "b",
        {},
        auto_merge=True,
    )
    assert merged is not None and merged.merged_sha
    assert "version: 3\n" in bare_file(bare_repo, PRODUCTION)
    with pytest.raises(GitOpsError, match="invalid pull-request branch name"):
        repo.open_pull_request({PRODUCTION: bump("1", "4")}, "bad..name", "t", "b", {})


def test_close_pull_requests_deletes_only_the_matching_branches(
    bare_repo: Path, make_git_repo: GitRepoFactory
) -> None:
    repo = make_git_repo()
    for branch, new in [
        ("mlops-glue/fraud-detection/production/v12-aaaa", "12"),
        ("mlops-glue/fraud-detection/production/v1-bbbb", "3"),  # v1-: not v12's
        ("mlops-glue/churn/production/v12-cccc", "12"),
    ]:
        assert repo.open_pull_request({PRODUCTION: bump("1", new)}, branch, "t", "b", {}) is not None

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
    repo.commit_file(CHURN, bump("1", "5"), "churn to 5", {})
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
    assert repo.get_commit((a.sha or "")[:10]) is not None  # abbreviated shas resolve
    repo.commit_file(STAGING, bump("2", "4"), "to 4", {})
    with pytest.raises(GitOpsConflictError, match="does not apply"):
        repo.revert(a.sha or "", "Revert to 1", {})  # the same line changed since: does not apply
    assert "version: 4\n" in repo.read(STAGING)  # the failed revert left nothing behind
    with pytest.raises(GitOpsError, match="not in main"):
        repo.commits_touching(STAGING, "f" * 40)


def test_a_revert_keeps_a_later_human_edit_elsewhere_in_the_same_file(
    bare_repo: Path, make_git_repo: GitRepoFactory, tmp_path: Path
) -> None:
    repo = make_git_repo()
    ours = repo.commit_file(STAGING, bump("1", "7"), "to 7", {})
    work = tmp_path / "h"
    git(tmp_path, "clone", "--quiet", str(bare_repo), str(work))
    f = work / STAGING
    f.write_text(f.read_text().replace("port: 8080", "port: 8081"))
    git(work, "commit", "--quiet", "-am", "port 8081")
    git(work, "push", "--quiet", "origin", "main")

    result = make_git_repo().revert(ours.sha or "", "Roll back 7", {})  # a fresh, shallow copy

    text = bare_file(bare_repo, STAGING)
    assert result.changed and "version: 1\n" in text and "port: 8081\n" in text
    assert bare_log(bare_repo)[:3] == ["Roll back 7", "port 8081", "to 7"]


@pytest.mark.parametrize("path", ["../outside.yaml", "/etc/passwd", "models/../../x", "-rf"])
def test_paths_that_escape_the_repository_are_refused(make_git_repo: GitRepoFactory, path: str) -> None:
    with pytest.raises(GitOpsError, match="inside the repository"):
        make_git_repo().commit_file(path, lambda t: t + "x", "m", {})


def test_a_local_path_remote_works_too(bare_repo: Path, no_git_on_path: None) -> None:
    repo = GitRepo(str(bare_repo))
    assert repo.commit_file(STAGING, bump("1", "2"), "Bump over a path", {}).changed
    assert bare_log(bare_repo)[0] == "Bump over a path"
    with pytest.raises(GitOpsError, match="not a git repository"):
        GitRepo(str(bare_repo.parent / "nope.git")).read(STAGING)


def test_a_wrong_token_fails_a_promotion_as_a_retryable_outage_not_a_bad_event(
    make_git_repo: GitRepoFactory, bare_repo: Path
) -> None:
    from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
    from mlops_glue.adapters.slack import MemoryNotifier
    from mlops_glue.adapters.state import MemoryStateStore
    from mlops_glue.config import parse_config
    from mlops_glue.records import Outcome
    from mlops_glue.services.promotion import PromotionUnavailableError, build_promotion_service

    config = parse_config(
        "models:\n  fraud-detection:\n    promote:\n      environments:\n"
        "        staging: {key: model.version, mode: commit}\n"
        "gitops: {backend: git, repo: unused, branch: main}\n"
    )
    registry = MemoryRegistry()
    registry.add(ModelVersion("fraud-detection", "2", "run2"), {})
    slack = MemoryNotifier()
    service = build_promotion_service(
        config, MemoryStateStore(), make_git_repo(token="glpat-Exp1redT0ken"), registry, slack
    )

    with pytest.raises(PromotionUnavailableError) as raised:  # an outage: retried, by its type
        service.promote("fraud-detection", "2", "staging", reason="test", inputs=["t"])

    d = raised.value.decision
    assert d.outcome is Outcome.FAILED and d.evidence["retryable"] is True
    assert any("refused the credentials" in r for r in d.reasons)
    assert bare_log(bare_repo) == ["Seed the GitOps repository"]
    assert "glpat-Exp1redT0ken" not in " ".join(d.reasons) + str(slack.messages) + str(d.evidence)


def test_the_backend_starts_no_process_at_all(
    make_git_repo: GitRepoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stronger than git off PATH: the only processes are the test server's ``git http-backend``."""
    import subprocess

    spawned: list[str] = []
    real = subprocess.Popen.__init__

    def spy(self: subprocess.Popen[bytes], args: Any, *a: Any, **k: Any) -> None:
        spawned.append(str(args[0] if isinstance(args, list | tuple) else args))
        real(self, args, *a, **k)

    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    repo = make_git_repo()
    sha = repo.commit_file(STAGING, bump("1", "2"), "to 2", {}).sha or ""
    repo.open_pull_request({PRODUCTION: bump("1", "2")}, "glue/x/production/v2-aaaa", "t", "b", {})
    repo.revert(sha, "back", {})
    repo.close_pull_requests("glue/x/", "gone")

    assert spawned and all(p.endswith("/git-http-backend") for p in spawned)


def test_file_modes_are_kept_and_links_or_directories_are_refused(
    make_git_repo: GitRepoFactory, bare_repo: Path, tmp_path: Path
) -> None:
    import os

    from mlops_glue.adapters.gitops import GitOpsFileError

    work = tmp_path / "h"
    git(tmp_path, "clone", "--quiet", str(bare_repo), str(work))
    (work / "run.sh").write_text("version: 1\n")
    (work / "run.sh").chmod(0o755)
    os.symlink("values-staging.yaml", work / "models/fraud-detection/values-link.yaml")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "script and link")
    git(work, "push", "--quiet", "origin", "main")
    repo = make_git_repo()

    repo.commit_file("run.sh", bump("1", "2"), "script", {})

    assert git(bare_repo, "ls-tree", "main", "run.sh").split()[0] == "100755"
    for path, why in [
        ("models/fraud-detection/values-link.yaml", "is a symlink"),
        ("models/fraud-detection", "is a directory"),
        ("models/fraud-detection/values-staging.yaml/x", "not a directory"),
    ]:
        with pytest.raises(GitOpsFileError, match=why):
            repo.commit_file(path, bump("1", "2"), "m", {})
    assert bare_log(bare_repo)[0] == "script"
