"""Group annotated cells into the blocks of a pipeline: shared code, parameters, metrics, steps."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from ..errors import Problem
from ..model import Parameter, Secret, function_name
from ..notebook.magic_lines import near_miss_magic
from ..notebook.roles import Role, step_name_problem, suggest_step_name
from ..notebook.source import to_python
from ..notebook.step_settings import (
    SettingsConflict,
    StepSettings,
    apply_defaults,
    merge_settings,
)
from ..params import json_problem, type_fix, type_of_literal

if TYPE_CHECKING:
    from ..notebook.annotations import Annotation
    from ..notebook.metadata import NotebookSettings

#: the step names Kale accepts (its `step:`/`block:`/`prev:` tags)
KALE_STEP_NAME_RE = re.compile(r"^[_a-z][_a-z0-9]*$")

#: what KFP accepts as a pipeline parameter name (and a Python name)
PARAMETER_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass
class CodeBlock:
    """Code gathered from one or more cells, with a map from its lines back to the cells."""

    #: (cell index, python code, number of cell lines before the code: a removed magic line)
    parts: list[tuple[int, str, int]] = field(default_factory=list)

    def add(self, cell: int, code: str, offset: int = 0) -> None:
        self.parts.append((cell, code, offset))

    @property
    def code(self) -> str:
        # a cell whose first line was a magic line starts at its line 2: the marker says so
        return "\n".join(
            f"# cell {cell}{f', line {offset + 1}' if offset else ''}\n{code}"
            for cell, code, offset in self.parts
        )

    @property
    def cells(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(c for c, _, _ in self.parts))

    def locate(self, line: int) -> tuple[int | None, int | None]:
        """(cell, line in that cell) of a line of `code`."""
        start = 1
        for cell, code, offset in self.parts:
            n = code.count("\n") + 1
            if start < line <= start + n:
                return cell, line - start + offset
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
    #: what the metadata of the notebook the step comes from gives it, when that is a notebook
    #: another one composes (Kale): under the step's own settings, over the pipeline's defaults
    defaults: StepSettings = field(default_factory=StepSettings)

    def settings_over(self, defaults: StepSettings) -> StepSettings:
        """The step's settings: its own, then its notebook's, then the pipeline's `defaults`."""
        return apply_defaults(defaults, apply_defaults(self.defaults, self.settings))

    def problem(
        self,
        message: str,
        *,
        fix: str | None = None,
        at: tuple[int | None, int | None] | None = None,
    ) -> Problem:
        """A problem of this step, shown at `at` (a cell and a line in it) or, when it is about
        the step as a whole, at the step's first cell: the one place that says how a step's
        problems are located."""
        cell, line = at if at is not None else (self.first_cell, None)
        return Problem(message, cell=cell, step=self.name, line=line, fix=fix)


@dataclass
class Blocks:
    imports: CodeBlock = field(default_factory=CodeBlock)
    functions: CodeBlock = field(default_factory=CodeBlock)
    parameters: list[Parameter] = field(default_factory=list)
    parameter_cells: dict[str, int] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    metric_cells: dict[str, int] = field(default_factory=dict)
    steps: list[StepBlock] = field(default_factory=list)
    #: code of skipped cells (cell, code): only to explain a name that just a skipped cell defines
    skipped: list[tuple[int, str]] = field(default_factory=list)


def name_assignment(node: ast.stmt) -> tuple[ast.Name | None, ast.expr | None]:
    """`NAME = value` (or `NAME: T = value`) as (name, value); (None, None) for anything else.
    Parameter cells and component cells are both lists of such lines."""
    target: ast.expr
    value: ast.expr | None
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign):
        target, value = node.target, node.value
    else:
        return None, None
    return (target, value) if isinstance(target, ast.Name) else (None, None)


