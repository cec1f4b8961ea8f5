"""Give every code cell its role in the pipeline, from its tags or its first-line magic."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..errors import Problem
from .grammar import (
    MagicUsageError,
    Role,
    StepSettings,
    TagError,
    is_magic_line,
    merge_settings,
    parse_magic_line,
    parse_tags,
    SettingsConflict,
)
from .reader import Cell

__all__ = ["Annotation", "Role", "StepSettings", "annotate"]


@dataclass(frozen=True)
class Annotation:
    """A code cell with its resolved role (continuations already resolved) and its code body."""

    cell: Cell
    role: Role
    step: str | None
    settings: StepSettings
    #: the cell's code without our magic line
    body: str
    #: how the cell was annotated: "tags", "magic", "both", or "none" (continues the cell above)
    style: str
    other_tags: tuple[str, ...] = ()


def _only(node_types: tuple[type, ...], source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    return bool(tree.body) and all(isinstance(n, node_types) for n in tree.body)


def annotate(cells: tuple[Cell, ...]) -> tuple[list[Annotation], list[Problem], list[Problem]]:
    """Resolve the role of every code cell. Returns (annotations, problems, warnings)."""
    out: list[Annotation] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    current: tuple[Role, str | None] | None = None
    for cell in cells:
        if cell.kind != "code":
            continue
        lines = cell.source.split("\n")
        first = lines[0].strip() if lines else ""
        role: Role | None = None
        step: str | None = None
        settings = StepSettings()
        body = cell.source
        style = "none"
        try:
            tags = parse_tags(cell.tags)
        except TagError as e:
            problems.append(Problem(str(e), cell=cell.index, fix="correct the cell's tags"))
            continue
        if is_magic_line(first):
            try:
                m = parse_magic_line(first)
            except MagicUsageError as e:
                problems.append(Problem(f"bad magic line {first!r}: {e}", cell=cell.index))
                continue
            role, step, settings = m.role, m.step, m.settings
            body = "\n".join(lines[1:])
            style = "magic"
        if tags.role is not None:
            if role is not None and (role, step) != (tags.role, tags.step):
                problems.append(
                    Problem(
                        f"the magic says {role.value}{':' + step if step else ''} but the tags say "
                        f"{tags.role.value}{':' + tags.step if tags.step else ''}",
                        cell=cell.index,
                        fix="keep one of the two",
                    )
                )
                continue
            role, step = tags.role, tags.step
            style = "both" if style == "magic" else "tags"
        try:
            settings = merge_settings(settings, tags.settings)
        except SettingsConflict as e:
            problems.append(Problem(f"the magic and the tags disagree: {e}", cell=cell.index))
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
            if not body.strip():
                continue  # an empty cell belongs to nothing
            if current is None:
                # Before the first annotation, plain import or definition cells are what they look like.
                if _only((ast.Import, ast.ImportFrom), body):
                    role = Role.IMPORTS
                elif _only((ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef), body):
                    role = Role.FUNCTIONS
                else:
                    problems.append(
                        Problem(
                            "this code cell comes before any step and is not annotated",
                            cell=cell.index,
                            fix="tag it 'step:NAME' (or 'imports', 'functions', 'skip'), "
                            "or start it with '%%step NAME'",
                        )
                    )
                    continue
            else:
                role, step = current
                out.append(Annotation(cell, Role.CONTINUE if role == Role.STEP else role, step, settings, body, style, tuple(tags.other)))
                continue
        current = (role, step)
        out.append(Annotation(cell, role, step, settings, body, style, tuple(tags.other)))
    return out, problems, warnings
