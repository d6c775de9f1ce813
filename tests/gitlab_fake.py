"""A fake GitLab REST API (merge requests and notes) that checks python-gitlab's requests against the docs.

Every request is checked against ``SPEC``, written from GitLab's REST reference (doc/api/merge_requests.md:
"List project merge requests", "Create MR", "Update MR", "Merge a merge request"; doc/api/notes.md:
"Create new merge request note"): the method, the path (the project as its URL-encoded path,
``projects/ml%2Fdeploy``), every parameter known and of its documented type, the required ones present.
A request outside the spec answers 400 and is kept in ``violations`` (``stop`` fails the test on any).

The fake shares the bare repository with the smart-HTTP server, as GitLab's API and its git storage do:
a merge request needs its source branch to exist, and a merge without a pipeline really merges (git by
absolute path, server side). Hostile knobs: ``expired`` (401 as GitLab answers an expired token),
``mode`` ``down``/``nonsense``, ``before_create`` (an MR opened concurrently → 409), ``pipeline``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from glue_local.gitops_seed import git

PROJECT = "ml/deploy"
ENCODED = "ml%2Fdeploy"
PROJECT_ID = 7
B, S, N = bool, str, int  # documented types: boolean, string, integer

# (method, path pattern) -> (required, optional) parameters with their documented types
SPEC: dict[tuple[str, str], tuple[dict[str, type], dict[str, type]]] = {
    ("GET", "/api/v4/projects/:id/merge_requests"): (
        {},
        {
            "state": S, "source_branch": S, "target_branch": S, "order_by": S, "sort": S, "view": S,
            "labels": S, "search": S, "page": N, "per_page": N, "pagination": S,
        },
    ),
    ("POST", "/api/v4/projects/:id/merge_requests"): (
        {"source_branch": S, "target_branch": S, "title": S},
        {
            "description": S, "remove_source_branch": B, "squash": B, "labels": S, "assignee_id": N,
            "allow_collaboration": B, "target_project_id": N, "milestone_id": N,
        },
    ),
    ("PUT", "/api/v4/projects/:id/merge_requests/:iid"): (
        {},
        {
            "state_event": S, "title": S, "description": S, "target_branch": S, "labels": S,
            "remove_source_branch": B, "squash": B, "discussion_locked": B,
        },
    ),
    ("PUT", "/api/v4/projects/:id/merge_requests/:iid/merge"): (
        {},
        {
            "merge_commit_message": S, "squash_commit_message": S, "squash": B,
            "should_remove_source_branch": B, "merge_when_pipeline_succeeds": B, "auto_merge": B, "sha": S,
        },
    ),
    ("POST", "/api/v4/projects/:id/merge_requests/:iid/notes"): (
        {"body": S},
        {"created_at": S, "internal": B, "merge_request_diff_head_sha": S},
    ),
}  # fmt: skip
ENUMS = {"state": {"opened", "closed", "locked", "merged", "all"}, "state_event": {"close", "reopen"}}
INT_QUERY = {"page", "per_page"}


class FakeGitLab:
    def __init__(self, bare: Path, token: str) -> None:
        self.bare = bare
        self.token = token
        self.server = HTTPServer(host="127.0.0.1", port=0)
        self.server.expect_request("").respond_with_handler(self)
        self.mrs: list[dict[str, Any]] = []
        self.notes: list[tuple[int, str]] = []
        self.log: list[tuple[str, str, dict[str, Any]]] = []
        self.violations: list[str] = []
        self.expired = False
        self.mode = "ok"
        self.pipeline = "none"  # "none": a merge happens at once; "running": it waits for the pipeline
        self.before_create: Callable[[], None] | None = None
        self.refuse_merge = False  # answer 405 "Method Not Allowed" (draft, pipeline failed, ...)
        self.url = ""

    def start(self) -> FakeGitLab:
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.port}"
        return self

    def stop(self) -> None:
        if self.server.is_running():
            self.server.stop()
        assert not self.violations, self.violations

    # ------------------------------------------------------------------ the checks
    def _route(self, method: str, raw_path: str) -> tuple[str, dict[str, str]] | None:
        parts = raw_path.strip("/").split("/")
        for (m, pattern), _ in SPEC.items():
            pp = pattern.strip("/").split("/")
            if m != method or len(pp) != len(parts):
                continue
            args: dict[str, str] = {}
            for want, got in zip(pp, parts, strict=True):
                if want.startswith(":"):
                    args[want[1:]] = got
                elif want != got:
                    break
            else:
                return pattern, args
        return None

    def _check(self, method: str, pattern: str, params: dict[str, Any]) -> str | None:
        required, optional = SPEC[(method, pattern)]
        for name in required:
            if name not in params:
                return f"{method} {pattern}: required {name!r} missing"
        for name, value in params.items():
            kind = required.get(name) or optional.get(name)
            if kind is None:
                return f"{method} {pattern}: {name!r} is not a documented parameter"
            if kind is B and not isinstance(value, bool):
                return f"{method} {pattern}: {name!r} must be a boolean, got {value!r}"
            if kind is S and not isinstance(value, str):
                return f"{method} {pattern}: {name!r} must be a string, got {value!r}"
            if kind is N and not (isinstance(value, int) or str(value).isdigit()):
                return f"{method} {pattern}: {name!r} must be an integer, got {value!r}"
            if name in ENUMS and value not in ENUMS[name]:
                return f"{method} {pattern}: {name!r}={value!r} is not one of {sorted(ENUMS[name])}"
        if method == "PUT" and pattern.endswith(":iid") and not params:
            return "PUT merge request: must include at least one non-required attribute"
        return None

    # ------------------------------------------------------------------ the handler
    def __call__(self, request: Request) -> Response:
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
        raw_path = urlsplit(raw).path

        def ok(data: Any, status: int = 200) -> Response:
            return Response(json.dumps(data), status, content_type="application/json")

        if self.mode == "down":
            return Response("<html>502 Bad Gateway</html>", 502, content_type="text/html")
        if self.mode == "nonsense":
            return Response("<html>Sign in to continue</html>", 200, content_type="text/html")
        if request.headers.get("PRIVATE-TOKEN") != self.token or self.expired:
            if self.expired:
                return ok({"error": "invalid_token", "error_description": "Token is expired. You can either "
                           "do re-authorization or token refresh."}, 401)  # fmt: skip
            return ok({"message": "401 Unauthorized"}, 401)
        route = self._route(request.method, raw_path)
        if route is None:
            self.violations.append(f"undocumented endpoint {request.method} {raw_path}")
            return ok({"error": "404 Not Found"}, 404)
        pattern, args = route
        if args.get("id") not in (ENCODED, str(PROJECT_ID)):  # the docs: "The ID or URL-encoded path"
            self.violations.append(
                f"project must be {PROJECT_ID} or the URL-encoded path {ENCODED}, got {args.get('id')}"
            )
            return ok({"message": "404 Project Not Found"}, 404)
        query = {k: v[-1] for k, v in parse_qs(urlsplit(raw).query).items()}
        body = json.loads(request.data) if request.data else {}
        params = {**query, **body}
        problem = self._check(request.method, pattern, params)
        self.log.append((request.method, pattern, params))
        if problem:
            self.violations.append(problem)
            return ok({"error": problem}, 400)
        iid = int(args["iid"]) if "iid" in args else None
        return self._act(request.method, pattern, iid, params, ok)

    def _json(self, mr: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": 1000 + mr["iid"], "iid": mr["iid"], "project_id": PROJECT_ID, "title": mr["title"],
            "description": mr["description"], "state": mr["state"], "source_branch": mr["source_branch"],
            "target_branch": mr["target_branch"], "web_url": f"{self.url}/{PROJECT}/-/merge_requests/{mr['iid']}",
            "sha": self._head(mr["source_branch"]), "merge_commit_sha": mr.get("merge_commit_sha"),
            "merge_when_pipeline_succeeds": mr.get("mwps", False), "references": {"short": f"!{mr['iid']}"},
        }  # fmt: skip

    def _head(self, branch: str) -> str | None:
        out = git(self.bare, "for-each-ref", "--format=%(objectname)", f"refs/heads/{branch}").strip()
        return out or None

    def _act(self, method: str, pattern: str, iid: int | None, p: dict[str, Any], ok: Any) -> Response:
        if method == "GET":
            found = [
                self._json(m)
                for m in self.mrs
                if all(m.get(k) == p[k] for k in ("source_branch", "target_branch") if k in p)
                and p.get("state", "all") in ("all", m["state"])
            ]
            return ok(found)
        if method == "POST" and pattern.endswith("merge_requests"):
            if self.before_create is not None:
                hook, self.before_create = self.before_create, None
                hook()
            if self._head(p["source_branch"]) is None:
                return ok({"message": ["Source branch does not exist"]}, 400)
            for m in self.mrs:
                if m["state"] == "opened" and (m["source_branch"], m["target_branch"]) == (
                    p["source_branch"],
                    p["target_branch"],
                ):
                    msg = f"Another open merge request already exists for this source branch: !{m['iid']}"
                    return ok({"message": [msg]}, 409)
            mr = {"iid": len(self.mrs) + 1, "state": "opened", "description": p.get("description", ""), **p}
            self.mrs.append(mr)
            return ok(self._json(mr), 201)
        mr = next((m for m in self.mrs if m["iid"] == iid), None)
        if mr is None:
            return ok({"message": "404 Not found"}, 404)
        if pattern.endswith("/notes"):
            self.notes.append((mr["iid"], p["body"]))
            return ok({"id": len(self.notes), "body": p["body"], "noteable_iid": mr["iid"]}, 201)
        if pattern.endswith("/merge"):
            if mr["state"] != "opened" or self.refuse_merge:
                return ok({"message": "405 Method Not Allowed"}, 405)
            if self.pipeline == "running" and p.get("merge_when_pipeline_succeeds"):
                mr["mwps"] = True
                return ok(self._json(mr))
            tree = git(
                self.bare, "merge-tree", "--write-tree", mr["target_branch"], mr["source_branch"]
            ).split()[0]
            target, source = self._head(mr["target_branch"]), self._head(mr["source_branch"])
            sha = git(self.bare, "commit-tree", tree, "-p", str(target), "-p", str(source),
                      "-m", f"Merge branch '{mr['source_branch']}' into '{mr['target_branch']}'").strip()  # fmt: skip
            git(self.bare, "update-ref", f"refs/heads/{mr['target_branch']}", sha, str(target))
            if p.get("should_remove_source_branch"):
                git(self.bare, "update-ref", "-d", f"refs/heads/{mr['source_branch']}")
            mr.update(state="merged", merge_commit_sha=sha)
            return ok(self._json(mr))
        if p.get("state_event") == "close":
            mr["state"] = "closed"
        return ok(self._json(mr))


def start_gitlab_fake(bare: Path, token: str) -> FakeGitLab:
    return FakeGitLab(bare, token).start()
