"""Open a CSV or Parquet source (local path, ``s3://`` URI or binary file object) and stream it in chunks.

Parquet is read one row group at a time, in batches of columns of at most :data:`COLUMN_BATCH_BYTES`
decoded bytes, and CSV in blocks of :data:`CSV_BLOCK` bytes (more for wide files, see
:func:`csv_block_size`), so memory stays bounded whatever the file's length and width (row groups and
small blocks were measured faster and leaner than ``iter_batches`` and larger blocks; bench/). Data
problems (bad rows, unparseable values, a file that is not what its name says) are reported to the
caller as :class:`Issue` values; only I/O failures raise :class:`SourceError`.

``pyarrow.compute`` is imported inside the functions that need it (casts, CSV cleaning): a Parquet check
never does, and the import is 50-100 ms of the CLI's start-up.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import io
import os
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mlops_glue.adapters.s3 import object_args
from mlops_glue.adapters.s3 import parse_s3_uri as adapters_parse_s3_uri
from mlops_glue.adapters.s3 import s3_client as default_s3_client

CSV_BLOCK = 4 << 20
CSV_BLOCK_PER_COLUMN = 4 << 10
CSV_BLOCK_MAX = 16 << 20
S3_BUFFER = 8 << 20


@functools.cache
def use_lean_memory_pool() -> None:
    """Let Arrow allocate with mimalloc, which hands freed buffers back promptly (once per process,
    on the first source opened — importing this module changes nothing).

    pyarrow's default pool here is jemalloc, which keeps them: streaming a 5,000,000-row CSV peaked at
    406 MB against 293 MB with mimalloc (and 292 MB at 1,000,000 rows), and read 1.8x slower (bench/).
    A pool chosen explicitly with Arrow's own ``ARROW_DEFAULT_MEMORY_POOL`` is left alone.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    with contextlib.suppress(NotImplementedError):  # a build without mimalloc keeps its default
        pa.set_memory_pool(pa.mimalloc_memory_pool())


Progress = Callable[[float], None]


def csv_block_size(columns: int) -> int:
    """:data:`CSV_BLOCK`, or :data:`CSV_BLOCK_PER_COLUMN` per column for a very wide file (at most
    :data:`CSV_BLOCK_MAX`). Larger blocks read slower and hold more (pyarrow parses several at once):
    at 1,000 columns 4 MB blocks read in 6.7 s and 276 MB where 32 MB blocks took 16.4 s and 554 MB
    (bench/); :func:`coalesce` joins the small blocks before counting instead."""
    return min(max(CSV_BLOCK, columns * CSV_BLOCK_PER_COLUMN), max(CSV_BLOCK, CSV_BLOCK_MAX))


class SourceError(OSError):
    """A data source cannot be opened or read (missing file, S3 unreachable, access denied)."""


class DataFormatError(ValueError):
    """The bytes are not a readable CSV/Parquet file (recorded as a data-quality issue, never raised out)."""


@dataclass
class Source:
    """An opened source: how to (re)open its bytes and what identifies it."""

    uri: str
    fmt: str  # "csv" | "parquet"
    opener: Callable[[], IO[bytes]]
    size: int | None = None
    version_id: str | None = None
    etag: str | None = None
    compression: str | None = None
    independent_reads: bool = True
    """Each ``opener()`` call reads on its own (False for a caller's file object: one shared position)."""
    path: str | None = None
    """A local file: pyarrow opens it natively (see :class:`ParquetReader`)."""


@dataclass
class ReadStats:
    """What a read skipped: malformed CSV rows and unparseable values per column."""

    bad_rows: int = 0
    bad_row_examples: list[str] = field(default_factory=list)
    unparseable: dict[str, int] = field(default_factory=dict)
    bad_rows_raw: list[tuple[int | None, str, int, int]] = field(default_factory=list)


