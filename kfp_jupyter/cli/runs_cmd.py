"""runs list|show|logs|resume|gc: the history of local runs, read from the store's database."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..engine import states
from ..engine.states import ALL_STATES
from ..errors import UsageError
from ..frontends.options import LAUNCHERS
from .common import handle_errors, warn
from .local_common import (
    follow_run,
    history_of,
    human_bytes,
    rich_console,
    store_option,
    styled,
    timestamp,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..engine.steperror import StepError
    from ..engine.storebase import Store


@click.group("runs")
def runs_group() -> None:
    """The history of local runs: list, show, logs, resume."""


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


#: `runs list` shows this many of the newest runs unless told otherwise
LIST_DEFAULT = 20


@runs_group.command("list")
@click.option("--experiment", metavar="NAME", help="Only runs of this experiment.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(list(ALL_STATES), case_sensitive=False),
    help="Only runs in this state (repeatable).",
)
@click.option(
    "--notebook",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Only runs of this notebook, wherever they were started.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help=f"At most N runs, the newest (default {LIST_DEFAULT}).",
)
@click.option("--all", "show_all", is_flag=True, help="Every run, however many.")
@click.option(
    "--summary", is_flag=True, help="Also the number of runs and what the store holds on disk."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array (for tools).")
@store_option
@handle_errors
def runs_list(
    experiment: str | None,
    states: tuple[str, ...],
    notebook: Path | None,
    limit: int | None,
    show_all: bool,
    summary: bool,
    as_json: bool,
    store: str | None,
) -> None:
    """List runs, newest first (the newest 20 unless --limit or --all)."""
    from ..engine.report import run_listing

    if show_all and limit is not None:
        raise click.BadParameter("give --limit or --all, not both", param_hint="--all")
    if summary and as_json:
        raise click.BadParameter(
            "--summary adds lines under the table; with --json give one of them",
            param_hint="--summary",
        )
    wanted = [s.upper() for s in states]
    limit = None if show_all else (limit or LIST_DEFAULT)
    st, history = history_of(store)
    runs, total = _selected(history, notebook, experiment, wanted, limit)
    left_out = (
        f"the newest {len(runs)} of {total} runs; --limit N or --all for more"
        if total > len(runs)
        else ""
    )
    if as_json:
        click.echo(json.dumps([run_listing(history, r) for r in runs], indent=2))
        if left_out:  # on stderr: the array stays the whole of standard output
            click.echo(left_out, err=True)
        return
    if not runs:
        click.echo("no runs" + (f" in experiment {experiment!r}" if experiment else ""))
    else:
        rich_console().print(_runs_table(history, runs))
        if left_out:
            click.echo(left_out)
    if summary:
        click.echo(f"{history.count_runs()} runs in {st.describe()}: {_sizes(st, history)}")


def _sizes(st: Store, history: Any) -> str:
    """What the store holds on disk; a remote store's artifacts are counted as its runs refer
    to them (its bucket is not walked), the rest is on this machine."""
    from ..engine.gc import store_size

    size = store_size(st, history)
    files = (
        f"programs {human_bytes(size.programs)}, history and run files {human_bytes(size.history)}"
    )
    if st.remote:
        return f"artifacts {human_bytes(size.artifacts)}; on this machine {files}"
    return f"{human_bytes(size.total)} on disk (artifacts {human_bytes(size.artifacts)}, {files})"


def _selected(
    history: Any,
    notebook: Path | None,
    experiment: str | None,
    wanted: list[str],
    limit: int | None,
) -> tuple[list[Any], int]:
    """The runs to list, newest first, and how many there are in all (to say what was left
    out): a notebook's runs are found wherever they were started, so they are filtered here."""
    from ..engine.report import runs_of_notebook

    if notebook is not None:
        runs = [
            r
            for r in runs_of_notebook(history, notebook, experiment)
            if not wanted or r.state in wanted
        ]
        return (runs[:limit] if limit else runs), len(runs)
    runs = history.list_runs(experiment, limit, wanted)
    total = history.count_runs(experiment, wanted) if limit and len(runs) == limit else len(runs)
    return runs, total


def _took(run: Any, attempts: bool = False) -> str:
    """How long a run was running (the same in `runs list` and `runs show`): a resumed run's
    wait between its failure and its resume is left out. `attempts`: say over how many."""
    from ..engine.progress import fmt_seconds

    seconds = run.running_time
    if seconds is None:
        return ""
    took = fmt_seconds(seconds)
    if attempts and run.attempts > 1:
        took += f" over {run.attempts} attempts, last resumed {timestamp(run.resumed)}"
    return took


