"""The GitHub GitOps backend through PyGithub (token or GitHub App installation auth).

* A one-file change goes through the contents API with the file's expected blob sha: GitHub answers
  409 (or 422) when the file moved since we read it; we re-read, re-apply the pure edit and retry.
  Writers of different files never conflict (their blob shas do not change). A change of several files
  is one commit through the git data API (a tree on the head's, a commit, a non-forced ref update that
  GitHub refuses with 422 when the branch moved: re-read, re-apply, retry).
* Pull requests: one branch per change (its name hashes the change), an open PR of that branch is
  reused, older open PRs of the same model and environment (same branch prefix) are closed with a
  comment pointing to the new one, and auto-merge is enabled through PyGithub when asked.
* Reverts use the git data API: a new tree with the changed files restored from the parent, a commit
  on the branch head, and a non-forced ref update (422 when the branch moved: retried).
"""

from __future__ import annotations

import base64
import logging
from itertools import islice
from typing import Any

from mlops_glue.adapters.gitops import (
    Edit,
    Edits,
    GitOpsConflictError,
    GitOpsError,
    GitOpsFileError,
    GitOpsRepo,
    PullRequest,
    WriteResult,
    parse_trailers,
    with_trailers,
)
from mlops_glue.adapters.gitops_git import check_repo_path
from mlops_glue.records import CommitInfo

logger = logging.getLogger(__name__)

_CONFLICT = (409, 422)
_MAX_HISTORY = 300  # commits scanned for history queries


def token_auth(token: str) -> Any:
    """PyGithub auth from a personal access / fine-grained token."""
    from github import Auth

    return Auth.Token(token)


def app_auth(app_id: int, private_key: str, installation_id: int) -> Any:
    """PyGithub auth as a GitHub App installation (tokens minted and refreshed by PyGithub)."""
    from github import Auth

    return Auth.AppAuth(app_id, private_key).get_installation_auth(installation_id)


def _status(exc: Exception) -> int | None:
    return getattr(exc, "status", None)


