"""What the history says about runs, in the shapes front ends print (`runs show --json` etc.)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import states
from .steperror import error_file, read_error, stored_error

if TYPE_CHECKING:
    from .history import History
    from .history_rows import RunRow, TaskRow
    from .storebase import Store


def iso(ts: float | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, e.g. 2025-01-31T12:00:00.123+00:00."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")


def task_summary(t: TaskRow, store: Store | None = None) -> dict[str, Any]:
    """One task of `runs show --json`: what the table shows, and a failed step's exception
    (`error`: the StepError's JSON, its traceback mapped to cells) as the text view prints it."""
    return {
        "name": t.name,
        "state": t.state,
        "cached": t.cached,
        "attempts": t.attempts,
        "started": iso(t.started),
        "finished": iso(t.finished),
        "exit_code": t.exit_code,
        "message": t.message,
        "error": _error(t, store),
    }


def _error(t: TaskRow, store: Store | None) -> dict[str, Any] | None:
    """The stored exception of a failed task: from the store (a run made elsewhere) when one is
    given, else from the run's folder on this machine."""
    if t.state != states.FAILED or not t.log:
        return None
    if store is not None:
        error = stored_error(store, t.run_id, t.log)
    else:
        error = read_error(error_file(t.log))
    return error.to_json() if error is not None else None


def run_summary(history: History, run_id: str, store: Store | None = None) -> dict[str, Any]:
    """The object `kfp-jupyter runs show --json` prints, exactly the keys the docs list: what
    the text view shows (why the run failed, each step's exception, the artifacts)."""
    run = history.get_run(run_id, repair=False)
    return {
        "id": run.id,
        "experiment": run.experiment,
        "pipeline": run.pipeline,
        "state": run.state,
        "message": run.message,
        "notebook": run.notebook,
        "created": iso(run.created),
        "finished": iso(run.finished),
        # how long it was running: a resumed run's wait for its resume is not in it
        "duration": run.running_time,
        "attempts": run.attempts,
        "resumed": iso(run.resumed),
        "parameters": run.parameters,
        "metrics": history.metrics(run.id),
        "tasks": [task_summary(t, store) for t in history.tasks(run.id)],
        "artifacts": [
            {
                "step": a.step,
                "name": a.name,
                "type": a.type,
                "size": a.size,
                "digest": a.digest,
                "uri": a.uri,
            }
            for a in history.artifacts(run.id)
        ],
    }


def run_listing(history: History, run: RunRow) -> dict[str, Any]:
    """One entry of `runs list --json`."""
    tasks = history.tasks(run.id)
    return {
        "id": run.id,
        "experiment": run.experiment,
        "pipeline": run.pipeline,
        "state": run.state,
        "created": iso(run.created),
        "finished": iso(run.finished),
        # how long it was running: a resumed run's wait for its resume is not in it
        "duration": run.running_time,
        "attempts": run.attempts,
        "resumed": iso(run.resumed),
        "notebook": run.notebook,
        "parameters": run.parameters,
        "metrics": history.metrics(run.id),
        "tasks": {
            "total": len(tasks),
            "succeeded": sum(t.state == states.SUCCEEDED for t in tasks),
            "cached": sum(t.state == states.CACHED for t in tasks),
            "failed": sum(t.state == states.FAILED for t in tasks),
        },
        "message": run.message,
    }


def runs_of_notebook(
    history: History, notebook: Path | str, experiment: str | None = None, limit: int | None = None
) -> list[RunRow]:
    """The runs of one notebook, newest first, wherever they were started (a server, the widget,
    the command line): runs record the notebook's absolute path, compared here with links
    resolved, so `./nb.ipynb` from a terminal and the server's view of it are one notebook."""
    real = os.path.realpath(notebook)
    same: dict[str, bool] = {}  # most runs name the same few notebooks: resolve each once
    out: list[RunRow] = []
    for run in history.list_runs(experiment):
        if not run.notebook:
            continue
        if run.notebook not in same:
            same[run.notebook] = os.path.realpath(run.notebook) == real
        if same[run.notebook]:
            out.append(run)
            if limit is not None and len(out) >= limit:
                break
    return out
