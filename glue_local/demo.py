"""``make demo``: the whole loop on one machine, on 127.0.0.1 only, narrated as a timeline of decisions.

Starts moto's server with the stack created from ``template.yaml``, a real MLflow server (sqlite) with
a webhook to the local Function URL front, git's smart-HTTP server (``git http-backend`` behind basic auth,
what GitLab and Gitea speak) on a bare repository as the GitOps remote, and the Argo and
Slack stand-ins; then runs the story of :mod:`glue_local.scenario` through the real handlers and the
real delivery paths, prints where to look, and stops everything (also on Ctrl-C or SIGTERM).

``run()`` is what the end-to-end test calls; ``python -m glue_local.demo [--keep] [--workdir DIR]
[--artifacts]``. With ``artifacts`` every function runs from its built artifact (``make build``) in a
clean interpreter holding only what Lambda's runtime holds (:class:`glue_local.functions.ArtifactFunction`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import signal
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from glue_local import argocd_render
from glue_local.aws_local import (
    LOCAL_CREDENTIALS,
    Endpoint,
    LocalStack,
    SqsEventSource,
    create_local_stack,
    then_drain,
)
from glue_local.functions import ArtifactFunction, LocalFunction, load_artifact, load_function
from glue_local.git_http import GitHttpServer
from glue_local.gitops_seed import application_path, application_text, seed_bare_repo
from glue_local.scenario import (
    CHAMPION_AUC,
    MODEL,
    DemoError,
    Loop,
    Narrator,
    Timeline,
    git_graph,
    register_version,
)
from glue_local.servers import START_TIMEOUT, MlflowServer, MotoServer
from glue_local.standins import ArgoStandin, Posted, SlackStandin, load_templates

ROOT = Path(__file__).resolve().parents[1]
CONFIG_TEMPLATE = Path(__file__).with_name("demo_config.yaml")
BUCKET = "mlops-glue-demo-data"
STAGE = "dev"
WEBHOOK_EVENTS: list[Any] = ["model_version.created", "model_version_alias.created", "model_version_tag.set"]

__all__ = ["DemoError", "DemoResult", "main", "run"]


@dataclass
class DemoResult:
    """What the run left behind, read before the servers stopped (the end-to-end test asserts on it)."""

    workdir: Path
    bare_repo: Path
    report: Path | None
    workflows: list[dict[str, Any]]
    manifests: dict[str, dict[str, Any]]  # workflow name -> its dataset manifest
    slack: list[Posted]
    decisions: list[Any]  # mlops_glue.records.Decision, oldest first
    mlflow_tags: dict[str, dict[str, str]]  # version -> tags
    blocked: dict[str, dict[str, str]]
    argo_rejected: list[str]
    front_requests: list[dict[str, Any]]
    facts: dict[str, Any]
    seconds: float
    endpoints: dict[str, str] = field(default_factory=dict)
    # artifact runs: logical id -> invocations from the built artifact, and the environments' import times
    invocations: dict[str, int] = field(default_factory=dict)
    cold_imports: dict[str, list[float]] = field(default_factory=dict)
    first_events: dict[str, list[float]] = field(default_factory=dict)


def fresh_workdir(base: Path | None = None) -> Path:
    """A new directory for one run: ``.demo/run-<time>`` under the repository (never reused)."""
    root = base or ROOT / ".demo"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        path = root / (f"run-{stamp}" if n == 0 else f"run-{stamp}-{n}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"no fresh directory under {root}")


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the run and put back what was there before."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Background:
    """Starts the MLflow server in a thread (it takes ~20 s) and stops it whatever state it is in."""

    def __init__(self, server: MlflowServer) -> None:
        self.server = server
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.ready = False  # champion registered and webhook created (see _mlflow_ready)
        self._thread = threading.Thread(target=self._start, name="mlflow-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        t0 = time.monotonic()
        try:
            self.server.start()
        except BaseException as exc:  # reported by wait()
            self.error = exc
        self.seconds = time.monotonic() - t0

    def wait(self) -> str:
        # the thread ends when the server answers, fails or misses its own readiness deadline
        self._thread.join(timeout=START_TIMEOUT + 60)
        if self._thread.is_alive() or self.error is not None:
            raise DemoError(f"the MLflow server did not start: {self.error} (see {self.server.log_path})")
        return self.server.url

    def stop(self) -> None:
        # the server process may not exist yet when this runs early (Ctrl-C): stop until the thread ends
        self.server.stop()
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)
            self.server.stop()
        self.server.stop()


def _config_text(values: dict[str, str]) -> str:
    return string.Template(CONFIG_TEMPLATE.read_text(encoding="utf-8")).substitute(values)


def run(
    workdir: Path | None = None,
    printer: Callable[[str], None] = print,
    *,
    keep: Callable[[], None] | None = None,
    artifacts: bool = False,
) -> DemoResult:
    """Run the whole loop once in a fresh ``workdir``; every server is stopped before this returns.

    ``keep``: called after the story with the servers still up (``--keep`` waits for Ctrl-C there).
    Raises :class:`DemoError` when a step does not end as expected.
    """
    workdir = Path(workdir) if workdir is not None else fresh_workdir()
    workdir.mkdir(parents=True, exist_ok=True)
    narrator = Narrator(printer)
    with contextlib.ExitStack() as stack:
        main_thread = threading.current_thread() is threading.main_thread()
        if main_thread:  # a second Ctrl-C must not cut the cleanup short: ignored while stopping
            stack.callback(signal.signal, signal.SIGINT, signal.getsignal(signal.SIGINT))
        try:
            result = _story(stack, workdir, narrator, keep, artifacts)
        finally:
            if main_thread:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
    result.seconds = time.monotonic() - narrator.t0
    narrator.say(f"done in {result.seconds:.0f} s; nothing left running. workdir {workdir}", indent=0)
    return result


def _story(
    stack: contextlib.ExitStack,
    workdir: Path,
    narrator: Narrator,
    keep: Callable[[], None] | None,
    artifacts: bool = False,
) -> DemoResult:
    """Start everything (each stop registered on ``stack``), tell the story, collect the result."""
    from mlops_glue.cli.alarms import template_parameters
    from mlops_glue.config import parse_config

    from glue_local.localfront import LocalFront

    log_path = workdir / "functions.log"
    log = stack.enter_context(open(log_path, "a", encoding="utf-8", buffering=1))  # noqa: SIM115
    narrator.say(f"mlops-glue demo — the whole loop on 127.0.0.1\nworkdir {workdir}", indent=0)
    stack.enter_context(
        _environment(
            {
                **LOCAL_CREDENTIALS,
                "POWERTOOLS_TRACE_DISABLED": "1",
                "POWERTOOLS_DEV": "false",
                "MLFLOW_TRACKING_URI": "",
            }
        )
    )
    # everything the libraries print (Powertools' JSON logs and EMF metrics) goes to the log file
    stack.enter_context(contextlib.redirect_stdout(log))
    stack.enter_context(contextlib.redirect_stderr(log))
    glue_logs = logging.getLogger("mlops_glue")
    file_handler = logging.StreamHandler(log)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    glue_logs.addHandler(file_handler)
    stack.callback(glue_logs.removeHandler, file_handler)
    _fresh_runtime()
    stack.callback(_fresh_runtime)

    narrator.step("0 · Starting the local pieces")
    moto = MotoServer().start()
    stack.callback(moto.stop)
    # moto's backends live in this process: start from an empty account, leave one behind
    _reset_moto(moto.url)
    stack.callback(_reset_moto, moto.url)
    stack.enter_context(_environment({"AWS_ENDPOINT_URL": moto.url}))
    mlflow = _Background(MlflowServer(workdir / "mlflow"))
    stack.callback(mlflow.stop)
    argo = ArgoStandin(templates=load_templates(ROOT / "deploy" / "argo"), token=secrets.token_hex(16))
    argo.start()
    stack.callback(argo.stop)
    slack = SlackStandin(printer=narrator.slack)
    slack.start()
    stack.callback(slack.stop)
    front = LocalFront({})
    front.start()
    stack.callback(front.stop)
    production_app = {application_path(MODEL, "production"): application_text(MODEL, "production", "1")}
    bare = seed_bare_repo(workdir, models=(MODEL,), extra=production_app)
    git_server = GitHttpServer(bare.parent, token=secrets.token_hex(16))  # smart HTTP, basic auth
    git_server.start()
    stack.callback(git_server.stop)

    values = {
        "mlops-glue/mlflow-webhook": secrets.token_hex(24),
        "mlops-glue/gitops-token": git_server.token,
        "mlops-glue/slack-webhook": f"{slack.url}/hooks/T0DEMO/B0DEMO/{secrets.token_hex(12)}",
        "mlops-glue/argo-token": argo.token or "",
        "mlops-glue/argocd-token": argocd_render.TOKEN,
    }
    config_text = _config_text(
        {
            "bucket": BUCKET,
            "gitops_repo": git_server.repo_url(bare.name),
            "argo_url": argo.url,
            "mlflow_url": mlflow.server.url,
        }
    )
    cfg = parse_config(config_text, origin=str(CONFIG_TEMPLATE))
    params = {"Stage": STAGE, "DataBucketName": BUCKET, **template_parameters(cfg)}
    endpoint = Endpoint(moto.url)
    aws = create_local_stack(endpoint, params, values, config_text)
    env: dict[str, str] = {}
    for fd in aws.functions.values():
        env.update(fd.environment)
    stack.enter_context(_environment(env))
    functions: dict[str, LocalFunction | ArtifactFunction]
    if artifacts:
        from glue_local.build import ensure_built

        ensure_built()
        functions = {k: load_artifact(fd, log, dict(os.environ)) for k, fd in aws.functions.items()}
    else:
        functions = {k: load_function(fd, log) for k, fd in aws.functions.items()}
    for fn in functions.values():
        stack.callback(fn.close)
    worker = functions["WebhookWorkerFunction"]
    intake = SqsEventSource(
        endpoint.client("sqs"),
        aws.created["WebhookIntakeQueue"],
        "arn:aws:sqs:eu-west-1:123456789012:webhook-intake.fifo",
        worker.handler,
        worker.context,
        batch_size=10,
        fix_moto_shape=False,
    )
    for path, logical in (("/mlflow", "MlflowWebhookFunction"), ("/argocd", "ArgocdNotificationFunction")):
        fn = functions[logical]
        front.routes[path] = (fn.definition.name, then_drain(fn.handler, intake))
    s3fn = functions["S3NewDataFunction"]
    esm = SqsEventSource(
        endpoint.client("sqs"),
        aws.queue_url,
        aws.queue_arn,
        s3fn.handler,
        s3fn.context,
        batch_size=int(s3fn.definition.events["NewData"]["Properties"]["BatchSize"]),
    )
    _describe_setup(narrator, moto.url, aws, argo, slack, front.url, bare, git_server.repo_url(bare.name))

    from mlops_glue import runtime

    timeline = Timeline(runtime.state_store(), narrator)
    loop = Loop(
        narrator=narrator,
        timeline=timeline,
        workdir=workdir,
        cfg=cfg,
        stack=aws,
        functions=functions,
        esm=esm,
        argo=argo,
        front_url=front.url,
        bare=bare,
        secrets=values,
        mlflow_url=lambda: _mlflow_ready(mlflow, narrator, front.url, values["mlops-glue/mlflow-webhook"]),
    )
    loop.reference()
    loop.batches()
    loop.drift()
    loop.register()
    loop.deployed()
    loop.degraded()
    loop.alarm()

    result = _collect(loop, slack, front, mlflow.server.url)
    result.endpoints = {"moto": moto.url, "mlflow": mlflow.server.url, "front": front.url, "argo": argo.url}
    for k, fn in functions.items():
        if isinstance(fn, ArtifactFunction):
            result.invocations[k] = fn.calls
            result.cold_imports[k] = [w.import_s for w in fn.workers]
            result.first_events[k] = [w.first_s for w in fn.workers if w.first_s is not None]
    _where_to_look(narrator, result, moto.url, aws)
    if keep is not None:
        keep()
    narrator.step("Stopping everything")
    return result


def _reset_moto(url: str) -> None:
    import requests

    requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()


def _fresh_runtime() -> None:
    """Forget cached adapters and parameters (they hold clients of a previous run's endpoints)."""
    from aws_lambda_powertools.utilities import parameters
    from mlops_glue import runtime

    if runtime.gitops_repo.cache_info().currsize:
        with contextlib.suppress(Exception):
            repo = runtime.gitops_repo()
            close = getattr(repo, "close", None)
            if close is not None:
                close()
    runtime.reset()
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def _mlflow_ready(mlflow: _Background, narrator: Narrator, front_url: str, secret: str) -> str:
    """The MLflow server's URL once it is up, with the champion registered and our webhook created."""
    if mlflow.ready:
        return mlflow.server.url
    url = mlflow.wait()
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=url)
    v1 = register_version(
        client, MODEL, CHAMPION_AUC, {"mlops-glue.note": "the model deployed before the demo"}
    )
    client.set_registered_model_alias(MODEL, "champion", v1)
    hook = client.create_webhook(
        name="mlops-glue-demo", url=f"{front_url}/mlflow", events=WEBHOOK_EVENTS, secret=secret
    )
    time.sleep(1.2)  # the server caches its webhook list for MLFLOW_WEBHOOK_CACHE_TTL (1 s)
    narrator.say(
        f"MLflow server up at {url} (sqlite; started in {mlflow.seconds:.0f} s, in the background)\n"
        f"  v1 registered (val_auc {CHAMPION_AUC}) with alias champion — what staging and production run\n"
        f"  webhook {hook.webhook_id[:8]}… → {front_url}/mlflow for {', '.join(WEBHOOK_EVENTS)}"
    )
    mlflow.ready = True
    return url


