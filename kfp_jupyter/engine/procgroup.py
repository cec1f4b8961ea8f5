"""Ending what a step left behind: the processes of its group (and session) that outlived it.

A step leads its own session, and so its own process group, with either launcher (launch.py,
_forkserver_main.py), and everything it starts joins that group unless it asks otherwise; what
moves to a group of its own (`Popen(..., process_group=0)`, a job-control shell) stays in the
session. When the step's main process ends, whatever is still in the group or the session is
a leftover: a `subprocess.Popen` never waited for, a server started for a test. Left alone it
would be re-parented to init and run on, unseen, holding memory, ports and files. The runner
ends such processes and says so in the step's record, since a step that relies on them is
wrong in a way its user should hear about.

On Linux /proc names each leftover; elsewhere the group is signalled as a whole, unnamed. Pids
are not reused while they still name a process group, so signalling the group after its
leader has gone reaches only the leader's group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

#: how long leftovers have to exit after SIGTERM before they get SIGKILL
LEFTOVER_GRACE_S = 1.0


@dataclass(frozen=True)
class Leftover:
    pid: int
    name: str

    def __str__(self) -> str:
        return f"{self.name} (pid {self.pid})"


def _stat(pid: int) -> tuple[str, str, int, int] | None:
    """(command name, state, process group, session) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    name = text[text.find("(") + 1 : text.rfind(")")]
    fields = text.rsplit(")", 1)[-1].split()
    if len(fields) < 4:
        return None
    return name, fields[0], int(fields[2]), int(fields[3])


def _members(leader: int) -> list[Leftover]:
    """Live processes (not zombies) of the group or session led by `leader`, except itself."""
    out: list[Leftover] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == leader:
            continue
        info = _stat(int(entry))
        if info is None:
            continue
        name, state, pgrp, sid = info
        if state != "Z" and leader in (pgrp, sid):
            out.append(Leftover(int(entry), name))
    return out


def _signal(pids: list[int], leader: int, sig: int) -> None:
    killpg = getattr(os, "killpg", None)
    if killpg is not None:
        with contextlib.suppress(OSError):
            killpg(leader, sig)
    for pid in pids:  # those that moved to a group of their own, still in the session
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def _end_named(leader: int) -> list[Leftover]:
    found = _members(leader)
    if not found:
        return []
    pids = [p.pid for p in found]
    _signal(pids, leader, signal.SIGTERM)
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while time.monotonic() < deadline:
        alive = {p.pid for p in _members(leader)}
        if not alive & set(pids):
            break
        time.sleep(0.02)
    else:
        _signal(pids, leader, getattr(signal, "SIGKILL", signal.SIGTERM))
    return found


def _end_unnamed(leader: int) -> list[Leftover]:
    """Without /proc: signal the group if anything is still in it (the leader was reaped)."""
    killpg = getattr(os, "killpg", None)
    if killpg is None:
        return []
    try:
        killpg(leader, 0)
    except OSError:
        return []
    with contextlib.suppress(OSError):
        killpg(leader, signal.SIGTERM)
    time.sleep(LEFTOVER_GRACE_S)
    with contextlib.suppress(OSError):
        killpg(leader, getattr(signal, "SIGKILL", signal.SIGTERM))
    return [Leftover(-1, "a process of the step's group")]


def end_leftovers(leader: int | None) -> list[Leftover]:
    """End every process still in the step's group or session once its main process has ended;
    return what was ended."""
    if leader is None or leader <= 0:
        return []
    if os.path.isdir("/proc"):
        return _end_named(leader)
    return _end_unnamed(leader)


def describe(leftovers: list[Leftover]) -> str:
    """E.g. "ended 1 leftover process: sleep (pid 1234)"."""
    n = len(leftovers)
    shown = ", ".join(str(p) if p.pid > 0 else p.name for p in leftovers[:5])
    more = f" and {n - 5} more" if n > 5 else ""
    return f"ended {n} leftover process{'es' if n != 1 else ''}: {shown}{more}"
