"""The engine's hot path loads neither pandas nor scipy: a second or more of cold start for each.

pyarrow imports pandas behind ``Array.to_numpy``, ``pa.scalar`` and ``pa.array`` when it is installed,
and ``scipy.stats`` costs about a second; the Lambda image has no pandas, but the import would still be
a trap for anyone running the engine next to it (the CLI, notebooks, the benchmark).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from mlops_glue.drift import build_profile, count_batch, evaluate
from mlops_glue.config import DriftSettings
before = {m for m in ("pandas", "scipy.stats") if m in sys.modules}
profile = build_profile(sys.argv[1] + "/ref.parquet")
results = [evaluate(profile, count_batch(profile, sys.argv[1] + f), DriftSettings(min_rows=1))
           for f in ("/cur.parquet", "/cur.csv")]
print(json.dumps({"before": sorted(before), "pandas": "pandas" in sys.modules,
                  "scipy.stats": "scipy.stats" in sys.modules,
                  "scipy": "scipy" in sys.modules,
                  "drifted": [sorted(r.drifted_columns) for r in results],
                  "nulls": sum((c.diagnostics.get("null_rate_cur") or 0) > 0 for c in results[0].columns)}))
"""


def test_count_and_evaluate_import_neither_pandas_nor_scipy_stats(tmp_path: Path) -> None:
    from mlops_glue.drift import synth  # the generator may use pandas; only the engine runs below

    ref, cur = synth.make_table(60_000, 0), synth.make_table(60_000, 1, drift=True)
    synth.write(ref, tmp_path / "ref.parquet")
    synth.write(cur, tmp_path / "cur.parquet")
    synth.write(cur, tmp_path / "cur.csv")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers" / "mlops_glue"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["drifted"][0] == got["drifted"][1] and got["drifted"][0]  # CSV and Parquet agree, and drift
    assert got["nulls"] > 0  # the path through nullable columns (NaN fill) was taken
    assert got["before"] == []
    assert got["pandas"] is False
    assert got["scipy.stats"] is False
    assert got["scipy"] is False  # the large-sample statistics need nothing from scipy (0.2 s of import)


CLI_SCRIPT = """
import json, sys
from mlops_glue.cli import main
code = main(["drift", "check", sys.argv[1] + "/cur.parquet", "--profile", sys.argv[1] + "/profile.json",
             "--json"])
print(json.dumps({"code": code, "loaded": sorted(m for m in ("yaml", "mlops_glue.config", "pandas")
                                                 if m in sys.modules)}))
"""


def test_the_drift_check_command_loads_no_configuration_schema(tmp_path: Path) -> None:
    """``mlops-glue drift check`` needs the drift settings only: PyYAML and the whole configuration
    schema (about 0.1-0.2 s of its start-up) stay unloaded."""
    from mlops_glue.drift import build_profile, synth

    synth.write(synth.make_table(20_000, 0), tmp_path / "ref.parquet")
    synth.write(synth.make_table(20_000, 1, drift=True), tmp_path / "cur.parquet")
    (tmp_path / "profile.json").write_bytes(build_profile(str(tmp_path / "ref.parquet")).to_json())
    out = subprocess.run(
        [sys.executable, "-c", CLI_SCRIPT, str(tmp_path)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers" / "mlops_glue"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    *report, last = out.stdout.strip().splitlines()
    got = json.loads(last)
    assert got["code"] in (0, 1), out.stderr
    assert json.loads("\n".join(report))["drifted_columns"]  # the check really ran and saw the drift
    assert got["loaded"] == []
