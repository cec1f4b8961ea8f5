"""The embedded local engine: run a notebook's pipeline on this machine, cached and resumable.

Public entry points: `run_local` and `resume_local` (api.py); `open_store` and `History` for
reading what earlier runs left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_getattr

__all__ = [
    "Event",
    "History",
    "RunEvent",
    "RunHandle",
    "TaskEvent",
    "open_store",
    "resume_local",
    "run_local",
]

if TYPE_CHECKING:
    from .api import RunHandle as RunHandle
    from .api import resume_local as resume_local
    from .api import run_local as run_local
    from .events import Event as Event
    from .events import RunEvent as RunEvent
    from .events import TaskEvent as TaskEvent
    from .history import History as History
    from .store import open_store as open_store

# Loaded on first use: a front end that only needs `engine.states` (say, to name a run's state)
# does not load the runner, the store and the history with it.
_LAZY = {
    "Event": ".events",
    "History": ".history",
    "RunEvent": ".events",
    "RunHandle": ".api",
    "TaskEvent": ".events",
    "open_store": ".store",
    "resume_local": ".api",
    "run_local": ".api",
}
__getattr__ = lazy_getattr(__name__, _LAZY)
