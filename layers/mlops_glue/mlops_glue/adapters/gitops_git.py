"""The plain-git GitOps backend: the git CLI on a private clone (any remote: ssh, https, a local path).

Why the CLI and not a library: git itself is the reference implementation of push/fetch/revert and the
only client that speaks every transport and credential helper; GitPython and dulwich would add a
dependency for a thin wrapper around the same commands.

Each write follows argocd-image-updater's pipeline: fetch → reset the clone to the remote head → apply
the pure edit → skip when nothing changed → commit (trailers included) → push. A rejected push (someone
else pushed first) starts over from the fetch, so concurrent writers to different files all land.

Pull requests do not exist in plain git: ``open_pull_request`` pushes the change to its own branch (the
review happens wherever the remote is hosted), deletes superseded branches of the same model and
environment, and with ``auto_merge`` also lands the change on the base branch.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from mlops_glue import targets
from mlops_glue.adapters.gitops import (
    CommitInfo,
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

_SHA = re.compile(r"^[0-9a-fA-F]{4,40}$")
_REJECTED = ("[rejected]", "non-fast-forward", "fetch first", "failed to update ref", "stale info")


def check_repo_path(path: str) -> str:
    """Return ``path`` when it is a relative path inside the repository (GitOpsError otherwise)."""
    try:
        return targets.check_repo_path(path)
    except targets.TargetError as exc:
        raise GitOpsError(str(exc)) from None


def _redact(text: str) -> str:
    """Drop credentials from URLs in git's messages (``https://user:token@host`` → ``https://***@host``)."""
    return re.sub(r"(https?://)[^/@\s]+@", r"\1***@", text)


