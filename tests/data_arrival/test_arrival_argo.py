"""ArgoRestSubmitter against an HTTP fake of the Argo server; every request body is checked against the
Argo Workflows swagger (WorkflowSubmitRequest, closed: an unknown field fails)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from arrival_helpers import MODEL, make_config
from mlops_glue.adapters.argo import (
    ArgoConflictError,
    ArgoRejectedError,
    ArgoRestSubmitter,
    ArgoUnavailableError,
)
from mlops_glue.adapters.secrets import StaticSecrets
from mlops_glue.records import Decision, Kind, Outcome
from mlops_glue.services.training import build_submission, submit_training, workflow_name
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from glue_local.argo_api import validate

NS = "ml-pipelines"
PATH = f"/api/v1/workflows/{NS}/submit"
ONE_WORKFLOW = re.compile(rf"^/api/v1/workflows/{NS}/(?!submit$)[^/]+$")  # GET one workflow by name


def decision() -> Decision:
    return Decision(
        decision_id="d-0123456789abcdef0123",
        model=MODEL,
        kind=Kind.RETRAIN,
        outcome=Outcome.ACTED,
        reasons=["12,000 new rows in 40 files ≥ min_new_rows 10,000"],
        evidence={"trigger": "rows"},
        config_hash="cafe",
    )


def labels_of(body: dict[str, Any]) -> dict[str, str]:
    text = body["submitOptions"].get("labels", "")
    return dict(p.split("=", 1) for p in text.split(",") if p)


class ArgoFake:
    """Answers from a script of statuses, records and validates every submit body; serves the
    workflows it created back on ``GET /api/v1/workflows/{ns}/{name}`` (with their labels)."""

    def __init__(self, server: HTTPServer, script: list[int]) -> None:
        self.script, self.bodies, self.auth = list(script), [], []  # type: ignore[var-annotated]
        self.created: set[str] = set()
        self.labels: dict[str, dict[str, str]] = {}
        server.expect_request(PATH, method="POST").respond_with_handler(self)
        server.expect_request(ONE_WORKFLOW, method="GET").respond_with_handler(self.get)
        self.server = server

    def get(self, request: Request) -> Response:
        name = request.path.rsplit("/", 1)[1]
        if name not in self.labels:
            return Response(json.dumps({"code": 5, "message": "not found"}), 404)
        meta = {"name": name, "namespace": NS, "labels": self.labels[name]}
        return Response(json.dumps({"metadata": meta}), 200, content_type="application/json")

    def __call__(self, request: Request) -> Response:
        body = json.loads(request.data)
        validate("WorkflowSubmitRequest", body)
        self.bodies.append(body)
        self.auth.append(request.headers.get("Authorization"))
        status = self.script.pop(0) if self.script else 200
        name = body["submitOptions"]["name"]
        if status == 200 and name in self.created:
            status = 409
        if status in (200, 201):
            self.created.add(name)
            self.labels[name] = labels_of(body)
            return Response(
                json.dumps({"metadata": {"name": name, "namespace": NS}}),
                200,
                content_type="application/json",
            )
        if status == 409:
            msg = f'workflows.argoproj.io "{name}" already exists'
            return Response(json.dumps({"code": 6, "message": msg}), 409, content_type="application/json")
        return Response(
            json.dumps({"code": 13, "message": f"injected {status}"}), status, content_type="application/json"
        )


def submitter(server: HTTPServer, **kw: Any) -> ArgoRestSubmitter:
    return ArgoRestSubmitter(
        server.url_for(""),
        token_secret="argo/token",
        secrets=StaticSecrets({"argo/token": "v2:secret-token"}),
        backoff_factor=0.0,
        **kw,
    )


def submit(s: ArgoRestSubmitter) -> Any:
    cfg = make_config()
    return submit_training(
        decision(),
        cfg.model(MODEL),
        dataset_manifest_uri="s3://b/m.json",
        priority=5,
        submitter=s,
        argo=cfg.argo,
    )


def test_submit_body_is_a_valid_workflow_submit_request(httpserver: HTTPServer) -> None:
    fake = ArgoFake(httpserver, [200])
    got = submit(submitter(httpserver))
    assert got.created and got.name == workflow_name(decision()) == "retrain-d-0123456789abcdef0123"
    (body,) = fake.bodies
    assert body["resourceKind"] == "WorkflowTemplate" and body["resourceName"] == "training-pipeline"
    opts = body["submitOptions"]
    assert opts["name"] == got.name and opts["priority"] == 5
    assert "decision-id=d-0123456789abcdef0123" in opts["parameters"]
    assert "dataset-manifest=s3://b/m.json" in opts["parameters"]
    assert "mlops-glue/decision-id=d-0123456789abcdef0123" in opts["labels"].split(",")
    assert "mlops-glue/decision-id=d-0123456789abcdef0123" in opts["annotations"].split(",")
    assert fake.auth == ["Bearer v2:secret-token"]


def test_5xx_then_success_gives_one_workflow(httpserver: HTTPServer) -> None:
    fake = ArgoFake(httpserver, [503, 502, 200])
    got = submit(submitter(httpserver))
    assert got.created and len(fake.bodies) == 3 and fake.created == {got.name}


def test_timeout_after_the_server_created_it_counts_as_success(httpserver: HTTPServer) -> None:
    created: dict[str, dict[str, str]] = {}
    reads: list[str] = []

    def slow_then_exists(request: Request) -> Response:
        body = json.loads(request.data)
        validate("WorkflowSubmitRequest", body)
        name = body["submitOptions"]["name"]
        if not created:
            created[name] = labels_of(body)  # the server creates it, then the answer is too late
            import time

            time.sleep(0.6)
            return Response("{}", 200)
        return Response(json.dumps({"code": 6, "message": f"{name} already exists"}), 409)

    def read_back(request: Request) -> Response:
        name = request.path.rsplit("/", 1)[1]
        reads.append(name)
        return Response(json.dumps({"metadata": {"name": name, "labels": created[name]}}), 200)

    httpserver.expect_request(PATH, method="POST").respond_with_handler(slow_then_exists)
    httpserver.expect_request(ONE_WORKFLOW, method="GET").respond_with_handler(read_back)
    got = submit(submitter(httpserver, timeout=0.2))
    assert not got.created and list(created) == [got.name]
    assert reads == [got.name]  # "already exists" was confirmed by reading the workflow back


def test_a_409_for_a_workflow_that_is_not_ours_is_a_conflict_not_a_success(httpserver: HTTPServer) -> None:
    name = workflow_name(decision())
    foreign = {"mlops-glue/decision-id": "d-someoneelse", "mlops-glue/model": MODEL}
    answers = {"labels": foreign}

    def exists(request: Request) -> Response:
        return Response(json.dumps({"code": 6, "message": f"{name} already exists"}), 409)

    def read_back(request: Request) -> Response:
        if answers["labels"] is None:
            return Response(json.dumps({"code": 5, "message": "not found"}), 404)
        return Response(json.dumps({"metadata": {"name": name, "labels": answers["labels"]}}), 200)

    httpserver.expect_request(PATH, method="POST").respond_with_handler(exists)
    httpserver.expect_request(f"/api/v1/workflows/{NS}/{name}", method="GET").respond_with_handler(read_back)
    with pytest.raises(ArgoConflictError, match="d-someoneelse") as err:
        submit(submitter(httpserver))
    assert isinstance(err.value, ArgoRejectedError)  # recorded and alerted, never retried as if submitted
    answers["labels"] = None  # a 409 (a webhook, a quota) while no workflow of that name exists
    with pytest.raises(ArgoConflictError, match="no workflow of that name exists"):
        submit(submitter(httpserver))


def test_4xx_is_a_clear_error_without_retries(httpserver: HTTPServer) -> None:
    fake = ArgoFake(httpserver, [404])
    with pytest.raises(ArgoRejectedError, match=r"HTTP 404 injected 404") as err:
        submit(submitter(httpserver))
    assert "ml-pipelines/training-pipeline" in str(err.value)
    assert len(fake.bodies) == 1
    assert "secret-token" not in str(err.value)


def test_5xx_forever_is_unavailable_after_the_retries(httpserver: HTTPServer) -> None:
    fake = ArgoFake(httpserver, [500] * 10)
    with pytest.raises(ArgoUnavailableError, match="HTTP 500"):
        submit(submitter(httpserver, retries=2))
    assert len(fake.bodies) == 3


def test_unreachable_server_is_unavailable() -> None:
    s = ArgoRestSubmitter("http://127.0.0.1:9", retries=1, backoff_factor=0.0, timeout=0.5)
    with pytest.raises(ArgoUnavailableError, match="unreachable"):
        submit(s)


def test_active_lists_pending_and_running_workflows_of_the_model(httpserver: HTTPServer) -> None:
    items = [
        {"metadata": {"name": "a", "labels": {"mlops-glue/model": MODEL}}, "status": {"phase": "Running"}},
        {"metadata": {"name": "b", "labels": {"mlops-glue/model": MODEL}}, "status": {"phase": "Succeeded"}},
        {"metadata": {"name": "c", "labels": {"mlops-glue/model": MODEL}}},
        {"metadata": {"name": "d", "labels": {"mlops-glue/model": "other"}}, "status": {"phase": "Running"}},
    ]
    httpserver.expect_request(
        f"/api/v1/workflows/{NS}",
        query_string={
            "listOptions.labelSelector": f"mlops-glue/model={MODEL}",
            "fields": "items.metadata.name,items.metadata.labels,items.status.phase",
        },
    ).respond_with_json({"items": items})
    assert submitter(httpserver).active(NS, {"mlops-glue/model": MODEL}) == ["a", "c"]


def test_submission_keeps_commas_out_of_labels_and_annotations() -> None:
    sub = build_submission(
        decision(), make_config().model(MODEL), dataset_manifest_uri="s3://b/m", priority=0
    )
    assert all("," not in v for v in (*sub.labels.values(), *sub.annotations.values()))
    assert sub.annotations["mlops-glue/reasons"] == "12000 new rows in 40 files ≥ min_new_rows 10000"
