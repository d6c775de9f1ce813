"""Every log record at DEBUG, through both handlers and the worker, searched for every secret value.

The run covers success, a bad signature, retries (GitOps down), a dead-lettered delivery and Slack
answering 429 before 200 (slack_sdk logs the incoming-webhook URL when it retries). Everything any logger
emits is captured — records on every logger, and stdout/stderr where the Powertools handler writes JSON —
and none may contain a secret. The package's INFO lines arrive as Powertools JSON with their extra fields.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from intake_support import SqsClock, intake
from mlops_glue import logs, runtime
from mlops_glue.adapters.gitops import GitOpsError
from mlops_glue.adapters.gitops_git import GitRepo
from mlops_glue.adapters.registry import MemoryRegistry, ModelVersion
from mlops_glue.adapters.slack import SlackNotifier
from mlops_glue.webhooks import sign
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from glue_local.argocd_render import application, body
from tests.conftest import load_event
from tests.feedback.argocd_render import function_url_event

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_SECRET = "mlflow-hmac-5f1d0c9a7b3e"
ARGOCD_TOKEN = "argocd-token-8c2e4a6f0b1d"
GITOPS_TOKEN = "ghp_0123456789abcdefghijABCDEFGHIJ0123"
SLACK_PATH = "/services/T0LOGTEST/B0LOGTEST/slackSecretPart9d8c7b6a"


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("werkzeug"):
            return  # the test's own Slack stand-in server logging its access log, not our system
        self.records.append(record)
        parts = [record.getMessage(), repr(record.args)]
        parts += [repr(v) for k, v in record.__dict__.items() if k not in ("msg", "args")]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        self.texts.append(" ".join(parts))


def _payload(version: str) -> bytes:
    return json.dumps(
        {
            "entity": "model_version",
            "action": "created",
            "timestamp": "2026-11-23T08:23:41+00:00",
            "data": {"name": "fraud-detection", "version": version, "run_id": f"r{version}"},
        }
    ).encode()


def _delivery(version: str, secret: str = MLFLOW_SECRET) -> dict[str, Any]:
    event = load_event("mlflow_model_version_created.json")
    raw, did = _payload(version), f"log-{version}-{secret[:4]}"
    stamp = event["headers"]["x-mlflow-timestamp"]
    event["headers"].update(
        {"x-mlflow-delivery-id": did, "x-mlflow-signature": sign(secret, did, stamp, raw)}
    )
    event["body"] = raw.decode()
    return event


def test_no_secret_in_any_log_record_at_debug(
    stack: dict[str, str],
    aws: Any,
    tmp_path: Path,
    bare_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
    httpserver: HTTPServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("INTAKE_MAX_AGE", "1h")
    cfg = tmp_path / "glue.yaml"
    cfg.write_text(
        "models:\n  fraud-detection:\n    promote:\n"
        "      gate: {metrics: {val_auc: {min: 0.85}}, must_beat: null}\n"
        "mlflow: {webhook_secret: mlflow-webhook, replay_window: 36500d}\n"
        "argocd: {secret: argocd-token}\n"
        "slack: {webhook_secret: slack-hook}\n"
        f'gitops: {{backend: git, repo: "{bare_repo}", branch: main, token_secret: gitops-token}}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CONFIG_SOURCE", str(cfg))
    slack_url = httpserver.url_for(SLACK_PATH)
    sm = aws.client("secretsmanager")
    for name, value in (
        ("mlflow-webhook", MLFLOW_SECRET),
        ("argocd-token", ARGOCD_TOKEN),
        ("slack-hook", slack_url),
        ("gitops-token", GITOPS_TOKEN),
    ):
        sm.create_secret(Name=name, SecretString=value)
    answers = iter([Response("rate_limited", status=429, headers={"Retry-After": "1"})])

    def slack(request: Request) -> Response:
        return next(answers, Response("ok", status=200))

    httpserver.expect_request(SLACK_PATH, method="POST").respond_with_handler(slack)
    registry = MemoryRegistry()
    for v in range(2, 6):
        registry.add(ModelVersion("fraud-detection", str(v), f"r{v}"), {"val_auc": 0.9})
    monkeypatch.setattr(runtime, "registry", lambda: registry)
    real_repo = GitRepo(str(bare_repo), branch="main", token=runtime.secrets().get("gitops-token"))
    monkeypatch.setattr(runtime, "gitops_repo", lambda: real_repo)
    monkeypatch.setattr(
        runtime,
        "notifier",
        lambda: SlackNotifier(webhook_url=runtime.secrets().get("slack-hook"), max_retries=2),
    )

    capture = Everything()
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.DEBUG)
    targets = [root, *[logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]]
    clock = SqsClock(monkeypatch)
    it = intake(stack, aws, monkeypatch, lambda_context)
    it.worker.worker().now = clock.now
    targets += [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    for lg in set(targets):
        lg.addHandler(capture)
    try:
        # success: gate passes, staging bump committed, Slack answers 429 then 200
        assert it.post_mlflow(_delivery("2"))[0] == 202
        it.drain()
        # a forged delivery and a wrong token
        assert it.post_mlflow(_delivery("3", secret="not-the-secret"))[0] == 401
        bad_token = function_url_event(body("on-deployed", application()), token="wrong-token")
        assert it.post_argocd(bad_token)[0] == 401
        good_token = function_url_event(body("on-deployed", application()), token=ARGOCD_TOKEN)
        assert it.post_argocd(good_token)[0] == 202
        it.drain()

        # retries then the DLQ: GitOps down for good
        def down(*args: Any, **kwargs: Any) -> Any:
            raise GitOpsError(f"git push failed: https://x-access-token:{GITOPS_TOKEN}@github.com/o/r")

        monkeypatch.setattr(real_repo, "commit_file", down)
        monkeypatch.setattr(real_repo, "commit_files", down)
        assert it.post_mlflow(_delivery("4"))[0] == 202
        it.settle(clock, step=60)
        assert it.depth(it.dlq_url) == 1 and it.failures >= 2
    finally:
        for lg in set(targets):
            lg.removeHandler(capture)
        logs.quiet_libraries()

    out, err = capfd.readouterr()
    # the package's records as the Powertools handler of the "mlops_glue" logger formats them (JSON)
    package = logging.getLogger("mlops_glue")
    assert package.handlers and not package.propagate  # routed through the function's Powertools logger
    formatter = package.handlers[0].formatter
    assert formatter is not None and type(formatter).__name__ == "LambdaPowertoolsFormatter"
    ours = [r for r in capture.records if r.name.startswith("mlops_glue")]
    formatted = [formatter.format(r) for r in ours]
    haystack = "\n".join([*capture.texts, *formatted, out, err])
    secrets = [MLFLOW_SECRET, ARGOCD_TOKEN, GITOPS_TOKEN, slack_url, SLACK_PATH, "slackSecretPart9d8c7b6a"]
    for secret in secrets:
        assert secret not in haystack, f"a secret reached a log: {secret[:6]}…"
    assert len(httpserver.log) >= 2  # Slack really answered 429, then the retry went through
    assert capture.records, "nothing was logged: the capture is broken"
    # the package's INFO lines arrive as Powertools JSON with their extra fields
    lines = [json.loads(line) for line in formatted]
    queued = [line for line in lines if line.get("message") == "MLflow delivery queued"]
    assert queued and queued[0]["level"] == "INFO" and queued[0]["model"] == "fraud-detection"
    assert any(line.get("message") == "delivery failed, retrying" and "retry_in_s" in line for line in lines)


def test_redactor_removes_registered_and_secret_shaped_values() -> None:
    logs.register_secret("a-registered-secret-value")
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "got %s and %s",
        ("a-registered-secret-value", "xoxb-1234567890-abcdef"),
        None,
    )
    record.url = "https://hooks.slack.com/services/T1/B2/abcdef"
    logs.Redactor().filter(record)
    text = record.getMessage() + record.url
    assert "a-registered-secret-value" not in text and "xoxb-1234567890" not in text and "abcdef" not in text
    assert text.count(logs.REDACTED) == 3


def test_no_logging_extra_key_collides_with_a_log_record_attribute() -> None:
    """``extra={"created": ...}`` raises KeyError the moment INFO is enabled (it was hidden before)."""
    reserved = set(logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__) | {"message", "asctime"}
    bad = []
    for path in [*(ROOT / "layers").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "extra" and isinstance(node.value, ast.Dict):
                for key in node.value.keys:
                    if isinstance(key, ast.Constant) and key.value in reserved:
                        bad.append(f"{path.relative_to(ROOT)}:{node.value.lineno} {key.value}")
    assert bad == []
