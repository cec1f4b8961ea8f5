"""What `convert` checks before it writes anything: the converted notebook read in memory the
way every command reads a notebook, compared cell by cell (role, step, settings, code) and as a
pipeline (steps, parameters, metrics) with the original; and the paths relative to the notebook
(`component:`, `notebook:`, Kale's `notebook_path`), rewritten for the output's folder."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NotebookError, Problem
from ..loader import pipeline_from_notebook, runs_whole
from ..notebook.kale_compose import annotate_notebook
from ..notebook.reader import NotebookFile, parse_notebook_text
from ..notebook.roles import Role
from ..notebook.step_settings import StepSettings, show_setting

if TYPE_CHECKING:
    from ..notebook.annotations import Annotation

# --- paths relative to the notebook ------------------------------------------------------------


def _relative(said: str) -> bool:
    """Whether a path a notebook gives is relative to its folder (not a URL, `~` or absolute)."""
    return (
        bool(said.strip())
        and not said.lower().startswith(("http://", "https://"))
        and not said.startswith("~")
        and not Path(said).is_absolute()
    )


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop of links
        return path.absolute()


def _folder(notebook: Path) -> Path:
    """The folder a step's relative path starts from: the notebook's folder as given (a link to
    the notebook file is not followed; links of its folders are)."""
    return _resolved(Path(os.path.abspath(notebook)).parent)


def _target(said: str, notebook: Path) -> str:
    """The file a step's relative path names, as the commands look for it."""
    p = _folder(notebook) / said
    return str(_resolved(p.parent) / p.name)


@dataclass(frozen=True)
class Move:
    """From the notebook at `src` to one written at `dst`: its relative paths as `dst` must say
    them to name the same files."""

    src: Path
    dst: Path
    #: the paths as the files they name (absolute), to read the notebook at `dst` before its
    #: folder is made: no path through a folder not made yet can be read
    absolute: bool = False

    def step_path(self, said: str | None) -> str | None:
        if said is None or not _relative(said):
            return said
        if self.absolute:
            return _target(said, self.src)
        if _folder(self.src) == _folder(self.dst):
            return said
        return Path(os.path.relpath(_target(said, self.src), _folder(self.dst))).as_posix()

    def settings(self, s: StepSettings) -> StepSettings:
        return replace(
            s, component=self.step_path(s.component), notebook=self.step_path(s.notebook)
        )

    def kale_path(self, said: str) -> str:
        """Kale's `notebook_path`, which is read from the notebook file's own folder (links
        followed), without following links below it."""
        here, there = _resolved(self.src).parent, _resolved(self.dst).parent
        if not _relative(said):
            return said
        if self.absolute:
            return os.path.normpath(here / said)
        if here == there:
            return said
        new = Path(os.path.relpath(os.path.normpath(here / said), there)).as_posix()
        return "./" + new if said.startswith("./") and not new.startswith(".") else new


# --- what a notebook says, to compare the converted notebook with the original ------------------

#: (role, step, settings with paths made absolute, lines of code)
_Meaning = tuple[Role, str | None, StepSettings, tuple[str, ...]]


def _comparable(s: StepSettings, notebook: Path | None) -> StepSettings:
    """`s` as two spellings of it compare: paths as the files they name, pairs in one order."""

    def located(said: str | None) -> str | None:
        if said is None or notebook is None or not _relative(said):
            return said
        return _target(said, notebook)

    return replace(
        s,
        component=located(s.component),
        notebook=located(s.notebook),
        limits=tuple(sorted(s.limits)),
        annotations=tuple(sorted(s.annotations)),
        labels=tuple(sorted(s.labels)),
    )


def _meaning(a: Annotation, notebook: Path | None) -> _Meaning:
    code = tuple(
        ln.rstrip() for ln in a.body.split("\n") if ln.strip() and not ln.strip().startswith("#")
    )
    # a cell continuing step S and one saying `%%step S` under it mean one step: the same
    role = Role.STEP if a.role == Role.CONTINUE else a.role
    return role, a.step, _comparable(a.settings, notebook), code


@dataclass
class Reading:
    """A notebook read as every command reads it: each annotated cell's meaning by its number,
    the cells Kale's references splice in, the warnings, and the pipeline's shape (None if the
    notebook does not make one)."""

    cells: dict[int, _Meaning]
    spliced: list[_Meaning]
    warnings: list[Problem]
    annotations: list[Annotation]
    shape: tuple[object, ...] | None = None


