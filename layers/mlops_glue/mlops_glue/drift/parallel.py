"""Columns counted in threads: numpy's ufuncs, sorts and pyarrow's kernels release the GIL.

Lambda gives one vCPU per 1,769 MB of memory, up to 6 at 10,240 MB; the Argo step gets what its pod
requests. Each column's counts are its own arrays, so threads never share a mutable value.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_threads() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ColumnPool:
    """``map`` over columns in ``threads`` threads (in the caller's thread when 1)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = max(1, threads or default_threads())
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        if self._pool is None:
            return [fn(x) for x in items]
        return list(self._pool.map(fn, items))

    def submit(self, fn: Callable[[T], R], item: T) -> Future[R]:
        """``fn(item)`` in a thread (in the caller's, done on return, when 1): results and errors from
        :meth:`Future.result`."""
        if self._pool is not None:
            return self._pool.submit(fn, item)
        done: Future[R] = Future()
        try:
            done.set_result(fn(item))
        except BaseException as exc:  # handed to the caller by result(), as a thread's would be
            done.set_exception(exc)
        return done

    def __enter__(self) -> ColumnPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


IN_FLIGHT = 2
"""Pieces whose columns are counted at once (:class:`InOrder`): the threads start on the next piece while
the last columns of this one finish, with no barrier per piece."""
READ_AHEAD = 2
"""Pieces a reader keeps coming, in its own thread, ahead of the ones being counted."""


class InOrder:
    """The columns of pieces counted in a pool's threads, each column's pieces one after the other in the
    order they were added (so float sums add up in the same order whatever the threads do: the same
    bytes run to run), up to ``in_flight`` pieces at once (no barrier at the end of each piece).

    A piece's columns go to the pool in one run per thread, not a job per column: a job handed to the
    pool and waited for costs about 10 us of Python under the GIL, 16,000 times in a 1,000-column file
    of 16 row groups. Each column's turn (a condition and the number of its pieces counted) keeps its
    pieces in order; the pool takes runs first in, first out, so the run a column waits for is already
    running: no deadlock. A column that raises still takes its turn, and so do the rest of its run, and
    the first error is raised by :meth:`add` or :meth:`drain`.
    """

    def __init__(
        self, pool: ColumnPool, count: Callable[[str, Any], None], in_flight: int = IN_FLIGHT
    ) -> None:
        self.pool, self.count, self.in_flight = pool, count, max(1, in_flight)
        self.turns: dict[str, threading.Condition] = {}
        self.done: dict[str, int] = {}  # pieces counted, per column
        self.queued: dict[str, int] = {}  # pieces handed to the pool, per column
        self.inflight: collections.deque[list[Future[None]]] = collections.deque()

    def add(self, columns: list[tuple[str, Any]]) -> None:
        """Count ``columns`` ((name, values) each) of one piece; waits while ``in_flight`` pieces are."""
        jobs = []
        for name, values in columns:
            if name not in self.turns:
                self.turns[name], self.done[name], self.queued[name] = threading.Condition(), 0, 0
            jobs.append((name, values, self.queued[name]))
            self.queued[name] += 1
        parts = min(self.pool.threads, len(jobs))
        runs = [jobs[j * len(jobs) // parts : (j + 1) * len(jobs) // parts] for j in range(parts)]
        self.inflight.append([self.pool.submit(self._run, run) for run in runs])
        while len(self.inflight) > self.in_flight - 1:
            self._wait(self.inflight.popleft())

    def drain(self) -> None:
        """Wait for every piece added (errors raised here)."""
        while self.inflight:
            self._wait(self.inflight.popleft())

    def reset(self) -> None:
        """Drain, then start the columns' turns over (a restarted read)."""
        self.drain()
        self.turns.clear()
        self.done.clear()
        self.queued.clear()

    @staticmethod
    def _wait(runs: list[Future[None]]) -> None:
        for run in runs:
            run.result()

    def _run(self, jobs: list[tuple[str, Any, int]]) -> None:
        error: BaseException | None = None
        for name, values, turn in jobs:
            cond = self.turns[name]
            with cond:
                cond.wait_for(lambda: self.done[name] == turn)  # noqa: B023 - called here, in this turn
                try:
                    self.count(name, values)
                except BaseException as exc:  # raised below, once the run's turns are all taken
                    error = error or exc
                finally:
                    self.done[name] += 1
                    cond.notify_all()
        if error is not None:
            raise error
