"""A step's inputs back in Python: the values the step received in a run, to reproduce a failure
by running the step's cell by hand in a kernel.

What the step received is read from the run itself (its pipeline as the run stored it, and the
artifacts its producers stored), not from the notebook, which may have changed since; values are
loaded by the same code the step program loads them with.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import UsageError
from ..packaging import stepruntime
from .history import History, RunRow
from .plan import Plan
from .report import runs_of_notebook
from .states import PENDING, SKIPPED
from .store import open_store
from .storelayout import ArtifactChangedError

if TYPE_CHECKING:
    from .storebase import Store

#: the step program's own loader (the runtime is shipped as source, so it carries no types)
_load_value = cast(Callable[[str, str, str], Any], stepruntime._kfpj_load)


@dataclass(frozen=True)
class LoadedInput:
    name: str
    value: Any
    #: "parameter", or the step that produced it
    source: str

    def summary(self) -> str:
        """One line for a person: the name, what the value is, where it came from."""
        kind = type(self.value).__name__
        shape = getattr(self.value, "shape", None)
        if isinstance(shape, tuple):
            kind += " " + "×".join(map(str, shape))
        elif hasattr(self.value, "__len__") and not isinstance(self.value, str):
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
        if any(t.name == step and t.state not in (PENDING, SKIPPED) for t in history.tasks(run.id)):
            return run
    raise UsageError(
        f"no run of {notebook.name} in this store reached step {step!r}: run the pipeline "
        "until it does, or give a run ID and the store it is in"
    )


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
    out = [LoadedInput(p, row.parameters.get(p), "parameter") for p in planned.parameters]
    for variable, producer in planned.inputs:
        stored = {a.name: a for a in history.artifacts(row.id, producer)}
        art = stored.get(variable)
        if art is None:
            raise UsageError(
                f"step {producer!r} of run {row.id} stored no {variable!r}, which step "
                f"{step!r} reads (it did not finish): run the pipeline again, then load the inputs"
            )
        problem = st.verify_artifact(art.digest)
        if problem is not None:
            raise ArtifactChangedError(
                f"the stored {variable!r} of step {producer!r} (run {row.id}) does not match "
                f"its digest: {problem}. Run the pipeline again to compute it afresh"
            )
        try:
            value = _load_value(step, variable, str(st.artifact_path(art.digest)))
        except stepruntime._KfpjError as e:  # the loader's own words: what is missing and the fix
            raise UsageError(str(e)) from None
        out.append(LoadedInput(variable, value, producer))
    return row.id, out


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
