"""``mlops-glue profile build``, ``mlops-glue drift check``, ``drift plan`` and ``drift count``.

Exit codes: 0 no drift, 1 drift (or schema drift, data-quality failure, too few rows: anything that is
not a clean "no drift"), 2 error with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``profile`` and ``drift`` command groups."""
    profile = subparsers.add_parser("profile", help="reference profiles")
    psub = profile.add_subparsers(dest="command", required=True)
    build = psub.add_parser("build", help="profile a reference CSV/Parquet file (path or s3:// URI)")
    build.add_argument("source")
    build.add_argument("-o", "--output", required=True, help="profile.json to write")
    build.add_argument("--bins", type=int, default=None, help="reference-quantile bins per numeric column")
    build.add_argument("--category-cap", type=int, default=None, help="categories kept per column")
    build.add_argument("--format", choices=["csv", "parquet"], default=None)
    build.add_argument("--threads", type=int, default=None, help="threads counting columns (default: cores)")
    build.set_defaults(func=_build)

    drift = subparsers.add_parser("drift", help="drift checks")
    dsub = drift.add_subparsers(dest="command", required=True)
    check = dsub.add_parser("check", help="check a CSV/Parquet batch against a profile")
    check.add_argument("current", nargs="+", help="batch file(s) (path or s3:// URI), counted as one window")
    check.add_argument("--profile", required=True, help="profile.json (path or s3:// URI)")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.add_argument("--html", type=Path, default=None, help="write the HTML report here")
    check.add_argument("--min-rows", type=int, default=None, help="rows needed for a verdict (default 5000)")
    check.add_argument(
        "--drift-share", type=float, default=None, help="share of drifted columns (default 0.5)"
    )
    check.add_argument("--threshold", type=float, default=None, help="distance threshold (default 0.1)")
    check.add_argument("--format", choices=["csv", "parquet"], default=None)
    check.add_argument("--threads", type=int, default=None, help="threads counting columns (default: cores)")
    check.set_defaults(func=_check)

    where = dsub.add_parser(
        "plan", help="whether a check or profile build of a file fits one Lambda invocation or needs Argo"
    )
    where.add_argument("source", help="CSV/Parquet file (path or s3:// URI): only its footer/head is read")
    where.add_argument("--step", choices=["check", "profile"], default="check")
    where.add_argument("--memory-mb", type=int, default=10_240, help="the function's memory (default 10,240)")
    where.add_argument("--format", choices=["csv", "parquet"], default=None)
    where.add_argument("--json", action="store_true")
    where.set_defaults(func=_plan)

    count = dsub.add_parser(
        "count", help="count one data file into a profile's bins and write the counts (the drift-count step)"
    )
    count.add_argument("source", nargs="?", help="CSV/Parquet file (path or s3:// URI, ?versionId= allowed)")
    count.add_argument("--s3-bucket", default=None, help="the object's bucket (instead of SOURCE: any key)")
    count.add_argument("--s3-key", default=None, help="the object's key, as stored (no URI escaping)")
    count.add_argument("--s3-version-id", default=None, help="the object version (empty: the latest)")
    count.add_argument("--profile", required=True, help="profile.json (path or s3:// URI)")
    count.add_argument("-o", "--output", required=True, help="where the counts go (path or s3:// URI)")
    count.add_argument("--format", choices=["csv", "parquet"], default=None)
    count.add_argument("--threads", type=int, default=None, help="threads counting columns (default: cores)")
    count.set_defaults(func=_count)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[float], None] | None]:
    """A rich progress bar when stdout is a terminal, else nothing."""
    if not sys.stdout.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=1.0)
        yield lambda f: bar.update(task, completed=f)


def _fail(exc: BaseException) -> int:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"error: {reason}", file=sys.stderr)
    return 2


