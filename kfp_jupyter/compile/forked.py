"""A part of a compile done by a forked child process, at the same time as the parent's own work.

Compiling is single-threaded Python, and threads would not run Python side by side. A forked child
shares everything the parent has built so far (copy-on-write, nothing to send it), so on a second
CPU it can do an independent part of the work and send back only the result, pickled through a
pipe. The parent must never depend on a child: a child that cannot start, fails or dies makes
`result()` raise ChildFailed, and the caller does the work itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, NoReturn, TypeVar

T = TypeVar("T")


class ChildFailed(Exception):
    """The child process did not deliver its result: the caller does the work itself."""


def can_fork() -> bool:
    """Whether a child may help: with a second CPU, in a process with one thread (forking while
    another thread holds a lock leaves that lock held in the child, and the Jupyter server
    compiles on worker threads), on Linux, where fork is how processes start."""
    return (
        sys.platform.startswith("linux")
        and threading.active_count() == 1
        and len(os.sched_getaffinity(0)) >= 2
    )


class Forked(Generic[T]):
    """A child process computing `work()`. Use it as a context manager: on leaving, a child whose
    result was not taken is killed, and every child is reaped."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._pid = 0
        self._read = -1
        read, write = os.pipe()
        with contextlib.suppress(AttributeError, OSError):  # fewer round trips for a large result
            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 1 << 20)
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:
            _child(work, read, write)
        os.close(write)
        self._pid, self._read = pid, read

    @property
    def started(self) -> bool:
        return self._pid > 0

    def result(self, timeout: float | None = None) -> T:
        """The child's result, waiting for it (at most `timeout` seconds: a helper must never
        hold up the work it only speeds up); an exception the child raised is raised here."""
        if not self.started:
            raise ChildFailed("no child process could be started")
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = []
        while True:
            if deadline is not None:
                ready, _, _ = select.select(
                    [self._read], [], [], max(0.0, deadline - time.monotonic())
                )
                if not ready:
                    raise ChildFailed(f"the helper process took more than {timeout:.1f} s")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(self._read)
        self._read = -1
        try:
            ok, value = pickle.loads(b"".join(chunks))
        except Exception:
            pid, self._pid = self._pid, 0
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            raise ChildFailed(f"the helper process ended with {code}") from None
        # A whole result came: the child is exiting. Tearing down a copy of a large process
        # takes the kernel several milliseconds; it is reaped later, not waited for now.
        _exiting.append(self._pid)
        self._pid = 0
        if not ok:
            raise value
        result: T = value
        return result

    def close(self) -> None:
        _reap_exited()
        if self._read >= 0:
            with contextlib.suppress(OSError):
                os.close(self._read)
            self._read = -1
        if self._pid > 0:
            pid, self._pid = self._pid, 0
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    def __enter__(self) -> Forked[T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


#: children that delivered their result and are exiting, reaped when it costs no wait
_exiting: list[int] = []


def _reap_exited() -> None:
    for pid in list(_exiting):
        try:
            done = os.waitpid(pid, os.WNOHANG)[0]
        except ChildProcessError:
            done = pid
        if done:
            _exiting.remove(pid)


def _child(work: Callable[[], Any], read: int, write: int) -> NoReturn:
    """The child: compute, send, and exit at once (not through the parent's exit handlers, and
    without flushing output buffers the parent will flush itself)."""
    code = 1
    try:
        os.close(read)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        try:
            payload = pickle.dumps((True, work()), pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # handed to the parent, which decides what it means
            payload = pickle.dumps((False, e), pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write, "wb") as pipe:
            pipe.write(payload)
        code = 0
    finally:
        os._exit(code)