class GitHubRepo(GitOpsRepo):
    """A GitOps repository on GitHub (or GitHub Enterprise with ``base_url``). Client built lazily."""

    def __init__(
        self,
        full_name: str,
        branch: str = "main",
        *,
        auth: Any | None = None,
        base_url: str | None = None,
        author_name: str = "mlops-glue",
        author_email: str = "mlops-glue@users.noreply.github.com",
        max_attempts: int = 5,
        merge_method: str = "SQUASH",
        client: Any | None = None,
        throttle: bool = True,
    ) -> None:
        self.full_name = full_name
        self.branch = branch
        self.author_name = author_name
        self.author_email = author_email
        self.max_attempts = max_attempts
        self.merge_method = merge_method
        self._auth = auth
        self._base_url = base_url
        self._client = client
        self._throttle = throttle  # PyGithub's pacing (0.25 s per request, 1 s per write), as GitHub asks
        self._repo: Any | None = None

    # ------------------------------------------------------------------ plumbing
    @property
    def repo(self) -> Any:
        if self._repo is None:
            if self._client is None:
                from github import Github
                from github.GithubRetry import GithubRetry

                kwargs: dict[str, Any] = {"auth": self._auth, "retry": GithubRetry(total=3), "timeout": 15}
                if self._base_url:
                    kwargs["base_url"] = self._base_url.rstrip("/")
                if not self._throttle:
                    kwargs.update(seconds_between_requests=None, seconds_between_writes=None)
                self._client = Github(**kwargs)
            self._repo = self._wrap("get repository", lambda: self._client.get_repo(self.full_name))
        return self._repo

    def _wrap(self, what: str, fn: Any) -> Any:
        from github import GithubException

        try:
            return fn()
        except GithubException as exc:
            raise GitOpsError(
                f"GitHub {what} on {self.full_name} failed ({exc.status}): {_message(exc)}"
            ) from exc
        except OSError as exc:
            raise GitOpsError(f"GitHub {what} on {self.full_name} failed: {exc}") from exc

    def _author(self) -> Any:
        from github import InputGitAuthor

        return InputGitAuthor(self.author_name, self.author_email)

    def _file(self, path: str, ref: str) -> tuple[str, str] | None:
        """(text, blob sha) of ``path`` at ``ref``, or None when missing."""
        from github import GithubException

        try:
            content = self.repo.get_contents(check_repo_path(path), ref=ref)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise GitOpsError(f"GitHub read {path}@{ref} failed ({exc.status}): {_message(exc)}") from exc
        if isinstance(content, list):
            raise GitOpsFileError(f"{path} is a directory")
        if getattr(content, "type", "file") != "file":
            raise GitOpsFileError(f"{path} is a {content.type}: mlops-glue edits regular files only")
        try:
            return content.decoded_content.decode("utf-8"), content.sha
        except UnicodeDecodeError as exc:
            raise GitOpsFileError(f"{path} is not UTF-8 text") from exc

    def _head(self, branch: str) -> str | None:
        from github import GithubException

        try:
            return str(self.repo.get_branch(branch).commit.sha)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise GitOpsError(f"GitHub read branch {branch} failed ({exc.status}): {_message(exc)}") from exc

    def _put(self, path: str, edit: Edit, message: str, branch: str) -> WriteResult:
        """Edit ``path`` on ``branch`` through the contents API; retry on a stale sha (409/422)."""
        from github import GithubException

        for attempt in range(1, self.max_attempts + 1):
            current = self._file(path, branch)
            if current is None:
                raise GitOpsFileError(f"{path} does not exist on {branch}")
            text, sha = current
            new = edit(text)
            if new == text:
                head = self._head(branch)
                return WriteResult(False, head, self._commit_url(head))
            try:
                out = self.repo.update_file(
                    path, message, new.encode("utf-8"), sha, branch=branch, committer=self._author()
                )
            except GithubException as exc:
                if exc.status in _CONFLICT and attempt < self.max_attempts:
                    logger.info("stale sha for %s on %s (attempt %d): re-reading", path, branch, attempt)
                    continue
                if exc.status in _CONFLICT:
                    break
                raise GitOpsError(f"GitHub update {path} failed ({exc.status}): {_message(exc)}") from exc
            commit = out["commit"]
            return WriteResult(
                True, commit.sha, getattr(commit, "html_url", None) or self._commit_url(commit.sha)
            )
        raise GitOpsConflictError(
            f"{path} on {branch} kept changing: not written after {self.max_attempts} attempts"
        )

    def _write(self, edits: Edits, message: str, branch: str) -> WriteResult:
        """Apply ``edits`` on ``branch`` as one commit (contents API for one file, else the data API)."""
        if len(edits) == 1:
            ((path, edit),) = edits.items()
            return self._put(path, edit, message, branch)
        return self._put_tree(edits, message, branch)

    def _put_tree(self, edits: Edits, message: str, branch: str) -> WriteResult:
        """Several files in one commit; a moved branch (422 on the non-forced ref update) is retried."""
        from github import GithubException, InputGitTreeElement

        for _ in range(self.max_attempts):
            head = self._head(branch)
            if head is None:
                raise GitOpsError(f"branch {branch} does not exist")
            elements = []
            for path, edit in edits.items():
                current = self._file(path, head)
                if current is None:
                    raise GitOpsFileError(f"{path} does not exist on {branch}")
                new = edit(current[0])
                if new != current[0]:
                    elements.append(InputGitTreeElement(check_repo_path(path), "100644", "blob", content=new))
            if not elements:
                return WriteResult(False, head, self._commit_url(head))
            commit = self._commit_tree(elements, head, message)
            try:
                self.repo.get_git_ref(f"heads/{branch}").edit(commit.sha, force=False)
            except GithubException as exc:
                if exc.status in _CONFLICT:
                    logger.info("%s moved while committing %d files: re-reading", branch, len(elements))
                    continue
                raise GitOpsError(f"GitHub update {branch} failed ({exc.status}): {_message(exc)}") from exc
            return WriteResult(True, commit.sha, self._commit_url(commit.sha))
        raise GitOpsConflictError(f"{branch} kept moving: not written after {self.max_attempts} attempts")

    def _commit_url(self, sha: str | None) -> str | None:
        return f"https://github.com/{self.full_name}/commit/{sha}" if sha and not self._base_url else None

    # ------------------------------------------------------------------ GitOpsRepo
    def read(self, path: str) -> str:
        got = self._file(path, self.branch)
        if got is None:
            raise GitOpsFileError(f"{path} does not exist on {self.branch}")
        return got[0]

    def commit_files(self, edits: Edits, message: str, trailers: dict[str, str]) -> WriteResult:
        return self._write(edits, with_trailers(message, trailers), self.branch)

    def open_pull_request(
        self,
        edits: Edits,
        branch: str,
        title: str,
        body: str,
        trailers: dict[str, str],
        supersede_prefix: str | None = None,
        auto_merge: bool = False,
    ) -> PullRequest | None:
        from github import GithubException

        changes = False
        for path, edit in edits.items():
            base = self._file(check_repo_path(path), self.branch)
            if base is None:
                raise GitOpsFileError(f"{path} does not exist on {self.branch}")
            changes = changes or edit(base[0]) != base[0]
        if not changes:
            return None  # the base branch already holds the change
        owner = self.full_name.split("/")[0]
        existing = self._wrap(
            "list pull requests",
            lambda: list(self.repo.get_pulls(state="open", head=f"{owner}:{branch}", base=self.branch)),
        )
        if existing:
            pr, reused = existing[0], True
        else:
            reused = False
            if self._head(branch) is None:
                head = self._head(self.branch)
                try:
                    self.repo.create_git_ref(f"refs/heads/{branch}", head)
                except GithubException as exc:
                    if exc.status != 422:  # 422: created concurrently by a retry of the same change
                        raise GitOpsError(f"GitHub create branch {branch} failed ({exc.status})") from exc
            self._write(edits, with_trailers(title, trailers), branch)
            try:
                pr = self.repo.create_pull(title=title, body=body, head=branch, base=self.branch)
            except GithubException as exc:
                found = list(self.repo.get_pulls(state="open", head=f"{owner}:{branch}", base=self.branch))
                if exc.status != 422 or not found:
                    raise GitOpsError(
                        f"GitHub open pull request failed ({exc.status}): {_message(exc)}"
                    ) from exc
                pr, reused = found[0], True
        closed = self._supersede(pr, branch, supersede_prefix) if supersede_prefix else ()
        if auto_merge:
            try:
                pr.enable_automerge(merge_method=self.merge_method)
            except GithubException as exc:  # auto-merge disabled on the repo: the PR still stands
                logger.warning("auto-merge not enabled on #%s: %s", pr.number, _message(exc))
        return PullRequest(pr.number, pr.html_url, branch, reused=reused, closed=closed)

    def _supersede(self, new: Any, branch: str, prefix: str) -> tuple[int, ...]:
        comment = f"Superseded by #{new.number} ({new.html_url})."
        return tuple(old.number for old in self._close_open(prefix, comment, keep=branch))

    def close_pull_requests(self, prefix: str, comment: str) -> tuple[str, ...]:
        if not prefix:
            raise GitOpsError("refusing to close pull requests with an empty branch prefix")
        return tuple(str(pr.html_url) for pr in self._close_open(prefix, comment))

    def _close_open(self, prefix: str, comment: str, keep: str | None = None) -> list[Any]:
        """Comment on, then close, the open PRs into the base branch whose head starts with ``prefix``."""
        closed = []
        for old in self._wrap(
            "list pull requests", lambda: list(self.repo.get_pulls(state="open", base=self.branch))
        ):
            ref = old.head.ref
            if ref == keep or not ref.startswith(prefix):
                continue
            self._wrap("comment", lambda o=old: o.create_issue_comment(comment))
            self._wrap("close pull request", lambda o=old: o.edit(state="closed"))
            closed.append(old)
        return closed

    def get_commit(self, revision: str) -> CommitInfo | None:
        from github import GithubException

        try:
            c = self.repo.get_commit(revision)
            return self._info(c)  # reads the (paginated) file list: inside the try
        except GithubException as exc:
            if exc.status in (404, 422):
                return None
            raise GitOpsError(f"GitHub get commit {revision} failed ({exc.status})") from exc
        except OSError as exc:
            raise GitOpsError(f"GitHub get commit {revision} on {self.full_name} failed: {exc}") from exc

    def _commits(self, limit: int = _MAX_HISTORY + 1, **query: Any) -> list[Any]:
        """The first ``limit`` commits of a history query, read inside :meth:`_wrap` (PyGithub's lists
        are lazy: iterating them later would let its errors through unwrapped)."""
        found: list[Any] = self._wrap(
            "list commits", lambda: list(islice(self.repo.get_commits(**query), limit))
        )
        return found

    def _full(self, sha: str) -> CommitInfo:
        """One listed commit with its files and message (a commit we just listed: missing is an error)."""
        info = self.get_commit(sha)
        if info is None:
            raise GitOpsError(f"commit {sha} vanished from {self.full_name}")
        return info

    def _info(self, c: Any) -> CommitInfo:
        message = c.commit.message
        author = f"{c.commit.author.name} <{c.commit.author.email}>"
        files = tuple(f.filename for f in c.files)
        return CommitInfo(c.sha, message, author, files, parse_trailers(message), c.html_url)

    def last_commit_touching(self, path: str) -> CommitInfo | None:
        commits = self._commits(1, sha=self.branch, path=check_repo_path(path))
        return self._full(commits[0].sha) if commits else None

    def commits_touching(self, path: str, since: str) -> list[CommitInfo]:
        commits = self._commits(sha=self.branch, path=check_repo_path(path))
        newer = []
        for i, c in enumerate(commits):
            if c.sha.startswith(since) or i >= _MAX_HISTORY:
                break
            newer.append(c)
        else:
            if self.get_commit(since) is None:
                raise GitOpsError(f"commit {since} is not in {self.full_name}")
        return [self._full(c.sha) for c in reversed(newer)]

    def is_ancestor(self, sha: str) -> bool:
        """Walks the branch's history (newest first, at most ``_MAX_HISTORY`` commits) for ``sha``."""
        if not sha:
            return False
        commits = self._commits(sha=self.branch)
        for i, c in enumerate(commits):
            if i >= _MAX_HISTORY:
                return False
            if c.sha.startswith(sha) or sha.startswith(c.sha):
                return True
        return False

    def commits_between(self, older: str, newer: str) -> list[CommitInfo]:
        commits = self._commits(sha=newer)
        found = []
        for i, c in enumerate(commits):
            if c.sha.startswith(older) or i >= _MAX_HISTORY:
                break
            found.append(c)
        return [self._full(c.sha) for c in reversed(found)]

    def _commit_tree(self, elements: list[Any], head: str, message: str) -> Any:
        """A commit on ``head`` whose tree is ``head``'s with ``elements`` applied (git data API)."""
        head_commit = self._wrap("get commit", lambda: self.repo.get_git_commit(head))
        tree = self._wrap("create tree", lambda: self.repo.create_git_tree(elements, head_commit.tree))
        author = self._author()
        return self._wrap(
            "create commit",
            lambda: self.repo.create_git_commit(
                message, tree, [head_commit], author=author, committer=author
            ),
        )

    def revert(self, sha: str, message: str, trailers: dict[str, str]) -> WriteResult:
        from github import GithubException, InputGitTreeElement

        target = self.get_commit(sha)
        if target is None:
            raise GitOpsError(f"commit {sha} is not in {self.full_name}")
        commit = self._wrap("get commit", lambda: self.repo.get_commit(target.sha))
        parents = self._wrap("get commit parents", lambda: list(commit.parents))
        if len(parents) != 1:
            raise GitOpsConflictError(f"{sha[:12]} is a merge or root commit: revert it by hand")
        parent = parents[0].sha
        for _ in range(self.max_attempts):
            head = self._head(self.branch)
            elements = []
            for path in target.files:
                at_head, at_sha, at_parent = (
                    self._file(path, head or ""),
                    self._file(path, sha),
                    self._file(path, parent),
                )
                wanted = at_parent[0] if at_parent else None
                now = at_head[0] if at_head else None
                if now == wanted:
                    continue  # already restored
                if now != (at_sha[0] if at_sha else None):
                    raise GitOpsConflictError(f"revert of {sha[:12]} does not apply: {path} changed since")
                if wanted is None:
                    elements.append(InputGitTreeElement(path, "100644", "blob", sha=None))
                else:
                    elements.append(InputGitTreeElement(path, "100644", "blob", content=wanted))
            if not elements:
                return WriteResult(False, head, self._commit_url(head))
            new = self._commit_tree(elements, head or "", with_trailers(message, trailers))
            try:
                self.repo.get_git_ref(f"heads/{self.branch}").edit(new.sha, force=False)
            except GithubException as exc:
                if exc.status in _CONFLICT:
                    continue  # the branch moved: rebuild on the new head
                raise GitOpsError(f"GitHub update {self.branch} failed ({exc.status})") from exc
            except OSError as exc:
                raise GitOpsError(f"GitHub update {self.branch} failed: {exc}") from exc
            return WriteResult(True, new.sha, self._commit_url(new.sha))
        raise GitOpsConflictError(f"{self.branch} kept moving: revert of {sha[:12]} not written")


def _message(exc: Any) -> str:
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:300]
    return str(exc)[:300]


def b64(text: str) -> str:
    """Base64 of UTF-8 text, as the contents API carries it."""
    return base64.b64encode(text.encode("utf-8")).decode()