def _build(args: argparse.Namespace) -> int:
    from mlops_glue.drift import ProfileError, SourceError, build_profile

    kwargs: dict[str, Any] = {"fmt": args.format, "threads": args.threads}
    if args.bins is not None:
        kwargs["bins"] = args.bins
    if args.category_cap is not None:
        kwargs["category_cap"] = args.category_cap
    try:
        with _progress(f"profiling {args.source}") as progress:
            profile = build_profile(args.source, progress=progress, **kwargs)
        Path(args.output).write_bytes(profile.to_json())
    except (ProfileError, SourceError, OSError, ValueError) as exc:
        return _fail(exc)
    kinds = [c.kind for c in profile.columns]
    print(
        f"profile {profile.fingerprint}: {profile.rows:,} rows, {kinds.count('numeric')} numeric and "
        f"{kinds.count('categorical')} categorical columns -> {args.output}"
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from mlops_glue.drift import ProfileError, SourceError, count_batch, evaluate, load_profile
    from mlops_glue.drift_config import DriftSettings

    try:
        overrides = {
            k: v
            for k, v in {
                "min_rows": args.min_rows,
                "dataset_drift_share": args.drift_share,
                "threshold": args.threshold,
            }.items()
            if v is not None
        }
        settings = DriftSettings(**overrides)
        profile = load_profile(args.profile)
        window = None
        for path in args.current:
            with _progress(f"counting {path}") as progress:
                counts = count_batch(profile, path, fmt=args.format, progress=progress, threads=args.threads)
            window = counts if window is None else window.merge(counts)
        assert window is not None
        result = evaluate(profile, window, settings)
        if args.html:
            from mlops_glue.drift.report import render_html

            args.html.write_text(render_html(profile, window, result), encoding="utf-8")
    except (ProfileError, SourceError, OSError, ValueError) as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"{result.verdict}: {result.messages[0] if result.messages else ''}")
        for r in result.columns[:10]:
            mark = "DRIFT" if r.drifted else "     "
            print(f"  {mark} {r.name:<24} {r.method:<13} {r.score:10.4g}  (threshold {r.threshold:g})")
        for m in result.messages[1:]:
            print(f"  - {m}")
        if args.html:
            print(f"report: {args.html}")
    return 0 if result.verdict == "no_drift" else 1


def _plan(args: argparse.Namespace) -> int:
    from mlops_glue.drift import capacity, source
    from mlops_glue.drift.shape import shape_of

    try:
        shape = shape_of(args.source, fmt=args.format)
    except (source.SourceError, source.DataFormatError, OSError, ValueError) as exc:
        return _fail(exc)
    rows, columns, size = shape.rows, shape.columns, shape.size
    fmt: Any = shape.fmt
    p = capacity.plan(args.step, fmt, rows, columns, size, args.memory_mb)
    if args.json:
        print(
            json.dumps({"runs_in": p.runs_in, "seconds": p.seconds, "budget": p.budget, "reason": p.reason})
        )
    else:
        where = "Lambda" if p.runs_in == "lambda" else "Argo (WorkflowTemplate drift-engine)"
        print(f"{where}: {p.reason}")
    return 0


def _count(args: argparse.Namespace) -> int:
    """The counts of one file, as data arrival merges them into a window (``WindowCounts.to_bytes``)."""
    from mlops_glue.adapters.s3 import ObjectStoreError, S3ObjectStore
    from mlops_glue.drift import ProfileError, SourceError, count_batch, load_profile

    try:
        location = _count_location(args)
        profile = load_profile(args.profile)
        with _progress("counting") as progress:
            counts = count_batch(profile, location, fmt=args.format, progress=progress, threads=args.threads)
        blob = counts.to_bytes()
        if args.output.startswith("s3://"):
            S3ObjectStore().put_bytes(args.output, blob)
        else:
            Path(args.output).write_bytes(blob)
    except (ProfileError, SourceError, ObjectStoreError, OSError, ValueError) as exc:
        return _fail(exc)
    print(json.dumps({"rows": int(counts.rows), "bytes": len(blob), "output": args.output}))
    return 0


def _count_location(args: argparse.Namespace) -> Any:
    """SOURCE, or the object named by its fields (a key with ``?``, ``#`` or ``%`` is never a URI)."""
    from mlops_glue.drift import S3Object

    if args.s3_bucket or args.s3_key:
        if not (args.s3_bucket and args.s3_key) or args.source:
            raise ValueError("give SOURCE, or --s3-bucket and --s3-key (with --s3-version-id)")
        return S3Object(args.s3_bucket, args.s3_key, args.s3_version_id or None)
    if not args.source:
        raise ValueError("give SOURCE, or --s3-bucket and --s3-key")
    return args.source