def _infer_format(name: str, *, has_query: bool = True) -> tuple[str, str | None]:
    lower = name.lower().split("?", 1)[0] if has_query else name.lower()
    if lower.endswith(".csv.gz"):
        return "csv", "gzip"
    if lower.endswith((".csv", ".txt", ".tsv")):
        return "csv", None
    if lower.endswith((".parquet", ".pq", ".parq")):
        return "parquet", None
    raise SourceError(f"cannot tell the format of {name!r}: name it .csv/.csv.gz/.parquet or pass fmt=")


class S3RangeFile(io.RawIOBase):
    """A seekable, read-only view of one S3 object version over HTTP range requests (boto3).

    Hand-written because pyarrow's own S3 filesystem bypasses the injected boto3 client (credentials
    chain, endpoint, moto in tests); wrapped in a large ``io.BufferedReader`` so pyarrow's small reads
    become a few big range requests.
    """

    def __init__(self, client: Any, bucket: str, key: str, size: int, version_id: str | None) -> None:
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key
        self._size, self._version_id, self._pos = size, version_id, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos >= self._size or len(view) == 0:
            return 0
        end = min(self._size, self._pos + len(view)) - 1
        kwargs = object_args(self._bucket, self._key, self._version_id)
        try:
            data = self._client.get_object(**kwargs, Range=f"bytes={self._pos}-{end}")["Body"].read()
        except Exception as exc:
            raise SourceError(f"cannot read s3://{self._bucket}/{self._key}: {exc}") from exc
        n = len(data)
        view[:n] = data
        self._pos += n
        return n


@dataclass(frozen=True)
class S3Object:
    """One S3 object version named by its fields: a key may hold ``?``, ``#``, ``%``, spaces or any
    unicode, so it is never packed into (and parsed back out of) an ``s3://`` string."""

    bucket: str
    key: str
    version_id: str | None = None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" + (f" (version {self.version_id})" if self.version_id else "")


def parse_s3_uri(uri: str) -> tuple[str, str, str | None]:
    """``s3://bucket/key[?versionId=...]`` -> (bucket, key, version id)."""
    try:
        u = adapters_parse_s3_uri(uri)
    except ValueError:
        raise SourceError(f"not an s3://bucket/key URI: {uri!r}") from None
    return u.bucket, u.key, u.version_id


def open_source(source: Any, *, fmt: str | None = None, s3_client: Any = None) -> Source:
    """Resolve ``source`` (path, :class:`S3Object`, ``s3://`` URI or binary file object) without reading
    its data. An ``s3://`` string is for people typing one: a key holding ``?`` or ``#`` needs S3Object."""
    use_lean_memory_pool()
    if isinstance(source, S3Object) or (isinstance(source, str) and source.startswith("s3://")):
        return _open_s3(source, fmt, s3_client)
    if isinstance(source, str | Path):
        return _open_path(Path(source), fmt)
    if hasattr(source, "read"):
        return _open_stream(source, fmt)
    raise TypeError(f"unsupported source: {type(source).__name__}")


def _open_s3(source: S3Object | str, fmt: str | None, s3_client: Any) -> Source:
    compression = None
    if isinstance(source, S3Object):
        bucket, key, version = source.bucket, source.key, source.version_id
    else:
        bucket, key, version = parse_s3_uri(source)
    if fmt is None:
        fmt, compression = _infer_format(key, has_query=False)
    elif key.lower().endswith(".gz"):
        compression = "gzip"
    s3_client = default_s3_client(s3_client)
    kwargs = object_args(bucket, key, version)
    try:
        head = s3_client.head_object(**kwargs)
    except Exception as exc:
        raise SourceError(f"cannot open {source}: {exc}") from exc
    size = int(head["ContentLength"])
    vid = head.get("VersionId") or version
    client = s3_client

    def s3_opener() -> IO[bytes]:
        if fmt == "parquet":
            return io.BufferedReader(S3RangeFile(client, bucket, key, size, vid), S3_BUFFER)
        try:
            body = client.get_object(**({**kwargs, "VersionId": vid} if vid else kwargs))["Body"]
        except Exception as exc:
            raise SourceError(f"cannot read {source}: {exc}") from exc
        return body  # type: ignore[no-any-return]

    return Source(
        str(source), fmt, s3_opener, size, vid, str(head.get("ETag", "")).strip('"') or None, compression
    )


