"""Step processes: the fork server behaves like `python step.py ARGS.json`, only faster."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from engine_support import pid_alive, wait_for

from kfp_jupyter.engine.forkserver import AutoLauncher, ForkServer, choose_launcher
from kfp_jupyter.engine.launch import Job, Launcher, SubprocessLauncher

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _job(tmp: Path, source: str, key: str = "j", env: dict[str, str] | None = None) -> Job:
    prog = tmp / f"{key}.py"
    prog.write_text(source)
    (tmp / "args.json").write_text("{}")
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    return Job(
        key,
        prog,
        tmp / "args.json",
        tmp / f"{key}.log",
        work,
        {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        (str(tmp / "lib"),),
    )


@pytest.fixture(params=["fork", "subprocess"])
def launcher(request: pytest.FixtureRequest, tmp_path: Path) -> Launcher:
    if request.param == "subprocess":
        yield SubprocessLauncher()
        return
    (tmp_path / "lib").mkdir(exist_ok=True)
    server = ForkServer(
        "import json\nimport numpy as np",
        tmp_path,
        (str(tmp_path / "lib"),),
        tmp_path / "server.log",
    )
    assert server.usable(60)
    yield server
    server.close()


PROBE = """
import json, os, sys
print(json.dumps({
    "argv": sys.argv, "cwd": os.getcwd(), "env": os.environ.get("PROBE"),
    "path0": sys.path[0], "lib": sys.path[1], "main": __name__,
    "file": __file__,
}))
"""


def test_the_program_sees_what_python_step_py_would(tmp_path: Path, launcher: Launcher) -> None:
    (tmp_path / "lib").mkdir(exist_ok=True)
    job = _job(tmp_path, PROBE, env={"PROBE": "yes"})
    assert launcher.start(job).wait(60) == 0
    import json

    seen = json.loads(job.log.read_text())
    assert seen["argv"] == [str(job.program), str(job.args)]
    assert seen["cwd"] == str(job.cwd)
    assert seen["env"] == "yes"
    assert seen["path0"] == str(tmp_path)  # the program's folder, as for a script
    assert seen["lib"] == str(tmp_path / "lib")
    assert seen["main"] == "__main__" and seen["file"] == str(job.program)


@pytest.mark.parametrize(
    ("source", "code", "text"),
    [
        ("raise ValueError('bad value')", 1, "ValueError: bad value"),
        ("import sys\nsys.exit(7)", 7, ""),
        ("raise SystemExit('a message')", 1, "a message"),
        ("print('fine')", 0, "fine"),
    ],
)
def test_exit_codes_and_tracebacks(
    tmp_path: Path, launcher: Launcher, source: str, code: int, text: str
) -> None:
    job = _job(tmp_path, source)
    assert launcher.start(job).wait(60) == code
    log = job.log.read_text()
    assert text in log
    if code == 1 and "ValueError" in text:
        assert log.startswith("Traceback") and str(job.program) in log
        assert "_forkserver_main" not in log  # the server's own frames are not shown


def test_interpreter_exit_is_honoured(tmp_path: Path, launcher: Launcher) -> None:
    out = tmp_path / "unclosed.txt"
    source = (
        "import atexit, threading, time\n"
        f"f = open({str(out)!r}, 'w')\n"
        "f.write('flushed at exit')\n"  # never closed: the interpreter's exit flushes it
        "atexit.register(lambda: print('atexit ran'))\n"
        "def late():\n    time.sleep(0.3)\n    print('thread finished')\n"
        "threading.Thread(target=late).start()\n"
    )
    job = _job(tmp_path, source)
    assert launcher.start(job).wait(60) == 0
    log = job.log.read_text()
    assert "thread finished" in log and "atexit ran" in log
    assert log.index("thread finished") < log.index("atexit ran")
    assert out.read_text() == "flushed at exit"


def test_stop_kills_the_process_group(tmp_path: Path, launcher: Launcher) -> None:
    pidfile = tmp_path / "grandchild"
    source = (
        "import subprocess, time\n"
        "p = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    proc = launcher.start(_job(tmp_path, source))
    wait_for(pidfile.exists, 30)
    assert proc.wait(0.2) is None
    t = time.monotonic()
    proc.stop(grace=1)
    assert proc.wait(10) == -signal.SIGTERM
    assert time.monotonic() - t < 5
    wait_for(lambda: not pid_alive(int(pidfile.read_text())), 10)


def test_forked_children_get_fresh_random_state(tmp_path: Path) -> None:
    server = ForkServer("import numpy as np\nimport random", tmp_path, (), tmp_path / "s.log")
    try:
        source = "import numpy as np, random\nprint(np.random.random(), random.random())"
        jobs = [_job(tmp_path, source, key=f"r{i}") for i in range(3)]
        for j in jobs:
            assert server.start(j).wait(60) == 0
        outputs = {j.log.read_text() for j in jobs}
        assert len(outputs) == 3
    finally:
        server.close()


def test_fork_is_faster_than_a_cold_interpreter(tmp_path: Path) -> None:
    imports = "import pandas as pd\nimport numpy as np"
    server = ForkServer(imports, tmp_path, (), tmp_path / "s.log")
    try:
        assert server.usable(120)
        source = imports + "\nx = pd.DataFrame({'a': np.arange(3)})\n"

        def timed(launcher: Launcher, n: int) -> float:
            t = time.perf_counter()
            for i in range(n):
                assert launcher.start(_job(tmp_path, source, key=f"t{i}")).wait(120) == 0
            return (time.perf_counter() - t) / n

        warm = timed(server, 5)
        cold = timed(SubprocessLauncher(), 3)
        assert warm < cold / 2, (warm, cold)
    finally:
        server.close()


def test_a_closed_runner_pipe_kills_the_steps(tmp_path: Path) -> None:
    server = ForkServer("", tmp_path, (), tmp_path / "s.log")
    proc = server.start(_job(tmp_path, "import time\ntime.sleep(60)"))
    wait_for(lambda: proc.pid is not None, 30)
    assert proc.pid is not None
    server.close()  # what a runner's death does: its end of the pipe closes
    wait_for(lambda: not pid_alive(proc.pid or 0), 10)
    assert proc.wait(5) is not None


def test_threaded_imports_fall_back_to_cold_processes(tmp_path: Path) -> None:
    imports = "import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()"
    server = ForkServer(imports, tmp_path, (), tmp_path / "s.log")
    auto = AutoLauncher(server, SubprocessLauncher())
    try:
        assert not server.usable(60)
        job = _job(tmp_path, "print('ran')")
        assert auto.start(job).wait(60) == 0
        assert "ran" in job.log.read_text()
        assert auto.notes and "threads" in auto.notes[0]
        assert auto.name == "subprocess"
    finally:
        auto.close()


def test_failed_imports_surface_in_the_step_log(tmp_path: Path) -> None:
    server = ForkServer("import no_such_module_kfpj", tmp_path, (), tmp_path / "s.log")
    try:
        assert server.usable(60)
        assert "No module named" in (server.ready_info.get("error") or "")
        job = _job(tmp_path, "import no_such_module_kfpj\n")
        assert server.start(job).wait(60) == 1
        assert "ModuleNotFoundError" in job.log.read_text()
    finally:
        server.close()


def test_launcher_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KFP_JUPYTER_LAUNCHER", raising=False)
    expected = "fork" if sys.platform.startswith("linux") else "subprocess"
    assert choose_launcher(None) == expected
    assert choose_launcher("subprocess") == "subprocess"
    monkeypatch.setenv("KFP_JUPYTER_LAUNCHER", "subprocess")
    assert choose_launcher(None) == "subprocess"
    with pytest.raises(ValueError):
        choose_launcher("threads")


def test_a_dead_fork_server_fails_its_steps_and_the_next_start_cold(tmp_path: Path) -> None:
    server = ForkServer("", tmp_path, (), tmp_path / "s.log")
    auto = AutoLauncher(server, SubprocessLauncher())
    try:
        job = _job(tmp_path, "import time\ntime.sleep(60)", key="victim")
        proc = auto.start(job)
        wait_for(lambda: proc.pid is not None, 30)
        os.kill(server.popen.pid, signal.SIGKILL)
        assert proc.wait(30) == 255
        assert "fork server stopped unexpectedly" in job.log.read_text()
        wait_for(lambda: not pid_alive(proc.pid or 0), 10)  # the step died with its server
        after = _job(tmp_path, "print('cold')", key="after")
        assert auto.start(after).wait(60) == 0 and "cold" in after.log.read_text()
        assert auto.name == "subprocess"
    finally:
        auto.close()
