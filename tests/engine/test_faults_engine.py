"""Faults and hostile input for the local engine: nothing lost, nothing leaked, nothing hangs.

Each test drives the real `kfp-jupyter` command in a subprocess and checks what a user would see:
the exit status, the one-line message, the run's record, and the processes and files left over.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_support import kfpj, pid_alive, show, states
from nbutil import code, make_notebook

pytestmark = pytest.mark.faults

LAUNCHERS = ["fork", "subprocess"]


# --- helpers ------------------------------------------------------------------------------------


def background_notebook(path: Path, then: str = "x = 1") -> Path:
    """One step that starts `sleep 120` in the background, writes its pid to pid.txt (next to
    the notebook: steps run there), and then runs `then`."""
    return make_notebook(
        path,
        [
            code("import subprocess", "imports"),
            code(
                "p = subprocess.Popen(['sleep', '120'])\n"
                "with open('pid.txt', 'w') as f:\n"
                "    f.write(str(p.pid))\n" + then,
                "step:bg",
            ),
        ],
    )


@contextlib.contextmanager
def killed_after(pidfile: Path) -> Iterator[None]:
    """Kill the process whose pid a step wrote to `pidfile` at the end, whatever the test
    found, so that a failing test leaks nothing either."""
    try:
        yield
    finally:
        if pidfile.is_file():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


def runs_show_text(store: Path) -> str:
    p = kfpj("runs", "show", "latest", store=store)
    assert p.returncode == 0, p.stderr
    return p.stdout


# --- 1. a step's background processes end with it -----------------------------------------------


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_background_process_of_a_step_is_ended_and_recorded(tmp_path: Path, launcher: str) -> None:
    nb = background_notebook(tmp_path / "bg.ipynb")
    store = tmp_path / "store"
    with killed_after(tmp_path / "pid.txt"):
        p = kfpj("run", nb, "--launcher", launcher, store=store)
        assert p.returncode == 0, p.stdout + p.stderr
        pid = int((tmp_path / "pid.txt").read_text())
        assert not pid_alive(pid), f"the step's `sleep` (pid {pid}) outlived the run"
        note = f"ended 1 leftover process: sleep (pid {pid})"
        assert note in p.stdout  # said while the run ran
        assert states(show(store)) == {"bg": "SUCCEEDED"}  # its code succeeded
        assert note in runs_show_text(store)  # and kept in the step's record
        log = kfpj("runs", "logs", "latest", "bg", store=store)
        assert note in log.stdout


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_background_process_of_a_failing_step_is_ended(tmp_path: Path, launcher: str) -> None:
    nb = background_notebook(tmp_path / "bg.ipynb", then="raise ValueError('boom')")
    store = tmp_path / "store"
    with killed_after(tmp_path / "pid.txt"):
        p = kfpj("run", nb, "--launcher", launcher, store=store)
        assert p.returncode == 1, p.stdout + p.stderr
        pid = int((tmp_path / "pid.txt").read_text())
        assert not pid_alive(pid), f"the failed step's `sleep` (pid {pid}) outlived the run"
        assert states(show(store)) == {"bg": "FAILED"}
        text = runs_show_text(store)
        assert "exited with code 1" in text
        assert f"ended 1 leftover process: sleep (pid {pid})" in text


# --- 2. an artifact changed in the store is never reused as the original ------------------------


def two_step_notebook(path: Path, factor: int = 10) -> Path:
    """make -> use: `make` stores data = {'v': 1}; `use` logs the metric total = v * factor."""
    return make_notebook(
        path,
        [
            code("import json", "imports"),
            code("data = {'v': 1}", "step:make"),
            code(f"total = data['v'] * {factor}", "step:use", "prev:make"),
            code("total", "pipeline-metrics"),
        ],
    )


def edit_stored_artifact(store: Path, variable: str, text: str) -> Path:
    """What a user might do by hand: make a stored file writable and change its bytes."""
    (path,) = store.glob(f"artifacts/*/*/{variable}.*")
    path.chmod(0o644)
    path.write_text(text, encoding="utf-8")
    return path


def test_changed_artifact_is_reported_by_artifacts_get(tmp_path: Path) -> None:
    nb = two_step_notebook(tmp_path / "ab.ipynb")
    store = tmp_path / "store"
    assert kfpj("run", nb, store=store).returncode == 0
    edit_stored_artifact(store, "data", '{"v": 5}')
    out = tmp_path / "out.json"
    p = kfpj("artifacts", "get", "latest", "make", "data", "-o", out, store=store)
    assert p.returncode == 2, p.stderr
    assert "does not match its digest" in p.stderr and "make/data" in p.stderr
    assert "wrote" not in p.stderr and "Traceback" not in p.stderr
    assert not out.exists()


def test_changed_artifact_is_not_reused_by_a_cached_run(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = kfpj("run", two_step_notebook(tmp_path / "ab.ipynb"), store=store)
    assert first.returncode == 0, first.stdout + first.stderr
    edit_stored_artifact(store, "data", '{"v": 5}')
    # `use` changed, so it runs; `make` did not, so its (edited) output would be reused
    p = kfpj("run", two_step_notebook(tmp_path / "ab.ipynb", factor=100), store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    summary = show(store)
    assert summary["metrics"] == {"total": 100.0}  # computed from the original bytes, v = 1
    assert states(summary) == {"make": "SUCCEEDED", "use": "SUCCEEDED"}  # make ran again
    warning = "the stored output 'data' of step 'make'"
    assert any(warning in line and "warning" in line for line in p.stderr.splitlines())
    assert "was not reused" in runs_show_text(store)
    # the store holds the original bytes again, under their digest
    got = kfpj("artifacts", "get", "latest", "make", "data", "-o", tmp_path / "d.json", store=store)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "d.json").read_text() == '{"v": 1}'


def test_changed_artifact_of_a_finished_step_is_made_again_on_resume(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "ab.ipynb",
        [
            code("import os", "imports"),
            code("data = {'v': 1}", "step:make"),
            code(
                "assert not os.path.exists('fail-once')\ntotal = data['v'] * 10",
                "step:use",
                "prev:make",
            ),
            code("total", "pipeline-metrics"),
        ],
    )
    store = tmp_path / "store"
    (tmp_path / "fail-once").touch()  # steps run in the notebook's folder
    assert kfpj("run", nb, store=store).returncode == 1
    (tmp_path / "fail-once").unlink()
    edit_stored_artifact(store, "data", '{"v": 5}')
    p = kfpj("runs", "resume", "latest", store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    summary = show(store)
    assert summary["metrics"] == {"total": 10.0}  # from the original bytes, v = 1
    assert "the stored output 'data' of step 'make'" in p.stderr
    assert "was not reused" in runs_show_text(store)


# --- 3. a damaged history names the file and what to do -----------------------------------------


def _truncate(db: Path) -> None:
    db.write_bytes(db.read_bytes()[:3000])


def _scramble(db: Path) -> None:
    db.write_bytes(os.urandom(5000))


@pytest.mark.parametrize("damage", [_truncate, _scramble], ids=["truncated", "random-bytes"])
def test_damaged_history_says_which_file_and_what_to_do(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    nb = two_step_notebook(tmp_path / "ab.ipynb")
    store = tmp_path / "store"
    assert kfpj("run", nb, store=store).returncode == 0
    first = show(store)
    got = kfpj("artifacts", "get", first["id"], "make", "data", "-o", tmp_path / "a", store=store)
    assert got.returncode == 0, got.stderr
    db = store / "history.db"
    for sidecar in (store / "history.db-wal", store / "history.db-shm"):
        sidecar.unlink(missing_ok=True)
    damage(db)
    for args in (("runs", "list"), ("runs", "show", "latest"), ("run", nb)):
        p = kfpj(*args, store=store)
        assert p.returncode == 2, (args, p.stderr)
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, p.stderr
        assert f"the run history {db} is damaged" in lines[0]
        assert "Move it aside" in lines[0] and "internal error" not in p.stderr
    # doing what it says works: the finished run is indexed again from its record, with its
    # tasks, metrics, artifacts and cache
    db.rename(tmp_path / "history.db.damaged")
    assert list(store.glob("artifacts/*/*/data.json"))
    assert show(store, first["id"]) == first
    again = kfpj("artifacts", "get", first["id"], "make", "data", "-o", tmp_path / "b", store=store)
    assert again.returncode == 0 and again.stdout == got.stdout, again.stderr
    assert (tmp_path / "b").read_bytes() == (tmp_path / "a").read_bytes()
    p = kfpj("run", nb, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    second = show(store)
    assert second["id"] != first["id"] and second["metrics"] == {"total": 10.0}
    assert states(second) == {"make": "CACHED", "use": "CACHED"}


# --- 4. an unusable --store is refused before anything is recorded ------------------------------


BAD_STORES = {
    "a-file": "{tmp}/afile",
    "under-a-file": "{tmp}/afile/store",
    "under-a-missing-folder": "{tmp}/missing/deeper/store",
    "s3-without-bucket": "s3://",
    # a folder that cannot be made, whoever runs the test (root too): /proc takes no new entries
    "cannot-be-made": "/proc/kfpj-store-{pid}",
}


@pytest.mark.parametrize("kind", list(BAD_STORES))
def test_unusable_store_is_refused_and_nothing_is_recorded(tmp_path: Path, kind: str) -> None:
    work = tmp_path / "work"
    nb = two_step_notebook(work / "ab.ipynb")
    (work / ".git").mkdir()  # the default store would be work/.kfp-jupyter
    (tmp_path / "afile").write_text("not a store")
    store = BAD_STORES[kind].format(tmp=tmp_path, pid=os.getpid())
    env = {"KFP_JUPYTER_CACHE_DIR": str(tmp_path / "cache")}
    p = kfpj("run", nb, store=store, env=env, cwd=work)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert "internal error" not in p.stderr and store.rstrip("/") in lines[0]
    assert not list(tmp_path.rglob("history.db")), "a run was recorded somewhere"
    assert not (work / ".kfp-jupyter").exists()
    assert not (tmp_path / "missing").exists()
    assert (tmp_path / "afile").read_text() == "not a store"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_store_in_an_unwritable_folder_is_refused(tmp_path: Path) -> None:
    nb = two_step_notebook(tmp_path / "ab.ipynb")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        p = kfpj("run", nb, store=locked / "store", cwd=tmp_path)
        assert p.returncode == 2, p.stdout + p.stderr
        assert "read-only" in p.stderr and "internal error" not in p.stderr
        assert not list(tmp_path.rglob("history.db"))
    finally:
        locked.chmod(0o755)
