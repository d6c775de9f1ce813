"""Streaming counts of a batch in a reference's bins, mergeable into windows, serialized compactly.

:func:`count_batch` never raises for data problems: an empty or corrupt file, malformed rows,
unparseable values, missing/new/retyped columns are all recorded in the counts and judged by
:func:`mlops_glue.drift.verdict.evaluate`. Only I/O failures (:class:`SourceError`) and programmer
errors raise. Counts are plain sums, so :meth:`WindowCounts.merge` is associative and commutative.

How a batch is counted (what made it faster, bench/): the reader keeps
:data:`~mlops_glue.drift.parallel.READ_AHEAD` pieces coming in its own thread (pyarrow decodes without
the GIL), the columns of :data:`~mlops_glue.drift.parallel.IN_FLIGHT` pieces are counted in the pool's
threads at once, a run of columns per thread (no barrier at the end of each piece, where
one thread used to wait for the other's last column: :class:`~mlops_glue.drift.parallel.InOrder`), each
column piece added to the column's counts by :meth:`Binner.accumulate
<mlops_glue.drift.binning.Binner.accumulate>` (one pass of the compiled kernel, or numpy's). Every
column's pieces are still counted in the file's order, so a batch's counts are the same bytes whatever
the threads do.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa

from mlops_glue.drift import source as io_
from mlops_glue.drift.parallel import IN_FLIGHT, READ_AHEAD, ColumnPool, InOrder
from mlops_glue.drift.profile import (
    ColumnProfile,
    Profile,
    category_keys,
    family_of,
    valid_floats,
)

_MAGIC = b"MGWC"
_FORMAT = 1
MAX_EXAMPLES = 20
"""Example names kept per list (unseen categories, sources, errors): the smallest, so merging commutes."""

Array = np.ndarray[Any, Any]


def _smallest(*groups: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set().union(*groups))[:MAX_EXAMPLES])


def _add_maps(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


@dataclass
class NumericCounts:
    """A numeric column in the reference's bins (see :mod:`mlops_glue.drift.stats`)."""

    counts: Array
    offsets: Array
    at_edge: Array | None
    nulls: int = 0
    nonfinite: int = 0
    unparseable: int = 0
    lo: float = math.inf
    hi: float = -math.inf
    s1: float = 0.0  # sum of (value - reference mean)
    s2: float = 0.0  # sum of squares of the same

    @classmethod
    def empty(cls, col: ColumnProfile) -> NumericCounts:
        k = len(col.edges or [])
        return cls(
            np.zeros(k + 1, np.int64), np.zeros(k + 1), np.zeros(k + 1, np.int64) if col.at_edge else None
        )

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def merge(self, o: NumericCounts) -> NumericCounts:
        return NumericCounts(
            self.counts + o.counts,
            self.offsets + o.offsets,
            None if self.at_edge is None or o.at_edge is None else self.at_edge + o.at_edge,
            self.nulls + o.nulls,
            self.nonfinite + o.nonfinite,
            self.unparseable + o.unparseable,
            min(self.lo, o.lo),
            max(self.hi, o.hi),
            self.s1 + o.s1,
            self.s2 + o.s2,
        )


@dataclass
class CategoricalCounts:
    """A categorical column: counts per reference category, and values the profile does not list."""

    counts: Array
    unknown: int = 0
    unknown_examples: tuple[str, ...] = ()
    nulls: int = 0
    unparseable: int = 0

    @classmethod
    def empty(cls, col: ColumnProfile) -> CategoricalCounts:
        return cls(np.zeros(len(col.categories or []), np.int64))

    @property
    def n(self) -> int:
        return int(self.counts.sum()) + self.unknown

    def merge(self, o: CategoricalCounts) -> CategoricalCounts:
        return CategoricalCounts(
            self.counts + o.counts,
            self.unknown + o.unknown,
            _smallest(self.unknown_examples, o.unknown_examples),
            self.nulls + o.nulls,
            self.unparseable + o.unparseable,
        )


ColumnCounts = NumericCounts | CategoricalCounts


