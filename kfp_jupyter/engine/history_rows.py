"""The rows the run history hands out, and how a database row becomes one.

Kept apart from the queries (history.py) because every reader of the history (reports, the
command line, the server, the garbage collector) names these types, while only the history
itself runs SQL: a reader can import them without the connection, its locking and its schema.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .procinfo import RunnerId
from .storelayout import ArtifactRef


@dataclass(frozen=True)
class RunRow:
    id: str
    experiment: str
    pipeline: str
    version_id: int
    version_digest: str
    notebook: str | None
    parameters: dict[str, Any]
    options: dict[str, Any]
    state: str
    message: str | None
    created: float
    started: float | None
    finished: float | None
    runner: RunnerId | None
    #: 1, and one more each time the run was resumed
    attempts: int = 1
    #: when it was last resumed (None: never)
    resumed: float | None = None
    #: seconds it was running before it was last resumed
    ran_before: float = 0.0

    @property
    def running_time(self) -> float | None:
        """How long the run was running, in seconds (None until it ends): from its start, or
        its last resume, to its end, plus the earlier attempts; the time a failed or
        interrupted run waited to be resumed is not in it."""
        began = self.resumed if self.resumed is not None else self.started
        if self.finished is None or began is None:
            return None
        return self.ran_before + max(0.0, self.finished - began)

    @property
    def running_since(self) -> float | None:
        """The start a run would have had if it had never waited to be resumed: a clock that
        shows elapsed time (the widget) shows the running time from it, live or ended."""
        began = self.resumed if self.resumed is not None else self.started
        return None if began is None else began - self.ran_before


@dataclass(frozen=True)
class TaskRow:
    id: int
    run_id: str
    name: str
    position: int
    state: str
    attempts: int
    started: float | None
    finished: float | None
    exit_code: int | None
    cached: bool
    cache_key: str | None
    cached_from: int | None
    log: str | None
    message: str | None
    #: the run whose task made a cached task's outputs (its logs and timings are the real ones)
    cached_run: str | None = None


@dataclass(frozen=True)
class ArtifactRow:
    run_id: str
    task_id: int
    step: str
    name: str
    type: str
    size: int
    digest: str
    uri: str

    def ref(self) -> ArtifactRef:
        return ArtifactRef(self.digest, self.size, self.uri, self.type)


@dataclass(frozen=True)
class CacheHit:
    task: TaskRow
    artifacts: dict[str, ArtifactRow]
    metrics: dict[str, float]

    @property
    def origin_task(self) -> int | None:
        """The task that made these outputs (None if its run was removed): the hit itself,
        unless it was taken from the cache too."""
        return self.task.cached_from if self.task.cached else self.task.id

    @property
    def origin_run(self) -> str:
        """The run that made these outputs: the one a task reusing them names."""
        if self.task.cached and self.task.cached_run:
            return self.task.cached_run
        return self.task.run_id


def reused_message(run_id: str, notebook: str | None = None) -> str:
    """A cached task's message, naming the run that made its outputs, and its notebook when
    that is another one (two notebooks sharing a store can reuse each other's steps)."""
    return f"reused from run {run_id}" + (f" of {notebook}" if notebook else "")


@dataclass(frozen=True)
class ExperimentRow:
    name: str
    created: float
    runs: int
    last_run: float | None


#: the columns of a task that the runner may change (the others are fixed when the run is made)
TASK_COLUMNS = frozenset(
    {
        "state",
        "attempts",
        "started",
        "finished",
        "exit_code",
        "cached",
        "cache_key",
        "cached_from",
        "cached_run",
        "log",
        "message",
    }
)


def run_row(r: sqlite3.Row) -> RunRow:
    runner = None
    if r["runner_pid"] is not None:
        runner = RunnerId(r["runner_host"] or "", int(r["runner_pid"]), r["runner_token"])
    return RunRow(
        id=str(r["id"]),
        experiment=str(r["experiment"]),
        pipeline=str(r["pipeline"]),
        version_id=int(r["version_id"]),
        version_digest=str(r["version_digest"]),
        notebook=r["notebook"],
        parameters=json.loads(r["parameters"]),
        options=json.loads(r["options"]),
        state=str(r["state"]),
        message=r["message"],
        created=float(r["created"]),
        started=r["started"],
        finished=r["finished"],
        runner=runner,
        attempts=int(r["attempts"]),
        resumed=r["resumed"],
        ran_before=float(r["ran_before"]),
    )


def task_row(r: sqlite3.Row) -> TaskRow:
    return TaskRow(
        id=int(r["id"]),
        run_id=str(r["run_id"]),
        name=str(r["name"]),
        position=int(r["position"]),
        state=str(r["state"]),
        attempts=int(r["attempts"]),
        started=r["started"],
        finished=r["finished"],
        exit_code=r["exit_code"],
        cached=bool(r["cached"]),
        cache_key=r["cache_key"],
        cached_from=r["cached_from"],
        log=r["log"],
        message=r["message"],
        cached_run=r["cached_run"],
    )


def artifact_row(r: sqlite3.Row) -> ArtifactRow:
    return ArtifactRow(
        run_id=str(r["run_id"]),
        task_id=int(r["task_id"]),
        step=str(r["step"]),
        name=str(r["name"]),
        type=str(r["type"]),
        size=int(r["size"]),
        digest=str(r["digest"]),
        uri=str(r["uri"]),
    )


def experiment_row(r: sqlite3.Row) -> ExperimentRow:
    return ExperimentRow(
        str(r["name"]),
        float(r["created"]),
        int(r["runs"]),
        float(r["last_run"]) if r["last_run"] is not None else None,
    )
