"""Following a KFP run: read it every few seconds and turn its task details into the snapshots
the tracker compares (states, times, messages); read a failed step's pod log on demand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..engine import states
from .errors import FollowError, UnreachableError
from .kfp_client import call
from .steplogs import PodLogs, StepFailure, fetch_failure, first_pod, kfp_component_source
from .tracker import RunSnapshot, TaskSnapshot

if TYPE_CHECKING:
    from .config import KfpConnection

#: seconds between two reads of a run while following it (kfp's own wait uses 5)
DEFAULT_POLL = 5.0
#: consecutive network failures tolerated while following before giving up
MAX_FOLLOW_FAILURES = 5

_RUN_STATES = {
    "SUCCEEDED": states.SUCCEEDED,
    "FAILED": states.FAILED,
    "CANCELED": states.CANCELLED,
    "SKIPPED": states.SKIPPED,
}
_TASK_STATES = {
    "PENDING": states.PENDING,
    "RUNNING": states.RUNNING,
    "SUCCEEDED": states.SUCCEEDED,
    "SKIPPED": states.SKIPPED,
    "FAILED": states.FAILED,
    "CANCELING": states.RUNNING,
    "CANCELED": states.CANCELLED,
    "PAUSED": states.RUNNING,
    "RUNTIME_STATE_UNSPECIFIED": states.PENDING,
}
#: how far along a state is, to pick one of several task details of the same task
_PROGRESS = {
    states.PENDING: 0,
    states.RUNNING: 1,
    states.SKIPPED: 2,
    states.CANCELLED: 2,
    states.SUCCEEDED: 3,
    states.FAILED: 3,
}


def _epoch(value: Any) -> float | None:
    """A server time as epoch seconds; KFP sends 1970-01-01T00:00:00Z for 'not yet'."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        ts = value.timestamp()
        return ts if ts > 0 else None
    return None


def _error_message(obj: Any) -> str | None:
    err = getattr(obj, "error", None)
    message = getattr(err, "message", None) if err is not None else None
    return str(message) if message else None


def run_snapshot(run: Any, tasks_by_name: dict[str, str]) -> RunSnapshot:
    """Our picture of a V2beta1Run: its state and the task details of the notebook's steps."""
    chosen: dict[str, tuple[tuple[float, int], TaskSnapshot]] = {}
    details = getattr(getattr(run, "run_details", None), "task_details", None) or []
    for td in details:
        step = tasks_by_name.get(str(td.display_name or ""))
        if step is None:  # root DAG, drivers, executor pods: not one of the notebook's steps
            continue
        state = _TASK_STATES.get(str(td.state or ""), states.PENDING)
        started, finished = _epoch(td.start_time), _epoch(td.end_time)
        snap = TaskSnapshot(
            state=state,
            attempt=0 if state == states.PENDING else 1,
            started=started,
            finished=finished if state in states.TERMINAL else None,
            message=_error_message(td),
        )
        rank = (_epoch(td.create_time) or started or 0.0, _PROGRESS.get(state, 0))
        if step not in chosen or rank >= chosen[step][0]:
            chosen[step] = (rank, snap)
    raw = str(getattr(run, "state", "") or "")
    state = _RUN_STATES.get(raw, states.RUNNING)
    message = _error_message(run)
    if raw == "CANCELING":
        message = message or "cancelling"
    return RunSnapshot(state, {s: t for s, (_, t) in chosen.items()}, message)


@dataclass(eq=False)
class KfpFollower:
    """Reads the run every `interval` seconds until it ends."""

    client: Any
    conn: KfpConnection
    run_id: str
    tasks_by_name: dict[str, str]
    interval: float
    _: KW_ONLY
    ir_text: str | None = None
    logs: PodLogs | None = None
    #: the run as last read
    last: Any = field(default=None, init=False)

    def _on_run(self, action: str, method: Callable[..., Any]) -> Any:
        """`method` of the runs API, called for this run; kfp's warnings are muted from the main
        thread only (`warnings.catch_warnings` is not thread-safe, see net.quiet)."""
        return call(
            self.conn,
            action,
            lambda: method(run_id=self.run_id, _request_timeout=self.conn.timeouts),
            warnings_too=threading.current_thread() is threading.main_thread(),
            api=self.client,
        )

    def _get(self) -> Any:
        return self._on_run("reading the run", self.client.runs.run_service_get_run)

    def snapshots(self, stop: threading.Event) -> Iterator[RunSnapshot]:
        failures = 0
        while not stop.is_set():
            try:
                run = self._get()
            except UnreachableError as e:
                failures += 1
                if failures >= MAX_FOLLOW_FAILURES:
                    raise FollowError(
                        f"lost the connection while following run {self.run_id}: {e.message}",
                        fix="the run goes on in the cluster; follow it in the KFP UI",
                    ) from None
                stop.wait(min(30.0, self.interval * 2**failures))
                continue
            failures = 0
            self.last = run
            yield run_snapshot(run, self.tasks_by_name)
            stop.wait(self.interval)

    def failure(self, step: str) -> StepFailure:
        """What the failed step's executor pod logged, its Python traceback mapped to cells with
        the component's source from the compiled pipeline."""
        if self.logs is None:
            return StepFailure(step, note="its log was not read (no Kubernetes API given)")
        details = getattr(getattr(self.last, "run_details", None), "task_details", None) or []
        mine = [
            d
            for d in details
            if self.tasks_by_name.get(str(d.display_name or "")) == step
            and str(d.state or "") == "FAILED"
        ]
        task = mine[-1] if mine else None
        pods = first_pod(details, str(task.task_id)) if task is not None else []
        found = (
            kfp_component_source(self.ir_text, str(task.display_name))
            if self.ir_text and task is not None
            else None
        )
        # without the component's source, the exception is still read; its frames are not mapped
        program, function = found if found else ("", "")
        logs = self.logs
        return fetch_failure(step, lambda: logs.read(pods), program=program, function=function)

    def cancel(self) -> None:
        self._on_run("terminating the run", self.client.runs.run_service_terminate_run)
