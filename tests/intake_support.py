"""The webhook intake in-process on moto: the two Function URL handlers, the intake FIFO queue from
``template.yaml`` and the worker, driven like Lambda's SQS event source mapping.

``SqsClock`` moves moto's SQS clock (visibility timeouts, deduplication interval, sent timestamps), so
hours of backoff run in a moment without any timing assumption. ``Intake.drain`` delivers what is
visible; ``Intake.settle`` advances the clock to the next retry until the queue is empty.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count()


def load_app(folder: str) -> ModuleType:
    """``functions/<folder>/app.py`` under a fresh module name (module state never leaks between tests)."""
    spec = importlib.util.spec_from_file_location(
        f"{folder}_app_{next(_counter)}", ROOT / "functions" / folder / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SqsClock:
    """moto's SQS clock, under the test's control (starts at the real time)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: float | None = None) -> None:
        import moto.sqs.models as sqs_models
        from moto.core.utils import unix_time

        self.t = time.time() if start is None else start
        real = unix_time

        def fake(dt: datetime | None = None) -> float:
            return real(dt) if dt is not None else self.t

        monkeypatch.setattr(sqs_models, "unix_time", fake)
        monkeypatch.setattr(sqs_models, "unix_time_millis", lambda dt=None: fake(dt) * 1000.0)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Intake:
    """The three functions on one moto stack (see the module docstring)."""

    sqs: Any
    queue_url: str
    dlq_url: str
    mlflow: ModuleType
    argocd: ModuleType
    worker: ModuleType
    ctx: Any
    results: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    failures: int = 0
    invocations: int = 0

    def observe(self) -> None:
        """Record what the worker returns for each envelope (and keep the app's own metric)."""
        w = self.worker.worker()
        inner = w.observe

        def both(envelope: Any, result: dict[str, Any]) -> None:
            self.results.append((envelope, result))
            if inner is not None:
                inner(envelope, result)

        w.observe = both

    def post_mlflow(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        out = self.mlflow.handler(event, self.ctx)
        return out["statusCode"], json.loads(out["body"])

    def post_argocd(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        out = self.argocd.handler(event, self.ctx)
        return out["statusCode"], json.loads(out["body"])

    def _receive(self) -> list[dict[str, Any]]:
        resp = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages: list[dict[str, Any]] = resp.get("Messages", [])
        return messages

    def drain(self) -> int:
        """Invoke the worker on every visible message (batches of 10) until none is visible; failures."""
        failed_total = 0
        while True:
            messages = self._receive()
            if not messages:
                return failed_total
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": dict(m.get("Attributes", {})),
                    "messageAttributes": dict(m.get("MessageAttributes", {})),
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:intake.fifo",
                    "awsRegion": "eu-west-1",
                }
                for m in messages
            ]
            self.invocations += 1
            answer = self.worker.handler({"Records": records}, self.ctx)
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
            for m in messages:
                if m["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
            failed_total += len(failed)
            self.failures += len(failed)

    def depth(self, url: str | None = None) -> int:
        """Messages on the queue (visible + in flight + delayed)."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def settle(self, clock: SqsClock, step: float = 15.0, limit: float = 48 * 3600.0) -> float:
        """Drain, advance the clock by ``step``, repeat until the queue is empty; the simulated seconds."""
        spent = 0.0
        while True:
            self.drain()
            if self.depth() == 0:
                return spent
            if spent > limit:
                raise AssertionError(
                    f"the intake queue still holds {self.depth()} message(s) after {spent:.0f} s"
                )
            clock.advance(step)
            spent += step


def intake(stack: dict[str, str], aws: Any, monkeypatch: pytest.MonkeyPatch, ctx: Any) -> Intake:
    """The functions loaded with the stack's queue URLs in their environment (as template.yaml sets)."""
    monkeypatch.setenv("INTAKE_QUEUE_URL", stack["WebhookIntakeQueue"])
    monkeypatch.setenv("INTAKE_DLQ_URL", stack["WebhookIntakeDLQ"])
    monkeypatch.setenv("STATE_TABLE", "mlops-glue-state-dev")
    it = Intake(
        sqs=aws.client("sqs"),
        queue_url=stack["WebhookIntakeQueue"],
        dlq_url=stack["WebhookIntakeDLQ"],
        mlflow=load_app("mlflow_webhook"),
        argocd=load_app("argocd_notification"),
        worker=load_app("webhook_worker"),
        ctx=ctx,
    )
    return it
