"""Promotion on the repository shapes GitOps teams use, through the real git backend and the GitHub fake.

Each test seeds a repository with one realistic file, promotes through ``PromotionService`` and
asserts the exact bytes of the result, the commit trailers, and (for pull requests) the diff in the body.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gitops_shapes import (
    APPLICATION,
    APPLICATION_SET,
    DEPLOYMENT,
    DIGEST_NEW,
    DIGEST_OLD,
    HELM_VALUES,
    KUSTOMIZATION,
    PINNED,
    VALUES_OBJECT,
    Backend,
    GitBackend,
    GitHubBackend,
    GitLabBackend,
)
from mlops_glue.adapters.gitops import parse_trailers
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
from mlops_glue.adapters.slack import MemoryNotifier
from mlops_glue.adapters.state import MemoryStateStore
from mlops_glue.config import ConfigError, parse_config
from mlops_glue.records import Decision, Outcome
from mlops_glue.services.promotion import PromotionService
from pytest_httpserver import HTTPServer

MODEL = "fraud-detection"
STAGING = "models/fraud-detection/values-staging.yaml"
PRODUCTION = "models/fraud-detection/values-production.yaml"


class Flow:
    """One backend, one configuration, the in-memory registry, state and Slack."""

    def __init__(self, backend: Backend, environments: str) -> None:
        self.backend = backend
        self.config = parse_config(
            "models:\n"
            f"  {MODEL}:\n"
            "    promote:\n"
            "      gate: {metrics: {val_auc: {min: 0.8}}, must_beat: null}\n"
            "      environments:\n"
            + textwrap.indent(textwrap.dedent(environments), " " * 8)
            + '    notify: {slack_channel: "#ml"}\n'
            "gitops: {backend: git, repo: unused}\n"
        )
        self.registry = MemoryRegistry()
        self.slack = MemoryNotifier()
        self.service = PromotionService(
            self.config, MemoryStateStore(), backend.repo, self.registry, self.slack
        )

    def version(self, v: str, **tags: str) -> None:
        self.registry.add(
            ModelVersion(MODEL, v, f"run{v}", dict(tags), source=f"s3://models/{MODEL}/{v}"), {"val_auc": 0.9}
        )

    def gate(self, v: str, **tags: str) -> Decision:
        self.version(v, **tags)
        return self.service.gate(MODEL, v, inputs=[f"delivery-{v}"])

    def promote(self, v: str, env: str = "production", **tags: str) -> Decision:
        self.version(v, **tags)
        return self.service.promote(MODEL, v, env, reason="alias champion set", inputs=[f"delivery-{v}"])

    def tags(self, v: str) -> dict[str, str]:
        return self.registry.tags[(MODEL, v)]

    def said(self) -> str:
        return "\n".join(str(m.blocks) for m in self.slack.messages)


Make = Callable[[dict[str, str], str], Flow]


@pytest.fixture(params=["git", "github", "gitlab"])
def make(request: pytest.FixtureRequest, tmp_path: Path, httpserver: HTTPServer) -> Iterator[Make]:
    started: list[GitLabBackend] = []

    def build(files: dict[str, str], environments: str) -> Flow:
        if request.param == "git":
            backend: Backend = GitBackend(tmp_path, files)
        elif request.param == "gitlab":
            backend = GitLabBackend(tmp_path, files)
            started.append(backend)
        else:
            import re

            gh = GitHubBackend(httpserver.url_for("").rstrip("/"), files)
            httpserver.expect_request(re.compile(".*")).respond_with_handler(gh.gh)
            backend = gh
        return Flow(backend, environments)

    yield build
    for b in started:
        b.stop()


def trailers(flow: Flow, ref: str = "main") -> dict[str, str]:
    return parse_trailers(flow.backend.message(ref))


def ours(d: Decision, env: str, version: str) -> dict[str, str]:
    return {
        "Glue-Decision-Id": d.decision_id,
        "Glue-Model": MODEL,
        "Glue-Version": version,
        "Glue-Environment": env,
    }


# ---------------------------------------------------------------------------------------------- shapes
def test_helm_values_with_v_tags_no_longer_skip_silently(make: Make) -> None:
    """The finding: 'v2.3.1' > '4' as strings skipped v4 with no notice; now it commits v2.3.1 → v4."""
    flow = make({STAGING: HELM_VALUES}, "staging: {key: model.version, value: 'v{version}'}\n")

    d = flow.gate("4")

    assert d.outcome is Outcome.ACTED, d.reasons
    assert flow.backend.file(STAGING) == HELM_VALUES.replace('"v2.3.1"', '"v4"')
    assert trailers(flow) == ours(d, "staging", "4")
    assert f"{STAGING}: model.version: v2.3.1 → v4" in d.reasons
    assert "v2.3.1 → v4" in flow.said() and "bumped in *staging*" in flow.said()
    assert flow.tags("4")["deployment_status.staging"] == "committed"


def test_helm_values_from_a_registry_tag_in_a_pull_request_with_the_diff(make: Make) -> None:
    flow = make(
        {PRODUCTION: HELM_VALUES},
        "production: {key: model.version, value: '{tags.image_tag}', mode: pull_request}\n",
    )

    d = flow.promote("5", image_tag="2026.11.30-3f2a")

    assert d.outcome is Outcome.ACTED, d.reasons
    branch = d.action["branch"]
    assert flow.backend.file(PRODUCTION) == HELM_VALUES  # the base waits for the review
    assert flow.backend.file(PRODUCTION, branch) == HELM_VALUES.replace('"v2.3.1"', '"2026.11.30-3f2a"')
    assert trailers(flow, branch) == ours(d, "production", "5")
    body = flow.backend.pr_body(branch)
    assert f"--- a/{PRODUCTION}\n+++ b/{PRODUCTION}\n" in body
    assert (
        '-  version: "v2.3.1"   # set by the release pipeline\n'
        '+  version: "2026.11.30-3f2a"   # set by the release pipeline\n'
    ) in body
    assert flow.tags("5")["deployment_status.production"] == "pull_request"


def test_argocd_application_helm_parameter(make: Make) -> None:
    app = "apps/fraud-detection-production.yaml"
    flow = make(
        {app: APPLICATION},
        f"""\
        production:
          mode: pull_request
          targets:
            - file: {app}
              document: {{kind: Application, name: fraud-detection-production}}
              path: spec.source.helm.parameters[name=model.version].value
              value: v{{version}}
        """,
    )

    d = flow.promote("4")

    branch = d.action["branch"]
    assert flow.backend.file(app, branch) == APPLICATION.replace('value: "v3"', 'value: "v4"')
    assert trailers(flow, branch) == ours(d, "production", "4")
    body = flow.backend.pr_body(branch)
    assert '-          value: "v3"\n+          value: "v4"\n' in body
    assert "spec.source.helm.parameters[name=model.version].value" in body


def test_argocd_application_values_object_two_targets_in_one_file(make: Make) -> None:
    app = "apps/fraud-detection-staging.yaml"
    flow = make(
        {app: VALUES_OBJECT},
        f"""\
        staging:
          targets:
            - {{file: {app}, path: spec.source.helm.valuesObject.model.version}}
            - {{file: {app}, path: spec.source.helm.valuesObject.model.uri, value: "models:/{{model}}/{{version}}"}}
        """,
    )

    d = flow.gate("4")

    assert d.outcome is Outcome.ACTED, d.reasons
    assert flow.backend.file(app) == VALUES_OBJECT.replace("version: 3  #", "version: 4  #").replace(
        "uri: models:/fraud-detection/3", "uri: models:/fraud-detection/4"
    )
    assert trailers(flow) == ours(d, "staging", "4")


def test_deployment_and_service_container_selected_by_name_tag_only(make: Make) -> None:
    path = "k8s/fraud-detection/staging.yaml"
    flow = make(
        {path: DEPLOYMENT},
        f"""\
        staging:
          file: {path}
          document: {{kind: Deployment, name: fraud-detection}}
          key: spec.template.spec.containers[name=model].image
          image: tag
          value: "v{{version}}"
        """,
    )

    d = flow.gate("4")

    assert d.outcome is Outcome.ACTED, d.reasons
    # CRLF, the registry's port, the comment, the proxy container and the Service: untouched
    assert flow.backend.file(path) == DEPLOYMENT.replace("fraud-detection:v3  #", "fraud-detection:v4  #")
    assert trailers(flow) == ours(d, "staging", "4")


def test_pinned_image_digest_edit_keeps_repository_and_tag(make: Make) -> None:
    path = "k8s/fraud-detection/production.yaml"
    flow = make(
        {path: PINNED},
        f"""\
        production:
          file: {path}
          key: spec.template.spec.containers[name=model].image
          image: digest
          value: "{{tags.image_digest}}"
        """,
    )

    d = flow.promote("4", image_digest=DIGEST_NEW)

    branch = d.action["branch"]
    assert flow.backend.file(path, branch) == PINNED.replace(DIGEST_OLD, DIGEST_NEW)
    assert trailers(flow, branch) == ours(d, "production", "4")
    assert (
        f"-          image: 'registry.example.com/models/fraud-detection:v3@{DIGEST_OLD}'\n"
        in flow.backend.pr_body(branch)
    )


def test_kustomize_images_new_tag(make: Make) -> None:
    path = "overlays/staging/kustomization.yaml"
    flow = make(
        {path: KUSTOMIZATION},
        f"staging: {{file: {path}, key: 'images[name=models/fraud-detection].newTag', value: 'v{{version}}'}}\n",
    )

    d = flow.gate("4")

    assert d.outcome is Outcome.ACTED, d.reasons
    assert flow.backend.file(path) == KUSTOMIZATION.replace("newTag: v3", "newTag: v4")
    assert trailers(flow) == ours(d, "staging", "4")


def test_applicationset_list_element_leaves_the_other_models_untouched(make: Make) -> None:
    path = "appsets/models.yaml"
    flow = make(
        {path: APPLICATION_SET},
        f"staging: {{file: {path}, key: 'spec.generators[0].list.elements[model=fraud-detection].version'}}\n",
    )

    d = flow.gate("4")

    assert d.outcome is Outcome.ACTED, d.reasons
    assert flow.backend.file(path) == APPLICATION_SET.replace('version: "3"', 'version: "4"')
    assert trailers(flow) == ours(d, "staging", "4")


@pytest.mark.parametrize("mode", ["commit", "pull_request"])
def test_two_files_change_in_one_commit(make: Make, mode: str) -> None:
    app, kust = "apps/fraud-detection-production.yaml", "overlays/production/kustomization.yaml"
    flow = make(
        {app: APPLICATION, kust: KUSTOMIZATION},
        f"""\
        production:
          mode: {mode}
          targets:
            - {{file: {app}, path: "spec.source.helm.parameters[name=model.version].value", value: "v{{version}}"}}
            - {{file: {kust}, path: "images[name=models/fraud-detection].newTag", value: "v{{version}}"}}
        """,
    )
    before = flow.backend.message()

    d = flow.promote("4")

    assert d.outcome is Outcome.ACTED, d.reasons
    ref = d.action.get("branch", "main")
    assert flow.backend.file(app, ref) == APPLICATION.replace('value: "v3"', 'value: "v4"')
    assert flow.backend.file(kust, ref) == KUSTOMIZATION.replace("newTag: v3", "newTag: v4")
    assert trailers(flow, ref) == ours(d, "production", "4")
    assert "seed" in before and d.action["file"] == f"{app}, {kust}"
    commit = flow.backend.repo.last_commit_touching(app) if mode == "commit" else None
    if commit is not None:  # one commit holds both files
        assert sorted(commit.files) == sorted([app, kust])


# ---------------------------------------------------------------------------------------------- ordering
@pytest.mark.parametrize(
    ("seed", "template", "older", "newer", "written"),
    [
        ("version: v2.9.0\n", "v2.{version}.0", "9", "10", "version: v2.10.0\n"),
        ("version: 9\n", "{version}", "9", "10", "version: 10\n"),
    ],
)
def test_versions_are_ordered_as_mlflow_numbers(
    make: Make, seed: str, template: str, older: str, newer: str, written: str
) -> None:
    flow = make({STAGING: seed}, f"staging: {{key: version, value: '{template}'}}\n")

    up = flow.gate(newer)
    late = flow.gate(older)  # an out-of-order delivery of the older version

    assert up.outcome is Outcome.ACTED and flow.backend.file(STAGING) == written
    assert (
        late.outcome is Outcome.IGNORED
        and f"staging already runs v{newer}, newer than v{older}" in late.reasons
    )
    assert flow.tags(older)["deployment_status.staging"] == "not_deployed"
    assert "newer than v" in flow.tags(older)["deployment_reason.staging"]
    assert f"v{older}" in flow.said() and "not promoted" in flow.said()


def test_read_back_orders_a_human_written_value_without_our_trailers(make: Make) -> None:
    flow = make({STAGING: "version: v12\n"}, "staging: {key: version, value: 'v{version}'}\n")

    d = flow.gate("11")

    assert d.outcome is Outcome.IGNORED and "staging already runs v12, newer than v11" in d.reasons


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("files", "environment", "tags", "outcome", "message"),
    [
        (
            {"app.yaml": APPLICATION},
            "{file: app.yaml, key: 'spec.source.helm.parameterz[name=model.version].value'}",
            {},
            Outcome.FAILED,
            "app.yaml: key spec.source.helm.parameterz not found",
        ),
        (
            {"set.yaml": APPLICATION_SET},
            "{file: set.yaml, key: 'spec.generators[3].list.elements[model=fraud-detection].version'}",
            {},
            Outcome.FAILED,
            "set.yaml: spec.generators[3]: index 3 is out of range (spec.generators has 1 items)",
        ),
        (
            {"set.yaml": APPLICATION_SET.replace("model: ltv", "model: fraud-detection")},
            "{file: set.yaml, key: 'spec.generators[0].list.elements[model=fraud-detection].version'}",
            {},
            Outcome.FAILED,
            "set.yaml: spec.generators[0].list.elements[model=fraud-detection]: 2 items of "
            "spec.generators[0].list.elements match",
        ),
        (
            {"values.yaml": HELM_VALUES},
            "{file: values.yaml, key: model.version, value: '{tags.image_tag}'}",
            {},
            Outcome.REJECTED,
            "tag 'image_tag' is not set",
        ),
        (
            {"values.yaml": 'model:\n  version: &v "v3"\ncanary:\n  version: *v\n'},
            "{file: values.yaml, key: model.version}",
            {},
            Outcome.FAILED,
            "values.yaml: model.version carries anchor &v",
        ),
        (
            {"values.yaml": "model:\n  version: {{ .Values.tag }\n"},
            "{file: values.yaml, key: model.version}",
            {},
            Outcome.FAILED,
            "values.yaml is not valid YAML",
        ),
        (
            {"values.yaml": HELM_VALUES},
            "{file: models/elsewhere.yaml, key: model.version}",
            {},
            Outcome.FAILED,
            "models/elsewhere.yaml does not exist",
        ),
    ],
    ids=["path", "index", "two-match", "tag", "anchor", "not-yaml", "missing-file"],
)
def test_bad_targets_are_refused_with_file_and_segment_and_nothing_is_written(
    make: Make, files: dict[str, str], environment: str, tags: dict[str, str], outcome: Outcome, message: str
) -> None:
    flow = make(files, f"staging: {environment}\n")
    before = flow.backend.state()

    d = flow.gate("4", **tags)

    assert d.outcome is outcome and message in " ".join(d.reasons), d.reasons
    assert "retryable" not in d.evidence  # bad input is never retried
    assert flow.backend.state() == before
    assert flow.tags("4")["deployment_status.staging"] in ("not_deployed", "failed")
    assert message in flow.tags("4")["deployment_reason.staging"]
    assert flow.slack.messages, "a promotion that does not happen is noticed"


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ("{key: 'spec..version'}", "staging.key"),
        ("{key: 'items[name=]'}", "the value to match is empty"),
        ("{value: '{build_id}'}", "unknown placeholder {build_id}"),
        ("{value: '{version:>5}'}", "takes no format spec"),
        ("{targets: [{path: a}], key: b}", "use either targets or key"),
        ("{file: ../../etc/passwd}", "must stay inside the repository"),
        ("{targets: [{path: 'x[0'}]}", "is never closed"),
    ],
)
def test_target_syntax_errors_fail_when_the_configuration_loads(environment: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"promote\.environments\.staging") as err:
        parse_config(f"models:\n  m:\n    promote:\n      environments:\n        staging: {environment}\n")
    assert message in str(err.value)
