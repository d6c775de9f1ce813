"""The wide benchmark: ``uv run python bench/wide.py [--rows N] [--columns C] [--big-rows M] [--only CASES]``.

1,000,000 rows × 1,000 columns (900 numeric, 100 categorical; a known tenth drifted: ``synth.wide_drifted``)
as Parquet and CSV, a 3,000,000-row Parquet reference, and Evidently on ``--evidently-rows`` rows of the
same columns (its ratio to our check measured on the same files, not extrapolated). Every step runs in a
fresh process (``drift_bench.py``); results are kept per case in ``bench/out/wide.json`` with the load
average around each run, so cases measured at different times render into one table
(``bench/out/wide.md``). A step and the raw read it is compared with run in turn (read, check, read,
check...), so their ratio rests on the same load even on a shared machine; before each run the step's
files are read once into the page cache (this VM's memory balloon evicts it, and a step that found its
data on disk lost to one that found it in memory). Data goes to ``--data`` (default ``/tmp/bench-wide``); ``--clean`` deletes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import OUT, measure, measure_pair, run_step  # noqa: E402  (bench/ is not a package)

RESULTS = OUT / "wide.json"
CASES = ("main", "csv", "threads", "cores", "evidently", "big")


def _load() -> float:
    return os.getloadavg()[0]


def _keep(results: dict[str, Any], key: str, m: dict[str, Any], before: float) -> None:
    m = {k: v for k, v in m.items() if k != "flagged"} | {"flagged_n": len(m.get("flagged", []))}
    m["load"] = [round(before, 1), round(_load(), 1)]
    m["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results[key] = m
    RESULTS.write_text(json.dumps(results, indent=1), encoding="utf-8")


def _flag(m: dict[str, Any], step: str, want: list[str]) -> None:
    """Whether a check (or Evidently) flagged the columns it should have."""
    if "flagged" in m and step.split(":")[0] in ("check", "evidently"):
        m["same_as_expected"] = m["flagged"] == want


def _expected(columns: int) -> list[str]:
    sys.path.insert(0, str(HERE.parent / "layers" / "mlops_glue"))
    from mlops_glue.drift import synth

    return synth.wide_drifted(columns)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--columns", type=int, default=1000)
    p.add_argument("--big-rows", type=int, default=3_000_000)
    p.add_argument("--evidently-rows", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--data", type=Path, default=Path("/tmp/bench-wide"))
    p.add_argument("--only", default=",".join(CASES), help=f"comma-separated cases of {CASES}")
    p.add_argument("--clean", action="store_true", help="delete the generated data afterwards")
    args = p.parse_args(argv)
    only = set(args.only.split(","))
    d, c, n = args.data, args.columns, args.rows
    d.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(exist_ok=True)
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    expected = _expected(c)

    def files(rows: int) -> tuple[Path, Path, Path]:
        return (d / f"ref-{rows}x{c}.parquet", d / f"cur-{rows}x{c}.parquet", d / f"cur-{rows}x{c}.csv")

    def gen(path: Path, rows: int, seed: int, drift: bool) -> None:
        if not path.exists():
            print(f"generating {path.name}...", flush=True)
            run_step("gen-wide", str(path), str(rows), str(c), str(seed), "drift" if drift else "same")

    def flagged(m: dict[str, Any], step: str, want: list[str] | None = None) -> None:
        _flag(m, step, expected if want is None else want)

    def step(key: str, repeats: int, *a: str, want: list[str] | None = None) -> dict[str, Any]:
        print(f"{key}...", flush=True)
        before = _load()
        m = measure(repeats, *a, warm=True)
        flagged(m, a[0], want)
        _keep(results, key, m, before)
        return m

    def pair(keys: tuple[str, str], repeats: int, a: tuple[str, ...], b: tuple[str, ...]) -> None:
        """Two steps in turn (a, b, a, b...): their ratio then rests on the same load."""
        print(f"{keys[0]} and {keys[1]}, in turn...", flush=True)
        before = _load()
        ma, mb = measure_pair(repeats, a, b, warm=True)
        ma["pair"] = mb["pair"] = f"{keys[0]} {keys[1]} {time.time():.0f}"  # run in turn with each other
        flagged(ma, a[0])
        flagged(mb, b[0])
        _keep(results, keys[0], ma, before)
        _keep(results, keys[1], mb, before)

    def suite(rows: int, tag: str, csv: bool) -> None:
        ref, cur, cur_csv = files(rows)
        gen(ref, rows, 1, False)
        gen(cur, rows, 2, True)
        prof = d / f"profile-{rows}x{c}.json"
        step(f"{tag}/read", args.repeats, "read", str(cur))
        keys = (f"{tag}/read-ref-columns", f"{tag}/profile")
        pair(keys, args.repeats, ("read-columns", str(ref)), ("profile", str(ref), str(prof)))
        keys = (f"{tag}/read-columns", f"{tag}/check")
        pair(keys, args.repeats, ("read-columns", str(cur)), ("check", str(prof), str(cur)))
        if csv:
            gen(cur_csv, rows, 2, True)
            keys = (f"{tag}/read-csv", f"{tag}/check-csv")
            pair(keys, args.repeats, ("read-columns", str(cur_csv)), ("check", str(prof), str(cur_csv)))

    if "main" in only or "csv" in only:
        suite(n, "main", csv="csv" in only)

    def against_one(case: str, tag: str, suffix: str, *extra: str) -> None:
        """In turn: a counting thread per core against one thread (``threads``), or the process on every
        core against the process pinned to one core (``cores``)."""
        if case not in only:
            return
        ref, cur, _ = files(n)
        prof = str(d / f"profile-{n}x{c}.json")
        keys = (f"{case}/check-all", f"{case}/check-{tag}")
        pair(keys, args.repeats, ("check", prof, str(cur)), (f"check{suffix}", prof, str(cur), *extra))
        one, every = str(d / f"profile-{case}-one.json"), str(d / f"profile-{case}-all.json")
        keys = (f"{case}/profile-all", f"{case}/profile-{tag}")
        pair(keys, args.repeats, ("profile", str(ref), every), (f"profile{suffix}", str(ref), one, *extra))

    against_one("threads", "1", "", "1")
    against_one("cores", "one-core", ":1core")
    if "evidently" in only:
        e = args.evidently_rows
        ref, cur, _ = files(e)
        gen(ref, e, 11, False)
        gen(cur, e, 12, True)
        prof = d / f"profile-{e}x{c}.json"
        step(f"evidently-{e}/profile", args.repeats, "profile", str(ref), str(prof))
        step(f"evidently-{e}/check", args.repeats, "check", str(prof), str(cur))
        step(f"evidently-{e}/read", args.repeats, "read", str(cur))
        step(f"evidently-{e}/evidently", 1, "evidently", str(ref), str(cur))
    if "big" in only:
        big = args.big_rows
        ref, _, _ = files(big)
        gen(ref, big, 3, False)
        prof = d / f"profile-{big}x{c}.json"
        step("big/read", 1, "read", str(ref))
        step("big/read-columns", 1, "read-columns", str(ref))
        step("big/profile", 1, "profile", str(ref), str(prof))
        step("big/check", 1, "check", str(prof), str(ref), want=[])  # the reference against itself
    md = render(results, args)
    (OUT / "wide.md").write_text(md, encoding="utf-8")
    print(md)
    if args.clean:
        shutil.rmtree(d, ignore_errors=True)
    return 0


LABELS = {
    "read": "raw read, whole row groups (Parquet)",
    "read-columns": "raw read, the same column batches (Parquet)",
    "read-ref-columns": "raw read of the reference, column batches (Parquet)",
    "profile": "our profile build (Parquet reference)",
    "check": "our check (Parquet, prebuilt profile)",
    "read-csv": "raw read (CSV, the same blocks)",
    "check-csv": "our check (CSV, prebuilt profile)",
    "check-all": "our check, a thread per core (Parquet; in turn with 1 thread / 1 core)",
    "check-one-core": "our check, the process pinned to one core (Parquet)",
    "profile-one-core": "our profile build, the process pinned to one core",
    "check-1": "our check, 1 thread (Parquet)",
    "profile-all": "our profile build, a thread per core (in turn with 1 thread / 1 core)",
    "profile-1": "our profile build, 1 thread (Parquet)",
    "evidently": "Evidently 0.7 DataDriftPreset",
}
FLOOR = {
    "check": "read-columns",
    "profile": "read-ref-columns",
    "check-csv": "read-csv",
    "evidently": "read",
    "read": "read-columns",
}


def render(results: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"## Wide drift benchmark: {args.columns:,} columns (90 % numeric, a tenth drifted)",
        "",
        f"`uv run python bench/wide.py` · Python {platform.python_version()} · {os.cpu_count()} cores · "
        "each step in a fresh process; wall = end to end incl. imports; ratio = in-process time ÷ the raw "
        "read it is compared with, the median of the pairs' ratios where the two ran in turn (check: the same column batches; profile: the reference read the same "
        "way; CSV: the same blocks; Evidently: whole row groups); load = 1-minute load average before/after.",
        "",
        "| case | step | wall | in-process | peak RSS | ratio to raw read | flagged | load | measured |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, m in results.items():
        case, name = key.split("/", 1)
        floor_key = FLOOR.get(name)
        ratio = ""
        floor = (
            results.get(f"{case}/{floor_key}")
            or (results.get(f"main/{floor_key}") if case == "threads" else None)
            or (results.get(f"{case}/read-columns") if floor_key == "read-ref-columns" else None)
        )
        if floor:
            pairs = _ratios(floor, m)
            ratio = f"{statistics.median(pairs) if pairs else m['seconds'] / floor['seconds']:.2f}×"
        flagged = ""
        if "same_as_expected" in m:
            good = "none: the reference against itself" if case == "big" else "the known tenth"
            flagged = f"{m['flagged_n']} ({good if m['same_as_expected'] else 'NOT as expected'})"
        rows = {"main": args.rows, "threads": args.rows, "cores": args.rows, "big": args.big_rows}.get(
            case, int(case.split("-")[-1]) if case.startswith("evidently-") else 0
        )
        lines.append(
            f"| {rows:,} × {args.columns:,} | {LABELS.get(name, name)} | {m['wall']:.1f} s | "
            f"{m['seconds']:.1f} s | {m['rss_mb']:.0f} MB | {ratio} | {flagged} | "
            f"{m['load'][0]:.1f} / {m['load'][1]:.1f} | {m['when']} |"
        )
    lines += _pair_ratios(results)
    lines += _speedups(results)
    return "\n".join(lines) + "\n"


def _ratios(floor: dict[str, Any], m: dict[str, Any]) -> list[float]:
    """A step's in-process time over its raw read's, pair by pair, when the two ran in turn."""
    a, b = floor.get("runs", []), m.get("runs", [])
    if len(b) < 2 or len(a) != len(b) or floor.get("pair") is None or floor.get("pair") != m.get("pair"):
        return []
    return sorted(y / x for x, y in zip(a, b, strict=True))


def _pair_ratios(results: dict[str, Any]) -> list[str]:
    """Each step run in turn with its raw read: the ratio of every pair, so the spread is shown too."""
    out = [""]
    for key, m in results.items():
        case, name = key.split("/", 1)
        floor = results.get(f"{case}/{FLOOR.get(name, '')}")
        ratios = _ratios(floor, m) if floor and name != "read" else []
        if ratios:
            out.append(
                f"- {key}: ratio to the raw read, pair by pair (in turn): "
                + ", ".join(f"{r:.2f}×" for r in ratios)
                + f" (median {statistics.median(ratios):.2f}×)"
            )
    return out


def _speedups(results: dict[str, Any]) -> list[str]:
    """The speedups, pair by pair in turn: our counting threads (a thread per core against one), and the
    whole process on this machine's cores against one core, with Amdahl's prediction for Lambda's 6 vCPUs
    from the parallel share that one implies."""
    out = [""]
    for case, what, one_key in (
        ("threads", "a counting thread per core (2) against 1", "1"),
        ("cores", "the whole process on 2 cores against 1 (pinned)", "one-core"),
    ):
        for name in ("check", "profile"):
            one, every = results.get(f"{case}/{name}-{one_key}"), results.get(f"{case}/{name}-all")
            if not (one and every):
                continue
            pairs = _ratios(every, one)
            s2 = statistics.median(pairs) if pairs else one["seconds"] / every["seconds"]
            f = min(1.0, max(0.0, 2.0 * (1.0 - 1.0 / s2)))
            s6 = 1.0 / ((1.0 - f) + f / 6.0)
            out.append(
                f"- {name}, {what}, in turn: {s2:.2f}× the speed (median of the pairs; parallel share "
                f"{f:.2f}); predicted on 6 vCPUs: {s6:.2f}× ({one['seconds']:.1f} s → {one['seconds'] / s6:.1f} s)"
            )
    return out


if __name__ == "__main__":
    sys.exit(main())
