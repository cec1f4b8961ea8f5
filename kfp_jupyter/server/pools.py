"""Where the handlers' blocking work runs: bounded pools, so slow hosts cannot starve the rest.

A submit waits on a cluster's API, which may never answer, and a compile or run of a notebook
naming component URLs waits on their hosts (up to the fetch's deadline, 30 s); an inspect or a
compile of anything else takes a second. On one shared executor, a handful of such calls would
take every thread and the panel would freeze. So quick work has its own pool, and each kind of
slow call runs in at most its pool's number of threads at once: one more is refused at once
(`PoolFull`, answered 503, saying what the busy threads wait for) rather than queued behind
calls that may not end soon. Their threads are daemons, so a hung call never holds up shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class PoolFull(Exception):
    """Every thread of a pool is busy: the caller should try again later."""


@dataclass(frozen=True)
class Task:
    """What a call in a bounded pool does, as a busy message counts it."""

    one: str
    many: str

    def count(self, n: int) -> str:
        return f"{n} {self.one if n == 1 else self.many}"


SUBMIT = Task("submit", "submits")
FOLLOW = Task("look-up of a cluster run", "look-ups of cluster runs")
COMPILE = Task("compile", "compiles")
RUN = Task("run", "runs")


class BoundedPool:
    """At most `size` calls at once, each in its own daemon thread; no queue. `waiting` says
    what its calls wait on ("waiting on clusters"), for the message refusing one more."""

    def __init__(self, size: int, waiting: str) -> None:
        self.size = max(1, size)
        self.waiting = waiting
        self._slots = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._running: Counter[Task] = Counter()

    async def run(self, fn: Callable[[], T], task: Task) -> T:
        """Run `fn` (a `task`) in a thread and await its result; PoolFull if `size` calls are
        running."""
        if not self._slots.acquire(blocking=False):
            raise PoolFull(self.busy_message())
        with self._lock:
            self._running[task] += 1
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        thread = threading.Thread(
            target=self._call, args=(fn, task, loop, future), name="kfp-jupyter-slow", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            self._release(task)
            raise
        return await future

    def busy_message(self) -> str:
        """What the busy threads are doing: "3 submits and 1 look-up of a cluster run are
        already waiting on clusters (at most 4 at once)"."""
        with self._lock:
            running = [(t, n) for t, n in self._running.items() if n > 0]
        total = sum(n for _, n in running)
        said = _joined([t.count(n) for t, n in running]) or f"{self.size} requests"
        verb = "is" if total == 1 else "are"
        return (
            f"{said} {verb} already {self.waiting} (at most {self.size} at once); "
            "try again when one ends"
        )

    def _release(self, task: Task) -> None:
        with self._lock:
            self._running[task] -= 1
        self._slots.release()

    def _call(
        self,
        fn: Callable[[], T],
        task: Task,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[T],
    ) -> None:
        try:
            result = fn()
        except BaseException as e:
            _settle(loop, future, functools.partial(future.set_exception, e))
        else:
            _settle(loop, future, functools.partial(future.set_result, result))
        finally:
            self._release(task)


def _joined(parts: list[str]) -> str:
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


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
    """The quick pool (inspect, compile, run history), the cluster pool (submits, following a
    run on its cluster) and the fetch pool (compiles and runs fetching component URLs)."""

    def __init__(self, quick_workers: int, cluster_workers: int, fetch_workers: int) -> None:
        self.quick = ThreadPoolExecutor(max(1, quick_workers), thread_name_prefix="kfp-jupyter")
        self.cluster = BoundedPool(cluster_workers, "waiting on clusters")
        self.fetch = BoundedPool(fetch_workers, "fetching component URLs")

    async def run_quick(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.quick, fn)