def key_line(
    node: ast.stmt, sb: StepBlock, problems: list[Problem], *, holds: str, fix: str
) -> tuple[str, ast.expr, tuple[int | None, int | None]] | None:
    """A `KEY = value` line of a component or notebook step's cell as (key, value, (cell,
    line)); None for any other line, with a problem saying what such a cell `holds` instead."""
    at = sb.code.locate(node.lineno)
    target, value = name_assignment(node)
    if target is None or value is None:
        problems.append(sb.problem(f"{holds}, not {ast.unparse(node)!r}", fix=fix, at=at))
        return None
    return target.id, value, at


def bound_value(
    value: ast.expr,
    what: str,
    at: tuple[int | None, int | None],
    sb: StepBlock,
    problems: list[Problem],
) -> tuple[Literal["name", "literal"], Any] | None:
    """The value of a `KEY = value` line of a component or notebook step's cell: ("name", the
    variable or parameter it names) or ("literal", the value); None, with a problem, otherwise.
    `what` names the key in the message ("input 'x'", "parameter 'n'"), `at` is (cell, line)."""
    if isinstance(value, ast.Name):
        return "name", value.id
    try:
        return "literal", ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        problems.append(
            sb.problem(
                f"{what} must be given a literal, a pipeline parameter or a variable of an "
                f"earlier step, not {ast.unparse(value)!r}",
                fix="compute the value in a Python step before this one and pass its name",
                at=at,
            )
        )
        return None


def step_fields(st: StepSettings, default_image: str) -> dict[str, Any]:
    """The fields of a Step that its settings (tags, magic options, notebook defaults) decide,
    the same for every kind of step."""
    return {
        "image": st.image or default_image,
        "limits": dict(st.limits),
        "annotations": dict(st.annotations),
        "labels": dict(st.labels),
        "secrets": tuple(Secret(a, b, c) for a, b, c in st.secrets),
        "cache": True if st.cache is None else st.cache,
        "retries": st.retries or 0,
        "timeout": st.timeout,
    }


def _check_syntax(
    cell: int, code: str, offset: int, step: str | None, problems: list[Problem]
) -> bool:
    """Compile, not just parse: `await`, `return` or `break` at the top level parse but never run."""
    try:
        compile(code, f"<cell {cell}>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError) as e:
        msg = e.msg if isinstance(e, SyntaxError) else str(e)
        text = e.text if isinstance(e, SyntaxError) else None
        lineno = e.lineno if isinstance(e, SyntaxError) else None
        fix = "correct the code (run the cell in Jupyter to see the error)"
        if "await" in msg:
            fix = "a step runs as plain Python: put the code in an async function and call asyncio.run()"
        problems.append(
            Problem(
                f"syntax error: {msg}" + (f": {text.strip()!r}" if text and text.strip() else ""),
                cell=cell,
                step=step,
                line=(lineno + offset) if lineno else None,
                fix=fix,
            )
        )
        return False


def _check_globals(
    cell: int, code: str, offset: int, step: str | None, problems: list[Problem]
) -> None:
    """Refuse `global`: a step's code runs inside the one function KFP calls, where `global`
    reaches the step program's module instead of the notebook's variables, so a value set that
    way would silently not arrive (or the read would fail)."""
    if "global" not in code:  # most cells: no second parse
        return
    tree = ast.parse(code)
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Global):
            continue
        said = f"'global {', '.join(node.names)}'"
        if id(node) in top:
            message = f"{said} at the top of a cell: a step runs as a function, where it would "
            message += "make the names the step program's own instead of the notebook's"
            fix = "remove it: at the top of a cell it does nothing in the notebook either"
        else:
            message = f"{said} in a function: a step runs as a function, where it reaches the "
            message += "step program's module, not the notebook's variables, so the value "
            message += "would not arrive"
            fix = "return the value and assign it in the cell instead (e.g. config = load_config())"
        problems.append(Problem(message, cell=cell, step=step, line=node.lineno + offset, fix=fix))