class GitRepo(GitOpsRepo):
    """A GitOps repository reached with the git CLI; one private clone per instance (thread-safe).

    ``token`` (optional) is sent as an HTTP basic-auth header for https remotes, never written into the
    URL, the clone's config or a log line. ``web_url`` (e.g. ``https://github.com/o/r``) builds links.
    """

    def __init__(
        self,
        remote: str,
        branch: str = "main",
        *,
        author_name: str = "mlops-glue",
        author_email: str = "mlops-glue@users.noreply.github.com",
        token: str | None = None,
        web_url: str | None = None,
        workdir: str | Path | None = None,
        max_attempts: int = 8,
    ) -> None:
        self.remote = remote
        self.branch = branch
        self.author_name = author_name
        self.author_email = author_email
        self.web_url = web_url.rstrip("/") if web_url else None
        self.max_attempts = max_attempts
        self._token = token
        self._workdir = Path(workdir) if workdir else None
        self._own_workdir = workdir is None
        self._cloned = False
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ plumbing
    @property
    def path(self) -> Path:
        """The private clone (created on first use)."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="glue-gitops-"))
        return self._workdir

    def close(self) -> None:
        """Remove the private clone when this instance created it."""
        with self._lock:
            if self._own_workdir and self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None
                self._cloned = False

    def _git(
        self, *args: str, check: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        config = [
            "-c",
            f"user.name={self.author_name}",
            "-c",
            f"user.email={self.author_email}",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.autocrlf=false",
        ]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        if self._token:
            # through the environment (git >= 2.31), never argv: a process list shows every argument
            basic = base64.b64encode(f"x-access-token:{self._token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        proc = subprocess.run(
            ["git", *config, *args],
            cwd=cwd or self.path,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if check and proc.returncode != 0:
            # the message names the subcommand only, and stderr is redacted
            raise GitOpsError(
                f"git {args[0]} failed ({proc.returncode}): {_redact(proc.stderr.strip())[:500]}"
            )
        return proc

    def _sync(self) -> str:
        """Bring the clone to the remote branch head; return that head's sha."""
        if not self._cloned:
            target = self.path
            if any(target.iterdir()):
                shutil.rmtree(target)
                target.mkdir(parents=True)
            self._git(
                "clone",
                "--quiet",
                "--no-tags",
                "--single-branch",
                "--branch",
                self.branch,
                "--",
                self.remote,
                ".",
                cwd=target,
            )
            self._cloned = True
        else:
            self._git(
                "fetch",
                "--quiet",
                "--no-tags",
                "origin",
                f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}",
            )
        self._git("checkout", "--quiet", "--force", "-B", self.branch, f"origin/{self.branch}")
        self._git("clean", "-qfdx")
        return self._head()

    def _head(self) -> str:
        return self._git("rev-parse", "HEAD").stdout.strip()

    def _push(self, refspec: str) -> bool:
        """Push; False when the remote rejected it because it moved (the caller retries)."""
        proc = self._git("push", "--quiet", "--porcelain", "origin", refspec, check=False)
        if proc.returncode == 0:
            return True
        out = proc.stdout + proc.stderr
        if any(marker in out for marker in _REJECTED):
            return False
        raise GitOpsError(f"git push failed ({proc.returncode}): {_redact(out.strip())[:500]}")

    def _read_worktree(self, path: str) -> str:
        file = self.path / check_repo_path(path)
        here = self.path
        for part in file.relative_to(self.path).parts:  # a link anywhere on the way could lead outside
            here = here / part
            if here.is_symlink():
                raise GitOpsFileError(f"{path} is a symlink: mlops-glue edits regular files only")
        try:
            return file.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise GitOpsFileError(f"{path} does not exist on {self.branch}") from None
        except IsADirectoryError:
            raise GitOpsFileError(f"{path} is a directory") from None
        except UnicodeDecodeError as exc:
            raise GitOpsFileError(f"{path} is not UTF-8 text: {exc}") from exc

    def _write_worktree(self, path: str, text: str) -> None:
        (self.path / check_repo_path(path)).write_bytes(text.encode("utf-8"))

    def _commit_url(self, sha: str) -> str | None:
        return f"{self.web_url}/commit/{sha}" if self.web_url else None

    def _apply_and_commit(self, edits: Edits, message: str) -> bool:
        """Apply every edit in the worktree and commit them as one; False when nothing changed.

        Every edit runs before anything is written, so an edit that refuses leaves the worktree clean.
        """
        changed: dict[str, str] = {}
        for path, edit in edits.items():
            current = self._read_worktree(path)
            new = edit(current)
            if new != current:
                changed[path] = new
        if not changed:
            return False
        for path, text in changed.items():
            self._write_worktree(path, text)
        self._git("add", "--", *(check_repo_path(p) for p in changed))
        self._git("commit", "--quiet", "--no-verify", "-m", message)
        return True

    # ------------------------------------------------------------------ GitOpsRepo
    def read(self, path: str) -> str:
        with self._lock:
            self._sync()
            return self._read_worktree(path)

    def commit_files(self, edits: Edits, message: str, trailers: dict[str, str]) -> WriteResult:
        paths = [check_repo_path(p) for p in edits]
        full = with_trailers(message, trailers)
        with self._lock:
            for _ in range(self.max_attempts):
                head = self._sync()
                if not self._apply_and_commit(edits, full):
                    return WriteResult(False, head, self._commit_url(head))
                if self._push(f"HEAD:refs/heads/{self.branch}"):
                    sha = self._head()
                    return WriteResult(True, sha, self._commit_url(sha))
        raise GitOpsConflictError(
            f"{self.branch} kept moving: {', '.join(paths)} not committed after {self.max_attempts} attempts"
        )

    def _remote_branches(self, pattern: str) -> dict[str, str]:
        out = self._git("ls-remote", "--heads", "origin", f"refs/heads/{pattern}").stdout
        branches = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            branches[ref.removeprefix("refs/heads/")] = sha
        return branches

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
        for path in edits:
            check_repo_path(path)
        if (
            self._git("check-ref-format", "--branch", branch, check=False).returncode != 0
            or branch == self.branch
        ):
            raise GitOpsError(f"invalid pull-request branch name {branch!r}")
        message = with_trailers(f"{title}\n\n{body}".strip(), trailers)
        with self._lock:
            self._sync()
            existing = self._remote_branches(branch)
            if branch in existing:
                pr = PullRequest(0, self._branch_url(branch), branch, reused=True)
            else:
                if not self._apply_and_commit(edits, message):
                    return None
                if not self._push(f"HEAD:refs/heads/{branch}"):
                    # someone pushed the same branch concurrently: the same change (its name is its hash)
                    pr = PullRequest(0, self._branch_url(branch), branch, reused=True)
                else:
                    pr = PullRequest(0, self._branch_url(branch), branch)
            closed = self._delete_branches(supersede_prefix, keep=branch) if supersede_prefix else ()
        merged = None
        if auto_merge:
            merged = self.commit_files(edits, f"{title}\n\n{body}".strip(), trailers).sha
        return PullRequest(pr.number, pr.url, branch, pr.reused, (), closed, merged)

    def close_pull_requests(self, prefix: str, comment: str) -> tuple[str, ...]:
        """Delete the remote branches starting with ``prefix`` (a "PR" here is a pushed branch).

        Plain git has nowhere to put ``comment``: the caller's decision record and notice carry it.
        """
        if not prefix:
            raise GitOpsError("refusing to close pull requests with an empty branch prefix")
        with self._lock:
            self._sync()
            return self._delete_branches(prefix)

    def _delete_branches(self, prefix: str, keep: str | None = None) -> tuple[str, ...]:
        """Delete the remote branches starting with ``prefix`` except ``keep``; return their names."""
        closed = []
        for old in sorted(self._remote_branches(f"{prefix}*")):
            if old == keep or not old.startswith(prefix):
                continue
            proc = self._git("push", "--quiet", "origin", "--delete", f"refs/heads/{old}", check=False)
            if proc.returncode != 0 and old in self._remote_branches(old):
                raise GitOpsError(f"git push --delete {old} failed: {_redact(proc.stderr.strip())[:300]}")
            if proc.returncode == 0:  # else deleted concurrently by someone else: not ours to report
                closed.append(old)
        return tuple(closed)

    def _branch_url(self, branch: str) -> str:
        if self.web_url:
            return f"{self.web_url}/tree/{branch}"
        return f"{_redact(self.remote)}#{branch}"

    def get_commit(self, revision: str) -> CommitInfo | None:
        if not _SHA.fullmatch(revision or ""):
            return None
        with self._lock:
            self._sync()
            if self._git("cat-file", "-e", f"{revision}^{{commit}}", check=False).returncode != 0:
                return None
            return self._commit_info(revision)

    def _commit_info(self, revision: str) -> CommitInfo:
        out = self._git("show", "-s", "--format=%H%x00%an <%ae>%x00%B", revision).stdout
        sha, author, message = out.split("\x00", 2)
        files = self._git("diff-tree", "--no-commit-id", "--name-only", "-r", "--root", sha).stdout.split()
        message = message.rstrip("\n")
        return CommitInfo(sha, message, author, tuple(files), parse_trailers(message), self._commit_url(sha))

    def last_commit_touching(self, path: str) -> CommitInfo | None:
        check_repo_path(path)
        with self._lock:
            self._sync()
            sha = self._git("log", "-1", "--format=%H", "HEAD", "--", path).stdout.strip()
            return self._commit_info(sha) if sha else None

    def commits_touching(self, path: str, since: str) -> list[CommitInfo]:
        check_repo_path(path)
        if not _SHA.fullmatch(since or ""):
            raise GitOpsError(f"not a commit sha: {since!r}")
        with self._lock:
            self._sync()
            if self._git("cat-file", "-e", f"{since}^{{commit}}", check=False).returncode != 0:
                raise GitOpsError(f"commit {since} is not in {self.branch}")
            shas = self._git("log", "--reverse", "--format=%H", f"{since}..HEAD", "--", path).stdout.split()
            return [self._commit_info(s) for s in shas]

    def revert(self, sha: str, message: str, trailers: dict[str, str]) -> WriteResult:
        if not _SHA.fullmatch(sha or ""):
            raise GitOpsError(f"not a commit sha: {sha!r}")
        full = with_trailers(message, trailers)
        with self._lock:
            for _ in range(self.max_attempts):
                head = self._sync()
                if self._git("cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode != 0:
                    raise GitOpsError(f"commit {sha} is not in {self.branch}")
                proc = self._git("revert", "--no-commit", "--no-edit", sha, check=False)
                if proc.returncode != 0:
                    self._git("revert", "--abort", check=False)
                    raise GitOpsConflictError(
                        f"revert of {sha[:12]} does not apply on {self.branch}: {proc.stderr.strip()[:300]}"
                    )
                if not self._git("diff", "--cached", "--name-only").stdout.strip():
                    self._git("revert", "--quit", check=False)
                    return WriteResult(False, head, self._commit_url(head))
                self._git("commit", "--quiet", "--no-verify", "-m", full)
                if self._push(f"HEAD:refs/heads/{self.branch}"):
                    new = self._head()
                    return WriteResult(True, new, self._commit_url(new))
        raise GitOpsConflictError(f"{self.branch} kept moving: revert of {sha[:12]} not pushed")
