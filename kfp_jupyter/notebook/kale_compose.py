"""Kale 2's notebook composition: a code cell tagged `notebook:NAME`, with the path of another
notebook in its metadata 'notebook_path', adds that notebook's steps to this pipeline.

Kale nests each referenced notebook as a sub-pipeline; a pipeline here is one flat graph, so the
referenced notebooks' annotated cells are spliced in where the reference stands, in reading order,
and variables flow between notebooks as they flow between steps. What Kale does around that is
kept: each notebook is annotated on its own, paths are relative to the composing notebook, the
composing notebook's parameters win over a referenced one's, a step of the composing notebook runs
after every unit above it and before every unit below it, untagged cells after a reference belong
to the next step. Spliced cells get indices above every real cell (so the analysis, which keys on
cell indices, sees them in order) and `Composition` turns those back into the notebook and cell
they come from in every message.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NotebookError, Problem
from ..model import DEFAULT_IMAGE, Pipeline
from .annotations import Annotation, annotate, kale_reference, magic_line_index
from .magic_lines import MagicUsageError, parse_magic_line
from .metadata import NotebookSettings, read_settings
from .reader import Cell, NotebookFile, read_notebook
from .roles import Role
from .source import to_python
from .step_settings import StepSettings, merge_packages
from .tags import TagError, parse_tags

if TYPE_CHECKING:
    from .volumes import VolumeRef

#: the marker build_program's cell map reads (analysis/blocks.py writes it)
_MARKER = re.compile(r"^# cell (?P<cell>\d+)(?P<line>, line \d+)?$", re.MULTILINE)

__all__ = ["Composition", "annotate_notebook", "composes"]


@dataclass(frozen=True)
class Origin:
    """A spliced cell's own place, for messages: its notebook as the reference writes the path
    (relative to the composing notebook), and its number there."""

    notebook: str
    cell: int


@dataclass(frozen=True)
class NotebookDefaults:
    """What a referenced notebook's metadata gives each of its steps (Kale applies it to the
    steps of its sub-pipeline): its steps' defaults and image, and its volumes, which every step
    running a container mounts."""

    step: StepSettings
    volumes: tuple[VolumeRef, ...]

    def for_step(self, kind: str) -> StepSettings:
        """The defaults of one step of the notebook: a resource step runs no container, so it
        mounts no notebook-wide volume."""
        volumes = self.volumes if kind != "resource" else ()
        return replace(self.step, volumes=tuple(dict.fromkeys((*volumes, *self.step.volumes))))


def notebook_defaults(settings: NotebookSettings) -> NotebookDefaults:
    d = settings.step_defaults
    image = d.image or (settings.image if settings.image != DEFAULT_IMAGE else None)
    packages = merge_packages(settings.packages, d.packages, override=True)
    step = replace(d, image=image, packages=packages)
    return NotebookDefaults(step, settings.volumes)


@dataclass
class Composition:
    """Where each spliced cell comes from: its index in the pipeline -> its notebook and cell;
    and what each referenced notebook's metadata gives its steps, by the notebook as shown."""

    origins: dict[int, Origin] = field(default_factory=dict)
    defaults: dict[str, NotebookDefaults] = field(default_factory=dict)

    def step_defaults(self, first_cell: int, kind: str) -> StepSettings:
        """The defaults of the step starting at `first_cell` that its own notebook's metadata
        gives: none for a step of the composing notebook (its notebook's apply to every step)."""
        origin = self.origins.get(first_cell)
        defaults = self.defaults.get(origin.notebook) if origin is not None else None
        return defaults.for_step(kind) if defaults is not None else StepSettings()

    def locate(self, problems: Iterable[Problem]) -> list[Problem]:
        return [self._locate(p) for p in problems]

    def _locate(self, p: Problem) -> Problem:
        origin = self.origins.get(p.cell) if p.cell is not None else None
        if origin is None:
            return p
        return located(p, origin.notebook, origin.cell)

    def finish(self, pipeline: Pipeline) -> Pipeline:
        """The pipeline with its warnings located, and its steps listing only cells of the
        composing notebook (a spliced cell is not one a front end can point at there)."""
        if not self.origins:
            return pipeline
        steps = tuple(
            replace(
                s,
                cells=tuple(c for c in s.cells if c not in self.origins),
                source=self._relabel(s.source),
            )
            for s in pipeline.steps
        )
        return replace(
            pipeline,
            steps=steps,
            imports=self._relabel(pipeline.imports),
            functions=self._relabel(pipeline.functions),
            warnings=tuple(self.locate(pipeline.warnings)),
        )

    def _relabel(self, code: str) -> str:
        """`code` with the `# cell N` markers of spliced cells naming their own notebook and
        cell (`# cell 3 of parts/prep.ipynb`), so a step failing there says where it failed."""

        def one(m: re.Match[str]) -> str:
            origin = self.origins.get(int(m["cell"]))
            if origin is None:
                return m[0]
            return f"# cell {origin.cell}{m['line'] or ''} of {origin.notebook}"

        return _MARKER.sub(one, code)