def _read(nb: NotebookFile) -> tuple[Reading, list[Problem]]:
    annotations, problems, warnings, _ = annotate_notebook(nb)
    n = len(nb.cells)
    cells = {a.cell.index: _meaning(a, nb.path) for a in annotations if a.cell.index <= n}
    spliced = [_meaning(a, None) for a in annotations if a.cell.index > n]
    return Reading(cells, spliced, warnings, annotations), problems


def _shape(nb: NotebookFile) -> tuple[object, ...]:
    """What must not change of the pipeline: its steps, their order, the parameters and the
    metrics (a plain notebook's step is named after its file, which may change)."""
    pipeline = pipeline_from_notebook(nb)
    plain = runs_whole(nb)
    steps = tuple(("" if plain else s.name, tuple(s.after), s.kind) for s in pipeline.steps)
    params = tuple((p.name, p.type, repr(p.default)) for p in pipeline.parameters)
    return plain, steps, params, tuple(pipeline.metrics)


def read_original(nb: NotebookFile) -> Reading:
    reading, problems = _read(nb)
    if problems:
        raise NotebookError(problems)
    try:
        reading.shape = _shape(nb)
    except NotebookError:
        reading.shape = None  # it makes no pipeline yet: the cells must still mean the same
    return reading


@dataclass
class Found:
    """How the converted notebook differs: by cell of the original, and otherwise."""

    at: dict[int, Problem] = field(default_factory=dict)
    general: list[Problem] = field(default_factory=list)

    def add(self, p: Problem, back: dict[int, int]) -> None:
        old = back.get(p.cell) if p.cell is not None else None
        if old is None:
            self.general.append(replace(p, cell=None, line=None))
        else:
            self.at.setdefault(old, replace(p, cell=old))


def _described(m: _Meaning | None) -> str:
    if m is None:
        return "no annotation"
    role, step, _, _ = m
    return f"{role.value}{' ' + step if step else ''}"


def _changed(was: _Meaning | None, now: _Meaning | None, old: int) -> Problem:
    """How a cell would read differently, said in its settings' terms."""
    if was is None or now is None or was[:2] != now[:2]:
        why = f"it would read as {_described(now)!r} instead of {_described(was)!r}"
    elif was[2] != now[2]:
        parts = [
            f"{f.name} {show_setting(getattr(now[2], f.name))} instead of "
            f"{show_setting(getattr(was[2], f.name))}"
            for f in fields(StepSettings)
            if getattr(now[2], f.name) != getattr(was[2], f.name)
        ]
        why = "its settings would read as " + "; ".join(parts)
    else:
        why = "its code would read differently"
    return Problem(why, cell=old)


def _compare_cells(
    before: Reading, after: Reading, where: dict[int, int | None], found: Found
) -> None:
    back = {new: old for old, new in where.items() if new is not None}
    for old, new in where.items():
        was = before.cells.get(old)
        if new is None:  # a cell left out: only the skipped cell loading the magics is
            continue
        now = after.cells.get(new)
        if was != now and old not in found.at:
            said = [
                w
                for w in after.warnings
                if w.cell == new and all(v.message != w.message for v in before.warnings)
            ]
            # a warning's fix is for the converted cell, which is not written: only its words
            found.at[old] = Problem(said[0].message, cell=old) if said else _changed(was, now, old)
    for new, m in after.cells.items():
        if new not in back and m[0] != Role.SKIP:
            found.general.append(Problem("the cell loading the magics would join the pipeline"))
    if before.spliced != after.spliced:
        found.general.append(
            Problem("the notebooks its Kale references splice in would give other steps")
        )


def differences(text: str, path: Path, before: Reading, where: dict[int, int | None]) -> Found:
    """How the notebook `text`, read as the file `path`, differs from the original."""
    found = Found()
    back = {new: old for old, new in where.items() if new is not None}
    try:
        nb = parse_notebook_text(text, path)
    except NotebookError as e:
        for p in e.problems:
            found.add(p, back)
        return found
    after, problems = _read(nb)
    for p in problems:
        found.add(p, back)
    _compare_cells(before, after, where, found)
    if found.at or found.general or before.shape is None:
        return found
    try:
        shape = _shape(nb)
    except NotebookError as e:
        for p in e.problems:
            found.add(p, back)
        return found
    if shape != before.shape:
        found.general.append(Problem("it would give another pipeline (its steps would change)"))
    return found
