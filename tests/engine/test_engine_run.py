"""`kfp-jupyter run` and the history commands, as a user sees them: real processes, real store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from engine_support import (
    fan_out_notebook,
    kfpj,
    show,
    states,
    tasks,
    ts,
)
from nbutil import code, make_notebook


@pytest.mark.parametrize("launcher", ["fork", "subprocess"])
def test_fan_out_branches_run_in_parallel(tmp_path: Path, launcher: str) -> None:
    nb = fan_out_notebook(tmp_path / "fan.ipynb", sleep=1.5)
    store = tmp_path / "store"
    p = kfpj("run", nb, "--workers", "2", "--launcher", launcher, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCEEDED" in p.stdout
    assert "total=" in p.stdout and str(store) in p.stdout  # metrics and where results are
    summary = show(store)
    assert summary["state"] == "SUCCEEDED"
    assert summary["metrics"] == {"total": 12.0}  # (0+2+4) + (1+2+3)
    t = tasks(summary)
    left = (ts(t["left"]["started"]), ts(t["left"]["finished"]))
    right = (ts(t["right"]["started"]), ts(t["right"]["finished"]))
    # the two branches overlap in time: each started before the other finished
    assert left[0] < right[1] and right[0] < left[1], (left, right)
    assert max(left[0], right[0]) < min(left[1], right[1]) - 0.5
    assert ts(t["join"]["started"]) >= max(left[1], right[1])
    assert ts(t["left"]["started"]) >= ts(t["start"]["finished"])


def test_show_json_has_exactly_the_documented_shape(tmp_path: Path) -> None:
    nb = fan_out_notebook(tmp_path / "fan.ipynb", sleep=0)
    store = tmp_path / "store"
    assert kfpj("run", nb, "-p", "n=4", "--experiment", "shape", store=store).returncode == 0
    s = show(store)
    assert set(s) == {
        *("id", "experiment", "pipeline", "state", "message", "notebook", "created"),
        *("finished", "duration", "attempts", "resumed", "parameters", "metrics", "tasks"),
        "artifacts",
    }
    assert s["experiment"] == "shape"
    assert s["parameters"] == {"n": 4, "scale": 2.0}
    assert (s["notebook"], s["attempts"], s["resumed"]) == (str(nb.absolute()), 1, None)
    assert [t["name"] for t in s["tasks"]] == ["start", "left", "right", "join"]
    for t in s["tasks"]:
        assert set(t) == {
            *("name", "state", "cached", "attempts", "started", "finished", "exit_code"),
            *("message", "error"),
        }
        assert t == {**t, "state": "SUCCEEDED", "cached": False, "attempts": 1, "exit_code": 0}
        assert t["error"] is None
        ts(t["started"]), ts(t["finished"])  # ISO 8601
        assert t["started"].endswith("+00:00")
    assert show(store, s["id"][:4]) == s  # a unique prefix names the run


def test_second_run_is_cached_and_equal(tmp_path: Path) -> None:
    nb = fan_out_notebook(tmp_path / "fan.ipynb", sleep=1.0)
    store = tmp_path / "store"
    first = kfpj("run", nb, store=store)
    assert first.returncode == 0, first.stdout + first.stderr
    cold = show(store)
    second = kfpj("run", nb, store=store)
    assert second.returncode == 0, second.stdout + second.stderr
    warm = show(store)
    assert warm["id"] != cold["id"]
    assert set(states(warm).values()) == {"CACHED"}
    assert all(t["cached"] and t["attempts"] == 0 for t in warm["tasks"])
    assert warm["metrics"] == cold["metrics"]
    assert "4 cached" in second.stdout
    # nothing ran: the cached run took less than one of the sleeping steps
    finished = max(ts(t["finished"]) for t in warm["tasks"])
    started = min(ts(t["started"]) for t in warm["tasks"])
    assert finished - started < 0.9
    # a different parameter value is a different computation
    third = kfpj("run", nb, "-p", "scale=3", store=store)
    assert third.returncode == 0
    s3 = states(show(store))
    assert s3 == {"start": "CACHED", "left": "SUCCEEDED", "right": "CACHED", "join": "SUCCEEDED"}
    # --no-cache runs everything
    assert kfpj("run", nb, "--no-cache", store=store).returncode == 0
    assert set(states(show(store)).values()) == {"SUCCEEDED"}


def _chain(path: Path, prep: str) -> Path:
    return make_notebook(
        path,
        [
            code("data = list(range(10))", "step:load"),
            code(prep, "step:prep", "prev:load"),
            code("model = sum(clean) / len(clean)", "step:train", "prev:prep"),
            code("score = model * 2", "step:report", "prev:train"),
            code("other = len(data)", "step:other", "prev:load"),
            code("score\nother", "pipeline-metrics"),
        ],
    )


def test_editing_a_step_reruns_it_and_its_downstream_only(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = _chain(tmp_path / "chain.ipynb", "clean = [x for x in data if x > 2]")
    assert kfpj("run", nb, store=store).returncode == 0
    before = show(store)
    assert before["metrics"] == {"score": 12.0, "other": 10.0}

    _chain(nb, "clean = [x for x in data if x > 4]")  # the user edits one step
    assert kfpj("run", nb, store=store).returncode == 0
    after = show(store)
    assert states(after) == {
        "load": "CACHED",
        "prep": "SUCCEEDED",
        "train": "SUCCEEDED",
        "report": "SUCCEEDED",
        "other": "CACHED",
    }
    assert after["metrics"] == {"score": 14.0, "other": 10.0}

    # an edit that does not change what the step hands on re-runs that step alone:
    # downstream inputs are compared by content
    _chain(nb, "# keep the larger values\nclean = [x for x in data if x > 4]")
    assert kfpj("run", nb, store=store).returncode == 0
    assert states(show(store)) == {
        "load": "CACHED",
        "prep": "SUCCEEDED",
        "train": "CACHED",
        "report": "CACHED",
        "other": "CACHED",
    }


def _failing(path: Path) -> Path:
    return make_notebook(
        path,
        [
            code("import time", "imports"),
            code("rows = [1, 2, 3]", "step:load"),
            code(
                "print('checking rows')\nif len(rows) < 5:\n    raise ValueError('too few rows: 3')\nchecked = rows",
                "step:validate",
                "prev:load",
            ),
            code("result = sum(checked)", "step:use", "prev:validate"),
            code("time.sleep(2)\nslow = len(rows)", "step:slow", "prev:load"),
            code("after_slow = slow + 1", "step:after_slow", "prev:slow"),
        ],
    )


def test_failing_step_shows_its_log_and_skips_downstream(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = _failing(tmp_path / "fail.ipynb")
    p = kfpj("run", nb, "--workers", "2", store=store)
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout
    assert "validate" in out and "FAILED" in out
    assert "ValueError: too few rows: 3" in out  # the log's last lines
    assert "checking rows" in out
    assert "kfp-jupyter runs logs" in out
    s = show(store)
    assert s["state"] == "FAILED"
    t = tasks(s)
    assert t["validate"]["state"] == "FAILED" and t["validate"]["exit_code"] == 1
    assert t["use"]["state"] == "SKIPPED"
    # the independent branch that was running finishes; nothing new starts after the failure
    assert t["slow"]["state"] == "SUCCEEDED"
    assert t["after_slow"]["state"] == "SKIPPED" and t["after_slow"]["started"] is None
    logs = kfpj("runs", "logs", s["id"], "validate", store=store)
    assert logs.returncode == 0
    assert "checking rows" in logs.stdout and "ValueError: too few rows" in logs.stdout


def test_keep_going_finishes_independent_branches(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = _failing(tmp_path / "fail.ipynb")
    p = kfpj("run", nb, "--keep-going", store=store)
    assert p.returncode == 1
    t = tasks(show(store))
    assert t["validate"]["state"] == "FAILED"
    assert t["use"]["state"] == "SKIPPED"
    assert t["slow"]["state"] == "SUCCEEDED"
    assert t["after_slow"]["state"] == "SUCCEEDED"


def test_retry_succeeds_on_second_attempt(tmp_path: Path) -> None:
    store = tmp_path / "store"
    marker = tmp_path / "marker"
    nb = make_notebook(
        tmp_path / "retry.ipynb",
        [
            code(
                "import os\n"
                f"if not os.path.exists({str(marker)!r}):\n"
                f"    open({str(marker)!r}, 'w').close()\n"
                "    raise RuntimeError('flaky: first attempt fails')\n"
                "value = 41",
                "step:flaky",
                "retries:2",
            ),
            code("answer = value + 1", "step:after", "prev:flaky"),
            code("answer", "pipeline-metrics"),
        ],
    )
    p = kfpj("run", nb, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    s = show(store)
    t = tasks(s)
    assert t["flaky"]["state"] == "SUCCEEDED" and t["flaky"]["attempts"] == 2
    assert t["after"]["attempts"] == 1
    assert s["metrics"] == {"answer": 42.0}
    log = kfpj("runs", "logs", "latest", "flaky", store=store).stdout
    assert "flaky: first attempt fails" in log and "attempt 2 of 3" in log


def test_retries_exhausted_fail(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "never.ipynb",
        [code("raise SystemExit(3)", "step:never", "retries:1")],
    )
    p = kfpj("run", nb, store=store)
    assert p.returncode == 1
    t = tasks(show(store))["never"]
    assert t == {**t, "state": "FAILED", "attempts": 2, "exit_code": 3}
    assert "exited with code 3 (after 2 attempts)" in p.stdout


def test_timeout_stops_the_step(tmp_path: Path) -> None:
    store = tmp_path / "store"
    pidfile = tmp_path / "pid"
    nb = make_notebook(
        tmp_path / "slow.ipynb",
        [
            code(
                "import os, subprocess, time\n"
                # a grandchild in the step's process group is stopped too
                "child = subprocess.Popen(['sleep', '60'])\n"
                f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
                "print('started waiting')\n"  # unbuffered: in the log although killed
                "time.sleep(60)\n"
                "x = 1",
                "step:slow",
                "timeout:2",
            ),
        ],
    )
    p = kfpj("run", nb, store=store)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "timed out after 2 s" in p.stdout
    t = tasks(show(store))["slow"]
    assert t["state"] == "FAILED" and t["exit_code"] is not None and t["exit_code"] < 0
    assert ts(t["finished"]) - ts(t["started"]) < 15
    from engine_support import pid_alive, wait_for

    wait_for(lambda: not pid_alive(int(pidfile.read_text())), timeout=10)
    log = kfpj("runs", "logs", "latest", "slow", store=store).stdout
    assert "started waiting" in log and "timed out" in log


def test_unserialisable_variable_names_variable_type_and_step(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "gen.ipynb",
        [
            code("numbers = (i * i for i in range(5))", "step:make"),
            code("total = sum(numbers)", "step:consume", "prev:make"),
        ],
    )
    p = kfpj("run", nb, store=store)
    assert p.returncode == 1
    assert "'numbers'" in p.stdout and "generator" in p.stdout and "'make'" in p.stdout
    assert "inside the step that uses it" in p.stdout  # what to do about it
    t = tasks(show(store))
    assert t["make"]["state"] == "FAILED" and t["consume"]["state"] == "SKIPPED"


def test_invalid_input_runs_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = fan_out_notebook(tmp_path / "fan.ipynb", sleep=0)
    unknown = kfpj("run", nb, "-p", "nn=1", store=store)
    assert unknown.returncode == 2
    assert "unknown parameter 'nn'" in unknown.stderr and "n (int), scale (float)" in unknown.stderr
    bad = kfpj("run", nb, "-p", "n=three", store=store)
    assert bad.returncode == 2 and "'three' is not an int" in bad.stderr
    syntax = kfpj("run", nb, "-p", "n", store=store)
    assert syntax.returncode == 2
    broken = make_notebook(tmp_path / "broken.ipynb", [code("y = undefined_name + 1", "step:a")])
    p = kfpj("run", broken, store=store)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert not (store / "history.db").exists()  # nothing recorded, nothing run
    for cmd in (["runs", "list"], ["runs", "show", "latest"]):
        p = kfpj(*cmd, store=store)
        assert p.returncode == 2 and "no run history" in p.stderr


def test_parameters_are_typed(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "params.ipynb",
        [
            code(
                "k = 2\nrate = 0.5\nname = 'a'\nflag = False\nsizes = [1, 2]", "pipeline-parameters"
            ),
            code(
                "assert isinstance(k, int) and isinstance(rate, float) and isinstance(flag, bool)\n"
                "out = k * rate + len(name) + sum(sizes) + (10 if flag else 0)",
                "step:use",
            ),
            code("out", "pipeline-metrics"),
        ],
    )
    p = kfpj(
        "run",
        nb,
        "-p",
        "k=3",
        "-p",
        "rate=2",
        "-p",
        "name=abc",
        "-p",
        "flag=true",
        "-p",
        "sizes=[5, 5]",
        store=store,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    s = show(store)
    assert s["parameters"] == {"k": 3, "rate": 2.0, "name": "abc", "flag": True, "sizes": [5, 5]}
    assert s["metrics"] == {"out": 3 * 2.0 + 3 + 10 + 10}


def test_history_commands(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "arrays.ipynb",
        [
            code("import numpy as np", "imports"),
            code("matrix = np.arange(12).reshape(3, 4)\nprint('made', matrix.shape)", "step:make"),
            code("col_sums = matrix.sum(axis=0)", "step:reduce", "prev:make"),
        ],
    )
    assert kfpj("run", nb, "--experiment", "exp-a", store=store).returncode == 0
    assert kfpj("run", nb, "--experiment", "exp-b", store=store).returncode == 0
    listing = json.loads(kfpj("runs", "list", "--json", store=store).stdout)
    assert [r["experiment"] for r in listing] == ["exp-b", "exp-a"]  # newest first
    only_a = json.loads(kfpj("runs", "list", "--experiment", "exp-a", "--json", store=store).stdout)
    assert len(only_a) == 1 and only_a[0]["state"] == "SUCCEEDED"
    human = kfpj("runs", "list", store=store).stdout
    assert listing[0]["id"] in human and "exp-a" in human
    exps = json.loads(kfpj("experiments", "list", "--json", store=store).stdout)
    assert {e["name"]: e["runs"] for e in exps} == {"exp-a": 1, "exp-b": 1}
    assert "exp-b" in kfpj("experiments", "list", store=store).stdout
    shown = kfpj("runs", "show", only_a[0]["id"], store=store).stdout
    assert "make/matrix" in shown and "npy" in shown and "blake3:" in shown
    # a cached task's log is the log of the run that computed it
    logs = kfpj("runs", "logs", "latest", "make", store=store)
    assert "made (3, 4)" in logs.stdout and "reused from run" in logs.stderr
    out = tmp_path / "out" / "m.npy"
    got = kfpj("artifacts", "get", "latest", "make", "matrix", "-o", out, store=store)
    assert got.returncode == 0, got.stderr
    assert np.array_equal(np.load(out), np.arange(12).reshape(3, 4))
    missing = kfpj("artifacts", "get", "latest", "make", "nope", "-o", out, store=store)
    assert missing.returncode == 2 and "its outputs: matrix" in missing.stderr
    unknown = kfpj("runs", "show", "ffffffff", store=store)
    assert unknown.returncode == 2 and "no run" in unknown.stderr
    db = sqlite3.connect(store / "history.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_steps_run_in_the_notebook_folder_with_its_modules(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    # named like a module of the engine itself: the notebook's module must win
    (project / "runner.py").write_text("def double(x):\n    return 2 * x\n")
    (project / "data.csv").write_text("a\n1\n2\n")
    nb = make_notebook(
        project / "nb.ipynb",
        [
            code("from runner import double", "imports"),
            code("lines = open('data.csv').read().split()", "step:read"),
            code("doubled = double(len(lines))", "step:use", "prev:read"),
            code("doubled", "pipeline-metrics"),
        ],
    )
    for launcher in ("fork", "subprocess"):
        p = kfpj(
            "run", nb, "--no-cache", "--launcher", launcher, store=tmp_path / "store", cwd=tmp_path
        )
        assert p.returncode == 0, p.stdout + p.stderr
        assert show(tmp_path / "store")["metrics"] == {"doubled": 6.0}


def test_default_store_is_found_from_the_working_directory(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    nb = fan_out_notebook(repo / "notebooks" / "fan.ipynb", sleep=0)
    env = {"KFP_JUPYTER_STORE": ""}
    p = kfpj("run", nb, cwd=repo / "notebooks", env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (repo / ".kfp-jupyter" / "history.db").is_file()  # at the top of the repository
    listed = kfpj("runs", "list", "--json", cwd=repo, env=env)
    assert len(json.loads(listed.stdout)) == 1
    other = tmp_path / "elsewhere"
    other.mkdir()
    env2 = {"KFP_JUPYTER_STORE": str(other / "s")}
    assert kfpj("run", nb, env=env2, cwd=other).returncode == 0
    assert (other / "s" / "history.db").is_file()


def test_cache_needs_the_outputs_and_respects_cache_disabled(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "c.ipynb",
        [
            code("a = [1, 2, 3]", "step:make"),
            code("import random\nb = a + [random.random()]", "step:noisy", "cache:disabled"),
            code("c = len(b)", "step:count"),
        ],
    )
    assert kfpj("run", nb, store=store).returncode == 0
    assert kfpj("run", nb, store=store).returncode == 0
    # a step with caching disabled always runs; its (new) output re-runs what reads it
    assert states(show(store)) == {"make": "CACHED", "noisy": "SUCCEEDED", "count": "SUCCEEDED"}
    # outputs that are gone from the store cannot be reused
    import shutil

    shutil.rmtree(store / "artifacts")
    assert kfpj("run", nb, store=store).returncode == 0
    assert set(states(show(store)).values()) == {"SUCCEEDED"}


def test_a_terminal_gets_the_live_table(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess

    from engine_support import CLI

    nb = fan_out_notebook(tmp_path / "fan.ipynb", sleep=0.5)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, "run", str(nb), "--store", str(tmp_path / "store")],
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(120) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "steps done" in screen  # the live table's title, redrawn while the run goes on
    assert "\x1b[" in screen  # drawn with terminal control sequences
    assert "run " in screen and "SUCCEEDED" in screen
