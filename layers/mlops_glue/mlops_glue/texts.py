"""Texts shared by every flow's reasons and errors: a duration for people, a pydantic error in short."""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError


def duration_text(d: timedelta) -> str:
    """``2.5 d``, ``6.0 h``, ``20 min`` or ``45 s``: the largest unit the duration reaches."""
    s = int(d.total_seconds())
    if s >= 86400:
        return f"{s / 86400:.1f} d"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s // 60} min"
    return f"{s} s"


def validation_text(exc: ValidationError, limit: int | None = 5) -> str:
    """A short account of a pydantic error: field paths and messages (the first ``limit``), never the
    offending input."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:limit]
    )
