"""``mlops-glue replay``: what would a configuration have decided over a recorded period?
``mlops-glue decisions export``: the period's recorded events and decisions as a local file.

``replay`` reads the recorded events from the state table (``STATE_TABLE``; the baseline is the deployed
configuration, ``CONFIG_SOURCE``) or, with ``--from-file``, from an export (the baseline is the
configuration the export carries, or ``--baseline-config``): no AWS access at all then. Nothing is ever
acted on. Exit codes: 0 nothing differs, 1 decisions differ, 2 error with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from mlops_glue.cli.ops import _fail
from mlops_glue.records import utcnow


def register(subparsers: Any) -> None:
    """Add the ``replay`` command (``decisions export`` is added by ``cli.ops`` through :func:`add_export`)."""
    p = subparsers.add_parser(
        "replay", help="re-run recorded events with another configuration; acts on nothing"
    )
    p.add_argument("--since", required=True, help="start: a duration back from now (30d, 12h) or an ISO time")
    p.add_argument("--until", default=None, help="end (exclusive): a duration back from now or an ISO time")
    p.add_argument("--model", default=None, help="only this model's events")
    p.add_argument("--config", required=True, help="the configuration to try (YAML file or ssm:/name)")
    p.add_argument(
        "--baseline-config", default=None, help="compare with this configuration (default: the deployed one)"
    )
    p.add_argument("--from-file", default=None, help="an export of `mlops-glue decisions export` (no AWS)")
    p.add_argument("--json", action="store_true", help="the whole report as JSON")
    p.add_argument("--limit", type=int, default=200, help="differences printed (all with --json)")
    p.set_defaults(func=_replay)


def add_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", required=True, help="a duration back from now (30d) or an ISO time")
    parser.add_argument("--until", default=None, help="end (exclusive); default now")
    parser.add_argument("--model", default=None, help="only this model (default: every configured model)")
    parser.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    parser.set_defaults(func=_export)


def parse_when(value: str | None, now: datetime) -> datetime | None:
    """``30d`` / ``12h`` back from ``now``, or an ISO time (UTC when it has no zone)."""
    if value is None:
        return None
    from mlops_glue.config import parse_duration

    try:
        back = parse_duration(value)
    except ValueError:
        back = None
    if back is not None:
        try:
            return now - back
        except OverflowError:
            raise ValueError(f"{value!r} back from now is before the year 1") from None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a time: {value!r} (use e.g. 30d, 12h or 2026-11-01T00:00)") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def period(args: argparse.Namespace, now: datetime) -> tuple[datetime, datetime, str | None]:
    """``[since, until)`` from the arguments; ``until`` no later than now (nothing is recorded later).

    A period that ends before it starts is an error; the note says when ``until`` was brought back.
    """
    if getattr(args, "limit", 0) < 0:
        raise ValueError(f"--limit {args.limit}: a number of differences to print, 0 or more")
    since = parse_when(args.since, now)
    until = parse_when(args.until, now) or now
    assert since is not None
    note = None
    if until > now:
        note = f"--until {args.until} is in the future: the period ends now ({now.isoformat(timespec='seconds')})"
        until = now
    if until < since:
        raise ValueError(
            f"the period ends ({until.isoformat(timespec='seconds')}) before it starts "
            f"({since.isoformat(timespec='seconds')}): check --since and --until"
        )
    return since, until, note


def _replay(args: argparse.Namespace) -> int:
    from mlops_glue.config import load_config
    from mlops_glue.names import check_name
    from mlops_glue.replay import export
    from mlops_glue.replay.compare import render, replay

    try:
        now = utcnow()
        since, until, clamped = period(args, now)
        model = check_name(args.model, "model name") if args.model else None
        candidate = load_config(args.config)
        if args.from_file:
            exported = export.read(args.from_file)
            baseline = (
                load_config(args.baseline_config) if args.baseline_config else export.config_of(exported)
            )
            events = exported.events
        else:
            from mlops_glue import runtime
            from mlops_glue.replay.recorder import DynamoEventLog

            baseline = load_config(args.baseline_config) if args.baseline_config else runtime.config()
            log = DynamoEventLog(runtime.settings().state_table)
            models = [model] if model else sorted(set(baseline.models) | set(candidate.models))
            events = [e for m in models for e in log.events(m, since, until)]
        report = replay(events, baseline, candidate, since=since, until=until, model=model)
        if clamped:
            report.notes.insert(0, clamped)
    except Exception as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(render(report, limit=args.limit))
    return 1 if report.differences else 0


def _export(args: argparse.Namespace) -> int:
    from mlops_glue import runtime
    from mlops_glue.names import check_name
    from mlops_glue.replay import export
    from mlops_glue.replay.recorder import DynamoEventLog

    try:
        now = utcnow()
        since, until, clamped = period(args, now)
        if clamped:
            print(f"note: {clamped}", file=sys.stderr)
        cfg = runtime.config()
        models = [check_name(args.model, "model name")] if args.model else sorted(cfg.models)
        table = runtime.settings().state_table
        log = DynamoEventLog(table)
        events = (e for m in models for e in log.events(m, since, until))
        decisions = (d for m in models for d in decisions_between(log.client, table, m, since, until))
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
        try:
            n_events, n_decisions = export.write(out, events, decisions, config=cfg, since=since, until=until)
        finally:
            if out is not sys.stdout:
                out.close()
    except Exception as exc:
        return _fail(exc)
    where = "stdout" if args.output == "-" else args.output
    print(f"exported {n_events:,} event(s) and {n_decisions:,} decision(s) to {where}", file=sys.stderr)
    return 0


def decisions_between(client: Any, table: str, model: str, since: datetime, until: datetime) -> Any:
    """A model's decision records created in ``[since, until)``, oldest first (the ``by_model`` index)."""
    from mlops_glue.records import Decision
    from mlops_glue.replay.recorder import query_pages

    kwargs: dict[str, Any] = {
        "TableName": table,
        "IndexName": "by_model",
        "KeyConditionExpression": "gsi1pk = :m AND gsi1sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {
            ":m": {"S": f"MODEL#{model}"},
            ":a": {"S": since.isoformat()},
            ":b": {"S": until.isoformat()},
        },
    }
    for item in query_pages(client, kwargs):
        d = Decision.model_validate_json(item["record"]["S"])
        if since <= d.created_at < until:
            yield d