def located(p: Problem, notebook: str, cell: int | None) -> Problem:
    """`p`, found at `cell` of `notebook` (a referenced one), said so in its message."""
    where = f"in {notebook}" + (f", cell {cell}" if cell is not None else "")
    where += f", line {p.line}" if p.line is not None and cell is not None else ""
    return replace(p, message=f"{where}: {p.message}", cell=None, line=None)


@dataclass
class _Ref:
    """One `notebook:NAME` cell of the composing notebook and what it splices in."""

    cell: Cell
    name: str
    shown: str
    annotations: list[Annotation] = field(default_factory=list)
    defaults: NotebookDefaults = field(default_factory=lambda: NotebookDefaults(StepSettings(), ()))
    #: the step names of its notebook, as they are called in the pipeline
    steps: list[str] = field(default_factory=list)


def composes(nb: NotebookFile) -> bool:
    """Whether the notebook references others as Kale does (then it is no plain notebook, even
    with no step of its own)."""
    return any(kale_reference(c) is not None for c in nb.cells)


def annotate_notebook(
    nb: NotebookFile,
) -> tuple[list[Annotation], list[Problem], list[Problem], Composition]:
    """`annotate` for a notebook that may compose others as Kale does: (annotations, problems,
    warnings, where spliced cells come from). A notebook with no reference reads as before."""
    refs = [c for c in nb.cells if kale_reference(c) is not None]
    if not refs:
        a, p, w = annotate(nb.cells)
        return a, p, w, Composition()
    problems: list[Problem] = []
    warnings: list[Problem] = []
    cells = _hold_cells_after_references(nb.cells, problems)
    root, p, w = annotate(tuple(cells))
    problems += p
    warnings += w
    base = 1000
    while base <= max(len(nb.cells), 1):
        base *= 10
    composition = Composition()
    taken = {a.step for a in root if a.step is not None}
    params = _parameter_values(root)
    shared = _shared_definitions(root, "this notebook")
    spliced: list[_Ref] = []
    for i, cell in enumerate(refs, start=1):
        ref = _read_reference(nb, cell, problems, warnings)
        if ref is None:
            continue
        top = max((a.cell.index for a in ref.annotations), default=0)
        while base <= top:
            base *= 10
        problems += _clashing_definitions(ref, shared)
        _rename_steps(ref, taken, warnings)
        ref.annotations = _shared_parameters(ref, params, warnings)
        composition.defaults[ref.shown] = ref.defaults
        for ann in ref.annotations:
            composition.origins[i * base + ann.cell.index] = Origin(ref.shown, ann.cell.index)
        ref.annotations = [
            replace(ann, cell=replace(ann.cell, index=i * base + ann.cell.index))
            for ann in ref.annotations
        ]
        spliced.append(ref)
    return _in_reading_order(root, spliced), problems, warnings, composition


def _step_said(cell: Cell) -> tuple[str, str | None]:
    """What a cell of the composing notebook says: ("step", NAME), ("role", None) for another role
    (skip excepted), ("none", None) for no annotation at all, ("other", None) otherwise."""
    at = magic_line_index(cell.source)
    if at is not None:
        try:
            m = parse_magic_line(cell.source.split("\n")[at].strip())
        except MagicUsageError:
            return "other", None
        if m.role == Role.STEP:
            return "step", m.step
        return ("other", None) if m.role in (None, Role.SKIP) else ("role", None)
    if not cell.tags:
        return "none", None
    try:
        tags = parse_tags(cell.tags)
    except TagError:
        return "other", None
    if tags.role == Role.STEP:
        return "step", tags.step
    return ("other", None) if tags.role in (None, Role.SKIP) else ("role", None)