def _describe_setup(
    narrator: Narrator,
    moto_url: str,
    aws: LocalStack,
    argo: ArgoStandin,
    slack: SlackStandin,
    front_url: str,
    bare: Path,
    git_url: str,
) -> None:
    c = aws.created
    narrator.say(
        f"AWS (moto server) {moto_url}: created from template.yaml — table {c['StateTable']}, queues "
        f"{c['DataArrivalQueue'].rsplit('/', 1)[1]} (+ DLQ), alarm {c.get('QualityAlarm0')}\n"
        f"  bucket {aws.bucket} (versioned, EventBridge notifications); rule {aws.rule_name} → queue; "
        f"config ssm:{aws.config_parameter}; 5 secrets in Secrets Manager\n"
        f"Argo server stand-in {argo.url} (validates against the swagger + deploy/argo templates)\n"
        f"Slack stand-in {slack.url} (incoming webhook; messages shown as 'slack ┆')\n"
        f"Function URLs {front_url}/mlflow and {front_url}/argocd (the handlers, in-process)\n"
        f"GitOps remote {git_url} (git http-backend + basic auth on {bare}): staging in\n"
        f"  models/{MODEL}/values-staging.yaml (Helm values), production in\n"
        f"  {application_path(MODEL, 'production')} (an Argo CD Application's helm parameter, value v{{version}})\n"
        f"MLflow server starting in the background"
    )


