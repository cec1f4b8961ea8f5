"""The fork server process: import the notebook's imports once, then fork a warm child per step.

Started as `python _forkserver_main.py` (by path, so that kfp_jupyter itself is not imported into
the processes that run steps). Standard library only. The runner talks to it over stdin/stdout,
one JSON object per line:

    runner -> server  {"op": "init", "imports": CODE, "path": [DIR, ...], "spares": N}
                      {"op": "run", "id": ID, "program": P, "args": A, "log": L, "cwd": D,
                       "env": {...}, "path": [DIR, ...]}
    server -> runner  {"op": "ready", "pid": N, "threads": N, "error": TEXT | null}
                      {"op": "started", "id": ID, "pid": N}
                      {"op": "exit", "id": ID, "code": N}      (negative: killed by that signal)
                      {"op": "error", "id": ID, "message": TEXT}

The server keeps N spare children forked in advance, each waiting on its own pipe for a job: a
fork of a process holding pandas and scikit-learn is not free (tens of ms on a virtual machine),
and a spare takes that cost while the previous step runs. A child ends the way the interpreter
ends any script (SystemExit, then Python's own shutdown) and reports its exit code through a
status pipe from its last atexit function, before the interpreter's teardown, so the runner does
not wait for that teardown.

Each child leads a new session, and so a new process group, as a cold `python step.py` does
(launch.py starts those with start_new_session): the runner stops the step's group, and after
the step ends whatever is left of its session, which also finds a process the step moved to a
group of its own (`Popen(..., process_group=0)`, a job-control shell). It writes stdout and
stderr to its log, and runs the step program as `python PROGRAM ARGS` would: as module
__main__, with sys.argv, sys.path[0], cwd and environment set, then the interpreter's exit steps
(non-daemon threads joined, atexit handlers run, streams flushed). When the runner goes away (its
end of stdin closes) the server kills its children and what is left of their sessions, and
exits, so a killed runner leaves no steps behind.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import json
import os
import selectors
import signal
import sys
import traceback
import types
from typing import Any, NoReturn

_PR_SET_PDEATHSIG = 1


def _send(fd: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 1


def _pdeathsig() -> Any:
    """prctl(PR_SET_PDEATHSIG) where there is one: a child dies with the server."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


def _fork_session() -> int:
    """fork(), the child leading a new session of its own; in the server, return only once it
    does. The runner may signal the child's group as soon as it hears the pid, and there is no
    such group until the child's setsid(); the server cannot make it for the child either, since
    setsid() fails in a process that already leads a group."""
    sync_r, sync_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(sync_r)
        os.close(sync_w)
        raise
    if pid == 0:
        os.close(sync_r)
        try:
            os.setsid()
        except OSError:  # already leads a group: one of its own all the same
            with contextlib.suppress(OSError):
                os.setpgid(0, 0)
        os.close(sync_w)
        return 0
    os.close(sync_w)
    os.read(sync_r, 1)  # end of file: the child has its session (or is gone)
    os.close(sync_r)
    return pid


def _session_members(sids: set[int]) -> list[int]:
    """The live processes of these sessions, from /proc where there is one (else none): what
    the steps left running in groups of their own."""
    if not sids:
        return []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) >= 4 and fields[0] != b"Z" and int(fields[3]) in sids:
            found.append(int(entry))
    return found


def _preload(init: dict[str, Any], base_path: list[str]) -> str | None:
    sys.path[:] = [*init.get("path", []), *base_path]
    error = None
    namespace: dict[str, Any] = {"__name__": "__kfpj_preload__"}
    try:
        exec(
            compile(init.get("imports", ""), "<notebook imports>", "exec", dont_inherit=True),
            namespace,
        )
    except BaseException as e:  # the steps will report it properly, in their own logs
        error = f"{type(e).__name__}: {e}"
    # What the step runtime itself imports to save and load variables of these kinds.
    warm = ["json", "pickle", "cloudpickle"]
    if "pandas" in sys.modules:
        warm += ["pyarrow", "pyarrow.parquet"]
    if "sklearn" in sys.modules:
        warm += ["joblib", "sklearn.base"]
    for name in warm:
        with contextlib.suppress(BaseException):
            __import__(name)
    return error


