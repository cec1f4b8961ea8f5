"""Steps that execute a whole notebook: `notebook:PATH` steps, and the one step of a plain notebook.

A notebook executed as a step is read here for what the pipeline needs of it without running it:
its `parameters` cell (papermill's convention, where injected values go), its `pipeline-metrics`
cell (the step's metrics), the modules it imports (the step's packages), and its cells without
outputs (embedded in the step's program, so a cluster runs what was compiled).
"""

from __future__ import annotations

import ast
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NotebookError, Problem
from ..model import (
    NOTEBOOK_OUTPUT,
    Argument,
    NotebookCall,
    Parameter,
    Pipeline,
    Step,
    function_name,
)
from ..notebook.annotations import annotate, late_magic_line, magic_line_index
from ..notebook.magic_lines import parse_magic_line
from ..notebook.magics_loader import is_magics_loader
from ..notebook.reader import Cell, NotebookFile, parse_notebook_text, read_text
from ..notebook.roles import Role, suggest_step_name
from ..notebook.source import to_python
from ..notebook.step_settings import StepSettings, apply_defaults
from ..notebook.tags import TagError, parse_tags
from .blocks import (
    Blocks,
    StepBlock,
    bound_value,
    key_line,
    metrics_cell,
    parameters_cell,
    pipeline_fields,
    step_fields,
)
from .names import BlockNames
from .packages import Unpinnable, resolve_packages
from .volumes import StepVolumes, resolve_volumes

if TYPE_CHECKING:
    from ..notebook.metadata import NotebookSettings

#: what a notebook step imports besides the notebook's own modules: the kernel, its client, and
#: nbconvert, without which the executed notebook is kept as .ipynb only: a cluster's UI and a
#: browser show the HTML, not the .ipynb
RUNNER_IMPORTS = "import nbclient\nimport ipykernel\nimport nbconvert\n"
#: how many notebook steps deep the look for a loop follows notebooks running notebooks
MAX_NOTEBOOK_DEPTH = 20
#: what a loop of notebook steps would do, and what to do about it (said alike by the pipeline's
#: analysis and by a %%notebook cell run in a kernel)
LOOP_ENDS = "running it would never end"
LOOP_FIX = "run another notebook in this step, or remove the notebook step that leads back"
#: the loop of a notebook step running the notebook it is in
ITSELF = "is this notebook itself"


@dataclass
class ChildNotebook:
    """A notebook read for executing it as a step."""

    path: Path
    source: str
    parameters: list[Parameter] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    #: the Python code of its code cells (for the packages it needs)
    code: tuple[str, ...] = ()


def cell_role(cell: Cell) -> tuple[Role | None, str]:
    """The cell's role if it is a parameters or metrics cell, and its code without a magic line."""
    role: Role | None = None
    body = cell.source
    try:
        role = parse_tags(cell.tags).role
    except TagError:
        role = None
    at = magic_line_index(cell.source)
    if at is not None:
        lines = cell.source.split("\n")
        try:
            m = parse_magic_line(lines[at].strip())
        except ValueError:
            return role, body
        role = role or m.role
        body = "\n".join(lines[at + 1 :])
    return role, body


#: what a cell that loads our magics holds in an embedded notebook
_LOADER_LEFT_OUT = "# %load_ext kfp_jupyter: left out (the step runs the notebook without it)"


