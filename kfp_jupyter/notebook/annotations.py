"""Give every code cell its role in the pipeline, from its tags or its first-line magic."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..errors import Problem
from .magic_lines import MagicUsageError, is_magic_line, near_miss_magic, parse_magic_line
from .roles import Role
from .source import pip_lines, statement_starts, to_python
from .step_settings import SettingsConflict, StepSettings, merge_settings
from .tags import ParsedTags, TagError, parse_tags

if TYPE_CHECKING:
    from .reader import Cell

__all__ = ["Annotation", "Role", "StepSettings", "annotate", "late_magic_line", "magic_line_index"]


@dataclass(frozen=True)
class Annotation:
    """A code cell with its resolved role (continuations already resolved) and its code body."""

    cell: Cell
    role: Role
    step: str | None
    settings: StepSettings
    #: the cell's code without our magic line
    body: str
    #: how the cell was annotated: "tags", "magic", "both", or "none" (continues the cell above,
    #: or a plain imports/functions cell before the first annotation)
    style: str
    other_tags: tuple[str, ...] = ()
    #: lines of the cell before `body` (our magic line, and blank lines above it)
    offset: int = 0


def magic_line_index(source: str) -> int | None:
    """Index of the line holding our cell magic: the first line that is not blank, if it is one.

    IPython drops leading blank lines before it looks for a cell magic, so we do the same.
    """
    for i, line in enumerate(source.split("\n")):
        if line.strip():
            return i if is_magic_line(line.strip()) else None
    return None


def late_magic_line(source: str, first: int | None) -> int | None:
    """Index of one of our cell magics below the top of a cell, where it means nothing."""
    if "%%" not in source:
        return None
    lines = source.split("\n")
    for i, starts in enumerate(statement_starts(lines)):
        if starts and i != first and lines[i][:1] == "%" and is_magic_line(lines[i].strip()):
            return i
    return None


def _only(node_types: tuple[type, ...], source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    return bool(tree.body) and all(isinstance(n, node_types) for n in tree.body)


_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _before_first_step(
    cell: Cell, body: str, cells: tuple[Cell, ...]
) -> tuple[Role | None, Problem | None, Problem | None]:
    """The role of an unannotated cell above every annotation: what it plainly is, if anything.
    Returns (role, problem, warning)."""
    code = to_python(body).code
    try:
        tree = ast.parse(code)
    except SyntaxError:
        tree = None
    if tree is not None and not tree.body:
        # only comments and magics (`%matplotlib inline`); `!pip install` lines install what
        # every step needs, as the imports cell's do (analysis/assemble.py reads them)
        return (Role.IMPORTS if pip_lines(code) else None), None, None
    if _only((ast.Import, ast.ImportFrom), code):
        return Role.IMPORTS, None, None
    if _only(_DEFINITIONS, code):
        return Role.FUNCTIONS, None, None
    fix = "tag it 'step:NAME' (or 'imports', 'functions', 'skip'), or start it with '%%step NAME'"
    used = sorted(_bound(tree) & _read_after(cells, cell.index)) if tree is not None else []
    if tree is None or used:
        why = f": later cells read {', '.join(map(repr, used))} from it" if used else ""
        return (
            None,
            Problem(
                f"this code cell comes before any step and is not annotated{why}",
                cell=cell.index,
                fix=fix,
            ),
            None,
        )
    # Kale leaves such a cell out of the pipeline; nothing later needs it, so do we
    return (
        None,
        None,
        Problem(
            "this code cell comes before any step and is not annotated, and no later cell reads "
            "what it defines: it is not part of the pipeline (Kale leaves it out too)",
            cell=cell.index,
            fix="tag it 'skip' to silence this, or 'step:NAME' to run it in the pipeline",
        ),
    )


def _bound(tree: ast.Module) -> set[str]:
    """The names a cell's code defines (assigns, imports, functions, classes)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
    return out


def _read_after(cells: tuple[Cell, ...], index: int) -> set[str]:
    """The names the code cells after cell `index` read (a cell that does not parse reads all it
    mentions, so nothing it might need is thought unused)."""
    out: set[str] = set()
    for later in cells:
        if later.kind != "code" or later.index <= index:
            continue
        code = to_python(later.source).code
        try:
            nodes = list(ast.walk(ast.parse(code)))
        except SyntaxError:
            out.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
            continue
        out.update(n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load))
    return out


