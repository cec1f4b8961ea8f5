"""A launcher that hands out warm step processes from a fork server.

A cold `python step.py` pays for the interpreter and for the notebook's imports (numpy, pandas,
scikit-learn: often most of a second) in every step. The fork server pays once per run: it runs
the notebook's imports cell, then forks a child per step, which only runs the step program (its
own import statements find the modules already loaded). See _forkserver_main.py for the process
itself; this module is the runner's side of it.

Fork is used only where it is safe and available (Linux by default); the runner falls back to
cold subprocesses when the server cannot start, dies, or reports that the imports started Python
threads (forking a threaded process can deadlock the child).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from .launch import Job, Launcher, Proc, SubprocessLauncher, job_env, kill_group
from .procgroup import end_leftovers

SERVER_SCRIPT = Path(__file__).with_name("_forkserver_main.py")
LAUNCHER_ENV = "KFP_JUPYTER_LAUNCHER"


class ForkServerUnavailable(RuntimeError):
    pass


#: the exit code reported for a step whose fork server died under it
LOST = 255


def server_env() -> dict[str, str]:
    """The fork server's environment: this one with the defaults every step's has (attempt.py),
    since what the imports read from it at import time is inherited by every step, not read
    again (matplotlib picks its backend from MPLBACKEND when imported: without Agg here, a step
    would draw with another backend than a cold `python step.py`)."""
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class _ForkProc(Proc):
    def __init__(self, log: Path | None = None) -> None:
        self.log = log
        self.pid: int | None = None
        self.code: int | None = None
        self._done = threading.Event()

    def _started(self, pid: int) -> None:
        self.pid = pid

    def _finished(self, code: int) -> None:
        self.code = code
        self._done.set()

    def wait(self, timeout: float | None = None) -> int | None:
        if self._done.wait(timeout):
            return self.code
        return None


class ForkServer(Launcher):
    name = "fork"

    def __init__(
        self,
        imports: str,
        cwd: Path,
        path: tuple[str, ...],
        log: Path,
        python: str | None = None,
        env: dict[str, str] | None = None,
        spares: int = 1,
    ) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "ab")  # noqa: SIM115  (kept open for the server's lifetime)
        self.popen = subprocess.Popen(
            [python or sys.executable, str(SERVER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=str(cwd),
            env=env if env is not None else server_env(),
            start_new_session=True,
            bufsize=0,
        )
        assert self.popen.stdin is not None and self.popen.stdout is not None
        self._stdin: IO[bytes] = self.popen.stdin
        self._write_lock = threading.Lock()
        self._procs: dict[str, _ForkProc] = {}
        self._procs_lock = threading.Lock()
        self._ready = threading.Event()
        self.ready_info: dict[str, Any] = {}
        self.dead = False
        self.unusable_reason: str | None = None
        self._reader = threading.Thread(
            target=self._read, args=(self.popen.stdout,), name="kfpj-forkserver", daemon=True
        )
        self._reader.start()
        self._send({"op": "init", "imports": imports, "path": list(path), "spares": spares})

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self._write_lock:
            try:
                self._stdin.write(data)
                self._stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                raise ForkServerUnavailable("the fork server is gone") from None

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            op = msg.get("op")
            if op == "ready":
                self.ready_info = msg
                if int(msg.get("threads", 1)) > 1:
                    self.unusable_reason = (
                        "the notebook's imports start Python threads, and forking a threaded "
                        "process is unsafe"
                    )
                self._ready.set()
                continue
            with self._procs_lock:
                proc = self._procs.get(str(msg.get("id")))
            if proc is None:
                continue
            if op == "started":
                proc._started(int(msg["pid"]))
            elif op == "exit":
                with self._procs_lock:
                    self._procs.pop(str(msg["id"]), None)
                proc._finished(int(msg["code"]))
            elif op == "error":
                with self._procs_lock:
                    self._procs.pop(str(msg["id"]), None)
                proc._finished(LOST)
        # EOF: the server is gone; nothing it ran will report again.
        self.dead = True
        self._ready.set()
        with self._procs_lock:
            pending, self._procs = list(self._procs.values()), {}
        for proc in pending:
            if proc.log is not None:
                with contextlib.suppress(OSError), open(proc.log, "a", encoding="utf-8") as f:
                    f.write("\nkfp-jupyter: the fork server stopped unexpectedly under this step\n")
            proc._finished(LOST)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Whether the server is done with the imports (ready, or dead) within `timeout`."""
        return self._ready.wait(timeout)

    def usable(self, timeout: float | None = None) -> bool:
        """Wait until the server has run the imports; False if it cannot serve steps."""
        self.wait_ready(timeout)
        return self._ready.is_set() and not self.dead and self.unusable_reason is None

    def start(self, job: Job) -> Proc:
        if not self.usable():
            raise ForkServerUnavailable(self.unusable_reason or "the fork server exited")
        proc = _ForkProc(job.log)
        with self._procs_lock:
            self._procs[job.key] = proc
        job.log.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._send(
                {
                    "op": "run",
                    "id": job.key,
                    "program": str(job.program),
                    "args": str(job.args),
                    "log": str(job.log),
                    "cwd": str(job.cwd),
                    "env": job_env(job),
                    "path": list(job.path),
                }
            )
        except ForkServerUnavailable:
            with self._procs_lock:
                self._procs.pop(job.key, None)
            raise
        return proc

    def close(self) -> None:
        if not self._ready.is_set():
            self._stop_warming()
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log.close()

    def _stop_warming(self) -> None:
        """Kill a server still running the imports, with whatever they started: no step will
        use it (the run ended first, e.g. it was cancelled), and a slow or hung import would
        keep the run from ending. Nothing of value is lost; it has forked no step yet."""
        kill_group(self.popen.pid, signal.SIGKILL)  # its own session: pid is the group's id
        self.popen.wait()
        end_leftovers(self.popen.pid)  # those of its session that left its group
        with contextlib.suppress(OSError):
            self._log.write(b"\nkfp-jupyter: the run ended during the imports; they were stopped\n")