def _hold_cells_after_references(cells: tuple[Cell, ...], problems: list[Problem]) -> list[Cell]:
    """The cells with Kale's rule for untagged code after a reference applied: such a cell
    belongs to the next step cell (never to the step above the reference), so it is tagged so."""
    out = list(cells)
    held: list[int] = []
    after: Cell | None = None
    for i, cell in enumerate(cells):
        if cell.kind != "code":
            continue
        if kale_reference(cell) is not None:
            if held:
                problems.append(_held_problem(cells[held[0]], cell, "another reference comes"))
            held, after = [], cell
            continue
        said, step = _step_said(cell)
        if said == "none" and after is not None and cell.source.strip():
            held.append(i)
        elif said == "step" and step:
            for h in held:
                out[h] = replace(cells[h], tags=(f"step:{step}",))
            held, after = [], None
        elif said == "role":
            after = None
    if held and after is not None:
        problems.append(_held_problem(cells[held[0]], after, "the notebook ends"))
    elif held:
        problems.append(_held_problem(cells[held[0]], None, "the notebook ends"))
    return out


def _held_problem(cell: Cell, ref: Cell | None, why: str) -> Problem:
    return Problem(
        "this untagged cell follows Kale's notebook reference"
        + (f" in cell {ref.index}" if ref is not None else "")
        + f", so it belongs to the next 'step:' cell (as in Kale), but {why} first",
        cell=cell.index,
        fix="tag it 'step:NAME', or move it below the step it belongs to",
    )


def _reference_problem(cell: Cell, name: str, path: str, why: str, fix: str) -> Problem:
    return Problem(
        f"Kale's notebook reference 'notebook:{name}' to {path!r}: {why}", cell=cell.index, fix=fix
    )


def _read_reference(
    nb: NotebookFile, cell: Cell, problems: list[Problem], warnings: list[Problem]
) -> _Ref | None:
    """The referenced notebook, read and annotated on its own as Kale processes it; None (with
    one problem naming the cell and the path) if it cannot be."""
    name = kale_reference(cell) or ""
    rel = (cell.notebook_path or "").strip()
    fix_path = (
        "set the cell's metadata 'notebook_path' to the notebook's path, relative to this one"
    )
    if any(ln.strip() and not ln.strip().startswith("#") for ln in cell.source.splitlines()):
        why = "the cell holds code, and a reference holds none (Kale refuses it too)"
        fix = "move the code to a cell of its own tagged 'step:NAME'"
        problems.append(_reference_problem(cell, name, rel, why, fix))
        return None
    if not rel:
        problems.append(_reference_problem(cell, name, rel, "the path is empty", fix_path))
        return None
    folder = nb.path.resolve().parent if nb.path is not None else Path.cwd()
    path = Path(os.path.normpath(folder / rel))
    shown = Path(os.path.normpath(rel)).as_posix()
    if nb.path is not None and path == nb.path.resolve():
        problems.append(
            _reference_problem(
                cell,
                name,
                rel,
                "it is this notebook itself, a reference cycle",
                "reference another notebook",
            )
        )
        return None
    try:
        child = read_notebook(path)
    except NotebookError as e:
        why = "; ".join(p.message for p in e.problems[:3])
        problems.append(_reference_problem(cell, name, rel, f"cannot read it: {why}", fix_path))
        return None
    nested = [c for c in child.cells if kale_reference(c) is not None]
    if nested:
        problems.append(_nested_problem(cell, name, rel, nb, folder, path, nested[0]))
        return None
    annotations, p, w = annotate(child.cells)
    settings, sp, sw = read_settings(child.metadata, path)
    problems += [located(q, shown, q.cell) for q in (*sp, *p)]
    warnings += [located(q, shown, q.cell) for q in (*sw, *w)]
    warnings.append(
        Problem(
            f"the steps of {shown} join this pipeline as steps of its own, where Kale nests them "
            f"in a sub-pipeline {name.replace('_', '-')!r}; they run and hand on variables as "
            "in Kale",
            cell=cell.index,
            fix="nothing to do; the graph of the run shows them beside this notebook's steps",
        )
    )
    return _Ref(cell, name or Path(shown).stem, shown, annotations, notebook_defaults(settings))