def annotate(cells: tuple[Cell, ...]) -> tuple[list[Annotation], list[Problem], list[Problem]]:
    """Resolve the role of every code cell. Returns (annotations, problems, warnings)."""
    out: list[Annotation] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    #: the role and step of the last annotated cell, which unannotated cells below continue
    current: tuple[Role, str | None] | None = None
    for cell in cells:
        if cell.kind != "code" or kale_reference(cell) is not None:
            continue  # Kale's notebook references are spliced in by kale_compose.py
        said = _read_cell(cell, problems, warnings)
        if said is None:
            continue
        if said.role is None and not said.settings.is_empty():
            # settings without a role apply to the step the cell continues
            if not said.has_magic and _KALE_REFERENCE.match(said.settings.notebook or ""):
                problems.append(_kale_notebook_reference(cell, said.settings.notebook or ""))
                continue
            if current is None or current[0] != Role.STEP:
                problems.append(
                    Problem(
                        "the cell has step settings but belongs to no step",
                        cell=cell.index,
                        fix="add a 'step:NAME' tag to this cell",
                    )
                )
                continue
            said = replace(said, style="tags")
        if said.role is None:
            found = _unannotated(cells, cell, said, current, problems, warnings)
            if found is not None:
                out.append(found)
            continue
        current = (said.role, said.step)
        out.append(
            Annotation(
                cell,
                said.role,
                said.step,
                said.settings,
                said.body,
                said.style,
                said.other_tags,
                said.offset,
            )
        )
    return out, problems, warnings


#: A `notebook:` tag value as Kale writes it, a name (ours is a path, `child.ipynb`).
_KALE_REFERENCE = re.compile(r"^[_a-z][_a-z0-9]*$")


def kale_reference(cell: Cell) -> str | None:
    """The name of the notebook a cell references as Kale 2 does (`notebook:NAME`, the path in the
    cell's metadata 'notebook_path'), or None if the cell is no such reference. The metadata tells
    it from our own `notebook:PATH` step, which keeps its path in the tag."""
    if cell.kind != "code" or cell.notebook_path is None:
        return None
    for tag in cell.tags:
        head, sep, name = tag.strip().partition(":")
        if head == "notebook" and sep:
            return name
    return None


def _kale_notebook_reference(cell: Cell, name: str) -> Problem:
    """`notebook:NAME` with no step and no path: Kale's reference to another notebook without the
    cell metadata that says which notebook (Kale refuses it too)."""
    return Problem(
        f"tag 'notebook:{name}' with no 'step:' tag is Kale's reference to another notebook, but "
        "the cell has no 'notebook_path' in its metadata to say which notebook (Kale refuses it "
        "too)",
        cell=cell.index,
        fix="set the cell's metadata 'notebook_path' to the notebook's path (e.g. "
        f"'./{name}.ipynb'), as Kale's editor does; or, to run a notebook whole as one step, tag "
        "the cell 'step:NAME' and 'notebook:PATH.ipynb'",
    )


@dataclass(frozen=True)
class _CellSays:
    """What one code cell says about itself (its tags and its magic line), before the cells
    around it decide what an unannotated cell belongs to."""

    role: Role | None
    step: str | None
    settings: StepSettings
    #: the cell's code without our magic line
    body: str
    style: str
    offset: int = 0
    other_tags: tuple[str, ...] = ()
    #: a step tag with no name (`block:`), read as if absent
    empty_step: str | None = None
    has_magic: bool = False


def _read_cell(cell: Cell, problems: list[Problem], warnings: list[Problem]) -> _CellSays | None:
    """The cell's tags and magic line read and reconciled; None if a problem was reported."""
    near = _magic_near_miss(cell)
    if near is not None:
        warnings.append(near)
    tags = _cell_tags(cell, problems, warnings)
    if tags is None:
        return None
    said = _cell_magic(cell, problems)
    if said is None:
        return None
    return _with_tags(cell, said, tags, problems)


def _cell_tags(cell: Cell, problems: list[Problem], warnings: list[Problem]) -> ParsedTags | None:
    try:
        tags = parse_tags(cell.tags)
    except TagError as e:
        problems.extend(
            Problem(str(err), cell=cell.index, fix=err.fix or "correct the cell's tags")
            for err in (e, *e.also)
        )
        return None
    for note, fix in tags.notes:
        warnings.append(Problem(note, cell=cell.index, fix=fix))
    if tags.empty_step is not None and tags.role is None:
        ignored = "" if tags.settings.is_empty() else "; its other step tags are ignored too"
        warnings.append(
            Problem(
                f"tag {tags.empty_step!r} names no step; read as if absent (as Kale does), so "
                f"this cell continues the cell above{ignored}",
                cell=cell.index,
                fix=f"remove the tag, or name the step ('{tags.empty_step}NAME')",
            )
        )
        # Kale drops prev/limit/annotation/label tags on such a cell; so do we, so the same
        # notebook gives the same pipeline.
        tags.settings = StepSettings()
    return tags