def _collect(loop: Loop, slack: SlackStandin, front: Any, mlflow_url: str) -> DemoResult:
    from mlflow import MlflowClient
    from mlops_glue import guards

    client = MlflowClient(tracking_uri=mlflow_url)
    tags = {
        str(mv.version): dict(mv.tags)
        for mv in client.search_model_versions(filter_string=f"name = '{MODEL}'")
    }
    decisions = loop.timeline.all()
    workflows = loop.workflows()
    (loop.workdir / "workflows.json").write_text(json.dumps(workflows, indent=2), encoding="utf-8")
    manifests = loop.manifests()
    (loop.workdir / "manifests").mkdir(exist_ok=True)
    for name, manifest in manifests.items():
        (loop.workdir / "manifests" / f"{name}.json").write_text(
            json.dumps(manifest, indent=2), encoding="utf-8"
        )
    (loop.workdir / "decisions.jsonl").write_text(
        "".join(d.model_dump_json() + "\n" for d in decisions), encoding="utf-8"
    )
    with slack.lock:
        messages = list(slack.messages)
    return DemoResult(
        workdir=loop.workdir,
        bare_repo=loop.bare,
        report=loop.facts.get("report"),
        workflows=workflows,
        manifests=manifests,
        slack=messages,
        decisions=decisions,
        mlflow_tags=tags,
        blocked=guards.blocked_versions(loop.timeline.store, MODEL),
        argo_rejected=list(loop.argo.rejected),
        front_requests=list(front.requests),
        facts=dict(loop.facts),
        seconds=0.0,
    )