def _open_path(path: Path, fmt: str | None) -> Source:
    compression = None
    if fmt is None:
        fmt, compression = _infer_format(path.name)
    elif path.name.lower().endswith(".gz"):
        compression = "gzip"
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SourceError(f"cannot open {path}: {exc.strerror}") from exc
    if not path.is_file():
        raise SourceError(f"cannot open {path}: not a file")

    def file_opener() -> IO[bytes]:
        try:
            return open(path, "rb")
        except OSError as exc:
            raise SourceError(f"cannot open {path}: {exc.strerror}") from exc

    return Source(str(path), fmt, file_opener, size, compression=compression, path=str(path))


def _open_stream(source: Any, fmt: str | None) -> Source:
    compression = None
    if fmt is None:
        name = str(getattr(source, "name", ""))
        if not name:
            raise SourceError("a file object needs fmt='csv' or fmt='parquet'")
        fmt, compression = _infer_format(name)
    start = source.tell() if source.seekable() else None

    def obj_opener() -> IO[bytes]:
        if start is not None:
            source.seek(start)
        return _NoClose(source)  # type: ignore[return-value]  # a binary file object

    return Source(
        str(getattr(source, "name", "<stream>")),
        fmt,
        obj_opener,
        compression=compression,
        independent_reads=False,
    )


class _NoClose(io.RawIOBase):
    """Lets pyarrow close a caller's file object without closing it (the caller owns it)."""

    def __init__(self, inner: IO[bytes]) -> None:
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(self._inner.seekable())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(memoryview(buffer)))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        return n


def sha256_of(src: Source) -> str:
    """The sha256 of the source's bytes, streamed."""
    digest = hashlib.sha256()
    with src.opener() as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Counting(io.RawIOBase):
    """Counts the bytes pyarrow pulls from a stream, for the progress bar."""

    def __init__(self, inner: IO[bytes], total: int | None, progress: Progress | None) -> None:
        super().__init__()
        self._inner, self._total, self._progress, self.done = inner, total, progress, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(memoryview(buffer)))
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        self.done += n
        if self._progress and self._total:
            self._progress(min(1.0, self.done / self._total))
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


def parquet_schema(src: Source) -> pa.Schema:
    """The Arrow schema from a Parquet footer (DataFormatError if it is not Parquet)."""
    with src.opener() as fh:
        try:
            return pq.ParquetFile(fh).schema_arrow
        except (pa.ArrowInvalid, OSError) as exc:
            if isinstance(exc, SourceError):
                raise
            raise DataFormatError(f"not a readable Parquet file: {exc}") from exc


COLUMN_BATCH_BYTES = 16 << 20
"""Decoded bytes of columns read at once: a wide row group is read this much at a time, whatever its width."""


@dataclass(frozen=True)
class Piece:
    """Some columns of some rows: a column batch of one Parquet row group, or one CSV block."""

    table: pa.Table | pa.RecordBatch
    rows: int
    """Rows this piece adds to the file's count: the row group's rows on its first column batch, else 0."""


COALESCE_BYTES = 32 << 20
"""CSV blocks of a wide file hold a few hundred rows; they are joined into pieces of about this many
decoded bytes, so the work per piece and column is amortised over enough values."""


