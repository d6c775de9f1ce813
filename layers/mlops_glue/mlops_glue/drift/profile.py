"""Reference profiles: a compact, versioned JSON summary of a reference dataset, built once, reused always.

Per column it freezes the kind (numeric or categorical, from the reference alone, so a verdict never
depends on the batch) and keeps what the statistics need: for numeric columns reference-quantile bin
edges with per-bin counts and value sums (offsets), null count and min/max/mean/std; for categorical
columns the count of every value up to a cap, the rest in an "other" bucket.

Column kinds follow Evidently 0.7's DataDriftPreset on a pandas frame: strings and booleans are
categorical; integers with at most :data:`INT_CATEGORICAL_MAX` distinct values are categorical (the
preset's ``INTEGER_CARDINALITY_LIMIT``); any column with at most :data:`FEW_VALUES` distinct values is
compared as categories (Evidently's ``n_values <= 5`` rule); everything else numeric is numeric;
dates and other types are kept in the schema but not compared.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mlops_glue.drift import source as io_
from mlops_glue.drift.binning import Binner

PROFILE_VERSION: Literal[1] = 1
DEFAULT_BINS = 1000
DEFAULT_CATEGORY_CAP = 1000
INT_CATEGORICAL_MAX = 10
FEW_VALUES = 5
SMALL_REFERENCE = 1000
"""Evidently's switch: references of at most this many values are judged by exact tests (p-values)."""
SAMPLE_SIZE = 200_000
"""Values per column sampled in the first pass to place the bin edges (counts are exact regardless)."""
_DISTINCT_LIMIT = 100_000  # distinct values tracked per categorical column before the rest go to "other"

Family = Literal["numeric", "string", "bool", "temporal", "other"]
Kind = Literal["numeric", "categorical", "ignored"]
Category = str | int | float | bool


class ProfileError(ValueError):
    """A profile document is missing, corrupt, of an unknown version or does not match its data."""


def family_of(t: pa.DataType) -> Family:
    """The comparable family of an Arrow type; a change of family is a retyped column."""
    if pa.types.is_dictionary(t):
        return family_of(t.value_type)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_temporal(t):
        return "temporal"
    return "other"


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceInfo(_Doc):
    """Where the reference came from."""

    uri: str
    format: str
    size: int | None = None
    version_id: str | None = None
    etag: str | None = None
    sha256: str | None = None


class ColumnProfile(_Doc):
    """One column of the reference."""

    name: str
    dtype: str
    family: Family
    kind: Kind
    count: int = Field(ge=0, description="non-null, finite values")
    nulls: int = Field(0, ge=0)
    nonfinite: int = Field(0, ge=0)
    distinct: int | None = Field(None, description="exact when small, else None")
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    # numeric kind
    edges: list[float] | None = None
    counts: list[int] | None = None
    offsets: list[float] | None = None
    at_edge: list[int] | None = Field(None, description="per bin, values equal to its left edge (discrete)")
    # categorical kind
    categories: list[Category] | None = None
    category_counts: list[int] | None = None
    other: int = Field(0, ge=0, description="values beyond the category cap")

    @model_validator(mode="after")
    def _consistent(self) -> ColumnProfile:
        if self.kind == "numeric":
            if self.edges is None or self.counts is None or self.offsets is None:
                raise ValueError(f"numeric column {self.name!r} needs edges, counts and offsets")
            if len(self.counts) != len(self.edges) + 1 or len(self.offsets) != len(self.counts):
                raise ValueError(f"column {self.name!r}: counts/offsets must have len(edges) + 1 entries")
            if self.at_edge is not None and len(self.at_edge) != len(self.counts):
                raise ValueError(f"column {self.name!r}: at_edge must have len(edges) + 1 entries")
            if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
                raise ValueError(f"column {self.name!r}: edges must be strictly increasing")
            if self.edges and not all(math.isfinite(e) for e in self.edges):
                raise ValueError(f"column {self.name!r}: edges must be finite")
            if sum(self.counts) != self.count:
                raise ValueError(f"column {self.name!r}: bin counts do not add up to count")
        if self.kind == "categorical":
            if self.categories is None or self.category_counts is None:
                raise ValueError(f"categorical column {self.name!r} needs categories and counts")
            if len(self.categories) != len(self.category_counts):
                raise ValueError(f"column {self.name!r}: one count per category")
            if sum(self.category_counts) + self.other != self.count:
                raise ValueError(f"column {self.name!r}: category counts do not add up to count")
        return self

    @property
    def exact_tests(self) -> bool:
        """Evidently's rule: at most 1,000 reference values -> KS / chi-square / z-test p-values."""
        return self.count <= SMALL_REFERENCE

    @property
    def capped(self) -> bool:
        return self.other > 0


