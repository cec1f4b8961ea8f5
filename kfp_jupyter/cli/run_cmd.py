"""run, runs list|show|logs|resume, experiments list, artifacts get: the local engine's commands.

Exit status of `run` and `runs resume`: 0 the run succeeded, 1 a step failed, 2 invalid input
(nothing was run), 130 the run was cancelled (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from ..engine.states import ALL_STATES
from ..errors import UsageError
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    handle_errors,
    no_pin_option,
    parse_param_options,
    warn,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from ..engine.history import ArtifactRow
    from ..engine.steperror import StepError
    from ..engine.store import Store

EXIT_CANCELLED = 130

_store_option = click.option(
    "--store",
    metavar="PATH_OR_URL",
    help="Where runs keep artifacts and history: a folder or an fsspec URL such as "
    "s3://bucket/prefix. Default: $KFP_JUPYTER_STORE, else the nearest .kfp-jupyter folder from "
    "here up to the top of the git repository, else a new one at that top (or here, outside a "
    "repository).",
)


def _console() -> Console:
    from rich.console import Console

    # Piped output is read by programs and people alike: do not wrap it at 80 columns.
    return Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def _follow(handle: Any) -> int:
    """Show a run until it ends; Ctrl-C / SIGTERM cancel it (a second Ctrl-C stops at once)."""
    from ..engine import states
    from ..engine.progress import follow, print_summary

    interrupted = {"n": 0}

    def _cancel(signum: int, frame: FrameType | None) -> None:
        interrupted["n"] += 1
        if interrupted["n"] > 1:
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


@click.command("run")
@click.argument("notebook", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a pipeline parameter (repeatable); the value is parsed as its type.",
)
@click.option("--experiment", metavar="NAME", help="Record the run under this experiment.")
@_store_option
@click.option(
    "--workers",
    type=int,
    metavar="N",
    help="Steps run at the same time. Default: the number of cores.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Run every step, even if an earlier run has "
    "its outputs for the same code, inputs and parameters.",
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="After a step fails, still run the steps that do not depend on it.",
)
@click.option(
    "--launcher",
    type=click.Choice(["auto", "fork", "subprocess"]),
    default=None,
    help="How step processes start: from a fork server that has run the notebook's "
    "imports (fast; default on Linux) or as a cold `python step.py` each.",
)
@click.option(
    "--host-exec",
    is_flag=True,
    help="Run component and container steps' commands on this machine, without their images "
    "(for when Docker or Podman is not available).",
)
@click.option(
    "--apply-resources",
    is_flag=True,
    help="Apply resource steps with kubectl (its current context); by default a local run "
    "touches no cluster and only reports them.",
)
@no_pin_option
@handle_errors
def run_cmd(
    notebook: Path,
    params: tuple[str, ...],
    experiment: str | None,
    store: str | None,
    workers: int | None,
    no_cache: bool,
    keep_going: bool,
    launcher: str | None,
    host_exec: bool,
    apply_resources: bool,
    pin_packages: bool | None,
) -> None:
    """Run NOTEBOOK's pipeline on this machine: each step in its own process, independent
    steps in parallel, unchanged steps reused from earlier runs."""
    from ..engine import run_local
    from ..loader import load_notebook

    values = parse_param_options(params)
    pipeline = load_notebook(notebook, pin_packages=pin_packages)
    for w in pipeline.warnings:
        warn(str(w))
    unset = sorted({s.env for st in pipeline.steps for s in st.secrets} - set(os.environ))
    if unset:
        warn(
            f"steps read secrets from {', '.join(unset)}, which {'is' if len(unset) == 1 else 'are'}"
            " not set here: on this machine, secrets come from the environment"
        )
    handle = run_local(
        pipeline,
        values,
        store=store,
        workers=workers,
        cache=not no_cache,
        keep_going=keep_going,
        experiment=experiment,
        launcher=launcher,
        host_exec=host_exec,
        apply_resources=apply_resources,
    )
    sys.exit(_follow(handle))


@click.group("runs")
def runs_group() -> None:
    """The history of local runs: list, show, logs, resume."""


def _history(store: str | None) -> tuple[Any, Any]:
    from ..engine.history import History
    from ..engine.store import open_store

    st = open_store(store, create=False)
    return st, History(st.db_path)


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _time(ts: float | None) -> str:
    if ts is None:
        return ""
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _styled(state: str) -> Text:
    from rich.text import Text

    from ..engine.progress import STYLES

    return Text(state, style=STYLES.get(state, ""))


#: `runs list` shows this many of the newest runs unless told otherwise
LIST_DEFAULT = 20


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


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
@_store_option
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
    from rich.table import Table

    from ..engine.progress import fmt_seconds
    from ..engine.report import run_listing, runs_of_notebook

    if show_all and limit is not None:
        raise click.BadParameter("give --limit or --all, not both", param_hint="--all")
    wanted = [s.upper() for s in states]
    limit = None if show_all else (limit or LIST_DEFAULT)
    st, history = _history(store)
    if notebook is not None:
        runs = [
            r
            for r in runs_of_notebook(history, notebook, experiment)
            if not wanted or r.state in wanted
        ]
        total = len(runs)
        runs = runs[:limit] if limit else runs
    else:
        runs = history.list_runs(experiment, limit, wanted)
        total = (
            history.count_runs(experiment, wanted) if limit and len(runs) == limit else len(runs)
        )
    if as_json:
        click.echo(json.dumps([run_listing(history, r) for r in runs], indent=2))
        return
    if not runs:
        click.echo("no runs" + (f" in experiment {experiment!r}" if experiment else ""))
    else:
        table = Table(
            "run", "experiment", "pipeline", "state", "started", "took", "steps",
            box=None, pad_edge=False,
        )  # fmt: skip
        counts = history.task_counts([r.id for r in runs])
        for r in runs:
            by_state = counts.get(r.id, {})
            ok = by_state.get("SUCCEEDED", 0) + by_state.get("CACHED", 0)
            took = fmt_seconds(r.finished - r.started) if r.finished and r.started else ""
            table.add_row(
                r.id,
                r.experiment,
                r.pipeline,
                _styled(r.state),
                _time(r.created),
                took,
                f"{ok}/{sum(by_state.values())}",
            )
        _console().print(table)
        if total > len(runs):
            click.echo(f"the newest {len(runs)} of {total} runs; --limit N or --all for more")
    if summary:
        from ..engine.gc import store_size

        artifacts, own = store_size(st, history)
        click.echo(
            f"{history.count_runs()} runs in {st.describe()}: artifacts "
            f"{_human_bytes(artifacts)}, history and run files {_human_bytes(own)}"
        )


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
@_store_option
@handle_errors
def runs_gc(keep: int | None, older_than: str | None, dry_run: bool, store: str | None) -> None:
    """Remove old runs and the artifacts no kept run uses (never a run still going).

    With both --keep and --older-than, a run goes when both say so.
    """
    from ..engine.gc import plan_gc, run_gc

    if keep is None and older_than is None:
        raise click.UsageError("say what to remove: --keep N, --older-than AGE|DATE, or both")
    before = _before(older_than) if older_than is not None else None
    st, history = _history(store)
    plan = plan_gc(history, keep=keep, before=before, store=st)
    verb = "would remove" if dry_run else "removed"
    if not dry_run:
        run_gc(st, history, plan)
    click.echo(
        f"{verb} {len(plan.remove)} run(s) and {len(plan.artifacts)} artifact(s) "
        f"({_human_bytes(plan.bytes)}), {len(plan.programs)} program file(s); "
        f"{len(plan.keep)} run(s) kept"
    )
    if dry_run:
        for r in plan.remove:
            click.echo(f"  {r.id}  {_time(r.created)}  {r.pipeline}  {r.state}")


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
@_store_option
@handle_errors
def runs_show(run_id: str, as_json: bool, store: str | None) -> None:
    """Show a run: its state, parameters, metrics, tasks and artifacts."""
    from rich.table import Table
    from rich.text import Text

    from ..engine.progress import fmt_seconds
    from ..engine.report import run_summary

    st, history = _history(store)
    run = history.get_run(run_id)
    if as_json:
        click.echo(json.dumps(run_summary(history, run.id), indent=2))
        return
    console = _console()
    console.print(
        Text.assemble(
            ("run ", ""),
            (run.id, "bold"),
            "  ",
            _styled(run.state),
            f"  experiment {run.experiment}  pipeline {run.pipeline}",
        )
    )
    if run.message:
        console.print(f"  {run.message}", markup=False)
    if run.notebook:
        console.print(f"notebook: {run.notebook}", markup=False)
    took = (
        f", took {fmt_seconds(run.finished - run.started)}" if run.finished and run.started else ""
    )
    console.print(f"started {_time(run.created)}{took}", markup=False)
    if run.parameters:
        console.print(
            "parameters: " + ", ".join(f"{k}={v!r}" for k, v in run.parameters.items()),
            markup=False,
        )
    metrics = history.metrics(run.id)
    if metrics:
        console.print(
            "metrics: " + ", ".join(f"{k}={v:g}" for k, v in metrics.items()), markup=False
        )
    table = Table(
        "step", "state", "attempts", "started", "took", "exit", "", box=None, pad_edge=False
    )
    for t in history.tasks(run.id):
        took = (
            fmt_seconds(t.finished - t.started) if t.finished and t.started and not t.cached else ""
        )
        table.add_row(
            t.name,
            _styled(t.state),
            str(t.attempts) if t.attempts else "",
            _time(t.started),
            took,
            "" if t.exit_code is None else str(t.exit_code),
            Text(t.message or "", style="dim"),
        )
    console.print(table)
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


@runs_group.command("logs")
@click.argument("run_id", metavar="RUN_ID|latest")
@click.argument("step")
@_store_option
@handle_errors
def runs_logs(run_id: str, step: str, store: str | None) -> None:
    """Print the log (stdout and stderr) of STEP in a run."""
    st, history = _history(store)
    run = history.get_run(run_id)
    task = history.task(run.id, step)
    source = task
    if task.cached and task.cached_from is not None:
        original = history.task_by_id(task.cached_from)
        if original is not None:
            source = original
            click.echo(
                f"(step {step} was reused from run {original.run_id}; its log follows)", err=True
            )
    text = None
    if source.log and Path(source.log).is_file():
        text = Path(source.log).read_text(encoding="utf-8", errors="replace")
    elif source.log:
        text = st.read_text(f"runs/{source.run_id}/logs/{Path(source.log).name}")
    if text is None:
        raise UsageError(f"step {step!r} of run {run.id} has no log (state {task.state})")
    error = _step_error(st, source)
    if error is not None:
        # the exception first, in the notebook's terms; the log below no longer ends with it
        click.echo(error.render() + "\n\n--- log ---")
        text = error.without_in(text)
    click.echo(text, nl=not text.endswith("\n"))


def _step_error(st: Store, task: Any) -> StepError | None:
    """The stored exception of a failed task (None for any other task)."""
    from ..engine.steperror import stored_error

    if task.state != "FAILED":
        return None
    return stored_error(st, task.run_id, task.log)


@runs_group.command("resume")
@click.argument("run_id", metavar="RUN_ID|latest")
@_store_option
@click.option("--workers", type=int, metavar="N", help="Steps run at the same time.")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Do not reuse outputs of other runs (the run's own completed steps are always kept).",
)
@click.option(
    "--keep-going/--no-keep-going",
    default=None,
    help="Run independent steps after a failure (default: as the run was started).",
)
@click.option(
    "--launcher",
    type=click.Choice(["auto", "fork", "subprocess"]),
    default=None,
    help="How step processes start.",
)
@handle_errors
def runs_resume(
    run_id: str,
    store: str | None,
    workers: int | None,
    no_cache: bool,
    keep_going: bool | None,
    launcher: str | None,
) -> None:
    """Finish an interrupted, failed or cancelled run, reusing every step that had completed.

    The run's own step programs are executed, as they were when it started."""
    from ..engine import resume_local

    handle = resume_local(
        run_id,
        store=store,
        workers=workers,
        cache=not no_cache,
        keep_going=keep_going,
        launcher=launcher,
    )
    sys.exit(_follow(handle))


