"""The plain-git GitOps backend on dulwich: pure Python, so it runs inside Lambda (no ``git`` binary).

Any host that speaks git's smart HTTP (GitLab, Gitea/Forgejo, Bitbucket, Azure DevOps, CodeCommit, GitHub)
or a local path. The repository lives in memory (``MemoryRepo``): nothing to clean in ``/tmp``.

Each write follows argocd-image-updater's pipeline: shallow fetch of the branch (depth 1; deepened only
when a revert or a history lookup reaches the shallow boundary) → apply the pure edits to the head's tree
→ skip when nothing changed → commit (trailers included) → push against the expected head. A push is
*rejected* when the branch moved: either the advertised head is not the one we built on (checked before
anything is sent — a plain ``send_pack`` would otherwise overwrite it on a server that allows
non-fast-forward updates), or the server reports it in the per-ref status (``ng refs/heads/main failed
to update ref`` when someone pushed between the advertisement and our update), or a library version
raises with a ``ref_status``. Every rejection starts over from the fetch, after a backoff with jitter.

Credentials: the token is sent as HTTP basic auth (dulwich's ``username``/``password``), never in the
URL, argv, a log line or an error message (every message is scrubbed; a URL with credentials in it is
refused). A 401 is :class:`GitOpsAuthError` — an outage to retry and alert on, never a bad event.

Reverts are dulwich's three-way merge (``merge.three_way_merge``, content merges by ``merge3``) of the
reverted commit's parent into the head, with the reverted commit as base — what ``git revert`` does.

Pull requests do not exist in plain git: ``open_pull_request`` pushes the change to its own branch (the
review happens wherever the remote is hosted), deletes superseded branches of the same model and
environment, and with ``auto_merge`` also lands the change on the base branch.
"""

from __future__ import annotations

import base64
import logging
import random
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit

from mlops_glue import targets
from mlops_glue.adapters.gitops import (
    Edits,
    GitOpsAuthError,
    GitOpsConflictError,
    GitOpsError,
    GitOpsFileError,
    GitOpsRepo,
    PullRequest,
    WriteResult,
    parse_trailers,
    with_trailers,
)
from mlops_glue.records import CommitInfo

logger = logging.getLogger(__name__)

_SHA = re.compile(r"^[0-9a-fA-F]{4,40}$")
ZERO_SHA = b"0" * 40
# per-ref statuses (git receive-pack, GitLab, Gitea) that mean "the branch moved": fetch and retry
_MOVED = (
    "non-fast-forward",
    "fetch first",
    "failed to update ref",
    "failed to lock",
    "cannot lock ref",
    "stale info",
    "incorrect old value",
    "reference already exists",
)
_DEEPEN = (50, 1000, 2**31 - 1)  # depths tried in turn when history is needed (the last one is "all")


def check_repo_path(path: str) -> str:
    """Return ``path`` when it is a relative path inside the repository (GitOpsError otherwise)."""
    try:
        return targets.check_repo_path(path)
    except targets.TargetError as exc:
        raise GitOpsError(str(exc)) from None


class _Moved(Exception):
    """The remote branch is not at the head we built on (raised inside ``update_refs``)."""


def _is_moved(status: str) -> bool:
    return any(marker in status for marker in _MOVED)


