"""Several notebooks as one pipeline: a pipeline notebook with one `%%notebook` step per notebook.

What `kfp-jupyter compose` writes (Elyra's model: each notebook is a node, run whole). The order is
the order given, each notebook after the one before it, unless `after` says otherwise. The
notebooks' parameters become the pipeline's (passed through to every notebook that has them),
and a notebook whose parameters cell names a variable an earlier notebook hands on (`outputs`)
gets that variable. The result is an ordinary annotated notebook: every command takes it.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..analysis.blocks import name_assignment, unique_step_name
from ..analysis.notebookstep import cell_role, read_child
from ..errors import NotebookError, Problem, UsageError
from ..fileio import same_file, write_atomically
from ..loader import pipeline_from_notebook
from ..model import Parameter, function_name
from ..notebook.magic_lines import format_magic_line
from ..notebook.magics_loader import LOAD_MAGICS, empty_body
from ..notebook.reader import NotebookFile, parse_notebook_text, read_notebook
from ..notebook.roles import Role, suggest_step_name
from ..notebook.source import to_python
from ..notebook.step_settings import StepSettings

#: the standard python3 kernel, for a pipeline notebook whose notebooks name none
_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


@dataclass(frozen=True)
class Composed:
    """One notebook of the pipeline: its step name, path and what its step cell says."""

    step: str
    path: str
    after: tuple[str, ...]
    outputs: tuple[str, ...]
    #: (the notebook's parameter, what it is given: a pipeline parameter or an earlier variable)
    bindings: tuple[tuple[str, str], ...]


def _step_names(paths: Sequence[Path], parameters: set[str]) -> list[str]:
    """The steps' names, after the notebooks' file names; a name a parameter of the pipeline
    could have (`lr.ipynb` with a parameter `lr`) gets `-notebook`, as a plain notebook's step
    does, since a step and a parameter of one name cannot be told apart in the programs."""
    taken = set(parameters)  # unique_step_name adds each name it gives
    names = []
    for p in paths:
        name = suggest_step_name(p.stem)
        if function_name(name) in parameters:
            name = name[: 63 - len("-notebook")].rstrip("-_") + "-notebook"
        names.append(unique_step_name(name, taken))
    return names


def compose(
    notebooks: Sequence[Path],
    output: Path,
    *,
    after: Mapping[str, Sequence[str]] | None = None,
    outputs: Mapping[str, Sequence[str]] | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """The pipeline notebook (version-4 JSON) composing `notebooks`, with paths relative to
    `output`'s folder. `after` maps a step to the steps it runs after (replacing "after the one
    before it"; an empty list: after none); `outputs` maps a step to the variables it hands on.
    An `output` that is one of `notebooks` is refused (UsageError). Raises NotebookError naming
    what is wrong in the notebooks, or in the pipeline notebook they make (read as every command
    reads it before it is returned)."""
    after = dict(after or {})
    outputs = dict(outputs or {})
    if not notebooks:
        raise NotebookError(Problem("no notebooks to compose", fix="name at least one notebook"))
    refuse_an_input(notebooks, output)
    books = [read_notebook(path) for path in notebooks]
    names = {n for nb in books for n in _parameter_names(nb)}
    steps = _step_names(notebooks, names)
    _check_steps_said(steps, after, outputs)
    folder = output.resolve().parent
    chosen = _Names(names | {function_name(s) for s in steps})
    handed: set[str] = set()
    composed: list[Composed] = []
    for i, (path, book, step) in enumerate(zip(notebooks, books, steps, strict=True)):
        bindings = _bindings(path, book, step, handed, chosen)
        prev = tuple(after[step]) if step in after else ((steps[i - 1],) if i else ())
        rel = Path(os.path.relpath(path.resolve(), folder)).as_posix()
        composed.append(Composed(step, rel, prev, tuple(outputs.get(step, ())), tuple(bindings)))
        handed |= set(outputs.get(step, ()))
    _check_handed(composed, chosen.parameters)
    params = list(chosen.parameters.values())
    nb = _write(composed, params, output, books[0].metadata, name)
    # no path through a folder not made yet can be read: the same notebook is then checked with
    # the notebooks' paths absolute
    there = output.parent.is_dir()
    absolute = [
        replace(c, path=p.resolve().as_posix()) for c, p in zip(composed, notebooks, strict=True)
    ]
    _check_reads(nb if there else _write(absolute, params, output, books[0].metadata, name), output)
    return nb


def _check_handed(composed: list[Composed], parameters: Mapping[str, Parameter]) -> None:
    """Refuse a variable handed on that is a parameter of the pipeline: a step reading it could
    not tell the pipeline's value from the one handed on."""
    problems = [
        Problem(
            f"--outputs {c.step}:{var}: {var!r} is a parameter of the pipeline, which no step "
            "hands on",
            step=c.step,
            fix=f"hand on a variable of another name (e.g. assign {var}_out = {var} in the "
            "notebook, and name that)",
        )
        for c in composed
        for var in c.outputs
        if var in parameters
    ]
    if problems:
        raise NotebookError(problems)


