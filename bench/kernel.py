"""The counting kernel in one thread: ``uv run python bench/kernel.py [--columns 120] [--rounds 20]``.

Column pieces as the engine counts them (65,536 values a piece, a row group of the wide benchmark; 1,000
quantile edges from a reference sample; normal, lognormal and rounded columns, a tenth with counts at the
left edges), each added by :meth:`Binner.accumulate` in turn with the compiled kernel in AVX2 blocks, the
compiled kernel one value at a time, and the numpy passes. Rounds alternate the engines, and the best
round of each is kept: this VM's speed moves by tens of percent from minute to minute. The time includes
the Python of each call (~20 us a piece).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "layers" / "mlops_glue"))
from mlops_glue.drift import binning  # noqa: E402  (bench/ is not a package)

PIECE = 65_536


def _columns(n: int, rng: np.random.Generator) -> list[tuple[binning.Binner, np.ndarray[Any, Any], bool]]:
    out = []
    for j in range(n):
        kind = j % 3
        ref = [rng.normal(0, 3, 200_000), rng.lognormal(0, 1, 200_000), np.round(rng.normal(50, 10, 200_000))]
        edges = np.unique(np.quantile(ref[kind], np.linspace(0, 1, 1001)[1:-1]))
        cur = [rng.normal(0.1, 3, PIECE), rng.lognormal(0.05, 1, PIECE), np.round(rng.normal(50, 10, PIECE))]
        out.append((binning.Binner(edges), cur[kind], j % 10 == 0))
    return out


def _round(cols: list[tuple[binning.Binner, np.ndarray[Any, Any], bool]]) -> float:
    t0 = time.perf_counter()
    for b, x, eq in cols:
        k1 = b.k + 1
        b.accumulate(x, 0.0, np.zeros(k1, np.int64), np.zeros(k1), np.zeros(k1, np.int64) if eq else None)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--columns", type=int, default=120)
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args(argv)
    cols = _columns(args.columns, np.random.default_rng(7))
    values = sum(len(x) for _, x, _ in cols)
    kernel = binning._kernel
    switch = None
    if kernel is not None:
        switch = ctypes.CDLL(str(binning.KERNEL_FILE)).mg_use_avx2
        switch.restype, switch.argtypes = ctypes.c_int64, [ctypes.c_int64]

    def engine(name: str) -> None:
        binning._kernel = None if name == "numpy" else kernel
        if switch is not None:
            switch(1 if name == "compiled, AVX2 blocks" else 0)

    names = ["numpy"]
    if kernel is not None:
        names[:0] = ["compiled, one value at a time"]
        if binning.KERNEL_AVX2:
            names[:0] = ["compiled, AVX2 blocks"]
    best = dict.fromkeys(names, float("inf"))
    for _ in range(args.rounds):
        for name in names:
            engine(name)
            best[name] = min(best[name], _round(cols))
    engine("compiled, AVX2 blocks")
    result = {name: round(best[name] / values * 1e9, 2) for name in names}
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "kernel.json").write_text(json.dumps({"ns_per_value": result, "values": values}, indent=1))
    print(
        f"## Counting kernel, one thread: {args.columns} column pieces of {PIECE:,} values, best of {args.rounds}"
    )
    print("\n| engine | ns a value (Python of each call included) |\n|---|---|")
    for name, ns in result.items():
        print(f"| {name} | {ns:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
