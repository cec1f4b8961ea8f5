"""Showing a run while it runs: a live table on a terminal, one plain line per change otherwise.

Both read only the run's events (events.py), as the widget does, so what a terminal shows is what
any front end can show. The plain form is for logs and CI: one line per state change, stable and
greppable, with a failing step's log tail printed where it happened. The plain form needs no
rich at all (it is imported only for the table), which keeps a fully cached run quick to start.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from . import states
from .events import Event, RunEvent, TaskEvent

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

STYLES = {
    states.PENDING: "dim",
    states.RUNNING: "bold cyan",
    states.SUCCEEDED: "green",
    states.CACHED: "blue",
    states.FAILED: "bold red",
    states.SKIPPED: "yellow",
    states.CANCELLED: "magenta",
    states.INTERRUPTED: "magenta",
}


def counted(n: int, noun: str) -> str:
    """`1 step`, `3 steps`."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def fmt_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(s), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


@dataclass
class _Row:
    step: str
    state: str = states.PENDING
    attempt: int = 0
    started: float | None = None
    finished: float | None = None
    note: str = ""


class RunView:
    """The run as the events told it so far; both renderers draw from it."""

    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}
        self.run_id: str | None = None
        self.state = states.RUNNING
        self.message: str | None = None
        self.metrics: dict[str, float] = {}
        #: when the run started, by the clock that stamps its events: the view is often made
        #: after that (a fast run's events are replayed), and its own clock would then make the
        #: run end before it began (`SUCCEEDED in -0.0s`)
        self.began = time.time()
        self._run_started = False
        self.ended: float | None = None
        self.failures: list[TaskEvent] = []

    def apply(self, e: Event) -> None:
        self.run_id = e.run_id
        if isinstance(e, RunEvent):
            if e.state == states.RUNNING and not self._run_started:
                self._run_started = True
                self.began = e.time
            self.state = e.state
            self.message = e.message
            if e.state in states.TERMINAL:
                self.ended = e.time
                self.metrics = e.metrics
            return
        row = self.rows.setdefault(e.step, _Row(e.step))
        row.state, row.attempt = e.state, e.attempt
        row.started, row.finished = e.started, e.finished
        row.note = e.message or ""
        if e.state == states.RUNNING and e.attempt > 1:
            row.note = f"attempt {e.attempt}" + (f" (previous {e.message})" if e.message else "")
        if e.state == states.FAILED:
            self.failures.append(e)

    def elapsed(self, row: _Row) -> str:
        if row.started is None or row.state == states.CACHED:
            return ""
        end = row.finished or (time.time() if row.state == states.RUNNING else row.started)
        return fmt_seconds(max(0.0, end - row.started))

    def took(self) -> float:
        """Seconds from the run's start to its end (or now), never below zero (a wall clock set
        back while it ran)."""
        return max(0.0, (self.ended or time.time()) - self.began)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows.values():
            out[r.state] = out.get(r.state, 0) + 1
        return out


def _table(view: RunView) -> RenderableType:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("step")
    table.add_column("state")
    table.add_column("time", justify="right")
    table.add_column("")
    for row in view.rows.values():
        table.add_row(
            row.step,
            Text(row.state, style=STYLES.get(row.state, "")),
            view.elapsed(row),
            Text(row.note, style="dim"),
        )
    done = sum(1 for r in view.rows.values() if r.state in states.TERMINAL)
    head = Text(
        f"run {view.run_id} · {done}/{len(view.rows)} steps done · {fmt_seconds(view.took())}",
        style="bold",
    )
    return Group(head, table)


def _plain_line(view: RunView, e: TaskEvent, width: int) -> str:
    at = fmt_seconds(max(0.0, e.time - view.began))
    row = view.rows[e.step]
    detail = row.note
    if e.state in (states.SUCCEEDED, states.FAILED) and row.started is not None:
        detail = " ".join(x for x in (view.elapsed(row), detail) if x)
    return f"{at:>7}  {e.step:<{width}}  {e.state:<9}  {detail}".rstrip()


def _indent(text: str) -> str:
    return "\n".join("    | " + line for line in text.splitlines())


