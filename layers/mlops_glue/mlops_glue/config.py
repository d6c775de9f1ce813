"""The one configuration file for every flow, validated with pydantic.

Loaded from a YAML file shipped with the deployment or from an SSM parameter (``ssm:/path``). An
invalid file raises :class:`ConfigError` whose message names the offending field.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mlops_glue.drift_config import ColumnDrift as ColumnDrift  # re-exported
from mlops_glue.drift_config import DriftSettings
from mlops_glue.logs import URL_USERINFO
from mlops_glue.names import check_name
from mlops_glue.targets import check_repo_path, parse_path, parse_template
from mlops_glue.texts import validation_text

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ConfigError(ValueError):
    """The configuration is invalid; the message names the field."""


def parse_duration(value: Any) -> timedelta:
    """Parse ``"30m"``, ``"6h"``, ``"7d"``, ``"1w"``, a number of seconds or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    raise ValueError(f"not a duration: {value!r} (use e.g. '30m', '6h', '7d')")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Model):
    max_per_day: int = Field(2, ge=0)
    gpu_hours_per_run: float = Field(4.0, ge=0)
    monthly_gpu_hours: float = Field(200.0, ge=0)


class Emergency(_Model):
    cooldown: Duration = timedelta(hours=1)
    max_per_day: int = Field(2, ge=0)
    priority: int = 100


ARGO_PLACEHOLDERS = ("model", "reason", "decision_id", "dataset_version", "environment")


class ArgoTarget(_Model):
    namespace: str = "ml-pipelines"
    workflow_template: str = "training-pipeline"
    priority: int = 0
    service_account: str | None = None
    parameters: dict[str, str] = Field(
        default_factory=dict,
        description="extra WorkflowTemplate parameters (declared by the template); values may use "
        "{model}, {reason}, {decision_id}, {dataset_version}, {environment}",
    )

    @field_validator("namespace", "workflow_template")
    @classmethod
    def _k8s_name(cls, v: str) -> str:
        return check_name(v, "kubernetes name")

    @field_validator("parameters")
    @classmethod
    def _placeholders(cls, v: dict[str, str]) -> dict[str, str]:
        """Unknown ``{placeholders}`` (or a stray brace) fail here, not with KeyError at submission."""
        for name, value in v.items():
            try:
                fields = [f for _, f, _spec, _conv in string.Formatter().parse(value) if f is not None]
            except ValueError as exc:
                raise ValueError(f"parameter {name!r}: {exc}") from None
            unknown = sorted({f for f in fields if f not in ARGO_PLACEHOLDERS})
            if unknown:
                raise ValueError(
                    f"parameter {name!r}: unknown placeholder(s) {unknown}; "
                    f"use {', '.join('{' + p + '}' for p in ARGO_PLACEHOLDERS)} (double braces for a literal)"
                )
        return v


class Retrain(_Model):
    min_new_rows: int = Field(10000, ge=1)
    max_wait: Duration = timedelta(days=7)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    cooldown: Duration = timedelta(hours=6)
    budget: Budget = Field(default_factory=Budget)
    emergency: Emergency = Field(default_factory=Emergency)
    argo: ArgoTarget = Field(default_factory=ArgoTarget)


class DataSource(_Model):
    bucket: str
    prefix: str
    reference_profile: str
    suffixes: tuple[str, ...] = (".parquet", ".csv", ".csv.gz")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if v.startswith("/") or ".." in v.split("/"):
            raise ValueError("prefix must be relative and must not contain '..'")
        return v


class MetricGate(_Model):
    min: float | None = None
    max: float | None = None
    higher_is_better: bool = True


class Gate(_Model):
    metrics: dict[str, MetricGate] = Field(default_factory=dict)
    must_beat: str | None = Field("champion", description="alias of the version to beat, or null")
    min_improvement: float = 0.0


def _target_path(v: str) -> str:
    parse_path(v)  # a TargetError (a ValueError) names the segment
    return v


def _value_template(v: str) -> str:
    parse_template(v)
    return v


TargetPath = Annotated[str, AfterValidator(_target_path)]
ValueTemplate = Annotated[str, AfterValidator(_value_template)]
RepoPath = Annotated[str, AfterValidator(check_repo_path)]


