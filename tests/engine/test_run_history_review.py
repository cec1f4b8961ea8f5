"""The local run history as a user reads it: a step cached from a run that had itself taken it
from the cache names the run that ran it (also in a history written before that was recorded);
an empty run id is refused instead of matching every run; a resumed run's "took" is the time it
was running, not the wait for its resume."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from engine_support import WAITED_S, failed_long_ago, kfpj, show, tasks, ts
from nbutil import code, make_notebook

from kfp_jupyter.engine import resume_local
from kfp_jupyter.errors import UsageError


def _two_steps(path: Path) -> Path:
    return make_notebook(
        path,
        [code("rows = [1, 2, 3]", "step:make"), code("total = sum(rows)", "step:use", "prev:make")],
    )


def _run(nb: Path, store: Path) -> tuple[str, str]:
    """(the run's id, its printed output)"""
    p = kfpj("run", nb, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    return str(show(store)["id"]), p.stdout


def _reused_from(text: str) -> set[str]:
    return set(re.findall(r"reused from run (\w+)", text))


def test_a_step_cached_again_names_the_run_that_ran_it(tmp_path: Path) -> None:
    store, nb = tmp_path / "store", _two_steps(tmp_path / "nb.ipynb")
    first, _ = _run(nb, store)
    second, printed = _run(nb, store)
    assert _reused_from(printed) == {first}
    third, printed = _run(nb, store)
    assert third not in (first, second)
    assert _reused_from(printed) == {first}  # the run's live output
    shown = kfpj("runs", "show", third, store=store)
    assert shown.returncode == 0 and _reused_from(shown.stdout) == {first}, shown.stdout
    logs = kfpj("runs", "logs", third, "make", store=store)
    assert logs.returncode == 0 and _reused_from(logs.stderr) == {first}, logs.stderr


def test_a_step_reused_after_gc_names_a_run_that_can_be_shown(tmp_path: Path) -> None:
    """`runs gc` removed the run that ran the step: the next run names the kept run it takes
    the outputs from, and `runs logs` says the log went with the removed run."""
    store, nb = tmp_path / "store", _two_steps(tmp_path / "nb.ipynb")
    first, _ = _run(nb, store)
    second, _ = _run(nb, store)
    third, _ = _run(nb, store)
    gc = kfpj("runs", "gc", "--keep", "2", store=store)
    assert gc.returncode == 0 and "removed 1 run(s)" in gc.stdout, gc.stdout + gc.stderr
    assert kfpj("runs", "show", first, store=store).returncode == 2

    fourth, printed = _run(nb, store)
    (named,) = _reused_from(printed)
    assert named in (second, third), printed
    shown = kfpj("runs", "show", named, store=store)
    assert shown.returncode == 0 and named in shown.stdout, shown.stderr
    assert _reused_from(kfpj("runs", "show", fourth, store=store).stdout) == {named}

    for run, origin, why in (
        (fourth, named, f"run {named} had itself reused it from a run that `runs gc` removed"),
        (third, first, f"`runs gc` removed run {first}"),
    ):
        logs = kfpj("runs", "logs", run, "make", store=store)
        assert logs.returncode == 2 and "Traceback" not in logs.stderr, logs.stderr
        assert "its log follows" not in logs.stderr, logs.stderr
        assert f"reused from run {origin}, and its log is gone: {why}" in logs.stderr


def test_an_older_history_is_read_with_the_run_that_ran_each_step(tmp_path: Path) -> None:
    """A history written before the origin was recorded: each cached task named (and pointed
    at) the task it was taken from. Opening it names the run that made the outputs."""
    store, nb = tmp_path / "store", _two_steps(tmp_path / "nb.ipynb")
    first, _ = _run(nb, store)
    second, _ = _run(nb, store)
    third, _ = _run(nb, store)
    with sqlite3.connect(store / "history.db") as db:
        db.execute(
            "UPDATE tasks SET message = 'reused from run ' || ?, cached_from = (SELECT s.id "
            "FROM tasks s WHERE s.run_id = ? AND s.name = tasks.name) WHERE run_id = ?",
            (second, second, third),
        )
        for table, column in (
            ("tasks", "cached_run"),
            ("runs", "attempts"),
            ("runs", "resumed"),
            ("runs", "ran_before"),
        ):
            db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        db.execute("UPDATE schema_version SET version = 1")
    shown = kfpj("runs", "show", third, store=store)
    assert shown.returncode == 0, shown.stderr
    assert _reused_from(shown.stdout) == {first}, shown.stdout
    logs = kfpj("runs", "logs", third, "use", store=store)
    assert logs.returncode == 0 and _reused_from(logs.stderr) == {first}, logs.stderr
    _, printed = _run(nb, store)
    assert _reused_from(printed) == {first}


@pytest.mark.parametrize(
    "args",
    [
        ("runs", "show", ""),
        ("runs", "show", "  "),
        ("runs", "logs", "", "make"),
        ("runs", "resume", ""),
        ("artifacts", "get", " ", "make", "rows"),
    ],
)
def test_an_empty_run_id_is_refused(tmp_path: Path, args: tuple[str, ...]) -> None:
    store = tmp_path / "store"
    make_notebook(tmp_path / "nb.ipynb", [code("rows = [1]", "step:make")])
    assert kfpj("run", tmp_path / "nb.ipynb", store=store).returncode == 0
    p = kfpj(*args, store=store)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "the run id is empty: give a run id" in p.stderr and "`latest`" in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_the_python_api_refuses_an_empty_run_id(tmp_path: Path) -> None:
    store = tmp_path / "store"
    make_notebook(tmp_path / "nb.ipynb", [code("rows = [1]", "step:make")])
    assert kfpj("run", tmp_path / "nb.ipynb", store=store).returncode == 0
    with pytest.raises(UsageError, match="the run id is empty"):
        resume_local("", store=store)


def _listed(store: Path) -> dict[str, Any]:
    p = kfpj("runs", "list", "--json", store=store)
    assert p.returncode == 0, p.stderr
    (entry,) = json.loads(p.stdout)
    assert isinstance(entry, dict)
    return entry


def test_a_resumed_run_took_the_time_it_was_running(tmp_path: Path) -> None:
    _, store, marker = failed_long_ago(tmp_path)
    before = _listed(store)["duration"]
    marker.unlink()
    resumed = kfpj("runs", "resume", "latest", store=store)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    entry = _listed(store)
    assert entry["state"] == "SUCCEEDED" and entry["attempts"] == 2 and entry["resumed"]
    assert before < entry["duration"] < WAITED_S / 2
    shown = kfpj("runs", "show", "latest", store=store).stdout
    took = re.search(r"took (\S+) over 2 attempts, last resumed \d{4}-", shown)
    assert took is not None, shown
    table = kfpj("runs", "list", store=store).stdout
    assert took.group(1) in table.splitlines()[1].split(), table

    # a history made again from the runs' records keeps it
    (store / "history.db").rename(store / "old.db")
    for suffix in ("-wal", "-shm"):
        (store / f"history.db{suffix}").unlink(missing_ok=True)
    again = _listed(store)
    assert (again["duration"], again["attempts"]) == (entry["duration"], 2)


def test_a_step_reused_from_another_notebook_names_that_notebook(tmp_path: Path) -> None:
    """Two copies of a notebook in two folders share a store: the second reuses the first's
    steps (a data file read by path is not in the key), and says from which notebook."""
    store = tmp_path / "store"
    for project in ("proj_a", "proj_b"):
        (tmp_path / project).mkdir()
    first_nb = _two_steps(tmp_path / "proj_a" / "exp.ipynb")
    second_nb = _two_steps(tmp_path / "proj_b" / "exp.ipynb")
    first, _ = _run(first_nb, store)
    _, printed = _run(first_nb, store)
    assert _reused_from(printed) == {first} and " of " not in printed  # the same notebook
    _, printed = _run(second_nb, store)
    assert f"reused from run {first} of {first_nb}" in printed, printed


#: how long the killed step had been running, as its log's last write shows
STEP_RAN_S = 30.0


def _runner_died_long_ago(store: Path) -> None:
    """The run in `store` as its runner left it when it was killed an hour ago, in its second
    step: RUNNING, owned by a process of this host that no longer exists."""
    from kfp_jupyter.engine.procinfo import RunnerId

    with sqlite3.connect(store / "history.db") as db:
        db.execute(
            "UPDATE runs SET state = 'RUNNING', message = NULL, finished = NULL, "
            "runner_host = ?, runner_pid = ?, runner_token = NULL",
            (RunnerId.current().host, 2**22 + 12345),
        )
        db.execute(
            "UPDATE tasks SET state = 'RUNNING', finished = NULL, exit_code = NULL, "
            "message = NULL WHERE name = 'use'"
        )
        started, log = db.execute("SELECT started, log FROM tasks WHERE name = 'use'").fetchone()
    # the step wrote its last log line STEP_RAN_S after it started, an hour ago
    os.utime(log, (started + STEP_RAN_S, started + STEP_RAN_S))


def test_a_run_whose_runner_died_ended_when_it_was_last_seen_working(tmp_path: Path) -> None:
    """The reader that finds the dead runner an hour later does not count that hour as the
    run's running time, neither for the interrupted run nor once it is resumed."""
    _, store, marker = failed_long_ago(tmp_path)
    _runner_died_long_ago(store)

    entry = _listed(store)
    assert entry["state"] == "INTERRUPTED" and entry["attempts"] == 1
    assert STEP_RAN_S <= entry["duration"] < WAITED_S / 2, entry  # its step's log says it ran
    assert "stopped before the run ended" in entry["message"]
    shown = kfpj("runs", "show", "latest", "--json", store=store)
    assert shown.returncode == 0, shown.stderr
    use = tasks(json.loads(shown.stdout))["use"]
    assert use["state"] == "INTERRUPTED" and ts(use["finished"]) < time.time() - WAITED_S / 2

    marker.unlink()
    resumed = kfpj("runs", "resume", "latest", store=store)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    entry = _listed(store)
    assert entry["state"] == "SUCCEEDED" and entry["attempts"] == 2
    assert entry["duration"] < WAITED_S / 2, entry
    text = kfpj("runs", "show", "latest", store=store).stdout
    took = re.search(r"took (\S+) over 2 attempts", text)
    assert took is not None and not took.group(1).endswith("h"), text
