"""A metric that is not a finite number, a history write that fails, and `runs resume` of a run
started with --no-cache: each ends as the user would expect, with a consistent history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from engine_support import interrupt_when, kfpj, show, start_kfpj, states, tasks
from nbutil import code, make_notebook


def _metric_notebook(path: Path, value: str) -> Path:
    return make_notebook(
        path,
        [
            code("import math", "imports"),
            code(f"loss = {value}", "step:train"),
            code("loss", "pipeline-metrics"),
        ],
    )


def _shown_without_running_tasks(store: Path) -> str:
    """`runs show latest` as a user reads it, after checking that it lists no RUNNING task."""
    p = kfpj("runs", "show", "latest", store=store)
    assert p.returncode == 0, p.stderr
    assert "RUNNING" not in p.stdout, p.stdout
    assert "RUNNING" not in states(show(store)).values()
    return p.stdout


@pytest.mark.parametrize(("value", "shown_value"), [("float('nan')", "nan"), ("-math.inf", "-inf")])
def test_a_metric_that_is_not_finite_fails_its_step(
    tmp_path: Path, value: str, shown_value: str
) -> None:
    store = tmp_path / "store"
    nb = _metric_notebook(tmp_path / "m.ipynb", value)
    p = kfpj("run", nb, store=store)
    assert p.returncode == 1, p.stdout + p.stderr
    message = (
        f"metric 'loss' of step 'train' is {shown_value}: a pipeline metric must be a finite number"
    )
    assert message in p.stdout
    assert "internal error" not in p.stdout + p.stderr
    s = show(store)
    assert s["state"] == "FAILED" and s["metrics"] == {}
    assert states(s) == {"train": "FAILED"}
    shown = _shown_without_running_tasks(store)
    assert (
        "step 'train' failed" in shown
        and f"metric 'loss' of step 'train' is {shown_value}" in shown
    )
    assert list(store.glob("runs/*/record.json"))

    # the run can be resumed (it fails the same clear way), and the fixed notebook runs
    again = kfpj("runs", "resume", "latest", store=store)
    assert again.returncode == 1 and message in again.stdout, again.stdout + again.stderr
    _metric_notebook(nb, "0.25")
    fixed = kfpj("run", nb, store=store)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert show(store)["metrics"] == {"loss": 0.25}


def test_a_history_write_that_fails_leaves_no_task_running(tmp_path: Path) -> None:
    """The history refuses a task's metrics (a trigger stands for a disk that says no): the run
    ends in an internal error, and still no task of it is left RUNNING, and its record is kept."""
    store = tmp_path / "store"
    first = make_notebook(tmp_path / "first.ipynb", [code("x = 1", "step:a")])
    assert kfpj("run", first, store=store).returncode == 0
    with sqlite3.connect(store / "history.db") as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON metrics "
            "BEGIN SELECT RAISE(ABORT, 'metrics refused'); END"
        )
    nb = _metric_notebook(tmp_path / "m.ipynb", "0.5")
    p = kfpj("run", nb, store=store)
    assert p.returncode == 1
    assert "internal error: IntegrityError: metrics refused" in p.stderr
    s = show(store)
    assert s["state"] == "FAILED" and states(s) == {"train": "CANCELLED"}
    assert "internal error: IntegrityError: metrics refused" in _shown_without_running_tasks(store)
    assert (store / "runs" / s["id"] / "record.json").is_file()


def _changing_notebook(tmp: Path) -> Path:
    """a reads data.txt (and hangs once, when told to, so that its run can be cancelled while
    it runs); b passes on what a read; `size` tells which data the run saw."""
    hang, hung = tmp / "hang", tmp / "hung"
    return make_notebook(
        tmp / "data.ipynb",
        [
            code("import os, time", "imports"),
            code(
                f"text = open({str(tmp / 'data.txt')!r}).read()\n"
                f"if os.path.exists({str(hang)!r}) and not os.path.exists({str(hung)!r}):\n"
                f"    open({str(hung)!r}, 'w').close()\n"
                "    time.sleep(120)",
                "step:a",
            ),
            code("size = float(len(text))", "step:b", "prev:a"),
            code("size", "pipeline-metrics"),
        ],
    )


def test_resume_of_a_run_started_without_the_cache_does_not_use_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = _changing_notebook(tmp_path)
    (tmp_path / "data.txt").write_text("one")
    assert kfpj("run", nb, store=store).returncode == 0
    assert show(store)["metrics"] == {"size": 3.0}

    # the data changes; a run without the cache is cancelled while `a` runs
    (tmp_path / "data.txt").write_text("three")
    (tmp_path / "hang").touch()
    runner = start_kfpj("run", nb, "--no-cache", store=store)
    out = interrupt_when(
        runner,
        lambda: (tmp_path / "hung").exists() and tasks(show(store))["a"]["state"] == "RUNNING",
        90,
    )
    assert runner.returncode == 130, out
    cancelled = show(store)
    assert cancelled["state"] == "CANCELLED"

    # resumed as it was started: `a` runs again, rather than taking the first run's outputs
    p = kfpj("runs", "resume", cancelled["id"], store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    resumed = show(store, cancelled["id"])
    assert states(resumed) == {"a": "SUCCEEDED", "b": "SUCCEEDED"}
    assert resumed["metrics"] == {"size": 5.0}
