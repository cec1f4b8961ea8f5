"""A step's inputs back in Python: the values the step received in a run, to reproduce a failure
by running the step's cell by hand in a kernel.

What the step received is read from the run itself (its pipeline as the run stored it, and the
artifacts its producers stored), not from the notebook, which may have changed since; values are
loaded by the same code the step program loads them with.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import UsageError
from ..packaging import stepmain, stepruntime
from .history import History, RunRow
from .plan import Plan, PlanStep
from .report import runs_of_notebook
from .states import CACHED
from .store import open_store
from .storelayout import ArtifactChangedError

if TYPE_CHECKING:
    from .storebase import Store

#: the step program's own loader (the runtime is shipped as source, so it carries no types)
_load_value = cast(Callable[[str, str, str], Any], stepruntime._kfpj_load)
#: how the step program reads a value a component wrote to a file, by its type
_read_value = cast(Callable[[str, str], Any], stepmain._kfpj_value)


@dataclass(frozen=True)
class LoadedInput:
    name: str
    value: Any
    #: "parameter", or the step that produced it
    source: str
    #: the value is the path of a file a component or container step wrote
    file: bool = False

    def summary(self) -> str:
        """One line for a person: the name, what the value is, where it came from."""
        kind = "the path of a file" if self.file else type(self.value).__name__
        shape = getattr(self.value, "shape", None)
        if isinstance(shape, tuple):
            kind += " " + "×".join(map(str, shape))
        elif hasattr(self.value, "__len__") and not isinstance(self.value, str) and not self.file:
            kind += f" of {len(self.value)}"
        origin = "a pipeline parameter" if self.source == "parameter" else f"from {self.source!r}"
        return f"{self.name}: {kind}, {origin}"


def _latest_run(history: History, notebook: Path, step: str) -> RunRow:
    """The newest run of `notebook` in which `step` started (or was taken from the cache)."""
    runs = runs_of_notebook(history, notebook)
    if not runs:
        raise UsageError(f"no run of {notebook.name} in this store: run the pipeline first")
    newest = [t.name for t in history.tasks(runs[0].id)]
    if step not in newest:
        raise UsageError(
            f"the newest run of {notebook.name} ({runs[0].id}) has no step {step!r}; "
            f"its steps: {', '.join(newest)}"
        )
    for run in runs:
        if any(t.name == step and _received(t.started, t.state) for t in history.tasks(run.id)):
            return run
    raise UsageError(
        f"no run of {notebook.name} in this store reached step {step!r}: run the pipeline "
        "until it does, or give a run ID and the store it is in"
    )


def _received(started: float | None, state: str) -> bool:
    """Whether a step received its inputs in a run: it started (a step cancelled or skipped
    before it started never had them), or it was taken from the cache."""
    return started is not None or state == CACHED


def load_step_inputs(
    notebook: str | os.PathLike[str] | None,
    step: str,
    run: str | None = None,
    store: str | os.PathLike[str] | None = None,
) -> tuple[str, list[LoadedInput]]:
    """(the run's ID, what `step` received in it: each data input and parameter value)."""
    if run is None and notebook is None:
        raise UsageError("say which run: give the notebook or a run ID")
    st = open_store(store, create=False)
    with History(st.db_path) as history:
        return _load(history, st, notebook, step, run)


def _load(
    history: History,
    st: Store,
    notebook: str | os.PathLike[str] | None,
    step: str,
    run: str | None,
) -> tuple[str, list[LoadedInput]]:
    row = (
        history.get_run(run)
        if run is not None
        else _latest_run(history, Path(notebook or ""), step)
    )
    plan = Plan.from_json(history.version_spec(row.version_id))
    try:
        planned = plan.step(step)
    except KeyError:
        names = ", ".join(s.name for s in plan.steps)
        raise UsageError(f"run {row.id} has no step {step!r}; its steps: {names}") from None
    _refuse_unless_python(planned, row.id)
    kinds = _input_kinds(planned.program)
    out = [LoadedInput(p, row.parameters.get(p), "parameter") for p in planned.parameters]
    for variable, producer in planned.inputs:
        folder = _stored_input(history, st, row.id, step, variable, producer)
        out.append(_loaded(step, variable, producer, folder, kinds.get(variable)))
    return row.id, out


def _refuse_unless_python(planned: PlanStep, run_id: str) -> None:
    """Only a Python step has a cell to run by hand with its inputs in a kernel."""
    if planned.kind != "python":
        raise UsageError(
            f"step {planned.name!r} of run {run_id} is a {planned.kind} step, not Python: it has "
            "no cell to run by hand, so there are no inputs to load for it; load those of a "
            "Python step"
        )


def _input_kinds(program: str) -> dict[str, tuple[str, str]]:
    """How the step program the run stored reads each input of a component or container step:
    ("path", "") a file's path, or ("value", TYPE) the value read from the file with its type;
    any other input is a saved variable. The program says it in the call its main ends with,
    `_kfpj_main(function, parameters, inputs, outputs, metrics, files, values, exports)`
    (packaging/program.py writes it), so the inputs load as that run's step loaded them, whatever
    the notebook says now."""
    for node in reversed(ast.parse(program).body):
        if not isinstance(node, ast.If):
            continue
        for stmt in node.body:
            call = stmt.value if isinstance(stmt, ast.Expr) else None
            if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "_kfpj_main":
                files = ast.literal_eval(call.args[5]) if len(call.args) > 5 else {}
                values = ast.literal_eval(call.args[6]) if len(call.args) > 6 else {}
                kinds = {str(name): ("path", "") for name in files.values()}
                kinds.update({str(name): ("value", str(kind)) for name, kind in values.values()})
                return kinds
    return {}


def _stored_input(
    history: History, st: Store, run_id: str, step: str, variable: str, producer: str
) -> Path:
    """The folder holding what `producer` stored as `variable` in the run, checked against its
    digest."""
    stored = {a.name: a for a in history.artifacts(run_id, producer)}
    art = stored.get(variable)
    if art is None:
        raise UsageError(
            f"step {producer!r} of run {run_id} stored no {variable!r}, which step "
            f"{step!r} reads (it did not finish): run the pipeline again, then load the inputs"
        )
    problem = st.verify_artifact(art.digest)
    if problem is not None:
        raise ArtifactChangedError(
            f"the stored {variable!r} of step {producer!r} (run {run_id}) does not match "
            f"its digest: {problem}. Run the pipeline again to compute it afresh"
        )
    return Path(st.artifact_path(art.digest))


def _loaded(
    step: str, variable: str, producer: str, folder: Path, kind: tuple[str, str] | None
) -> LoadedInput:
    """An input as the step program gets it: a component's file as its path (the file named
    after the output in its folder), a component's value read with its type, a saved variable
    by the runtime's loader."""
    if kind is None:
        try:
            value = _load_value(step, variable, str(folder))
        except stepruntime._KfpjError as e:  # the loader's own words: what is missing and the fix
            raise UsageError(str(e)) from None
        return LoadedInput(variable, value, producer)
    file = folder / variable
    if not file.is_file():
        raise UsageError(
            f"step {step!r}: input {variable!r} was not found at {str(file)!r}: run the pipeline "
            "again, then load the inputs"
        )
    if kind[0] == "path":
        return LoadedInput(variable, str(file), producer, file=True)
    return LoadedInput(variable, _read_value(str(file), kind[1]), producer)


def step_inputs(
    notebook: str | os.PathLike[str] | None,
    step: str,
    run: str | None = None,
    store: str | os.PathLike[str] | None = None,
) -> dict[str, object]:
    """The values `step` received in a run (default: the newest run of `notebook` in the store
    that reached the step), by name: its data inputs and its parameters."""
    _, loaded = load_step_inputs(notebook, step, run, store)
    return {i.name: i.value for i in loaded}