def failure_text(e: TaskEvent) -> str | None:
    """What a failed step says: its exception first, then where in the notebook it was raised,
    then the end of its log (the exception itself is not repeated there)."""
    if e.error is None:
        return e.log_tail
    text = e.error.render()
    if e.log_tail:
        text += "\nlog:\n" + e.log_tail
    return text


def _stream(out: TextIO | Console | None) -> TextIO:
    if out is None:
        return sys.stdout
    if hasattr(out, "write"):
        return out  # type: ignore[return-value]
    return out.file  # type: ignore[return-value]  # a rich Console: use its file


def follow(
    events: Iterable[Event], out: TextIO | Console | None = None, live: bool | None = None
) -> RunView:
    """Draw a run from its events until it ends; return what was seen.

    out: a text stream or a rich Console (default: stdout). live: a rich table redrawn in place
    (default: when `out` is a terminal); else plain lines.
    """
    out = _stream(out)
    view = RunView()
    if live is None:
        live = out.isatty()
    if live:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=out, force_terminal=True, highlight=False)
        with Live(
            get_renderable=lambda: _table(view),
            console=console,
            refresh_per_second=4,
            transient=False,
        ):
            for e in events:
                view.apply(e)
        return view
    width = 8
    for e in events:
        view.apply(e)
        if isinstance(e, TaskEvent):
            width = max(width, len(e.step))
            if e.state == states.PENDING:
                continue
            _emit(out, _plain_line(view, e, width))
            text = failure_text(e) if e.state == states.FAILED else None
            if text:
                _emit(out, _indent(text))
    return view


def _emit(out: TextIO, text: str) -> None:
    """Print a line; if the reader went away (`kfp-jupyter run ... | head`), the run goes on
    and its output goes nowhere, as it would for a run left in the background."""
    try:
        print(text, file=out, flush=True)
    except BrokenPipeError:
        import os

        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


def summary_lines(view: RunView, store: str, tails: bool) -> list[tuple[str, str]]:
    """The end of a run as (style, text) lines: its state, metrics, where the results are, and
    what to type next. `tails`: repeat the failing steps' log tails (the live table hid them)."""
    rid = view.run_id or "?"
    counts = view.counts()
    took = fmt_seconds(view.took())
    parts = [f"{counts.get(states.SUCCEEDED, 0)} ran", f"{counts.get(states.CACHED, 0)} cached"]
    for s in (states.FAILED, states.SKIPPED, states.CANCELLED):
        if counts.get(s):
            parts.append(f"{counts[s]} {s.lower()}")
    lines = [
        (
            STYLES.get(view.state, ""),
            f"run {rid} {view.state} in {took}: {counted(len(view.rows), 'step')} "
            f"({', '.join(parts)})",
        )
    ]
    if view.message and view.state != states.SUCCEEDED:
        lines.append(("", f"  {view.message}"))
    if tails:
        for f in view.failures:
            lines.append(("red", f"step {f.step} failed: {f.message or ''}"))
            text = failure_text(f)
            if text:
                lines.append(("", _indent(text)))
    if view.metrics:
        lines.append(("", "metrics: " + ", ".join(f"{k}={v:g}" for k, v in view.metrics.items())))
    lines.append(("", f"results: {store}"))
    hints = [f"kfp-jupyter runs show {rid}"]
    if view.failures:
        hints.append(f"kfp-jupyter runs logs {rid} {view.failures[0].step}")
    if view.state == states.FAILED:
        # resume re-runs the run's own programs: after fixing the notebook, that is the old bug
        hints.append("fixed the notebook? run it again (finished steps come from the cache)")
        hints.append(f"kfp-jupyter runs resume {rid}  (retries the same code: a flaky failure)")
    elif view.state == states.CANCELLED:
        hints.append(f"kfp-jupyter runs resume {rid}")
    hints.append(f"kfp-jupyter artifacts get {rid} STEP VARIABLE -o FILE")
    lines += [("dim", f"  {h}") for h in hints]
    return lines


def print_summary(
    view: RunView, store: str, out: TextIO | Console | None = None, live: bool = False
) -> None:
    out = _stream(out)
    lines = summary_lines(view, store, tails=live)
    if not live:
        for _, text in lines:
            _emit(out, text)
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, force_terminal=True, highlight=False)
    for style, text in lines:
        console.print(Text(text, style=style), soft_wrap=True)
