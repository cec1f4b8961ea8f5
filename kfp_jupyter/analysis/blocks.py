"""Group annotated cells into the blocks of a pipeline: shared code, parameters, metrics, steps."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..errors import Problem
from ..model import Parameter
from ..notebook.annotations import Annotation
from ..notebook.grammar import Role, SettingsConflict, StepSettings, merge_settings, step_name_problem
from ..params import type_of_literal
from .source import to_python


@dataclass
class CodeBlock:
    """Code gathered from one or more cells, with a map from its lines back to the cells."""

    parts: list[tuple[int, str]] = field(default_factory=list)  # (cell index, python code)

    def add(self, cell: int, code: str) -> None:
        self.parts.append((cell, code))

    @property
    def code(self) -> str:
        return "\n".join(f"# cell {cell}\n{code}" for cell, code in self.parts)

    @property
    def cells(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(c for c, _ in self.parts))

    def locate(self, line: int) -> tuple[int | None, int | None]:
        """(cell, line in that cell) of a line of `code`."""
        start = 1
        for cell, code in self.parts:
            n = code.count("\n") + 1
            if start < line <= start + n:
                return cell, line - start
            start += n + 1
        return (self.parts[0][0] if self.parts else None), None


@dataclass
class StepBlock:
    name: str
    first_cell: int
    code: CodeBlock = field(default_factory=CodeBlock)
    settings: StepSettings = field(default_factory=StepSettings)
    #: cell where each prev was said, to point at it in errors
    prev_cells: dict[str, int] = field(default_factory=dict)


@dataclass
class Blocks:
    imports: CodeBlock = field(default_factory=CodeBlock)
    functions: CodeBlock = field(default_factory=CodeBlock)
    parameters: list[Parameter] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    metric_cells: dict[str, int] = field(default_factory=dict)
    steps: list[StepBlock] = field(default_factory=list)


def _check_syntax(cell: int, code: str, step: str | None, problems: list[Problem]) -> bool:
    try:
        ast.parse(code)
        return True
    except SyntaxError as e:
        problems.append(
            Problem(
                f"syntax error: {e.msg}" + (f": {e.text.strip()!r}" if e.text and e.text.strip() else ""),
                cell=cell,
                step=step,
                line=e.lineno,
                fix="correct the code (run the cell in Jupyter to see the error)",
            )
        )
        return False


def _parameters(cell: int, code: str, out: Blocks, problems: list[Problem]) -> None:
    tree = ast.parse(code)
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else (
            node.target if isinstance(node, ast.AnnAssign) and node.value is not None else None
        )
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if not isinstance(target, ast.Name) or value is None:
            problems.append(
                Problem(
                    f"the pipeline-parameters cell may only hold 'name = literal' lines, not {ast.unparse(node)!r}",
                    cell=cell,
                    line=node.lineno,
                    fix="move other code into a step",
                )
            )
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            problems.append(
                Problem(
                    f"parameter {target.id!r} must be a literal value, not {ast.unparse(value)!r}",
                    cell=cell,
                    line=node.lineno,
                    fix="write the value itself (a number, string, bool, list or dict)",
                )
            )
            continue
        ptype = type_of_literal(literal)
        if ptype is None:
            problems.append(
                Problem(
                    f"parameter {target.id!r} has type {type(literal).__name__}; pipeline parameters are "
                    "int, float, str, bool, list or dict",
                    cell=cell,
                    line=node.lineno,
                    fix="use one of those types (e.g. a list instead of a tuple)",
                )
            )
            continue
        for i, p in enumerate(out.parameters):
            if p.name == target.id:
                out.parameters[i] = Parameter(target.id, ptype, literal)
                break
        else:
            out.parameters.append(Parameter(target.id, ptype, literal))


def _metrics(cell: int, code: str, out: Blocks, problems: list[Problem]) -> None:
    tree = ast.parse(code)
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.Expr):
            v = node.value
            if isinstance(v, ast.Name):
                names = [v.id]
            elif isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "print" \
                    and v.args and all(isinstance(a, ast.Name) for a in v.args) and not v.keywords:
                names = [a.id for a in v.args if isinstance(a, ast.Name)]
            elif isinstance(v, ast.Tuple) and all(isinstance(a, ast.Name) for a in v.elts):
                names = [a.id for a in v.elts if isinstance(a, ast.Name)]
        if not names:
            problems.append(
                Problem(
                    f"the pipeline-metrics cell lists variable names (bare or as print(name)), not {ast.unparse(node)!r}",
                    cell=cell,
                    line=node.lineno,
                    fix="compute the metric in a step and list only its name here",
                )
            )
            continue
        for n in names:
            if n not in out.metrics:
                out.metrics.append(n)
                out.metric_cells[n] = cell


def group_blocks(annotations: list[Annotation], problems: list[Problem], warnings: list[Problem]) -> Blocks:
    out = Blocks()
    steps: dict[str, StepBlock] = {}
    for a in annotations:
        py = to_python(a.body)
        for note in py.notes:
            warnings.append(Problem(note, cell=a.cell.index, step=a.step))
        step = a.step if a.role in (Role.STEP, Role.CONTINUE) else None
        if a.role == Role.SKIP:
            continue
        if not _check_syntax(a.cell.index, py.code, step, problems):
            if a.role == Role.STEP and a.step and a.step not in steps:
                steps[a.step] = StepBlock(a.step, a.cell.index)
            continue
        if a.role == Role.IMPORTS:
            out.imports.add(a.cell.index, py.code)
        elif a.role == Role.FUNCTIONS:
            out.functions.add(a.cell.index, py.code)
        elif a.role == Role.PARAMETERS:
            _parameters(a.cell.index, py.code, out, problems)
        elif a.role == Role.METRICS:
            _metrics(a.cell.index, py.code, out, problems)
        elif a.role in (Role.STEP, Role.CONTINUE):
            assert a.step is not None
            if a.step not in steps:
                why = step_name_problem(a.step)
                if why:
                    problems.append(Problem(why, cell=a.cell.index, step=a.step, fix="rename the step"))
                steps[a.step] = StepBlock(a.step, a.cell.index)
            sb = steps[a.step]
            sb.code.add(a.cell.index, py.code)
            try:
                sb.settings = merge_settings(sb.settings, a.settings)
            except SettingsConflict as e:
                problems.append(Problem(f"the cells of this step disagree: {e}", cell=a.cell.index, step=a.step,
                                        fix="say it once, in one cell of the step"))
            for p in a.settings.prev:
                sb.prev_cells.setdefault(p, a.cell.index)
    out.steps = list(steps.values())
    return out
