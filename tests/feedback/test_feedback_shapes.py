"""Deployment feedback on a realistic repository: staging as a Deployment image tag, production as an Argo CD
Application helm parameter, both written through value templates (``v{version}``).

The feedback flow must read which MLflow version an environment runs through the same targets the
promotion wrote (our trailers, the template read back), and its auto-promotion must write the
production target, not a ``model.version`` key the repository does not have.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from argocd_render import application, body
from gitops_shapes import APPLICATION, DEPLOYMENT, GitBackend
from mlops_glue.adapters.gitops import parse_trailers
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import parse_config
from mlops_glue.decisions.feedback import parse_notification
from mlops_glue.records import Kind, Outcome
from mlops_glue.services.feedback import FeedbackResult, build_feedback_service
from mlops_glue.services.promotion import PromotionService

DEPLOY = "k8s/fraud-detection/staging.yaml"
APP = "apps/fraud-detection-production.yaml"
CONFIG = f"""
models:
  fraud-detection:
    promote:
      environments:
        staging:
          file: {DEPLOY}
          document: {{kind: Deployment, name: fraud-detection}}
          key: spec.template.spec.containers[name=model].image
          image: tag
          value: "v{{version}}"
          argocd_app: fraud-detection-staging
        production:
          mode: pull_request
          argocd_app: fraud-detection-production
          targets:
            - file: {APP}
              document: {{kind: Application, name: fraud-detection-production}}
              path: spec.source.helm.parameters[name=model.version].value
              value: "v{{version}}"
      auto_rollback: true
      auto_promote: {{staging: production}}
gitops: {{backend: git, repo: unused}}
"""


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.backend = GitBackend(tmp_path, {DEPLOY: DEPLOYMENT, APP: APPLICATION})
        self.config = parse_config(CONFIG)
        self.registry = MemoryRegistry()
        for v in range(1, 20):
            self.registry.add(ModelVersion("fraud-detection", str(v), f"run-{v}"), {})
        self.store, self.notifier = MemoryStateStore(), MemoryNotifier()
        repo = self.backend.repo
        self.promotion = PromotionService(self.config, self.store, repo, self.registry, self.notifier)
        self.feedback = build_feedback_service(self.config, self.store, repo, self.registry, self.notifier)

    def bump(self, version: str) -> str:
        d = self.promotion.promote("fraud-detection", version, "staging", reason="test", inputs=[version])
        assert d.outcome is Outcome.ACTED, d.reasons
        return d.action["commit"]

    def notify(self, trigger: str, revision: str, **kw: str) -> FeedbackResult:
        app = application(name="fraud-detection-staging", revision=revision, **kw)
        return self.feedback.handle(parse_notification(body(trigger, app)))

    def image(self, ref: str = "main") -> str:
        line = next(x for x in self.backend.file(DEPLOY, ref).splitlines() if "fraud-detection:" in x)
        return line.split("fraud-detection:")[1].split()[0]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_live_in_staging_opens_the_production_pull_request_on_the_application(world: World) -> None:
    bump = world.bump("12")
    assert world.image() == "v12"

    d = world.notify("on-deployed", bump).decision

    assert d.outcome is Outcome.ACTED and "v12 is live in staging" in d.reasons[0]
    branch = d.action["promotion_branch"]
    assert world.backend.file(APP, branch) == APPLICATION.replace('value: "v3"', 'value: "v12"')
    assert world.backend.file(APP) == APPLICATION  # the review decides
    assert parse_trailers(world.backend.message(branch))["Glue-Version"] == "12"


def test_degraded_reverts_to_the_image_tag_before_our_bump(world: World) -> None:
    world.bump("12")
    bad = world.bump("13")

    d = world.notify("on-health-degraded", bad, health="Degraded").decision

    assert d.kind is Kind.ROLLBACK and d.outcome is Outcome.ACTED, d.reasons
    assert world.image() == "v12"
    assert d.evidence["restored_version"] == "12"
    assert world.backend.file(DEPLOY).replace("v12  #", "v3  #") == DEPLOYMENT  # only the tag moved back


def test_a_human_retag_after_our_bump_pauses_automation(world: World, tmp_path: Path) -> None:
    ours = world.bump("12")
    work = tmp_path / "human"
    GitBackend._git(tmp_path, "clone", "--quiet", str(world.backend.bare), str(work))
    (work / DEPLOY).write_bytes(world.backend.file(DEPLOY).replace(":v12", ":v11").encode())
    GitBackend._git(work, "-c", "user.name=Dana", "-c", "user.email=d@x", "commit", "-qam", "pin v11 by hand")
    GitBackend._git(work, "push", "--quiet", "origin", "HEAD:main")

    d = world.notify("on-deployed", ours).decision

    assert "changed the version from our v12 to v11" in " ".join(d.reasons), d.reasons
