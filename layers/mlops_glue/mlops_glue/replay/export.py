"""The file of exported records (``mlops-glue decisions export``), written and read back defensively.

JSON lines: a header, then one record per line::

    {"format": "mlops-glue-records", "version": 1, "exported_at": ..., "since": ..., "until": ..., "config": {...}}
    {"record": "event", "event": {RecordedEvent}}
    {"record": "decision", "decision": {Decision}}

The configuration in force rides along (it holds the *names* of secrets, never their values), so a
replay from the file needs no AWS access. Reading checks the size, each line's length, the header (a
file that is not ours is refused as such), and each record's shape, naming the line of the first
problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from mlops_glue.config import ConfigError, GlueConfig
from mlops_glue.records import Decision, utcnow
from mlops_glue.replay.events import RecordedEvent

FORMAT = "mlops-glue-records"
VERSION = 1
MAX_FILE_BYTES = 2 * 1024**3  # 2 GiB: a month of a busy deployment is a few hundred MB
MAX_LINE_BYTES = 1024 * 1024  # one record; a recorded input is at most 64 KB


class ExportFileError(ValueError):
    """The export file cannot be read as one of ours; the message names the line and the reason."""


@dataclass
class Exported:
    events: list[RecordedEvent] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    config: GlueConfig | None = None
    header: dict[str, Any] = field(default_factory=dict)


def write(
    out: IO[str],
    events: Iterable[RecordedEvent],
    decisions: Iterable[Decision],
    *,
    config: GlueConfig | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[int, int]:
    """Write the header and the records; returns (events, decisions) written."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": utcnow().isoformat(),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "config": config_doc(config) if config is not None else None,
    }
    out.write(json.dumps(header, separators=(",", ":")) + "\n")
    n_events = n_decisions = 0
    for e in events:
        out.write('{"record":"event","event":' + e.model_dump_json() + "}\n")
        n_events += 1
    for d in decisions:
        out.write('{"record":"decision","decision":' + d.model_dump_json() + "}\n")
        n_decisions += 1
    return n_events, n_decisions


def config_doc(config: GlueConfig) -> dict[str, Any]:
    """The configuration as the YAML file would give it (durations in seconds, which it reads back)."""

    def plain(x: Any) -> Any:
        if isinstance(x, timedelta):
            return x.total_seconds()
        raise TypeError(f"{type(x).__name__} in the configuration")

    from mlops_glue.replay.recorder import scrubbed

    # the configuration holds secret *names* (the schema refuses URLs with credentials); a token pasted
    # into any other field is scrubbed all the same: an export never carries one
    doc: dict[str, Any] = scrubbed(json.loads(json.dumps(config.model_dump(), default=plain)))
    return doc


def read(path: str | Path) -> Exported:
    """Read an export file; :class:`ExportFileError` names the first problem and its line."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ExportFileError(f"cannot read {p}: {exc.strerror}") from None
    if size > MAX_FILE_BYTES:
        raise ExportFileError(f"{p}: {size:,} bytes is over the {MAX_FILE_BYTES:,} an export may have")
    with p.open("rb") as fh:
        return parse(_lines(fh, p), str(p))


def _lines(fh: IO[bytes], p: Path) -> Iterator[tuple[int, str]]:
    for i, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""), start=1):
        if len(raw) > MAX_LINE_BYTES:
            raise ExportFileError(
                f"{p}:{i}: a line longer than {MAX_LINE_BYTES:,} bytes is no record of ours"
            )
        if i == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte order mark (an editor saved the file): still UTF-8 text
        try:
            yield i, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ExportFileError(f"{p}:{i}: not UTF-8 text (a binary file?)") from None


class _EventLine(BaseModel):
    """The common line, validated in one step (pydantic parses the JSON); anything else takes the slow path."""

    model_config = ConfigDict(extra="forbid")

    record: Literal["event"]
    event: RecordedEvent


_FAST = '{"record":"event","event":'


def parse(lines: Iterable[tuple[int, str]], origin: str = "<export>") -> Exported:
    out = Exported()
    header_seen = False
    for i, text in lines:
        if header_seen and text.startswith(_FAST):
            try:
                out.events.append(_EventLine.model_validate_json(text).event)
                continue
            except ValidationError:
                pass  # said below, with the line and the field
        if not text.strip():
            continue
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            what = "the first line" if not header_seen else "the line"
            raise ExportFileError(f"{origin}:{i}: {what} is not JSON ({str(exc)[:100]})") from None
        if not isinstance(doc, dict):
            raise ExportFileError(f"{origin}:{i}: a JSON {type(doc).__name__}, not a record")
        if not header_seen:
            out.header, out.config = _header(doc, origin, i), None
            if doc.get("config") is not None:
                try:
                    out.config = GlueConfig.model_validate(doc["config"])
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(x) for x in first["loc"])
                    raise ExportFileError(
                        f"{origin}:{i}: the exported configuration does not validate: {where}: {first['msg']}"
                    ) from None
            header_seen = True
            continue
        kind = doc.get("record")
        try:
            if kind == "event":
                out.events.append(RecordedEvent.model_validate(doc.get("event")))
            elif kind == "decision":
                out.decisions.append(Decision.model_validate(doc.get("decision")))
            else:
                raise ExportFileError(f"{origin}:{i}: unknown record {str(kind)[:40]!r} (event or decision)")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "<record>"
            raise ExportFileError(f"{origin}:{i}: {kind} record: {where}: {first['msg']}") from None
    if not header_seen:
        raise ExportFileError(f"{origin}: empty: not an export of mlops-glue records")
    return out


def _header(doc: dict[str, Any], origin: str, line: int) -> dict[str, Any]:
    if doc.get("format") != FORMAT:
        raise ExportFileError(
            f"{origin}:{line}: not an export of mlops-glue records (no {FORMAT!r} header): "
            "write one with `mlops-glue decisions export`"
        )
    if doc.get("version") != VERSION:
        raise ExportFileError(
            f"{origin}:{line}: export version {doc.get('version')!r}; this mlops-glue reads {VERSION}"
        )
    return doc


def config_of(exported: Exported) -> GlueConfig:
    if exported.config is None:
        raise ConfigError("the export carries no configuration: give the baseline with --baseline-config")
    return exported.config
