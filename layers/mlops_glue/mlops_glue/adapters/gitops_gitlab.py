"""The GitLab GitOps backend: commits through git (dulwich), merge requests through python-gitlab.

Why the commits go through git and not GitLab's commits API: the commits API's conflict check
(``last_commit_id``) is per file, like GitHub's contents API, and its revert endpoint
(``POST /repository/commits/:sha/revert``) takes no message, so our ``Glue-*`` trailers — which map a
synced revision back to its decision — would be lost on every rollback. The dulwich backend already
commits several files at once against the branch head, reverts with a three-way merge, and is tested
against git's own server; GitLab speaks the same smart HTTP. One token (``api`` scope, which includes
git over HTTPS, or ``api`` + ``write_repository``) serves both, sent as basic auth to git and as the
``PRIVATE-TOKEN`` header to the API.

Merge requests (python-gitlab): one source branch per change (its name hashes the change); an open MR
of that branch into the base is reused (also after a 409 "another open merge request already exists");
open MRs of the same model and environment are closed with a note pointing to the new one and their
branches deleted; ``auto_merge`` asks GitLab to merge when the pipeline succeeds (merged at once when
the project has no pipeline). The decision record is the MR description.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from mlops_glue.adapters.gitops import (
    Edits,
    GitOpsAuthError,
    GitOpsError,
    PullRequest,
    with_trailers,
)
from mlops_glue.adapters.gitops_git import GitRepo

logger = logging.getLogger(__name__)


class GitLabRepo(GitRepo):
    """A GitOps repository on GitLab (gitlab.com or self-managed): project ``group/project`` at ``url``.

    ``remote`` overrides the git HTTPS URL (default ``{url}/{project}.git``). The python-gitlab client
    is built lazily; ``gitlab`` injects one (tests).
    """

    def __init__(
        self,
        project: str,
        branch: str = "main",
        *,
        url: str = "https://gitlab.com",
        remote: str | None = None,
        token: str | None = None,
        username: str = "oauth2",
        gitlab: Any | None = None,
        timeout: float = 30.0,
        throttle: bool = True,
        **kwargs: Any,
    ) -> None:
        if not project or project.startswith("/") or project.endswith(".git"):
            raise GitOpsError(
                f"gitops.repo must be a GitLab project path like 'group/project', not {project!r}"
            )
        self.project_path = project
        self.url = url.rstrip("/")
        super().__init__(
            remote or f"{self.url}/{project}.git",
            branch,
            token=token,
            username=username,
            web_url=f"{self.url}/{project}",
            commit_path="-/commit",
            timeout=timeout,
            **kwargs,
        )
        self._gitlab = gitlab
        self._project: Any | None = None
        self._retry = throttle  # python-gitlab's retries of 429/5xx with backoff (Retry-After obeyed)

    # ------------------------------------------------------------------ plumbing
    @property
    def project(self) -> Any:
        if self._project is None:
            if self._gitlab is None:
                import gitlab

                self._gitlab = gitlab.Gitlab(
                    self.url,
                    private_token=self._token,
                    timeout=self.timeout,
                    retry_transient_errors=self._retry,
                )
            # lazy: no GET of the project, every call addresses /projects/<url-encoded path>/...
            self._project = self._gitlab.projects.get(self.project_path, lazy=True)
        return self._project

    def _api(self, what: str, fn: Any) -> Any:
        """Run a python-gitlab call; its failures become GitOpsError (401: GitOpsAuthError), scrubbed."""
        import gitlab.exceptions as gle
        import requests

        try:
            return fn()
        except gle.GitlabAuthenticationError as exc:
            raise GitOpsAuthError(
                f"GitLab {what} on {self.project_path}: the token was refused "
                f"({exc.response_code}: {self._scrub(str(exc.error_message))[:200]}); it is wrong, expired "
                "or lacks the api scope"
            ) from None
        except gle.GitlabError as exc:
            raise GitOpsError(
                f"GitLab {what} on {self.project_path} failed ({exc.response_code}): "
                f"{self._scrub(str(exc.error_message))[:300]}"
            ) from None
        except (requests.RequestException, OSError) as exc:
            host = urlsplit(self.url).hostname
            raise GitOpsError(f"GitLab {what} on {host} failed: {type(exc).__name__}") from None

    def _open_mrs(self, **filters: Any) -> list[Any]:
        return list(
            self._api(
                "list merge requests",
                lambda: self.project.mergerequests.list(
                    state="opened", target_branch=self.branch, get_all=True, **filters
                ),
            )
        )

    # ------------------------------------------------------------------ GitOpsRepo
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
        self.check_branch_name(branch)
        with self._lock:
            existing = self._open_mrs(source_branch=branch)
            if existing:
                mr, reused = existing[0], True
            else:
                # the commit carries the decision record too (as in plain git): it outlives the MR
                message = with_trailers(f"{title}\n\n{body}".strip(), trailers)
                sha, reused = self.push_change_branch(edits, branch, message)
                if sha is None and not reused:
                    return None
                mr, reused = self._create(
                    {
                        "source_branch": branch,
                        "target_branch": self.branch,
                        "title": title,
                        "description": body,
                        "remove_source_branch": True,
                    }
                )
            closed = self._close(supersede_prefix, f"Superseded by !{mr.iid} ({mr.web_url}).", keep=branch)
            merged = self._merge(mr) if auto_merge else None
        # superseded MRs are named by their branches: "#n" is GitHub's notation, GitLab's is "!n"
        return PullRequest(
            int(mr.iid), str(mr.web_url), branch, reused, (), tuple(m.source_branch for m in closed), merged
        )

    def _create(self, data: dict[str, Any]) -> tuple[Any, bool]:
        """Open the MR; (mr, reused): a 409 (opened concurrently for the same branch) reuses that one."""
        import gitlab.exceptions as gle

        found: list[Any] = []

        def create() -> Any:
            try:
                return self.project.mergerequests.create(data)
            except gle.GitlabCreateError as exc:
                if exc.response_code == 409:
                    found.extend(self._open_mrs(source_branch=data["source_branch"]))
                    if found:
                        return found[0]
                raise

        mr = self._api("create merge request", create)
        return mr, bool(found)

    def _merge(self, mr: Any) -> str | None:
        """Ask GitLab to merge when the pipeline succeeds; the merge commit when it merged at once."""
        try:
            self._api(
                "merge", lambda: mr.merge(should_remove_source_branch=True, merge_when_pipeline_succeeds=True)
            )
        except GitOpsAuthError:
            raise
        except GitOpsError as exc:  # not mergeable (405/406/409/422): the MR still stands for review
            logger.warning("GitLab did not accept the merge of !%s: %s", mr.iid, exc)
            return None
        if getattr(mr, "state", None) == "merged":
            return str(getattr(mr, "merge_commit_sha", None) or "") or None
        return None

    def close_pull_requests(self, prefix: str, comment: str) -> tuple[str, ...]:
        if not prefix:
            raise GitOpsError("refusing to close pull requests with an empty branch prefix")
        with self._lock:
            return tuple(str(mr.web_url) for mr in self._close(prefix, comment))

    def _close(self, prefix: str | None, comment: str, keep: str | None = None) -> list[Any]:
        """Note on, close, and delete the branch of every open MR whose source branch starts with ``prefix``."""
        if not prefix:
            return []
        closed = []
        for mr in self._open_mrs():
            if mr.source_branch == keep or not str(mr.source_branch).startswith(prefix):
                continue
            self._api("comment", lambda m=mr: m.notes.create({"body": comment}))
            mr.state_event = "close"
            self._api("close merge request", lambda m=mr: m.save())
            closed.append(mr)
        if closed:
            self.delete_branches(prefix, keep=keep)
        return closed
