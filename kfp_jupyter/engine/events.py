"""Events a run emits while it runs, for the terminal table, the widget and any other front end.

Front ends never poll the history database: the runner publishes each change once, and every
subscriber gets all events from the start of the run (late subscribers are replayed what they
missed), so a widget attached after a run started still draws every task.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .steperror import StepError


@dataclass(frozen=True)
class TaskEvent:
    """A task changed state (or started another attempt)."""

    run_id: str
    step: str
    state: str
    time: float
    attempt: int = 0
    started: float | None = None
    finished: float | None = None
    cached: bool = False
    exit_code: int | None = None
    #: why it is in this state, in words (e.g. "timed out after 5 s", "reused from run 1a2b3c4d")
    message: str | None = None
    #: the last lines of the step's log, when it failed
    log_tail: str | None = None
    log: str | None = None
    #: the exception that made it fail, mapped to the notebook's cells
    error: StepError | None = None

    kind: str = field(default="task", init=False)


@dataclass(frozen=True)
class RunEvent:
    """The run changed state. The last event of every run is a RunEvent with a terminal state."""

    run_id: str
    state: str
    time: float
    message: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    kind: str = field(default="run", init=False)


Event = TaskEvent | RunEvent

_END = object()


class EventBus:
    """Fan-out of events to any number of iterators, each starting from the first event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._history: list[Event] = []
        self._subscribers: list[queue.SimpleQueue[object]] = []
        self._closed = False

    def publish(self, event: Event) -> None:
        with self._lock:
            self._history.append(event)
            for q in self._subscribers:
                q.put(event)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for q in self._subscribers:
                q.put(_END)

    @property
    def history(self) -> list[Event]:
        with self._lock:
            return list(self._history)

    def subscribe(self, poll: float = 0.2) -> Iterator[Event]:
        """Yield every event of the run, then stop when the run has ended.

        The wait is in short slices so that Ctrl-C reaches the caller's thread promptly.
        """
        q: queue.SimpleQueue[object] = queue.SimpleQueue()
        with self._lock:
            for e in self._history:
                q.put(e)
            if self._closed:
                q.put(_END)
            else:
                self._subscribers.append(q)
        try:
            while True:
                try:
                    item = q.get(timeout=poll)
                except queue.Empty:
                    continue
                if item is _END:
                    return
                assert isinstance(item, (TaskEvent, RunEvent))
                yield item
        finally:
            with self._lock:
                if q in self._subscribers:
                    self._subscribers.remove(q)
