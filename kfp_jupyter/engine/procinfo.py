"""Who is running a run, and whether they still are.

A run row records its runner's host, pid and (where the OS tells it) the process start time; a
reader that finds a RUNNING run whose runner is gone on this host knows the run was interrupted.
The start time guards against a recycled pid passing for the dead runner.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass


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

    def alive(self) -> bool | None:
        """True/False on this host; None when the runner is on another host (cannot tell)."""
        if not self.is_local():
            return None
        return pid_alive(self.pid, self.token)


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
