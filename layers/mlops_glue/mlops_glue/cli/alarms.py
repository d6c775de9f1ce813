"""``mlops-glue alarms``: the template parameters that declare a model's alarms from the config file."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any


def register(subparsers: Any) -> None:
    alarms = subparsers.add_parser("alarms", help="CloudWatch alarms of a model")
    asub = alarms.add_subparsers(dest="command", required=True)
    params = asub.add_parser(
        "params",
        help="print `sam deploy --parameter-overrides` declaring MODEL's alarms (from its `alarms` config)",
    )
    params.add_argument("model")
    params.add_argument("--config", required=True, help="the configuration file (path or ssm:/name)")
    params.set_defaults(func=_params)


def _params(args: argparse.Namespace) -> int:
    from mlops_glue.config import ConfigError, load_config
    from mlops_glue.services.alarms import template_parameters

    try:
        overrides = template_parameters(load_config(args.config), args.model)
    except (ConfigError, KeyError, ValueError) as exc:
        print(f"mlops-glue alarms params: {exc}", file=sys.stderr)
        return 2
    print(" ".join(f"{k}={shlex.quote(v)}" for k, v in overrides.items()))
    return 0