class Profile(_Doc):
    """A reference profile (see the module docstring). Build with :func:`build_profile`."""

    version: Literal[1] = PROFILE_VERSION
    created_at: datetime
    source: SourceInfo
    rows: int = Field(ge=0)
    bins: int = Field(ge=10)
    category_cap: int = Field(ge=1)
    columns: list[ColumnProfile]

    @model_validator(mode="after")
    def _unique(self) -> Profile:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("column names must be unique")
        return self

    def column(self, name: str) -> ColumnProfile:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def compared(self) -> list[ColumnProfile]:
        """The columns the drift check compares (numeric and categorical)."""
        return [c for c in self.columns if c.kind != "ignored"]

    def to_json(self) -> bytes:
        """The versioned JSON document."""
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Profile:
        """Parse and validate a document; ProfileError says what is wrong."""
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProfileError(f"profile is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ProfileError("profile must be a JSON object")
        if raw.get("version") != PROFILE_VERSION:
            raise ProfileError(
                f"unsupported profile version {raw.get('version')!r} (expected {PROFILE_VERSION})"
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ProfileError(f"invalid profile at {loc or '<root>'}: {first['msg']}") from exc

    @cached_property
    def fingerprint(self) -> str:
        """Identifies the profile in window counts (windows of different profiles never merge)."""
        return hashlib.sha256(self.to_json()).hexdigest()[:16]

    @cached_property
    def binners(self) -> dict[str, Binner]:
        return {c.name: Binner(np.asarray(c.edges)) for c in self.columns if c.kind == "numeric"}


def load_profile(uri_or_path: str, s3_client: Any = None) -> Profile:
    """Read a profile from a local path or ``s3://bucket/key``."""
    if uri_or_path.startswith("s3://"):
        bucket, key, version = io_.parse_s3_uri(uri_or_path)
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version:
            kwargs["VersionId"] = version
        try:
            data = s3_client.get_object(**kwargs)["Body"].read()
        except Exception as exc:
            raise io_.SourceError(f"cannot read profile {uri_or_path}: {exc}") from exc
    else:
        try:
            with open(uri_or_path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise io_.SourceError(f"cannot read profile {uri_or_path}: {exc.strerror}") from exc
    try:
        return Profile.from_json(data)
    except ProfileError as exc:
        raise ProfileError(f"{uri_or_path}: {exc}") from exc


# ----------------------------------------------------------------------------------------------- build


def values_view(arr: pa.Array) -> np.ndarray[Any, Any]:
    """The values of a primitive numeric Arrow array as numpy: a zero-copy view, or for a float array
    with nulls a copy with NaN where the validity bitmap says null.

    Hand-written because ``Array.to_numpy``, ``pa.scalar`` and ``pa.array`` import pandas when it is
    installed (pyarrow 20): a second of start-up for nothing. This reads the Arrow buffers directly.
    """
    t = arr.type
    floating = pa.types.is_floating(t)
    if not (floating or pa.types.is_integer(t)) or (arr.null_count and not floating):
        raise TypeError(f"values_view needs a numeric array (nulls only if floating), got {t}")
    kind = "f" if floating else ("i" if pa.types.is_signed_integer(t) else "u")
    dtype = np.dtype(f"{kind}{t.bit_width // 8}")
    x = np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)
    if arr.null_count:
        bitmap = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
        valid = np.unpackbits(bitmap, bitorder="little")[arr.offset : arr.offset + len(arr)]
        x = x.copy()
        x[valid == 0] = np.nan
    return x


def numeric_values(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray[Any, Any], int, int]:
    """Finite float64 values of a numeric column, and its counts of nulls (null or NaN) and infinities."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not pa.types.is_float64(arr.type):
        arr = pc.cast(arr, pa.float64())
    nulls = arr.null_count
    x = values_view(arr)  # nulls become NaN
    finite = np.isfinite(x)
    if finite.all():
        return x, nulls, 0
    nan = int(np.isnan(x).sum())
    return x[finite], nan, len(x) - nan - int(finite.sum())


def bin_sums(binner: Binner, x: np.ndarray[Any, Any], with_eq: bool) -> tuple[Any, Any, Any]:
    """Per-bin counts, offset sums (value - bin anchor) and, if asked, counts at the left edge."""
    k = binner.k
    idx = binner(x)
    anchor = binner.anchors
    counts = np.bincount(idx, minlength=k + 1)
    # sum(v - anchor) = sum(v) - count * anchor: one weighted count instead of a gather and a subtraction
    offsets = np.bincount(idx, weights=x, minlength=k + 1) - counts * anchor
    eq = None
    if with_eq:
        on_edge = (idx > 0) & (anchor[idx] == x)
        eq = np.bincount(idx[on_edge], minlength=k + 1)
    return counts, offsets, eq


def square_sum(x: np.ndarray[Any, Any]) -> float:
    """Sum of squares without BLAS (``x @ x`` spins BLAS threads; slow on a busy machine)."""
    return float(np.einsum("i,i->", x, x))


class _Pass1:
    """First pass over one column: type, null counts, a small distinct set and a uniform sample."""

    def __init__(self, name: str, dtype: pa.DataType, seed: int) -> None:
        self.name, self.dtype, self.family = name, dtype, family_of(dtype)
        self.rng = np.random.default_rng(seed)
        self.distinct: set[Any] | None = set()
        self.sample: np.ndarray[Any, Any] = np.empty(0)
        self.keys: np.ndarray[Any, Any] = np.empty(0)

    def add(self, arr: pa.Array | pa.ChunkedArray) -> None:
        if self.family == "numeric":
            x, _, _ = numeric_values(arr)
            if self.distinct is not None:
                self.distinct.update(np.unique(x[:1_000_000]).tolist())
                if len(self.distinct) > max(INT_CATEGORICAL_MAX, FEW_VALUES):
                    self.distinct = None
            keys = self.rng.random(len(x))
            self.sample = np.concatenate([self.sample, x])
            self.keys = np.concatenate([self.keys, keys])
            if len(self.sample) > SAMPLE_SIZE:
                keep = np.argpartition(self.keys, SAMPLE_SIZE)[:SAMPLE_SIZE]
                self.sample, self.keys = self.sample[keep], self.keys[keep]

    def kind(self) -> Kind:
        if self.family in ("string", "bool"):
            return "categorical"
        if self.family != "numeric":
            return "ignored"
        if self.distinct is not None:
            is_int = pa.types.is_integer(self.dtype)
            if len(self.distinct) <= FEW_VALUES or (is_int and len(self.distinct) <= INT_CATEGORICAL_MAX):
                return "categorical"
        return "numeric"


def _edges(sample: np.ndarray[Any, Any], bins: int) -> np.ndarray[Any, Any]:
    """Reference-quantile edges; when the sample has few distinct values, the values themselves.

    Edges are rounded to 12 significant digits (any edges are valid: the counts are exact) to keep the
    document short.
    """
    if len(sample) == 0:
        return np.zeros(1)
    uniq = np.unique(sample)
    if len(uniq) <= bins:
        return np.asarray(uniq, dtype=np.float64)
    qs = np.quantile(sample, np.linspace(0, 1, bins + 1)[1:-1])
    rounded = np.array([float(f"{q:.12g}") for q in qs])
    return np.asarray(np.unique(np.concatenate([[uniq[0]], rounded])), dtype=np.float64)


class _Pass2Numeric:
    def __init__(self, edges: np.ndarray[Any, Any], shift: float, discrete: bool) -> None:
        self.binner = Binner(edges)
        k = len(edges)
        self.counts = np.zeros(k + 1, dtype=np.int64)
        self.offsets = np.zeros(k + 1)
        self.eq = np.zeros(k + 1, dtype=np.int64) if discrete else None
        self.nulls = self.nonfinite = 0
        self.shift, self.s1, self.s2 = shift, 0.0, 0.0
        self.lo, self.hi = math.inf, -math.inf

    def add(self, arr: pa.Array | pa.ChunkedArray) -> None:
        x, nulls, nonfinite = numeric_values(arr)
        self.nulls += nulls
        self.nonfinite += nonfinite
        if len(x) == 0:
            return
        c, o, e = bin_sums(self.binner, x, self.eq is not None)
        self.counts += c
        self.offsets += o
        if self.eq is not None:
            self.eq += e
        d = x - self.shift
        self.s1 += float(d.sum())
        self.s2 += square_sum(d)
        self.lo, self.hi = min(self.lo, float(x.min())), max(self.hi, float(x.max()))


def category_keys(
    arr: pa.Array | pa.ChunkedArray, family: Family
) -> tuple[list[Any], np.ndarray[Any, Any], int]:
    """Distinct non-null values of a categorical column with their counts, and its null count.

    Numeric categories are compared as floats (an int column written as float with NaNs still matches).
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    nulls = arr.null_count
    # pure Arrow until the small results (see values_view on why not Array.to_numpy)
    if pa.types.is_dictionary(arr.type):
        idx = values_view(pc.drop_null(arr.indices))
        counts = np.bincount(idx.astype(np.int64), minlength=len(arr.dictionary))
        values = arr.dictionary
    else:
        if family == "numeric":
            arr = pc.cast(arr, pa.float64())
            nan = pc.is_nan(arr)  # null where arr is null
            nan_count = int(pc.sum(nan).as_py() or 0)
            if nan_count:
                nulls += nan_count
                arr = pc.filter(arr, pc.invert(nan), null_selection_behavior="emit_null")
        vc = pc.value_counts(arr)
        valid = pc.is_valid(vc.field("values"))
        values = pc.filter(vc.field("values"), valid)
        counts = values_view(pc.filter(vc.field("counts"), valid))
    keep = counts > 0
    # filtered in Python (few distinct values): building an Arrow mask with pa.array imports pandas
    kept = [v for v, k in zip(values.to_pylist(), keep.tolist(), strict=True) if k]
    return kept, counts[keep], nulls


def _category_type(family: Family) -> pa.DataType:
    return {"numeric": pa.float64(), "bool": pa.bool_()}.get(family, pa.string())


def build_profile(
    source: Any,
    *,
    bins: int = DEFAULT_BINS,
    category_cap: int = DEFAULT_CATEGORY_CAP,
    fmt: str | None = None,
    s3_client: Any = None,
    progress: io_.Progress | None = None,
) -> Profile:
    """Profile a CSV or Parquet reference in two streamed passes (edges from a sample, then exact counts).

    Raises :class:`ProfileError` when the reference is unusable (unreadable, empty, no columns) and
    :class:`SourceError` when it cannot be read at all.
    """
    if bins < 10:
        raise ValueError("bins must be >= 10")
    src = io_.open_source(source, fmt=fmt, s3_client=s3_client)
    stats = io_.ReadStats()

    def batches(columns: dict[str, pa.DataType] | None, phase: float) -> Any:
        def prog(f: float) -> None:
            if progress:
                progress(phase + f / 2)

        try:
            if src.fmt == "parquet":
                yield from io_.iter_parquet(src, None, [], prog)
            else:
                yield from io_.iter_csv(src, columns or {}, stats, prog, widen=columns is None)
        except io_.DataFormatError as exc:
            raise ProfileError(f"{src.uri}: {exc}") from exc

    # pass 1: schema, kinds, samples for the edges
    first: dict[str, _Pass1] = {}
    rows = 0
    for batch in batches(None, 0.0):
        if io_.is_restart(batch):  # a CSV column needed a wider type: start over
            first, rows = {}, 0
            continue
        if not first:
            first = {
                n: _Pass1(n, t, i)
                for i, (n, t) in enumerate(zip(batch.schema.names, batch.schema.types, strict=True))
            }
        for name, p1 in first.items():
            if name in batch.schema.names:
                p1.add(batch.column(name))
        rows += batch.num_rows
    if not first or rows == 0:
        raise ProfileError(f"{src.uri}: the reference has no rows")
    if stats.bad_rows:
        raise ProfileError(
            f"{src.uri}: {stats.bad_rows} malformed rows in the reference ({stats.bad_row_examples[0]})"
        )

    kinds = {name: p.kind() for name, p in first.items()}
    numeric: dict[str, _Pass2Numeric] = {}
    for name, p in first.items():
        if kinds[name] == "numeric":
            shift = float(np.mean(p.sample)) if len(p.sample) else 0.0
            edges = _edges(p.sample, bins)
            discrete = len(np.unique(p.sample)) <= bins  # edges are the values themselves
            numeric[name] = _Pass2Numeric(edges, shift, discrete)
    cats: dict[str, dict[Any, int]] = {name: {} for name in first if kinds[name] == "categorical"}
    cat_nulls: dict[str, int] = dict.fromkeys(cats, 0)
    cat_other: dict[str, int] = dict.fromkeys(cats, 0)
    other_nulls: dict[str, int] = {name: 0 for name in first if kinds[name] == "ignored"}

    # pass 2: exact counts (CSV typed as pass 1 inferred, so both passes read the same values)
    types = {name: p.dtype for name, p in first.items()}
    for batch in batches(types, 0.5):
        if io_.is_restart(batch):  # pragma: no cover - the same inferred types cannot fail twice
            continue
        for name in batch.schema.names:
            col = batch.column(name)
            if name in numeric:
                numeric[name].add(col)
            elif name in cats:
                values, counts, nulls = category_keys(col, first[name].family)
                cat_nulls[name] += nulls
                table = cats[name]
                for v, c in zip(values, counts.tolist(), strict=True):
                    if v in table or len(table) < _DISTINCT_LIMIT:
                        table[v] = table.get(v, 0) + c
                    else:
                        cat_other[name] += c
            elif name in other_nulls:
                other_nulls[name] += col.null_count

    sha = io_.sha256_of(src) if src.fmt else None
    columns: list[ColumnProfile] = []
    for name, p in first.items():
        base: dict[str, Any] = {"name": name, "dtype": str(p.dtype), "family": p.family, "kind": kinds[name]}
        if name in numeric:
            q = numeric[name]
            n = int(q.counts.sum())
            mean = q.shift + q.s1 / n if n else None
            var = max(q.s2 / n - (q.s1 / n) ** 2, 0.0) if n else None
            columns.append(
                ColumnProfile(
                    **base,
                    count=n,
                    nulls=q.nulls,
                    nonfinite=q.nonfinite,
                    distinct=len(q.binner.edges) if q.eq is not None else None,
                    min=q.lo if n else None,
                    max=q.hi if n else None,
                    mean=mean,
                    std=math.sqrt(var) if var is not None else None,
                    edges=q.binner.edges.tolist(),
                    counts=q.counts.tolist(),
                    offsets=q.offsets.tolist(),
                    at_edge=q.eq.tolist() if q.eq is not None else None,
                )
            )
        elif name in cats:
            ranked = sorted(cats[name].items(), key=lambda kv: (-kv[1], str(kv[0])))
            kept, rest = ranked[:category_cap], ranked[category_cap:]
            n = sum(cats[name].values()) + cat_other[name]
            numbers = [float(v) for v, _ in kept] if p.family == "numeric" else []
            columns.append(
                ColumnProfile(
                    **base,
                    count=n,
                    nulls=cat_nulls[name],
                    distinct=len(cats[name]) if not cat_other[name] else None,
                    min=min(numbers) if numbers else None,
                    max=max(numbers) if numbers else None,
                    categories=[v for v, _ in kept],
                    category_counts=[c for _, c in kept],
                    other=cat_other[name] + sum(c for _, c in rest),
                )
            )
        else:
            columns.append(ColumnProfile(**base, count=rows - other_nulls[name], nulls=other_nulls[name]))
    info = io_  # keep the module name short below
    return (
        Profile(
            created_at=datetime.now(UTC),
            source=SourceInfo(
                uri=src.uri,
                format=src.fmt,
                size=src.size,
                version_id=src.version_id,
                etag=src.etag,
                sha256=sha,
            ),
            rows=rows,
            bins=bins,
            category_cap=category_cap,
            columns=columns,
        )
        if info
        else Profile.model_validate({})
    )
