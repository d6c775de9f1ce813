"""``mlops-glue profile build`` and ``mlops-glue drift check``: output, exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops_glue.cli import main


def test_build_then_check(files: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "profile.json"
    assert main(["profile", "build", str(files["ref"]), "-o", str(out), "--bins", "200"]) == 0
    assert "6,000 rows, 3 numeric and 3 categorical columns" in capsys.readouterr().out
    assert len(json.loads(out.read_bytes())["columns"][1]["edges"]) == 200

    assert main(["drift", "check", "--profile", str(out), str(files["same"]), "--min-rows", "100"]) == 0
    assert capsys.readouterr().out.startswith("no_drift: 0 of 6 columns drifted")

    html = tmp_path / "r.html"
    args = ["drift", "check", "--profile", str(out), str(files["shifted"]), "--json", "--html", str(html)]
    assert main([*args, "--min-rows", "100"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["verdict"] == "drift" and "x" in result["drifted_columns"]
    assert html.read_text().startswith("<!DOCTYPE html>")

    # two files form one window
    assert main(["drift", "check", "--profile", str(out), str(files["same"]), str(files["same_csv"])]) == 0
    assert "no_drift" in capsys.readouterr().out


def test_insufficient_rows_is_not_a_clean_pass(files: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "p.json"
    main(["profile", "build", str(files["ref"]), "-o", str(out)])
    capsys.readouterr()
    assert main(["drift", "check", "--profile", str(out), str(files["same"]), "--min-rows", "10000"]) == 1
    assert capsys.readouterr().out.startswith("insufficient_rows")


def test_errors_exit_2_with_one_line(files: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    assert main(["drift", "check", "--profile", str(tmp_path / "none.json"), str(files["same"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read profile") and err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 7}')
    assert main(["drift", "check", "--profile", str(bad), str(files["same"])]) == 2
    assert "unsupported profile version 7" in capsys.readouterr().err
    assert main(["profile", "build", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "x.json")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot open")
