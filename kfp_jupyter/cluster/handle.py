"""SubmitHandle: a run on a cluster, followed like a local run (same events, same `wait`).

Following costs requests to the server, so it starts only when asked (`events()`, `wait()` or
`follow()`): a script that only submits sends nothing more. It runs in a background thread that
publishes to an EventBus, so any number of front ends (the terminal table, the widget) can
subscribe, each from the first event, as with `run_local`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..engine import states
from ..engine.events import Event, EventBus
from .errors import FollowError, InvalidSubmission
from .tracker import RunSnapshot, Tracker

if TYPE_CHECKING:
    from .config import ConnectionSettings
    from .steplogs import StepFailure


class Follower(Protocol):
    """What a backend gives the handle: the run's snapshots as they change, and a way to stop it.

    A follower that can also read a failed step's log has `failure(step) -> StepFailure`
    (steplogs.py), called once per failed step, before its FAILED event."""

    def snapshots(self, stop: threading.Event) -> Iterator[RunSnapshot]: ...

    def cancel(self) -> None: ...


@dataclass
class SubmitInfo:
    """What was created where; `to_json` is what `kfp-jupyter submit --json` prints, its keys in
    the order of these fields."""

    engine: str
    kind: str  # "run" | "recurring"
    run_id: str
    name: str
    url: str | None
    host: str
    namespace: str | None
    pipeline: str
    pipeline_id: str | None = None
    version_id: str | None = None
    version_name: str | None = None
    experiment: str | None = None
    experiment_id: str | None = None
    schedule: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    #: what happened on the way, in words ("created experiment 'x'", "uploaded a new version")
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Without the notes: they are words for the reader, printed to stderr apart."""
        return {k: v for k, v in asdict(self).items() if k != "notes"}


class SubmitHandle:
    """A run sent to a cluster. `events()` yields TaskEvent/RunEvent as a local run does."""

    def __init__(self, info: SubmitInfo, steps: list[str], follower: Follower | None) -> None:
        self.info = info
        self.steps = list(steps)
        self._follower = follower
        self._bus = EventBus()
        self._tracker = Tracker(info.run_id, self.steps, self._bus)
        self._stop = threading.Event()
        #: set once the first read of the run is taken in (or following ended)
        self._seen = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        #: where the run was sent (given, or from the saved target), set by `submit`: how the
        #: JupyterLab server finds the run again (cluster/submitted.py keeps it, token aside)
        self.connection: ConnectionSettings | None = None

    # --- what was submitted

    @property
    def run_id(self) -> str:
        return self.info.run_id

    @property
    def url(self) -> str | None:
        return self.info.url

    @property
    def engine(self) -> str:
        return self.info.engine

    @property
    def notes(self) -> list[str]:
        return list(self.info.notes)

    # --- following

    def follow(self) -> SubmitHandle:
        """Start following the run (once); returns self."""
        if self._follower is None:
            raise InvalidSubmission(
                "a recurring run has no end to follow; each run it starts appears in the UI"
            )
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name=f"kfpj-follow-{self.run_id}", daemon=True
                )
                self._thread.start()
        return self

    def _main(self) -> None:
        assert self._follower is not None
        try:
            self._tracker.start()
            for snap in self._follower.snapshots(self._stop):
                self._explain(snap)
                if snap.finished:
                    self._tracker.finish(snap)
                    return
                self._tracker.update(snap)
                self._seen.set()
            if not self._stop.is_set():
                raise FollowError(f"lost track of run {self.run_id} before it ended")
        except BaseException as e:
            self.error = e
        finally:
            self._seen.set()
            self._bus.close()

    def _explain(self, snap: RunSnapshot) -> None:
        """Read the log of each step that newly failed (once), so that its FAILED event says
        why in the notebook's terms."""
        failure = getattr(self._follower, "failure", None)
        if failure is None:
            return
        for step, task in snap.tasks.items():
            if task.state == states.FAILED and step not in self._tracker.failures:
                self._tracker.explain(failure(step))

    def events(self) -> Iterator[Event]:
        """Every event of the run from the start, as it happens; ends when the run ends."""
        self.follow()
        return self._bus.subscribe()

    def wait(self, timeout: float | None = None) -> str:
        """Follow the run until it ends (or `timeout` seconds) and return its state.

        A failure to follow (connection lost, credentials expired, run deleted) is raised as a
        ClusterError; a failed run is not an exception: its state is FAILED.
        """
        self.follow()
        assert self._thread is not None
        self._thread.join(timeout)
        if self.error is not None and not self._thread.is_alive():
            raise self.error
        return self.state

    def stop_following(self) -> None:
        """Stop watching (the run goes on on the cluster)."""
        self._stop.set()

    def cancel(self) -> None:
        """Ask the cluster to stop the run (KFP: terminate; Argo: shutdown=Terminate)."""
        if self._follower is None:
            raise InvalidSubmission(
                "a recurring run cannot be cancelled here; disable it in the UI"
            )
        self._follower.cancel()

    def cancel_unless_ended(self) -> bool:
        """Cancel the run unless its first read shows it ended already (a cluster may refuse to
        stop a run that has ended: KFP answers 400): True if the cluster was asked to stop it."""
        self.follow()
        self._seen.wait()
        if self._tracker.state in states.TERMINAL or self.error is not None:
            return False
        self.cancel()
        return True

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    @property
    def state(self) -> str:
        """RUNNING until the run ends, then SUCCEEDED, FAILED or CANCELLED."""
        return self._tracker.state or states.RUNNING

    @property
    def message(self) -> str | None:
        """Why the run ended as it did (names the failing task)."""
        return self._tracker.message

    @property
    def failures(self) -> dict[str, StepFailure]:
        """Why each failed step failed, read from its pod's log: the exception, the traceback in
        cells, the log's end, or a note saying why the log could not be read."""
        return dict(self._tracker.failures)

    @property
    def failed_tasks(self) -> list[str]:
        return self._tracker.failed_steps()

    @property
    def tasks(self) -> dict[str, str]:
        """Each step's state as last seen."""
        return {s: t.state for s, t in self._tracker.tasks.items()}

    def __repr__(self) -> str:
        return f"<SubmitHandle {self.engine} {self.run_id} {self.state}>"
