"""Task and run states, shared by the engine, the history and every front end.

The names are KFP's where KFP has one, so a user who knows the KFP UI reads them without help.
INTERRUPTED is ours: the runner died (kill -9, a closed laptop, a restarted kernel) and nobody
finished the run; `kfp-jupyter runs resume` does.
"""

from __future__ import annotations

from typing import Final, Literal

State = Literal[
    "PENDING", "RUNNING", "SUCCEEDED", "CACHED", "FAILED", "SKIPPED", "CANCELLED", "INTERRUPTED"
]

PENDING: Final = "PENDING"
RUNNING: Final = "RUNNING"
SUCCEEDED: Final = "SUCCEEDED"
CACHED: Final = "CACHED"
FAILED: Final = "FAILED"
SKIPPED: Final = "SKIPPED"
CANCELLED: Final = "CANCELLED"
INTERRUPTED: Final = "INTERRUPTED"

ALL_STATES: tuple[str, ...] = (
    PENDING,
    RUNNING,
    SUCCEEDED,
    CACHED,
    FAILED,
    SKIPPED,
    CANCELLED,
    INTERRUPTED,
)

#: A task in one of these states has outputs that later tasks (and resumed runs) may use.
DONE_OK: frozenset[str] = frozenset({SUCCEEDED, CACHED})
#: States a task or run never leaves (within one runner; resume starts a new episode).
TERMINAL: frozenset[str] = frozenset({SUCCEEDED, CACHED, FAILED, SKIPPED, CANCELLED, INTERRUPTED})
#: States that mean "someone is working on it"; only a live runner may hold them.
ACTIVE: frozenset[str] = frozenset({PENDING, RUNNING})