def prefetched(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``items`` advanced in a thread of its own, up to ``depth`` ahead of the caller (pyarrow's CSV
    reader releases the GIL: it parses the next blocks while the caller counts this one). An exception
    raised by ``items`` is raised here, in order."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(("error", exc))

    worker = threading.Thread(target=run, name="mlops-glue-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join()


def coalesce(batches: Iterable[Any], columns: int) -> Iterator[Any]:
    """Consecutive CSV record batches joined into tables of about :data:`COALESCE_BYTES` (8 bytes a
    value); a restart marker drops what is pending (it belongs to the abandoned read) and passes on."""
    target = max(1, COALESCE_BYTES // (8 * max(columns, 1)))
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        if is_restart(batch):
            pending, rows = [], 0
            yield batch
            continue
        pending.append(batch)
        rows += batch.num_rows
        if rows >= target:
            yield pa.Table.from_batches(pending)
            pending, rows = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


_WIDTH = {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 12, "BYTE_ARRAY": 4}
"""Bytes a value of each Parquet physical type takes once read (at least; BYTE_ARRAY: its offset or
dictionary index, the characters are in the uncompressed size)."""


def _column_sizes(meta: Any, row_group: int, wanted: set[str]) -> dict[str, int]:
    """Bytes each top-level column of one row group takes once read (nested columns add their leaves).

    The larger of the chunk's uncompressed size and its values times their width: a dictionary-encoded
    chunk's uncompressed size is its dictionary and the packed indices (a float64 column of 60 distinct
    values: 6 bits a value, not 64), so column batches cut by it alone held 10x their budget.
    """
    rg = meta.row_group(row_group)
    sizes: dict[str, int] = {}
    for j in range(rg.num_columns):
        chunk = rg.column(j)
        path = chunk.path_in_schema
        top = path if path in wanted else path.split(".", 1)[0]
        width = _WIDTH.get(chunk.physical_type) or meta.schema.column(j).length or 1  # FIXED_LEN_BYTE_ARRAY
        sizes[top] = sizes.get(top, 0) + max(chunk.total_uncompressed_size, chunk.num_values * width)
    return sizes


def column_batches(sizes: dict[str, int], columns: list[str], budget: int) -> list[list[str]]:
    """``columns`` cut, in order, into runs whose sizes add up to at most ``budget`` (one column at least)."""
    out: list[list[str]] = []
    run: list[str] = []
    used = 0
    for name in columns:
        size = sizes.get(name, 0)
        if run and used + size > budget:
            out.append(run)
            run, used = [], 0
        run.append(name)
        used += size
    return [*out, run] if run or not out else out


class ParquetReader:
    """One open Parquet source, read in column batches of at most ``budget`` decoded bytes.

    Reading a whole row group holds every column of it at once, so memory would grow with the width;
    a column batch of one row group (``read_row_group(i, columns=batch)``) holds at most ``budget``
    bytes whatever the width. Data problems raise :class:`DataFormatError`.
    """

    def __init__(
        self, src: Source, dictionary: list[str], budget: int | None = None, metadata: Any = None
    ) -> None:
        """``metadata``: the footer another reader of the same source parsed (40 ms at 1,000 columns)."""
        self.source = src
        # A local file is opened by pyarrow itself. Through a Python file object (S3, a caller's stream)
        # columns are decoded in this thread: pyarrow 20 reading column subsets of a Python file with
        # threads aborts at interpreter exit now and then ("terminate called without an active
        # exception", 4 runs in 16), and the reads hold the GIL there anyway.
        self._threads = src.path is not None
        try:
            self._fh: Any = pa.OSFile(src.path, "rb") if src.path is not None else src.opener()
        except OSError as exc:
            if isinstance(exc, SourceError):
                raise
            raise SourceError(f"cannot open {src.uri}: {exc}") from exc
        try:
            self.file = pq.ParquetFile(self._fh, read_dictionary=dictionary, metadata=metadata)
        except (pa.ArrowInvalid, OSError) as exc:
            self._fh.close()
            if isinstance(exc, SourceError):
                raise
            raise DataFormatError(f"not a readable Parquet file: {exc}") from exc
        self.budget = budget or COLUMN_BATCH_BYTES  # read at call time, so tests can shrink it
        meta = self.file.metadata
        self.row_counts = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]

    def __enter__(self) -> ParquetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()

    @property
    def names(self) -> list[str]:
        return list(self.file.schema_arrow.names)

    def batches(self, row_group: int, columns: list[str], budget: int | None = None) -> list[list[str]]:
        """``columns`` of one row group in runs of at most ``budget`` (default: the reader's) bytes."""
        sizes = _column_sizes(self.file.metadata, row_group, set(columns))
        return column_batches(sizes, columns, budget or self.budget)

    def read(self, row_group: int, columns: list[str]) -> pa.Table:
        try:
            return self.file.read_row_group(row_group, columns=columns, use_threads=self._threads)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            if isinstance(exc, SourceError):
                raise
            raise DataFormatError(f"row group {row_group} is unreadable: {exc}") from exc

    def pieces(
        self, plan: list[tuple[int, list[str], int]], progress: Progress | None = None, ahead: int = 1
    ) -> Iterator[Piece]:
        """Read ``plan`` ((row group, columns, rows to count) each) in order, the next ``ahead`` pieces
        read in a thread, one after the other, while the caller counts this one (pyarrow releases the GIL)."""
        n = len(plan)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending: collections.deque[Future[pa.Table]] = collections.deque()
            for k in range(n):
                while len(pending) <= ahead and k + len(pending) < n:
                    nxt = plan[k + len(pending)]
                    pending.append(pool.submit(self.read, nxt[0], nxt[1]))
                table = pending.popleft().result()
                yield Piece(table, plan[k][2])
                if progress:
                    progress((k + 1) / n)

    def row_major(
        self, columns: list[str], row_groups: list[int] | None = None
    ) -> list[tuple[int, list[str], int]]:
        """The plan that reads ``columns`` of each row group in turn, in column batches (sequential in the file)."""
        plan: list[tuple[int, list[str], int]] = []
        for i in range(len(self.row_counts)) if row_groups is None else row_groups:
            for j, batch in enumerate(self.batches(i, columns)):
                plan.append((i, batch, self.row_counts[i] if j == 0 else 0))
        return plan


def iter_parquet(
    src: Source, columns: list[str] | None, dictionary: list[str], progress: Progress | None = None
) -> Iterator[Piece]:
    """Every row group of ``columns`` (all when None) in column batches (string categoricals in
    ``dictionary`` read dictionary-encoded)."""
    with ParquetReader(src, dictionary) as reader:
        wanted = reader.names if columns is None else columns
        yield from reader.pieces(reader.row_major(wanted), progress)


_NUMBER = r"^\s*[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[iI][nN][fF]([iI][nN][iI][tT][yY])?|[nN][aA][nN])\s*$"


def tolerant_cast(arr: pa.Array, target: pa.DataType) -> tuple[pa.Array, int]:
    """Cast strings to ``target``; values that do not parse become null and are counted."""
    import pyarrow.compute as pc  # here, not at import: 50-100 ms of start-up a Parquet check never needs

    try:
        return pc.cast(arr, target), 0
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    if pa.types.is_boolean(target):
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
        ok = pc.is_in(lowered, pa.array(["true", "false", "1", "0"]))
    else:
        ok = pc.match_substring_regex(arr, _NUMBER)
    ok = pc.fill_null(ok, False)
    bad = int(pc.sum(pc.and_(pc.invert(ok), pc.is_valid(arr))).as_py() or 0)
    cleaned = pc.if_else(ok, arr, pa.scalar(None, pa.string()))
    if pa.types.is_boolean(target):
        cleaned = pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(cleaned)), pa.array(["true", "1"]))
        cleaned = pc.if_else(ok, cleaned, pa.scalar(None, pa.bool_()))
        return cleaned, bad
    return pc.cast(cleaned, target), bad