def _nested_problem(
    cell: Cell, name: str, rel: str, nb: NotebookFile, folder: Path, path: Path, inner: Cell
) -> Problem:
    back = Path(os.path.normpath(path.parent / (inner.notebook_path or "")))
    if nb.path is not None and back == nb.path.resolve():
        why = f"that notebook references this one back (its cell {inner.index}), a reference cycle"
    else:
        why = (
            f"that notebook references another notebook itself (its cell {inner.index}), and "
            "references do not nest (Kale refuses it too)"
        )
    return _reference_problem(
        cell,
        name,
        rel,
        why,
        "reference every notebook from this notebook, and remove the reference from the other",
    )


def _rename_steps(ref: _Ref, taken: set[str], warnings: list[Problem]) -> None:
    """Give each step of the referenced notebook a name no other step of the pipeline has (Kale
    keeps them apart in a sub-pipeline), and its `prev:` tags the new names."""
    renames: dict[str, str] = {}
    for a in ref.annotations:
        if a.role != Role.STEP or a.step is None or a.step in renames or a.step in ref.steps:
            continue
        new = a.step
        if new in taken:
            new, n = f"{ref.name}_{a.step}", 2
            while new in taken:
                new, n = f"{ref.name}_{a.step}_{n}", n + 1
            renames[a.step] = new
            warnings.append(
                located(
                    Problem(
                        f"step {a.step!r} is named {new!r} in this pipeline, as another step of "
                        f"the composition is called {a.step!r} (Kale keeps each notebook's steps "
                        "in a sub-pipeline of their own)",
                        cell=a.cell.index,
                        step=new,
                        fix="rename one of the two steps to silence this",
                    ),
                    ref.shown,
                    a.cell.index,
                )
            )
        taken.add(new)
        ref.steps.append(new)
    ref.annotations = [
        replace(
            a,
            step=renames.get(a.step, a.step) if a.step is not None else None,
            settings=replace(a.settings, prev=tuple(renames.get(p, p) for p in a.settings.prev)),
        )
        for a in ref.annotations
    ]


def _statements(a: Annotation) -> list[ast.stmt]:
    """The top-level statements of a cell (none for a syntax error: reported where the cell is
    analysed)."""
    try:
        return ast.parse(to_python(a.body).code).body
    except SyntaxError:
        return []


def _definitions(a: Annotation) -> list[tuple[str, str, int]]:
    """(name, code, line) of what an imports or functions cell binds at its top level."""
    out: list[tuple[str, str, int]] = []
    for node in _statements(a):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append((node.name, ast.unparse(node), node.lineno))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:  # each name by what binds it alone, wherever it is listed
                one = (
                    ast.Import([alias])
                    if isinstance(node, ast.Import)
                    else ast.ImportFrom(node.module, [alias], node.level)
                )
                out.append(
                    (alias.asname or alias.name.split(".")[0], ast.unparse(one), node.lineno)
                )
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    out.append((t.id, ast.unparse(node), node.lineno))
    return out


def _shared_definitions(annotations: list[Annotation], whose: str) -> dict[str, tuple[str, str]]:
    """What the imports and functions cells bind: name -> (code, whose cell it is)."""
    return {
        name: (text, whose)
        for a in annotations
        if a.role in (Role.IMPORTS, Role.FUNCTIONS)
        for name, text, _ in _definitions(a)
    }


def _clashing_definitions(ref: _Ref, shared: dict[str, tuple[str, str]]) -> list[Problem]:
    """A name the referenced notebook's imports or functions cells bind differently from an
    earlier notebook's: the pipeline has one imports and one functions block for all its steps
    (Kale keeps each notebook's apart), so one would silently replace the other in every step."""
    problems: list[Problem] = []
    for a in ref.annotations:
        if a.role not in (Role.IMPORTS, Role.FUNCTIONS):
            continue
        for name, text, line in _definitions(a):
            given = shared.setdefault(name, (text, ref.shown))
            if given[0] == text or given[1] == ref.shown:
                continue
            problems.append(
                located(
                    Problem(
                        f"{name!r} is defined here and, differently, in {given[1]}'s "
                        f"{a.role.value} cell; the composed pipeline has one {a.role.value} "
                        "block for every step, so one would replace the other",
                        cell=a.cell.index,
                        line=line + a.offset,
                        fix="give one of the two another name (Kale keeps each notebook's apart)",
                    ),
                    ref.shown,
                    a.cell.index,
                )
            )
    return problems


