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

import gc
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal, NamedTuple

import numpy as np
import pyarrow as pa
import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from mlops_glue.adapters.s3 import ObjectStoreError, S3ObjectStore
from mlops_glue.drift import source as io_
from mlops_glue.drift.binning import Binner, count_codes
from mlops_glue.drift.parallel import READ_AHEAD, ColumnPool, InOrder
from mlops_glue.texts import validation_text

PROFILE_VERSION: Literal[1] = 1
DEFAULT_BINS = 1000
DEFAULT_CATEGORY_CAP = 1000
INT_CATEGORICAL_MAX = 10
FEW_VALUES = 5
SMALL_REFERENCE = 1000
"""Evidently's switch: references of at most this many values are judged by exact tests (p-values)."""
SAMPLE_SIZE = 50_000
"""Values per column sampled in the first pass to place the bin edges (counts are exact regardless): 50
per bin, as in the binned-vs-exact tests (tests/drift/test_drift_stats.py)."""
PASS1_ROWS = 200_000
"""Rows of a Parquet reference, in row groups spread over the file, that the first pass reads."""
SAMPLE_BUDGET = 32 << 20
"""Bytes of samples held at once (Parquet: one batch of columns; CSV: every column, capped to fit)."""
MAX_BIN_RATIO = 3.0
"""A bin holding more than this many times the share the first-pass sample gave it means the edges,
placed on part of the file, do not fit the whole: the column is read again over every row group."""
DISTINCT_BUDGET = 2_000_000
"""Distinct categorical values tracked over all columns (a wide file of huge cardinality stays bounded)."""
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


class RefBins(NamedTuple):
    """A numeric column's reference bins as arrays (see :attr:`ColumnProfile.bins`)."""

    edges: np.ndarray[Any, Any]
    counts: np.ndarray[Any, Any]
    offsets: np.ndarray[Any, Any]
    at_edge: np.ndarray[Any, Any] | None


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
            bins = self._arrays()  # vectorised: a wide profile has 10^6 edges
            edges = bins.edges
            if not np.all(edges[1:] > edges[:-1]):
                raise ValueError(f"column {self.name!r}: edges must be strictly increasing")
            if not np.all(np.isfinite(edges)):
                raise ValueError(f"column {self.name!r}: edges must be finite")
            if np.any(bins.counts < 0):
                raise ValueError(f"column {self.name!r}: bin counts must not be negative")
            if int(bins.counts.sum()) != self.count:
                raise ValueError(f"column {self.name!r}: bin counts do not add up to count")
            self.__dict__["bins"] = bins  # what `bins` would convert again: kept, as cached_property keeps it
        if self.kind == "categorical":
            if self.categories is None or self.category_counts is None:
                raise ValueError(f"categorical column {self.name!r} needs categories and counts")
            if len(self.categories) != len(self.category_counts):
                raise ValueError(f"column {self.name!r}: one count per category")
            if sum(self.category_counts) + self.other != self.count:
                raise ValueError(f"column {self.name!r}: category counts do not add up to count")
        return self

    @cached_property
    def bins(self) -> RefBins:
        """The numeric bins as numpy arrays, converted once, by the validation (the check's binner and
        verdict share them; a wide profile's lists hold millions of values)."""
        return self._arrays()

    def _arrays(self) -> RefBins:
        try:
            return RefBins(
                np.asarray(self.edges or [], dtype=np.float64),
                np.asarray(self.counts or [], dtype=np.int64),
                np.asarray(self.offsets or [], dtype=np.float64),
                np.asarray(self.at_edge, dtype=np.int64) if self.at_edge is not None else None,
            )
        except OverflowError:  # a count beyond int64
            raise ValueError(f"column {self.name!r}: a bin count is too large") from None

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
    _document: bytes | None = PrivateAttr(default=None)
    _binners: dict[str, Binner] = PrivateAttr(default_factory=dict)

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
        """The versioned JSON document (serialized to bytes at once: no str beside them, 25 MB at 1,000
        columns)."""
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)

    @classmethod
    def from_json(cls, data: bytes | str) -> Profile:
        """Parse and validate a document; ProfileError says what is wrong.

        Parsed by pydantic-core's JSON parser (what ``json.loads`` would return, faster; anything it
        refuses goes to ``json.loads``, which accepts or says what is wrong as before) and validated with
        the garbage collector paused: a wide profile is millions of new objects, and the collections they
        trigger find nothing to free. 1,000 columns: 0.58 s -> 0.22 s, the same memory.
        """
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return cls._from_json(data)
        finally:
            if was_enabled:
                gc.enable()

    @classmethod
    def _from_json(cls, data: bytes | str) -> Profile:
        try:
            raw = pydantic_core.from_json(data)
        except ValueError:
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
            profile = cls.model_validate(raw)
        except ValidationError as exc:
            raise ProfileError(f"invalid profile at {validation_text(exc, 1)}") from exc
        profile._document = data.encode() if isinstance(data, str) else data
        return profile

    @cached_property
    def fingerprint(self) -> str:
        """Identifies the profile in window counts (windows of different profiles never merge): the
        SHA-256 of its document. A loaded profile hashes the bytes it was read from (what ``to_json``
        wrote, for every profile the glue builds; a wide profile's re-serialization cost 0.15 s a check);
        a profile built in this process hashes ``to_json()``."""
        document = self._document if self._document is not None else self.to_json()
        return hashlib.sha256(document).hexdigest()[:16]

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Profile:
        """A copy; one with changes is another document, so it forgets the bytes and cached values."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy._document = None
            copy._binners = {}
            copy.__dict__.pop("fingerprint", None)
        return copy

    def binner(self, column: ColumnProfile) -> Binner:
        """The numeric ``column``'s binner, built on first use (in the thread counting the column: the
        columns' binners are built in parallel, 1,000 take 0.07 s) and kept with the profile, so a warm
        function counting another object of the same profile builds none."""
        binner = self._binners.get(column.name)
        if binner is None:
            binner = self._binners[column.name] = Binner(column.bins.edges)
        return binner


def load_profile(uri_or_path: str, s3_client: Any = None) -> Profile:
    """Read a profile from a local path or ``s3://bucket/key``."""
    if uri_or_path.startswith("s3://"):
        try:
            data = S3ObjectStore(s3_client).get_bytes(uri_or_path)
        except (ObjectStoreError, ValueError) as exc:
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