def _check_reads(nb: dict[str, Any], output: Path) -> None:
    """Refuse a pipeline notebook that every command would refuse (a cycle of --after, a
    variable --outputs hands on that is a parameter, a bad --name): its problems, said in the
    terms of compose, since its cells are in no file yet."""
    try:
        pipeline_from_notebook(parse_notebook_text(json.dumps(nb), output))
    except NotebookError as e:
        fix = "change the --after, --outputs or --name options, or the notebooks"
        raise NotebookError(
            [
                replace(
                    p,
                    message=f"the pipeline notebook would not load: {p.message}",
                    cell=None,
                    line=None,
                    fix=f"{p.fix}; {fix}" if p.fix else fix,
                )
                for p in e.problems
            ]
        ) from None


def refuse_an_input(notebooks: Sequence[Path], output: Path) -> None:
    """Refuse to write over a notebook being composed: it would be lost, and the pipeline would
    run itself without end."""
    if any(same_file(output, nb) for nb in notebooks):
        raise UsageError(
            f"refusing to write the pipeline notebook to {str(output)!r}: it is one of the "
            "notebooks composed; give another output path with -o, such as "
            f"{str(output.with_name(output.stem + '_pipeline.ipynb'))!r}"
        )


def _check_steps_said(
    steps: list[str], after: dict[str, Sequence[str]], outputs: dict[str, Sequence[str]]
) -> None:
    """Raise NotebookError if `after` or `outputs` name a step that is not there."""
    problems: list[Problem] = []
    for said in (after, outputs):
        for step in said:
            if step not in steps:
                problems.append(
                    Problem(
                        f"unknown step {step!r}",
                        fix=f"the steps are named after the notebooks: {', '.join(steps)}",
                    )
                )
    for step, prevs in after.items():
        for p in prevs:
            if p not in steps or p == step:
                problems.append(
                    Problem(
                        f"step {step!r} cannot run after {p!r}",
                        fix=f"name another of the steps: {', '.join(s for s in steps if s != step)}",
                    )
                )
    if problems:
        raise NotebookError(problems)


@dataclass
class _Names:
    """The pipeline's parameters, and every name one may not take: the notebooks' parameters
    and the steps' names in the programs."""

    taken: set[str]
    parameters: dict[str, Parameter] = field(default_factory=dict)

    def given(self, step: str, own: Parameter) -> str:
        """The pipeline parameter that gives a notebook's parameter `own`: the one of its name,
        unless that has another default; then a fresh one named after the step."""
        known = self.parameters.get(own.name)
        if known is None or known == own:
            self.parameters[own.name] = own
            return own.name
        base = f"{function_name(step)}_{own.name}"
        fresh, n = base, 2
        while fresh in self.taken or fresh in self.parameters:
            fresh, n = f"{base}_{n}", n + 1
        self.parameters[fresh] = Parameter(fresh, own.type, own.default)
        return fresh


