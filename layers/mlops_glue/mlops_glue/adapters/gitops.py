"""GitOps write-back: one interface, three backends (GitHub via PyGithub, plain git via dulwich, GitLab).

This module holds the interface and the shared value types; the backends live in ``gitops_github.py``,
``gitops_git.py`` (any git host over smart HTTP, pure Python) and ``gitops_gitlab.py`` (dulwich for the
commits, python-gitlab for the merge requests). Every write carries git trailers (``Glue-Decision-Id``, ``Glue-Model``,
``Glue-Version``, ``Glue-Environment``) so a synced revision maps back to its decision.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mlops_glue.errors import RejectedError
from mlops_glue.records import CommitInfo


class GitOpsError(Exception):
    """The GitOps repository could not be read or written (an outage unless a subclass says otherwise)."""


class GitOpsAuthError(GitOpsError):
    """The git host refused our credentials (401): a wrong, expired or under-scoped token; retried as an outage."""


class GitOpsFileError(GitOpsError, RejectedError):
    """A file the change edits is missing, a directory or not UTF-8 text (not an outage: not retried)."""


class GitOpsConflictError(GitOpsError):
    """The branch moved under us (409/422 on a stale sha, or a rejected push) after every retry."""


@dataclass(frozen=True)
class WriteResult:
    changed: bool  # False: the file already held the content (nothing committed)
    sha: str | None = None  # the commit written (or the head when unchanged)
    url: str | None = None


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    branch: str
    reused: bool = False  # an open PR for the same change already existed
    closed: tuple[int, ...] = ()  # older PRs for the same model/environment closed in favour of this one
    closed_branches: tuple[str, ...] = ()  # their branches (plain git has branches, not PR numbers)
    merged_sha: str | None = None  # with auto-merge: the commit on the base branch, once merged


Edit = Callable[[str], str]
"""A pure function from the file's current text to its new text (it may raise to refuse)."""

Edits = Mapping[str, Edit]
"""The edits of one change: repository path -> its edit, committed together (one commit, one PR)."""


class GitOpsRepo(ABC):
    """The operations the flows need from a GitOps repository (on one configured branch)."""

    @abstractmethod
    def read(self, path: str) -> str:
        """The file's text at the branch head (GitOpsError when missing)."""

    @abstractmethod
    def commit_files(self, edits: Edits, message: str, trailers: dict[str, str]) -> WriteResult:
        """Apply every edit of ``edits`` and commit them together to the branch against the expected head.

        Re-reads and retries on a conflict (the edits are applied again to the new head), so concurrent
        writers to different files all land. Nothing is committed when no edit changes anything; a file
        that is missing raises GitOpsError before anything is written.
        """

    def commit_file(self, path: str, edit: Edit, message: str, trailers: dict[str, str]) -> WriteResult:
        """:meth:`commit_files` with one file."""
        return self.commit_files({path: edit}, message, trailers)

    @abstractmethod
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
        """Commit the edits on ``branch`` (from the base head) and open a PR; reuse an open PR of that branch.

        Open PRs whose branch starts with ``supersede_prefix`` (same model and environment, older change)
        are closed with a comment pointing to the new one. None when the edits change nothing.
        """

    @abstractmethod
    def close_pull_requests(self, prefix: str, comment: str) -> tuple[str, ...]:
        """Close every open PR whose branch starts with ``prefix`` (not empty), with ``comment``.

        Returns what was closed (PR URLs on GitHub, branch names in plain git); empty when none was open.
        Idempotent: a second call finds nothing to close.
        """

    @abstractmethod
    def get_commit(self, revision: str) -> CommitInfo | None:
        """A commit of the repository by sha (None when unknown)."""

    @abstractmethod
    def last_commit_touching(self, path: str) -> CommitInfo | None:
        """The newest commit on the branch that changed ``path``."""

    @abstractmethod
    def commits_touching(self, path: str, since: str) -> list[CommitInfo]:
        """Commits on the branch after ``since`` (exclusive) that changed ``path``, oldest first."""

    @abstractmethod
    def is_ancestor(self, sha: str) -> bool:
        """Whether commit ``sha`` is reachable from the branch head (False for an unmerged branch's commit)."""

    @abstractmethod
    def commits_between(self, older: str, newer: str) -> list[CommitInfo]:
        """Commits reachable from ``newer`` but not from ``older`` (any file), oldest first."""

    @abstractmethod
    def revert(self, sha: str, message: str, trailers: dict[str, str]) -> WriteResult:
        """Commit the revert of ``sha`` on the branch (GitOpsConflictError when it does not apply)."""


def parse_trailers(message: str) -> dict[str, str]:
    """The ``Key: value`` trailers of the last paragraph of a commit message."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return {}
    out: dict[str, str] = {}
    for line in paragraphs[-1].splitlines():
        key, sep, value = line.partition(":")
        if not sep or not key or " " in key.strip():
            return {}
        out[key.strip()] = value.strip()
    return out


def with_trailers(message: str, trailers: dict[str, str]) -> str:
    """``message`` followed by a blank line and its trailers."""
    if not trailers:
        return message
    return message.rstrip() + "\n\n" + "\n".join(f"{k}: {v}" for k, v in trailers.items())