def without_future_imports(
    cell: int, code: str, offset: int, step: str | None, warnings: list[Problem]
) -> str:
    """The cell's code without its `from __future__ import` lines: a step's code runs inside a
    function, where such an import is a syntax error. Each is commented out (the lines keep their
    numbers, which map errors back to the cell). On Python 3 all features but `annotations` are
    always on; that one is lost, and a warning says so."""
    if "__future__" not in code:  # most cells: no second parse
        return code
    tree = ast.parse(code)
    futures = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    lines = code.split("\n")
    for node in reversed(futures):
        if any(a.name == "annotations" for a in node.names):
            warnings.append(_annotations_problem(cell, node.lineno + offset, step))
        _comment_out(lines, node)
    return "\n".join(lines)


def _annotations_problem(cell: int, line: int, step: str | None) -> Problem:
    return Problem(
        "'from __future__ import annotations' has no effect in a step: a step's code runs "
        "inside a function, where no __future__ import can be, so annotations are evaluated "
        "when a function or class is defined (one that names a class defined later fails)",
        cell=cell,
        step=step,
        line=line,
        fix="quote an annotation that names a class defined later ('Node'), or remove the import",
    )


def _comment_out(lines: list[str], node: ast.stmt) -> None:
    """Turn the statement `node` into comments, or where it shares a line with another
    statement (`from __future__ import x; import os`), into `pass`, keeping the lines."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    start = len(lines[first].encode()[: node.col_offset].decode())
    end = len(lines[last].encode()[: node.end_col_offset].decode())
    before, after = lines[first][:start], lines[last][end:]
    if not before.strip() and (not after.strip() or after.strip().startswith("#")):
        for i in range(first, last + 1):
            lines[i] = "# " + lines[i]
        return
    if last == first:
        lines[first] = before + "pass" + after
    else:  # `\` keeps them one logical line, as the statement was: what follows still parses
        lines[first : last + 1] = [before + "pass \\", *["\\"] * (last - first - 1), after]


def parameters_cell(
    cell: int, code: str, offset: int, out: Blocks, problems: list[Problem]
) -> None:
    """Read a parameters cell into `out`: also a notebook step's notebook's, where they say what
    the pipeline injects (notebookstep.py)."""
    tree = ast.parse(code)
    for node in tree.body:
        param = _parameter(node, cell, node.lineno + offset, problems)
        if param is None:
            continue
        for i, p in enumerate(out.parameters):
            if p.name == param.name:
                out.parameters[i] = param
                break
        else:
            out.parameters.append(param)
        out.parameter_cells[param.name] = cell


def _parameter(node: ast.stmt, cell: int, line: int, problems: list[Problem]) -> Parameter | None:
    """One `name = literal` line of a parameters cell; None (reported) if a pipeline cannot take
    it as a parameter."""
    target, value = name_assignment(node)
    if target is None or value is None:
        problems.append(
            Problem(
                "the pipeline-parameters cell may only hold 'name = literal' lines, "
                f"not {ast.unparse(node)!r}",
                cell=cell,
                line=line,
                fix="move other code into a step",
            )
        )
        return None
    try:
        literal = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        problems.append(
            Problem(
                f"parameter {target.id!r} must be a literal value, not {ast.unparse(value)!r}",
                cell=cell,
                line=line,
                fix="write the value itself (a number, string, bool, list or dict); "
                "compute derived values in a step",
            )
        )
        return None
    ptype = type_of_literal(literal)
    if ptype is None:
        problems.append(
            Problem(
                f"parameter {target.id!r} has type {type(literal).__name__}; pipeline parameters "
                "are int, float, str, bool, list or dict",
                cell=cell,
                line=line,
                fix=type_fix(target.id, literal),
            )
        )
        return None
    problem = _value_or_name_problem(target.id, literal, cell, line)
    if problem is not None:
        problems.append(problem)
        return None
    return Parameter(target.id, ptype, literal)


def _value_or_name_problem(name: str, literal: object, cell: int, line: int) -> Problem | None:
    """What keeps a literal of a parameter type from being passed: a value JSON cannot carry,
    or a name a pipeline cannot have."""
    why = json_problem(literal)
    if why:
        return Problem(
            f"parameter {name!r} cannot be passed to a pipeline: {why}",
            cell=cell,
            line=line,
            fix="use only numbers, strings, booleans, None, lists and dicts with string keys",
        )
    if not PARAMETER_NAME_RE.match(name):
        return Problem(
            f"invalid parameter name {name!r}: pipeline parameter names are ASCII "
            "letters, digits and '_', starting with a letter",
            cell=cell,
            line=line,
            fix="rename it, e.g. "
            + repr(re.sub(r"[^A-Za-z0-9_]", "_", name).lstrip("_0123456789") or "param"),
        )
    return None


def _metric_names(node: ast.stmt) -> list[str]:
    if not isinstance(node, ast.Expr):
        return []
    v = node.value
    if isinstance(v, ast.Name):
        return [v.id]
    if (
        isinstance(v, ast.Call)
        and isinstance(v.func, ast.Name)
        and v.func.id == "print"
        and v.args
        and not v.keywords
        and all(isinstance(a, ast.Name) for a in v.args)
    ):
        return [a.id for a in v.args if isinstance(a, ast.Name)]
    if isinstance(v, ast.Tuple) and v.elts and all(isinstance(a, ast.Name) for a in v.elts):
        return [a.id for a in v.elts if isinstance(a, ast.Name)]
    return []


def metrics_cell(cell: int, code: str, offset: int, out: Blocks, problems: list[Problem]) -> None:
    """Read a metrics cell into `out` (also a notebook step's notebook's: its step's metrics)."""
    tree = ast.parse(code)
    for node in tree.body:
        names = _metric_names(node)
        if not names:
            problems.append(
                Problem(
                    "the pipeline-metrics cell lists variable names (bare or as print(name)), "
                    f"not {ast.unparse(node)!r}",
                    cell=cell,
                    line=node.lineno + offset,
                    fix="compute the metric in a step and list only its name here",
                )
            )
            continue
        for n in names:
            if n not in out.metrics:
                out.metrics.append(n)
                out.metric_cells[n] = cell


def unique_step_name(name: str, taken: set[str]) -> str:
    """`name`, or the first of `name-2`, `name-3`, ... (cut to fit 63 characters) that is not
    taken, as a step or as the Python name every program gives a step (`a-b` and `a_b` are
    both `a_b`); it is then taken. Compose names its steps so, and Kale's renamed steps."""
    python = {function_name(t) for t in taken}
    candidate, n = name, 2
    while candidate in taken or function_name(candidate) in python:
        suffix = f"-{n}"
        candidate, n = name[: 63 - len(suffix)].rstrip("-_") + suffix, n + 1
    taken.add(candidate)
    return candidate


def _kale_names(annotations: list[Annotation], warnings: list[Problem]) -> list[Annotation]:
    """Rename the steps Kale accepts but a KFP task or Argo template cannot be called (`_prep`,
    `prep_`, names over 63 characters), in their cells and in `prev:`, so such notebooks compile;
    each renaming is a warning, as the step shows under its new name. A renaming that would meet
    another step's name (`_prep` beside `prep`) takes a suffix instead (`prep-2`): both are steps
    in Kale, so both stay steps here."""
    renames: dict[str, str] = {}
    taken = {a.step for a in annotations if a.step is not None}
    for a in annotations:
        name = a.step
        if name is None or name in renames or not step_name_problem(name):
            continue
        if not KALE_STEP_NAME_RE.match(name):
            continue
        wanted = suggest_step_name(name)
        new = unique_step_name(wanted, taken)
        renames[name] = new
        met = "" if new == wanted else f" (as another step is called {wanted!r})"
        warnings.append(
            Problem(
                f"step name {name!r} (which Kale accepts) is read as {new!r}{met}: KFP and Argo "
                "need names that start with a letter, end with a letter or digit and have at "
                "most 63 characters",
                cell=a.cell.index,
                step=new,
                fix=f"rename the step to {new!r} (and its prev: tags) to silence this",
            )
        )
    if not renames:
        return annotations
    return [
        replace(
            a,
            step=renames.get(a.step, a.step) if a.step is not None else None,
            settings=replace(a.settings, prev=tuple(renames.get(p, p) for p in a.settings.prev)),
        )
        for a in annotations
    ]


def group_blocks(
    annotations: list[Annotation], problems: list[Problem], warnings: list[Problem]
) -> Blocks:
    out = Blocks()
    annotations = _kale_names(annotations, warnings)
    steps: dict[str, StepBlock] = {}
    for a in annotations:
        if a.role == Role.SKIP:
            out.skipped.append((a.cell.index, to_python(a.body).code))
            continue
        step = a.step if a.role in (Role.STEP, Role.CONTINUE) else None
        if step is None and not a.settings.is_empty():
            problems.append(
                Problem(
                    f"step settings on a {a.role.value} cell have no effect",
                    cell=a.cell.index,
                    fix="move these tags (or magic options) to a cell of the step they are for",
                )
            )
        if step is not None and step not in steps:
            why = step_name_problem(step)
            if why:
                problems.append(Problem(why, cell=a.cell.index, step=step, fix="rename the step"))
            steps[step] = StepBlock(step, a.cell.index)
        if step is not None and _yaml_body(steps[step], a):
            # a container or resource cell: its body is YAML, kept as it is (analysis/nonpython.py)
            _add_to_step(steps[step], a, a.body, problems)
            continue
        py = to_python(a.body)
        # a misspelt magic of ours (`%%stepp`): the annotations' near-miss warning says it all
        near_miss = near_miss_magic(a.body.lstrip().split("\n", 1)[0]) is not None
        for note in () if near_miss else py.notes:
            warnings.append(Problem(note, cell=a.cell.index, step=step))
        if not _check_syntax(a.cell.index, py.code, a.offset, step, problems):
            continue
        code = py.code
        if a.role not in (Role.PARAMETERS, Role.METRICS):
            _check_globals(a.cell.index, code, a.offset, step, problems)
            code = without_future_imports(a.cell.index, code, a.offset, step, warnings)
        if a.role == Role.IMPORTS:
            out.imports.add(a.cell.index, code, a.offset)
        elif a.role == Role.FUNCTIONS:
            out.functions.add(a.cell.index, code, a.offset)
        elif a.role == Role.PARAMETERS:
            parameters_cell(a.cell.index, code, a.offset, out, problems)
        elif a.role == Role.METRICS:
            metrics_cell(a.cell.index, code, a.offset, out, problems)
        elif step is not None:
            _add_to_step(steps[step], a, code, problems)
    out.steps = list(steps.values())
    return out


def _yaml_body(sb: StepBlock, a: Annotation) -> bool:
    """Whether the cell belongs to a step whose cells hold YAML (a container or resource step)."""
    try:
        kind = merge_settings(sb.settings, a.settings).kind
    except SettingsConflict:
        kind = sb.settings.kind
    return kind in ("container", "resource")


def _add_to_step(sb: StepBlock, a: Annotation, code: str, problems: list[Problem]) -> None:
    sb.code.add(a.cell.index, code, a.offset)
    try:
        sb.settings = merge_settings(sb.settings, a.settings)
    except SettingsConflict as e:
        problems.append(
            Problem(
                f"the cells of this step disagree: {e}",
                cell=a.cell.index,
                step=sb.name,
                fix="say it once, in one cell of the step",
            )
        )
    for p in a.settings.prev:
        sb.prev_cells.setdefault(p, a.cell.index)


def pipeline_fields(settings: NotebookSettings) -> dict[str, Any]:
    """The fields of a Pipeline that the notebook's metadata decides, for every kind of pipeline
    (annotated, or a plain notebook of one step)."""
    return {
        "name": settings.name,
        "description": settings.description,
        "experiment": settings.experiment,
        "pipeline_root": settings.pipeline_root,
        "kfp_runtime": settings.kfp_runtime,
    }
