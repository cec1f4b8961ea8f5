"""A step started by the fork server is a process like a cold `python step.py`: its own session
(so nothing it starts outlives it, even in a group of its own), its own TMPDIR, and the
environment defaults every step has, also where the imports read them once for all steps.

Each test drives the real `kfp-jupyter` command, as a user would, with both launchers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import CLI, interrupt_when, pid_alive, show, start_kfpj, states, wait_for
from nbutil import code, make_notebook

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="sessions and /proc: Linux"
)

LAUNCHERS = ["fork", "subprocess"]

#: a step's start: a `sleep` moved to a process group of its own (as `Popen(...,
#: process_group=0)` or a job-control shell does), its pid written where the test waits for it
OWN_GROUP = """
import os, subprocess, sys, time
kw = {'process_group': 0} if sys.version_info >= (3, 11) else {'preexec_fn': os.setpgrp}
p = subprocess.Popen(['sleep', '300'], **kw)
with open('own.tmp', 'w') as f:
    f.write(str(p.pid))
os.replace('own.tmp', 'own.pid')
"""


def run_env(**extra: str) -> dict[str, str]:
    """This environment without the settings a test must not inherit from whoever runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "KFP_JUPYTER_LAUNCHER")}
    return {**env, **extra}


def kfpj_run(nb: Path, store: Path, launcher: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "run", str(nb), "--launcher", launcher, "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=180,
        env=run_env(),
    )


def own_group_notebook(path: Path, then: str, *tags: str) -> Path:
    return make_notebook(
        path, [code("import subprocess", "imports"), code(OWN_GROUP + then, "step:bg", *tags)]
    )


def own_pid(folder: Path) -> int:
    return int((folder / "own.pid").read_text())


@contextlib.contextmanager
def killed_after(folder: Path) -> Iterator[None]:
    """Whatever the test found, leave no `sleep 300` behind."""
    try:
        yield
    finally:
        if (folder / "own.pid").is_file():
            with contextlib.suppress(OSError, ValueError):
                os.kill(own_pid(folder), signal.SIGKILL)


def assert_ended(folder: Path) -> None:
    pid = own_pid(folder)
    wait_for(lambda: not pid_alive(pid), 10, every=0.05)


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_process_in_a_group_of_its_own_ends_with_a_step_that_succeeds(
    tmp_path: Path, launcher: str
) -> None:
    nb = own_group_notebook(tmp_path / "bg.ipynb", "x = 1")
    store = tmp_path / "store"
    with killed_after(tmp_path):
        p = kfpj_run(nb, store, launcher)
        assert p.returncode == 0, p.stdout + p.stderr
        assert_ended(tmp_path)
        assert f"ended 1 leftover process: sleep (pid {own_pid(tmp_path)})" in p.stdout


def test_a_process_in_a_group_of_its_own_ends_with_a_step_that_times_out(tmp_path: Path) -> None:
    # The fork launcher only: its step starts within milliseconds of its timeout's start, so the
    # pid is written long before the 5 s are up (a cold interpreter may take seconds to get there).
    nb = own_group_notebook(tmp_path / "bg.ipynb", "time.sleep(300)", "timeout:5")
    store = tmp_path / "store"
    with killed_after(tmp_path):
        p = kfpj_run(nb, store, "fork")
        assert p.returncode == 1, p.stdout + p.stderr
        assert_ended(tmp_path)
        assert states(show(store)) == {"bg": "FAILED"}
        pid = own_pid(tmp_path)
        assert "timed out after 5 s" in p.stdout
        assert f"ended 1 leftover process: sleep (pid {pid})" in p.stdout


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_process_in_a_group_of_its_own_ends_on_ctrl_c(tmp_path: Path, launcher: str) -> None:
    nb = own_group_notebook(tmp_path / "bg.ipynb", "time.sleep(300)")
    store = tmp_path / "store"
    with killed_after(tmp_path):
        runner = start_kfpj("run", nb, "--launcher", launcher, store=store, env=run_env())
        out = interrupt_when(runner, (tmp_path / "own.pid").exists)
        assert runner.returncode != 0, out
        assert_ended(tmp_path)
        assert states(show(store)) == {"bg": "CANCELLED"}


def test_a_killed_runner_leaves_no_process_of_a_forked_step(tmp_path: Path) -> None:
    """kill -9 of the runner: the fork server, seeing its end of the pipe close, ends its steps
    and what is left of their sessions."""
    nb = own_group_notebook(tmp_path / "bg.ipynb", "time.sleep(300)")
    with killed_after(tmp_path):
        runner = start_kfpj("run", nb, "--launcher", "fork", store=tmp_path / "store")
        try:
            wait_for((tmp_path / "own.pid").exists, 90, every=0.05)
        finally:
            runner.kill()
            runner.communicate(timeout=30)
        assert_ended(tmp_path)


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_step_uses_its_own_tmpdir_even_if_the_imports_looked_it_up(
    tmp_path: Path, launcher: str
) -> None:
    nb = make_notebook(
        tmp_path / "tmp.ipynb",
        [
            code("import json, os, tempfile\ntempfile.gettempdir()", "imports"),
            code(
                "seen = {'tempdir': tempfile.gettempdir(), 'TMPDIR': os.environ['TMPDIR']}\n"
                "with tempfile.NamedTemporaryFile(delete=False) as f:\n"
                "    seen['file'] = f.name\n"
                "with open('seen.json', 'w') as f:\n"
                "    json.dump(seen, f)",
                "step:probe",
            ),
        ],
    )
    p = kfpj_run(nb, tmp_path / "store", launcher)
    assert p.returncode == 0, p.stdout + p.stderr
    seen = json.loads((tmp_path / "seen.json").read_text())
    scratch = seen["TMPDIR"]
    assert str(tmp_path / "store") in scratch  # the step's scratch folder, not /tmp
    assert seen["tempdir"] == scratch
    assert os.path.dirname(seen["file"]) == scratch


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_what_the_imports_read_from_the_environment_is_as_in_a_step(
    tmp_path: Path, launcher: str
) -> None:
    """A module imported once for all steps reads the step environment's defaults, as
    matplotlib reads MPLBACKEND (Agg for every step) when imported."""
    (tmp_path / "probe.py").write_text("import os\nBACKEND = os.environ.get('MPLBACKEND')\n")
    nb = make_notebook(
        tmp_path / "env.ipynb",
        [
            code("import os\nimport probe", "imports"),
            code(
                "with open('backend.txt', 'w') as f:\n"
                "    f.write(f\"{probe.BACKEND} {os.environ.get('MPLBACKEND')}\")",
                "step:probe_env",
            ),
        ],
    )
    p = kfpj_run(nb, tmp_path / "store", launcher)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "backend.txt").read_text() == "Agg Agg"