def _runs_table(history: Any, runs: list[Any]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(
        "run", "experiment", "pipeline", "state", "started", "took", "steps",
        box=None, pad_edge=False,
    )  # fmt: skip
    counts = history.task_counts([r.id for r in runs])
    for r in runs:
        by_state = counts.get(r.id, {})
        ok = sum(by_state.get(s, 0) for s in states.DONE_OK)
        took = _took(r)
        table.add_row(
            r.id,
            Text(r.experiment),  # the user's words, never read as markup ("[old]")
            Text(r.pipeline),
            styled(r.state),
            timestamp(r.created),
            took,
            f"{ok}/{sum(by_state.values())}",
        )
    return table


@runs_group.command("gc")
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    metavar="N",
    help="Keep the newest N runs of each notebook; remove the older ones.",
)
@click.option(
    "--older-than",
    metavar="AGE|DATE",
    help="Remove runs started before this: an age (30d, 12h, 90m) or a date (2026-11-01).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@store_option
@handle_errors
def runs_gc(keep: int | None, older_than: str | None, dry_run: bool, store: str | None) -> None:
    """Remove old runs and the artifacts no kept run uses (never a run still going).

    With both --keep and --older-than, a run goes when both say so.
    """
    from ..engine.gc import plan_gc, run_gc

    if keep is None and older_than is None:
        raise click.UsageError("say what to remove: --keep N, --older-than AGE|DATE, or both")
    before = _before(older_than) if older_than is not None else None
    st, history = history_of(store)
    plan = plan_gc(history, keep=keep, before=before, store=st)
    verb = "would remove" if dry_run else "removed"
    if not dry_run:
        run_gc(st, history, plan)
    click.echo(
        f"{verb} {len(plan.remove)} run(s) and {len(plan.artifacts)} artifact(s) "
        f"({human_bytes(plan.bytes)}), {len(plan.programs)} program file(s); "
        f"{len(plan.keep)} run(s) kept"
    )
    if dry_run:
        for r in plan.remove:
            click.echo(f"  {r.id}  {timestamp(r.created)}  {r.pipeline}  {r.state}")


def _before(text: str) -> float:
    """`--older-than`: an age before now, or a date (local time) as a timestamp."""
    import re
    import time
    from datetime import datetime

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if m:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        return time.time() - float(m.group(1)) * unit
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither an age (30d, 12h, 90m, 2w) nor a date (2026-11-01)",
            param_hint="--older-than",
        ) from None


@runs_group.command("show")
@click.argument("run_id", metavar="RUN_ID|latest")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for tools).")
@store_option
@handle_errors
def runs_show(run_id: str, as_json: bool, store: str | None) -> None:
    """Show a run: its state, parameters, metrics, tasks and artifacts."""
    from rich.text import Text

    from ..engine.report import run_summary

    st, history = history_of(store)
    run = history.get_run(run_id)
    if as_json:
        click.echo(json.dumps(run_summary(history, run.id, st), indent=2))
        return
    console = rich_console()
    _show_header(console, run, history.metrics(run.id))
    console.print(_tasks_table(history.tasks(run.id)))
    for t in history.tasks(run.id):
        error = _step_error(st, t)
        if error is not None:
            console.print(Text(f"step {t.name} failed:", style="red"))
            console.print(_indented(error.render()), markup=False, soft_wrap=True)
    arts = history.artifacts(run.id)
    if arts:
        console.print("artifacts:")
        for a in arts:
            console.print(
                f"  {a.step}/{a.name}  {a.type}  {a.size} B  {a.digest[:19]}  {a.uri}",
                markup=False,
                soft_wrap=True,
            )


def _show_header(console: Console, run: Any, metrics: dict[str, float]) -> None:
    """The run's state, where it came from, when, and its parameter and metric values."""
    from rich.text import Text

    console.print(
        Text.assemble(
            ("run ", ""),
            (run.id, "bold"),
            "  ",
            styled(run.state),
            f"  experiment {run.experiment}  pipeline {run.pipeline}",
        )
    )
    if run.message:
        console.print(f"  {run.message}", markup=False)
    if run.notebook:
        console.print(f"notebook: {run.notebook}", markup=False)
    took = _took(run, attempts=True)
    console.print(
        f"started {timestamp(run.created)}" + (f", took {took}" if took else ""), markup=False
    )
    if run.parameters:
        console.print(
            "parameters: " + ", ".join(f"{k}={v!r}" for k, v in run.parameters.items()),
            markup=False,
        )
    if metrics:
        console.print(
            "metrics: " + ", ".join(f"{k}={v:g}" for k, v in metrics.items()), markup=False
        )


