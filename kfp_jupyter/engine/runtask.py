"""What the scheduler (runner.py) knows of each task, and the typed messages its worker threads
send it. Apart from the scheduling loop so that the code that records a task's changes
(taskrecord.py) shares them without depending on the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import states
from .attempt import AttemptStarted, Note, Result

if TYPE_CHECKING:
    from .history import TaskRow
    from .plan import PlanStep
    from .storelayout import ArtifactRef


@dataclass(frozen=True)
class Done:
    """A worker is finished with its task: how it ended."""

    step: str
    result: Result


#: what worker threads tell the scheduler, in the order it happened
Message = Note | AttemptStarted | Done


@dataclass
class Task:
    """One step of the run as the scheduler sees it; only the scheduler thread changes it."""

    step: PlanStep
    row: TaskRow
    state: str = states.PENDING
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    exit_code: int | None = None
    cached: bool = False
    cache_key: str | None = None
    cache_checked: bool = False
    message: str | None = None
    outputs: dict[str, ArtifactRef] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    log: Path | None = None
    #: what the runner had to do about this task beyond running it (kept in its record)
    notes: list[str] = field(default_factory=list)

    def with_notes(self, message: str | None) -> str | None:
        parts = [m for m in (message, *self.notes) if m]
        return "; ".join(parts) if parts else None