def iter_csv(
    src: Source,
    column_types: dict[str, pa.DataType],
    stats: ReadStats,
    progress: Progress | None = None,
    *,
    block_size: int | None = None,
    widen: bool = False,
    include: list[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """CSV blocks with the given column types; a value that does not parse never fails the file.

    The fast path lets pyarrow convert while parsing. When a later block holds a value it cannot
    convert, the file is read again (after a :func:`is_restart` marker) with that column as strings
    cast here, counting what does not parse; with ``widen`` (type inference for a reference) the column
    is widened instead (integer -> float -> string).
    """
    types = dict(column_types)
    as_text: set[str] = set()
    newlines = False  # pyarrow's fast chunker cuts blocks at any newline, even one inside quotes
    while True:
        read_types = {k: (pa.string() if k in as_text else v) for k, v in types.items()}
        local = ReadStats()
        try:
            block = block_size or CSV_BLOCK  # read at call time, so tests can make blocks tiny
            for batch in _read_csv(src, read_types, local, progress, block, include, newlines):
                if as_text:
                    batch = _cast_text_columns(batch, as_text, types, local)
                yield batch
            stats.bad_rows += local.bad_rows
            if local.bad_rows_raw and any(n is None for n, *_ in local.bad_rows_raw):
                local.bad_row_examples = locate_rows(src, local.bad_rows_raw)
            stats.bad_row_examples.extend(local.bad_row_examples[: 5 - len(stats.bad_row_examples)])
            for k, v in local.unparseable.items():
                stats.unparseable[k] = stats.unparseable.get(k, 0) + v
            return
        except pa.ArrowInvalid as exc:
            if _QUOTED_NEWLINE in str(exc) and not newlines:
                # a quoted value holds a newline across a block boundary: read again, quote-aware
                newlines = True
                yield _RESTART
                continue
            found = _conversion_error(str(exc), src)
            if found is None:
                raise DataFormatError(f"not a readable CSV file: {_first_line(exc)}") from exc
            column, target = found
            if widen:
                if pa.types.is_string(types.get(column, pa.null())):
                    raise DataFormatError(f"not a readable CSV file: {_first_line(exc)}") from exc
                types[column] = pa.float64() if target.startswith(("int", "uint")) else pa.string()
            elif column in as_text or column not in types:
                raise DataFormatError(f"not a readable CSV file: {_first_line(exc)}") from exc
            else:
                as_text.add(column)
            yield _RESTART  # tells the consumer to drop what it counted from this source


_QUOTED_NEWLINE = "out of sync with chunker"
_RESTART: Any = object()  # a plain sentinel (building a RecordBatch here would import pandas)


def is_restart(batch: Any) -> bool:
    """True for the marker :func:`iter_csv` yields before re-reading a source from its start."""
    return batch is _RESTART


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_CONV = re.compile(r"In CSV column #(\d+): CSV conversion error to (\w+)")


def _conversion_error(message: str, src: Source) -> tuple[str, str] | None:
    """(column, target type) from pyarrow's "In CSV column #3: CSV conversion error to double: ..."."""
    m = _CONV.search(message)
    if not m:
        return None
    names = csv_header(src)
    idx = int(m.group(1))
    if idx >= len(names):
        return None
    return names[idx], m.group(2)


def csv_header(src: Source) -> list[str]:
    """The column names of a CSV source (reads its first block); [] for an empty file."""
    with _open_csv_stream(src, None) as stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=1 << 16),
                parse_options=pacsv.ParseOptions(
                    invalid_row_handler=lambda row: "skip", newlines_in_values=True
                ),
            )
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return []
            raise DataFormatError(f"not a readable CSV file: {_first_line(exc)}") from exc
        except UnicodeDecodeError as exc:
            raise DataFormatError(f"not a readable CSV file: {exc}") from exc
        return list(reader.schema.names)


