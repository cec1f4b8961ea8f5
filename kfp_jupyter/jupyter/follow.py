"""Follow a run in background threads and report its progress as plain dicts (the widget's traits).

Two sources, one output:
- a live handle (a local RunHandle or a cluster SubmitHandle): its event stream, which replays the
  run from its start, so following a run that started in another cell draws every task;
- a run id in a local store, when no handle is alive in this kernel (a run started from a
  terminal, or before a kernel restart): the history database, read twice a second.

Snapshots are throttled (at most one per `interval`), so a 300-step run does not flood the
notebook's connection, and the kernel never waits for any of it.
"""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from ..engine.states import CANCELLED, FAILED, INTERRUPTED, PENDING, RUNNING, SUCCEEDED

TERMINAL_RUN = frozenset({SUCCEEDED, FAILED, CANCELLED, INTERRUPTED})

#: (states by step, run) -> None; called from a background thread
Report = Callable[[dict[str, dict[str, Any]], dict[str, Any]], None]


#: Handles started or followed in this kernel, by run id, so `attach(run_id)` finds them.
_LIVE: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_LIVE_LOCK = threading.Lock()


def remember(handle: Any) -> None:
    run_id = getattr(handle, "run_id", None)
    if isinstance(run_id, str):
        with _LIVE_LOCK:
            _LIVE[run_id] = handle


def live_handle(ref: str) -> Any | None:
    """A handle of this kernel whose run id is `ref` or starts with it (if unique)."""
    with _LIVE_LOCK:
        if ref in _LIVE:
            return _LIVE[ref]
        hits = [h for rid, h in _LIVE.items() if rid.startswith(ref)]
    return hits[0] if len(hits) == 1 else None


def task_dict(ev: Any) -> dict[str, Any]:
    """The state of a task as the drawing reads it, from a TaskEvent (or a history row)."""
    return {
        "state": ev.state,
        "started": getattr(ev, "started", None),
        "finished": getattr(ev, "finished", None),
        "attempt": getattr(ev, "attempt", None) or getattr(ev, "attempts", None) or 0,
        "cached": bool(getattr(ev, "cached", False)),
        "exit_code": getattr(ev, "exit_code", None),
        "message": getattr(ev, "message", None),
    }


