"""Bad input gets a documented verdict or a clear error, never an exception from count_batch."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from drift_data import frame, table, write
from mlops_glue.config import DriftSettings
from mlops_glue.drift import (
    Profile,
    ProfileError,
    SourceError,
    build_profile,
    count_batch,
    evaluate,
    load_profile,
)
from mlops_glue.drift.report import render_html

LOOSE = DriftSettings(min_rows=1)


def check(profile: Profile, path: Any, **kw: Any) -> Any:
    return evaluate(profile, count_batch(profile, path, **kw), LOOSE)


def test_same_data_no_drift_and_shifted_data_drift(profile: Profile, files: dict[str, Path]) -> None:
    same = check(profile, files["same"])
    assert same.verdict == "no_drift" and same.drifted_columns == []
    shifted = check(profile, files["shifted"])
    assert shifted.verdict == "drift" and shifted.dataset_drift
    assert {"x", "m", "c", "b"} <= set(shifted.drifted_columns)
    assert shifted.columns[0].drifted and not shifted.columns[-1].drifted  # sorted by drift
    assert any("drift share" in m for m in shifted.messages)


def test_insufficient_rows(profile: Profile, files: dict[str, Path]) -> None:
    r = evaluate(profile, count_batch(profile, files["same"]), DriftSettings(min_rows=10_000))
    assert r.verdict == "insufficient_rows"
    assert any("6,000 rows < min_rows 10,000" in m for m in r.messages)


def test_empty_csv_and_zero_byte_file(profile: Profile, tmp_path: Path) -> None:
    header_only = tmp_path / "h.csv"
    header_only.write_text("b,x,i,k,c,m\n")
    r = check(profile, header_only)
    assert r.verdict == "data_quality" and r.rows == 0
    assert r.messages[0].startswith("no rows to check")
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    assert check(profile, empty).verdict == "data_quality"


def test_corrupt_parquet_is_a_quality_verdict(
    profile: Profile, files: dict[str, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet at all" * 10)
    r = check(profile, bad)
    assert r.verdict == "data_quality"
    assert "could not be read" in r.messages[0] and "bad.parquet" in r.messages[0]
    truncated = tmp_path / "trunc.parquet"
    truncated.write_bytes(files["same"].read_bytes()[:-100])
    assert check(profile, truncated).verdict == "data_quality"


def test_malformed_rows_and_unparseable_values(profile: Profile, tmp_path: Path) -> None:
    t = table(frame(3000, 5))
    p = write(t, tmp_path / "ok.csv")
    lines = p.read_text().splitlines()
    lines[10] = "only,three,fields"
    lines[2500] = lines[2500].replace(lines[2500].split(",")[1], "not-a-number", 1)
    p.write_text("\n".join(lines) + "\n")
    counts = count_batch(profile, p)
    assert counts.bad_rows == 1
    assert counts.columns["x"].unparseable == 1
    r = evaluate(profile, counts, LOOSE)
    assert r.verdict == "data_quality"
    assert any("1 malformed rows were skipped" in m for m in r.messages)
    assert any("column x: 1 values could not be parsed" in m for m in r.messages)
    assert {c.name for c in r.columns} >= {"x", "c"}  # statistics still computed


def test_schema_changes(profile: Profile, tmp_path: Path) -> None:
    t = table(frame(2000, 6)).drop_columns(["i"]).append_column("surprise", pa.array(np.zeros(2000)))
    t = t.set_column(t.schema.get_field_index("c"), "c", pa.array(np.arange(2000)))
    r = check(profile, write(t, tmp_path / "s.parquet"))
    assert r.verdict == "schema_drift"
    assert "missing columns: i" in r.messages
    assert "retyped columns: c: int64" in r.messages
    assert "new columns: surprise" in r.messages
    assert "i" not in {c.name for c in r.columns} and "c" not in {c.name for c in r.columns}


def test_numbers_column_becoming_text_in_csv_is_retyped(profile: Profile, tmp_path: Path) -> None:
    cols = frame(500, 7)
    cols["x"] = np.array([f"v{i}" for i in range(500)], dtype=object)
    r = check(profile, write(cols, tmp_path / "t.csv"))
    assert r.verdict in {"schema_drift", "data_quality"}
    assert any("retyped columns: x: string" in m for m in r.messages)


def test_all_null_column(profile: Profile, tmp_path: Path) -> None:
    t = table(frame(1000, 8))
    t = t.set_column(t.schema.get_field_index("x"), "x", pa.nulls(1000, pa.float64()))
    r = check(profile, write(t, tmp_path / "n.parquet"))
    assert r.verdict == "data_quality"
    assert "column x has no values in 1,000 rows (all null)" in r.messages


def test_int_column_written_as_float_still_matches(profile: Profile, tmp_path: Path) -> None:
    cols = frame(3000, 9)
    cols["k"] = cols["k"].astype(float)  # pandas writes ints with NaNs as floats
    r = check(profile, write(cols, tmp_path / "f.parquet"))
    k = next(c for c in r.columns if c.name == "k")
    assert r.verdict == "no_drift" and k.kind == "categorical" and not k.drifted


def test_unseen_categories_are_reported(profile: Profile, tmp_path: Path) -> None:
    cols = frame(3000, 10)
    cols["c"] = np.where(np.arange(3000) % 3 == 0, "zz-new", cols["c"]).astype(object)
    r = check(profile, write(cols, tmp_path / "u.parquet"))
    c = next(x for x in r.columns if x.name == "c")
    assert c.drifted
    assert c.diagnostics["unseen_share"] == pytest.approx(1000 / 3000, abs=0.02)
    assert c.diagnostics["unseen_examples"] == ["zz-new"]


def test_file_objects_and_format_inference(profile: Profile, files: dict[str, Path]) -> None:
    with open(files["same"], "rb") as fh:
        a = count_batch(profile, io.BytesIO(fh.read()), fmt="parquet", source_id="mem")
    assert a.rows == 6000 and a.sources == ("mem",)
    with pytest.raises(SourceError, match="fmt="):
        count_batch(profile, io.BytesIO(b"x"))
    with pytest.raises(SourceError, match="cannot tell the format"):
        count_batch(profile, "data.json")
    with pytest.raises(SourceError, match="cannot open"):
        count_batch(profile, "/nonexistent/x.parquet")


def test_a_profile_is_fingerprinted_by_its_document(profile: Profile) -> None:
    """A loaded profile hashes the bytes it was read from (no re-serialization on every check): the same
    fingerprint as the profile it was written from; another document (reformatted, or changed) another."""
    import hashlib
    import json

    data = profile.to_json()
    assert Profile.from_json(data).fingerprint == profile.fingerprint == hashlib.sha256(data).hexdigest()[:16]
    assert Profile.from_json(data.decode()).fingerprint == profile.fingerprint
    pretty = json.dumps(json.loads(data), indent=2)
    assert Profile.from_json(pretty).fingerprint == hashlib.sha256(pretty.encode()).hexdigest()[:16]
    loaded = Profile.from_json(data)
    changed = loaded.model_copy(update={"rows": loaded.rows + 1})
    assert changed.fingerprint == hashlib.sha256(changed.to_json()).hexdigest()[:16] != loaded.fingerprint
    assert loaded.model_copy().fingerprint == loaded.fingerprint


def test_a_profile_keeps_its_binners_across_batches(profile: Profile, files: dict[str, Path]) -> None:
    """A warm function counting a second object of the same profile builds no binner again; a changed
    copy of the profile (other edges, maybe) starts without any."""
    a = count_batch(profile, str(files["same"]))
    built = dict(profile._binners)
    assert built.keys() == {c.name for c in profile.compared if c.kind == "numeric"}
    b = count_batch(profile, str(files["same"]))
    assert all(profile._binners[name] is binner for name, binner in built.items())
    assert a.to_bytes() == b.to_bytes()
    assert profile.model_copy(update={"rows": profile.rows + 1})._binners == {}


def test_profile_document_is_versioned_and_validated(profile: Profile, tmp_path: Path) -> None:
    data = profile.to_json()
    assert len(data) < 3_000_000
    again = Profile.from_json(data)
    assert again.fingerprint == profile.fingerprint
    kinds = {c.name: c.kind for c in profile.columns}
    assert kinds == {
        "b": "categorical",
        "x": "numeric",
        "i": "numeric",
        "k": "categorical",
        "c": "categorical",
        "m": "numeric",
    }
    assert profile.rows == 6000 and profile.source.sha256 and len(profile.source.sha256) == 64
    x = profile.column("x")
    assert x.count == 6000 and x.std == pytest.approx(1.0, abs=0.05) and x.edges and len(x.edges) == 1000
    raw = json.loads(data)
    with pytest.raises(ProfileError, match="version"):
        Profile.from_json(json.dumps({**raw, "version": 99}))
    counts = raw["columns"][1]["counts"]
    counts[3] += 1
    with pytest.raises(ProfileError, match="do not add up"):
        Profile.from_json(json.dumps(raw))
    counts[3] -= 1
    counts[4], counts[5] = -5, counts[5] + counts[4] + 5  # still adds up, with one bin at -5
    with pytest.raises(ProfileError, match="must not be negative"):
        Profile.from_json(json.dumps(raw))
    counts[4], counts[5] = 10**30, -(10**30)  # beyond int64: an error, not an OverflowError
    with pytest.raises(ProfileError, match="too large"):
        Profile.from_json(json.dumps(raw))
    with pytest.raises(ProfileError, match="not valid JSON"):
        Profile.from_json(b"{oops")
    bad = tmp_path / "p.json"
    bad.write_text("[]")
    with pytest.raises(ProfileError, match=r"p\.json"):
        load_profile(str(bad))


def test_reference_problems_raise_profile_error(tmp_path: Path) -> None:
    empty = tmp_path / "e.csv"
    empty.write_text("a,b\n")
    with pytest.raises(ProfileError, match="no rows"):
        build_profile(empty)
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"garbage")
    with pytest.raises(ProfileError, match="Parquet"):
        build_profile(garbage)


def test_category_cap_creates_an_other_bucket(tmp_path: Path) -> None:
    n = 5000
    rng = np.random.default_rng(0)
    ref = write({"city": rng.integers(0, 50, n).astype(str).astype(object)}, tmp_path / "r.parquet")
    p = build_profile(ref, category_cap=10)
    city = p.column("city")
    assert len(city.categories or []) == 10 and city.other > 0
    cur = write({"city": rng.integers(0, 50, n).astype(str).astype(object)}, tmp_path / "c.parquet")
    r = check(p, cur)
    assert r.columns[0].diagnostics["other_bucket"] is True
    assert any("'other' bucket" in m for m in r.messages)


def test_csv_reference_with_late_floats_widens_the_type(tmp_path: Path) -> None:
    p = tmp_path / "late.csv"
    rows = [f"{i},{i % 7}" for i in range(300_000)] + ["1.5,2"]
    p.write_text("a,b\n" + "\n".join(rows) + "\n")
    prof = build_profile(p)
    assert prof.column("a").kind == "numeric" and prof.column("a").dtype == "double"
    assert prof.rows == 300_001


def test_s3_sources_with_moto(aws: Any, files: dict[str, Path]) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket="data", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="data", Key="ref/ref.parquet", Body=files["ref"].read_bytes())
    v1 = s3.put_object(Bucket="data", Key="in/batch.csv", Body=files["same_csv"].read_bytes())["VersionId"]
    s3.put_object(Bucket="data", Key="in/batch.csv", Body=b"b,x\n")  # a newer, empty version
    prof = build_profile("s3://data/ref/ref.parquet", s3_client=s3)
    assert prof.source.version_id and prof.source.etag and prof.source.sha256
    s3.put_object(Bucket="data", Key="ref/profile.json", Body=prof.to_json())
    loaded = load_profile("s3://data/ref/profile.json", s3_client=s3)
    old = count_batch(loaded, f"s3://data/in/batch.csv?versionId={v1}", s3_client=s3)
    assert old.rows == 6000
    assert evaluate(loaded, old, LOOSE).verdict == "no_drift"
    new = count_batch(loaded, "s3://data/in/batch.csv", s3_client=s3)
    assert evaluate(loaded, new, LOOSE).verdict == "data_quality"
    with pytest.raises(SourceError, match=r"cannot open s3://data/missing\.parquet"):
        count_batch(loaded, "s3://data/missing.parquet", s3_client=s3)


def test_html_report_is_self_contained(profile: Profile, files: dict[str, Path]) -> None:
    counts = count_batch(profile, files["shifted"])
    result = evaluate(profile, counts, LOOSE)
    page = render_html(profile, counts, result)
    assert page.startswith("<!DOCTYPE html>") and "drift</span>" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count("<svg") == len(result.columns)
    order = [page.index(f"<td>{c.name}</td>") for c in result.columns]
    assert order == sorted(order)  # the table follows the drift ranking
    json.dumps(result.to_dict(), allow_nan=False)  # JSON-safe


def test_values_near_the_float64_limit_are_binned_and_their_unjudged_score_is_said(tmp_path: Path) -> None:
    """A column whose values include ±1e308: the grid's span overflows (the binner searches instead of
    crashing the profile build), and the distances overflow to NaN: a message says the column was not
    judged, never a silent 'no drift'."""
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    huge = rng.choice(np.r_[np.linspace(-5, 5, 98), -1e308, 1e308], 5000)
    pq.write_table(pa.table({"x": huge, "y": rng.normal(size=5000)}), tmp_path / "huge.parquet")
    with np.errstate(over="ignore", invalid="ignore"):
        p = build_profile(str(tmp_path / "huge.parquet"))
        counts = count_batch(p, str(tmp_path / "huge.parquet"))
        result = evaluate(p, counts, DriftSettings(min_rows=1))
    x = counts.columns["x"]
    assert x.n == 5000 and (x.lo, x.hi) == (-1e308, 1e308)
    assert (
        "x: its wasserstein score is not a number (values this large overflow it): not judged"
        in result.messages
    )
