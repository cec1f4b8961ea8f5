"""Who is running a run, and whether they still are.

A runner holds a lock on a file in its run's folder (`runner.lock`, an flock) for as long as it
runs; a reader that cannot take that lock knows the runner is alive, whatever its pid says: a
runner in another PID namespace (a container with this host's name) has a pid that means
nothing here. Where no lock can be taken (no flock, a file system without locks, a run started
before runners took it), the run row's host, pid and (where the OS tells it) process start time
say it: a reader that finds a RUNNING run whose runner is gone on this host knows the run was
interrupted. The start time guards against a recycled pid passing for the dead runner.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

if sys.platform != "win32":
    import fcntl

#: the file in a run's folder that its runner holds locked while it runs
RUNNER_LOCK = "runner.lock"
#: how long a runner waits for readers that are testing its lock (each holds it for a moment)
LOCK_PATIENCE_S = 5.0


def _start_token(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


@dataclass(frozen=True)
class RunnerId:
    host: str
    pid: int
    token: str | None

    @staticmethod
    def current() -> RunnerId:
        pid = os.getpid()
        return RunnerId(socket.gethostname(), pid, _start_token(pid))

    def is_local(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self, lock: Path | None = None) -> bool | None:
        """True/False on this host; None when the runner is on another host (cannot tell).
        `lock`: the run's lock file; held, the runner is alive wherever it is."""
        if lock is not None and lock_held(lock):
            return True
        if not self.is_local():
            return None
        return pid_alive(self.pid, self.token)


#: the lock files this process holds: a child it forks closes its copies (below)
_HELD: set[IO[bytes]] = set()


def _close_held_in_child() -> None:
    """An flock belongs to the open file, which a forked child shares: a child that outlives a
    runner killed with -9 (a kernel's or the Jupyter server's fork) would keep the run looking
    alive. Closing the child's copy leaves the parent's lock as it is."""
    for file in list(_HELD):
        with contextlib.suppress(OSError):
            file.close()
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_in_child)


class RunnerLock:
    """The lock a runner holds on its run's lock file until `release` (or until it dies: the
    system releases the lock of a process that is gone)."""

    def __init__(self, file: IO[bytes], path: Path) -> None:
        self._file = file
        self._path = path
        _HELD.add(file)

    def release(self) -> None:
        """Let go, and remove the file while still holding it: a run that ended leaves no file
        of its runner behind (its state says it ended; a reader who opened the file first
        finds it let go)."""
        _HELD.discard(self._file)
        self._path.unlink(missing_ok=True)
        self._file.close()


def hold_lock(path: Path, patience: float = LOCK_PATIENCE_S) -> RunnerLock | None:
    """Take the runner's lock on `path` (made if need be), or None where no lock can be taken:
    readers then go by the runner's pid. A reader tests the lock by holding it shared for a
    moment, so a runner waits up to `patience` seconds for readers to let go."""
    if sys.platform == "win32":
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file = open(path, "ab")  # noqa: SIM115  (kept open for as long as the lock is held)
    except OSError:
        return None
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return RunnerLock(file, path)
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.01)
                continue
        except OSError:
            pass
        file.close()
        return None


def lock_held(path: Path) -> bool:
    """Whether a runner holds its lock on `path` (False where that cannot be told: no file, no
    flock, a file system without locks). Taken shared and let go at once: readers testing it
    at the same time do not see each other as a runner."""
    if sys.platform == "win32":
        return False
    try:
        file = open(path, "rb")  # noqa: SIM115
    except OSError:
        return False
    with file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
    return False


def pid_alive(pid: int, token: str | None = None) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process there
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if token is not None:
        now = _start_token(pid)
        if now is not None and now != token:
            return False
        if now is None and os.path.isdir("/proc"):
            return False
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[-1].split()
        return not fields or fields[0] != "Z"
    except OSError:
        return True


def _windows_pid_alive(pid: int) -> bool:
    if sys.platform != "win32":
        return False
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
