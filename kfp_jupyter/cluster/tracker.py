"""From what a cluster reports about a run to the task events a local run publishes.

Each backend reads its server's own picture (KFP's run details, an Argo Workflow's status.nodes)
into a RunSnapshot: the run's state and one TaskSnapshot per step of the notebook, in our state
names. The Tracker compares each snapshot with the last one and publishes a TaskEvent for every
step that changed, so front ends (the terminal table, the widget) draw a cluster run exactly as
they draw a local one, and never see the server's vocabulary.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ..engine import states
from ..engine.events import EventBus, RunEvent, TaskEvent

if TYPE_CHECKING:
    from .steplogs import StepFailure


@dataclass(frozen=True)
class TaskSnapshot:
    state: str
    attempt: int = 0
    started: float | None = None
    finished: float | None = None
    exit_code: int | None = None
    message: str | None = None


@dataclass(frozen=True)
class RunSnapshot:
    state: str
    tasks: dict[str, TaskSnapshot] = field(default_factory=dict)
    message: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in states.TERMINAL


def _key(t: TaskSnapshot) -> tuple[object, ...]:
    """What makes a change worth an event: not a pending task's creation time, say."""
    started = t.started if t.state == states.RUNNING else None
    return (t.state, t.attempt, started, t.finished, t.exit_code, t.message)


class Tracker:
    """Turns a sequence of snapshots into events on a bus; remembers the last state of each step."""

    def __init__(self, run_id: str, steps: Iterable[str], bus: EventBus) -> None:
        self.run_id = run_id
        self.steps = list(steps)
        self.bus = bus
        self.tasks: dict[str, TaskSnapshot] = {}
        self.state: str | None = None
        self.message: str | None = None
        #: why failed steps failed, from their pods' logs (`explain` adds them as they fail)
        self.failures: dict[str, StepFailure] = {}

    def explain(self, failure: StepFailure) -> None:
        """Attach what a failed step's log says; its FAILED event then carries it."""
        self.failures[failure.step] = failure

    def _explained(self, step: str, t: TaskSnapshot) -> TaskSnapshot:
        failure = self.failures.get(step)
        if t.state != states.FAILED or failure is None:
            return t
        return replace(t, message=failure.summary(t.message))

    def start(self) -> None:
        now = time.time()
        self.bus.publish(RunEvent(self.run_id, states.RUNNING, now))
        for step in self.steps:
            self.tasks[step] = TaskSnapshot(states.PENDING)
            self.bus.publish(TaskEvent(self.run_id, step, states.PENDING, now))

    def update(self, snap: RunSnapshot) -> None:
        now = time.time()
        for step in self.steps:
            new = snap.tasks.get(step)
            if new is None:
                continue
            new = self._explained(step, new)
            old = self.tasks.get(step)
            if old is not None and _key(old) == _key(new):
                self.tasks[step] = new
                continue
            if (
                old is not None
                and old.state in states.TERMINAL
                and new.state in states.ACTIVE
                and new.attempt <= old.attempt
            ):
                continue  # a late, stale read after the end: keep the end
            self.tasks[step] = new
            self._publish(step, new, now)
        self.state = snap.state
        self.message = snap.message

    def _publish(self, step: str, t: TaskSnapshot, now: float) -> None:
        failure = self.failures.get(step) if t.state == states.FAILED else None
        self.bus.publish(
            TaskEvent(
                self.run_id,
                step,
                t.state,
                now,
                attempt=t.attempt,
                started=t.started,
                finished=t.finished,
                exit_code=t.exit_code,
                message=t.message,
                log_tail=failure.log_tail if failure else None,
                error=failure.error if failure else None,
            )
        )

    def failed_steps(self) -> list[str]:
        return [s for s in self.steps if self.tasks.get(s, TaskSnapshot("")).state == states.FAILED]

    def finish(self, snap: RunSnapshot) -> str:
        """Publish the end: steps that never ran are SKIPPED (or CANCELLED), then the run's state."""
        self.update(snap)
        now = time.time()
        final = snap.state
        leftover = states.CANCELLED if final == states.CANCELLED else states.SKIPPED
        for step in self.steps:
            t = self.tasks.get(step)
            if t is None or t.state not in states.TERMINAL:
                reason = "the run was cancelled" if final == states.CANCELLED else "never started"
                if t is not None and t.state == states.RUNNING:
                    reason = f"still running when the run ended {final.lower()}"
                done = TaskSnapshot(
                    leftover, t.attempt if t else 0, t.started if t else None, now, None, reason
                )
                self.tasks[step] = done
                self._publish(step, done, now)
        failed = self.failed_steps()
        message = snap.message
        if final != states.SUCCEEDED and failed:
            named = ", ".join(f"'{s}'" for s in failed)
            first = self.tasks[failed[0]].message
            message = f"task {named} failed" if len(failed) == 1 else f"tasks {named} failed"
            if first:
                message += f": {first}"
            # the run's own message then only restates it ("child 'wf-123' failed")
        self.state, self.message = final, message
        self.bus.publish(RunEvent(self.run_id, final, now, message, dict(snap.metrics)))
        return final
