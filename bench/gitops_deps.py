"""What the pure-Python GitOps backends add to the Lambda layer: installed size and cold import.

    uv run python bench/gitops_deps.py [--runs 5]

Installs each addition alone with the Lambda platform wheels (manylinux2014_x86_64, CPython 3.11, the
versions of ``layers/mlops_glue/requirements.txt``) into a throwaway directory, reports its size on disk
(what it adds on top of the layer; ``requests`` is in the layer already and not counted), and times the
imports the backend does on its first write in a fresh ``python -S`` process (median of ``--runs``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from package_size import LAYER_REQS, cold_import, du, pip_install

ADDITIONS = {
    # name: (packages from the layer's requirements, the imports of a first write)
    "dulwich + merge3": (
        ("dulwich", "merge3"),
        "dulwich.client, dulwich.repo, dulwich.merge, dulwich.object_store, dulwich.walk",
    ),
    "python-gitlab": (("python-gitlab",), "gitlab"),
}


def pinned(names: tuple[str, ...]) -> list[str]:
    lines = [line.strip() for line in LAYER_REQS.read_text().splitlines()]
    return [line for line in lines if line.split("==")[0] in names]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, (names, modules) in ADDITIONS.items():
            target = work / label.replace(" ", "")
            req = work / f"{target.name}.txt"
            req.write_text("\n".join(pinned(names)) + "\n")
            pip_install([req], target)
            # requests (and its deps) ship in the layer already: not an addition
            added = du(target) - sum(du(p) for p in target.glob("requests*") if p.is_dir())
            for dep in ("urllib3", "certifi", "idna", "charset_normalizer"):
                added -= sum(du(p) for p in target.glob(f"{dep}*") if p.is_dir())
            seconds = cold_import(
                [target, work], modules.split(",")[0].strip(), args.runs, f"import {modules}"
            )
            rows.append(
                {"addition": label, "installed_mb": round(added / 1e6, 1), "cold_import_s": round(seconds, 3)}
            )
    print(json.dumps(rows, indent=2))
    print("| addition | installed (MB) | cold import (s) |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['addition']} | {r['installed_mb']} | {r['cold_import_s']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
