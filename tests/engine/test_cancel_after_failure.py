"""Ctrl-C at a run that already has a failed step, a second Ctrl-C while a step ignores SIGTERM,
and a failed step's report when its log holds a progress bar; through the real command.

Steps wait for files the test creates (never for a time), and the test acts on what the command
has printed, as a user at the terminal would.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import Running, kfpj, pid_alive, running_commands, show, states, wait_for
from nbutil import code, make_notebook

#: a step's wait for a file that never comes ends after this long (nothing outlives the test)
PATIENCE_S = 120

WAIT_CELL = f"""def wait(path):
    deadline = time.monotonic() + {PATIENCE_S}
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
"""


@pytest.fixture
def running() -> Iterator[list[Running]]:
    with running_commands() as started:
        yield started


def test_a_failed_run_cancelled_afterwards_stays_failed(
    tmp_path: Path, running: list[Running]
) -> None:
    never = tmp_path / "never"
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import os, time", "imports"),
            code(WAIT_CELL, "functions"),
            code(f"wait({str(never)!r})\nslow = 1", "step:slow"),
            code("raise ValueError('boom in bad')\nbad = 2", "step:bad"),
            code("total = slow + bad", "step:total", "prev:slow", "prev:bad"),
        ],
    )
    store = tmp_path / "store"
    run = Running("run", nb, "--store", store, "--workers", "2")
    running.append(run)
    wait_for(lambda: run.shows(r"^\s*\S+\s+bad\s+FAILED"))
    run.proc.send_signal(signal.SIGINT)
    assert run.finish() == 1, run.output  # a step failed: 1, not the 130 of a plain cancel

    assert "step 'bad' failed; then cancelled" in run.output
    s = show(store)
    assert s["state"] == "FAILED"
    assert states(s) == {"slow": "CANCELLED", "bad": "FAILED", "total": "SKIPPED"}
    listed = kfpj("runs", "list", "--state", "FAILED", "--json", store=store)
    assert listed.returncode == 0, listed.stderr
    (found,) = json.loads(listed.stdout)
    assert found["id"] == s["id"] and found["message"] == "step 'bad' failed; then cancelled"


def test_a_second_ctrl_c_kills_a_step_that_ignores_sigterm(
    tmp_path: Path, running: list[Running]
) -> None:
    pid_file, never = tmp_path / "pid", tmp_path / "never"
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import os, signal, time", "imports"),
            code(WAIT_CELL, "functions"),
            code(
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                f"wait({str(never)!r})",
                "step:stubborn",
            ),
        ],
    )
    run = Running("run", nb, "--store", tmp_path / "store", "--launcher", "subprocess")
    running.append(run)
    wait_for(lambda: pid_file.is_file() and pid_file.read_text() != "")
    pid = int(pid_file.read_text())
    try:
        run.proc.send_signal(signal.SIGINT)
        wait_for(lambda: run.shows("cancelling"))  # the first Ctrl-C was taken: SIGTERM sent
        run.proc.send_signal(signal.SIGINT)  # within the step's 2 s grace: quit now
        assert run.finish() == 130, run.output
        # killed before the command quit, not left running detached until it chose to end
        wait_for(lambda: not pid_alive(pid), timeout=10)
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_progress_bar_leaves_its_last_state_in_the_failure_report(tmp_path: Path) -> None:
    bar = "".join(f"print('loading {p}%', end='\\r')\n" for p in range(0, 100, 10))
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import os", "imports"),
            code(
                f"{bar}print('loading 100%')\nprint('parsed')\nraise ValueError('bad row')",
                "step:load",
            ),
        ],
    )
    p = kfpj("run", nb, store=tmp_path / "store")
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout + p.stderr
    assert "ValueError: bad row" in out
    tail = out.split("| log:", 1)[1].splitlines()
    shown = [line.split("|", 1)[-1].strip() for line in tail if "loading" in line]
    assert shown == ["loading 100%"], out  # not each redraw of the bar
    assert "| parsed" in out