def _open_csv_stream(src: Source, progress: Progress | None) -> Any:
    raw: Any = _Counting(src.opener(), src.size, progress)
    if src.compression:
        return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), src.compression)
    return pa.PythonFile(raw, mode="r")


def _read_csv(
    src: Source,
    types: dict[str, pa.DataType],
    stats: ReadStats,
    progress: Progress | None,
    block_size: int,
    include: list[str] | None = None,
    newlines: bool = False,
) -> Iterator[pa.RecordBatch]:
    def on_bad_row(row: Any) -> str:
        stats.bad_rows += 1
        if len(stats.bad_row_examples) < 5:
            stats.bad_rows_raw.append((row.number, row.text, row.expected_columns, row.actual_columns))
            stats.bad_row_examples.append(_bad_row_text(row.number, None, row))
        return "skip"

    with _open_csv_stream(src, progress) as stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=block_size),
                parse_options=pacsv.ParseOptions(invalid_row_handler=on_bad_row, newlines_in_values=newlines),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, strings_can_be_null=True, include_columns=include or []
                ),
            )
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return
            if _CONV.search(str(exc)):
                raise
            raise DataFormatError(f"not a readable CSV file: {_first_line(exc)}") from exc
        except UnicodeDecodeError as exc:
            raise DataFormatError(f"not a readable CSV file: {exc}") from exc
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise DataFormatError(f"not a readable CSV file: {exc}") from exc
            yield batch


