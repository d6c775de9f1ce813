"""Columns counted in threads: numpy's ufuncs, sorts and pyarrow's kernels release the GIL.

Lambda gives one vCPU per 1,769 MB of memory, up to 6 at 10,240 MB; the Argo step gets what its pod
requests. Each column's counts are its own arrays, so threads never share a mutable value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

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
