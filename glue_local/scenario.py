"""The demo's story, step by step, on the local stack :mod:`glue_local.demo` starts.

Each step makes the outside world do what it would do in production (S3 puts, Argo finishing a
workflow, the training's register step, Argo CD notifications, a CloudWatch alarm), lets the
real delivery path carry it to a handler, then prints the decisions the handlers recorded, with their
reasons. A step whose outcome is not the expected one raises :class:`DemoError` saying what and where.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from mlops_glue.adapters.state import StateStore
from mlops_glue.config import GlueConfig
from mlops_glue.records import Decision, Outcome

from glue_local import argocd_render, servers
from glue_local.aws_local import LocalStack, SqsEventSource, pattern_matches
from glue_local.cloudwatch import evaluate, eventbridge
from glue_local.functions import ArtifactFunction, LocalFunction
from glue_local.gitops_seed import bare_branches, bare_file, bare_log, git
from glue_local.standins import ArgoStandin

MODEL = "fraud-detection"
REFERENCE_ROWS = 5000
BATCH_ROWS = 1200
DRIFT_ROWS = 1500
# the training pipeline's "register" step, played by the demo: (val_auc of the version it registers)
CHAMPION_AUC = 0.88  # v1, deployed everywhere before the demo starts
ROWS_RUN_AUC = 0.80  # the first retraining's model: below the gate's 0.85
DRIFT_RUN_AUC = 0.91  # the drift retraining's model: passes and beats the champion


class DemoError(RuntimeError):
    """A step of the demo did not end as expected."""


class Narrator:
    """Prints the timeline: steps, facts, decisions with their reasons, Slack messages (thread-safe)."""

    def __init__(self, printer: Callable[[str], None]) -> None:
        self._printer = printer
        self._lock = threading.Lock()
        self.t0 = time.monotonic()

    def say(self, text: str = "", indent: int = 9) -> None:
        pad = " " * indent
        with self._lock:
            self._printer("\n".join(pad + line if line else "" for line in text.splitlines() or [""]))

    def step(self, title: str) -> None:
        with self._lock:
            self._printer(f"\n[{time.monotonic() - self.t0:5.1f}s] {title}")

    def slack(self, rendered: str) -> None:
        """The Slack stand-in's printer: each message framed as what the channel would show."""
        lines = rendered.splitlines() or [""]
        with self._lock:
            self._printer("\n".join(f"         slack ┆ {_clip(line, 150)}" for line in lines))

    def decision(self, d: Decision) -> None:
        mark = {Outcome.ACTED: "◆", Outcome.REJECTED: "✗", Outcome.FAILED: "‼"}.get(d.outcome, "◇")
        env = f" /{d.environment}" if d.environment else ""
        lines = [f"{mark} decision {d.kind.value}{env}: {d.outcome.value.upper()}   ({d.decision_id})"]
        lines += [f"    because {r}" for r in d.reasons[:6]]
        for k, v in d.action.items():
            if k in ("workflow_url", "report_url", "url", "promotion_url") or not v:
                continue
            lines.append(f"    → {k}: {v if len(str(v)) <= 110 else str(v)[:107] + '...'}")
        self.say("\n".join(lines), indent=7)


@dataclass
class Timeline:
    """The decisions recorded so far, printed once each (a re-recorded decision prints again)."""

    store: StateStore
    narrator: Narrator
    model: str = MODEL
    seen: dict[str, tuple[str, int]] = field(default_factory=dict)
    printed: list[Decision] = field(default_factory=list)

    def all(self) -> list[Decision]:
        return sorted(self.store.decisions_for(self.model, limit=500), key=lambda d: d.created_at)

    def flush(self) -> list[Decision]:
        new = []
        for d in self.all():
            key = (d.outcome.value, len(d.reasons) + len(d.action))
            if self.seen.get(d.decision_id) != key:
                self.seen[d.decision_id] = key
                new.append(d)
                self.narrator.decision(d)
        self.printed.extend(new)
        return new


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """:func:`glue_local.servers.wait_for`, failing the step with a DemoError."""
    try:
        return servers.wait_for(check, what, timeout)
    except TimeoutError as exc:
        raise DemoError(str(exc)) from None


