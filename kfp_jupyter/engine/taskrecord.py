"""How a run's changes are written down: each task's state in the history and on the event bus,
and the run's record when it ends (a task's log and error go to the store from its worker,
attempt.py). Apart from the scheduling loop (runner.py), which decides what happens and in which
order; only its thread calls this, so the history and the events always change in that one order.

The history on this machine is what a run's state is; copying the run's record to the store is
best-effort, so a store that cannot be reached at the end of a run loses no run and fails none.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import states
from .attempt import failure_reason
from .events import EventBus, RunEvent, TaskEvent
from .history_rows import reused_message
from .report import run_summary
from .storebase import Store, shorten_record
from .storelayout import SPEC_SUFFIX

if TYPE_CHECKING:
    from .attempt import Result
    from .history import CacheHit, History
    from .runtask import Task
    from .steperror import StepError


@dataclass(eq=False)
class TaskRecorder:
    """Writes what becomes of the tasks of one run, and of the run itself."""

    history: History
    bus: EventBus
    store: Store
    run_id: str
    run_dir: Path

    def publish(self, t: Task, tail: str | None = None, error: StepError | None = None) -> None:
        self.bus.publish(
            TaskEvent(
                run_id=self.run_id,
                step=t.step.name,
                state=t.state,
                time=time.time(),
                attempt=t.attempts,
                started=t.started,
                finished=t.finished,
                cached=t.cached,
                exit_code=t.exit_code,
                message=t.message,
                log_tail=tail,
                log=str(t.log) if t.log else None,
                error=error,
            )
        )

    def set(
        self,
        t: Task,
        state: str,
        *,
        finished: float | None = None,
        exit_code: int | None = None,
        message: str | None = None,
        tail: str | None = None,
        error: StepError | None = None,
    ) -> None:
        """A task's new state: in the history first, then in memory and on the bus, so that a
        write that fails leaves the task as the history has it (and the runner's error path
        still sees it unfinished)."""
        finished = t.finished if finished is None else finished
        exit_code = t.exit_code if exit_code is None else exit_code
        self.history.update_task(
            t.row.id,
            state=state,
            finished=finished,
            exit_code=exit_code,
            message=message,
            attempts=t.attempts,
        )
        t.state, t.finished, t.exit_code, t.message = state, finished, exit_code, message
        self.publish(t, tail, error)

    def reuse(self, t: Task, hit: CacheHit) -> None:
        """The task takes the outputs of an earlier run's task instead of running. It names
        the run whose task made them (whose log and timings are real), not a run that had
        itself taken them from the cache; once `runs gc` removed that run, the run the outputs
        are taken from, so that the run named can still be shown."""
        now = time.time()
        outputs = {v: hit.artifacts[v].ref() for v in t.step.outputs}
        metrics = {m: hit.metrics[m] for m in t.step.metrics}
        origin = hit.origin_run if self.history.has_run(hit.origin_run) else hit.task.run_id
        made_by = self.history.notebook_of(origin)
        other = made_by if made_by != self.history.notebook_of(self.run_id) else None
        message = reused_message(origin, other)
        self.history.finish_task(
            t.row,
            {
                "state": states.CACHED,
                "cached": 1,
                "cached_from": hit.origin_task,
                "cached_run": origin,
                "cache_key": t.cache_key,
                "started": now,
                "finished": now,
                "attempts": 0,
                "exit_code": None,
                "log": hit.task.log,
                "message": message,
            },
            outputs,
            metrics,
        )
        t.outputs, t.metrics, t.cached, t.state = outputs, metrics, True, states.CACHED
        t.started = t.finished = now
        t.exit_code, t.attempts, t.message = None, 0, message
        t.log = Path(hit.task.log) if hit.task.log else None
        self.publish(t)

    def succeeded(self, t: Task, result: Result, *, finished: float, cache: bool = True) -> None:
        """The task's outputs and its SUCCEEDED state, in the one transaction (see runner.py);
        the task changes in memory only once that transaction is committed. `cache=False`: the
        outputs are not found by their cache key (the history keeps none for the task)."""
        message = t.with_notes(result.message)
        key = {} if cache else {"cache_key": None}
        self.history.finish_task(
            t.row,
            {
                "state": states.SUCCEEDED,
                "finished": finished,
                "exit_code": t.exit_code,
                "attempts": t.attempts,
                "message": message,
                "cached": 0,
                **key,
            },
            result.outputs,
            result.metrics,
        )
        t.outputs, t.metrics = result.outputs, result.metrics
        t.state, t.finished, t.message = states.SUCCEEDED, finished, message
        if not cache:
            t.cache_key = None
        self.publish(t)

    def finish_run(self, final: str, message: str | None) -> str | None:
        """Record how the run ended, leave its record in the store, then tell the listeners.
        Returns why the record could not be left in the store (the run is recorded all the same),
        or None."""
        now = time.time()
        self.history.set_run_state(self.run_id, final, message=message, finished=now)
        metrics = self.history.metrics(self.run_id)
        problem = None
        try:
            self._publish_summary()
        except Exception as e:
            problem = (
                f"the record of run {self.run_id} could not be copied to the store: "
                f"{failure_reason(e)}; the run is in this machine's history"
            )
        self.bus.publish(RunEvent(self.run_id, final, now, message, metrics))
        return problem

    def _publish_summary(self) -> None:
        if self.store.remote:  # the store describes itself there, without the database
            path = self.run_dir / "run.json"
            path.write_text(
                json.dumps(run_summary(self.history, self.run_id), indent=2), encoding="utf-8"
            )
            self.store.publish(path, f"runs/{self.run_id}/run.json")
        # The run as the history holds it: what indexes it again in a new history. Its version's
        # spec (every step's program) is kept once by content, and named here by its digest.
        data = self.history.export_run(self.run_id)
        version = data["version"]
        spec = version.pop("spec", None)
        if isinstance(spec, str):
            version["spec_sha256"] = self.store.keep_program(spec, SPEC_SUFFIX).stem
        shorten_record(data, self.store)
        record = self.run_dir / "record.json"
        record.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        self.store.publish(record, f"runs/{self.run_id}/record.json")