@dataclass
class WindowCounts:
    """The counts of one batch or of a window of batches, for one profile."""

    profile: str  # the profile's fingerprint
    rows: int = 0
    files: int = 0
    columns: dict[str, ColumnCounts] = field(default_factory=dict)
    missing: dict[str, int] = field(default_factory=dict)  # column -> rows of files without it
    new: dict[str, int] = field(default_factory=dict)  # unexpected column -> rows of files with it
    retyped: dict[str, int] = field(default_factory=dict)  # "column: type" -> rows of files so typed
    bad_rows: int = 0
    bad_row_examples: tuple[str, ...] = ()
    read_errors: int = 0
    errors: tuple[str, ...] = ()
    empty_files: int = 0
    sources: tuple[str, ...] = ()

    @classmethod
    def empty(cls, profile: Profile) -> WindowCounts:
        """Counts of nothing (the identity of :meth:`merge`)."""
        cols: dict[str, ColumnCounts] = {}
        for c in profile.compared:
            cols[c.name] = NumericCounts.empty(c) if c.kind == "numeric" else CategoricalCounts.empty(c)
        return cls(profile.fingerprint, columns=cols)

    def merge(self, other: WindowCounts) -> WindowCounts:
        """The counts of both windows together (associative, commutative)."""
        if other.profile != self.profile:
            raise ValueError(f"cannot merge counts of profile {other.profile} into {self.profile}")
        cols: dict[str, ColumnCounts] = {}
        for name in self.columns.keys() | other.columns.keys():
            a, b = self.columns.get(name), other.columns.get(name)
            if a is None or b is None:
                merged = a if b is None else b
                assert merged is not None
                cols[name] = merged
            elif isinstance(a, NumericCounts) and isinstance(b, NumericCounts):  # noqa: SIM114 - typed merges
                cols[name] = a.merge(b)
            elif isinstance(a, CategoricalCounts) and isinstance(b, CategoricalCounts):
                cols[name] = a.merge(b)
            else:
                raise ValueError(f"column {name!r} has different kinds in the two windows")
        return WindowCounts(
            self.profile,
            self.rows + other.rows,
            self.files + other.files,
            dict(sorted(cols.items())),
            _add_maps(self.missing, other.missing),
            _add_maps(self.new, other.new),
            _add_maps(self.retyped, other.retyped),
            self.bad_rows + other.bad_rows,
            _smallest(self.bad_row_examples, other.bad_row_examples),
            self.read_errors + other.read_errors,
            _smallest(self.errors, other.errors),
            self.empty_files + other.empty_files,
            _smallest(self.sources, other.sources),
        )

    # ------------------------------------------------------------------------------------ bytes

    def to_bytes(self) -> bytes:
        """A compact encoding: a JSON header and the arrays (counts in the narrowest integer type,
        per-bin offsets as float32 and only for non-empty bins: relative error 6e-8 per bin), zlib."""
        blob = bytearray()

        def put(arr: Array) -> list[Any]:
            start = len(blob)
            blob.extend(arr.tobytes())
            return [arr.dtype.str, start, len(arr)]

        def ints(arr: Array) -> list[Any]:
            top = int(arr.max(initial=0))
            dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if top <= np.iinfo(t).max)
            return put(arr.astype(dtype))

        cols: dict[str, Any] = {}
        for name, c in self.columns.items():
            if isinstance(c, NumericCounts):
                nz = c.counts > 0
                cols[name] = {
                    "t": "n",
                    "counts": ints(c.counts),
                    "offsets": put(c.offsets[nz].astype("<f4")),
                    "at_edge": ints(c.at_edge[nz]) if c.at_edge is not None else None,
                    "s": [c.nulls, c.nonfinite, c.unparseable, _f(c.lo), _f(c.hi), c.s1, c.s2],
                }
            else:
                cols[name] = {
                    "t": "c",
                    "counts": ints(c.counts),
                    "s": [c.unknown, c.nulls, c.unparseable],
                    "ex": list(c.unknown_examples),
                }
        header = {
            "format": _FORMAT,
            "profile": self.profile,
            "rows": self.rows,
            "files": self.files,
            "columns": cols,
            "missing": self.missing,
            "new": self.new,
            "retyped": self.retyped,
            "bad_rows": self.bad_rows,
            "bad_row_examples": list(self.bad_row_examples),
            "read_errors": self.read_errors,
            "errors": list(self.errors),
            "empty_files": self.empty_files,
            "sources": list(self.sources),
        }
        head = json.dumps(header, separators=(",", ":")).encode()
        return _MAGIC + zlib.compress(struct.pack("<I", len(head)) + head + bytes(blob), 6)

    @classmethod
    def from_bytes(cls, data: bytes) -> WindowCounts:
        """Decode :meth:`to_bytes`; ValueError when the bytes are not window counts."""
        if not data.startswith(_MAGIC):
            raise ValueError("not window counts (bad magic)")
        try:
            raw = zlib.decompress(data[len(_MAGIC) :])
            (n,) = struct.unpack("<I", raw[:4])
            h = json.loads(raw[4 : 4 + n])
            blob = raw[4 + n :]
        except (zlib.error, struct.error, ValueError) as exc:
            raise ValueError(f"corrupt window counts: {exc}") from exc
        if h.get("format") != _FORMAT:
            raise ValueError(f"unsupported window counts format {h.get('format')!r}")

        def get(ref: list[Any]) -> Array:
            dtype, start, length = ref
            return np.frombuffer(blob, dtype=np.dtype(dtype), count=length, offset=start)

        cols: dict[str, ColumnCounts] = {}
        for name, c in h["columns"].items():
            counts = get(c["counts"]).astype(np.int64)
            if c["t"] == "n":
                nz = counts > 0
                offsets = np.zeros(len(counts))
                offsets[nz] = get(c["offsets"]).astype(np.float64)
                at_edge = None
                if c["at_edge"] is not None:
                    at_edge = np.zeros(len(counts), np.int64)
                    at_edge[nz] = get(c["at_edge"])
                nulls, nonfinite, unparseable, lo, hi, s1, s2 = c["s"]
                cols[name] = NumericCounts(
                    counts, offsets, at_edge, nulls, nonfinite, unparseable, _unf(lo), _unf(hi), s1, s2
                )
            else:
                unknown, nulls, unparseable = c["s"]
                cols[name] = CategoricalCounts(counts, unknown, tuple(c["ex"]), nulls, unparseable)
        return cls(
            h["profile"],
            h["rows"],
            h["files"],
            cols,
            h["missing"],
            h["new"],
            h["retyped"],
            h["bad_rows"],
            tuple(h["bad_row_examples"]),
            h["read_errors"],
            tuple(h["errors"]),
            h["empty_files"],
            tuple(h["sources"]),
        )


