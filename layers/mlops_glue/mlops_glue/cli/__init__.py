"""The ``mlops-glue`` command. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

# command group -> module with ``register(subparsers)``; imported lazily so ``--help`` stays fast
GROUPS: dict[str, str] = {
    "profile": "mlops_glue.cli.drift",
    "drift": "mlops_glue.cli.drift",
    "window": "mlops_glue.cli.ops",
    "decisions": "mlops_glue.cli.ops",
    "dlq": "mlops_glue.cli.ops",
    "alarms": "mlops_glue.cli.alarms",
    "gitops": "mlops_glue.cli.gitops",
    "replay": "mlops_glue.cli.replay",
}


def build_parser(group: str | None = None) -> argparse.ArgumentParser:
    """The parser of every group, or of ``group`` only (``drift check`` loads no other group's imports)."""
    parser = argparse.ArgumentParser(prog="mlops-glue", description=__doc__)
    sub = parser.add_subparsers(dest="group", required=True)
    for module in [GROUPS[group]] if group in GROUPS else dict.fromkeys(GROUPS.values()):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue  # the group is not installed in this build
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; each command returns its exit code (0 ok, 1 a finding such as drift, 2 an error)."""
    # the glue uses no pydantic plugins; discovering them reads every installed distribution's metadata
    # (~30 ms of a `drift check`'s start-up). An operator who wants one sets the variable to ""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
