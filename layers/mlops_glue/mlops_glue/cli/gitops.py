"""``mlops-glue gitops check`` and ``gitops preview``: the GitOps targets against a repository, writing nothing.

* ``check`` resolves every model's and environment's targets at the branch head and says, per target,
  what it holds or why a promotion would fail there (exit 1 when one would).
* ``preview MODEL ENV VERSION --tag NAME=VALUE …`` prints the unified diff of the commit a promotion of
  that version would make — the same diff the production pull request carries.

``--repo`` takes a local clone or a git URL (read with the git backend); without it the configured
backend is used with its token from Secrets Manager. Exit codes: 0 ok, 1 a target would fail, 2 an
error with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_glue.adapters.gitops import GitOpsRepo
    from mlops_glue.config import GlueConfig

PROBES = {"tag": "mlops-glue-check", "digest": "sha256:" + "0" * 64, None: "mlops-glue-check"}


def register(subparsers: Any) -> None:
    """Add the ``gitops`` command group."""
    gitops = subparsers.add_parser("gitops", help="check and preview the GitOps write-back")
    sub = gitops.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="resolve every target against the repository (exit 1: one fails)")
    _common(check)
    check.set_defaults(func=_check)
    preview = sub.add_parser("preview", help="print the diff a promotion would commit, writing nothing")
    preview.add_argument("model")
    preview.add_argument("env")
    preview.add_argument("version", help="the MLflow model version")
    preview.add_argument("--tag", action="append", default=[], metavar="NAME=VALUE", help="a version tag")
    preview.add_argument("--run-id", default="run-id", help="the version's run id ({run_id})")
    preview.add_argument("--source", default=None, help="the version's artifact URI ({source})")
    preview.add_argument("--alias", default=None, help="the alias ({alias})")
    _common(preview)
    preview.set_defaults(func=_preview)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=os.environ.get("CONFIG_SOURCE", "config/glue.yaml"),
        help="the configuration (path or ssm:/name; default $CONFIG_SOURCE or config/glue.yaml)",
    )
    parser.add_argument("--repo", default=None, help="a local clone or a git URL (default: gitops.repo)")


def _fail(reason: object) -> int:
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    print(f"mlops-glue: {text}", file=sys.stderr)
    return 2


def _open(args: argparse.Namespace) -> tuple[GlueConfig, GitOpsRepo]:
    from mlops_glue.config import load_config

    config = load_config(args.config)
    if args.repo is None:
        from mlops_glue import runtime
        from mlops_glue.adapters.gitops_factory import gitops_repo_from_config

        return config, gitops_repo_from_config(config, runtime.secrets())
    from mlops_glue.adapters.gitops_git import GitRepo

    branch = config.gitops.branch if config.gitops else "main"
    return config, GitRepo(args.repo, branch)


def _check(args: argparse.Namespace) -> int:
    from mlops_glue.adapters.gitops import GitOpsError, GitOpsFileError
    from mlops_glue.adapters.values_yaml import edit_scalar, read_scalar
    from mlops_glue.config import ConfigError
    from mlops_glue.decisions.promote import environments
    from mlops_glue.services.gitops_change import location
    from mlops_glue.targets import TargetError, parse_template

    try:
        config, repo = _open(args)
    except (ConfigError, GitOpsError) as exc:
        return _fail(exc)
    failures = 0
    for model, model_cfg in config.models.items():
        for env in environments(model_cfg.promote):
            for target in model_cfg.promote.environment(env).edit_targets():
                path = config.target_file(model, env, target)
                loc = location(target)
                where = f"{model}/{env} {path}: {loc}"
                try:
                    text = repo.read(path)
                    edit_scalar(text, loc, PROBES[target.image], path)  # the edit a promotion would make
                except (TargetError, GitOpsFileError) as exc:
                    failures += 1
                    print(f"✗ {where}: {exc}")
                    continue
                except GitOpsError as exc:  # the repository itself: nothing can be checked
                    return _fail(exc)
                needs = parse_template(target.value).tags
                note = f"; every version needs tag {', '.join(needs)}" if needs else ""
                print(f"✓ {where} holds {read_scalar(text, loc, path)!r}{note}")
    print(f"{failures} target(s) would fail" if failures else "every target resolves")
    return 1 if failures else 0


def _preview(args: argparse.Namespace) -> int:
    from mlops_glue.adapters.gitops import GitOpsError
    from mlops_glue.adapters.registry import ModelVersion
    from mlops_glue.config import ConfigError
    from mlops_glue.names import InvalidNameError, check_name
    from mlops_glue.services.gitops_change import plan_change, preview
    from mlops_glue.targets import TargetError

    tags = {}
    for item in args.tag:
        name, eq, value = item.partition("=")
        if not eq or not name:
            return _fail(f"--tag takes NAME=VALUE, got {item!r}")
        tags[name] = value
    try:
        check_name(args.model, "model name")
        check_name(args.env, "environment")
        config, repo = _open(args)
        mv = ModelVersion(args.model, args.version, args.run_id, tags, source=args.source)
        change = plan_change(config, args.model, args.env, mv, args.alias)
        diff = preview(repo, change)
    except (ConfigError, GitOpsError, TargetError, InvalidNameError, KeyError) as exc:
        return _fail(exc.args[0] if isinstance(exc, KeyError) else exc)
    if not diff:
        print(f"# {change.where} already {change.verb} v{change.version}: nothing to commit", file=sys.stderr)
    sys.stdout.write(diff)
    return 0