def _tasks_table(tasks: list[Any]) -> Table:
    from rich.table import Table
    from rich.text import Text

    from ..engine.progress import fmt_seconds

    table = Table(
        "step", "state", "attempts", "started", "took", "exit", "", box=None, pad_edge=False
    )
    for t in tasks:
        took = (
            fmt_seconds(t.finished - t.started) if t.finished and t.started and not t.cached else ""
        )
        table.add_row(
            Text(t.name),
            styled(t.state),
            str(t.attempts) if t.attempts else "",
            timestamp(t.started),
            took,
            "" if t.exit_code is None else str(t.exit_code),
            Text(t.message or "", style="dim"),
        )
    return table


def _log_gone(step: str, run_id: str, origin: str, origin_kept: bool) -> str:
    """Why a reused step has no log: it went with the run that ran the step, which `runs gc`
    removed (the outputs stay, as long as a kept run refers to them)."""
    ran_it = (
        f"run {origin} had itself reused it from a run that `runs gc` removed"
        if origin_kept
        else f"`runs gc` removed run {origin}"
    )
    return (
        f"step {step!r} of run {run_id} was reused from run {origin}, and its log is gone: "
        f"{ran_it}, and the log went with it (`runs show {run_id}` still lists the outputs)"
    )


@runs_group.command("logs")
@click.argument("run_id", metavar="RUN_ID|latest")
@click.argument("step")
@store_option
@handle_errors
def runs_logs(run_id: str, step: str, store: str | None) -> None:
    """Print the log (stdout and stderr) of STEP in a run."""
    st, history = history_of(store)
    run = history.get_run(run_id)
    task = history.task(run.id, step)
    source = task
    origin = task.cached_run if task.cached else None
    if task.cached and task.cached_from is not None:
        original = history.task_by_id(task.cached_from)
        if original is not None:
            source = original
            origin = origin or original.run_id
    text = None
    if source.log and Path(source.log).is_file():
        text = Path(source.log).read_text(encoding="utf-8", errors="replace")
    elif source.log:
        # a cached task's log is the one its outputs' run wrote, kept with that run
        text = st.read_text(f"runs/{origin or source.run_id}/logs/{Path(source.log).name}")
    if text is None and origin:
        raise UsageError(_log_gone(step, run.id, origin, history.has_run(origin)))
    if text is None:
        raise UsageError(f"step {step!r} of run {run.id} has no log (state {task.state})")
    if origin:
        click.echo(f"(step {step} was reused from run {origin}; its log follows)", err=True)
    error = _step_error(st, source)
    if error is not None:
        # the exception first, in the notebook's terms; the log below no longer ends with it
        click.echo(error.render() + "\n\n--- log ---")
        text = error.without_in(text)
    click.echo(text, nl=not text.endswith("\n"))


def _step_error(st: Store, task: Any) -> StepError | None:
    """The stored exception of a failed task (None for any other task)."""
    from ..engine.steperror import stored_error

    if task.state != states.FAILED:
        return None
    return stored_error(st, task.run_id, task.log)


@runs_group.command("resume")
@click.argument("run_id", metavar="RUN_ID|latest")
@store_option
@click.option("--workers", type=int, metavar="N", help="Steps run at the same time.")
@click.option(
    "--cache/--no-cache",
    default=None,
    help="Reuse outputs of other runs or not (default: as the run was started); the run's own "
    "completed steps are always kept.",
)
@click.option(
    "--keep-going/--no-keep-going",
    default=None,
    help="Run independent steps after a failure (default: as the run was started).",
)
@click.option(
    "--launcher",
    type=click.Choice(LAUNCHERS),
    default=None,
    help="How step processes start (default: $KFP_JUPYTER_LAUNCHER, else as the run was started).",
)
@handle_errors
def runs_resume(
    run_id: str,
    store: str | None,
    workers: int | None,
    cache: bool | None,
    keep_going: bool | None,
    launcher: str | None,
) -> None:
    """Finish an interrupted, failed or cancelled run, reusing every step that had completed.

    The run's own step programs are executed, as they were when it started."""
    from ..engine import resume_local
    from ..engine.store import open_store

    handle = resume_local(
        run_id,
        store=open_store(store, create=False),  # a misspelt --store is not a new, empty store
        workers=workers,
        cache=cache,
        keep_going=keep_going,
        launcher=launcher,
    )
    for notice in handle.notices:
        warn(notice)
    sys.exit(follow_run(handle))
