"""The invocation's time budget: every outside call is sized against what the Lambda has left.

The handler opens :func:`within` with the Lambda context; adapters and services read :func:`current`.
Outside a handler (tests, the CLI) the budget is unbounded. A step that cannot fit raises
:class:`OutOfTimeError`: the SQS record is handed back as a batch item failure (retried later, safe
because every step is idempotent) instead of the invocation being killed mid-way by its timeout.

The budget also remembers, for the rest of one invocation, that a dependency was found down (a
"breaker"): after Argo stayed unreachable once, the next records do not spend their time on it again.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

SAFETY_S = 2.0  # kept free for the handler to build its response after the last step


class OutOfTimeError(Exception):
    """Not enough of the invocation's time is left for the next step; the work is handed back."""


@dataclass
class Deadline:
    """A monotonic end time, and the dependencies found down during this invocation."""

    end: float = math.inf
    down: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_context(cls, context: Any) -> Deadline:
        """From a Lambda context (``get_remaining_time_in_millis``); unbounded without one."""
        get = getattr(context, "get_remaining_time_in_millis", None)
        if get is None:
            return cls()
        return cls(time.monotonic() + int(get()) / 1000.0)

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left before the safety margin (inf when unbounded)."""
        return self.end - time.monotonic() - SAFETY_S

    def check(self, need: float, what: str) -> None:
        """Raise OutOfTimeError unless ``need`` seconds are left for ``what``."""
        left = self.remaining()
        if left < need:
            raise OutOfTimeError(f"{what} needs {need:g} s, {max(0.0, left):.1f} s of the invocation left")

    def cap(self, timeout: float, what: str, floor: float = 0.5) -> float:
        """``timeout`` shortened to the time left; OutOfTimeError when less than ``floor`` is left."""
        left = self.remaining()
        if left < floor:
            raise OutOfTimeError(f"{what}: {max(0.0, left):.1f} s of the invocation left")
        return min(timeout, left)


_current: ContextVar[Deadline | None] = ContextVar("mlops_glue_deadline", default=None)


def current() -> Deadline:
    """The running invocation's budget; a fresh unbounded one outside a handler."""
    got = _current.get()
    return got if got is not None else Deadline()


@contextlib.contextmanager
def within(deadline: Deadline) -> Iterator[Deadline]:
    """Make ``deadline`` the current budget for the block."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)