def _magic_near_miss(cell: Cell) -> Problem | None:
    """A warning for a line that looks like a misspelt magic of ours (`%%stepp three`) where
    IPython reads a cell magic: the cell's first line, or the first of the body below our own
    magic line. It annotates nothing, so the cell would join the step above without a word, and
    IPython runs the cell's code with that magic, so it is left out (`to_python` leaves such a
    cell out without a note of its own, since this one says it)."""
    lines = cell.source.split("\n")
    ours = magic_line_index(cell.source)
    start = 0 if ours is None else ours + 1
    at = next((i for i in range(start, len(lines)) if lines[i].strip()), None)
    first = lines[at].strip() if at is not None else ""
    meant = near_miss_magic(first) if first.startswith("%%") else None
    if at is None or meant is None:
        return None
    magic = first.split()[0]
    where = "the cell's first line" if ours is None else f"line {at + 1}, in a cell of its own,"
    return Problem(
        f"cell magic {magic} is not a kfp-jupyter magic, so it annotates nothing, and the cell's "
        f"code is left out of the pipeline as not Python; did you mean {meant!r}?",
        cell=cell.index,
        line=at + 1,
        fix=f"write {where} as {meant!r} (if {magic} is a magic of another extension, leave it)",
    )


def _cell_magic(cell: Cell, problems: list[Problem]) -> _CellSays | None:
    """What the cell's magic line says (nothing, if it has none); None if a problem was reported."""
    at = magic_line_index(cell.source)
    late = late_magic_line(cell.source, at)
    if late is not None:
        problems.append(
            Problem(
                f"{cell.source.split(chr(10))[late].strip()!r} is not the first line of the cell, "
                "so IPython does not run it as a cell magic",
                cell=cell.index,
                line=late + 1,
                fix="move it to the first line, or split the cell in two",
            )
        )
        return None
    if at is None:
        return _CellSays(None, None, StepSettings(), cell.source, "none")
    lines = cell.source.split("\n")
    first = lines[at].strip()
    try:
        m = parse_magic_line(first)
    except MagicUsageError as e:
        problems.extend(
            Problem(
                f"bad magic line {first!r}: {err.message}",
                cell=cell.index,
                line=at + 1,
                fix=err.fix or (f"usage: {err.usage}" if err.usage else "correct the magic line"),
            )
            for err in (e, *e.also)
        )
        return None
    body = "\n".join(lines[at + 1 :])
    return _CellSays(m.role, m.step, m.settings, body, "magic", at + 1, has_magic=True)


def _with_tags(
    cell: Cell, said: _CellSays, tags: ParsedTags, problems: list[Problem]
) -> _CellSays | None:
    """The magic's reading with the tags' added: the two must agree on the role and may not set
    one setting two ways. None if a problem was reported."""
    role, step, style = said.role, said.step, said.style
    if tags.role is not None:
        if role is not None and (role, step) != (tags.role, tags.step):
            magic_says = f"{role.value}{' ' + step if step else ''}"
            tagged = f"{tags.role.value}{':' + tags.step if tags.step else ''}"
            problems.append(
                Problem(
                    f"the magic says {magic_says!r} but the tags say {tagged!r}",
                    cell=cell.index,
                    step=step or tags.step,
                    fix="keep one of the two",
                )
            )
            return None
        role, step = tags.role, tags.step
        style = "both" if style == "magic" else "tags"
    try:
        settings = merge_settings(said.settings, tags.settings)
    except SettingsConflict as e:
        problems.append(
            Problem(
                f"the magic and the tags disagree: {e}",
                cell=cell.index,
                step=step,
                fix="say it once, in the magic or in the tags",
            )
        )
        return None
    return replace(
        said,
        role=role,
        step=step,
        settings=settings,
        style=style,
        other_tags=tuple(tags.other),
        empty_step=tags.empty_step,
    )


def _unannotated(
    cells: tuple[Cell, ...],
    cell: Cell,
    said: _CellSays,
    current: tuple[Role, str | None] | None,
    problems: list[Problem],
    warnings: list[Problem],
) -> Annotation | None:
    """A cell that names no role: it continues the cell above, or, above every annotation, is
    what it plainly is. None if it belongs to nothing."""
    if current is None:
        return _before_any_step(cells, cell, said, problems, warnings)
    if not said.body.strip() and said.settings.is_empty():
        return None  # an empty cell belongs to nothing
    role, step = current
    cont = Role.CONTINUE if role == Role.STEP else role
    return Annotation(
        cell, cont, step, said.settings, said.body, said.style, said.other_tags, said.offset
    )


def _before_any_step(
    cells: tuple[Cell, ...],
    cell: Cell,
    said: _CellSays,
    problems: list[Problem],
    warnings: list[Problem],
) -> Annotation | None:
    if not said.body.strip():
        return None
    if said.empty_step is not None and not said.has_magic:
        # Kale drops such a cell (there is no step above to continue); so do we.
        warnings.append(
            Problem(
                f"the cell tagged {said.empty_step!r} comes before any step, so it is "
                "not part of the pipeline (Kale leaves it out too)",
                cell=cell.index,
                fix="name its step, or tag it 'skip'",
            )
        )
        return None
    # A plain imports or definitions cell is what it looks like; it does not start a block that
    # later unannotated cells continue.
    role, problem, warning = _before_first_step(cell, said.body, cells)
    if problem is not None:
        problems.append(problem)
    if warning is not None:
        warnings.append(warning)
    if role is None:
        return None
    return Annotation(cell, role, None, said.settings, said.body, said.style, said.other_tags)
