"""GitOps repositories of the shapes teams have, behind both backends, for the shape tests.

``Backend`` seeds one repository with the given files and answers what a test asserts: the exact bytes
of a file on a branch, the head's commit message (trailers), the pull request's body and whether
anything was written at all. ``GitBackend`` is a real bare repository reached with the git backend;
``GitHubBackend`` the GitHub fake (requests checked against GitHub's REST reference) reached with PyGithub;
``GitLabBackend`` the bare repository over smart HTTP plus the GitLab fake (merge requests).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Protocol

from github_fake import FakeGitHub
from mlops_glue.adapters.gitops import GitOpsRepo
from mlops_glue.adapters.gitops_git import GitRepo
from mlops_glue.adapters.gitops_github import GitHubRepo, token_auth

HELM_VALUES = """\
# fraud-detection in production: the chart reads model.version as the image tag
model:
  name: fraud-detection
  version: "v2.3.1"   # set by the release pipeline
  threshold: 0.42
resources: {limits: {nvidia.com/gpu: 1}}
"""

APPLICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: fraud-detection-production
  namespace: argocd
spec:
  project: ml
  source:
    repoURL: https://charts.example.com
    chart: model-server
    targetRevision: 1.4.2
    helm:
      parameters:
        - name: image.repository
          value: registry.example.com/models/fraud-detection
        - name: model.version
          value: "v3"
        - name: replicas
          value: "2"
  destination: {server: https://kubernetes.default.svc, namespace: fraud}
"""

VALUES_OBJECT = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: fraud-detection-staging
spec:
  source:
    helm:
      valuesObject:
        model:
          version: 3  # integer, as the chart expects
          uri: models:/fraud-detection/3
"""

DEPLOYMENT = """\
apiVersion: apps/v1\r
kind: Deployment\r
metadata:\r
  name: fraud-detection\r
spec:\r
  template:\r
    spec:\r
      containers:\r
        - name: proxy\r
          image: envoyproxy/envoy:v1.31.0\r
        - name: model\r
          image: registry.example.com:5000/models/fraud-detection:v3  # mlops-glue\r
---\r
apiVersion: v1\r
kind: Service\r
metadata:\r
  name: fraud-detection\r
spec:\r
  ports: [{port: 80, targetPort: 8080}]\r
"""

DIGEST_OLD = "sha256:" + "a" * 64
DIGEST_NEW = "sha256:" + "b" * 64
PINNED = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: fraud-detection
spec:
  template:
    spec:
      containers:
        - name: model
          image: 'registry.example.com/models/fraud-detection:v3@{DIGEST_OLD}'
"""

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: models/fraud-detection
    newName: registry.example.com/models/fraud-detection
    newTag: v3
  - name: envoyproxy/envoy
    newTag: v1.31.0
"""

APPLICATION_SET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: models
spec:
  generators:
    - list:
        elements:
          - model: churn
            version: "7"
          - model: fraud-detection
            version: "3"
          - model: ltv
            version: "12"
  template:
    metadata:
      name: '{{model}}'
    spec:
      source:
        helm:
          parameters:
            - name: model.version
              value: '{{version}}'
"""


class Backend(Protocol):
    repo: GitOpsRepo

    def file(self, path: str, ref: str = "main") -> str: ...
    def message(self, ref: str = "main") -> str: ...
    def pr_body(self, branch: str) -> str: ...
    def state(self) -> Any: ...


class GitBackend:
    """A real bare repository seeded with ``files``, reached with the git backend."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.bare = root / "gitops.git"
        work = root / "seed"
        self._git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        self._git(root, "clone", "--quiet", str(self.bare), str(work))
        for path, text in files.items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_bytes(text.encode())
        self._git(work, "add", "-A")
        self._git(work, "-c", "user.name=Dana", "-c", "user.email=dana@example.com", "commit", "-qm", "seed")
        self._git(work, "push", "--quiet", "origin", "HEAD:main")
        self.repo = GitRepo(str(self.bare), "main")

    @staticmethod
    def _git(cwd: Path, *args: str) -> bytes:
        return subprocess.run(
            ["git", "-c", "core.autocrlf=false", *args], cwd=cwd, check=True, capture_output=True
        ).stdout

    def file(self, path: str, ref: str = "main") -> str:
        return self._git(self.bare, "show", f"{ref}:{path}").decode()

    def message(self, ref: str = "main") -> str:
        return self._git(self.bare, "log", "-1", "--format=%B", ref).decode().rstrip("\n")

    def pr_body(self, branch: str) -> str:
        return self.message(branch)  # plain git: the change request is the branch, its body the message

    def state(self) -> Any:
        return self._git(self.bare, "for-each-ref").decode()


class GitLabBackend(GitBackend):
    """The same bare repository behind git http-backend (basic auth), merge requests through the GitLab fake."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        from gitlab_fake import start_gitlab_fake
        from gitops_fixtures import TOKEN
        from mlops_glue.adapters.gitops_gitlab import GitLabRepo

        from glue_local.git_http import GitHttpServer

        super().__init__(root, files)
        self.server = GitHttpServer(root, TOKEN).start()
        self.fake = start_gitlab_fake(self.bare, TOKEN)
        self.repo = GitLabRepo(
            "ml/deploy", url=self.fake.url, remote=self.server.repo_url(), token=TOKEN, throttle=False
        )

    def pr_body(self, branch: str) -> str:
        [mr] = [m for m in self.fake.mrs if m["source_branch"] == branch]
        return str(mr["description"])

    def state(self) -> Any:
        return super().state(), len(self.fake.mrs)

    def stop(self) -> None:
        self.server.stop()
        self.fake.stop()


class GitHubBackend:
    """The GitHub fake seeded with ``files``, reached with PyGithub."""

    def __init__(self, base: str, files: dict[str, str]) -> None:
        self.gh = FakeGitHub(base, files)
        self.repo = GitHubRepo("o/r", "main", auth=token_auth("t0ken"), base_url=base, throttle=False)

    def file(self, path: str, ref: str = "main") -> str:
        return self.gh.files(ref)[path]

    def message(self, ref: str = "main") -> str:
        return str(self.gh.commits[self.gh.refs[ref]]["message"])

    def pr_body(self, branch: str) -> str:
        [pr] = [p for p in self.gh.pulls if p["head"] == branch]
        return str(pr["body"])

    def state(self) -> Any:
        return dict(self.gh.refs), len(self.gh.commits), len(self.gh.pulls)
