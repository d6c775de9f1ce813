"""MLflow's REST API client (what the functions use) against a server speaking MLflow's documented
answers: versions, aliases (a missing one is None), run metrics, tags; 5xx retried, then RegistryError.
The same client runs against a real MLflow server in the e2e story and tests/promotion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlops_glue.adapters.registry import MlflowRestRegistry, RegistryError
from pytest_httpserver import HTTPServer

MV = {
    "name": "fraud-detection",
    "version": "3",
    "run_id": "r1",
    "source": "models:/m-1",
    "tags": [{"key": "validation_status", "value": "passed"}],
    "aliases": ["champion"],
}


def test_versions_aliases_metrics_and_tags(httpserver: HTTPServer) -> None:
    api = "/api/2.0/mlflow/"
    httpserver.expect_request(
        api + "model-versions/get", query_string={"name": "fraud-detection", "version": "3"}
    ).respond_with_json({"model_version": MV})
    httpserver.expect_request(
        api + "registered-models/alias", query_string={"name": "fraud-detection", "alias": "champion"}
    ).respond_with_json({"model_version": MV})
    httpserver.expect_request(
        api + "registered-models/alias", query_string={"name": "fraud-detection", "alias": "nope"}
    ).respond_with_json({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no alias"}, status=404)
    httpserver.expect_request(api + "runs/get", query_string={"run_id": "r1"}).respond_with_json(
        {"run": {"data": {"metrics": [{"key": "val_auc", "value": 0.91, "timestamp": 1, "step": 0}]}}}
    )
    tagged: list[Any] = []

    def set_tag(request: Any) -> Any:
        from werkzeug import Response

        tagged.append(json.loads(request.data))
        return Response("{}", content_type="application/json")

    httpserver.expect_request(api + "model-versions/set-tag", method="POST").respond_with_handler(set_tag)
    reg = MlflowRestRegistry(httpserver.url_for("/"), max_retries=0)

    mv = reg.get_version("fraud-detection", "3")
    assert (mv.run_id, mv.tags, mv.aliases, mv.source) == (
        "r1",
        {"validation_status": "passed"},
        ("champion",),
        "models:/m-1",
    )
    by_alias = reg.version_by_alias("fraud-detection", "champion")
    assert by_alias is not None and by_alias.version == "3"
    assert reg.version_by_alias("fraud-detection", "nope") is None
    assert reg.run_metrics("r1") == {"val_auc": 0.91}
    reg.set_version_tag("fraud-detection", "3", "blocked", "true")
    assert tagged == [{"name": "fraud-detection", "version": "3", "key": "blocked", "value": "true"}]
    assert reg.version_url("fraud-detection", "3").endswith("/#/models/fraud-detection/versions/3")


def test_a_server_error_is_retried_then_named(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/2.0/mlflow/model-versions/get").respond_with_json(
        {"error_code": "INTERNAL_ERROR", "message": "db down"}, status=503
    )
    reg = MlflowRestRegistry(httpserver.url_for("/"), max_retries=1)
    with pytest.raises(RegistryError, match=r"get_model_version\('m', '1'\) failed"):
        reg.get_version("m", "1")
    assert len(httpserver.log) == 2  # the first try and one retry


def test_an_unreachable_server_is_a_registry_error() -> None:
    reg = MlflowRestRegistry("http://127.0.0.1:9", max_retries=0, timeout=2)
    with pytest.raises(RegistryError, match="ConnectionError"):
        reg.run_metrics("r1")
