"""A local GitOps remote: a bare repository seeded with ``models/<model>/values-<env>.yaml``.

Shared by the demo and the tests (``tests/gitops_fixtures.py`` re-exports these helpers). The seeded
values files carry comments, an anchor and a merge key, so every bump shows that only the one scalar
changes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# resolved once, so the tests can strip git from PATH for the backend under test (which never calls it)
GIT = shutil.which("git") or "/usr/bin/git"

MODELS = ("fraud-detection", "churn")
BRANCH = "main"
STAGING_VERSION = "1"
PRODUCTION_VERSION = "1"

VALUES_TEMPLATE = """\
# Values for {model} in {env} — managed by mlops-glue (model.version) and by humans (the rest).
defaults: &defaults
  replicas: 2   # keep two for the PDB
  resources:
    limits: {{cpu: "1", memory: 2Gi}}

model:
  name: {model}
  # bumped by mlops-glue; everything else is left alone
  version: {version}
  uri: 'models:/{model}/{version}'

serving:
  <<: *defaults
  port: 8080
"""


APPLICATION_TEMPLATE = """\
# Argo CD Application for {model} in {env}: the chart takes the model's image tag as a Helm parameter.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {model}-{env}
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
          value: registry.example.com/models/{model}
        - name: model.version
          value: "v{version}"   # written by mlops-glue
  destination: {{server: https://kubernetes.default.svc, namespace: {model}}}
"""


def application_path(model: str, env: str) -> str:
    """Where the demo keeps the Argo CD Application of ``model`` in ``env``."""
    return f"apps/{model}-{env}.yaml"


def application_text(model: str, env: str, version: str) -> str:
    """An Argo CD Application whose Helm parameter ``model.version`` holds ``v<version>``."""
    return APPLICATION_TEMPLATE.format(model=model, env=env, version=version)


def values_text(model: str, env: str, version: str) -> str:
    """The seeded values file of ``model`` in ``env`` at ``version``."""
    return VALUES_TEMPLATE.format(model=model, env=env, version=version)


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (a human author, fixed) and return its stdout."""
    proc = subprocess.run(
        [GIT, "-c", "user.name=Test Human", "-c", "user.email=human@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def seed_bare_repo(
    root: Path,
    models: tuple[str, ...] = MODELS,
    extra: dict[str, str] | None = None,
    versions: tuple[str, str] = (STAGING_VERSION, PRODUCTION_VERSION),
) -> Path:
    """Create ``root/gitops.git`` (bare) with one commit on ``main``; return the bare repo's path.

    ``versions``: the seeded ``model.version`` of staging and production.
    """
    bare = root / "gitops.git"
    work = root / "seed"
    git(root, "init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(bare))
    git(root, "init", "--quiet", f"--initial-branch={BRANCH}", str(work))
    for model in models:
        for env, version in zip(("staging", "production"), versions, strict=True):
            f = work / "models" / model / f"values-{env}.yaml"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(values_text(model, env, version), encoding="utf-8")
    for rel, text in (extra or {}).items():
        f = work / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text, encoding="utf-8")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "Seed the GitOps repository")
    git(work, "push", "--quiet", str(bare), f"{BRANCH}:{BRANCH}")
    return bare


def bare_file(bare: Path, path: str, ref: str = BRANCH) -> str:
    """A file's text in the bare repo at ``ref`` (what Argo CD would sync)."""
    return git(bare, "show", f"{ref}:{path}")


def bare_log(bare: Path, ref: str = BRANCH) -> list[str]:
    """Commit subjects on ``ref``, newest first."""
    return git(bare, "log", "--format=%s", ref).splitlines()


def bare_branches(bare: Path) -> list[str]:
    """Branch names in the bare repo."""
    return git(bare, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()