def _f(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _unf(x: float | str) -> float:
    return float(x)


# ------------------------------------------------------------------------------------------ counting


# Parquet pieces are counted IN_FLIGHT at once, READ_AHEAD more coming (drift/parallel.py). CSV pieces
# (blocks joined to 32 MB) one at a time: the parse is the slower part there, and each one in flight is
# 32 MB more (one benchmark run peaked at 466 MB with two at 1,000,000 rows x 25 columns; single runs
# 370-380 MB either way).


class _Counter:
    """Counts one source's pieces into fresh column counts, the columns of each piece in threads, each
    column's pieces in the file's order (:class:`~mlops_glue.drift.parallel.InOrder`)."""

    def __init__(self, profile: Profile, pool: ColumnPool, in_flight: int = IN_FLIGHT) -> None:
        self.profile = profile
        self.window = WindowCounts.empty(profile)
        self.by_name = {c.name: c for c in profile.compared}
        self.order = InOrder(pool, self._count, in_flight)
        self.index = {
            c.name: {_key(v, c): i for i, v in enumerate(c.categories or [])}
            for c in profile.compared
            if c.kind == "categorical"
        }

    def reset(self) -> None:
        self.order.reset()
        self.window = WindowCounts.empty(self.profile)

    def add(self, piece: io_.Piece) -> None:
        w = self.window
        w.rows += piece.rows
        table = piece.table
        cols = w.columns
        self.order.add([(n, table.column(i)) for i, n in enumerate(table.schema.names) if n in cols])

    def drain(self) -> None:
        """Wait for every piece handed to :meth:`add` (errors raised here)."""
        self.order.drain()

    def _count(self, name: str, arr: Any) -> None:
        counts = self.window.columns[name]
        if isinstance(counts, NumericCounts):
            self._numeric(counts, self.by_name[name], arr)
        else:
            self._categorical(counts, self.by_name[name], arr)

    def _numeric(self, out: NumericCounts, col: ColumnProfile, arr: Any) -> None:
        x, nulls = valid_floats(arr)
        out.nulls += nulls
        if len(x) == 0:
            return
        # moments about the reference mean
        m = self.profile.binner(col).accumulate(
            x, col.mean or 0.0, out.counts, out.offsets, out.at_edge, out.lo, out.hi
        )
        out.nulls += m.nan  # NaN counts as missing
        out.nonfinite += m.inf
        out.s1 += m.s1
        out.s2 += m.s2
        out.lo, out.hi = m.lo, m.hi

    def _categorical(self, out: CategoricalCounts, col: ColumnProfile, arr: Any) -> None:
        values, counts, nulls = category_keys(arr, col.family)
        out.nulls += nulls
        index = self.index[col.name]
        unknown: list[str] = []
        for v, c in zip(values, counts.tolist(), strict=True):
            i = index.get(_key(v, col))
            if i is None:
                out.unknown += c
                unknown.append(str(v))
            else:
                out.counts[i] += c
        if unknown:
            out.unknown_examples = _smallest(out.unknown_examples, unknown)


def _key(v: Any, col: ColumnProfile) -> Any:
    return float(v) if col.family == "numeric" else v


def _csv_type(col: ColumnProfile) -> pa.DataType:
    if col.family == "numeric":
        return pa.float64()
    if col.family == "bool":
        return pa.bool_()
    return pa.string()


def _schema_check(profile: Profile, names: list[str], types: dict[str, pa.DataType] | None) -> dict[str, Any]:
    """Missing, new and (for typed formats) retyped columns of one source."""
    known = {c.name: c for c in profile.columns}
    missing = [n for n in known if n not in names]
    new = [n for n in names if n not in known]
    retyped: dict[str, str] = {}
    if types is not None:
        for n in names:
            if n in known and family_of(types[n]) != known[n].family and not pa.types.is_null(types[n]):
                retyped[n] = str(types[n])
    return {"missing": missing, "new": new, "retyped": retyped}


def _no_duplicates(names: list[str]) -> None:
    """DataFormatError naming each column that appears more than once, with its positions (1-based)."""
    seen: dict[str, list[int]] = {}
    for i, n in enumerate(names, 1):
        seen.setdefault(n, []).append(i)
    dupes = {n: pos for n, pos in seen.items() if len(pos) > 1}
    if dupes:
        where = "; ".join(
            f"{n!r} at columns {', '.join(map(str, pos))}" for n, pos in list(dupes.items())[:5]
        )
        raise io_.DataFormatError(f"duplicated column names ({where}): rename or drop the copies")


def count_batch(
    profile: Profile,
    source: Any,
    *,
    fmt: str | None = None,
    s3_client: Any = None,
    source_id: str | None = None,
    progress: io_.Progress | None = None,
    threads: int | None = None,
) -> WindowCounts:
    """Count one CSV or Parquet batch (path, ``s3://`` URI or binary file object) into ``profile``'s bins.

    Parquet row groups are read in column batches (bounded memory at any width), CSV in blocks sized to
    its width; the columns of each piece are counted in ``threads`` threads (default: the cores this
    process may use). Data problems are recorded, never raised; :class:`SourceError` for I/O failures.
    """
    src = io_.open_source(source, fmt=fmt, s3_client=s3_client)
    sid = source_id or src.uri
    stats = io_.ReadStats()
    with ColumnPool(threads) as pool:
        counter = _Counter(profile, pool, IN_FLIGHT if src.fmt == "parquet" else 1)
        try:
            if src.fmt == "parquet":
                check = _count_parquet(profile, src, counter, progress)
            else:
                names = io_.csv_header(src)
                _no_duplicates(names)
                check = _schema_check(profile, names, None)
                types = {c.name: _csv_type(c) for c in profile.compared if c.name in names}
                block = io_.csv_block_size(len(names))
                batches = io_.iter_csv(src, types, stats, progress, block_size=block, include=list(types))
                for batch in io_.coalesce(io_.prefetched(batches), len(types)):
                    if io_.is_restart(batch):
                        counter.reset()
                        continue
                    counter.add(io_.Piece(batch, batch.num_rows))
            counter.drain()
        except io_.DataFormatError as exc:
            return replace(
                WindowCounts.empty(profile), files=1, read_errors=1, errors=(f"{sid}: {exc}",), sources=(sid,)
            )
    w = counter.window
    w.files, w.sources = 1, (sid,)
    if w.rows == 0:
        w.empty_files = 1
    rows = w.rows
    w.missing = dict.fromkeys(check["missing"], rows)
    w.new = dict.fromkeys(check["new"], rows)
    w.retyped = {f"{n}: {t}": rows for n, t in check["retyped"].items()}
    w.bad_rows, w.bad_row_examples = stats.bad_rows, _smallest(f"{sid} {e}" for e in stats.bad_row_examples)
    for name, bad in stats.unparseable.items():
        c = w.columns[name]
        c.unparseable += bad
        if c.n == 0 and bad:  # nothing in the column parses: it changed type (e.g. numbers -> text)
            w.retyped[f"{name}: string"] = rows
    return w


def _count_parquet(
    profile: Profile, src: io_.Source, counter: _Counter, progress: io_.Progress | None
) -> dict[str, Any]:
    """Count a Parquet source row group by row group, each in column batches; its schema check."""
    compared = {c.name: c for c in profile.compared}
    with io_.ParquetReader(src, []) as probe:
        schema, footer = probe.file.schema_arrow, probe.file.metadata
    names = list(schema.names)
    _no_duplicates(names)
    check = _schema_check(profile, names, {n: schema.field(n).type for n in names})
    wanted = [n for n in names if n in compared and n not in check["retyped"]]
    dictionary = [n for n in wanted if compared[n].kind == "categorical" and compared[n].family == "string"]
    with io_.ParquetReader(src, dictionary, metadata=footer) as reader:
        for piece in reader.pieces(reader.row_major(wanted), progress, ahead=READ_AHEAD):
            counter.add(piece)
    return check
