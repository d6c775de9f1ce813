"""What we deploy: the SAM wiring of the data-arrival flow and the Argo WorkflowTemplate we submit."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from mlops_glue.services.training import P_DATASET, P_DECISION, P_MODEL, P_REASON

from glue_local.argo_api import validate
from glue_local.devstack import Resolver, load_template
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def resolved(template: dict[str, Any], name: str, **params: str) -> dict[str, Any]:
    arns = {
        f"{n}SecretArn": f"arn:secret:{n}"
        for n in ("MlflowWebhook", "GitOpsToken", "Slack", "ArgoToken", "ArgoCD")
    }
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-glue@sha256:" + "0" * 64
    base = {"Stage": "prod", "DataBucketName": "ml-data-prod", "ImageUri": image}
    res = Resolver(template, {**base, **arns, **params})
    res.physical.update({"S3NewDataLogs": "log-group", "StateTable": "table", "GlueLayer": "layer"})
    res.attributes.update(
        {
            "DataArrivalQueue.Arn": "arn:queue",
            "DataArrivalDLQ.Arn": "arn:dlq",
            "DataArrivalRule.Arn": "arn:rule",
        }
    )
    out: dict[str, Any] = res.resolve(template["Resources"][name])
    return out


def test_queue_dlq_and_rule(template: dict[str, Any]) -> None:
    names = list(template["Resources"])
    assert names.index("DataArrivalDLQ") < names.index("DataArrivalQueue")  # devstack creates in order
    q = resolved(template, "DataArrivalQueue")["Properties"]
    assert q["RedrivePolicy"] == {"deadLetterTargetArn": "arn:dlq", "maxReceiveCount": 5}
    assert q["VisibilityTimeout"] >= 6 * resolved(template, "S3NewDataFunction")["Properties"]["Timeout"]
    rule = resolved(template, "DataArrivalRule")["Properties"]
    assert rule["EventPattern"]["source"] == ["aws.s3"] and rule["EventPattern"]["detail-type"] == [
        "Object Created"
    ]
    assert rule["EventPattern"]["detail"]["bucket"]["name"] == ["ml-data-prod"]
    assert rule["EventPattern"]["detail"]["object"]["key"] == [{"anything-but": {"prefix": "mlops-glue/"}}]
    scoped = resolved(template, "DataArrivalRule", DataKeyPrefix="fraud/")["Properties"]
    assert scoped["EventPattern"]["detail"]["object"]["key"] == [{"prefix": "fraud/"}]
    assert rule["Targets"][0]["DeadLetterConfig"] == {"Arn": "arn:dlq"}


def test_function_is_an_image_with_partial_batch_failures_and_a_sweep(template: dict[str, Any]) -> None:
    fn = resolved(template, "S3NewDataFunction")
    props = fn["Properties"]
    assert props["PackageType"] == "Image" and "Runtime" not in props and "Layers" not in props
    assert fn["Metadata"]["ImageSource"] == "functions/s3_new_data/Dockerfile"
    assert props["ImageUri"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-glue@sha256:" + "0" * 64
    sqs = props["Events"]["NewData"]["Properties"]
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["Events"]["Sweep"]["Type"] == "ScheduleV2"
    assert props["Events"]["Sweep"]["Properties"]["Input"] == '{"source": "mlops-glue.sweep"}'
    assert props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Destination"] == "arn:dlq"
    statements = [s for p in props["Policies"] if "Statement" in p for s in p["Statement"]]
    resources = {s["Sid"]: s["Resource"] for s in statements}
    assert resources["ReadNewData"] == "arn:aws:s3:::ml-data-prod/*"
    assert resources["GlueWorkspace"] == "arn:aws:s3:::ml-data-prod/mlops-glue/*"
    assert not any(s["Resource"] in ("*", "arn:aws:s3:::*") for s in statements)
    assert resolved(template, "S3NewDataLogs")["Properties"]["RetentionInDays"] == "30"


def test_dockerfile_copies_the_built_tree_onto_the_base_image_pinned_by_digest() -> None:
    docker = (ROOT / "functions" / "s3_new_data" / "Dockerfile").read_text()
    code = [ln for ln in docker.splitlines() if ln and not ln.startswith("#")]
    assert code[0] == "ARG BASE_DIGEST"  # no default: an unpinned build fails
    assert code[1] == "FROM public.ecr.aws/lambda/python:3.11@${BASE_DIGEST}"
    assert code[2] == "COPY .aws-sam/image/S3NewDataFunction/ ${LAMBDA_TASK_ROOT}/"  # what the tests import
    assert 'CMD ["app.handler"]' in docker
    reqs = [
        line
        for line in (ROOT / "functions" / "s3_new_data" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    ]
    assert all("==" in r for r in reqs)
    assert {r.split("==")[0] for r in reqs} >= {"numpy", "scipy", "pyarrow", "aws-lambda-powertools"}


def test_workflow_template_matches_the_swagger_and_our_parameters() -> None:
    doc = yaml.safe_load((ROOT / "deploy" / "argo" / "training-pipeline.yaml").read_text())
    validate("WorkflowTemplate", doc)  # closed schema: a misspelt field fails
    params = {p["name"] for p in doc["spec"]["arguments"]["parameters"]}
    assert {P_MODEL, P_DATASET, P_REASON, P_DECISION} <= params
    steps = [t["name"] for t in doc["spec"]["templates"][0]["dag"]["tasks"]]
    assert steps == ["ingest", "validate", "train", "evaluate", "register"]
    train = next(t for t in doc["spec"]["templates"] if t["name"] == "train")
    assert train["nodeSelector"] == {"mlops-glue/node-pool": "gpu"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in train["tolerations"]
    assert train["container"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