def _where_to_look(narrator: Narrator, result: DemoResult, moto_url: str, aws: LocalStack) -> None:
    narrator.step("Where to look")
    kinds = [w["metadata"]["labels"].get("mlops-glue/kind", "?") for w in result.workflows]
    narrator.say(f"GitOps repository: git --git-dir {result.bare_repo} log --all --graph --oneline")
    narrator.say(git_graph(result.bare_repo).rstrip(), indent=11)
    narrator.say(
        f"Workflows submitted to Argo: {result.workdir / 'workflows.json'} ({', '.join(kinds)}); "
        f"their dataset manifests: {result.workdir / 'manifests'}\n"
        f"Drift report: {result.report}\n"
        f"Decision log: {result.workdir / 'decisions.jsonl'} ({len(result.decisions)} decisions); while the "
        f"servers run (python -m glue_local.demo --keep):"
    )
    env = {
        "AWS_ENDPOINT_URL": moto_url,
        "STATE_TABLE": aws.created["StateTable"],
        **{k: v for k, v in LOCAL_CREDENTIALS.items() if k != "AWS_SESSION_TOKEN"},
    }
    shown = " ".join(f"{k}={v}" for k, v in env.items())
    narrator.say(f"  {shown} uv run mlops-glue decisions list {MODEL}")
    cli = Path(sys.executable).with_name("mlops-glue")  # the console script of this environment
    proc = subprocess.run(
        [str(cli), "decisions", "list", MODEL, "--limit", "20"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = proc.stdout.strip() or proc.stderr.strip()
    narrator.say("\n".join(line[:150] for line in out.splitlines()), indent=11)
    narrator.say(
        f"Logs: {result.workdir / 'functions.log'} (the handlers), "
        f"{result.workdir / 'mlflow' / 'mlflow-server.log'} (MLflow)"
    )


def _wait_for_ctrl_c(narrator: Narrator) -> Callable[[], None]:
    def keep() -> None:
        narrator.say("\nThe servers stay up; press Ctrl-C to stop them.", indent=0)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)

    return keep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m glue_local.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, help="where to keep this run's files (default .demo/run-<time>)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers up after the story, until Ctrl-C"
    )
    parser.add_argument(
        "--artifacts", action="store_true", help="run every function from its built artifact (make build)"
    )
    args = parser.parse_args(argv)
    out = sys.stdout

    def printer(text: str) -> None:
        print(text, file=out, flush=True)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    keep = _wait_for_ctrl_c(Narrator(printer)) if args.keep else None
    try:
        run(args.workdir, printer, keep=keep, artifacts=args.artifacts)
    except KeyboardInterrupt:
        printer("\ninterrupted: everything was stopped")
        return 130
    except DemoError as exc:
        printer(f"\ndemo failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