class DocumentSelector(_Model):
    """One document of a multi-document file, by its ``kind`` and ``metadata.name``."""

    kind: str = Field(..., min_length=1, max_length=253)
    name: str = Field(..., min_length=1, max_length=253)


class Target(_Model):
    """One value a promotion writes: a file, optionally one of its documents, a path, the value to write."""

    file: RepoPath | None = Field(None, description="repository path; default from gitops.path_template")
    document: DocumentSelector | None = Field(None, description="for a multi-document file: {kind, name}")
    path: TargetPath = Field(
        "model.version", description="e.g. spec.source.helm.parameters[name=model.version].value"
    )
    value: ValueTemplate = Field(
        "{version}", description="template: {version} {model} {env} {run_id} {source} {alias} {tags.NAME}"
    )
    image: Literal["tag", "digest"] | None = Field(
        None, description="the path holds an image reference: edit only its tag (or @sha256 digest)"
    )


class Environment(_Model):
    """Where a model's version is written for one environment, and how (commit or pull request).

    Either the one-target shorthand (``file``, ``document``, ``key``, ``value``, ``image``) or a list of
    ``targets``, committed together. ``mode`` defaults to ``pull_request`` for the production
    environment and ``commit`` for every other one, whether the environment is listed or not.
    """

    file: RepoPath | None = Field(None, description="values file; default from gitops.path_template")
    document: DocumentSelector | None = None
    key: TargetPath = Field(
        "model.version", description="the path of the value (same syntax as targets[].path)"
    )
    value: ValueTemplate = "{version}"
    image: Literal["tag", "digest"] | None = None
    targets: tuple[Target, ...] = Field(default=(), description="several edits in one commit or pull request")
    mode: Literal["commit", "pull_request"] | None = Field(
        None, description="default: pull_request for the production environment, commit otherwise"
    )
    auto_merge: bool = False
    argocd_app: str | None = Field(None, description="Argo CD application that deploys this environment")

    @model_validator(mode="after")
    def _one_form(self) -> Environment:
        shorthand = {"file", "document", "key", "value", "image"} & self.model_fields_set
        if self.targets and shorthand:
            raise ValueError(f"use either targets or {', '.join(sorted(shorthand))}, not both")
        seen: set[tuple[object, ...]] = set()
        for t in self.targets:
            where = (t.file, t.document, t.path)
            if where in seen:
                raise ValueError(f"two targets write {t.file or 'the default file'}: {t.path}; keep one")
            seen.add(where)
        return self

    def edit_targets(self) -> tuple[Target, ...]:
        """The targets of this environment (the shorthand as one target)."""
        if self.targets:
            return self.targets
        return (
            Target(file=self.file, document=self.document, path=self.key, value=self.value, image=self.image),
        )


class Promote(_Model):
    gate: Gate = Field(default_factory=Gate)
    environments: dict[str, Environment] = Field(default_factory=dict)
    production_alias: str = "champion"
    production_environment: str = "production"
    staging_environment: str = "staging"
    deploy_tag: str = "deploy"
    auto_rollback: bool = True
    auto_promote: dict[str, str] = Field(default_factory=dict)

    @field_validator("environments")
    @classmethod
    def _env_names(cls, v: dict[str, Environment]) -> dict[str, Environment]:
        for name in v:
            check_name(name, "environment")
        return v

    def environment(self, env: str) -> Environment:
        """The configuration of ``env`` (an unlisted one gets the defaults)."""
        return self.environments.get(env) or Environment()

    def mode(self, env: str) -> Literal["commit", "pull_request"]:
        """How ``env`` is changed: its configured mode, else a pull request for production only."""
        configured = self.environment(env).mode
        if configured is not None:
            return configured
        return "pull_request" if env == self.production_environment else "commit"