class AutoLauncher(Launcher):
    """The fork server when it can serve, otherwise a cold subprocess per step."""

    def __init__(self, fork: ForkServer | None, fallback: SubprocessLauncher) -> None:
        self.fork = fork
        self.fallback = fallback
        self.notes: list[str] = []

    @property
    def name(self) -> str:  # type: ignore[override]
        return "fork" if self.fork is not None and self.fork.usable(0) else "subprocess"

    def warming_up(self) -> bool:
        """True while the fork server is still running the notebook's imports."""
        fork = self.fork
        return fork is not None and not fork._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        """Whether start() no longer waits for the notebook's imports, within `timeout`: a
        step waits in slices of this, so that a cancel ends the wait (attempt.py)."""
        fork = self.fork
        return fork is None or fork.wait_ready(timeout)

    def start(self, job: Job) -> Proc:
        if self.fork is not None:
            try:
                return self.fork.start(job)
            except ForkServerUnavailable as e:
                self.notes.append(f"fork server unavailable ({e}); using a cold process per step")
                fork, self.fork = self.fork, None
                fork.close()
        return self.fallback.start(job)

    def close(self) -> None:
        if self.fork is not None:
            self.fork.close()


def choose_launcher(requested: str | None) -> str:
    """'fork' or 'subprocess': the request, else KFP_JUPYTER_LAUNCHER, else fork on Linux."""
    choice = (requested or os.environ.get(LAUNCHER_ENV) or "auto").lower()
    if choice not in ("auto", "fork", "subprocess"):
        raise ValueError(f"unknown launcher {choice!r} (use fork, subprocess or auto)")
    if choice == "auto":
        # macOS system libraries are not fork-safe (why Python's multiprocessing spawns there).
        return "fork" if hasattr(os, "fork") and sys.platform.startswith("linux") else "subprocess"
    if choice == "fork" and not hasattr(os, "fork"):
        return "subprocess"
    return choice


def make_launcher(
    kind: str,
    imports: str,
    cwd: Path,
    path: tuple[str, ...],
    log: Path,
    python: str | None = None,
    workers: int = 1,
) -> Launcher:
    fallback = SubprocessLauncher(python)
    if kind != "fork":
        return fallback
    try:
        server = ForkServer(imports, cwd, path, log, python, spares=max(1, min(workers, 2)))
    except OSError:
        return fallback
    return AutoLauncher(server, fallback)