def _assignments(a: Annotation) -> list[tuple[str, str, ast.stmt]]:
    """(name, value as written, statement) of each `name = value` line of a parameters cell."""
    out: list[tuple[str, str, ast.stmt]] = []
    for node in _statements(a):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            out.append((target.id, ast.unparse(value), node))
    return out


def _parameter_values(root: list[Annotation]) -> dict[str, tuple[str, str]]:
    """The composing notebook's parameters: name -> (value as written, who set it)."""
    return {
        name: (value, "this notebook's")
        for a in root
        if a.role == Role.PARAMETERS
        for name, value, _ in _assignments(a)
    }


def _shared_parameters(
    ref: _Ref, params: dict[str, tuple[str, str]], warnings: list[Problem]
) -> list[Annotation]:
    """The referenced notebook's annotations with its parameters cells keeping only names no
    earlier notebook set: as in Kale, the composing notebook's value wins (a pipeline has one
    parameter per name, so an earlier referenced notebook's wins over a later one's too)."""
    out: list[Annotation] = []
    for a in ref.annotations:
        if a.role != Role.PARAMETERS:
            out.append(a)
            continue
        lines = a.body.split("\n")
        for name, value, node in _assignments(a):
            if name not in params:
                params[name] = (value, f"{ref.shown}'s")
                continue
            for n in range(node.lineno - 1, node.end_lineno or node.lineno):
                lines[n] = ""
            given, whose = params[name]
            if given != value:
                kale = "as in Kale" if whose == "this notebook's" else "Kale gives each its own"
                warnings.append(
                    located(
                        Problem(
                            f"parameter {name!r} takes {whose} value {given}, not its own {value} "
                            f"({kale})",
                            cell=a.cell.index,
                            line=node.lineno + a.offset,
                            fix="give the parameter one value, or another name",
                        ),
                        ref.shown,
                        a.cell.index,
                    )
                )
        out.append(replace(a, body="\n".join(lines)))
    return out


def _in_reading_order(root: list[Annotation], refs: list[_Ref]) -> list[Annotation]:
    """The composing notebook's annotations with each reference's spliced in where it stands,
    and Kale's reading order as `prev:`: a step of the composing notebook runs after the one
    above it and every notebook between them, each referenced notebook after the step above it
    (notebooks side by side run side by side, unless data flows between them)."""
    by_name = {r.name: r for r in refs}
    root_steps = {a.step for a in root if a.step is not None}
    out: list[Annotation] = []
    last_step: str | None = None
    since: list[str] = []
    seen: set[str] = set()
    pending = list(refs)
    for a in root:
        while pending and pending[0].cell.index < a.cell.index:
            ref = pending.pop(0)
            out += _after(ref.annotations, [last_step] if last_step else [])
            since += ref.steps
        if a.role == Role.STEP and a.step is not None and a.step not in seen:
            seen.add(a.step)
            prev = [p for q in a.settings.prev for p in _expand(q, by_name, root_steps)]
            extra = ([last_step] if last_step else []) + since
            a = replace(a, settings=replace(a.settings, prev=tuple(dict.fromkeys(prev + extra))))
            last_step, since = a.step, []
        out.append(a)
    for ref in pending:
        out += _after(ref.annotations, [last_step] if last_step else [])
    return out


def _expand(prev: str, refs: dict[str, _Ref], steps: set[str]) -> list[str]:
    """`prev:NAME` of a step of the composing notebook: NAME's steps if it names a reference."""
    if prev in steps or prev not in refs:
        return [prev]
    return list(refs[prev].steps)


def _after(annotations: list[Annotation], prev: list[str]) -> list[Annotation]:
    if not prev:
        return annotations
    return [
        replace(
            a, settings=replace(a.settings, prev=tuple(dict.fromkeys((*a.settings.prev, *prev))))
        )
        if a.role == Role.STEP
        else a
        for a in annotations
    ]
