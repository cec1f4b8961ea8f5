"""One task, in a worker thread: its attempts, each a step process, and what becomes of its outputs.

Kept apart from the scheduler (runner.py) because it never touches the run's state: it prepares
an attempt's scratch folder and ARGS.json, starts the step program, enforces the timeout, retries,
stores the outputs of a successful attempt and copies the step's log to the store; then it returns
one Result. All it tells the scheduler on the way (an attempt begins, a note) goes through `post`.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..model import volume_env
from . import states
from .forkserver import AutoLauncher, server_env
from .launch import Job, Launcher, Proc
from .procgroup import describe
from .steperror import ATTEMPT_FILE, StepError, read_error, write_error
from .storelayout import ArtifactRef, text_digest

if TYPE_CHECKING:
    from .plan import PlanStep
    from .runner import RunOptions
    from .storebase import Store

LOG_TAIL_LINES = 15
#: how often a step waiting for the notebook's imports looks whether the run was cancelled
IMPORTS_POLL_S = 0.1
#: the message of a step cancelled while it waited for the notebook's imports
NOT_STARTED = "cancelled before it started (while waiting for the notebook's imports)"


@dataclass(frozen=True)
class Result:
    state: str
    exit_code: int | None
    message: str | None = None
    outputs: dict[str, ArtifactRef] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    log_tail: str | None = None
    #: the exception that ended the step, as its program reported it (None: it did not say)
    error: StepError | None = None
    #: when the process of the last attempt ended: the step's finished time, however long its
    #: outputs and log then took to store (None: no process ran)
    ended: float | None = None
    #: False: the step's log could not be copied to the store (the runner tries once more at the end)
    log_copied: bool = True


class Workers:
    """Threads that wait for steps, at most `n`. Daemon threads, unlike concurrent.futures'
    pool: a process that exits while a run is in progress must not hang waiting for its steps
    (the run is then INTERRUPTED, and can be resumed). A thread starts only when a step finds
    none free, so `--workers 100000` costs what the steps running at once need, not n threads."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._queue: queue.SimpleQueue[tuple[Callable[..., None], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        #: steps submitted and not yet done
        self._pending = 0

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, args = item
            try:
                fn(*args)
            finally:
                with self._lock:
                    self._pending -= 1

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        with self._lock:
            self._pending += 1
            if self._pending > len(self._threads) and len(self._threads) < self._n:
                name = f"kfpj-task-{len(self._threads)}"
                thread = threading.Thread(target=self._loop, name=name, daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put((fn, args))

    def shutdown(self) -> None:
        for _ in self._threads:
            self._queue.put(None)


def safe_name(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.-]", "_", name)


def log_tail(
    path: Path | None, lines: int = LOG_TAIL_LINES, error: StepError | None = None
) -> str | None:
    """The last lines of a log; without the `error` the step printed at its end, which is shown
    on its own, first."""
    if path is None or not path.is_file():
        return None
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 16384))
        text = f.read().decode("utf-8", errors="replace")
    if error is not None:
        text = error.without_in(text)
    tail = screen_lines(text)[-lines:]
    return "\n".join(tail) if tail else None


def screen_lines(text: str) -> list[str]:
    """The lines of a log as a terminal shows them: a progress bar redraws its line after a
    carriage return, so only what follows the last one on a line is left to read (a line ending
    in `\\r\\n` keeps its text)."""
    lines = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")]
    if lines and not lines[-1]:
        lines.pop()  # after the last newline
    return lines


def copy_log(store: Store, run_id: str, log: Path, error: StepError | None) -> None:
    """Keep a finished step's error next to its log, then copy both to the store (if remote).

    The error is written here first, so this machine's history shows it even when the store
    cannot be reached."""
    path = write_error(log, error)
    store.publish(log, f"runs/{run_id}/logs/{log.name}")
    if error is not None:
        store.publish(path, f"runs/{run_id}/logs/{path.name}")


def failure_reason(e: BaseException) -> str:
    """How a failed copy reads in a warning: the error's own words, else its type's name."""
    return str(e) or type(e).__name__


def _append(log: Path, text: str) -> None:
    with open(log, "a", encoding="utf-8") as f:
        f.write(text)


def _with_note(message: str | None, notes: list[str]) -> str | None:
    """A result's message followed by what the runner had to clean up after the step."""
    parts = [m for m in (message, *notes) if m]
    return "; ".join(parts) if parts else None


