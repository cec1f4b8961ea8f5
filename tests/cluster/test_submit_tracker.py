"""From a cluster's snapshots of a run to the events a local run publishes."""

from __future__ import annotations

from kfp_jupyter.cluster.tracker import RunSnapshot, TaskSnapshot, Tracker
from kfp_jupyter.engine.events import EventBus, RunEvent, TaskEvent


def run(snaps: list[RunSnapshot], steps=("a", "b", "c")) -> tuple[list, Tracker]:
    bus = EventBus()
    t = Tracker("r1", steps, bus)
    t.start()
    for s in snaps[:-1]:
        t.update(s)
    t.finish(snaps[-1])
    bus.close()
    return list(bus.subscribe()), t


def test_one_event_per_change_and_the_end():
    a_run = TaskSnapshot("RUNNING", 1, 10.0)
    a_ok = TaskSnapshot("SUCCEEDED", 1, 10.0, 12.0)
    events, t = run(
        [
            RunSnapshot("RUNNING", {"a": a_run}),
            RunSnapshot("RUNNING", {"a": a_run}),  # unchanged: no event
            RunSnapshot("RUNNING", {"a": a_ok, "b": TaskSnapshot("RUNNING", 1, 12.0)}),
            RunSnapshot("SUCCEEDED", {"a": a_ok, "b": TaskSnapshot("SUCCEEDED", 1, 12.0, 13.0),
                                      "c": TaskSnapshot("SUCCEEDED", 1, 13.0, 14.0)}, metrics={"m": 1.5}),
        ]
    )  # fmt: skip
    summary = [(type(e).__name__, getattr(e, "step", None), e.state) for e in events]
    assert summary == [
        ("RunEvent", None, "RUNNING"),
        ("TaskEvent", "a", "PENDING"),
        ("TaskEvent", "b", "PENDING"),
        ("TaskEvent", "c", "PENDING"),
        ("TaskEvent", "a", "RUNNING"),
        ("TaskEvent", "a", "SUCCEEDED"),
        ("TaskEvent", "b", "RUNNING"),
        ("TaskEvent", "b", "SUCCEEDED"),
        ("TaskEvent", "c", "SUCCEEDED"),
        ("RunEvent", None, "SUCCEEDED"),
    ]
    assert events[-1].metrics == {"m": 1.5}
    assert t.state == "SUCCEEDED" and t.message is None


def test_failure_names_the_task_and_skips_the_rest():
    events, t = run(
        [
            RunSnapshot("RUNNING", {"a": TaskSnapshot("RUNNING", 1, 1.0)}),
            RunSnapshot("FAILED", {"a": TaskSnapshot("FAILED", 1, 1.0, 2.0, 137, "OOMKilled")},
                        message="child failed"),
        ]
    )  # fmt: skip
    assert t.message == "task 'a' failed: OOMKilled"
    ends = {e.step: e for e in events if isinstance(e, TaskEvent)}
    assert ends["a"].state == "FAILED" and ends["a"].exit_code == 137
    assert ends["b"].state == ends["c"].state == "SKIPPED"
    assert ends["b"].message == "never started"
    assert isinstance(events[-1], RunEvent) and events[-1].message == t.message


def test_cancel_marks_unfinished_tasks_cancelled():
    events, t = run(
        [
            RunSnapshot("RUNNING", {"a": TaskSnapshot("RUNNING", 1, 1.0)}),
            RunSnapshot("CANCELLED", {"a": TaskSnapshot("RUNNING", 1, 1.0)}),
        ]
    )
    ends = {e.step: e.state for e in events if isinstance(e, TaskEvent)}
    assert ends == {"a": "CANCELLED", "b": "CANCELLED", "c": "CANCELLED"}
    assert t.state == "CANCELLED"


def test_a_stale_read_does_not_undo_an_end():
    events, _ = run(
        [
            RunSnapshot("RUNNING", {"a": TaskSnapshot("SUCCEEDED", 1, 1.0, 2.0)}),
            RunSnapshot("RUNNING", {"a": TaskSnapshot("RUNNING", 1, 1.0)}),
            RunSnapshot("SUCCEEDED", {"a": TaskSnapshot("SUCCEEDED", 1, 1.0, 2.0)}),
        ],
        steps=("a",),
    )
    assert [e.state for e in events if isinstance(e, TaskEvent)] == ["PENDING", "SUCCEEDED"]