def _bindings(
    path: Path, nb: NotebookFile, step: str, handed: set[str], names: _Names
) -> list[tuple[str, str]]:
    """What each parameter of the notebook is given: a variable an earlier step hands on, else a
    pipeline parameter (added to `names`)."""
    child_problems: list[Problem] = []
    child = read_child(nb, child_problems, strict=False)
    if child_problems:
        raise NotebookError(
            [Problem(f"notebook {str(path)!r}: {p}", fix=p.fix) for p in child_problems]
        )
    bindings: list[tuple[str, str]] = []
    literal = {p.name: p for p in child.parameters}
    for param in _parameter_names(nb):
        if param in handed:
            bindings.append((param, param))
        elif param in literal:
            bindings.append((param, names.given(step, literal[param])))
    return bindings


def _parameter_names(nb: NotebookFile) -> list[str]:
    """Every name the notebook's parameters cell assigns, in order (literals or not)."""
    found: list[str] = []
    for cell in nb.cells:
        if cell.kind != "code":
            continue
        role, body = cell_role(cell)
        if role != Role.PARAMETERS:
            continue
        try:
            tree = ast.parse(to_python(body).code)
        except SyntaxError:
            continue
        for node in tree.body:
            target, _ = name_assignment(node)
            if target is not None and target.id not in found:
                found.append(target.id)
    return found


def _code(source: str, *tags: str) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": list(tags)} if tags else {},
        "outputs": [],
        "source": source,
    }
    return cell


def _write(
    composed: list[Composed],
    parameters: list[Parameter],
    output: Path,
    first_meta: Mapping[str, Any],
    name: str | None,
) -> dict[str, Any]:
    listing = ", ".join(f"`{c.path}`" for c in composed)
    cells: list[dict[str, Any]] = [
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": f"# {output.stem}\n\nA pipeline of the notebooks {listing}, each run whole "
            "as one step (written by `kfp-jupyter compose`).",
        },
        _code(LOAD_MAGICS, "skip"),
    ]
    if parameters:
        cells.append(
            _code(
                "\n".join(f"{p.name} = {p.default!r}" for p in parameters),
                "pipeline-parameters",
            )
        )
    for c in composed:
        settings = StepSettings(prev=c.after, notebook=c.path, outputs=c.outputs)
        line = format_magic_line(Role.STEP, c.step, settings)
        body = "".join(f"\n{param} = {given}" for param, given in c.bindings)
        # IPython runs no cell magic with an empty body, so Run All would stop at this cell
        cells.append(_code(line + (body or "\n" + empty_body(settings))))
    for i, cell in enumerate(cells, start=1):
        cell["id"] = f"cell-{i:02d}"
    metadata: dict[str, Any] = {
        "kernelspec": first_meta.get("kernelspec") or dict(_KERNELSPEC),
        "kfp_jupyter": {
            "name": name or suggest_step_name(output.stem).replace("_", "-"),
            "description": "Runs "
            + ", then ".join(Path(c.path).name for c in composed)
            + ", each whole as one step",
        },
    }
    if "language_info" in first_meta:
        metadata["language_info"] = first_meta["language_info"]
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def write_composed(nb: Mapping[str, Any], output: Path) -> None:
    """Write the notebook as Jupyter does (nbformat's JSON), checked against the format, in one
    step: missing folders are made, and a failure leaves no half-written notebook."""
    import nbformat

    node = nbformat.from_dict(json.loads(json.dumps(nb)))  # type: ignore[no-untyped-call]
    nbformat.validate(node)
    text = nbformat.writes(node)  # type: ignore[no-untyped-call]
    try:
        write_atomically(output, text if text.endswith("\n") else text + "\n", keep_mode=True)
    except OSError as e:
        raise UsageError(
            f"cannot write {str(output)!r} ({e.strerror or e}); give -o a file in a folder you "
            "can write"
        ) from e