class GitRepo(GitOpsRepo):
    """A GitOps repository reached with dulwich; one in-memory repository per instance (thread-safe).

    ``token`` (optional) is the HTTPS password, sent with ``username`` (``x-access-token``: GitHub's
    convention; GitLab, Gitea and Bitbucket accept a token with any non-empty user name, see the README).
    ``web_url`` (e.g. ``https://gitlab.com/ml/deploy``) builds links (``/-/commit/`` when
    ``commit_path`` says so). ``sleep``/``rng`` are injectable so tests never wait on the backoff.
    """

    def __init__(
        self,
        remote: str,
        branch: str = "main",
        *,
        author_name: str = "mlops-glue",
        author_email: str = "mlops-glue@users.noreply.github.com",
        token: str | None = None,
        username: str = "x-access-token",
        web_url: str | None = None,
        commit_path: str = "commit",
        max_attempts: int = 8,
        timeout: float = 30.0,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        workdir: object | None = None,
    ) -> None:
        del workdir  # the git-CLI backend's private clone; the repository now lives in memory
        parts = urlsplit(remote)
        if parts.username or parts.password or ("@" in parts.netloc and parts.scheme in ("http", "https")):
            raise GitOpsError("refusing a GitOps remote URL with credentials in it: use gitops.token_secret")
        self.remote = remote
        self.branch = branch
        self.author_name = author_name
        self.author_email = author_email
        self.web_url = web_url.rstrip("/") if web_url else None
        self.commit_path = commit_path
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.backoff = backoff
        self._sleep = sleep
        self._rng = rng
        self._token = token
        self._username = username
        self._lock = threading.RLock()
        self._client: Any | None = None
        self._path: str = ""
        self._local: Any | None = None
        self._depth = 1

    # ------------------------------------------------------------------ plumbing
    @property
    def local(self) -> Any:
        """The in-memory repository holding what was fetched (and our own commits)."""
        if self._local is None:
            from dulwich.repo import MemoryRepo

            self._local = MemoryRepo()
        return self._local

    def close(self) -> None:
        """Drop the fetched objects (the next call fetches again)."""
        with self._lock:
            self._local, self._client, self._depth = None, None, 1

    @property
    def shallow(self) -> set[bytes]:
        """The commits at the shallow boundary (their parents were not fetched)."""
        return set(self.local.get_shallow())

    def _transport(self) -> tuple[Any, str]:
        if self._client is None:
            parts = urlsplit(self.remote.rstrip("/"))
            if parts.scheme in ("http", "https"):
                from dulwich.client import Urllib3HttpGitClient

                # the credentials go to dulwich apart from the URL: it sends them as basic auth, only to
                # this origin (a redirect elsewhere does not carry them)
                self._client = Urllib3HttpGitClient(
                    f"{parts.scheme}://{parts.netloc}",
                    username=self._username if self._token else None,
                    password=self._token,
                    timeout=self.timeout,
                )
                self._path = parts.path
            else:
                from dulwich.client import get_transport_and_path

                self._client, self._path = get_transport_and_path(self.remote)
        return self._client, self._path

    def _where(self) -> str:
        """The remote without anything secret (credentials are refused in the URL anyway)."""
        parts = urlsplit(self.remote)
        if not parts.scheme:
            return self.remote
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"

    def _scrub(self, text: str) -> str:
        """``text`` without the token (raw or inside a basic-auth header)."""
        if self._token:
            basic = base64.b64encode(f"{self._username}:{self._token}".encode()).decode()
            text = text.replace(basic, "***").replace(self._token, "***")
        return text[:500]

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run a dulwich call; its failures become GitOpsError (401: GitOpsAuthError), scrubbed."""
        from dulwich.client import HTTPUnauthorized
        from dulwich.errors import GitProtocolError, HangupException, NotGitRepository

        try:
            return fn()
        except HTTPUnauthorized:
            raise GitOpsAuthError(
                f"git {what} on {self._where()}: the server refused the credentials (HTTP 401); the token is "
                "wrong, expired or lacks access to the repository"
            ) from None
        except NotGitRepository:
            raise GitOpsError(
                f"git {what}: {self._where()} is not a git repository (or the token cannot see it)"
            ) from None
        except (GitProtocolError, HangupException, OSError) as exc:
            raise GitOpsError(f"git {what} on {self._where()} failed: {self._scrub(str(exc))}") from None
        except (ValueError, KeyError, AssertionError, IndexError) as exc:  # an answer that is not git
            raise GitOpsError(
                f"git {what} on {self._where()}: the server's answer is not git's smart protocol "
                f"({type(exc).__name__}: {self._scrub(str(exc))[:200]})"
            ) from None

    def _fetch(self, depth: int | None = None) -> str:
        """Fetch the branch; return its head sha.

        The first fetch is shallow (depth 1); later ones are incremental (our shallow boundary and our
        commits are sent, only what is new comes back); ``depth`` deepens the history.
        """
        ref = f"refs/heads/{self.branch}".encode()
        client, path = self._transport()
        local = self.local
        fetch_depth = self._depth if depth is None and ref not in local.refs else depth
        found: dict[str, bytes | None] = {}

        def wants(refs: dict[bytes, bytes], depth: int | None = None) -> list[bytes]:
            head = refs.get(ref)
            found["head"] = head
            if head is None or (fetch_depth is None and head in local.object_store):
                return []
            return [head]

        self._call("fetch", lambda: client.fetch(path, local, determine_wants=wants, depth=fetch_depth))
        head = found.get("head")
        if head is None:
            raise GitOpsError(f"branch {self.branch} does not exist on {self._where()}")
        local.refs[ref] = head
        return str(head.decode())

    def _deepen(self) -> bool:
        """Fetch more history of the branch; False when all of it is here already."""
        if self._depth >= _DEEPEN[-1] or not self.shallow:
            return False
        self._depth = next(d for d in _DEEPEN if d > self._depth)
        logger.info("deepening the fetch of %s to %d commits", self.branch, self._depth)
        self._fetch(depth=self._depth)
        return True

    def _blob_text(self, tree: bytes, path: str) -> str | None:
        text, _mode = self._file(tree, path) or (None, 0)
        return text

    def _file(self, tree: bytes, path: str) -> tuple[str, int] | None:
        """(text, mode) of the regular file ``path`` in ``tree``; None when it does not exist.

        A symlink (anywhere on the way), a directory or a submodule is refused: writing a regular file
        over a link would change what the link is, and following it could leave the repository.
        """
        from dulwich.errors import NotTreeError
        from dulwich.object_store import tree_lookup_path

        try:
            mode, sha = tree_lookup_path(
                self.local.object_store.__getitem__, cast(Any, tree), check_repo_path(path).encode()
            )
        except KeyError:
            return None
        except NotTreeError:
            raise GitOpsFileError(
                f"{path}: a part of its path is not a directory (a symlink?): mlops-glue edits regular files only"
            ) from None
        if stat.S_ISLNK(mode):
            raise GitOpsFileError(f"{path} is a symlink: mlops-glue edits regular files only")
        if stat.S_ISDIR(mode):
            raise GitOpsFileError(f"{path} is a directory")
        if not stat.S_ISREG(mode):
            raise GitOpsFileError(f"{path} is a submodule: mlops-glue edits regular files only")
        try:
            return str(self.local[sha].data.decode("utf-8")), int(mode)
        except UnicodeDecodeError as exc:
            raise GitOpsFileError(f"{path} is not UTF-8 text: {exc}") from exc

    def _apply(self, edits: Edits, head: str) -> bytes | None:
        """The tree of ``head`` with every edit applied; None when no edit changes anything.

        Every edit runs before anything is stored, so an edit that refuses leaves nothing behind.
        """
        from dulwich.object_store import commit_tree_changes
        from dulwich.objects import Blob

        tree = self.local[head.encode()].tree
        changes = []
        for path, edit in edits.items():
            found = self._file(tree, path)
            if found is None:
                raise GitOpsFileError(f"{path} does not exist on {self.branch}")
            current, mode = found
            new = edit(current)
            if new != current:
                changes.append((path, new, mode))
        if not changes:
            return None
        blobs = []
        for path, text, mode in changes:
            blob = Blob.from_string(text.encode("utf-8"))
            self.local.object_store.add_object(blob)
            blobs.append((check_repo_path(path).encode(), mode, cast(Any, blob.id)))  # mode kept (0755 too)
        return bytes(commit_tree_changes(self.local.object_store, self.local[tree], blobs))

    def _commit(self, tree: bytes, parent: str, message: str) -> str:
        from dulwich.objects import Commit

        c = Commit()
        c.tree = cast(Any, tree)
        c.parents = [cast(Any, parent.encode())]
        c.author = c.committer = f"{self.author_name} <{self.author_email}>".encode()
        c.author_time = c.commit_time = int(time.time())
        c.author_timezone = c.commit_timezone = 0
        c.encoding = b"UTF-8"
        c.message = (message.rstrip("\n") + "\n").encode("utf-8")
        self.local.object_store.add_object(c)
        return str(c.id.decode())

    def _push(self, updates: dict[str, tuple[str | None, str | None]]) -> dict[str, str | None]:
        """Push ``{branch: (expected head or None for a new branch, new sha or None to delete)}``.

        Returns each branch's status: None when updated, else the server's reason. Raises ``_Moved``
        when a branch we update is not at its expected head.
        """
        client, path = self._transport()
        wanted = {f"refs/heads/{b}".encode(): (old, new) for b, (old, new) in updates.items()}

        def update_refs(refs: dict[bytes, bytes]) -> dict[bytes, bytes]:
            out = {}
            for ref, (old, new) in wanted.items():
                current = refs.get(ref)
                if new is None:  # delete: only what exists (another deleted it: nothing to do)
                    if current is not None:
                        out[ref] = ZERO_SHA
                    continue
                if (current.decode() if current else None) != old:
                    raise _Moved(ref.decode())
                out[ref] = new.encode()
            return out

        def send() -> Any:
            try:
                return client.send_pack(path, update_refs, self.local.generate_pack_data)
            except _Moved:
                raise
            except Exception as exc:  # a library version that raises on a rejected ref, with its status
                statuses = getattr(exc, "ref_status", None)
                if isinstance(statuses, dict) and statuses:
                    return SimpleNamespace(ref_status=statuses)
                raise

        result = self._call("push", send)
        status = dict(result.ref_status or {})
        return {
            b: (status.get(f"refs/heads/{b}".encode()) if f"refs/heads/{b}".encode() in status else None)
            for b in updates
        }

    def _push_head(self, branch: str, old: str | None, new: str) -> bool:
        """Push ``new`` to ``branch`` against ``old``; False when rejected because the branch moved."""
        try:
            status = self._push({branch: (old, new)})[branch]
        except _Moved:
            logger.info("%s moved before our push: fetching again", branch)
            return False
        if status is None:
            return True
        if _is_moved(status):
            logger.info("push to %s rejected (%s): fetching again", branch, status)
            return False
        raise GitOpsError(f"{self._where()} refused the update of {branch}: {self._scrub(status)}")

    def _attempts(self) -> Iterator[int]:
        """Attempt numbers, with an exponential backoff and full jitter between them."""
        for attempt in range(self.max_attempts):
            if attempt:
                self._sleep(min(5.0, self.backoff * 2 ** (attempt - 1)) * (0.5 + self._rng()))
            yield attempt

    def _commit_url(self, sha: str | None) -> str | None:
        return f"{self.web_url}/{self.commit_path}/{sha}" if self.web_url and sha else None

    # ------------------------------------------------------------------ GitOpsRepo
    def read(self, path: str) -> str:
        with self._lock:
            head = self._fetch()
            text = self._blob_text(self.local[head.encode()].tree, path)
            if text is None:
                raise GitOpsFileError(f"{path} does not exist on {self.branch}")
            return text

    def commit_files(self, edits: Edits, message: str, trailers: dict[str, str]) -> WriteResult:
        paths = [check_repo_path(p) for p in edits]
        full = with_trailers(message, trailers)
        with self._lock:
            for _ in self._attempts():
                head = self._fetch()
                tree = self._apply(edits, head)
                if tree is None:
                    return WriteResult(False, head, self._commit_url(head))
                new = self._commit(tree, head, full)
                if self._push_head(self.branch, head, new):
                    self.local.refs[f"refs/heads/{self.branch}".encode()] = new.encode()
                    return WriteResult(True, new, self._commit_url(new))
        raise GitOpsConflictError(
            f"{self.branch} kept moving: {', '.join(paths)} not committed after {self.max_attempts} attempts"
        )

    def _remote_branches(self) -> dict[str, str]:
        client, path = self._transport()
        result = self._call("ls-remote", lambda: client.get_refs(path))
        refs = getattr(result, "refs", result)
        return {
            ref.decode().removeprefix("refs/heads/"): sha.decode()
            for ref, sha in refs.items()
            if ref.startswith(b"refs/heads/") and sha
        }

    def check_branch_name(self, branch: str) -> str:
        from dulwich.refs import check_ref_format

        if branch == self.branch or not check_ref_format(cast(Any, f"refs/heads/{branch}".encode())):
            raise GitOpsError(f"invalid pull-request branch name {branch!r}")
        return branch

    def push_change_branch(self, edits: Edits, branch: str, message: str) -> tuple[str | None, bool]:
        """Commit ``edits`` on the base head and push them to a new ``branch``.

        Returns (the branch head, reused): reused when the branch exists already (its name hashes the
        change, so it holds the same change); (None, False) when the edits change nothing.
        """
        for path in edits:
            check_repo_path(path)
        self.check_branch_name(branch)
        with self._lock:
            head = self._fetch()
            existing = self._remote_branches().get(branch)
            if existing is not None:
                return existing, True
            tree = self._apply(edits, head)
            if tree is None:
                return None, False
            new = self._commit(tree, head, message)
            if not self._push_head(branch, None, new):
                # pushed concurrently by a retry of the same change
                return self._remote_branches().get(branch), True
            return new, False

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
        message = with_trailers(f"{title}\n\n{body}".strip(), trailers)
        with self._lock:
            sha, reused = self.push_change_branch(edits, branch, message)
            if sha is None and not reused:
                return None
            closed = self.delete_branches(supersede_prefix, keep=branch) if supersede_prefix else ()
        merged = None
        if auto_merge:
            merged = self.commit_files(edits, f"{title}\n\n{body}".strip(), trailers).sha
        return PullRequest(0, self._branch_url(branch), branch, reused, (), closed, merged)

    def close_pull_requests(self, prefix: str, comment: str) -> tuple[str, ...]:
        """Delete the remote branches starting with ``prefix`` (a "PR" here is a pushed branch).

        Plain git has nowhere to put ``comment``: the caller's decision record and notice carry it.
        """
        if not prefix:
            raise GitOpsError("refusing to close pull requests with an empty branch prefix")
        with self._lock:
            return self.delete_branches(prefix)

    def delete_branches(self, prefix: str, keep: str | None = None) -> tuple[str, ...]:
        """Delete the remote branches starting with ``prefix`` except ``keep``; return their names."""
        if not prefix:
            raise GitOpsError("refusing to delete branches with an empty prefix")
        with self._lock:
            old = sorted(
                b for b in self._remote_branches() if b.startswith(prefix) and b not in (keep, self.branch)
            )
            if not old:
                return ()
            status = self._push({b: (None, None) for b in old})
            failed = {b: s for b, s in status.items() if s is not None}
            if failed:
                still = set(self._remote_branches())
                failed = {b: s for b, s in failed.items() if b in still}  # else deleted by someone else
                if failed:
                    raise GitOpsError(
                        f"could not delete {', '.join(failed)}: {self._scrub('; '.join(map(str, failed.values())))}"
                    )
            return tuple(b for b in old if status[b] is None)

    def _branch_url(self, branch: str) -> str:
        if self.web_url:
            return f"{self.web_url}/tree/{branch}"
        return f"{self._where()}#{branch}"

    # ------------------------------------------------------------------ history
    def _find(self, revision: str) -> bytes | None:
        """The full sha of ``revision`` among the fetched objects (None when unknown)."""
        store = self.local.object_store
        if len(revision) == 40:
            sha = revision.lower().encode()
            return sha if sha in store and self.local[sha].type_name == b"commit" else None
        for sha in store.iter_prefix(revision.lower().encode()):
            if self.local[sha].type_name == b"commit":
                return bytes(sha)
        return None

    def _find_with_parents(self, revision: str) -> bytes | None:
        """Like :meth:`_find`, deepening the fetch until the commit and its parents are here."""
        self._fetch()
        while True:
            sha = self._find(revision)
            if sha is not None and sha not in self.shallow:
                return sha
            if not self._deepen():
                return sha

    def get_commit(self, revision: str) -> CommitInfo | None:
        if not _SHA.fullmatch(revision or ""):
            return None
        with self._lock:
            sha = self._find_with_parents(revision)
            return self._info(sha) if sha is not None else None

    def _info(self, sha: bytes) -> CommitInfo:
        from dulwich.diff_tree import tree_changes

        c = self.local[sha]
        parent_tree = self.local[c.parents[0]].tree if c.parents and sha not in self.shallow else None
        files: set[str] = set()
        for ch in tree_changes(self.local.object_store, parent_tree, c.tree):
            entry = ch.new if ch.new is not None and ch.new.path else ch.old
            if entry is not None and entry.path:
                files.add(entry.path.decode())
        message = c.message.decode("utf-8", "replace").rstrip("\n")
        return CommitInfo(
            sha.decode(),
            message,
            c.author.decode("utf-8", "replace"),
            tuple(sorted(files)),
            parse_trailers(message),
            self._commit_url(sha.decode()),
        )

    def _walk(self, path: str, exclude: bytes | None = None, limit: int | None = None) -> list[bytes]:
        """Commits on the branch that changed ``path`` (after ``exclude``), newest first.

        Deepens the fetch until the answer does not depend on history we lack: a commit at the shallow
        boundary looks like a root that adds every file, so it is never taken for an answer.
        """
        from dulwich.walk import ORDER_TOPO

        ref = f"refs/heads/{self.branch}".encode()
        while True:
            head, shallow = self.local.refs[ref], self.shallow
            ex = [exclude] if exclude else None
            shas = [
                e.commit.id
                for e in self.local.get_walker(
                    include=[head], exclude=ex, paths=[path.encode()], order=ORDER_TOPO, max_entries=limit
                )
            ]
            if limit is not None and len(shas) == limit:
                complete = not any(s in shallow for s in shas)
            elif exclude is not None:  # complete when no commit after ``exclude`` is at the boundary
                complete = not any(
                    e.commit.id in shallow for e in self.local.get_walker(include=[head], exclude=ex)
                )
            else:
                complete = not shallow
            if complete or not self._deepen():
                return shas

    def last_commit_touching(self, path: str) -> CommitInfo | None:
        check_repo_path(path)
        with self._lock:
            self._fetch()
            shas = self._walk(path, limit=1)
            return self._info(shas[0]) if shas else None

    def commits_touching(self, path: str, since: str) -> list[CommitInfo]:
        check_repo_path(path)
        if not _SHA.fullmatch(since or ""):
            raise GitOpsError(f"not a commit sha: {since!r}")
        with self._lock:
            base = self._find_with_parents(since)
            if base is None:
                raise GitOpsError(f"commit {since} is not in {self.branch}")
            return [self._info(s) for s in reversed(self._walk(path, exclude=base))]

    def is_ancestor(self, sha: str) -> bool:
        from dulwich.graph import can_fast_forward

        if not _SHA.fullmatch(sha or ""):
            return False
        with self._lock:
            target = self._find_with_parents(sha)  # deepens the fetch down to the commit, if on the branch
            if target is None:
                return False
            head = self.local.refs[f"refs/heads/{self.branch}".encode()]
            return bool(can_fast_forward(self.local, cast(Any, target), cast(Any, head)))

    def commits_between(self, older: str, newer: str) -> list[CommitInfo]:
        if not _SHA.fullmatch(older or "") or not _SHA.fullmatch(newer or ""):
            raise GitOpsError(f"not a commit sha: {older!r} or {newer!r}")
        with self._lock:
            base, tip = self._find_with_parents(older), self._find_with_parents(newer)
            if base is None or tip is None:
                raise GitOpsError(f"commit {older} or {newer} is not in {self.branch}")
            shas = [e.commit.id for e in self.local.get_walker(include=[tip], exclude=[base])]
            return [self._info(s) for s in reversed(shas)]

    def revert(self, sha: str, message: str, trailers: dict[str, str]) -> WriteResult:
        from dulwich.merge import three_way_merge

        if not _SHA.fullmatch(sha or ""):
            raise GitOpsError(f"not a commit sha: {sha!r}")
        full = with_trailers(message, trailers)
        with self._lock:
            for _ in self._attempts():
                target = self._find_with_parents(sha)
                if target is None:
                    raise GitOpsError(f"commit {sha} is not in {self.branch}")
                commit = self.local[target]
                if len(commit.parents) != 1:
                    raise GitOpsConflictError(f"{sha[:12]} is a merge or root commit: revert it by hand")
                head = self.local.refs[f"refs/heads/{self.branch}".encode()]
                merged, conflicts = three_way_merge(
                    self.local.object_store, commit, self.local[head], self.local[commit.parents[0]]
                )
                if conflicts:
                    names = ", ".join(p.decode() for p in conflicts)
                    raise GitOpsConflictError(
                        f"revert of {sha[:12]} does not apply on {self.branch}: {names} changed since"
                    )
                if merged.id == self.local[head].tree:
                    return WriteResult(False, head.decode(), self._commit_url(head.decode()))
                self.local.object_store.add_object(merged)
                new = self._commit(merged.id, head.decode(), full)
                if self._push_head(self.branch, head.decode(), new):
                    self.local.refs[f"refs/heads/{self.branch}".encode()] = new.encode()
                    return WriteResult(True, new, self._commit_url(new))
        raise GitOpsConflictError(f"{self.branch} kept moving: revert of {sha[:12]} not pushed")
