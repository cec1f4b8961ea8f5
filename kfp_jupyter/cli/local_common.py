"""What the local engine's commands share (run, runs, experiments, artifacts): the --store option,
opening the run history, following a run to its end, and how times, states and sizes are shown."""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from ..frontends.options import STORE
from .common import EXIT_FAILED, EXIT_OK, click_option, warn

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

EXIT_CANCELLED = 130

#: --store, with the same help on every command that reads or writes the runs
store_option = click_option(STORE)


def rich_console() -> Console:
    from rich.console import Console

    # Piped output is read by programs and people alike: do not wrap it at 80 columns.
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def follow_run(handle: Any) -> int:
    """Show a run until it ends; Ctrl-C / SIGTERM cancel it (a second Ctrl-C stops at once).

    Exit status: 0 the run succeeded, 130 it was cancelled, 1 it failed (a step failed, even
    if the run was then cancelled)."""
    from ..engine import states
    from ..engine.progress import follow, print_summary

    interrupted = {"n": 0}

    def _cancel(signum: int, frame: FrameType | None) -> None:
        interrupted["n"] += 1
        if interrupted["n"] > 1:
            # Cancelling again kills the steps still in their SIGTERM grace, before this process
            # quits: the threads that would have killed them end with it.
            handle.cancel()
            raise KeyboardInterrupt
        click.echo("cancelling: stopping the running steps ...", err=True)
        handle.cancel()

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in old:
        signal.signal(s, _cancel)
    try:
        live = sys.stdout.isatty()
        view = follow(handle.events(), sys.stdout, live)
        state = handle.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    for note in handle.notes:
        warn(note)
    print_summary(view, handle.store.describe(), sys.stdout, live)
    if state == states.SUCCEEDED:
        return EXIT_OK
    if state == states.CANCELLED:
        return EXIT_CANCELLED
    return EXIT_FAILED


def history_of(store: str | None) -> tuple[Any, Any]:
    from ..engine.history import History
    from ..engine.store import open_store

    st = open_store(store, create=False)
    return st, History(st.db_path)


def timestamp(ts: float | None) -> str:
    if ts is None:
        return ""
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def styled(state: str) -> Text:
    from rich.text import Text

    from ..engine.progress import STYLES

    return Text(state, style=STYLES.get(state, ""))


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
