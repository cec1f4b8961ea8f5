"""The embedded local engine: run a notebook's pipeline on this machine, cached and resumable.

Public entry points: `run_local` and `resume_local` (api.py); `open_store` and `History` for
reading what earlier runs left.
"""

from .api import RunHandle, resume_local, run_local
from .events import Event, RunEvent, TaskEvent
from .history import History
from .store import open_store

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