def _run_program(program: str) -> int:
    """Run PROGRAM as __main__ the way the interpreter runs a script; return the exit code."""
    code = 0
    main = types.ModuleType("__main__")
    main.__file__ = program
    main.__cached__ = None  # type: ignore[attr-defined]
    sys.modules["__main__"] = main
    try:
        with open(program, encoding="utf-8") as f:
            source = f.read()
        exec(compile(source, program, "exec", dont_inherit=True), main.__dict__)
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != program:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb or e.__traceback__)
        code = 130 if isinstance(e, KeyboardInterrupt) else 1
    return code


def _unbuffered_stdio() -> None:
    # Like `python -u` (PYTHONUNBUFFERED is set for steps): a step stopped by a timeout keeps
    # everything it printed in its log.
    for name, fd in (("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        new = io.TextIOWrapper(
            io.FileIO(fd, "w", closefd=False),
            encoding=getattr(old, "encoding", None) or "utf-8",
            errors=getattr(old, "errors", None) or "strict",
            write_through=True,
        )
        setattr(sys, name, new)


class Server:
    """The parent process: forks warm children, keeps spares ready, reports their ends."""

    def __init__(self, req_fd: int, rep_fd: int, base_path: list[str]) -> None:
        self.req_fd = req_fd
        self.rep_fd = rep_fd
        self.base_path = base_path
        self.children: dict[int, str] = {}  # pid -> request id
        #: exit codes children reported through the status pipe, sent on when the child is gone
        #: (its interpreter's teardown, which flushes files it left open, comes after the report)
        self.codes: dict[int, int] = {}
        self.spares: list[tuple[int, int]] = []  # (pid, write end of its job pipe)
        self.want_spares = 0
        self.wake_r, self.wake_w = os.pipe()
        self.status_r, self.status_w = os.pipe()
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        self.prctl = _pdeathsig()
        self.devnull = -1
        self.server_pid = os.getpid()

    # --- in the child ---------------------------------------------------------------------

    def _become_child(self, keep: int) -> None:
        """Right after fork (in its own session): default signals, none of the server's fds."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if self.prctl is not None:
            self.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        fds = [self.req_fd, self.rep_fd, self.wake_r, self.wake_w, self.status_r]
        fds += [w for _, w in self.spares]
        for fd in fds:
            if fd != keep:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _run_job(self, req: dict[str, Any]) -> NoReturn:
        code = 1
        try:
            log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(log)
            _unbuffered_stdio()
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
            if "tempfile" in sys.modules:  # (loaded: importing it costs nothing)
                import tempfile

                # Found once from TMPDIR and kept (by any gettempdir() of the imports): the
                # step's own TMPDIR must count, as in a fresh interpreter.
                tempfile.tempdir = None
            if "numpy" in sys.modules:
                # A forked child inherits the server's random state; a fresh interpreter would not.
                with contextlib.suppress(BaseException):
                    sys.modules["numpy"].random.seed()
            program = req["program"]
            sys.argv = [program, req["args"]]
            sys.path[:] = [os.path.dirname(program), *req.get("path", []), *self.base_path]
            code = _run_program(program)
        except BaseException:
            with contextlib.suppress(BaseException):
                traceback.print_exc()
        self._end_child(code)

    def _end_child(self, code: int) -> NoReturn:
        """End the child the way the interpreter ends a script: its threads are joined, then its
        atexit functions run, then the code is reported (by an exit function registered first,
        so it runs after the program's), and the interpreter exits with the code. SystemExit
        goes up through the server's frames this child was forked from; serve() knows a child
        from the server and leaves the server's cleanup to the server."""

        def report() -> None:
            os.write(self.status_w, f"{os.getpid()} {code}\n".encode())

        atexit.register(report)
        raise SystemExit(code)

    # --- in the server --------------------------------------------------------------------

    def spawn_spare(self) -> None:
        job_r, job_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = _fork_session()
        except OSError:
            os.close(job_r)
            os.close(job_w)
            return
        if pid == 0:
            try:
                os.close(job_w)
                self._become_child(keep=job_r)
                chunks = []
                while chunk := os.read(job_r, 65536):
                    chunks.append(chunk)
                os.close(job_r)
            except BaseException:
                raise SystemExit(1) from None  # ends this child only (see _end_child)
            if not chunks:  # the server went away, or no longer needs this spare
                raise SystemExit(0)
            self._run_job(json.loads(b"".join(chunks)))
        os.close(job_r)
        self.spares.append((pid, job_w))

    def dispatch(self, req: dict[str, Any]) -> None:
        pid = -1
        while self.spares and pid < 0:
            spare, job_w = self.spares.pop(0)
            try:
                data = json.dumps(req).encode()
                while data:
                    data = data[os.write(job_w, data) :]
                pid = spare
            except OSError:
                pass  # that spare died; try the next
            finally:
                os.close(job_w)
        if pid < 0:
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                pid = _fork_session()
            except OSError as e:
                _send(self.rep_fd, {"op": "error", "id": req["id"], "message": str(e)})
                return
            if pid == 0:
                self._become_child(keep=-1)
                self._run_job(req)
        self.children[pid] = req["id"]
        _send(self.rep_fd, {"op": "started", "id": req["id"], "pid": pid})

    def replenish(self) -> None:
        while len(self.spares) < self.want_spares:
            before = len(self.spares)
            self.spawn_spare()
            if len(self.spares) == before:
                return

    def read_status(self) -> None:
        data = os.read(self.status_r, 65536)
        for line in data.decode().splitlines():
            pid_text, _, code_text = line.partition(" ")
            pid = int(pid_text)
            if pid in self.children:
                self.codes.setdefault(pid, int(code_text))

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            rid = self.children.pop(pid, None)
            code = self.codes.pop(pid, None)
            if rid is not None:
                final = code if code is not None else _exit_code(status)
                _send(self.rep_fd, {"op": "exit", "id": rid, "code": final})
            for i, (spare, job_w) in enumerate(self.spares):
                if spare == pid:
                    os.close(job_w)
                    del self.spares[i]
                    break

    def kill_all(self) -> None:
        for _, job_w in self.spares:
            with contextlib.suppress(OSError):
                os.close(job_w)
        pids = list(self.children) + [p for p, _ in self.spares]
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        for pid in _session_members(set(self.children)):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)

    def serve(self) -> None:
        import threading

        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        buffer = bytearray()
        sel = selectors.DefaultSelector()
        sel.register(self.req_fd, selectors.EVENT_READ, "req")
        sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        sel.register(self.status_r, selectors.EVENT_READ, "status")
        ready = False
        try:
            while True:
                for key, _ in sel.select():
                    if key.data == "wake":
                        try:
                            while os.read(self.wake_r, 512):
                                pass
                        except BlockingIOError:
                            pass
                        continue
                    if key.data == "status":
                        self.read_status()
                        continue
                    messages, eof = _read_lines(self.req_fd, buffer)
                    if eof:
                        return
                    for msg in messages:
                        if msg.get("op") == "init" and not ready:
                            error = _preload(msg, self.base_path)
                            sys.stdout.flush()
                            sys.stderr.flush()
                            gc.freeze()  # keep the imported modules' pages shared with children
                            ready = True
                            threads = threading.active_count()
                            _send(
                                self.rep_fd,
                                {
                                    "op": "ready",
                                    "pid": os.getpid(),
                                    "threads": threads,
                                    "error": error,
                                },
                            )
                            self.want_spares = int(msg.get("spares", 1)) if threads == 1 else 0
                        elif msg.get("op") == "run":
                            self.dispatch(msg)
                    self.replenish()
                self.reap()
                self.replenish()
        finally:
            if os.getpid() == self.server_pid:  # not in a child ending (see _end_child)
                sel.close()
                self.kill_all()


def _read_lines(fd: int, buffer: bytearray) -> tuple[list[dict[str, Any]], bool]:
    chunk = os.read(fd, 65536)
    if not chunk:
        return [], True
    buffer += chunk
    out = []
    while b"\n" in buffer:
        line, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        if line.strip():
            out.append(json.loads(line))
    return out, False


def main() -> None:
    # Our own directory must not shadow the notebook's modules.
    here = os.path.dirname(os.path.abspath(__file__))
    base_path = [p for p in sys.path if p and os.path.abspath(p) != here]
    req_fd, rep_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # prints of the imports go to the server's log
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def _term(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _term)
    Server(req_fd, rep_fd, base_path).serve()


if __name__ == "__main__":
    main()
