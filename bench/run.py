"""The benchmark, one command: ``uv run python bench/run.py [--rows N] [--skip-evidently] [--quick]``.

Generates the dataset (20 numeric + 5 categorical columns, drift injected into 5 known columns, one
subtle shift, some missing values; Parquet and CSV), runs every step in a fresh process (median wall
time of ``--repeats`` runs, peak RSS, flagged columns; a check and its raw read, and the CLI and the bare
read script, run in turn so each ratio rests on the same load) and writes ``bench/out/results.md``. Other bench
scripts listed in ``EXTRA`` (``bench/package_size.py``) run after it unless ``--quick``; the markdown table
they print is appended.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DATA = OUT / "data"
# -P: keep bench/ off sys.path, so a bench script can never shadow an installed distribution
STEP = [sys.executable, "-P", str(HERE / "drift_bench.py")]
EXTRA = (
    "package_size.py",
    "intake_bench.py",
    "wide.py",
    "kernel.py",
    "replay_bench.py",
)  # other benchmarks whose markdown table (lines starting with "|") joins ours


def run_step(*args: str) -> dict[str, Any]:
    """One step in a fresh process: its JSON report plus the end-to-end wall time seen from outside."""
    t0 = time.perf_counter()
    proc = subprocess.run([*STEP, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"bench step {args[0]} failed:\n{proc.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    report["wall"] = wall
    return report


def warm_files(args: tuple[str, ...]) -> None:
    """Read every file named in ``args`` once, into the page cache: this VM's memory balloon evicts the
    cache, and a step that found its data on disk would lose against a step that found it in memory."""
    for arg in args:
        path = Path(arg)
        if path.is_file():
            with path.open("rb", buffering=0) as fh:
                while fh.read(16 << 20):
                    pass


def _step(args: tuple[str, ...], warm: bool) -> dict[str, Any]:
    if warm:
        warm_files(args)
    return run_step(*args)


def measure(repeats: int, *args: str, warm: bool = False) -> dict[str, Any]:
    """Median wall and in-process times over ``repeats`` runs, the largest peak RSS (``warm``: the
    step's files read into the page cache before each run)."""
    return _summary([_step(args, warm) for _ in range(repeats)])


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[-1])
    out["wall"] = statistics.median(r["wall"] for r in runs)
    out["seconds"] = statistics.median(r["seconds"] for r in runs)
    out["rss_mb"] = max(r["rss_mb"] for r in runs)
    out["runs"] = [round(r["seconds"], 3) for r in runs]  # in order: a pair's ratios, run by run
    return out


