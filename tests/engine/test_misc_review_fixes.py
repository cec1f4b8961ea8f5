"""Local runs as the docs describe them: the default store outside a repository is the current
folder's, a host-exec container step's file_outputs stay in its own scratch folder, a run never
takes a negative time, and the summary's `runs logs` hint names the step its message names."""

from __future__ import annotations

import io
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from engine_support import CLI, kfpj, show, states
from nbutil import code, make_notebook

from kfp_jupyter.engine.events import RunEvent, TaskEvent
from kfp_jupyter.engine.progress import follow, print_summary
from kfp_jupyter.engine.store import STORE_ENV, default_store_location

# --- the default store


def _outside_any_repository(path: Path) -> None:
    if any((d / ".git").exists() for d in (path, *path.parents)):
        pytest.skip(f"{path} is inside a git repository")


def test_outside_a_repository_the_store_is_the_current_folders(tmp_path: Path) -> None:
    """A stray `.kfp-jupyter` in a parent folder (~ or /tmp) collects no unrelated project."""
    _outside_any_repository(tmp_path)
    stray = tmp_path / ".kfp-jupyter"
    stray.mkdir()
    project = tmp_path / "project"
    nb = make_notebook(
        project / "nb.ipynb", [code("x = 1", "step:a"), code("x", "pipeline-metrics")]
    )
    env = {k: v for k, v in os.environ.items() if k != STORE_ENV}
    p = subprocess.run(
        [*CLI, "run", "nb.ipynb"], cwd=project, env=env, capture_output=True, text=True, timeout=180
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"results: {project / '.kfp-jupyter'}" in p.stdout
    assert (project / ".kfp-jupyter" / "history.db").is_file()
    assert list(stray.iterdir()) == []
    assert nb.is_file()


def test_default_store_location_walks_up_only_inside_a_repository(tmp_path: Path) -> None:
    _outside_any_repository(tmp_path)
    (tmp_path / ".kfp-jupyter").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert default_store_location(tmp_path / "a" / "b") == tmp_path / "a" / "b" / ".kfp-jupyter"
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "a" / "b").mkdir(parents=True)
    assert default_store_location(repo / "a" / "b") == repo / ".kfp-jupyter"
    (repo / "a" / ".kfp-jupyter").mkdir()
    assert default_store_location(repo / "a" / "b") == repo / "a" / ".kfp-jupyter"
    # a worktree or submodule marks its top with a .git file
    sub = repo / "sub"
    (sub / "x").mkdir(parents=True)
    (sub / ".git").write_text("gitdir: ../.git/modules/sub\n")
    assert default_store_location(sub / "x") == sub / ".kfp-jupyter"


# --- file_outputs of a container step run with --host-exec


def test_host_exec_file_outputs_stay_in_the_steps_scratch_folder(tmp_path: Path) -> None:
    """Two container steps name the same fixed path: each gets its own file, and nothing is
    written at the path itself (another user's or another step's file)."""
    fixed = tmp_path / "shared" / "out.txt"
    fixed.parent.mkdir()

    def container(name: str, output: str) -> str:
        return (
            f"%%container {name} --image busybox:1.36\n"
            f"command: [sh, -c, 'echo {name} > {fixed}']\n"
            f"file_outputs: {{{output}: {fixed}}}"
        )

    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code(container("one", "first")),
            code(container("two", "second")),
            code(
                "got = open(first).read().strip() + '+' + open(second).read().strip()\n"
                "ok = float(got == 'one+two')",
                "step:check",
            ),
            code("ok", "pipeline-metrics"),
        ],
    )
    store = tmp_path / "store"
    p = kfpj("run", nb, "--host-exec", store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    assert show(store)["metrics"] == {"ok": 1.0}
    assert not fixed.exists()
    log = kfpj("runs", "logs", "latest", "one", store=store).stdout
    assert f"its file_outputs ({fixed}) are written under" in log


# --- how long a run took


def test_a_run_replayed_after_it_ended_never_took_negative_time() -> None:
    """The view is made after the run's events (a fast run, replayed to a late subscriber): the
    run's duration is from its own events, not from when the view was made."""
    t0 = time.time() - 100
    events = [
        RunEvent("r1", "RUNNING", t0),
        TaskEvent("r1", "a", "RUNNING", t0 + 0.1, attempt=1, started=t0 + 0.1),
        TaskEvent("r1", "a", "SUCCEEDED", t0 + 0.4, attempt=1, started=t0 + 0.1, finished=t0 + 0.4),
        RunEvent("r1", "SUCCEEDED", t0 + 0.5),
    ]
    buf = io.StringIO()
    view = follow(iter(events), buf, live=False)
    print_summary(view, "/store", buf, live=False)
    out = buf.getvalue()
    assert "run r1 SUCCEEDED in 0.5s" in out, out
    assert "   0.4s  a" in out, out  # each line's time is from the run's start
    assert "-" not in "".join(re.findall(r"-?\d+\.\ds", out))


# --- the hint after a failed run


def test_the_logs_hint_names_the_first_step_the_message_names(tmp_path: Path) -> None:
    """Two steps fail (`other` at once, `train` after `load`): the message names both, in the
    order they failed, and `runs logs` points at the first of them."""
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("x = 0", "step:load"),
            code("y = 1 / x", "step:train"),
            code("import sys\nsys.exit(3)", "step:other"),
        ],
    )
    store = tmp_path / "store"
    p = kfpj("run", nb, "--keep-going", store=store)
    assert p.returncode == 1, p.stdout + p.stderr
    said = re.search(r"^  steps '(\w+)' and '(\w+)' failed$", p.stdout, re.M)
    assert said is not None, p.stdout
    assert {said[1], said[2]} == {"train", "other"}
    hint = re.search(r"kfp-jupyter runs logs (\w+) (\w+)$", p.stdout, re.M)
    assert hint is not None and hint[2] == said[1], p.stdout
    assert states(show(store)) == {"load": "SUCCEEDED", "train": "FAILED", "other": "FAILED"}