@dataclass(frozen=True)
class _Once:
    """How one attempt's process ended."""

    code: int | None
    timed_out: bool = False
    #: e.g. "ended 1 leftover process: sleep (pid 1234)", if the step left processes running
    leftovers: str | None = None
    #: False: the run was cancelled before the process could start
    started: bool = True
    #: when the process ended (None: it did not start)
    ended: float | None = None


def _why_failed(step: PlanStep, once: _Once) -> str:
    """How a failed attempt ended, as the next attempt's note and the step's message say it."""
    if once.timed_out:
        return f"timed out after {step.timeout} s"
    if once.code is not None and once.code < 0:
        return f"was killed by signal {-once.code}"
    return f"exited with code {once.code}"


@dataclass(frozen=True)
class Note:
    """A worker's word about its task, shown as the task's message (e.g. waiting for imports)."""

    step: str
    text: str


@dataclass(frozen=True)
class AttemptStarted:
    """A worker starts attempt `attempt` of its task; `previous` says how the last one ended."""

    step: str
    attempt: int
    previous: str | None


@dataclass
class TaskExecutor:
    """What every task of one run shares to execute its attempts."""

    run_id: str
    run_dir: Path
    store: Store
    options: RunOptions
    parameters: dict[str, Any]
    #: where steps run (the notebook's folder)
    workdir: Path
    #: distinguishes this runner's scratch folders from those of an earlier runner of the run
    episode: str
    launcher: Callable[[], Launcher]
    cancelled: Callable[[], bool]
    #: what the worker says to the scheduler on the way
    post: Callable[[AttemptStarted | Note], None]
    #: (step, process or None): the scheduler stops tracked processes when the run is cancelled
    track: Callable[[str, Proc | None], None]

    def run(self, step: PlanStep, log: Path, inputs: dict[str, ArtifactRef]) -> Result:
        result = self._run_guarded(step, log, inputs)
        copied = self._copy_log(log, result.error)
        return result if copied else replace(result, log_copied=False)

    def _run_guarded(self, step: PlanStep, log: Path, inputs: dict[str, ArtifactRef]) -> Result:
        try:
            return self._attempts(step, log, inputs)
        except BaseException as e:  # never leave the scheduler waiting for this task
            return Result(
                states.FAILED,
                None,
                f"{type(e).__name__}: {e}",
                log_tail=traceback.format_exc(limit=5),
            )

    def _copy_log(self, log: Path, error: StepError | None) -> bool:
        """Copy the finished step's log to the store here, not in the scheduler's thread: a big
        log on a slow store must hold no other step. Best-effort: a store that cannot take it
        fails neither the step nor the run (the log is on this machine); whether it was copied."""
        try:
            copy_log(self.store, self.run_id, log, error)
        except Exception:
            return False
        return True

    def _attempts(self, step: PlanStep, log: Path, inputs: dict[str, ArtifactRef]) -> Result:
        notes: list[str] = []
        result = self._attempt_loop(step, log, inputs, notes)
        if not notes:
            return result
        return replace(result, message=_with_note(result.message, notes))

    def _attempt_loop(
        self, step: PlanStep, log: Path, inputs: dict[str, ArtifactRef], notes: list[str]
    ) -> Result:
        """The attempts of a step until one succeeds; `notes` collects what the runner had to
        clean up after them (leftover processes), for the step's record."""
        ready = self._input_paths(step, inputs)
        if isinstance(ready, Result):
            return ready
        previous: str | None = None
        last = Result(states.FAILED, None, "not run")
        for attempt in range(1, step.retries + 2):
            if self.cancelled():
                return Result(states.CANCELLED, None, "cancelled before it started")
            self._announce(step, log, attempt, previous)
            work = self.run_dir / "work" / f"{safe_name(step.name)}.{self.episode}.{attempt}"
            once = self._run_once(step, log, ready, work, attempt)
            if once.leftovers and once.leftovers not in notes:
                notes.append(once.leftovers)
            if self.cancelled():
                why = "stopped: the run was cancelled" if once.started else NOT_STARTED
                return Result(states.CANCELLED, once.code, why, ended=once.ended)
            if once.code == 0:
                return replace(self._succeeded(step, log, work, attempt), ended=once.ended)
            previous = _why_failed(step, once)
            error = read_error(work / ATTEMPT_FILE)
            last = Result(
                states.FAILED,
                once.code,
                previous,
                log_tail=log_tail(log, error=error),
                error=error,
                ended=once.ended,
            )
        if step.retries:
            last = replace(last, message=f"{last.message} (after {step.retries + 1} attempts)")
        return last

    def _input_paths(
        self, step: PlanStep, inputs: dict[str, ArtifactRef]
    ) -> dict[str, Path] | Result:
        """Where the step reads its inputs, or why it cannot start (a failed Result)."""
        try:
            paths = {v: self.store.artifact_path(ref.hex) for v, ref in inputs.items()}
        except Exception as e:
            return Result(states.FAILED, None, f"could not fetch the inputs: {e}")
        changed = self._changed_input(step, inputs)
        if changed is not None:
            return Result(states.FAILED, None, changed)
        return paths

    def _announce(self, step: PlanStep, log: Path, attempt: int, previous: str | None) -> None:
        """Tell the scheduler an attempt begins, and mark a retry in the step's log."""
        self.post(AttemptStarted(step.name, attempt, previous))
        if attempt > 1:
            _append(
                log,
                f"\n=== kfp-jupyter: attempt {attempt} of {step.retries + 1} "
                f"(previous attempt {previous}) ===\n",
            )

    def _succeeded(self, step: PlanStep, log: Path, work: Path, attempt: int) -> Result:
        """The result of an attempt whose process exited 0: its outputs are stored, or it failed.

        Its metrics are checked first, so a step whose metrics the history cannot hold fails
        with the reason, before anything of it enters the store."""
        metrics = _read_metrics(step, work / "metrics.json")
        if isinstance(metrics, str):
            return Result(states.FAILED, 0, metrics, log_tail=log_tail(log))
        try:
            outputs = self._store_outputs(step, work)
        except Exception as e:
            return Result(
                states.FAILED, 0, f"its outputs could not be stored: {e}", log_tail=log_tail(log)
            )
        note = f"succeeded on attempt {attempt}" if attempt > 1 else None
        return Result(states.SUCCEEDED, 0, note, outputs, metrics)

    def _changed_input(self, step: PlanStep, inputs: dict[str, ArtifactRef]) -> str | None:
        """Why an input cannot be handed to the step (its bytes no longer match its digest), or
        None. Such an input is discarded from the store, so that resuming the run makes it again.
        """
        producers = dict(step.inputs)
        for v, ref in inputs.items():
            problem = self.store.verify_artifact(ref.hex)
            if problem is None:
                continue
            self.store.discard_artifact(ref.hex)
            return (
                f"its input {v!r} from step {producers.get(v, '?')!r} ({ref.digest[:19]}...) "
                f"was not handed to it: {problem}; resume the run (kfp-jupyter runs resume "
                f"{self.run_id}) to compute it again"
            )
        return None

    def _run_once(
        self, step: PlanStep, log: Path, input_paths: dict[str, Path], work: Path, attempt: int
    ) -> _Once:
        (work / "tmp").mkdir(parents=True)
        outputs = {v: str(work / "outputs" / v) for v in step.outputs}
        for path in outputs.values():
            Path(path).mkdir(parents=True)
        args = {
            "parameters": {p: self.parameters[p] for p in step.parameters},
            "inputs": {v: str(p) for v, p in input_paths.items()},
            "outputs": outputs,
            "metrics": str(work / "metrics.json") if step.metrics else None,
            # where the step program writes its exception, mapped to the notebook's cells
            "error": str(work / ATTEMPT_FILE),
        }
        args_path = work / "args.json"
        args_path.write_text(json.dumps(args, indent=1), encoding="utf-8")
        job = Job(
            key=f"{self.run_id}/{step.name}/{attempt}",
            program=self.store.program_path(text_digest(step.program)),
            args=args_path,
            log=log,
            cwd=self.workdir,
            env=self._env(step, work, attempt),
            path=(str(self.workdir),),
        )
        launcher = self.launcher()
        if isinstance(launcher, AutoLauncher) and launcher.warming_up():
            self.post(Note(step.name, "waiting for the notebook's imports (once per run)"))
            if not self._await_imports(launcher):
                return _Once(None, started=False)
        try:
            proc = launcher.start(job)
        except OSError as e:
            _append(log, f"kfp-jupyter: could not start the step: {e}\n")
            return _Once(127)
        self.track(step.name, proc)
        try:
            code, timed_out = self._wait(step, log, proc)
        except BaseException:
            proc.stop()
            raise
        finally:
            self.track(step.name, None)
        ended = time.time()
        return _Once(code, timed_out, self._end_leftovers(log, proc), ended=ended)

    def _await_imports(self, launcher: AutoLauncher) -> bool:
        """Wait for the fork server's imports; False if the run was cancelled meanwhile.

        In slices, since a slow or hung import (a big library, a stuck network call) must not
        hold a cancel: until the step has a process, the runner has nothing to stop. A cancel
        arriving once the server is ready is seen by _wait, after the step's process is tracked.
        The server itself is stopped when the run ends (ForkServer.close)."""
        while not launcher.wait_ready(IMPORTS_POLL_S):
            if self.cancelled():
                return False
        return not self.cancelled()

    def _wait(self, step: PlanStep, log: Path, proc: Proc) -> tuple[int | None, bool]:
        """The step's exit code, stopping it at its timeout or when the run is cancelled."""
        if self.cancelled():
            proc.stop()
        code = proc.wait(step.timeout)
        if code is not None:
            return code, False
        _append(log, f"\nkfp-jupyter: timed out after {step.timeout} s; stopping the step\n")
        proc.stop()
        return proc.wait(), True

    @staticmethod
    def _end_leftovers(log: Path, proc: Proc) -> str | None:
        """End what the step started and left running, however it ended: nothing a step
        starts outlives it. Said in its log and (returned) in its record."""
        ended = proc.end_leftovers()
        if not ended:
            return None
        note = describe(ended)
        _append(log, f"\nkfp-jupyter: after the step's main process ended: {note}\n")
        return note

    def _env(self, step: PlanStep, work: Path, attempt: int) -> dict[str, str]:
        env = server_env()  # the defaults the fork server starts with, in one place
        env["TMPDIR"] = str(work / "tmp")
        env["KFPJ_RUN_ID"] = self.run_id
        env["KFPJ_STEP"] = step.name
        env["KFPJ_ATTEMPT"] = str(attempt)
        env.pop("KFPJ_METRICS_DIR", None)
        volumes = self.run_dir / "volumes"
        env["KFPJ_VOLUMES_DIR"] = str(volumes)
        for volume, _ in step.mounts:
            env[volume_env(volume)] = str(volumes / safe_name(volume))
        env["KFPJ_HOST_EXEC"] = "1" if self.options.host_exec else "0"
        env["KFPJ_APPLY_RESOURCES"] = "1" if self.options.apply_resources else "0"
        return env

    def _store_outputs(self, step: PlanStep, work: Path) -> dict[str, ArtifactRef]:
        outputs: dict[str, ArtifactRef] = {}
        for v in step.outputs:
            folder = work / "outputs" / v
            if not folder.is_dir() or not any(folder.iterdir()):
                raise RuntimeError(f"the step did not save its output {v!r}")
            outputs[v] = self.store.commit_artifact(folder, v)
        return outputs