class QualityAlarm(_Model):
    namespace: str
    metric: str
    dimensions: dict[str, str] = Field(default_factory=dict)
    statistic: Literal["Average", "Sum", "Minimum", "Maximum", "SampleCount", "p90", "p95", "p99"] = "Average"
    threshold: float
    comparison: Literal[
        "GreaterThanOrEqualToThreshold",
        "GreaterThanThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
    ] = "LessThanThreshold"
    period: int = Field(300, ge=10)
    evaluation_periods: int = Field(3, ge=1)
    datapoints_to_alarm: int | None = None
    treat_missing_data: Literal["breaching", "notBreaching", "ignore", "missing"] = "missing"


class Alarms(_Model):
    drift_score_threshold: float | None = 0.2
    drift_share_threshold: float | None = 0.5
    quality: QualityAlarm | None = None
    debounce: Duration = timedelta(minutes=30)


class Notify(_Model):
    slack_channel: str | None = None
    oncall: str | None = Field(None, description="mention for on-call alerts, e.g. <!subteam^S123>")
    notify_foreign: bool = Field(True, description="post Argo CD notices for apps that are not ours")


FLOWS = ("data_arrival", "alarms", "promotion", "feedback")
Flow = Literal["data_arrival", "alarms", "promotion", "feedback"]


class ModelConfig(_Model):
    data: DataSource | None = None
    retrain: Retrain = Field(default_factory=Retrain)
    promote: Promote = Field(default_factory=Promote)
    alarms: Alarms = Field(default_factory=Alarms)
    notify: Notify = Field(default_factory=Notify)
    shadow: bool | dict[Flow, bool] = Field(
        False,
        description="decide and record 'would act' without acting (no Argo submit, git write, MLflow tag): "
        "true for every flow, or per flow {data_arrival, alarms, promotion, feedback}",
    )

    def shadowed(self, flow: str) -> bool:
        """Whether ``flow`` only says what it would do for this model (shadow mode)."""
        return self.shadow if isinstance(self.shadow, bool) else bool(self.shadow.get(flow, False))  # type: ignore[call-overload]


class GitOps(_Model):
    backend: Literal["github", "gitlab", "git"] = "github"
    repo: str = Field(
        ..., description="owner/name for GitHub, group/project for GitLab, an https URL or path for git"
    )
    url: str | None = Field(
        None, description="GitLab's base URL (default https://gitlab.com) or GitHub Enterprise's API URL"
    )
    remote: str | None = Field(
        None, description="the git HTTPS URL when it is not {url}/{repo}.git (GitLab); never with credentials"
    )
    username: str | None = Field(
        None, description="HTTPS user name sent with the token (default x-access-token; oauth2 on GitLab)"
    )
    branch: str = "main"
    path_template: str = "models/{model}/values-{env}.yaml"

    @field_validator("repo", "url", "remote")
    @classmethod
    def _no_credentials(cls, v: str | None) -> str | None:
        """A token belongs in Secrets Manager (``token_secret``), never in the configuration file."""
        if v is not None and URL_USERINFO.search(v):
            raise ValueError("a URL with credentials in it (user:token@host): put the token in token_secret")
        return v

    @field_validator("path_template")
    @classmethod
    def _path_template(cls, v: str) -> str:
        try:
            check_repo_path(v.format(model="m", env="e"))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"path_template {v!r}: use only {{model}} and {{env}} ({exc})") from None
        return v

    token_secret: str | None = Field(
        None, description="Secrets Manager name of the token (GitHub: token or App key; GitLab: api scope)"
    )
    author_name: str = "mlops-glue"
    author_email: str = "mlops-glue@users.noreply.github.com"


class ArgoServer(_Model):
    server: str = "https://argo.example.internal"
    artifacts_bucket: str | None = Field(
        None,
        description="where training writes (the WorkflowTemplate's artifacts-bucket parameter): "
        "Terraform's `artifacts_bucket_name` output",
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    )
    environment: str = Field("dev", description="the workflow's environment parameter (dev, staging, prod)")
    ui_url: str | None = None
    token_secret: str | None = Field(None, description="Secrets Manager name of the bearer token")
    verify_tls: bool = True
    timeout_seconds: float = 10.0


class Slack(_Model):
    webhook_secret: str | None = Field(None, description="Secrets Manager name of the incoming webhook URL")
    bot_token_secret: str | None = Field(None, description="Secrets Manager name of a bot token")
    default_channel: str | None = None


