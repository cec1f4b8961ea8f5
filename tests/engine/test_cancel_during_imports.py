"""Cancelling a run while its first step waits for the notebook's imports (fork server warming up).

The imports can be slow or hang (a big library, a network call): a cancel must not wait for
them. The step ends CANCELLED without being started, and the imports (the fork server's process
and what they started) are stopped with the run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

from engine_support import pid_alive, show, start_kfpj, states, tasks, wait_for
from nbutil import code, make_notebook

from kfp_jupyter.engine import TaskEvent, run_local

WAITING = "waiting for the notebook's imports"
#: how long the imports would take: far longer than a cancel may
IMPORTS_S = 120


def _slow_imports(tmp: Path) -> Path:
    """A notebook whose imports record their process and a child of it, then hang, then write
    a marker (which a cancelled run never lets them reach)."""
    imports = (
        "import os, subprocess, time\n"
        "child = subprocess.Popen(['sleep', '600'])\n"
        f"with open({str(tmp / 'pids.tmp')!r}, 'w') as f:\n"
        "    f.write(f'{os.getpid()} {child.pid}')\n"
        f"os.replace({str(tmp / 'pids.tmp')!r}, {str(tmp / 'pids')!r})\n"
        f"time.sleep({IMPORTS_S})\n"
        f"open({str(tmp / 'marker')!r}, 'w').close()"
    )
    return make_notebook(tmp / "slow.ipynb", [code(imports, "imports"), code("x = 1", "step:a")])


def _pids(tmp: Path) -> tuple[int, int]:
    """(the fork server running the imports, the process the imports started)."""
    wait_for(lambda: (tmp / "pids").exists(), timeout=60, every=0.05)
    server, child = (tmp / "pids").read_text().split()
    return int(server), int(child)


def _kill_leftovers(tmp: Path) -> None:
    """After a failure: leave nothing of the test behind (the server leads its own group)."""
    if (tmp / "pids").exists():
        for pid in map(int, (tmp / "pids").read_text().split()):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


class _Output:
    """The lines a process prints, read as they come, so a test can wait for one of them."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self._thread.start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()

    def wait_for(self, text: str, timeout: float) -> None:
        with self._seen:
            found = self._seen.wait_for(lambda: any(text in line for line in self.lines), timeout)
        assert found, f"{text!r} not printed within {timeout} s:\n{self.text()}"

    def text(self) -> str:
        self._thread.join(10)
        return "".join(self.lines)


def _assert_stopped(tmp: Path, server: int, child: int) -> None:
    assert not pid_alive(server), f"the fork server (pid {server}) outlived the cancelled run"
    assert not pid_alive(child), f"the imports' child (pid {child}) outlived the cancelled run"
    assert not (tmp / "marker").exists(), "the imports ran on after the cancel"


def test_ctrl_c_while_a_step_waits_for_the_imports(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = _slow_imports(tmp_path)
    runner = start_kfpj("run", nb, "--launcher", "fork", store=store)
    try:
        out = _Output(runner)
        out.wait_for(WAITING, timeout=120)
        server, child = _pids(tmp_path)
        runner.send_signal(signal.SIGINT)
        exit_code = runner.wait(timeout=30)  # the imports would take IMPORTS_S
        _assert_stopped(tmp_path, server, child)
    finally:
        if runner.poll() is None:
            runner.kill()
        _kill_leftovers(tmp_path)
    printed = out.text()
    assert exit_code == 130, printed
    assert "cancelled before it started" in printed
    s = show(store)
    assert s["state"] == "CANCELLED"
    assert states(s) == {"a": "CANCELLED"} and tasks(s)["a"]["exit_code"] is None


def test_handle_cancel_while_a_step_waits_for_the_imports(tmp_path: Path) -> None:
    handle = run_local(_slow_imports(tmp_path), store=tmp_path / "store", launcher="fork")
    try:
        for e in handle.events():
            if isinstance(e, TaskEvent) and WAITING in (e.message or ""):
                break
        server, child = _pids(tmp_path)
        handle.cancel()
        assert handle.wait(30) == "CANCELLED"  # the imports would take IMPORTS_S
        _assert_stopped(tmp_path, server, child)
    finally:
        handle.cancel()
        _kill_leftovers(tmp_path)
    assert {t["name"]: t["state"] for t in handle.summary()["tasks"]} == {"a": "CANCELLED"}
    last = [e for e in handle.events() if isinstance(e, TaskEvent)][-1]
    assert last.state == "CANCELLED" and "before it started" in (last.message or "")
