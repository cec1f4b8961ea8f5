"""Execute a Plan: parallel DAG scheduling, caching, retries, timeouts, keep-going, cancel, resume.

One scheduler thread owns all state and every history write (taskrecord.py writes them for
it); each running task has a worker thread (attempt.py) that only launches processes, waits for
them, stores their outputs and copies their logs to the store, then reports back on a queue (typed
messages, runtask.py). So the history and the events always change in one order, and slow work (a
big upload, a big log on a slow store, a step that ignores SIGTERM) never blocks scheduling.

Outputs of a step attempt are written to the run's scratch folder and enter the store only when
the attempt succeeded (content-addressed, atomically); the task row becomes SUCCEEDED in the same
transaction that records its artifacts. A runner killed at any moment therefore leaves either a
finished task with all its outputs or an unfinished one, never something in between.

The history on this machine says how the run went. Copying logs and the run's record to a remote
store is best-effort: a copy that fails is tried once more when the run ends, then named in a
warning (`notes`), and never fails a step or the run.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import states
from .attempt import (
    AttemptStarted,
    Note,
    TaskExecutor,
    Workers,
    copy_log,
    failure_reason,
    log_tail,
    safe_name,
)
from .cache import cache_key
from .events import EventBus, RunEvent
from .forkserver import make_launcher
from .launch import kill_group
from .plan import module_digests
from .procinfo import RUNNER_LOCK, hold_lock
from .runtask import Done, Message, Task
from .taskrecord import TaskRecorder

if TYPE_CHECKING:
    from .history import CacheHit, History
    from .launch import Launcher, Proc
    from .plan import Plan
    from .steperror import StepError
    from .storebase import Store
    from .storelayout import ArtifactRef

__all__ = ["RunOptions", "Runner", "log_tail", "safe_name"]


@dataclass(frozen=True)
class RunOptions:
    workers: int
    cache: bool = True
    keep_going: bool = False
    launcher: str = "fork"  # "fork" | "subprocess"
    python: str | None = None
    #: component and container steps: run their commands on this machine, without an image
    host_exec: bool = False
    #: resource steps: apply them with kubectl (its current context) instead of reporting them
    apply_resources: bool = False

    def to_json(self) -> dict[str, Any]:
        """The options kept in the run's record; not the interpreter, which is this machine's."""
        return {k: v for k, v in asdict(self).items() if k != "python"}


class Runner:
    def __init__(
        self,
        plan: Plan,
        store: Store,
        history: History,
        run_id: str,
        parameters: dict[str, Any],
        options: RunOptions,
        bus: EventBus,
        workdir: Path,
    ) -> None:
        self.plan = plan
        self.store = store
        self.history = history
        self.run_id = run_id
        self.parameters = parameters
        self.options = options
        self.bus = bus
        #: where steps run (the notebook's folder): relative paths mean what they mean there
        self.workdir = workdir
        self.run_dir = store.run_dir(run_id)
        self._queue: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._pool: Workers | None = None
        self._procs: dict[str, Proc] = {}
        #: the steps that failed, in the order they failed (the run's message and the summary's
        #: `runs logs` hint both name the first)
        self._failed: list[str] = []
        #: the logs (and errors) a worker could not copy to the store: tried again at the end
        self._uncopied: dict[str, tuple[Path, StepError | None]] = {}
        self._launcher: Launcher | None = None
        self._launcher_lock = threading.Lock()
        self.tasks: dict[str, Task] = {}
        self._record = TaskRecorder(history, bus, store, run_id, self.run_dir)
        # The episode makes scratch folders per runner: a step left running by a killed runner
        # (possible with cold processes) cannot write into the folder of the step's next attempt.
        self._executor = TaskExecutor(
            run_id=run_id,
            run_dir=self.run_dir,
            store=store,
            options=options,
            parameters=parameters,
            workdir=workdir,
            episode=secrets.token_hex(3),
            launcher=self._get_launcher,
            cancelled=self._cancel.is_set,
            post=self._queue.put,
            track=self._track,
        )
        self.state = states.RUNNING
        self.notes: list[str] = []
        # Held until the run ends: readers that cannot take it know the run is alive, whatever
        # its pid tells them (procinfo.py).
        self._held = hold_lock(self.run_dir / RUNNER_LOCK)

    # --- public -------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the run: running steps are stopped (their process groups), nothing new starts.

        Called again (a second Ctrl-C), it does not wait for the steps to honour SIGTERM: it
        kills their process groups before it returns, since its caller is about to quit and the
        threads that would have killed them quit with it."""
        if self._cancel.is_set():
            self._kill_steps()
        else:
            self._stop_steps()

    def _stop_steps(self) -> None:
        """SIGTERM, then SIGKILL after a grace, each step from a thread of its own: a step that
        ignores SIGTERM holds neither the caller nor the other steps."""
        if self._cancel.is_set():
            return
        self._cancel.set()
        for p in self._tracked():
            threading.Thread(target=p.stop, daemon=True).start()

    def _kill_steps(self) -> None:
        for p in self._tracked():
            if p.pid is not None and hasattr(os, "killpg"):
                kill_group(p.pid, signal.SIGKILL)
            else:  # no process groups (Windows), or no pid yet: stop it without a grace
                p.stop(grace=0)

    def _tracked(self) -> list[Proc]:
        with self._lock:
            return list(self._procs.values())

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def execute(self) -> str:
        try:
            self._load_tasks()
            self._write_programs()
            self._make_volumes()
            self.bus.publish(RunEvent(self.run_id, states.RUNNING, time.time()))
            self._loop()
            return self._finish()
        except BaseException as e:
            # A bug (or a broken database): stop what runs and record what can be recorded,
            # then let the caller see the original error.
            self._stop_steps()
            self.state = states.FAILED
            self._end_after_error(f"internal error: {type(e).__name__}: {e}")
            raise
        finally:
            if self._pool is not None:
                self._pool.shutdown()
            if self._launcher is not None:
                self._launcher.close()
                self.notes += getattr(self._launcher, "notes", [])
            shutil.rmtree(self.run_dir / "work", ignore_errors=True)
            if self._held is not None:
                self._held.release()
            self.bus.close()

    # --- setup --------------------------------------------------------------------------------

    def _load_tasks(self) -> None:
        rows = {r.name: r for r in self.history.tasks(self.run_id)}
        for step in self.plan.steps:
            row = rows[step.name]
            t = Task(
                step,
                row,
                state=row.state,
                attempts=row.attempts,
                started=row.started,
                finished=row.finished,
                exit_code=row.exit_code,
                cached=row.cached,
                cache_key=row.cache_key,
                message=row.message,
                log=Path(row.log) if row.log else None,
            )
            if row.state in states.DONE_OK:
                # A task finished by an earlier runner of this run (resume): keep it if its
                # outputs are still in the store.
                arts = {a.name: a.ref() for a in self.history.artifacts(self.run_id, step.name)}
                if all(
                    v in arts
                    and self.store.has_artifact(arts[v].hex)
                    and self._intact(t, v, arts[v], f"run {self.run_id}")
                    for v in step.outputs
                ):
                    t.outputs = arts
                    t.metrics = {
                        k: v
                        for k, v in self.history.metrics(self.run_id).items()
                        if k in step.metrics
                    }
                    t.message = t.message or "finished before the run was resumed"
                else:
                    t.state = states.PENDING
                    self.history.update_task(
                        row.id,
                        state=states.PENDING,
                        attempts=0,
                        started=None,
                        finished=None,
                        cached=0,
                    )
            self.tasks[step.name] = t
            self._record.publish(t)

    def _write_programs(self) -> None:
        """Keep each step's program by content (once per store, not once per run): a resumed
        run, or one from another history, finds it by digest (attempt.py)."""
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        for step in self.plan.steps:
            self.store.keep_program(step.program)

    def _make_volumes(self) -> None:
        """A volume is a folder: a new one per run, or one kept in the store for a named claim."""
        for name, claim in self.plan.volumes:
            where = self.run_dir / "volumes" / safe_name(name)
            if where.exists() or where.is_symlink():
                continue
            where.parent.mkdir(parents=True, exist_ok=True)
            if claim:
                kept = self.store.local_root / "claims" / safe_name(claim)
                kept.mkdir(parents=True, exist_ok=True)
                where.symlink_to(kept, target_is_directory=True)
            else:
                where.mkdir()

    def _get_launcher(self) -> Launcher:
        with self._launcher_lock:
            if self._launcher is None:
                self._launcher = make_launcher(
                    self.options.launcher,
                    self.plan.imports,
                    self.workdir,
                    (str(self.workdir),),
                    self.run_dir / "logs" / "_forkserver.log",
                    self.options.python,
                    self.options.workers,
                )
            return self._launcher

    # --- the scheduler ------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            while self._schedule():
                pass
            if not self._running:
                return
            try:
                msg = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self._handle(msg)

    def _stopping(self) -> bool:
        return self.cancelled or (bool(self._failed) and not self.options.keep_going)

    def _schedule(self) -> bool:
        changed = False
        for t in self.tasks.values():
            if t.state != states.PENDING:
                continue
            if self.cancelled:
                break  # what has not started is CANCELLED at the end, not SKIPPED
            needs = dict.fromkeys([*t.step.after, *(p for _, p in t.step.inputs)])
            ups = [self.tasks[u] for u in needs if u in self.tasks]
            bad = [
                u
                for u in ups
                if u.state in (states.FAILED, states.SKIPPED, states.CANCELLED, states.INTERRUPTED)
            ]
            if bad:
                self._record.set(
                    t,
                    states.SKIPPED,
                    finished=time.time(),
                    message=f"upstream step {bad[0].step.name!r} did not succeed",
                )
                changed = True
                continue
            if not all(u.state in states.DONE_OK for u in ups) or self._stopping():
                continue
            try:
                inputs = {v: self.tasks[p].outputs[v] for v, p in t.step.inputs}
            except KeyError as e:
                self._fail(t, None, f"input {e.args[0]!r} was not produced upstream")
                changed = True
                continue
            if not t.cache_checked:
                t.cache_checked = True
                # how a component or container step runs here (in its image or not) decides what
                # it produced; a Python or notebook step runs in this environment either way
                host = t.step.kind not in ("python", "notebook")
                how = {"host_exec": self.options.host_exec} if host else None
                t.cache_key = cache_key(
                    t.step, self.parameters, {v: ref.digest for v, ref in inputs.items()}, how
                )
                if self.options.cache and t.step.cache:
                    hit = self.history.find_cached(t.cache_key)
                    if hit is not None and self._usable(hit, t):
                        self._record.reuse(t, hit)
                        changed = True
                        continue
            if len(self._running) >= max(1, self.options.workers):
                continue
            self._launch(t, inputs)
            changed = True
        return changed

    def _usable(self, hit: CacheHit, t: Task) -> bool:
        step = t.step
        if not all(v in hit.artifacts for v in step.outputs):
            return False
        if not all(m in hit.metrics for m in step.metrics):
            return False
        refs = {v: hit.artifacts[v].ref() for v in step.outputs}
        if not all(self.store.has_artifact(ref.hex) for ref in refs.values()):
            return False
        source = f"run {hit.task.run_id}"
        return all(self._intact(t, v, ref, source) for v, ref in refs.items())

    def _intact(self, t: Task, name: str, ref: ArtifactRef, source: str) -> bool:
        """Whether a stored output still holds what its digest says, before it is reused.

        One that does not (edited or damaged in the store) is discarded, so the step runs again
        and stores it afresh; the run says so (a warning, and the step's record).
        """
        problem = self.store.verify_artifact(ref.digest)
        if problem is None:
            return True
        self.store.discard_artifact(ref.digest)
        note = (
            f"the stored output {name!r} of step {t.step.name!r} ({source}, {ref.digest[:19]}...) "
            f"was not reused: {problem}; the step runs again"
        )
        self.notes.append(note)
        t.notes.append(note)
        return False

    def _launch(self, t: Task, inputs: dict[str, ArtifactRef]) -> None:
        now = time.time()
        t.state = states.RUNNING
        t.started = now
        t.finished = None
        t.attempts = 0
        t.log = self.run_dir / "logs" / f"{safe_name(t.step.name)}.log"
        if t.log.exists():  # an earlier runner of this run started the step: keep what it wrote
            with open(t.log, "a", encoding="utf-8") as f:
                f.write("\n=== kfp-jupyter: the run was resumed; the step starts again ===\n")
        self.history.update_task(
            t.row.id,
            state=t.state,
            started=now,
            finished=None,
            attempts=0,
            cache_key=t.cache_key,
            log=str(t.log),
            exit_code=None,
            message=None,
        )
        if self._pool is None:
            self._pool = Workers(max(1, self.options.workers))
        self._running.add(t.step.name)
        self._pool.submit(self._work, t, inputs)

    def _handle(self, msg: Message) -> None:
        t = self.tasks[msg.step]
        if isinstance(msg, Note):
            t.message = msg.text
            self._record.publish(t)
        elif isinstance(msg, AttemptStarted):
            t.attempts = msg.attempt
            t.message = msg.previous
            self.history.update_task(t.row.id, attempts=msg.attempt, message=msg.previous)
            self._record.publish(t)
        else:
            self._running.discard(msg.step)
            result = msg.result
            t.exit_code = result.exit_code
            # when its process ended, not when the worker had also stored its outputs and log
            finished = result.ended or time.time()
            if result.state == states.SUCCEEDED:
                cache = self._modules_as_planned(t)
                self._record.succeeded(t, result, finished=finished, cache=cache)
            elif result.state == states.CANCELLED:
                self._record.set(
                    t,
                    states.CANCELLED,
                    finished=finished,
                    exit_code=result.exit_code,
                    message=result.message,
                )
            else:
                message = t.with_notes(result.message)
                self._fail(t, result.exit_code, message, result.log_tail, result.error, finished)
            if not result.log_copied and t.log is not None:
                self._uncopied[t.step.name] = (t.log, result.error)

    def _modules_as_planned(self, t: Task) -> bool:
        """Whether the local modules a step imports are still as its cache key holds them (taken
        when the run was planned). One edited since (while the run ran, or before `runs
        resume`) may be what the step imported: its result is kept for this run, but not
        recorded under a key that names the module's old content."""
        now = dict(module_digests(t.step.kind, t.step.program, self.workdir))
        planned = dict(t.step.modules)
        changed = sorted(m for m in planned.keys() | now.keys() if planned.get(m) != now.get(m))
        if not changed:
            return True
        names = ("module " if len(changed) == 1 else "modules ") + ", ".join(map(repr, changed))
        note = (
            f"the local {names} of step {t.step.name!r} changed after the run was "
            "planned: its result is not cached (the next run runs the step again)"
        )
        self.notes.append(note)
        t.notes.append(note)
        return False

    def _fail(
        self,
        t: Task,
        exit_code: int | None,
        message: str | None,
        tail: str | None = None,
        error: StepError | None = None,
        finished: float | None = None,
    ) -> None:
        self._failed.append(t.step.name)
        self._record.set(
            t,
            states.FAILED,
            finished=finished or time.time(),
            exit_code=exit_code,
            message=message,
            tail=tail,
            error=error,
        )

    # --- one task, in a worker thread ------------------------------------------------------------

    def _track(self, name: str, proc: Proc | None) -> None:
        with self._lock:
            if proc is None:
                self._procs.pop(name, None)
            else:
                self._procs[name] = proc

    def _work(self, t: Task, inputs: dict[str, ArtifactRef]) -> None:
        assert t.log is not None
        self._queue.put(Done(t.step.name, self._executor.run(t.step, t.log, inputs)))

    # --- the end ------------------------------------------------------------------------------

    def _drain_running(self) -> None:
        deadline = time.monotonic() + 30
        while self._running and time.monotonic() < deadline:
            try:
                msg = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if isinstance(msg, Done):
                self._running.discard(msg.step)

    def _mark_unfinished(self, state: str, message: str, *, best_effort: bool = False) -> None:
        """End every task that has not ended; `best_effort`: one that cannot be written down
        does not keep the others (or the run) from being so."""
        for t in self.tasks.values():
            if t.state not in (states.PENDING, states.RUNNING):
                continue
            finished = time.time() if t.state == states.RUNNING else None
            try:
                self._record.set(t, state, finished=finished, message=message)
            except Exception:
                if not best_effort:
                    raise

    def _end_after_error(self, message: str) -> None:
        """After an internal error: stop what runs and record the run as FAILED (no task left
        RUNNING in it, its record in the store) as far as the history can still be written."""
        with contextlib.suppress(Exception):
            self._drain_running()
        self._mark_unfinished(states.CANCELLED, message, best_effort=True)
        self._copy_late_logs()
        try:
            self._note(self._record.finish_run(states.FAILED, message))
        except Exception:
            with contextlib.suppress(Exception):
                self.history.set_run_state(
                    self.run_id, states.FAILED, message=message, finished=time.time()
                )
            self.bus.publish(RunEvent(self.run_id, states.FAILED, time.time(), message))

    def _copy_late_logs(self) -> None:
        """The last try to copy the logs the workers could not copy (a store that was out of
        reach for a while); one that still cannot be copied is named in a warning."""
        for step, (log, error) in self._uncopied.items():
            try:
                copy_log(self.store, self.run_id, log, error)
            except Exception as e:
                self.notes.append(
                    f"the log of step {step!r} could not be copied to the store: "
                    f"{failure_reason(e)}; it is on this machine: {log}"
                )
        self._uncopied.clear()

    def _note(self, note: str | None) -> None:
        if note is not None:
            self.notes.append(note)

    def _finish(self) -> str:
        if self.cancelled:
            self._mark_unfinished(states.CANCELLED, "the run was cancelled")
        elif self._failed:
            self._mark_unfinished(
                states.SKIPPED,
                f"not started: step {self._failed[0]!r} failed (use --keep-going to run "
                "independent steps anyway)",
            )
        final, message = self._outcome()
        self.state = final
        self._copy_late_logs()
        self._note(self._record.finish_run(final, message))
        return final

    def _outcome(self) -> tuple[str, str | None]:
        """The run's final state and message. A step that failed keeps the run FAILED when it is
        then cancelled: the failure is what the run's user must hear of (and find again with
        `runs list --state FAILED`), the cancel only ended the rest sooner."""
        failed = [t.step.name for t in self.tasks.values() if t.state == states.FAILED]
        if failed:
            order = list(dict.fromkeys(n for n in (*self._failed, *failed) if n in failed))
            message = failed_message(order)
            return states.FAILED, f"{message}; then cancelled" if self.cancelled else message
        if self.cancelled:
            return states.CANCELLED, "cancelled"
        if all(t.state in states.DONE_OK for t in self.tasks.values()):
            return states.SUCCEEDED, None
        return states.FAILED, "some steps did not run"


def failed_message(failed: list[str]) -> str:
    """`step 'a' failed`, `steps 'a' and 'b' failed`: in the order they failed, so the first
    named is the one the summary's `runs logs` hint points at."""
    names = [repr(n) for n in failed]
    if len(names) == 1:
        return f"step {names[0]} failed"
    return f"steps {', '.join(names[:-1])} and {names[-1]} failed"
