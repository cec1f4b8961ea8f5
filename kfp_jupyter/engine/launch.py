"""Starting one step process, waiting for it, and stopping it (with everything it started).

Every step process leads its own session (and so its own process group), so a timeout or Ctrl-C
stops the step and any processes it spawned, and a Ctrl-C typed at the terminal reaches only the
runner, which then decides what to stop; when the step's main process ends, whatever it left
running in its group or session is ended too (procgroup.py). Two launchers implement this: a cold `python step.py ARGS.json` per step
(here), and a fork server (forkserver.py) that hands out warm processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from .procgroup import Leftover, end_leftovers

#: how long a step has to exit after SIGTERM before it gets SIGKILL
TERM_GRACE_S = 2.0


@dataclass(frozen=True)
class Job:
    """One attempt of one step: `python PROGRAM ARGS` in CWD, output appended to LOG."""

    key: str
    program: Path
    args: Path
    log: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    #: folders put first on sys.path (the notebook's folder, as in Jupyter)
    path: tuple[str, ...] = ()


def kill_group(pid: int, sig: int) -> None:
    killpg = getattr(os, "killpg", None)
    if killpg is None:  # Windows: no process groups; _PopenProc stops the process itself
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        killpg(pid, sig)


class Proc(ABC):
    """A running step process."""

    pid: int | None = None

    @abstractmethod
    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code (negative: killed by that signal), or None if still running at timeout."""

    def stop(self, grace: float = TERM_GRACE_S) -> None:
        """Stop the step's whole process group: SIGTERM, then SIGKILL after `grace` seconds."""
        if self.pid is None:
            self._wait_for_pid(5.0)
        if self.pid is None:
            return
        kill_group(self.pid, signal.SIGTERM)
        if self.wait(grace) is None:
            kill_group(self.pid, signal.SIGKILL)

    def end_leftovers(self) -> list[Leftover]:
        """After the step's main process ended: end what it started and left running."""
        return end_leftovers(self.pid)

    def _wait_for_pid(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.pid is None and time.monotonic() < deadline:
            if self.wait(0.01) is not None:
                return


class Launcher(ABC):
    name: str

    @abstractmethod
    def start(self, job: Job) -> Proc: ...

    def close(self) -> None:  # noqa: B027  (most launchers keep nothing running)
        """Stop anything the launcher keeps running (not the steps: the runner stops those)."""


#: the folders job_env put first on PYTHONPATH: a notebook step's kernel leaves them out, so its
#: notebook imports from its own folder, as Jupyter would (notebookrun.py)
STEP_PATH_ENV = "KFPJ_STEP_PATH"


def job_env(job: Job) -> dict[str, str]:
    env = dict(job.env)
    env.pop(STEP_PATH_ENV, None)
    if job.path:
        old = env.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join([*job.path, *([old] if old else [])])
        env[STEP_PATH_ENV] = os.pathsep.join(job.path)
    return env


class _PopenProc(Proc):
    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.pid = popen.pid

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace: float = TERM_GRACE_S) -> None:
        if not hasattr(os, "killpg"):
            self.popen.terminate()
            if self.wait(grace) is None:
                self.popen.kill()
            return
        super().stop(grace)


class SubprocessLauncher(Launcher):
    """A cold interpreter per step: exactly `python step.py ARGS.json`; works everywhere."""

    name = "subprocess"

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable

    def start(self, job: Job) -> Proc:
        job.log.parent.mkdir(parents=True, exist_ok=True)
        with open(job.log, "ab") as log:
            popen = subprocess.Popen(
                [self.python, str(job.program), str(job.args)],
                cwd=str(job.cwd),
                env=job_env(job),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return _PopenProc(popen)
