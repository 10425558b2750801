"""Heavy pure work away from the event loop: exports, aggregation, agreement, charts.

One worker process, started on first use (spawn: a fresh interpreter that shares nothing with
the bot's threads, sockets or loop) and kept for the next job. A thread would not do: the
export builds its CSV, JSONL and aggregate rows in pure Python, which holds the GIL, and the
event loop then waits up to the interpreter's 5 ms switch interval every time it wants the
GIL back, several times per tap (bench/export.py measures both; README, Speed). The job reads
the database through a read-only connection of its own (db.connection.read_in_process), so
neither its reads nor their rows pass through the bot's connection.

Functions given to :meth:`Offload.run` must be importable module-level functions taking and
returning picklable plain values.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Offload:
    """Runs functions in a worker process; `await offload.run(fn, *args)`."""

    def __init__(
        self,
        *,
        workers: int = 1,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        self.workers = workers
        self._initializer = initializer
        self._initargs = initargs
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=self._initializer,
                initargs=self._initargs,
            )
        return self._pool

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in the worker process; its exception, if it raises, is raised here.

        A worker that died (killed, out of memory) raises BrokenProcessPool once; the next
        call starts a new one."""
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            log.warning("the worker process died; a new one starts with the next job")
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        """Stop the worker (waiting for the job it runs, if any); jobs still queued are
        dropped."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
