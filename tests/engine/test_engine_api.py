"""The Python API front ends use: run_local(...) -> RunHandle, its events, waiting and cancelling."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from engine_support import fan_out_notebook
from nbutil import code, make_notebook

import kfp_jupyter
from kfp_jupyter import UsageError, load_notebook
from kfp_jupyter.engine import RunEvent, TaskEvent, resume_local, run_local
from kfp_jupyter.engine.progress import follow, print_summary


def test_events_arrive_as_they_happen_and_replay(tmp_path: Path) -> None:
    nb = fan_out_notebook(tmp_path / "fan.ipynb", sleep=0.5)
    handle = run_local(nb, {"n": 4}, store=tmp_path / "store", workers=2)
    assert handle.run_id and handle.state == "RUNNING"
    seen: list[tuple[float, object]] = []
    for e in handle.events():
        seen.append((time.monotonic(), e))
    assert handle.wait() == "SUCCEEDED" and handle.done
    events = [e for _, e in seen]
    assert isinstance(events[-1], RunEvent) and events[-1].state == "SUCCEEDED"
    assert events[-1].metrics == handle.metrics == {"total": 2 * 6 + 10}
    by_step: dict[str, list[str]] = {}
    for e in events:
        if isinstance(e, TaskEvent):
            by_step.setdefault(e.step, []).append(e.state)
    assert by_step["left"] == ["PENDING", "RUNNING", "SUCCEEDED"]
    # delivered live: the join's events come well after the start's
    t_start = next(
        t
        for t, e in seen
        if isinstance(e, TaskEvent) and e.step == "start" and e.state == "SUCCEEDED"
    )
    t_join = next(
        t
        for t, e in seen
        if isinstance(e, TaskEvent) and e.step == "join" and e.state == "SUCCEEDED"
    )
    assert t_join - t_start > 0.4
    # a late subscriber (a widget opened afterwards) gets the whole story
    assert [type(e) for e in handle.events()] == [type(e) for e in events]
    summary = handle.summary()
    assert summary["id"] == handle.run_id and summary["parameters"]["n"] == 4


def test_a_pipeline_object_is_accepted_and_exported(tmp_path: Path) -> None:
    assert kfp_jupyter.run_local is run_local
    pipeline = load_notebook(fan_out_notebook(tmp_path / "fan.ipynb", sleep=0))
    handle = run_local(pipeline, store=tmp_path / "store")
    assert handle.wait(120) == "SUCCEEDED"
    assert "RunHandle" in repr(handle)


def test_parameters_are_checked_before_anything_runs(tmp_path: Path) -> None:
    nb = fan_out_notebook(tmp_path / "fan.ipynb", sleep=0)
    store = tmp_path / "store"
    with pytest.raises(UsageError, match="unknown parameter 'm'"):
        run_local(nb, {"m": 1}, store=store)
    with pytest.raises(UsageError, match="must be a int"):
        run_local(nb, {"n": 1.5}, store=store)
    with pytest.raises(UsageError, match="is not an int"):
        run_local(nb, {"n": "x"}, store=store)
    with pytest.raises(UsageError, match="workers"):
        run_local(nb, store=store, workers=0)
    # every bad value is said, each also by its name (for a form's fields)
    with pytest.raises(UsageError) as bad:
        run_local(nb, {"n": "x", "m": 1, "scale": 2.5}, store=store)
    assert set(bad.value.fields) == {"n", "m"}
    assert "is not an int" in bad.value.fields["n"]
    assert "unknown parameter 'm'" in bad.value.fields["m"]
    assert str(bad.value).splitlines() == [bad.value.fields["n"], bad.value.fields["m"]]
    assert not store.exists()
    h = run_local(nb, {"scale": 1}, store=store)  # an int where a float is expected is fine
    assert h.wait(120) == "SUCCEEDED"
    assert h.summary()["parameters"]["scale"] == 1.0


def test_cancel_from_another_thread(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "long.ipynb",
        [code("import time\ntime.sleep(60)\nx = 1", "step:long"), code("y = x", "step:next")],
    )
    handle = run_local(nb, store=tmp_path / "store")
    for e in handle.events():
        if isinstance(e, TaskEvent) and e.state == "RUNNING":
            threading.Timer(0.2, handle.cancel).start()
    assert handle.wait(30) == "CANCELLED"
    assert {t["name"]: t["state"] for t in handle.summary()["tasks"]} == {
        "long": "CANCELLED",
        "next": "CANCELLED",
    }


def test_resume_local_of_a_failed_run(tmp_path: Path) -> None:
    flag = tmp_path / "ok"
    nb = make_notebook(
        tmp_path / "f.ipynb",
        [
            code("a = 1", "step:a"),
            code(
                f"import os\nassert os.path.exists({str(flag)!r}), 'flag missing'\nb = a + 1",
                "step:b",
                "prev:a",
            ),
        ],
    )
    store = tmp_path / "store"
    first = run_local(nb, store=store)
    assert first.wait(120) == "FAILED"
    flag.touch()
    again = resume_local(first.run_id, store=store)
    assert again.run_id == first.run_id
    assert again.wait(120) == "SUCCEEDED"
    kinds = {e.step: e.state for e in again.events() if isinstance(e, TaskEvent)}
    assert kinds == {"a": "SUCCEEDED", "b": "SUCCEEDED"}
    with pytest.raises(UsageError, match="already succeeded"):
        resume_local(first.run_id, store=store)


def _events() -> list[TaskEvent | RunEvent]:
    now = time.time()
    return [
        TaskEvent("r1", "load", "PENDING", now),
        TaskEvent("r1", "train", "PENDING", now),
        TaskEvent("r1", "load", "RUNNING", now, attempt=1, started=now),
        TaskEvent("r1", "load", "SUCCEEDED", now + 1, attempt=1, started=now, finished=now + 1),
        TaskEvent("r1", "train", "RUNNING", now + 1, attempt=1, started=now + 1),
        TaskEvent(
            "r1",
            "train",
            "FAILED",
            now + 2,
            attempt=1,
            started=now + 1,
            finished=now + 2,
            exit_code=1,
            message="exited with code 1",
            log_tail="Traceback\nKeyError: 'x'",
        ),
        RunEvent("r1", "FAILED", now + 2, "step 'train' failed"),
    ]


def test_progress_plain_lines() -> None:
    buf = io.StringIO()
    view = follow(iter(_events()), buf, live=False)
    print_summary(view, "/some/store", buf, live=False)
    out = buf.getvalue()
    lines = out.splitlines()
    assert any("load" in x and "SUCCEEDED" in x for x in lines)
    assert any("train" in x and "FAILED" in x and "exited with code 1" in x for x in lines)
    assert "    | KeyError: 'x'" in out
    assert "PENDING" not in out  # plain mode prints changes, not the initial state
    assert "run r1 FAILED" in out and "1 failed" in out
    assert "kfp-jupyter runs logs r1 train" in out and "kfp-jupyter runs resume r1" in out
    assert "results: /some/store" in out


def test_progress_live_table_on_a_terminal() -> None:
    buf = io.StringIO()
    view = follow(iter(_events()), buf, live=True)
    print_summary(view, "/some/store", buf, live=True)
    out = buf.getvalue()
    assert "step" in out and "state" in out  # the table's header
    assert "load" in out and "SUCCEEDED" in out and "FAILED" in out
    assert "2/2 steps done" in out
    assert "KeyError: 'x'" in out  # failures are repeated below the table