def measure_pair(
    repeats: int, a: tuple[str, ...], b: tuple[str, ...], warm: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`measure` of two steps run in turn (a, b, a, b...): on a shared machine the load changes
    from minute to minute, and a ratio of two steps is only fair when both saw the same load."""
    runs_a, runs_b = [], []
    for _ in range(repeats):
        runs_a.append(_step(a, warm))
        runs_b.append(_step(b, warm))
    return _summary(runs_a), _summary(runs_b)


BARE = (
    "import sys, pyarrow.parquet as pq; pf = pq.ParquetFile(sys.argv[1]); "
    "[pf.read_row_group(i) for i in range(pf.num_row_groups)]"
)
"""The bare script the CLI is compared with: only reads the file with pyarrow."""


def wall_of(repeats: int, cmd: list[str], *args: str) -> dict[str, Any]:
    """Median wall time of a command (exit 0 or 1: a drift verdict is not a failure)."""
    return {"wall": statistics.median(_wall(cmd, *args) for _ in range(repeats))}


def _wall(cmd: list[str], *args: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[0]} failed:\n{proc.stderr[-2000:]}")
    return wall


def walls_in_turn(repeats: int, a: list[str], b: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Median wall times of two commands run in turn (a, b, a, b...), see :func:`measure_pair`."""
    wa, wb = [], []
    for _ in range(repeats):
        wa.append(_wall(a))
        wb.append(_wall(b))
    return {"wall": statistics.median(wa)}, {"wall": statistics.median(wb)}


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # pragma: no cover
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scale-rows", type=int, default=5_000_000, help="rows for the flat-memory check")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--evidently-repeats", type=int, default=1, help="Evidently takes minutes per run")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, one run, no scale check")
    parser.add_argument("--no-extra", action="store_true", help=f"skip the other benchmarks {EXTRA}")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeats, args.scale_rows = min(args.rows, 100_000), 1, 0
    n = args.rows
    DATA.mkdir(parents=True, exist_ok=True)
    load_before = _load()
    ref, cur, cur_csv = DATA / f"ref-{n}.parquet", DATA / f"cur-{n}.parquet", DATA / f"cur-{n}.csv"
    big = args.scale_rows
    if not (ref.exists() and cur.exists() and cur_csv.exists()) or (
        big > n and not (DATA / f"cur-{big}.csv").exists()
    ):
        print(f"generating {n:,} rows (+ {big:,} for the scale check)...", flush=True)
        run_step("gen", str(DATA), str(n), str(big))
    prof = DATA / f"profile-{n}.json"
    r: dict[str, dict[str, Any]] = {}
    print("profile build...", flush=True)
    r["profile"] = measure(args.repeats, "profile", str(ref), str(prof))
    print("raw reads and checks, in turn...", flush=True)
    r["read"], r["check"] = measure_pair(args.repeats, ("read", str(cur)), ("check", str(prof), str(cur)))
    r["read_csv"], r["check_csv"] = measure_pair(
        args.repeats, ("read", str(cur_csv)), ("check", str(prof), str(cur_csv))
    )
    print("start-up: the CLI end to end against a bare pyarrow read, in turn...", flush=True)
    cli = [
        str(Path(sys.executable).with_name("mlops-glue")),
        "drift",
        "check",
        "--profile",
        str(prof),
        str(cur),
    ]
    r["bare"], r["cli"] = walls_in_turn(args.repeats, [sys.executable, "-c", BARE, str(cur)], cli)
    print("naive scipy...", flush=True)
    r["scipy"] = measure(args.repeats, "scipy", str(ref), str(cur))
    if not args.skip_evidently:
        print("evidently (slow)...", flush=True)
        r["evidently"] = measure(args.evidently_repeats, "evidently", str(ref), str(cur))
    if big > n:
        print(f"scale check at {big:,} rows...", flush=True)
        r["check_big"] = measure(1, "check", str(prof), str(DATA / f"cur-{big}.parquet"))
        r["check_big_csv"] = measure(1, "check", str(prof), str(DATA / f"cur-{big}.csv"))
    variants = {}
    if not args.quick:
        print("read strategies...", flush=True)
        for v in ("rowgroup", "iter_batches"):
            variants[v] = measure(args.repeats, "read-variant", str(cur), v)
        for v in ("block4mb", "block64mb"):
            variants[v] = measure(args.repeats, "read-variant", str(cur_csv), v)

    md = render(args, r, variants, load_before, _load())
    for script in EXTRA:
        if (HERE / script).exists() and not args.quick and not args.no_extra:
            print(f"{script}...", flush=True)
            proc = subprocess.run(
                [sys.executable, "-P", str(HERE / script)], capture_output=True, text=True, check=False
            )
            table = [line for line in proc.stdout.splitlines() if line.startswith("|")]
            status = (
                "" if proc.returncode == 0 else f" (exit {proc.returncode}: {proc.stderr.strip()[-300:]})"
            )
            md += f"\n## {script}{status}\n\n" + "\n".join(table) + "\n"
    OUT.mkdir(exist_ok=True)
    (OUT / "results.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


def render(
    args: argparse.Namespace,
    r: dict[str, dict[str, Any]],
    variants: dict[str, dict[str, Any]],
    load_before: str,
    load_after: str,
) -> str:
    n = args.rows
    ev = r.get("evidently")
    ours = r["check"]

    def row(label: str, m: dict[str, Any], note: str = "") -> str:
        flagged = ", ".join(m.get("flagged", [])) or "–"
        speed = f"{ev['wall'] / m['wall']:.0f}×" if ev and m is not ev else ""
        return (
            f"| {label} | {m['wall']:.2f} s | {m['seconds']:.2f} s | {m['rss_mb']:.0f} MB | {speed} | "
            f"{flagged} | {note} |"
        )

    lines = [
        f"## Drift engine benchmark: {n:,} rows × 25 columns (20 numeric, 5 categorical)",
        "",
        f"`uv run python bench/run.py --rows {n}` · Python {platform.python_version()} · "
        f"{os.cpu_count()} cores · load average {load_before} before, {load_after} after · "
        f"median of {args.repeats} runs, each in a fresh process (wall = end to end incl. imports).",
        "",
        "Drift injected into num_03, num_07, num_12, cat_1, cat_3; num_15 shifted by 0.03 sd (subtle).",
        "",
        "| step | wall | in-process | peak RSS | vs Evidently | flagged columns | note |",
        "|---|---|---|---|---|---|---|",
        row("our check (Parquet, prebuilt profile)", ours, f"window {ours['window_bytes'] / 1024:.0f} KB"),
        row("our check (CSV, prebuilt profile)", r["check_csv"]),
        row(
            "our profile build (Parquet reference)",
            r["profile"],
            f"profile {r['profile']['bytes'] / 1024:.0f} KB",
        ),
        row("naive scipy (full arrays, ks_2samp / chi²)", r["scipy"]),
    ]
    if ev:
        lines.append(row(f"Evidently 0.7 DataDriftPreset ({args.evidently_repeats} run)", ev))
    lines += [
        row("raw pyarrow read, Parquet (floor)", r["read"]),
        row("raw pyarrow read, CSV (floor)", r["read_csv"]),
        "",
        f"- check in-process ÷ raw Parquet read: **{ours['seconds'] / r['read']['seconds']:.1f}×** "
        f"(CSV: {r['check_csv']['seconds'] / r['read_csv']['seconds']:.1f}×)",
    ]
    if ev:
        same = "same" if ev["flagged"] == ours["flagged"] else "DIFFERENT"
        lines.append(
            f"- speedup vs Evidently end to end: **{ev['wall'] / ours['wall']:.0f}×**, {same} flagged columns"
        )
    if "cli" in r:
        c, b = r["cli"]["wall"], r["bare"]["wall"]
        lines.append(
            f"- `mlops-glue drift check` end to end {c:.2f} s ÷ a bare pyarrow read script {b:.2f} s: "
            f"**{c / b:.2f}×**"
        )
    if "check_big" in r:
        b, bc = r["check_big"], r["check_big_csv"]
        lines.append(
            f"- at {args.scale_rows:,} rows: Parquet {b['wall']:.1f} s, {b['rss_mb']:.0f} MB; "
            f"CSV {bc['wall']:.1f} s, {bc['rss_mb']:.0f} MB (vs {ours['rss_mb']:.0f} / "
            f"{r['check_csv']['rss_mb']:.0f} MB at {n:,})"
        )
    if variants:
        lines += ["", "| read strategy | wall | peak RSS |", "|---|---|---|"]
        names = {
            "rowgroup": "Parquet by row group (used)",
            "iter_batches": "Parquet iter_batches(65,536)",
            "block4mb": "CSV 4 MB blocks (used)",
            "block64mb": "CSV 64 MB blocks",
        }
        lines += [f"| {names[k]} | {v['wall']:.2f} s | {v['rss_mb']:.0f} MB |" for k, v in variants.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