def _bad_row_text(line: int | None, offset: int | None, row: Any) -> str:
    where = f"line {line}" if line is not None else "line unknown"
    if offset is not None:
        where += f" (byte offset {offset})"
    return f"{where}: expected {row.expected_columns} columns, got {row.actual_columns}: {row.text[:80]!r}"


@dataclass(frozen=True)
class _Row:
    expected_columns: int
    actual_columns: int
    text: str


def locate_rows(src: Source, rows: list[tuple[int | None, str, int, int]]) -> list[str]:
    """Where malformed rows are, when pyarrow's streaming reader cannot say (its row number is None).

    One more streaming pass over the (decompressed) bytes finds each row's text in order: its line
    number (1 is the header) and byte offset. Only rejected files pay for it.
    """
    out: list[str] = []
    needles = [text.encode() for _, text, _, _ in rows]
    found: list[tuple[int, int] | None] = [None] * len(rows)
    keep = max((len(n) for n in needles), default=0)
    i, offset, lines, buf = 0, 0, 0, b""  # offset and lines: of buf[0] in the whole stream
    with _open_csv_stream(src, None) as stream:
        while i < len(needles):
            chunk = stream.read(1 << 20)
            buf += chunk
            while i < len(needles) and needles[i]:
                at = buf.find(needles[i])
                if at < 0:
                    break
                found[i] = (lines + buf.count(b"\n", 0, at) + 1, offset + at)
                cut = at + len(needles[i])
                lines, offset, buf = lines + buf.count(b"\n", 0, cut), offset + cut, buf[cut:]
                i += 1
            if not chunk:
                break
            if len(buf) > keep:
                cut = len(buf) - keep
                lines, offset, buf = lines + buf.count(b"\n", 0, cut), offset + cut, buf[cut:]
    for (number, text, expected, actual), hit in zip(rows, found, strict=True):
        row = _Row(expected, actual, text)
        if number is not None:
            out.append(_bad_row_text(number, None, row))
        elif hit is not None:
            out.append(_bad_row_text(hit[0], hit[1], row))
        else:
            out.append(_bad_row_text(None, None, row))
    return out


def _cast_text_columns(
    batch: pa.RecordBatch, as_text: set[str], types: dict[str, pa.DataType], stats: ReadStats
) -> pa.RecordBatch:
    arrays = list(batch.columns)
    for i, name in enumerate(batch.schema.names):
        if name in as_text:
            arrays[i], bad = tolerant_cast(arrays[i], types[name])
            if bad:
                stats.unparseable[name] = stats.unparseable.get(name, 0) + bad
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
