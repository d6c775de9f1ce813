"""A fake GitHub (served by pytest-httpserver) that checks PyGithub's requests against GitHub's REST reference.

The fake keeps a tiny repository (branches → files, commits) and checks each request's method, path
and body fields against GitHub's REST reference (contents, branches, git refs/trees/commits, pulls,
issue comments). It answers 409 to a contents update with a stale blob sha and 422 to a non-fast-forward
ref update, like GitHub. Seed it with ``FakeGitHub(base, files={path: text})``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from typing import Any
from urllib.parse import unquote

from werkzeug import Request, Response

STAGING = "models/fraud-detection/values-staging.yaml"
PROD = "models/fraud-detection/values-production.yaml"
TEXT = "model:\n  # bumped by mlops-glue\n  version: 1\n"


def blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()  # noqa: S324 - git's blob id


class FakeGitHub:
    """An in-memory GitHub repository ``o/r`` served over HTTP."""

    def __init__(self, base: str, files: dict[str, str] | None = None) -> None:
        self.base = base
        self.api = f"{base}/repos/o/r"
        self.ids = itertools.count(1)
        self.commits: dict[str, dict[str, Any]] = {}
        self.trees: dict[str, dict[str, str]] = {}
        root = self._commit("seed", None, {STAGING: TEXT, PROD: TEXT} if files is None else files)
        self.refs: dict[str, str] = {"main": root}
        self.pulls: list[dict[str, Any]] = []
        self.comments: list[tuple[int, str]] = []
        self.log: list[tuple[str, str]] = []
        self.stale_next_put = 0  # answer 409 to the next N contents updates (someone else wrote first)

    def _commit(self, message: str, parent: str | None, files: dict[str, str]) -> str:
        sha = hashlib.sha1(f"{next(self.ids)}{message}".encode()).hexdigest()  # noqa: S324
        self.commits[sha] = {"message": message, "parent": parent, "files": dict(files)}
        return sha

    def files(self, ref: str) -> dict[str, str]:
        sha = self.refs.get(ref, ref)
        files: dict[str, str] = self.commits[sha]["files"]
        return files

    def _commit_json(self, sha: str, detail: bool = False) -> dict[str, Any]:
        c = self.commits[sha]
        out: dict[str, Any] = {
            "sha": sha,
            "url": f"{self.api}/commits/{sha}",
            "html_url": f"https://github.com/o/r/commit/{sha}",
            "commit": {
                "message": c["message"],
                "author": {"name": "mlops-glue", "email": "bot@example.com", "date": "2026-11-23T00:00:00Z"},
                "tree": {"sha": sha},
            },
            "parents": [{"sha": c["parent"], "url": f"{self.api}/commits/{c['parent']}"}]
            if c["parent"]
            else [],
        }
        if detail:
            before = self.commits[c["parent"]]["files"] if c["parent"] else {}
            changed = sorted(p for p in set(before) | set(c["files"]) if before.get(p) != c["files"].get(p))
            out["files"] = [{"filename": p, "status": "modified"} for p in changed]
        return out

    def _pr_json(self, pr: dict[str, Any]) -> dict[str, Any]:
        n = pr["number"]
        return {
            "number": n,
            "state": pr["state"],
            "title": pr["title"],
            "body": pr["body"],
            "url": f"{self.api}/pulls/{n}",
            "html_url": f"https://github.com/o/r/pull/{n}",
            "issue_url": f"{self.api}/issues/{n}",
            "head": {"ref": pr["head"], "sha": self.refs.get(pr["head"], "")},
            "base": {"ref": pr["base"]},
        }

    @staticmethod
    def _need(payload: dict[str, Any], **types: type) -> None:
        for key, t in types.items():
            assert isinstance(payload.get(key), t), f"GitHub requires {key!r} ({t.__name__}) in {payload}"

    def __call__(self, request: Request) -> Response:  # noqa: C901 — one branch per faked GitHub endpoint
        path, method = unquote(request.path), request.method
        self.log.append((method, path))
        body = json.loads(request.data) if request.data else {}
        q = request.args
        assert request.headers.get("Authorization") == "token t0ken", "every call is authenticated"

        def ok(data: Any, status: int = 200) -> Response:
            return Response(json.dumps(data), status, content_type="application/json")

        def err(status: int, message: str) -> Response:
            return ok({"message": message}, status)

        if method == "GET" and path == "/repos/o/r":
            return ok(
                {
                    "full_name": "o/r",
                    "name": "r",
                    "owner": {"login": "o"},
                    "url": self.api,
                    "default_branch": "main",
                }
            )
        if m := re.fullmatch(r"/repos/o/r/contents/(.+)", path):
            p = m.group(1)
            if method == "GET":
                files = self.files(q.get("ref", "main"))
                if p not in files:
                    return err(404, "Not Found")
                return ok(
                    {"type": "file", "encoding": "base64", "path": p, "name": p.rsplit("/", 1)[-1],
                     "sha": blob_sha(files[p]), "content": base64.b64encode(files[p].encode()).decode(),
                     "url": f"{self.api}/contents/{p}"}
                )  # fmt: skip
            if method == "PUT":
                self._need(body, message=str, content=str, sha=str, branch=str)
                branch = body["branch"]
                files = dict(self.files(branch))
                if self.stale_next_put or blob_sha(files.get(p, "")) != body["sha"]:
                    self.stale_next_put = max(0, self.stale_next_put - 1)
                    return err(409, f"{p} does not match {body['sha']}")
                files[p] = base64.b64decode(body["content"]).decode()
                sha = self._commit(body["message"], self.refs[branch], files)
                self.refs[branch] = sha
                return ok(
                    {"content": {"path": p, "sha": blob_sha(files[p])}, "commit": self._commit_json(sha)}
                )
        if (m := re.fullmatch(r"/repos/o/r/branches/(.+)", path)) and method == "GET":
            b = m.group(1)
            if b not in self.refs:
                return err(404, "Branch not found")
            return ok({"name": b, "commit": self._commit_json(self.refs[b])})
        if path == "/repos/o/r/git/refs" and method == "POST":
            self._need(body, ref=str, sha=str)
            name = body["ref"].removeprefix("refs/heads/")
            if name in self.refs:
                return err(422, "Reference already exists")
            self.refs[name] = body["sha"]
            return ok(
                {
                    "ref": body["ref"],
                    "url": f"{self.api}/git/refs/heads/{name}",
                    "object": {"sha": body["sha"]},
                },
                201,
            )
        if (m := re.fullmatch(r"/repos/o/r/git/ref/heads/(.+)", path)) and method == "GET":
            name = m.group(1)
            if name not in self.refs:
                return err(404, "Not Found")
            url = f"{self.api}/git/refs/heads/{name}"
            return ok({"ref": f"refs/heads/{name}", "url": url, "object": {"sha": self.refs[name]}})
        if (m := re.fullmatch(r"/repos/o/r/git/refs/heads/(.+)", path)) and method == "PATCH":
            self._need(body, sha=str)
            name, new = m.group(1), body["sha"]
            if self.commits[new]["parent"] != self.refs[name] and not body.get("force"):
                return err(422, "Update is not a fast forward")
            self.refs[name] = new
            return ok({"ref": f"refs/heads/{name}", "object": {"sha": new}})
        if (m := re.fullmatch(r"/repos/o/r/git/commits/(\w+)", path)) and method == "GET":
            sha = m.group(1)
            return ok(
                {
                    "sha": sha,
                    "url": f"{self.api}/git/commits/{sha}",
                    "tree": {"sha": sha, "url": f"{self.api}/git/trees/{sha}"},
                }
            )
        if path == "/repos/o/r/git/trees" and method == "POST":
            self._need(body, base_tree=str, tree=list)
            files = dict(self.commits[body["base_tree"]]["files"])
            for e in body["tree"]:
                assert e["mode"] == "100644" and e["type"] == "blob"
                if e.get("sha", "") is None:
                    files.pop(e["path"], None)
                else:
                    files[e["path"]] = e["content"]
            tid = f"tree{next(self.ids)}"
            self.trees[tid] = files
            return ok({"sha": tid, "url": f"{self.api}/git/trees/{tid}", "tree": []}, 201)
        if path == "/repos/o/r/git/commits" and method == "POST":
            self._need(body, message=str, tree=str, parents=list)
            sha = self._commit(body["message"], body["parents"][0], self.trees[body["tree"]])
            return ok({"sha": sha, "url": f"{self.api}/git/commits/{sha}"}, 201)
        if path == "/repos/o/r/commits" and method == "GET":
            start = q.get("sha", "main")  # a branch name or a commit sha, as GitHub accepts
            out, sha = [], self.refs.get(start) or next(c for c in self.commits if c.startswith(start))
            while sha:
                c = self.commits[sha]
                before = self.commits[c["parent"]]["files"] if c["parent"] else {}
                if "path" not in q or before.get(q["path"]) != c["files"].get(q["path"]):
                    out.append(self._commit_json(sha))
                sha = c["parent"]
            return ok(out)
        if (m := re.fullmatch(r"/repos/o/r/commits/(\w+)", path)) and method == "GET":
            sha = next((s for s in self.commits if s.startswith(m.group(1))), None)
            return ok(self._commit_json(sha, detail=True)) if sha else err(404, "No commit found")
        if path == "/repos/o/r/pulls" and method == "GET":
            prs = [
                p
                for p in self.pulls
                if p["state"] == q.get("state", "open") and p["base"] == q.get("base", p["base"])
            ]
            if "head" in q:
                owner, _, ref = q["head"].partition(":")
                assert owner == "o", "head must be owner:branch"
                prs = [p for p in prs if p["head"] == ref]
            return ok([self._pr_json(p) for p in prs])
        if path == "/repos/o/r/pulls" and method == "POST":
            self._need(body, title=str, head=str, base=str, body=str)
            if any(p["head"] == body["head"] and p["state"] == "open" for p in self.pulls):
                return err(422, "A pull request already exists")
            pr = {
                "number": len(self.pulls) + 1,
                "state": "open",
                **{k: body[k] for k in ("title", "body", "head", "base")},
            }
            self.pulls.append(pr)
            return ok(self._pr_json(pr), 201)
        if (m := re.fullmatch(r"/repos/o/r/pulls/(\d+)", path)) and method == "PATCH":
            pr = self.pulls[int(m.group(1)) - 1]
            fields = {"title", "body", "state", "base", "maintainer_can_modify"}
            assert set(body) <= fields, f"GitHub's update-a-pull-request takes {fields}, got {body}"
            assert body.get("state", "open") in ("open", "closed"), body
            pr.update({k: v for k, v in body.items() if k in ("state", "title", "body")})
            return ok(self._pr_json(pr))
        if (m := re.fullmatch(r"/repos/o/r/issues/(\d+)/comments", path)) and method == "POST":
            self._need(body, body=str)
            self.comments.append((int(m.group(1)), body["body"]))
            return ok({"id": len(self.comments), "body": body["body"]}, 201)
        raise AssertionError(f"unexpected GitHub call {method} {path}")
