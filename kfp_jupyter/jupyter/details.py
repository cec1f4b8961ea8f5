"""What the widget shows for a clicked step: state, log tail, inputs/outputs (name, type, size),
metrics and parameters, from the pipeline and, when the step ran locally, from the run history."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine import states

if TYPE_CHECKING:
    from ..engine.steperror import StepError

LOG_LINES = 40


def received_inputs(state: dict[str, Any]) -> bool:
    """Whether a step received its inputs: it started (whatever it ended as: a step cancelled
    while it ran had them; one cancelled before it started never had), or it was taken from the
    cache, whose run had them."""
    return state.get("started") is not None or state.get("state") == states.CACHED


def _log_tail(path: str | None, error: StepError | None = None) -> str | None:
    if not path:
        return None
    from ..engine.runner import log_tail

    try:
        return log_tail(Path(path), LOG_LINES, error=error)
    except OSError:
        return None


def _step_error(log: str | None, state: str | None) -> StepError | None:
    """The exception a failed step's program reported, kept next to its log by the engine."""
    if not log or state != states.FAILED:
        return None
    from ..engine.steperror import error_file, read_error

    return read_error(error_file(log))


def _with_error(tail: str | None, error: StepError | None) -> str | None:
    """The log tail the panel shows, after the exception and its cells: the error first."""
    if error is None:
        return tail
    return error.render() + (f"\n\nlog:\n{tail}" if tail else "")


@dataclasses.dataclass
class _Known:
    """What the details show beyond the pipeline's own facts, as far as the run history goes (a
    history that fails half way keeps what was read before)."""

    values: dict[str, Any]
    log: str | None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    note: str | None = None


def _variables(step: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The step's inputs (with their producers) and outputs, types and sizes not known yet."""
    sources: dict[str, str] = dict(step.get("input_sources") or {})
    inputs = [
        {"name": v, "producer": sources.get(v), "type": None, "size": None}
        for v in step.get("inputs") or []
    ]
    outputs = [{"name": v, "type": None, "size": None} for v in step.get("outputs") or []]
    return inputs, outputs


def _read_history(
    known: _Known,
    history: Any,
    run_id: str,
    step: dict[str, Any],
    variables: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    """Artifact types and sizes, metric values, the run's parameter values and the log of a local
    run; a store that went away must not break the panel, so a failure becomes the note."""
    name = str(step["name"])
    inputs, outputs = variables
    try:
        arts = {(a.step, a.name): a for a in history.artifacts(run_id)}
        for item in inputs:
            a = arts.get((item["producer"], item["name"]))
            if a is not None:
                item.update(type=a.type, size=a.size)
        for item in outputs:
            a = arts.get((name, item["name"]))
            if a is not None:
                item.update(type=a.type, size=a.size)
        own = set(step.get("metrics") or [])
        known.metrics = {k: v for k, v in history.metrics(run_id).items() if k in own}
        known.values = dict(history.get_run(run_id, repair=False).parameters)
        if not known.log:
            known.log = history.task(run_id, name).log
    except Exception as e:
        known.note = f"could not read the run history: {e}"


def _cluster_note(run: dict[str, Any]) -> str:
    note = "logs and artifacts of cluster runs are in the cluster's UI"
    return note + (f": {run['url']}" if run.get("url") else "")


def step_details(
    step: dict[str, Any],
    *,
    state: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    history: Any | None = None,
) -> dict[str, Any]:
    """The details dict for `step` (one entry of `Pipeline.to_json()["steps"]`).

    `history` (an engine History) and a local `run` add artifact types and sizes, metric values,
    the run's parameter values and the log; without them the pipeline's own facts are shown.
    """
    run, extra, state = run or {}, extra or {}, state or {}
    inputs, outputs = _variables(step)
    known = _Known(values=dict(params or {}), log=extra.get("log"))
    run_id = run.get("id")
    local = run.get("engine", "local") == "local"
    if history is not None and run_id and local:
        _read_history(known, history, run_id, step, (inputs, outputs))
    elif run_id and not local and not extra.get("log_tail"):
        known.note = _cluster_note(run)
    elif not run_id:
        known.note = "not run yet: types and sizes of the variables appear after a run"
    error = _step_error(known.log, state.get("state"))
    if error is None and state.get("state") == states.FAILED:
        # a cluster step's exception, read from its pod while the run was followed: there is no
        # run folder to read it from
        error = extra.get("error")
    tail = _log_tail(known.log, error) or extra.get("log_tail")
    reached = received_inputs(state)
    return {
        "step": str(step["name"]),
        #: a local run whose stored values this step received: `%kfp inputs STEP --run RUN` (and
        #: the details' button) load them into a kernel, to run the step's cell by hand
        "run_id": run_id if local else None,
        "inputs_loadable": bool(
            local and run_id and reached and (step.get("kind") or "python") == "python"
        ),
        "kind": step.get("kind"),
        #: the step's cells (1-based, every cell counted), to find and mark them in the notebook
        "cells": list(step.get("cells") or []),
        "state": state.get("state"),
        #: the exception first ("TYPE: message" and its cells), as `kfp-jupyter runs logs` shows it
        "error": error.render() if error else None,
        "error_frames": list(error.frames) if error else [],
        "message": state.get("message"),
        "image": step.get("image"),
        "resources": dict(step.get("resources") or {}),
        "parameters": {p: known.values.get(p) for p in step.get("parameters") or []},
        "inputs": inputs,
        "outputs": outputs,
        "metrics": known.metrics,
        "log_tail": _with_error(tail, error),
        "log": known.log,
        "note": known.note,
    }


def run_step_details(
    pipeline: dict[str, Any] | None,
    name: str,
    *,
    history: Any | None = None,
    run_id: str | None = None,
    cluster: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The details of step `name` for the JupyterLab panel: the same dict as the widget's.

    `pipeline` is the notebook's `Pipeline.to_json()` now (None when the notebook has problems:
    a step of a run is then still shown from the run history). `run_id` of a local run in
    `history`, or `cluster` = {"id", "engine", "url", "tasks": {step: state}, "failures": {step:
    StepFailure}} of a run sent to a cluster. None if neither the notebook nor the run knows the
    step.
    """
    step = next((s for s in (pipeline or {}).get("steps", []) if s.get("name") == name), None)
    params = dict((pipeline or {}).get("parameters") or {})
    if cluster is not None:
        tasks: dict[str, str] = cluster.get("tasks") or {}
        if step is None and name not in tasks:
            return None
        run = {k: cluster.get(k) for k in ("id", "engine", "url")}
        failure = (cluster.get("failures") or {}).get(name)
        if failure is None:
            state = {"state": tasks[name]} if name in tasks else None
            return step_details(step or {"name": name}, state=state, run=run, params=params)
        # read from the step's pod while the server followed the run: the same words as a
        # local run's, the exception first
        extra = {"log_tail": failure.log_tail, "error": failure.error}
        failed = {"state": tasks.get(name), "message": failure.summary(None)}
        d = step_details(step or {"name": name}, state=failed, run=run, params=params, extra=extra)
        if failure.note:
            d["note"] = failure.note
        return d
    if history is None or not run_id:
        return None if step is None else step_details(step, params=params)
    from ..errors import KfpJupyterError

    try:
        task = history.task(run_id, name)
    except KfpJupyterError:
        task = None
    if step is None and task is None:
        return None
    state = (
        {"state": task.state, "message": task.message, "started": task.started}
        if task is not None
        else None
    )
    return step_details(
        step or {"name": name},
        state=state,
        run={"id": run_id, "engine": "local"},
        params=params,
        history=history,
    )