@click.group("experiments")
def experiments_group() -> None:
    """Experiments: the names runs are grouped under."""


@experiments_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array (for tools).")
@_store_option
@handle_errors
def experiments_list(as_json: bool, store: str | None) -> None:
    """List experiments with their number of runs."""
    from rich.table import Table

    from ..engine.report import iso

    _, history = _history(store)
    rows = history.experiments()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": e.name,
                        "runs": e.runs,
                        "created": iso(e.created),
                        "last_run": iso(e.last_run),
                    }
                    for e in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        click.echo("no experiments")
        return
    table = Table("experiment", "runs", "last run", box=None, pad_edge=False)
    for e in rows:
        table.add_row(e.name, str(e.runs), _time(e.last_run))
    _console().print(table)


@click.group("artifacts")
def artifacts_group() -> None:
    """The data steps hand on to each other, as stored by runs."""


@artifacts_group.command("get")
@click.argument("run_id", metavar="RUN_ID|latest")
@click.argument("step")
@click.argument("variable")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="The file to write (or a folder to write into). Default: ./VARIABLE.EXT",
)
@_store_option
@handle_errors
def artifacts_get(
    run_id: str, step: str, variable: str, output: Path | None, store: str | None
) -> None:
    """Copy VARIABLE as saved by STEP in a run to a file (.npy, .parquet, .joblib, .json, ...)."""
    st, history = _history(store)
    run = history.get_run(run_id)
    history.task(run.id, step)  # a clear error for an unknown step
    arts = {a.name: a for a in history.artifacts(run.id, step)}
    if variable not in arts:
        have = ", ".join(arts) or "none (it has not finished, or hands nothing on)"
        raise UsageError(
            f"step {step!r} of run {run.id} has no output {variable!r} (its outputs: {have})"
        )
    art = arts[variable]
    folder = st.artifact_path(art.digest.split(":", 1)[1])
    _check_intact(st, art)
    files = sorted(p for p in folder.iterdir() if p.name.startswith(variable + "."))
    if not files:
        raise UsageError(f"the artifact {art.uri} holds no file for {variable!r}")
    source = files[0]
    if output is None:
        target = Path.cwd() / source.name
    elif output.is_dir() or str(output).endswith(("/", "\\")):
        output.mkdir(parents=True, exist_ok=True)
        target = output / source.name
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        target = output
    shutil.copyfile(source, target)
    click.echo(
        f"wrote {target} ({art.type}, {source.stat().st_size} bytes, {art.digest[:19]}...)",
        err=True,
    )


def _check_intact(st: Store, art: ArtifactRow) -> None:
    """Refuse to hand out an artifact whose bytes no longer match the digest it is known by."""
    from ..engine.store import ArtifactChangedError

    problem = st.verify_artifact(art.digest.split(":", 1)[1])
    if problem is not None:
        raise ArtifactChangedError(
            f"the artifact {art.step}/{art.name} of run {art.run_id} ({art.uri}) does not match "
            f"its digest {art.digest[:19]}...: {problem}. Run the notebook again to compute it "
            "afresh (a cached run notices it and re-runs the step)"
        )


def register(cli: click.Group) -> None:
    cli.add_command(run_cmd)
    cli.add_command(runs_group)
    cli.add_command(experiments_group)
    cli.add_command(artifacts_group)
