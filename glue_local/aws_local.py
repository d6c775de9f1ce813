"""Local AWS for the demo: the stack from ``template.yaml`` on moto's server, and AWS's deliveries.

* Stack: :func:`glue_local.devstack.create_stack` creates the template's tables, queues and alarms;
  this adds what the template refers to but leaves to others — the data bucket (Terraform creates it:
  versioned, EventBridge notifications on), the data-arrival EventBridge rule (created from the
  template's own ``DataArrivalRule``), the secrets and the configuration parameter (the template's
  default ``CONFIG_SOURCE``, ``ssm:/mlops-glue/<Stage>/config``).
* Functions: :func:`functions_from_template` reads each function's code folder, handler and environment
  (``Globals`` merged with its own variables, CloudFormation references resolved) from the template.
* S3 → EventBridge → SQS is moto's own routing: a put in the bucket emits "Object Created" to every
  rule whose pattern matches, and the template's rule sends it to the real queue.
  :class:`SqsEventSource` plays the Lambda event source mapping on that queue.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glue_local.devstack import Resolver, create_stack, load_template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
REGION = "eu-west-1"
# the local credentials moto accepts; set explicitly so a developer's real AWS profile is never used
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


class DeliveryError(RuntimeError):
    """A message could not be delivered to its handler (the handler raised, or reported it failed)."""


class Endpoint:
    """A boto3 session whose clients all talk to one endpoint (moto's server)."""

    def __init__(self, url: str) -> None:
        import boto3

        self.url = url
        self._session = boto3.Session(
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=REGION,
        )

    def client(self, service: str, **kwargs: Any) -> Any:
        return self._session.client(service, endpoint_url=self.url, **kwargs)  # type: ignore[call-overload]


@dataclass(frozen=True)
class FunctionDef:
    """One function of the template: where its code is, its handler and its resolved environment."""

    logical_id: str
    name: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    events: dict[str, Any] = field(default_factory=dict)


@dataclass
class LocalStack:
    """What :func:`create_local_stack` created, by the names the template gives them."""

    endpoint: Endpoint
    parameters: dict[str, str]
    created: dict[str, str]
    secrets: dict[str, str]  # name -> ARN
    bucket: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    rule_name: str
    config_parameter: str
    functions: dict[str, FunctionDef]

    def alarm_pattern(self) -> dict[str, Any]:
        """The EventBridge pattern that routes alarm state changes to the alarm function."""
        fn = self.functions["CloudwatchAlarmFunction"]
        pattern: dict[str, Any] = fn.events["AlarmStateChange"]["Properties"]["Pattern"]
        return pattern


def _resolver(parameters: dict[str, str], created: dict[str, str], attributes: dict[str, str]) -> Resolver:
    return Resolver(load_template(TEMPLATE), dict(parameters), dict(created), dict(attributes))


def functions_from_template(resolver: Resolver) -> dict[str, FunctionDef]:
    """Every ``AWS::Serverless::Function``: code folder, handler, environment (Globals + its own)."""
    template = resolver.template
    glob = resolver.resolve(template.get("Globals", {}).get("Function", {}).get("Environment", {}))
    out: dict[str, FunctionDef] = {}
    for logical, spec in template["Resources"].items():
        if not isinstance(spec, dict) or spec["Type"] != "AWS::Serverless::Function":  # skip Fn::ForEach
            continue
        wanted = ("FunctionName", "PackageType", "ImageConfig", "CodeUri", "Handler", "Environment")
        props = resolver.resolve({k: v for k, v in spec["Properties"].items() if k in wanted})
        if props.get("PackageType") == "Image":
            code = ROOT / Path(spec["Metadata"]["ImageSource"]).parent
            handler = props["ImageConfig"]["Command"][0]
        else:
            code = ROOT / props["CodeUri"]
            handler = props["Handler"]
        env = {**glob.get("Variables", {}), **props.get("Environment", {}).get("Variables", {})}
        out[logical] = FunctionDef(
            logical_id=logical,
            name=props["FunctionName"],
            code_dir=code,
            handler=handler,
            environment={k: str(v) for k, v in env.items()},
            events=resolver.resolve(spec["Properties"].get("Events", {})),
        )
    return out


def create_local_stack(
    endpoint: Endpoint, parameters: dict[str, str], secrets: dict[str, str], config_text: str
) -> LocalStack:
    """Secrets, the configuration parameter, the data bucket, the template's stack and data-arrival rule.

    ``parameters`` are the template's parameters; the ``*SecretArn`` ones are filled from the secrets
    created here (``secrets``: name → value, keyed by the parameter in ``SECRET_PARAMETERS``).
    """
    sm = endpoint.client("secretsmanager")
    arns: dict[str, str] = {}
    for name, value in secrets.items():
        arns[name] = sm.create_secret(Name=name, SecretString=value)["ARN"]
    params = dict(parameters)
    for param, name in SECRET_PARAMETERS.items():
        params.setdefault(param, arns[name])

    stage = params.get("Stage", "dev")
    config_parameter = f"/mlops-glue/{stage}/config"  # the template's default CONFIG_SOURCE
    endpoint.client("ssm").put_parameter(
        Name=config_parameter, Value=config_text, Type="String", Description="mlops-glue configuration"
    )

    bucket = params["DataBucketName"]
    s3 = endpoint.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )

    created = create_stack(TEMPLATE, params, endpoint)
    sqs = endpoint.client("sqs")
    attributes: dict[str, str] = {}
    for logical in ("DataArrivalQueue", "DataArrivalDLQ", "CloudwatchAlarmDLQ"):
        got = sqs.get_queue_attributes(QueueUrl=created[logical], AttributeNames=["QueueArn"])
        attributes[f"{logical}.Arn"] = got["Attributes"]["QueueArn"]

    resolver = _resolver(params, created, attributes)
    rule = resolver.resolve(resolver.template["Resources"]["DataArrivalRule"]["Properties"])
    events = endpoint.client("events")
    events.put_rule(
        Name=rule["Name"],
        EventPattern=json.dumps(rule["EventPattern"]),
        State="ENABLED",
        Description=rule["Description"],
    )
    events.put_targets(Rule=rule["Name"], Targets=rule["Targets"])
    return LocalStack(
        endpoint=endpoint,
        parameters=params,
        created=created,
        secrets=arns,
        bucket=bucket,
        queue_url=created["DataArrivalQueue"],
        queue_arn=attributes["DataArrivalQueue.Arn"],
        dlq_url=created["DataArrivalDLQ"],
        rule_name=rule["Name"],
        config_parameter=config_parameter,
        functions=functions_from_template(resolver),
    )


