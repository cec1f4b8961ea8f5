"""Give every code cell its role in the pipeline, from its tags or its first-line magic."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..errors import Problem
from .grammar import (
    MagicUsageError,
    Role,
    SettingsConflict,
    StepSettings,
    TagError,
    is_magic_line,
    merge_settings,
    parse_magic_line,
    parse_tags,
)
from .reader import Cell

__all__ = ["Annotation", "Role", "StepSettings", "annotate", "magic_line_index"]


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


def _late_magic_line(source: str, first: int | None) -> int | None:
    """Index of one of our cell magics below the top of a cell, where it means nothing."""
    if "%%" not in source:
        return None
    from ..analysis.source import statement_starts

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


def _before_first_step(cell: Cell, body: str) -> tuple[Role | None, Problem | None]:
    """The role of an unannotated cell above every annotation: what it plainly is, if anything."""
    from ..analysis.source import to_python

    code = to_python(body).code
    try:
        tree = ast.parse(code)
    except SyntaxError:
        tree = None
    if tree is not None and not tree.body:
        return None, None  # only comments, magics (`%matplotlib inline`) or `!pip install`
    if _only((ast.Import, ast.ImportFrom), code):
        return Role.IMPORTS, None
    if _only(_DEFINITIONS, code):
        return Role.FUNCTIONS, None
    return None, Problem(
        "this code cell comes before any step and is not annotated",
        cell=cell.index,
        fix="tag it 'step:NAME' (or 'imports', 'functions', 'skip'), or start it with '%%step NAME'",
    )


def annotate(cells: tuple[Cell, ...]) -> tuple[list[Annotation], list[Problem], list[Problem]]:
    """Resolve the role of every code cell. Returns (annotations, problems, warnings)."""
    out: list[Annotation] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    current: tuple[Role, str | None] | None = None
    for cell in cells:
        if cell.kind != "code":
            continue
        role: Role | None = None
        step: str | None = None
        settings = StepSettings()
        body = cell.source
        offset = 0
        style = "none"
        try:
            tags = parse_tags(cell.tags)
        except TagError as e:
            problems.append(Problem(str(e), cell=cell.index, fix="correct the cell's tags"))
            continue
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
        at = magic_line_index(cell.source)
        late = _late_magic_line(cell.source, at)
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
            continue
        if at is not None:
            lines = cell.source.split("\n")
            first = lines[at].strip()
            try:
                m = parse_magic_line(first)
            except MagicUsageError as e:
                problems.append(
                    Problem(
                        f"bad magic line {first!r}: {e.message}",
                        cell=cell.index,
                        line=at + 1,
                        fix=f"usage: {e.usage}" if e.usage else "correct the magic line",
                    )
                )
                continue
            role, step, settings = m.role, m.step, m.settings
            body = "\n".join(lines[at + 1 :])
            offset = at + 1
            style = "magic"
        if tags.role is not None:
            if role is not None and (role, step) != (tags.role, tags.step):
                said = f"{role.value}{' ' + step if step else ''}"
                tagged = f"{tags.role.value}{':' + tags.step if tags.step else ''}"
                problems.append(
                    Problem(
                        f"the magic says {said!r} but the tags say {tagged!r}",
                        cell=cell.index,
                        step=step or tags.step,
                        fix="keep one of the two",
                    )
                )
                continue
            role, step = tags.role, tags.step
            style = "both" if style == "magic" else "tags"
        try:
            settings = merge_settings(settings, tags.settings)
        except SettingsConflict as e:
            problems.append(
                Problem(
                    f"the magic and the tags disagree: {e}",
                    cell=cell.index,
                    step=step,
                    fix="say it once, in the magic or in the tags",
                )
            )
            continue
        if role is None and not settings.is_empty():
            # settings without a role apply to the step the cell continues
            if current is None or current[0] != Role.STEP:
                problems.append(
                    Problem(
                        "the cell has step settings but belongs to no step",
                        cell=cell.index,
                        fix="add a 'step:NAME' tag to this cell",
                    )
                )
                continue
            style = "tags"
        if role is None:
            if current is None:
                if not body.strip():
                    continue
                if tags.empty_step is not None and at is None:
                    # Kale drops such a cell (there is no step above to continue); so do we.
                    warnings.append(
                        Problem(
                            f"the cell tagged {tags.empty_step!r} comes before any step, so it is "
                            "not part of the pipeline (Kale leaves it out too)",
                            cell=cell.index,
                            fix="name its step, or tag it 'skip'",
                        )
                    )
                    continue
                # A plain imports or definitions cell is what it looks like; it does not start
                # a block that later unannotated cells continue.
                role, problem = _before_first_step(cell, body)
                if problem is not None:
                    problems.append(problem)
                if role is not None:
                    out.append(
                        Annotation(cell, role, None, settings, body, style, tuple(tags.other))
                    )
                continue
            else:
                if not body.strip() and settings.is_empty():
                    continue  # an empty cell belongs to nothing
                role, step = current
                cont = Role.CONTINUE if role == Role.STEP else role
                out.append(
                    Annotation(cell, cont, step, settings, body, style, tuple(tags.other), offset)
                )
                continue
        current = (role, step)
        out.append(Annotation(cell, role, step, settings, body, style, tuple(tags.other), offset))
    return out, problems, warnings