def _read_metrics(step: PlanStep, path: Path) -> dict[str, float] | str:
    """The pipeline metrics a step logged, or why they cannot be recorded (its failure message).

    Only finite numbers: the history holds a metric as a number (SQLite keeps NaN as NULL), and a
    NaN or infinite score compares with nothing, so it would mislead whoever reads the run."""
    if not step.metrics:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError) as e:
        return f"the metrics of step {step.name!r} could not be read: {e}"
    missing = [m for m in step.metrics if m not in data]
    if missing:
        return f"step {step.name!r} did not log the metrics {missing}"
    metrics: dict[str, float] = {}
    for name in step.metrics:
        problem = _metric_problem(step.name, name, data[name])
        if problem is not None:
            return problem
        metrics[name] = float(data[name])
    return metrics


def _metric_problem(step: str, name: str, value: Any) -> str | None:
    """Why a logged metric value cannot be recorded, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return (
            f"metric {name!r} of step {step!r} is {value!r}, not a number: a pipeline metric "
            f"must be a finite number; list only numeric variables in the pipeline-metrics cell"
        )
    if math.isfinite(number):
        return None
    return (
        f"metric {name!r} of step {step!r} is {number!r}: a pipeline metric must be a finite "
        f"number; give {name!r} a finite value before the step ends, or leave it out of the "
        f"pipeline-metrics cell"
    )
