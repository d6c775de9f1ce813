"""How large a data file is for the drift engine: rows, columns and bytes, read as cheaply as possible.

Parquet: its footer only (one or two range requests). CSV: the header and the first MB, the rows
extrapolated from the bytes. What :func:`mlops_glue.drift.capacity.plan` needs to say where a job runs;
used by ``mlops-glue drift plan`` and by data arrival before counting a large object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlops_glue.drift import source

CSV_SAMPLE = 1 << 20


@dataclass(frozen=True)
class Shape:
    fmt: str
    rows: int
    columns: int
    size: int


def shape_of(location: Any, *, fmt: str | None = None, s3_client: Any = None) -> Shape:
    """The file's format, rows (CSV: estimated), columns and size in bytes.

    Raises :class:`~mlops_glue.drift.source.SourceError` / ``DataFormatError`` for what cannot be read.
    """
    src = source.open_source(location, fmt=fmt, s3_client=s3_client)
    size = src.size or 0
    if src.fmt == "parquet":
        with source.ParquetReader(src, []) as reader:
            return Shape("parquet", int(sum(reader.row_counts)), len(reader.names), size)
    columns = len(source.csv_header(src))
    with src.opener() as fh:
        head = fh.read(CSV_SAMPLE)
    lines = max(head.count(b"\n") - 1, 1)  # the header is not a row
    rows = int(size * lines / max(len(head), 1)) if len(head) >= CSV_SAMPLE else lines
    return Shape("csv", rows, columns, size)
