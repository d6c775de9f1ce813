"""Submit one retraining for a decision: the step the data-arrival and alarm flows share.

The workflow's name is derived from the decision id, so submitting the same decision twice (a retry
after a timeout, a redelivered event, the sweep) finds "already exists" and counts as success.
"""

from __future__ import annotations

from mlops_glue.adapters.argo import Submission, Submitted, WorkflowSubmitter
from mlops_glue.config import ArgoServer, ModelConfig
from mlops_glue.names import check_name
from mlops_glue.records import Decision

LABEL_PREFIX = "mlops-glue"
# the WorkflowTemplate's parameter names (deploy/argo/training-pipeline.yaml)
P_MODEL, P_DATASET, P_REASON, P_DECISION = "model", "dataset-manifest", "trigger-reason", "decision-id"
P_DATASET_VERSION, P_ENVIRONMENT, P_ARTIFACTS = "dataset-version", "environment", "artifacts-bucket"


def dataset_version(decision: Decision, dataset_manifest_uri: str) -> str:
    """The window manifest's identity: its window id (data arrival's evidence, or the alarm flow's latest
    window); empty when training on a whole data prefix (no window recorded yet)."""
    window = decision.evidence.get("window_id")
    dataset = decision.evidence.get("dataset")
    if not window and isinstance(dataset, dict):
        window = dataset.get("window_id")
    if not window and dataset_manifest_uri.endswith(".json"):
        window = dataset_manifest_uri.rsplit("/", 1)[-1].removesuffix(".json")
    return str(window or "")


def workflow_name(decision: Decision) -> str:
    """``retrain-d-<hex>`` / ``emergency-retrain-d-<hex>``: a valid Kubernetes name, fixed per decision."""
    return check_name(f"{decision.kind.value.replace('_', '-')}-{decision.decision_id}", "workflow name")


def trigger_reason(decision: Decision) -> str:
    """The short trigger reason passed to the workflow (``rows``, ``drift``, ``max_wait``, ``alarm``...)."""
    return str(decision.evidence.get("trigger") or decision.kind.value)


def build_submission(
    decision: Decision,
    model_cfg: ModelConfig,
    *,
    dataset_manifest_uri: str,
    priority: int,
    argo: ArgoServer | None = None,
) -> Submission:
    """The Submission for ``decision``: parameters, labels and annotations carrying the decision id.

    Every parameter sent is declared by the WorkflowTemplate (tests/test_training_pipeline.py): the
    artifacts bucket (``argo.artifacts_bucket``, Terraform's ``artifacts_bucket_name``) and the
    environment (``argo.environment``) come from the configuration; ``retrain.argo.parameters`` add
    more, with placeholders checked when the configuration loads.
    """
    target = model_cfg.retrain.argo
    argo = argo or ArgoServer()
    reason = trigger_reason(decision)
    version = dataset_version(decision, dataset_manifest_uri)
    params = {
        P_MODEL: decision.model,
        P_DATASET: dataset_manifest_uri,
        P_DATASET_VERSION: version,
        P_REASON: reason,
        P_DECISION: decision.decision_id,
        P_ENVIRONMENT: argo.environment,
    }
    if argo.artifacts_bucket:
        params[P_ARTIFACTS] = argo.artifacts_bucket
    values = {
        "model": decision.model,
        "reason": reason,
        "decision_id": decision.decision_id,
        "dataset_version": version,
        "environment": argo.environment,
    }
    for name, value in target.parameters.items():
        params.setdefault(name, value.format(**values))
    labels = {
        f"{LABEL_PREFIX}/model": decision.model,
        f"{LABEL_PREFIX}/decision-id": decision.decision_id,
        f"{LABEL_PREFIX}/kind": decision.kind.value.replace("_", "-"),
    }
    # Argo's submit API joins annotations with ',' and '=': keep the values free of both
    summary = "; ".join(decision.reasons).replace(",", "").replace("=", ":")[:250]
    annotations = {
        f"{LABEL_PREFIX}/decision-id": decision.decision_id,
        f"{LABEL_PREFIX}/trigger-reason": reason,
        f"{LABEL_PREFIX}/config-hash": decision.config_hash or "unknown",
        f"{LABEL_PREFIX}/reasons": summary or reason,
    }
    return Submission(
        namespace=target.namespace,
        workflow_template=target.workflow_template,
        name=workflow_name(decision),
        parameters=params,
        labels=labels,
        annotations=annotations,
        priority=priority,
        service_account=target.service_account,
    )


def submit_training(
    decision: Decision,
    model_cfg: ModelConfig,
    *,
    dataset_manifest_uri: str,
    priority: int,
    submitter: WorkflowSubmitter,
    argo: ArgoServer,
) -> Submitted:
    """Submit the retraining of ``decision``; ``created=False`` when it already existed.

    Raises ArgoRejectedError (4xx, not retried) or ArgoUnavailableError (after the submitter's retries).
    """
    submission = build_submission(
        decision, model_cfg, dataset_manifest_uri=dataset_manifest_uri, priority=priority, argo=argo
    )
    submitted = submitter.submit(submission)
    if submitted.url is None or submitted.url.startswith("memory://"):
        base = (argo.ui_url or argo.server).rstrip("/")
        return Submitted(
            submitted.name,
            submitted.namespace,
            submitted.created,
            f"{base}/workflows/{submitted.namespace}/{submitted.name}",
        )
    return submitted