@dataclass
class Loop:
    """Everything the steps act on."""

    narrator: Narrator
    timeline: Timeline
    workdir: Path
    cfg: GlueConfig
    stack: LocalStack
    functions: dict[str, LocalFunction | ArtifactFunction]
    esm: SqsEventSource
    argo: ArgoStandin
    front_url: str
    bare: Path
    secrets: dict[str, str]
    mlflow_url: Callable[[], str]  # waits for the MLflow server (started in the background)
    facts: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ helpers
    @property
    def s3(self) -> Any:
        return self.stack.endpoint.client("s3")

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            raise DemoError(f"{what} (logs: {self.workdir / 'functions.log'})")

    def workflows(self) -> list[dict[str, Any]]:
        """The workflows Argo accepted, in the order they were submitted (copies)."""
        with self.argo.lock:
            return [json.loads(json.dumps(w)) for w in self.argo.workflows.values()]

    def finish_workflow(self, name: str, phase: str = "Succeeded") -> None:
        """What Argo reports once the pipeline ran: the workflow leaves the in-flight phases."""
        ns = self.cfg.model(MODEL).retrain.argo.namespace
        with self.argo.lock:
            self.argo.workflows[(ns, name)]["status"]["phase"] = phase

    def put_parquet(self, key: str, table: Any) -> str:
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(table, buf)
        resp = self.s3.put_object(Bucket=self.stack.bucket, Key=key, Body=buf.getvalue())
        return str(resp["VersionId"])

    def manifests(self) -> dict[str, dict[str, Any]]:
        """Each submitted workflow's dataset manifest (read from S3), by workflow name."""
        out = {}
        for wf in self.workflows():
            params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
            bucket, key = params["dataset-manifest"].removeprefix("s3://").split("/", 1)
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            out[wf["metadata"]["name"]] = json.loads(body)
        return out

    def window(self) -> dict[str, Any]:
        from mlops_glue.keys import window_key

        got = self.timeline.store.get(*window_key(MODEL))
        return dict(got.data) if got else {}

    def window_line(self) -> str:
        w = self.window()
        r = self.cfg.model(MODEL).retrain
        if not w.get("rows"):
            return f"the window closed, new window {w.get('window_id')} opened"
        text = f"window {w.get('window_id')}: {w.get('files', 0)} file(s), {int(w.get('rows', 0)):,} rows"
        text += f" (retrain at {r.min_new_rows:,})"
        drift = w.get("drift")
        if drift:
            text += f"; drift share {drift['drift_share']:.2f} (threshold {r.drift.dataset_drift_share})"
        return text

    def decisions(self, kind: str, outcome: str | None = None) -> list[Decision]:
        return [
            d
            for d in self.timeline.all()
            if d.kind.value == kind and (outcome is None or d.outcome.value == outcome)
        ]

    # ------------------------------------------------------------------ steps
    def reference(self) -> None:
        from mlops_glue.drift import build_profile
        from mlops_glue.drift.synth import make_table, write

        self.narrator.step("1 · Reference data and its drift profile")
        ref = write(make_table(REFERENCE_ROWS, seed=1), self.workdir / "data" / "reference.parquet")
        profile = build_profile(str(ref))
        data = self.cfg.model(MODEL).data
        assert data is not None
        self.s3.put_object(
            Bucket=self.stack.bucket, Key="fraud/reference/reference.parquet", Body=ref.read_bytes()
        )
        bucket, key = data.reference_profile.removeprefix("s3://").split("/", 1)
        self.s3.put_object(Bucket=bucket, Key=key, Body=profile.to_json())
        done = self.esm.drain()  # the bucket notifies every put: these two are not under the data prefix
        keys = [b["detail"]["object"]["key"] for batch in done for b in batch.bodies]
        self.narrator.say(
            f"s3://{self.stack.bucket}/fraud/reference/reference.parquet: {REFERENCE_ROWS:,} rows, "
            f"{len(profile.compared)} columns\n"
            f"{data.reference_profile}: binned profile (fingerprint {profile.fingerprint[:12]})\n"
            f"their {len(keys)} Object Created events reached the handler too: not under "
            f"{data.prefix}, so no model's data (nothing recorded)"
        )

    def batches(self) -> None:
        from mlops_glue.drift.synth import make_table

        self.narrator.step(
            "2 · Small batches arrive: S3 → EventBridge (the template's rule) → SQS → s3_new_data"
        )
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        for i in range(1, 4):
            key = f"fraud/incoming/{day}/batch-{i:03d}.parquet"
            version = self.put_parquet(key, make_table(BATCH_ROWS, seed=100 + i))
            self.narrator.say(f"put {key} ({BATCH_ROWS:,} rows, version {version[:8]}…)")
            self.facts.setdefault("batches", []).append((key, version))
            done = self.esm.drain()
            self.expect(
                [b["detail"]["object"]["key"] for batch in done for b in batch.bodies] == [key],
                f"the queue did not carry exactly the Object Created event of {key}",
            )
            self.narrator.say("  1 message → s3_new_data → deleted; " + self.window_line())
        self.timeline.flush()
        acted = self.decisions("retrain", "acted")
        self.expect(len(acted) == 1, "three batches should close one window into one retraining")
        wf = self.workflows()
        self.expect(len(wf) == 1, "the retraining should be one workflow in Argo")
        self.show_workflow(wf[0])
        self.facts["rows_decision"] = acted[0]
        self.facts["rows_workflow"] = wf[0]["metadata"]["name"]
        self.finish_workflow(wf[0]["metadata"]["name"])
        self.narrator.say(f"Argo (stand-in): {wf[0]['metadata']['name']} ran → Succeeded")

    def show_workflow(self, wf: dict[str, Any]) -> None:
        params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
        self.narrator.say(
            f"Argo (stand-in) accepted {wf['metadata']['name']} — request valid against the swagger and "
            f"WorkflowTemplate {wf['metadata']['namespace']}/{wf['spec']['workflowTemplateRef']['name']}\n"
            f"  trigger-reason={params.get('trigger-reason')} priority={wf['spec']['priority']} "
            f"dataset-manifest={params.get('dataset-manifest')}"
        )

    def drift(self) -> None:
        from mlops_glue.drift.synth import make_table

        self.narrator.step("3 · A drifted batch arrives: drift retraining with its HTML report")
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        key = f"fraud/incoming/{day}/batch-004-drifted.parquet"
        version = self.put_parquet(key, make_table(DRIFT_ROWS, seed=104, drift=True))
        self.facts["drift_batch"] = (key, version)
        self.narrator.say(f"put {key} ({DRIFT_ROWS:,} rows; 5 of 25 columns shifted)")
        self.esm.drain()
        self.narrator.say("  1 message → s3_new_data → deleted; " + self.window_line())
        self.timeline.flush()
        acted = [d for d in self.decisions("retrain", "acted") if d.evidence.get("trigger") == "drift"]
        self.expect(len(acted) == 1, "the drifted batch should trigger one drift retraining")
        d = acted[0]
        wf = [w for w in self.workflows() if w["metadata"]["name"] == d.action.get("workflow")]
        self.expect(len(wf) == 1, f"workflow {d.action.get('workflow')} should be in Argo")
        self.show_workflow(wf[0])
        report_uri = d.action.get("report_uri", "")
        self.expect(bool(report_uri), "the drift retraining should come with an HTML report")
        bucket, key = report_uri.removeprefix("s3://").split("/", 1)
        html = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        report = self.workdir / "reports" / Path(key).name
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_bytes(html)
        self.narrator.say(f"drift report: {report_uri} → {report} ({len(html) // 1024} KiB)")
        self.facts.update(drift_decision=d, drift_workflow=d.action["workflow"], report=report)
        self.finish_workflow(d.action["workflow"])
        self.narrator.say(f"Argo (stand-in): {d.action['workflow']} ran → Succeeded")

    def register(self) -> None:
        """The two trainings' register steps: v2 fails the gate, v3 passes and lands in staging."""
        self.narrator.step("4 · The trainings register their models in MLflow: webhook → gate → GitOps")
        client = self.mlflow_client()
        runs = [
            (self.facts["rows_workflow"], self.facts["rows_decision"].decision_id, ROWS_RUN_AUC),
            (self.facts["drift_workflow"], self.facts["drift_decision"].decision_id, DRIFT_RUN_AUC),
        ]
        staging = self.cfg.values_file(MODEL, "staging")
        threshold = self.cfg.model(MODEL).promote.gate.metrics["val_auc"].min or 0.0
        for workflow, decision_id, auc in runs:
            version = register_version(
                client, MODEL, auc, {"mlops-glue.workflow": workflow, "mlops-glue.decision-id": decision_id}
            )
            self.narrator.say(f"{workflow} registered {MODEL} v{version} (val_auc {auc}) → MLflow webhook")
            gate: list[Decision] = wait_for(
                partial(self.gate_decisions, version),
                f"the gate's decision on v{version} (MLflow webhook → /mlflow)",
            )
            self.timeline.flush()
            tags = client.get_model_version(MODEL, version).tags
            self.narrator.say(f"MLflow tags on v{version}: validation_status={tags.get('validation_status')}")
            self.facts.setdefault("versions", []).append(version)
            if auc >= threshold:
                self.expect(gate[0].outcome is Outcome.ACTED, f"v{version} should pass the gate")
                sha = gate[0].action.get("commit", "")
                self.expect(
                    f"version: {version}\n" in bare_file(self.bare, staging),
                    f"{staging} should hold v{version}",
                )
                self.narrator.say(f"GitOps: {staging} now holds v{version} (commit {sha[:10]})")
                self.facts.update(candidate=version, staging_sha=sha)
            else:
                self.expect(gate[0].outcome is Outcome.REJECTED, f"v{version} should fail the gate")

    def gate_decisions(self, version: str) -> list[Decision]:
        return [
            d
            for d in self.decisions("promote")
            if d.evidence.get("version") == version and d.environment == "staging"
        ]

    def mlflow_client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.mlflow_url())

    def argocd(self, trigger: str, app: str, revision: str, **status: str) -> dict[str, Any]:
        """Send what Argo CD's notifications controller sends for ``trigger`` (our template and service)."""
        import requests
        import yaml

        body = argocd_render.body(trigger, argocd_render.application(name=app, revision=revision, **status))
        service = yaml.safe_load(argocd_render.configmap()["data"]["service.webhook.mlops-glue"])
        token = self.secrets["mlops-glue/argocd-token"]
        headers = {h["name"]: str(h["value"]).replace("$mlops-glue-token", token) for h in service["headers"]}
        resp = requests.post(f"{self.front_url}/argocd", data=body.encode(), headers=headers, timeout=120)
        self.expect(
            resp.status_code == 202,
            f"Argo CD notification {trigger} answered {resp.status_code}: {resp.text[:300]}",
        )
        # accepted and queued: the worker's decision is in the state table under its stable id
        from mlops_glue.decisions import feedback as policy

        n = policy.parse_notification(body)
        did = policy.decision_id_for(n, policy.signal(n))
        d: Decision = wait_for(
            lambda: self.timeline.store.get_decision(did), f"the worker's decision on {trigger} ({did})"
        )
        return {
            "decision_id": d.decision_id,
            "kind": d.kind.value,
            "outcome": d.outcome.value,
            "action": d.action,
            "reasons": d.reasons,
        }

    def deployed(self) -> None:
        self.narrator.step("5 · Argo CD: staging synced and healthy (on-deployed) → production pull request")
        sha, version = self.facts["staging_sha"], self.facts["candidate"]
        answer = self.argocd("on-deployed", f"{MODEL}-staging", sha)
        self.narrator.say(
            f"POST /argocd on-deployed {MODEL}-staging @ {sha[:10]} → 202, worker: {answer['outcome']}"
        )
        self.timeline.flush()
        branch = answer["action"].get("promotion_branch", "")
        self.expect(
            bool(branch) and branch in bare_branches(self.bare),
            "the production pull request branch should be pushed",
        )
        production = self.cfg.values_file(MODEL, "production")
        self.expect(
            f'value: "v{version}"' in bare_file(self.bare, production, ref=branch),
            f"branch {branch} should set {production}'s helm parameter model.version to v{version}",
        )
        self.narrator.say(
            f"GitOps: branch {branch} sets {production} spec.source.helm.parameters[name=model.version]"
            f" to v{version} (the pull request)"
        )
        self.facts["pr_branch"] = branch

    def degraded(self) -> None:
        self.narrator.step(
            "6 · Argo CD: staging health Degraded → rollback (git revert) and block the version"
        )
        sha, version = self.facts["staging_sha"], self.facts["candidate"]
        answer = self.argocd(
            "on-health-degraded",
            f"{MODEL}-staging",
            sha,
            health="Degraded",
            message="successfully synced (all tasks run)",
        )
        self.narrator.say(
            f"POST /argocd on-health-degraded {MODEL}-staging @ {sha[:10]} → 202, worker: {answer['outcome']}"
        )
        self.expect(
            answer["kind"] == "rollback" and answer["outcome"] == "acted",
            "the degraded version should be rolled back",
        )
        wait_for(
            lambda: [
                d for d in self.decisions("notify_only", "acted") if d.action.get("blocklisted") == version
            ],
            f"the MLflow tag blocked=true on v{version} to come back as a webhook",
        )
        self.timeline.flush()
        staging = self.cfg.values_file(MODEL, "staging")
        self.expect(
            f"version: {version}\n" not in bare_file(self.bare, staging),
            f"{staging} should no longer hold v{version}",
        )
        tags = self.mlflow_client().get_model_version(MODEL, version).tags
        self.expect(tags.get("blocked") == "true", f"v{version} should be tagged blocked in MLflow")
        self.narrator.say(
            f"GitOps: {bare_log(self.bare)[0]!r}; MLflow: v{version} blocked=true "
            f"({tags.get('blocked_reason', '')[:60]})"
        )
        self.facts["revert_sha"] = answer["action"].get("commit", "")

    def alarm(self) -> None:
        self.narrator.step("7 · CloudWatch: model quality drops → alarm → emergency retraining")
        cw = self.stack.endpoint.client("cloudwatch")
        alarm_name = self.stack.created["QualityAlarm0"]  # the demo's one model, slot 0
        [alarm] = cw.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"]
        now = datetime.now(UTC)
        values = [0.74, 0.72, 0.71]
        cw.put_metric_data(
            Namespace=alarm["Namespace"],
            MetricData=[
                {
                    "MetricName": alarm["MetricName"],
                    "Dimensions": alarm["Dimensions"],
                    "Value": v,
                    "Timestamp": now - timedelta(seconds=alarm["Period"] * (len(values) - i)),
                    "Unit": "None",
                }
                for i, v in enumerate(values)
            ],
        )
        before, after = evaluate(cw, alarm_name, now)
        self.expect(after["StateValue"] == "ALARM", f"{alarm_name} should go into ALARM")
        self.narrator.say(
            f"put {alarm['MetricName']} {values} ({alarm['Namespace']}) → {alarm_name}: "
            f"{before['StateValue']} → {after['StateValue']}\n  {after['StateReason'][:150]}"
        )
        event = eventbridge(before, after)
        self.expect(
            pattern_matches(self.stack.alarm_pattern(), event),
            "the template's AlarmStateChange rule should route this event",
        )
        out = self.functions["CloudwatchAlarmFunction"](event)
        self.narrator.say(
            f"EventBridge 'CloudWatch Alarm State Change' (the template's rule matches) → handler: {out['results'][0]['outcome']}"
        )
        self.timeline.flush()
        acted = self.decisions("emergency_retrain", "acted")
        self.expect(len(acted) == 1, "the alarm should start one emergency retraining")
        wf = [w for w in self.workflows() if w["metadata"]["name"] == acted[0].action.get("workflow")]
        self.expect(len(wf) == 1, "the emergency workflow should be in Argo")
        self.show_workflow(wf[0])


def register_version(client: Any, model: str, val_auc: float, tags: dict[str, str] | None = None) -> str:
    """A run with ``val_auc`` and a registered version of ``model`` from it (the pipeline's register step)."""
    exp = client.get_experiment_by_name(model)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(model)
    run = client.create_run(exp_id, tags=dict(tags or {}))
    client.log_metric(run.info.run_id, "val_auc", val_auc)
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models(filter_string=f"name = '{model}'"):
        client.create_registered_model(model)
    mv = client.create_model_version(model, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    return str(mv.version)


def git_graph(bare: Path) -> str:
    """The GitOps repository's history, every branch (what a reviewer would look at)."""
    return git(bare, "log", "--all", "--graph", "--format=%h %s%d")
