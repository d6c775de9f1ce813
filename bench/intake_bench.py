"""Warm-handler latency of the two Function URL intakes: p50 / p99 over many requests.

``uv run python bench/intake_bench.py [--requests N]`` loads ``functions/mlflow_webhook/app.py`` and
``functions/argocd_notification/app.py`` as Lambda would, sends one request to warm them (config,
secret cache, boto3 client), then times N signed requests each, in-process:

* queue = moto (in-process SQS from the template's FIFO queue): the handler as deployed, with an SQS
  send that moto answers in-process (a real SendMessage adds its network round trip, typically a few ms
  inside a region);
* queue = memory: the same handler with the queue replaced by a list — what the handler itself costs
  (signature, validation, JSON, logging).

Prints a markdown table (lines starting with ``|``) that ``bench/run.py`` appends to its results.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "mlops_glue"), str(ROOT)]
for k, v in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "MLOpsGlue",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
}.items():
    os.environ[k] = v

SECRET = "bench-webhook-secret"  # noqa: S105 - a local benchmark secret
TOKEN = "bench-argocd-token"  # noqa: S105 - a local benchmark token


def _load(folder: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"{folder}_bench", ROOT / "functions" / folder / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mlflow_event(i: int) -> dict[str, Any]:
    from mlops_glue.webhooks import sign

    raw = json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "2026-11-23T08:23:41+00:00",
            "data": {"name": "fraud-detection", "version": str(i + 1), "run_id": f"r{i}"},
        }
    ).encode()
    did, stamp = f"bench-{i}", str(int(time.time()))
    return {
        "headers": {
            "content-type": "application/json",
            "x-mlflow-delivery-id": did,
            "x-mlflow-timestamp": stamp,
            "x-mlflow-signature": sign(SECRET, did, stamp, raw),
        },
        "body": raw.decode(),
        "isBase64Encoded": False,
        "requestContext": {"requestId": did, "http": {"method": "POST"}},
    }


def _argocd_event(i: int) -> dict[str, Any]:
    from glue_local.argocd_render import application, body

    text = body("on-deployed", application(revision=f"{i:040x}"))
    return {
        "headers": {"content-type": "application/json", "x-glue-token": TOKEN},
        "body": text,
        "isBase64Encoded": False,
        "requestContext": {"requestId": f"r{i}", "http": {"method": "POST"}},
    }


def _time(handler: Any, events: list[dict[str, Any]], ctx: Any) -> list[float]:
    out = []
    for event in events:
        t0 = time.perf_counter()
        answer = handler(event, ctx)
        out.append((time.perf_counter() - t0) * 1000)
        assert answer["statusCode"] == 202, answer
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    import boto3
    from mlops_glue import runtime
    from mlops_glue.intake import MemoryIntakeQueue
    from moto import mock_aws

    from glue_local.devstack import create_stack
    from glue_local.localfront import LocalContext

    rows = []
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        session = boto3.Session(region_name="eu-west-1")
        params = {p: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x" for p in (
            "MlflowWebhookSecretArn", "GitOpsTokenSecretArn", "SlackSecretArn", "ArgoTokenSecretArn", "ArgoCDSecretArn"
        )}  # fmt: skip
        stack = create_stack(
            ROOT / "template.yaml", {"Stage": "dev", "DataBucketName": "b-dev", **params}, session
        )
        cfg = Path(tmp) / "glue.yaml"
        cfg.write_text(
            "models: {fraud-detection: {}}\nmlflow: {webhook_secret: hook}\nargocd: {secret: tok}\n",
            encoding="utf-8",
        )
        os.environ.update(CONFIG_SOURCE=str(cfg), INTAKE_QUEUE_URL=stack["WebhookIntakeQueue"])
        sm = session.client("secretsmanager")
        sm.create_secret(Name="hook", SecretString=SECRET)
        sm.create_secret(Name="tok", SecretString=TOKEN)
        runtime.reset()
        ctx = LocalContext("bench")
        sqs_queue = runtime.intake_queue
        for folder, make in (("mlflow_webhook", _mlflow_event), ("argocd_notification", _argocd_event)):
            app = _load(folder)
            for queue in ("moto", "memory"):
                app.endpoint.cache_clear()
                memory = MemoryIntakeQueue()
                runtime.intake_queue = sqs_queue if queue == "moto" else (lambda m=memory: m)  # type: ignore[assignment]
                _time(app.handler, [make(10_000_000 + n) for n in range(20)], ctx)  # warm
                ms = []
                for start in range(
                    0, args.requests, 100
                ):  # moto scans its queue on every send: keep it short
                    url = session.client("sqs").create_queue(
                        QueueName=f"bench-{folder}-{queue}-{start}.fifo", Attributes={"FifoQueue": "true"}
                    )["QueueUrl"]
                    os.environ["INTAKE_QUEUE_URL"] = url
                    runtime.settings.cache_clear()
                    sqs_queue.cache_clear()
                    ms += _time(
                        app.handler, [make(n) for n in range(start, min(start + 100, args.requests))], ctx
                    )
                if queue == "memory":  # every timed request really was verified and queued
                    assert len(memory.sent) == args.requests + 20, len(memory.sent)
                q = statistics.quantiles(ms, n=100)
                rows.append((folder, queue, statistics.median(ms), q[98], len(ms)))
            app.endpoint.cache_clear()
    print("| handler | queue | p50 (ms) | p99 (ms) | requests |")
    print("|---|---|---:|---:|---:|")
    for folder, queue, p50, p99, n in rows:
        print(f"| {folder} | {queue} | {p50:.2f} | {p99:.2f} | {n} |")


if __name__ == "__main__":
    main()