def valid_ints(arr: pa.Array) -> np.ndarray[Any, Any]:
    """The non-null values of an integer Arrow array (dictionary indices), without pyarrow.compute."""
    return _valid(arr, "i" if pa.types.is_signed_integer(arr.type) else "u")


def _valid(arr: pa.Array, kind: str) -> np.ndarray[Any, Any]:
    """The non-null values of a primitive array, in order: a zero-copy view without nulls, else one
    compress by the validity bitmap."""
    if not arr.null_count:
        return values_view(arr)
    dtype = np.dtype(f"{kind}{arr.type.bit_width // 8}")
    x = np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)
    bitmap = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
    valid = np.unpackbits(bitmap, bitorder="little")[arr.offset : arr.offset + len(arr)]
    out: np.ndarray[Any, Any] = x[valid.view(np.bool_)]
    return out


def _float64(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not pa.types.is_float64(arr.type):
        import pyarrow.compute as pc  # here, not at import: 50-100 ms of start-up a float column never needs

        arr = pc.cast(arr, pa.float64())
    return arr


def float_view(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray[Any, Any], int]:
    """A numeric column as float64 numpy values (nulls as NaN), and its count of nulls."""
    arr = _float64(arr)
    return values_view(arr), arr.null_count


def valid_floats(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray[Any, Any], int]:
    """A numeric column's non-null values as float64 (NaN and infinities kept), and its count of nulls."""
    a = _float64(arr)
    return _valid(a, "f"), a.null_count


class _Pass1:
    """First pass over one column: type, a small distinct set and a uniform sample of its values.

    The sample is a Bernoulli sample (each value kept with probability ``rate``); when it grows past twice
    its cap every kept value is kept again with probability 1/2 and the rate halves, so it stays a
    uniform sample of at most ``2 * cap`` values whatever the row count.
    """

    def __init__(self, name: str, dtype: pa.DataType, seed: int, cap: int, rate: float = 1.0) -> None:
        self.name, self.dtype, self.family = name, dtype, family_of(dtype)
        self.rng = np.random.default_rng(seed)
        self.distinct: set[Any] | None = set()
        self.cap, self.rate, self.base_rate = cap, rate, rate
        self.parts: list[np.ndarray[Any, Any]] = []
        self.kept = 0

    def add(self, arr: pa.Array | pa.ChunkedArray, rows: np.ndarray[Any, Any] | None = None) -> None:
        """Add a piece of the column; ``rows``, drawn with probability ``rate`` for every column of the
        piece at once, are the rows sampled (None: draw here)."""
        if self.family != "numeric":
            return
        x, _ = float_view(arr)
        if self.distinct is not None:
            self._track(x[np.isfinite(x)])
        if self.rate >= 1.0:
            x = x.copy()  # never keep a view: it would hold the whole Arrow buffer
        elif rows is None:
            x = np.take(x, np.flatnonzero(self.rng.random(len(x)) < self.rate))
        else:
            x = np.take(x, rows)
            if self.rate < self.base_rate:  # thinned since: thin the shared rows alike
                x = x[self.rng.random(len(x)) < self.rate / self.base_rate]
        x = x[np.isfinite(x)]
        self.parts.append(x)
        self.kept += len(x)
        while self.kept > 2 * self.cap:
            x = np.concatenate(self.parts)
            x = x[self.rng.random(len(x)) < 0.5]
            self.parts, self.kept, self.rate = [x], len(x), self.rate / 2

    def _track(self, x: np.ndarray[Any, Any]) -> None:
        limit = max(INT_CATEGORICAL_MAX, FEW_VALUES)
        assert self.distinct is not None
        if len(np.unique(x[:4096])) > limit:  # a continuous column shows itself in its first values
            self.distinct = None
            return
        self.distinct.update(np.unique(x).tolist())
        if len(self.distinct) > limit:
            self.distinct = None

    @property
    def sample(self) -> np.ndarray[Any, Any]:
        return np.concatenate(self.parts) if self.parts else np.empty(0)

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
    return _layout(sample, bins)[0]


def _layout(sample: np.ndarray[Any, Any], bins: int) -> tuple[np.ndarray[Any, Any], bool]:
    """:func:`_edges` and whether they are the sample's distinct values (discrete), from one sort."""
    if len(sample) == 0:
        return np.zeros(1), False
    x = np.sort(sample)
    first = np.empty(len(x), dtype=bool)
    first[0] = True
    np.not_equal(x[1:], x[:-1], out=first[1:])
    uniq = x[first]
    if len(uniq) <= bins:
        return np.asarray(uniq, dtype=np.float64), True
    # np.quantile's default (linear) on the sorted sample, without sorting it again
    pos = np.linspace(0, 1, bins + 1)[1:-1] * (len(x) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(x) - 1)
    frac = pos - lo
    qs = x[lo] + (x[hi] - x[lo]) * frac
    return np.asarray(np.unique(np.concatenate([[uniq[0]], _round12(qs)])), dtype=np.float64), False


def _round12(q: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``q`` rounded to 12 significant digits of its largest magnitude: k / 10^d is the double nearest
    the short decimal (IEEE division rounds correctly), so each edge prints short in the document."""
    top = float(np.max(np.abs(q), initial=0.0))
    if top == 0.0 or not math.isfinite(top):
        return q
    d = 11 - math.floor(math.log10(top))
    if d > 22:  # 10^d is no longer exact: keep the values as they are
        return q
    if d >= 0:
        scale = 10.0**d
        return np.asarray(np.rint(q * scale) / scale)
    scale = 10.0**-d
    return np.asarray(np.rint(q / scale) * scale)


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
        self.expected: np.ndarray[Any, Any] | None = None  # per-bin shares the pass-1 sample predicted

    def add(self, arr: pa.Array | pa.ChunkedArray) -> None:
        x, nulls = valid_floats(arr)
        self.nulls += nulls
        if len(x) == 0:
            return
        m = self.binner.accumulate(x, self.shift, self.counts, self.offsets, self.eq, self.lo, self.hi)
        self.nulls += m.nan  # NaN counts as missing, as in the check
        self.nonfinite += m.inf
        self.s1 += m.s1
        self.s2 += m.s2
        self.lo, self.hi = m.lo, m.hi

    def edges_fit(self) -> bool:
        """Whether the edges placed from a part of the file fit the whole of it.

        Discrete edges (the values themselves) fit when every value is an edge; quantile edges when no bin
        holds more than :data:`MAX_BIN_RATIO` times the share the sample gave it (at least one bin's worth).
        Counts are exact either way: a misfit only makes bins uneven, which widens the Wasserstein bound.
        """
        n = int(self.counts.sum())
        if n == 0:
            return True
        if self.eq is not None:
            return bool(self.counts[0] == 0 and np.array_equal(self.counts[1:], self.eq[1:]))
        if self.expected is None:
            return True
        share = self.counts / n
        floor = 1.0 / len(self.counts)
        return bool(np.all(share <= MAX_BIN_RATIO * np.maximum(self.expected, floor)))


class _Categories:
    """Exact value counts of a categorical column (up to ``limit`` distinct values, the rest "other")."""

    def __init__(self, family: Family, limit: int) -> None:
        self.family, self.limit = family, limit
        self.table: dict[Any, int] = {}
        self.nulls = self.other = 0

    def add(self, arr: pa.Array | pa.ChunkedArray) -> None:
        values, counts, nulls = category_keys(arr, self.family)
        self.nulls += nulls
        table = self.table
        for v, c in zip(values, counts.tolist(), strict=True):
            if v in table or len(table) < self.limit:
                table[v] = table.get(v, 0) + c
            else:
                self.other += c


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
        counts = count_codes(valid_ints(arr.indices), len(arr.dictionary))
        values = arr.dictionary
    else:
        import pyarrow.compute as pc  # here, not at import (see float_view)

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
    threads: int | None = None,
    sample_size: int = SAMPLE_SIZE,
) -> Profile:
    """Profile a CSV or Parquet reference in two streamed passes: bin edges from a sample, exact counts.

    Parquet: the first pass reads only row groups spread over the file (at least :data:`PASS1_ROWS`
    rows), one batch of columns at a time; the second reads every row group in column batches and counts
    exactly. A column whose edges turn out not to fit the whole file (ordered data: see
    :meth:`_Pass2Numeric.edges_fit`), or that proves numeric where the part looked categorical, is read
    again alone with both passes over every row group. CSV: both passes read the whole file (types are
    inferred over all of it), in blocks sized to its width. Columns are handled in ``threads`` threads.

    Raises :class:`ProfileError` when the reference is unusable (unreadable, empty, no columns) and
    :class:`SourceError` when it cannot be read at all.
    """
    if bins < 10:
        raise ValueError("bins must be >= 10")
    src = io_.open_source(source, fmt=fmt, s3_client=s3_client)
    b = _Build(bins, category_cap, sample_size, progress)
    with ColumnPool(threads) as pool, ThreadPoolExecutor(1) as hasher:
        # the sha256 streams in a thread of its own (hashlib releases the GIL) while the passes run
        digest = hasher.submit(io_.sha256_of, src) if src.independent_reads else None
        b.pool = pool
        try:
            rows = b.parquet(src) if src.fmt == "parquet" else b.csv(src)
        except io_.DataFormatError as exc:
            raise ProfileError(f"{src.uri}: {exc}") from exc
        sha = digest.result() if digest is not None else io_.sha256_of(src)
    return Profile(
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
        columns=[b.column(name, rows) for name in list(b.first)],
    )


def spread_row_groups(row_counts: list[int], want: int) -> list[int]:
    """Row groups evenly spread over the file whose rows add up to at least ``want`` (all if fewer)."""
    n = len(row_counts)
    if sum(row_counts) <= want:
        return list(range(n))
    k = max(1, math.ceil(want / (sum(row_counts) / n)))
    while True:
        picked = sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)})
        if sum(row_counts[i] for i in picked) >= want or len(picked) == n:
            return picked
        k += 1


class _Build:
    """The state of one profile build: per column its first-pass summary and its exact counts."""

    def __init__(self, bins: int, category_cap: int, sample_size: int, progress: io_.Progress | None) -> None:
        self.bins, self.category_cap, self.sample_size, self.progress = (
            bins,
            category_cap,
            sample_size,
            progress,
        )
        self.pool: Any = None
        self._rng = np.random.default_rng(0)
        self.first: dict[str, _Pass1] = {}
        self.kinds: dict[str, Kind] = {}
        self.numeric: dict[str, _Pass2Numeric] = {}
        self.cats: dict[str, _Categories] = {}
        self.other_nulls: dict[str, int] = {}

    def _phase(self, start: float, span: float) -> io_.Progress | None:
        progress = self.progress
        if progress is None:
            return None
        return lambda f: progress(start + f * span)

    # ------------------------------------------------------------------ pass 1 -> kinds and edges

    def _settle(self, names: list[str]) -> None:
        """Kinds, edges and fresh second-pass state for columns whose first pass is done."""

        def one(name: str) -> None:
            p = self.first[name]
            kind = self.kinds[name] = p.kind()
            self.numeric.pop(name, None)
            self.cats.pop(name, None)
            self.other_nulls.pop(name, None)
            if kind == "numeric":
                sample = p.sample
                edges, discrete = _layout(sample, self.bins)
                q = _Pass2Numeric(edges, float(np.mean(sample)) if len(sample) else 0.0, discrete)
                if len(sample):
                    q.expected = np.bincount(q.binner(sample), minlength=len(edges) + 1) / len(sample)
                self.numeric[name] = q
            elif kind == "categorical":
                self.cats[name] = _Categories(p.family, self._distinct_limit)
            else:
                self.other_nulls[name] = 0
            p.parts = []  # the sample is no longer needed

        self.pool.map(one, names)

    @property
    def _distinct_limit(self) -> int:
        """Distinct values tracked per categorical column: 100,000, less when many columns share the
        budget of :data:`DISTINCT_BUDGET` (never below ten times the category cap)."""
        n = sum(1 for p in self.first.values() if p.family in ("string", "bool")) or 1
        return min(_DISTINCT_LIMIT, max(10 * self.category_cap, DISTINCT_BUDGET // n))

    # ------------------------------------------------------------------ pass 2 -> exact counts

    def _count(self, pieces: Iterable[io_.Piece]) -> None:
        """Every piece into the columns' second-pass state, the pieces' columns in threads in order, as the
        check counts (:class:`~mlops_glue.drift.parallel.InOrder`: no barrier at the end of each piece;
        with one, and one piece read ahead, this pass took 1.34x the raw read at 1,000 columns)."""
        order = InOrder(self.pool, self._count_one)
        for piece in pieces:
            table = piece.table
            order.add(list(zip(table.schema.names, table.columns, strict=True)))
        order.drain()

    def _count_one(self, name: str, col: pa.ChunkedArray) -> None:
        if name in self.numeric:
            self.numeric[name].add(col)
        elif name in self.cats:
            self.cats[name].add(col)
        elif name in self.other_nulls:
            self.other_nulls[name] += col.null_count

    # ------------------------------------------------------------------ Parquet

    def parquet(self, src: io_.Source) -> int:
        with io_.ParquetReader(src, []) as reader:
            schema = reader.file.schema_arrow
            rows = int(sum(reader.row_counts))
            if not schema.names or rows == 0:
                raise ProfileError(f"{src.uri}: the reference has no rows")
            names = list(schema.names)
            part = spread_row_groups(reader.row_counts, PASS1_ROWS)
            self._parquet_pass1(reader, names, part, self._phase(0.0, 0.3))
            self._parquet_pass2(reader, names, self._phase(0.3, 0.7))
            if len(part) < len(reader.row_counts):
                redo = self._misfits()
                if redo:  # read those columns again, alone, both passes over every row group
                    every = list(range(len(reader.row_counts)))
                    self._parquet_pass1(reader, redo, every, None)
                    self._parquet_pass2(reader, redo, None)
        return rows

    def _parquet_pass1(
        self, reader: io_.ParquetReader, names: list[str], groups: list[int], progress: io_.Progress | None
    ) -> None:
        """Column batches outer, the chosen row groups inner: only one batch's samples are held at once."""
        schema = reader.file.schema_arrow
        part_rows = sum(reader.row_counts[i] for i in groups)
        rate = min(1.0, self.sample_size / part_rows) if part_rows else 1.0
        for name in names:
            if name not in self.first:
                self.first[name] = _Pass1(
                    name, schema.field(name).type, len(self.first), self.sample_size, rate
                )
            else:
                p = self.first[name]
                self.first[name] = _Pass1(name, p.dtype, int(p.rng.integers(1 << 31)), self.sample_size, rate)
        sizes: dict[str, int] = {}
        for i in groups:
            for k, v in io_._column_sizes(reader.file.metadata, i, set(names)).items():
                sizes[k] = max(sizes.get(k, 0), v)
        per_batch = max(1, SAMPLE_BUDGET // (16 * self.sample_size))
        batches = [
            run[j : j + per_batch]
            for run in io_.column_batches(sizes, names, reader.budget)
            for j in range(0, len(run), per_batch)
        ]
        plan = [(i, batch, 0) for batch in batches for i in groups]
        pieces = reader.pieces(plan, progress)
        for batch in batches:
            for _ in groups:
                self._sample(next(pieces).table, self.first, rate)
            self._settle(batch)

    def _sample(self, table: pa.Table | pa.RecordBatch, first: dict[str, _Pass1], rate: float = 1.0) -> None:
        names = table.schema.names
        # one draw of rows for the whole piece: the same uniform rows of every column
        rows = np.flatnonzero(self._rng.random(table.num_rows) < rate) if rate < 1.0 else None

        def one(j: int) -> None:
            first[names[j]].add(table.column(j), rows)

        self.pool.map(one, range(table.num_columns))

    def _parquet_pass2(
        self, reader: io_.ParquetReader, names: list[str], progress: io_.Progress | None
    ) -> None:
        string_cats = [
            n for n in names if self.kinds[n] == "categorical" and self.first[n].family == "string"
        ]
        footer = reader.file.metadata
        with io_.ParquetReader(reader.source, string_cats, reader.budget, footer) as dict_reader:
            self._count(dict_reader.pieces(dict_reader.row_major(names), progress, ahead=READ_AHEAD))

    def _misfits(self) -> list[str]:
        """Columns whose kind or edges, settled on part of the file, do not fit the whole of it."""
        out = [name for name, q in self.numeric.items() if not q.edges_fit()]
        for name, c in self.cats.items():
            p = self.first[name]
            if p.family == "numeric":
                n = len(c.table)
                is_int = pa.types.is_integer(p.dtype)
                if not (n <= FEW_VALUES or (is_int and n <= INT_CATEGORICAL_MAX)):
                    out.append(name)
        return out

    # ------------------------------------------------------------------ CSV

    def csv(self, src: io_.Source) -> int:
        header = io_.csv_header(src)
        block = io_.csv_block_size(len(header))
        # the samples of every column are held at once here: cap them to the budget
        cap = max(1000, min(self.sample_size, SAMPLE_BUDGET // (16 * max(1, len(header)))))
        stats = io_.ReadStats()
        rows = 0
        first: dict[str, _Pass1] = {}
        first_pass = io_.iter_csv(src, {}, stats, self._phase(0.0, 0.5), block_size=block, widen=True)
        for batch in io_.coalesce(io_.prefetched(first_pass), len(header)):
            if io_.is_restart(batch):  # a column needed a wider type: start over
                first, rows = {}, 0
                continue
            if not first:
                first = {
                    n: _Pass1(n, t, i, cap)
                    for i, (n, t) in enumerate(zip(batch.schema.names, batch.schema.types, strict=True))
                }
            self._sample(batch, first)
            rows += batch.num_rows
        if not first or rows == 0:
            raise ProfileError(f"{src.uri}: the reference has no rows")
        if stats.bad_rows:
            raise ProfileError(
                f"{src.uri}: {stats.bad_rows} malformed rows in the reference ({stats.bad_row_examples[0]})"
            )
        self.first = first
        self._settle(list(first))
        types = {name: p.dtype for name, p in first.items()}
        second_pass = io_.iter_csv(src, types, io_.ReadStats(), self._phase(0.5, 0.5), block_size=block)
        batches = io_.coalesce(io_.prefetched(second_pass), len(header))
        # the same inferred types cannot fail twice: no restart marker comes
        self._count(io_.Piece(b, b.num_rows) for b in batches if not io_.is_restart(b))
        return rows

    # ------------------------------------------------------------------ the profile

    def column(self, name: str, rows: int) -> ColumnProfile:
        """The column's profile; its build state is let go (the profile's lists take its place: 1,000
        columns held both at once)."""
        p = self.first.pop(name)
        base: dict[str, Any] = {
            "name": name,
            "dtype": str(p.dtype),
            "family": p.family,
            "kind": self.kinds[name],
        }
        if name in self.numeric:
            q = self.numeric.pop(name)
            n = int(q.counts.sum())
            mean = q.shift + q.s1 / n if n else None
            var = max(q.s2 / n - (q.s1 / n) ** 2, 0.0) if n else None
            return ColumnProfile(
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
        if name in self.cats:
            c = self.cats.pop(name)
            ranked = sorted(c.table.items(), key=lambda kv: (-kv[1], str(kv[0])))
            kept, rest = ranked[: self.category_cap], ranked[self.category_cap :]
            n = sum(c.table.values()) + c.other
            numbers = [float(v) for v, _ in kept] if p.family == "numeric" else []
            return ColumnProfile(
                **base,
                count=n,
                nulls=c.nulls,
                distinct=len(c.table) if not c.other else None,
                min=min(numbers) if numbers else None,
                max=max(numbers) if numbers else None,
                categories=[v for v, _ in kept],
                category_counts=[c for _, c in kept],
                other=c.other + sum(c for _, c in rest),
            )
        nulls = self.other_nulls.pop(name)
        return ColumnProfile(**base, count=rows - nulls, nulls=nulls)