def embedded_source(nb: NotebookFile) -> str:
    """The notebook as the step embeds it: its cells and tags, without outputs or other metadata,
    so the program (and the compiled pipeline) changes only when the code does. A cell that only
    loads our magics stays as a comment (in its place: cell numbers hold): the step's kernel has
    no kfp-jupyter, and the cell belongs to no step."""
    cells = []
    for c in nb.cells:
        source = _LOADER_LEFT_OUT if is_magics_loader(c) else c.source
        cell: dict[str, object] = {"cell_type": c.kind, "metadata": {}, "source": source}
        if c.tags:
            cell["metadata"] = {"tags": list(c.tags)}
        if c.kind == "code":
            cell["execution_count"] = None
            cell["outputs"] = []
        cells.append(cell)
    kernelspec = nb.metadata.get("kernelspec")
    metadata = {"kernelspec": kernelspec} if isinstance(kernelspec, dict) else {}
    doc = {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 4}
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def read_child(
    nb: NotebookFile,
    problems: list[Problem],
    *,
    strict: bool = True,
    left_out: list[Problem] | None = None,
) -> ChildNotebook:
    """What a step needs of notebook `nb`; problems of its parameters and metrics cells are added
    to `problems` as they are (the caller says which notebook they are in). Not `strict`, a
    parameter that cannot be a pipeline parameter (`data = None`) is no problem: it is only where
    injected values go, and such parameters are left out (said in `left_out`, if given)."""
    blocks = Blocks()
    code: list[str] = []
    soft = left_out if left_out is not None else []
    for cell in nb.cells:
        if cell.kind != "code":
            continue
        role, body = cell_role(cell)
        py = to_python(body).code
        code.append(py)
        if role not in (Role.PARAMETERS, Role.METRICS):
            continue
        try:
            compile(py, f"<cell {cell.index}>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as e:
            problems.append(Problem(f"syntax error: {e}", cell=cell.index))
            continue
        offset = cell.source.count("\n") - body.count("\n")
        if role == Role.PARAMETERS:
            parameters_cell(cell.index, py, offset, blocks, problems if strict else soft)
        else:
            metrics_cell(cell.index, py, offset, blocks, problems)
    return ChildNotebook(
        path=nb.path or Path("notebook.ipynb"),
        source=embedded_source(nb),
        parameters=list(blocks.parameters),
        metrics=list(blocks.metrics),
        code=tuple(code),
    )


def is_plain(nb: NotebookFile) -> bool:
    """A plain notebook: it has code, and no code cell carries a tag or a cell magic of ours other
    than those of a parameters or metrics cell (papermill's `parameters` tag, our
    `pipeline-parameters` and `pipeline-metrics`, and their magics). A `skip` cell that only
    loads our magics (which `convert --to magics` used to add) does not make it annotated."""
    code_cells = [
        c for c in nb.cells if c.kind == "code" and c.source.strip() and not is_magics_loader(c)
    ]
    if not code_cells:
        return False
    for cell in code_cells:
        try:
            tags = parse_tags(cell.tags)
        except TagError:
            return False
        if not tags.settings.is_empty() or tags.role not in (None, Role.PARAMETERS, Role.METRICS):
            return False
        at = magic_line_index(cell.source)
        if late_magic_line(cell.source, at) is not None:
            return False  # a magic of ours below the top: annotated, and told where it went wrong
        if at is not None:
            try:
                m = parse_magic_line(cell.source.split("\n")[at].strip())
            except ValueError:
                return False
            if m.role not in (Role.PARAMETERS, Role.METRICS):
                return False
    return True


def notebook_packages(
    child: ChildNotebook,
    settings: NotebookSettings,
    own: tuple[str, ...],
    *,
    marshalling: bool,
    step: str,
    warnings: list[Problem],
) -> tuple[str, ...]:
    """The packages a notebook step installs: the kernel and its client, the notebook's imports
    (pinned like any step's), then the requirements the notebook and the step state."""
    unpinnable: list[Unpinnable] = []
    packages = resolve_packages(
        (RUNNER_IMPORTS, *child.code),
        (*settings.packages, *own),
        marshalling=marshalling,
        local_modules=_local_modules(child),
        pin=settings.pin_packages,
        unpinnable=unpinnable,
    )
    warnings += [u.problem(step) for u in unpinnable]
    return packages


def _local_modules(child: ChildNotebook) -> frozenset[str]:
    from .packages import imported_modules

    folder = child.path.parent
    return frozenset(
        m.split(".")[0]
        for code in child.code
        for m in imported_modules(code)
        if (folder / f"{m.split('.')[0]}.py").is_file()
        or (folder / m.split(".")[0] / "__init__.py").is_file()
    )


# --- a notebook step of another notebook --------------------------------------------------------


@dataclass
class NotebookBinding:
    """One `name = value` line of a notebook step's cell."""

    name: str
    kind: str  # "literal" | "name"
    value: object = None
    source: str = ""
    line: int = 0


@dataclass
class NotebookStepRead:
    child: ChildNotebook
    path: str
    bindings: list[NotebookBinding]
    names: BlockNames


def resolve_child_path(path: str, notebook: str | None) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute() and notebook is not None:
        p = Path(notebook).parent / p
    return p


def prepare_notebook_step(
    sb: StepBlock, notebook: str | None, problems: list[Problem]
) -> NotebookStepRead | None:
    """Read a `notebook:` step: its notebook (relative to this notebook's folder) and the values
    its cell gives it; None (with problems) if it cannot be read."""
    s = sb.settings
    assert s.notebook is not None
    child = _read_step_notebook(sb, s.notebook, notebook, problems)
    if child is None:
        return None
    for name in s.outputs:
        if name == NOTEBOOK_OUTPUT:
            problems.append(
                sb.problem(
                    f"{NOTEBOOK_OUTPUT!r} is the name of the executed notebook the step keeps",
                    fix="rename that variable in the notebook",
                )
            )
    bindings = _notebook_bindings(sb, problems)
    reads = {b.source: b.line for b in bindings if b.kind == "name"}
    names = BlockNames(reads=reads, defines={o: 1 for o in s.outputs})
    return NotebookStepRead(child, s.notebook, bindings, names)


def _read_step_notebook(
    sb: StepBlock, said: str, notebook: str | None, problems: list[Problem]
) -> ChildNotebook | None:
    """The notebook a step names, read; its problems are reported at the step's cell."""
    path = resolve_child_path(said, notebook)
    try:
        path.stat()
    except OSError as e:
        if not isinstance(e, FileNotFoundError):  # a name too long, a loop of links, no access
            problems.append(
                sb.problem(
                    f"notebook {said!r} cannot be used: {e.strerror or e}",
                    fix="give the path of an .ipynb file, relative to this notebook's folder",
                )
            )
            return None
    if not path.is_file():
        problems.append(
            sb.problem(
                f"notebook {said!r} does not exist (looked for {path})"
                if not path.exists()
                else f"{said!r} is a folder, not a notebook"
                if path.is_dir()
                else f"{said!r} is not a file but a device, pipe or socket ({path})",
                fix="give the path of an .ipynb file, relative to this notebook's folder",
            )
        )
        return None
    try:
        nb = read_bounded(path)
    except NotebookError as e:
        problems += [
            sb.problem(f"in notebook {said!r}: {p.message}", fix=p.fix) for p in e.problems
        ]
        return None
    loop = reference_loop(path, notebook, nb)
    if loop is not None:
        problems.append(sb.problem(f"notebook {said!r} {loop}: {LOOP_ENDS}", fix=LOOP_FIX))
        return None
    child_problems: list[Problem] = []
    child = read_child(nb, child_problems, strict=False)
    for p in child_problems:
        where = f"cell {p.cell}" + (f", line {p.line}" if p.line else "") if p.cell else ""
        problems.append(
            sb.problem(
                f"notebook {said!r}{', ' + where if where else ''}: {p.message}",
                fix=p.fix,
            )
        )
    return child


def read_bounded(path: Path) -> NotebookFile:
    """The notebook at `path`, read only if it is a regular file of a notebook's size (see
    reader.read_text): a step's notebook, or one a loop of notebook steps might reach."""
    return parse_notebook_text(read_text(path), path)


def reference_loop(path: Path, notebook: str | None, nb: NotebookFile) -> str | None:
    """How running the notebook `path` (read: `nb`) as a step of `notebook` comes back to a
    notebook already running (`is this notebook itself`, `runs b.ipynb, which runs this
    notebook`), or None when it does not: each would start a kernel running the next, without
    end. The walk reads each notebook once, only regular files of a bounded size, and follows
    MAX_NOTEBOOK_DEPTH steps deep at most; notebooks that cannot be read end it (their own
    problems are told where they are read)."""
    root = resolved(Path(notebook)) if notebook is not None else None
    first = resolved(path)
    if first == root:
        return ITSELF
    running = [first] if root is None else [root, first]
    chain = _loop_from(first, running, set(), {first: _references(nb.cells, first)})
    if chain is None:
        return None
    return way_back(chain[len(running) : -1], None if chain[-1] == root else chain[-1])


def way_back(between: list[Path], back_to: Path | None) -> str:
    """How the notebook a step runs comes back: through the notebooks `between`, to this notebook
    (`back_to` None) or to `back_to` running once more."""
    names = [p.name for p in between]
    names.append("this notebook" if back_to is None else f"{back_to.name} again")
    return "runs " + ", which runs ".join(names)


def _loop_from(
    at: Path, running: list[Path], done: set[Path], known: dict[Path, list[Path]]
) -> list[Path] | None:
    """`running` and the notebooks on from `at` to one that runs a notebook of `running` again,
    or None: a depth-first walk of the notebooks `at` runs as steps (`done`: walked, no loop;
    `known`: the notebooks each notebook read so far runs, so none is read twice)."""
    if len(running) > MAX_NOTEBOOK_DEPTH:
        return None
    if at not in known:
        known[at] = notebook_references(at)
    for ref in known[at]:
        if ref in running:
            return [*running, ref]
        if ref in done:
            continue
        found = _loop_from(ref, [*running, ref], done, known)
        if found is not None:
            return found
    done.add(at)
    return None


def notebook_references(path: Path) -> list[Path]:
    """The notebooks `path`'s notebook steps run, resolved against its folder (none when it
    cannot be read, or is not a regular file of a bounded size)."""
    try:
        cells = read_bounded(path).cells
    except NotebookError:
        return []
    return _references(cells, path)


def _references(cells: tuple[Cell, ...], path: Path) -> list[Path]:
    said = [a.settings.notebook for a in annotate(cells)[0] if a.settings.notebook]
    return list(dict.fromkeys(resolved(resolve_child_path(s, str(path))) for s in said))


def resolved(path: Path) -> Path:
    """`path` made absolute, its symbolic links followed (as far as they go: a loop of links
    stays as it is, and cannot be read later)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _notebook_bindings(sb: StepBlock, problems: list[Problem]) -> list[NotebookBinding]:
    """The values a notebook step's cell gives the notebook's parameters."""
    bindings: list[NotebookBinding] = []
    for node in ast.parse(sb.code.code).body:
        line = key_line(
            node,
            sb,
            problems,
            holds="a notebook step's cell holds only 'name = value' lines (the notebook's "
            "parameters)",
            fix="compute values in a Python step before this one and pass their names",
        )
        if line is None:
            continue
        name, value, at = line
        if any(b.name == name for b in bindings):
            problems.append(sb.problem(f"parameter {name!r} is given twice", at=at))
            continue
        bound = bound_value(value, f"parameter {name!r}", at, sb, problems)
        if bound is None:
            continue
        if bound[0] == "name":
            bindings.append(NotebookBinding(name, "name", source=bound[1], line=node.lineno))
        else:
            bindings.append(NotebookBinding(name, "literal", value=bound[1], line=node.lineno))
    return bindings


def notebook_call(read: NotebookStepRead, params: dict[str, Parameter]) -> NotebookCall:
    """The call the Step holds: literals, pipeline parameters, and (as kind "artifact") variables
    of earlier steps, loaded into the kernel as they were saved."""
    arguments: list[Argument] = []
    for b in read.bindings:
        if b.kind == "literal":
            arguments.append(Argument(b.name, "literal", value=b.value))
        elif b.source in params:
            arguments.append(Argument(b.name, "parameter", name=b.source))
        else:
            arguments.append(Argument(b.name, "artifact", name=b.source))
    return NotebookCall(
        path=read.path,
        source=read.child.source,
        arguments=tuple(arguments),
        variables=tuple(sorted(read.names.defines)),
    )


# --- a plain notebook ------------------------------------------------------------------------


def _kept_in_notebook(p: Problem) -> Problem:
    """A parameters-cell line a plain notebook keeps as it is, said as a warning."""
    message = f"{p.message}; not a pipeline parameter: the line runs as the notebook has it"
    return dataclasses.replace(p, message=message)


def plain_pipeline(
    nb: NotebookFile,
    settings: NotebookSettings,
    problems: list[Problem],
    warnings: list[Problem],
) -> Pipeline | None:
    """A notebook without step annotations as a pipeline of one step that executes it whole; its
    parameters cell gives the pipeline parameters, its metrics cell the metrics. A line of the
    parameters cell that cannot be a pipeline parameter (papermill's `data = None`) runs as the
    notebook has it, with a warning: the notebook runs whole, so it means what it meant before."""
    left_out: list[Problem] = []
    child = read_child(nb, problems, strict=False, left_out=left_out)
    warnings.extend(_kept_in_notebook(p) for p in left_out)
    path = nb.path or Path("notebook.ipynb")
    params = {p.name for p in child.parameters}
    name = suggest_step_name(path.stem)
    while function_name(name) in params:
        name += "_notebook"
    st = apply_defaults(settings.step_defaults, StepSettings())
    volumes, mounts = resolve_volumes(
        settings.volumes,
        [StepVolumes(name, 1, "notebook", tuple(settings.step_defaults.volumes))],
        problems,
        warnings,
    )
    if problems:
        return None
    packages = notebook_packages(
        child, settings, st.packages, marshalling=False, step=name, warnings=warnings
    )
    call = NotebookCall(
        path=path.name,
        source=child.source,
        arguments=tuple(Argument(p.name, "parameter", name=p.name) for p in child.parameters),
    )
    step = Step(
        name=name,
        source="",
        cells=tuple(c.index for c in nb.cells if c.kind == "code"),
        outputs=(NOTEBOOK_OUTPUT,),
        parameters=tuple(sorted(params)),
        metrics=tuple(child.metrics),
        packages=packages,
        **step_fields(st, settings.image),
        kind="notebook",
        notebook=call,
        mounts=mounts[name],
    )
    return Pipeline(
        **pipeline_fields(settings),
        notebook=str(nb.path) if nb.path else None,
        parameters=tuple(child.parameters),
        metrics=tuple(child.metrics),
        steps=(step,),
        warnings=tuple(warnings),
        volumes=volumes,
    )