class MLflow(_Model):
    tracking_uri: str = "http://127.0.0.1:5000"
    ui_url: str | None = None
    webhook_secret: str | None = Field(None, description="Secrets Manager name of the webhook secret")
    replay_window: Duration = timedelta(minutes=15)


class ArgoCD(_Model):
    secret: str | None = Field(None, description="Secrets Manager name of the shared notification secret")
    header: str = "X-Glue-Token"
    notify_unknown_apps: bool = Field(True, description="post a notice for applications no model maps to")
    default_namespace: str = Field(
        "argocd",
        description="namespace of applications named without one (argocd_app: name, or <model>-<env>)",
    )


class Replay(_Model):
    record: bool = Field(True, description="record each event's normalized input for `mlops-glue replay`")
    ttl: Duration = Field(timedelta(days=35), description="how long recorded events are kept (DynamoDB TTL)")


class GlueConfig(_Model):
    models: dict[str, ModelConfig]
    gitops: GitOps | None = None
    argo: ArgoServer = Field(default_factory=ArgoServer)
    slack: Slack = Field(default_factory=Slack)
    mlflow: MLflow = Field(default_factory=MLflow)
    argocd: ArgoCD = Field(default_factory=ArgoCD)
    replay: Replay = Field(default_factory=Replay)

    @field_validator("models")
    @classmethod
    def _model_names(cls, v: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        for name in v:
            check_name(name, "model name")
        return v

    def model(self, name: str) -> ModelConfig:
        """The configuration of model ``name``; KeyError names the model when it is unknown."""
        try:
            return self.models[name]
        except KeyError:
            raise KeyError(f"model {name!r} is not configured") from None

    def model_for_object(self, bucket: str, key: str) -> str | None:
        """The model whose data prefix routes ``s3://bucket/key``: the longest matching prefix wins."""
        best: tuple[int, str] | None = None
        for name, m in self.models.items():
            matches = m.data is not None and m.data.bucket == bucket and key.startswith(m.data.prefix)
            if matches and m.data and (best is None or len(m.data.prefix) > best[0]):
                best = (len(m.data.prefix), name)
        return best[1] if best else None

    def values_file(self, model: str, env: str) -> str:
        """The file of the first target of ``model`` in ``env`` (configured or from the path template)."""
        return self.target_file(model, env, self.model(model).promote.environment(env).edit_targets()[0])

    def target_file(self, model: str, env: str, target: Target) -> str:
        """The repository path ``target`` edits (its ``file``, else gitops.path_template)."""
        check_name(model, "model name")
        check_name(env, "environment")
        if target.file:
            return target.file
        template = self.gitops.path_template if self.gitops else GitOps.model_fields["path_template"].default
        return check_repo_path(str(template).format(model=model, env=env))

    def hash(self) -> str:
        """A stable hash of the effective configuration, recorded with every decision."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _format_error(exc: ValidationError, origin: str) -> str:
    return f"invalid configuration in {origin}: {validation_text(exc, None)}"


def parse_config(text: str, origin: str = "<string>") -> GlueConfig:
    """Parse YAML text into a validated :class:`GlueConfig`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML in {origin}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid configuration in {origin}: the top level must be a mapping")
    try:
        return GlueConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, origin)) from exc


def load_config(source: str, ssm_client: Any | None = None) -> GlueConfig:
    """Load the configuration from a file path or an SSM parameter (``ssm:/name``)."""
    if source.startswith("ssm:"):
        from aws_lambda_powertools.utilities import parameters

        name = source.removeprefix("ssm:")
        kwargs: dict[str, Any] = {"max_age": 300}
        if ssm_client is not None:
            provider = parameters.SSMProvider(boto3_client=ssm_client)
            text = provider.get(name, **kwargs)
        else:
            text = parameters.get_parameter(name, **kwargs)
        return parse_config(str(text), origin=source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {source}: {exc.strerror}") from exc
    return parse_config(text, origin=source)


@lru_cache(maxsize=4)
def cached_config(source: str) -> GlueConfig:
    """Load once per Lambda execution environment (the config ships with the deployment)."""
    return load_config(source)
