"""Runs that do not end quietly: kill -9 and resume, Ctrl-C, several runners on one store."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from pathlib import Path

from engine_support import (
    CLI,
    fan_out_notebook,
    interrupt_when,
    kfpj,
    pid_alive,
    show,
    start_kfpj,
    states,
    tasks,
    wait_for,
)
from nbutil import code, make_notebook


def _resumable(tmp: Path) -> Path:
    """first (counts its runs) -> second (hangs the first time) -> third."""
    counter = tmp / "first-runs.txt"
    marker = tmp / "second-started"
    pidfile = tmp / "second.pid"
    return make_notebook(
        tmp / "resume.ipynb",
        [
            code("import os, time", "imports"),
            code(f"open({str(counter)!r}, 'a').write('ran\\n')\nbase = 10", "step:first"),
            code(
                f"if not os.path.exists({str(marker)!r}):\n"
                f"    open({str(marker)!r}, 'w').close()\n"
                f"    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
                "    time.sleep(120)\n"
                "doubled = base * 2",
                "step:second",
                "prev:first",
            ),
            code("result = doubled + 1", "step:third", "prev:second"),
            code("result", "pipeline-metrics"),
        ],
    )


def _running(store: Path, step: str) -> bool:
    p = kfpj("runs", "show", "latest", "--json", store=store)
    return p.returncode == 0 and tasks(json.loads(p.stdout))[step]["state"] == "RUNNING"


def test_kill_9_of_the_runner_then_resume(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = _resumable(tmp_path)
    runner = start_kfpj("run", nb, store=store)
    try:
        wait_for(lambda: (tmp_path / "second.pid").exists() and _running(store, "second"), 90)
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
    finally:
        if runner.poll() is None:
            runner.kill()
    step_pid = int((tmp_path / "second.pid").read_text())

    # The next reader sees a consistent store: the run and its running task are INTERRUPTED.
    s = show(store)
    assert s["state"] == "INTERRUPTED"
    assert states(s) == {"first": "SUCCEEDED", "second": "INTERRUPTED", "third": "PENDING"}
    listed = json.loads(kfpj("runs", "list", "--json", store=store).stdout)
    assert listed[0]["state"] == "INTERRUPTED"
    # the runner's step process did not outlive it
    wait_for(lambda: not pid_alive(step_pid), timeout=15)
    first_before = tasks(s)["first"]

    p = kfpj("runs", "resume", s["id"], store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    after = show(store, s["id"])
    assert after["state"] == "SUCCEEDED"
    assert after["metrics"] == {"result": 21.0}
    t = tasks(after)
    assert t["first"] == first_before  # reused as it was, not re-run
    assert (tmp_path / "first-runs.txt").read_text() == "ran\n"
    assert t["second"]["state"] == "SUCCEEDED" and t["second"]["attempts"] == 1
    assert t["third"]["state"] == "SUCCEEDED"
    # a finished run cannot be resumed again; that is invalid input, not a failure
    again = kfpj("runs", "resume", s["id"], store=store)
    assert again.returncode == 2 and "already succeeded" in again.stderr


def test_resume_runs_the_programs_the_run_started_with(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "f.ipynb",
        [
            code("x = 1", "step:a"),
            code("raise RuntimeError('not yet')", "step:b", "prev:a"),
        ],
    )
    assert kfpj("run", nb, store=store).returncode == 1
    failed = show(store)
    # editing the notebook afterwards does not change what `resume` executes
    make_notebook(nb, [code("x = 1", "step:a"), code("y = x + 1", "step:b", "prev:a")])
    p = kfpj("runs", "resume", failed["id"], store=store)
    assert p.returncode == 1 and "not yet" in p.stdout
    assert tasks(show(store, failed["id"]))["a"]["attempts"] == 1


def test_ctrl_c_cancels_the_run_and_stops_its_steps(tmp_path: Path) -> None:
    store = tmp_path / "store"
    pidfile = tmp_path / "pid"
    nb = make_notebook(
        tmp_path / "long.ipynb",
        [
            code("import os, time", "imports"),
            code(
                f"if not os.path.exists({str(pidfile)!r}):\n"
                f"    open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
                "    time.sleep(120)\n"
                "x = 1",
                "step:long",
            ),
            code("y = x + 1", "step:after", "prev:long"),
        ],
    )
    runner = start_kfpj("run", nb, store=store)
    out = interrupt_when(runner, lambda: pidfile.exists() and _running(store, "long"), 90)
    assert runner.returncode == 130, out
    assert "CANCELLED" in out
    s = show(store)
    assert s["state"] == "CANCELLED"
    assert states(s) == {"long": "CANCELLED", "after": "CANCELLED"}
    assert not pid_alive(int(pidfile.read_text()))
    # a cancelled run can be finished later
    p = kfpj("runs", "resume", s["id"], store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    assert states(show(store)) == {"long": "SUCCEEDED", "after": "SUCCEEDED"}


def test_sigterm_cancels_like_ctrl_c(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "long.ipynb", [code("import time\ntime.sleep(120)\nx = 1", "step:long")]
    )
    runner = start_kfpj("run", nb, "--launcher", "subprocess", store=store)
    try:
        wait_for(lambda: _running(store, "long"), 90)
        runner.send_signal(signal.SIGTERM)
        runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 130
    assert show(store)["state"] == "CANCELLED"


def test_four_runs_at_once_against_one_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = fan_out_notebook(tmp_path / "fan.ipynb", sleep=0.2)
    procs = [
        subprocess.Popen(
            [*CLI, "run", str(nb), "-p", f"n={n}", "--workers", "2", "--store", str(store)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(4)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    runs = json.loads(kfpj("runs", "list", "--json", store=store).stdout)
    assert len(runs) == 4 and {r["state"] for r in runs} == {"SUCCEEDED"}
    totals = sorted(r["metrics"]["total"] for r in runs)
    # n=k: left = 2*sum(range(k)), right = sum(1..k)
    assert totals == sorted(2 * sum(range(k)) + sum(range(1, k + 1)) for k in range(4))
    db = sqlite3.connect(store / "history.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM tasks WHERE state != 'SUCCEEDED'").fetchone()[0] == 0


def test_a_reader_does_not_interrupt_a_live_run(tmp_path: Path) -> None:
    store = tmp_path / "store"
    release = tmp_path / "release"
    # The step holds until the test has looked (not for a fixed time: a loaded machine is slow).
    wait = (
        "import os, time\nt0 = time.time()\n"
        f"while not os.path.exists({str(release)!r}) and time.time() - t0 < 120:\n"
        "    time.sleep(0.05)\nx = 1"
    )
    nb = make_notebook(tmp_path / "slow.ipynb", [code(wait, "step:slow")])
    runner = start_kfpj("run", nb, store=store)
    try:
        wait_for(lambda: _running(store, "slow"), 90)
        assert show(store)["state"] == "RUNNING"
        resume = kfpj("runs", "resume", "latest", store=store)
        assert resume.returncode == 2 and "still running" in resume.stderr
        release.touch()
        out, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, out
    assert show(store)["state"] == "SUCCEEDED"


def test_runner_pid_of_another_host_is_left_alone(tmp_path: Path) -> None:
    """A run owned by a runner on another host (a shared folder) is not declared dead."""
    from kfp_jupyter.engine.history import History
    from kfp_jupyter.engine.procinfo import RunnerId

    h = History(tmp_path / "history.db")
    rid = h.create_run(
        experiment="e",
        pipeline="p",
        digest="d",
        spec="{}",
        notebook=None,
        parameters={},
        options={},
        steps=["a"],
        runner=RunnerId("some-other-host", 1, None),
    )
    dead = h.create_run(
        experiment="e",
        pipeline="p",
        digest="d",
        spec="{}",
        notebook=None,
        parameters={},
        options={},
        steps=["a"],
        runner=RunnerId(RunnerId.current().host, 2**22 + 12345, None),
    )
    assert h.repair_interrupted() == [dead]
    assert h.get_run(rid).state == "RUNNING"
    assert h.get_run(dead).state == "INTERRUPTED"