# template parameter -> the secret name the demo configuration uses
SECRET_PARAMETERS = {
    "MlflowWebhookSecretArn": "mlops-glue/mlflow-webhook",
    "GitOpsTokenSecretArn": "mlops-glue/gitops-token",
    "SlackSecretArn": "mlops-glue/slack-webhook",
    "ArgoTokenSecretArn": "mlops-glue/argo-token",
    "ArgoCDSecretArn": "mlops-glue/argocd-token",
}


def pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether an EventBridge rule with ``pattern`` routes ``event`` (moto's EventBridge matcher)."""
    from moto.events.models import EventPattern

    message: Any = event
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(message))


# ------------------------------------------------------------------------------------------ SQS


def as_aws_sends_it(body: str) -> str:
    """An S3 "Object Created" EventBridge event as AWS sends it, from the one moto 5 emits.

    moto's S3 → EventBridge emitter differs from AWS in two fields: it writes ``eTag`` where AWS
    writes ``etag`` (Powertools' model requires ``etag``), and it leaves the key unencoded where S3
    URL-encodes it (spaces as ``+``). Only an event in moto's shape (``eTag`` present) is changed.
    """
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:
        return body
    obj = doc.get("detail", {}).get("object") if isinstance(doc, dict) else None
    if doc.get("source") != "aws.s3" or not isinstance(obj, dict) or "eTag" not in obj:
        return body
    obj["etag"] = obj.pop("eTag")
    obj["key"] = urllib.parse.quote_plus(str(obj["key"]), safe="/")
    return json.dumps(doc)


@dataclass
class Batch:
    """One invocation of the event source mapping: the messages, the answer, what was deleted."""

    message_ids: list[str]
    failed: list[str]
    bodies: list[dict[str, Any]]


@dataclass
class SqsEventSource:
    """The Lambda event source mapping on one queue, driven on demand (:meth:`drain`).

    Reads up to ``batch_size`` messages, invokes ``handler`` with the SQS event Lambda builds, and
    deletes every message the answer does not list in ``batchItemFailures`` (ReportBatchItemFailures);
    when the handler raises, nothing is deleted. Failed messages stay on the queue and come back after
    its visibility timeout, then go to the DLQ — as on AWS.
    """

    sqs: Any
    queue_url: str
    queue_arn: str
    handler: Callable[[dict[str, Any], Any], Any]
    context: Callable[[], Any]
    batch_size: int = 10
    fix_moto_shape: bool = True
    batches: list[Batch] = field(default_factory=list)

    def _record(self, m: dict[str, Any]) -> dict[str, Any]:
        body = as_aws_sends_it(m["Body"]) if self.fix_moto_shape else m["Body"]
        return {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": body,
            "attributes": dict(m.get("Attributes", {})),
            "messageAttributes": dict(m.get("MessageAttributes", {})),
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }

    def _receive(self) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        while len(got) < self.batch_size:
            resp = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(got)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            messages = resp.get("Messages", [])
            if not messages:
                break
            got.extend(messages)
        return got

    def drain(self) -> list[Batch]:
        """Invoke the handler until the queue is empty; DeliveryError when a message failed."""
        done: list[Batch] = []
        while True:
            messages = self._receive()
            if not messages:
                return done
            records = [self._record(m) for m in messages]
            try:
                answer = self.handler({"Records": records}, self.context())
            except Exception as exc:
                raise DeliveryError(
                    f"the handler raised on a batch of {len(records)} message(s): {type(exc).__name__}: {exc}"
                ) from exc
            failed = [f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])]
            ok = [m for m in messages if m["MessageId"] not in failed]
            for i in range(0, len(ok), 10):
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(ok[i : i + 10])
                    ],
                )
            batch = Batch(
                [m["MessageId"] for m in messages], failed, [json.loads(r["body"]) for r in records]
            )
            done.append(batch)
            self.batches.append(batch)
            if failed:
                raise DeliveryError(
                    f"{len(failed)} of {len(records)} message(s) failed and stay on the queue for retry: "
                    + ", ".join(failed)
                )


def then_drain(
    handler: Callable[[dict[str, Any], Any], Any], source: SqsEventSource
) -> Callable[[dict[str, Any], Any], Any]:
    """A Function URL handler followed by a drain of the webhook intake queue through the worker.

    The local stand-in for the worker's event source mapping: a delivery answered 202 is processed
    before the sender's request returns, so the demo and the end-to-end tests can tell their story in
    order. A delivery the worker failed stays on the queue (logged), as it would in AWS.
    """
    lock = threading.Lock()

    def run(event: dict[str, Any], context: Any) -> Any:
        answer = handler(event, context)
        if isinstance(answer, dict) and answer.get("statusCode") == 202:
            with lock:
                try:
                    source.drain()
                except DeliveryError as exc:
                    logging.getLogger("glue_local").warning("intake worker: %s", exc)
        return answer

    return run
