"""Where the handlers' blocking work runs: two bounded pools, so slow clusters cannot starve the rest.

A submit waits on a cluster's API, which may never answer; an inspect or a compile takes a
second. On one shared executor, a handful of hung submits would take every thread and the panel
would freeze. So quick work has its own pool, and cluster calls run in at most `cluster_workers`
threads at once: one more is refused at once (`PoolFull`, answered 503) rather than queued behind
calls that may never end. Cluster threads are daemons, so a hung call never holds up shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class PoolFull(Exception):
    """Every cluster thread is busy: the caller should try again later."""


class ClusterPool:
    """At most `size` calls at once, each in its own daemon thread; no queue."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._slots = threading.BoundedSemaphore(self.size)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` in a thread and await its result; PoolFull if `size` calls are running."""
        if not self._slots.acquire(blocking=False):
            raise PoolFull(
                f"{self.size} submits are already waiting on clusters; try again when one ends"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        thread = threading.Thread(
            target=self._call, args=(fn, loop, future), name="kfp-jupyter-cluster", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            self._slots.release()
            raise
        return await future

    def _call(
        self, fn: Callable[[], T], loop: asyncio.AbstractEventLoop, future: asyncio.Future[T]
    ) -> None:
        try:
            result = fn()
        except BaseException as e:
            _settle(loop, future, functools.partial(future.set_exception, e))
        else:
            _settle(loop, future, functools.partial(future.set_result, result))
        finally:
            self._slots.release()


def _settle(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[T], settle: Callable[[], None]
) -> None:
    """Hand the outcome to the event loop, unless the request (or the server) went away."""

    def on_loop() -> None:
        if not future.done():
            settle()

    with contextlib.suppress(RuntimeError):  # the loop closed: the server is stopping
        loop.call_soon_threadsafe(on_loop)


class Pools:
    """The quick pool (inspect, compile, run history) and the cluster pool (submits)."""

    def __init__(self, quick_workers: int, cluster_workers: int) -> None:
        self.quick = ThreadPoolExecutor(max(1, quick_workers), thread_name_prefix="kfp-jupyter")
        self.cluster = ClusterPool(cluster_workers)

    async def run_quick(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.quick, fn)