class Follower:
    """Follows at most one run at a time; `follow_*` replaces what was followed before."""

    def __init__(self, report: Report, interval: float = 0.15) -> None:
        self._report = report
        self.interval = interval
        self._generation = 0
        self._lock = threading.Lock()
        self.states: dict[str, dict[str, Any]] = {}
        self.run: dict[str, Any] = {}
        #: extra per-task facts from events (log file, last log lines), for the details panel
        self.task_extra: dict[str, dict[str, Any]] = {}
        self.done = threading.Event()
        #: whether any run was followed yet
        self.started = False
        self._started_seen = False

    # --- starting ---------------------------------------------------------------------------

    def _begin(self, run: dict[str, Any], steps: Iterable[str]) -> tuple[int, threading.Event]:
        with self._lock:
            self._generation += 1
            self.states = {s: {"state": PENDING} for s in steps}
            self.run = dict(run)
            self.task_extra = {}
            self.done = threading.Event()
            self._started_seen = False
            self.started = True
            gen, done = self._generation, self.done
        self._emit(gen)
        return gen, done

    def stop(self) -> None:
        """Stop reporting (the run itself goes on)."""
        with self._lock:
            self._generation += 1

    def _current(self, gen: int) -> bool:
        return gen == self._generation

    def _emit(self, gen: int) -> None:
        with self._lock:
            if not self._current(gen):
                return
            states = {k: dict(v) for k, v in self.states.items()}
            run = dict(self.run, clock=time.time())
        self._report(states, run)

    def follow_handle(self, handle: Any, steps: Iterable[str], engine: str = "local") -> None:
        """Follow a live handle's events (replayed from the run's start)."""
        remember(handle)
        run = {
            "id": handle.run_id,
            "engine": engine,
            "state": RUNNING,
            "message": None,
            "url": getattr(handle, "url", None),
            "metrics": {},
            "started": time.time(),
            "finished": None,
        }
        gen, done = self._begin(run, steps)
        events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        end = object()

        def read() -> None:
            try:
                for ev in handle.events():
                    events.put(ev)
                    if not self._current(gen):
                        return
            except BaseException as e:  # a cluster connection lost: say so, in words
                events.put(e)
            events.put(end)

        def publish() -> None:
            dirty = False
            last = 0.0
            while True:
                try:
                    item = events.get(timeout=self.interval)
                except queue.Empty:
                    item = None
                if not self._current(gen):
                    return
                if item is end:
                    self._finish_handle(handle, gen)
                    done.set()
                    return
                if isinstance(item, BaseException):
                    with self._lock:
                        self.run["message"] = f"lost track of the run: {item}"
                    dirty = True
                elif item is not None:
                    self._apply(item, gen)
                    dirty = True
                if dirty and time.monotonic() - last >= self.interval:
                    self._emit(gen)
                    dirty = False
                    last = time.monotonic()

        threading.Thread(target=read, name=f"kfpj-widget-read-{handle.run_id}", daemon=True).start()
        threading.Thread(target=publish, name=f"kfpj-widget-{handle.run_id}", daemon=True).start()

    def _apply(self, ev: Any, gen: int) -> None:
        kind = getattr(ev, "kind", None)
        with self._lock:
            if not self._current(gen):
                return
            if kind == "task":
                self.states[ev.step] = task_dict(ev)
                extra = self.task_extra.setdefault(ev.step, {})
                if getattr(ev, "log", None):
                    extra["log"] = ev.log
                if getattr(ev, "log_tail", None):
                    extra["log_tail"] = ev.log_tail
                if getattr(ev, "error", None) is not None:
                    # a cluster step's exception, mapped to cells from its pod's log: no run
                    # folder here to read it from again
                    extra["error"] = ev.error
            elif kind == "run":
                self.run["state"] = ev.state
                if ev.state == RUNNING and not self._started_seen:
                    self.run["started"] = ev.time
                    self._started_seen = True
                self.run["message"] = ev.message
                if getattr(ev, "metrics", None):
                    self.run["metrics"] = dict(ev.metrics)
                if ev.state in TERMINAL_RUN:
                    self.run["finished"] = ev.time

    def _finish_handle(self, handle: Any, gen: int) -> None:
        with self._lock:
            if self.run.get("state") not in TERMINAL_RUN:
                # the stream ended without a final event: take the handle's word for it
                state = getattr(handle, "state", None)
                error = getattr(handle, "error", None)
                if error is not None:
                    self.run["message"] = f"{type(error).__name__}: {error}"
                self.run["state"] = state if state in TERMINAL_RUN else FAILED
                self.run["finished"] = self.run.get("finished") or time.time()
        self._emit(gen)

    def follow_store(self, run_id: str, store: Any, poll: float = 0.5) -> tuple[Any, list[str]]:
        """Follow a run through a local store's history (no live handle in this kernel); returns
        the run's row as first read (its notebook) and its steps. A store that does not exist is
        an error, as for `kfp-jupyter runs`, never a new empty one."""
        from ..engine.history import History
        from ..engine.store import open_store

        st = open_store(store, create=False)
        history = History(st.db_path)
        run = history.get_run(run_id)
        tasks = history.tasks(run.id)
        gen, done = self._begin(
            {
                "id": run.id,
                "engine": "local",
                "state": run.state,
                "message": run.message,
                "url": None,
                "metrics": {},
                "started": run.running_since,
                "finished": run.finished,
            },
            [t.name for t in tasks],
        )

        def loop() -> None:
            try:
                while self._current(gen):
                    r = history.get_run(run.id)
                    rows = history.tasks(run.id)
                    with self._lock:
                        if not self._current(gen):
                            return
                        for t in rows:
                            self.states[t.name] = task_dict(t)
                            if t.log:
                                self.task_extra.setdefault(t.name, {})["log"] = t.log
                        self.run.update(
                            state=r.state,
                            message=r.message,
                            started=r.running_since,
                            finished=r.finished,
                            metrics=history.metrics(r.id),
                        )
                    self._emit(gen)
                    if r.state in TERMINAL_RUN:
                        return
                    time.sleep(poll)
            except Exception as e:  # the store went away: say so, stop following
                with self._lock:
                    self.run["message"] = f"lost track of the run: {e}"
                self._emit(gen)
            finally:
                history.close()
                done.set()

        threading.Thread(target=loop, name=f"kfpj-widget-poll-{run.id}", daemon=True).start()
        return run, [t.name for t in tasks]
