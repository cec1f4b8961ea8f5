"""What the two KFP targets read off the pipeline model alike: the `kfp` target writes KFP's IR
itself, the `dsl` script has the kfp SDK write it, and the two must be equal (the tests hold them
side by side). So both wire every task the same way, refuse the same things, and fit the same names
to what the kfp SDK allows, here and nowhere else.

Python allows names KFP does not (`_rows`, `données`, `X` for a component's input), and a container
cell's environment may take an input KFP does not fill in there; what KFP cannot hold at all (two
accelerator types on one step, an int beyond 2**53, inf) is refused with a fix.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from ..components.spec import (
    ComponentIO,
    ComponentSpec,
    Concat,
    IfPresent,
    InputPath,
    InputValue,
    OutputPath,
    Part,
    sanitize_name,
)
from ..components.steps import kubectl_component
from ..errors import NotebookError, Problem
from ..model import PYTHON_BUILTINS
from ..notebook.limits import UNSETTABLE_LIMITS
from ..packaging.program import StepProgram, build_program, unique_identifier
from ..packaging.runtime_text import INDENT
from .shared import at_parameter_lines, is_python, unique_name

if TYPE_CHECKING:
    from ..model import ComponentCall, Pipeline, Step

_IO = TypeVar("_IO", bound=ComponentIO)

# --- what KFP cannot hold ---------------------------------------------------------------------


def check_kfp(pipeline: Pipeline) -> None:
    """Refuse what KFP's IR cannot hold, for the `kfp` and `dsl` targets alike, with a fix."""
    problems = _parameter_problems(pipeline)
    for step in pipeline.steps:
        problems += _accelerator_problems(step) + _env_problems(step) + _number_problems(step)
    if problems:
        raise NotebookError(problems)


def _problem(step: Step, message: str, fix: str) -> Problem:
    return Problem(message, cell=step.cells[0] if step.cells else None, step=step.name, fix=fix)


def _accelerator_problems(step: Step) -> list[Problem]:
    """KFP gives a task one accelerator type (`set_accelerator_type`): a step asking for two
    would silently get one of them. Storage limits are no accelerators: KFP cannot set them at
    all (the tag path drops them with a warning; a magic line's --limit keeps them for Argo)."""
    unsettable = sorted(k for k in step.limits if k in UNSETTABLE_LIMITS)
    accelerators = sorted(
        k for k in step.limits if k not in ("cpu", "memory") and k not in UNSETTABLE_LIMITS
    )
    problems = [
        _problem(
            step,
            f"the step's limit {key!r} cannot be set by KFP, which sets cpu, memory and one "
            "accelerator on a step",
            f"remove --limit {key}={step.limits[key]}, or compile this notebook with the "
            "argo target, which sets it",
        )
        for key in unsettable
    ]
    if len(accelerators) > 1:
        problems.append(
            _problem(
                step,
                f"the step asks for {len(accelerators)} kinds of accelerator "
                f"({', '.join(accelerators)}); KFP gives a step one accelerator type",
                "keep one limit:RESOURCE:N tag (or --gpu/--limit option) for an "
                "accelerator, or compile this notebook with the argo target",
            )
        )
    return problems


def _env_problems(step: Step) -> list[Problem]:
    """KFP puts a component's environment into its container as written, placeholders unfilled.
    A container cell's are passed on its command line instead (`kfp_call`); a component file is
    embedded by the `dsl` script as it is written, so there they are refused."""
    call = step.component
    if call is None or not call.spec.text:
        return []
    names = [k for k, v in call.spec.container.env if not isinstance(v, str)]
    if not names:
        return []
    return [
        _problem(
            step,
            f"component {call.spec.name!r} ({call.source}) puts a placeholder in the "
            f"environment variable{'s' if len(names) > 1 else ''} {', '.join(names)}, and KFP "
            "does not fill placeholders in a container's environment",
            "pass the value on the component's command line instead, or compile this "
            "notebook with the argo target",
        )
    ]


# --- numbers KFP would change ------------------------------------------------------------------

#: the size up to which a double holds every whole number, and so the IR every int
EXACT_INT = 2**53


@dataclass(frozen=True)
class UnkeptNumber:
    """A number KFP would not pass on as it is. The IR's numbers (and a run's) are protobuf
    Values: doubles, so beyond 2**53 in size an int may reach the run as another int, or not at
    all; and JSON, which has no inf or nan. Argo and a local run keep both, so such a number is
    refused rather than changed silently, which a run would never show."""

    #: what holds it, as a message names it: `parameter 'xs'[2]`
    where: str
    value: int | float

    def __str__(self) -> str:
        if isinstance(self.value, float):
            return (
                f"{self.where} is {self.value!r}, which KFP cannot hold: its pipeline spec "
                "holds numbers as JSON, which has no inf or nan"
            )
        text = (
            f"{self.where} is {shown_int(self.value)}, too large for KFP to hold exactly: its "
            "pipeline spec holds every number as a 64-bit float, exact for whole numbers up to "
            f"2**53 ({EXACT_INT}) in size"
        )
        try:
            becomes = int(float(self.value))
        except OverflowError:
            return text + ", and this one is beyond a 64-bit float altogether"
        return text + (
            f", so a run would get {shown_int(becomes)}" if becomes != self.value else ""
        )

    def fix(self, otherwise: str) -> str:
        """The fix: the number as a str, which every target keeps, converted where it is used;
        or `otherwise` (another target or engine)."""
        text = repr(self.value) if isinstance(self.value, float) else str(self.value)
        literal = repr(text) if len(text) <= 40 else "its digits in quotes"
        convert = "float()" if isinstance(self.value, float) else "int()"
        return (
            f"write the number as a str ({literal}) and convert it with {convert} in the step, "
            f"or {otherwise}"
        )


def shown_int(n: int) -> str:
    """`n` for a message: its digits, or the first of them when there are too many to read."""
    text = str(n)
    digits = len(text.lstrip("-"))
    return text if digits <= 40 else f"{text[:21]}... ({digits} digits)"


def unkept_number(value: object, where: str) -> UnkeptNumber | None:
    """The first number in `value` (itself, or in its lists and dicts at any depth) that KFP
    would not pass on as it is; None when there is none. `where` names `value` in the message."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return UnkeptNumber(where, value) if abs(value) > EXACT_INT else None
    if isinstance(value, float):
        return None if math.isfinite(value) else UnkeptNumber(where, value)
    items: list[tuple[object, object]]
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list | tuple):
        items = list(enumerate(value))
    else:
        return None
    for key, item in items:
        found = unkept_number(item, f"{where}[{key!r}]")
        if found is not None:
            return found
    return None


#: the other way to keep a number KFP would change, in a notebook's fix
_ARGO_KEEPS_IT = "compile this notebook with the argo target, which keeps it"
_ARGO_TAKES_IT = "compile this notebook with the argo target, which takes it"

#: the names the kfp SDK refuses for an argument of a component's function or a pipeline's
#: (`Output` names a component's single return value)
KFP_RESERVED_NAMES = frozenset({"Output"})


def _parameter_problems(pipeline: Pipeline) -> list[Problem]:
    """A parameter named as the kfp SDK allows no argument (`KFP_RESERVED_NAMES`: the `dsl`
    script's pipeline function could not take it), and a parameter's default holding a number
    KFP would change (`unkept_number`: only an int gets here, the analysis refuses a float that
    is not finite for every target)."""
    problems: list[tuple[str, Problem]] = []
    for p in pipeline.parameters:
        if p.name in KFP_RESERVED_NAMES:
            message = (
                f"parameter {p.name!r} has a name the kfp SDK keeps for itself (a component's "
                "single output), so no KFP pipeline can take it"
            )
            fix = f"rename the parameter, e.g. to {p.name.lower()!r}, or {_ARGO_TAKES_IT}"
            problems.append((p.name, Problem(message, fix=fix)))
        found = unkept_number(p.default, f"parameter {p.name!r}")
        if found is not None:
            problems.append((p.name, Problem(str(found), fix=found.fix(_ARGO_KEEPS_IT))))
    return at_parameter_lines(pipeline, problems) if problems else []


def _number_problems(step: Step) -> list[Problem]:
    """A component step's number that KFP would change: a value the cell gives an input, or
    the default of an input the cell gives nothing (KFP's IR holds both)."""
    call = step.component
    if call is None:
        return []
    found = [unkept_number(a.value, f"the input {a.input!r}") for a in call.arguments]
    found += [
        unkept_number(i.default, f"the default of the input {i.key!r}")
        for i in call.spec.inputs
        if i.passing == "value" and i.has_default and call.argument(i.key) is None
    ]
    return [_problem(step, str(f), _ARGO_KEEPS_IT) for f in found if f is not None]


# --- names as KFP takes them ------------------------------------------------------------------

#: the names the kfp SDK allows for inputs and outputs (and Python for arguments)
_KFP_IO_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def _ascii_name(name: str) -> str:
    """`name` in ASCII letters, digits and `_`, a letter first (accents dropped: `é` -> `e`)."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"^[^A-Za-z]+", "", re.sub(r"[^A-Za-z0-9_]", "_", text))
    return text or "value"


def kfp_programs(pipeline: Pipeline) -> dict[str, StepProgram]:
    return {s.name: kfp_program(pipeline, s) for s in pipeline.steps if is_python(s)}


def kfp_program(pipeline: Pipeline, step: Step) -> StepProgram:
    """The step's program, its arguments named as KFP names inputs and outputs: ASCII, a letter
    first, and none the kfp SDK keeps for itself (`Output`). An argument Python allows and KFP
    not (`_rows`, `données`, `Output`) takes another name (`rows`, `donnees`, `Output_`) that the
    function binds back to the variable first thing, so the step's code runs unchanged; a name
    the notebook's code uses, a builtin or a keyword is never taken (the runtime's own names
    start with `_kfpj`). (A pipeline parameter named `Output` is refused by `check_kfp`: the
    pipeline's function cannot take it either.)"""
    prog = build_program(pipeline, step)
    bad = [a.arg for a in prog.args if not _KFP_IO_NAME.match(a.arg) or a.arg in KFP_RESERVED_NAMES]
    if not bad:
        return prog
    code = "\n".join((pipeline.imports, pipeline.functions, step.extra_imports, step.source))
    taken = {a.arg for a in prog.args} | {a.name for a in prog.args} | PYTHON_BUILTINS
    taken |= set(re.findall(r"\w+", code))
    renamed = {arg: unique_identifier(_ascii_name(arg), taken) for arg in bad}
    args = tuple(dataclasses.replace(a, arg=renamed.get(a.arg, a.arg)) for a in prog.args)
    prelude = f"{INDENT}# KFP's names of inputs and outputs are ASCII, starting with a letter\n"
    prelude += "".join(f"{INDENT}{old} = {new}\n" for old, new in renamed.items())
    return dataclasses.replace(prog, args=args, body=prelude + prog.body)


def kfp_call(call: ComponentCall) -> ComponentCall:
    """The component call as both KFP targets write it. A container cell's inputs and outputs
    are named after the notebook's variables, which the kfp SDK renames as it loads the spec
    (`X` -> `x`, `_rows` -> `rows`) and refuses when not ASCII: they are named here as the
    SDK would keep them, each distinct. Its environment variables that take an input are set
    from the command line (`_env_on_command_line`)."""
    spec = call.spec
    if spec.format != "container":
        return call
    keys = _container_keys(spec)
    if any(old != new for old, new in keys.items()):
        variables = {o.key: call.variable(o.key) for o in spec.outputs}
        spec = _rekeyed(spec, keys)
        call = dataclasses.replace(
            call,
            arguments=tuple(dataclasses.replace(a, input=keys[a.input]) for a in call.arguments),
            renames=tuple((v, keys[k]) for k, v in variables.items() if v != keys[k]),
        )
    return dataclasses.replace(call, spec=_env_on_command_line(spec))


def kfp_spec(step: Step) -> ComponentSpec:
    """The component a non-Python step runs on KFP, which has no resource steps: a resource
    cell's runs kubectl."""
    if step.resource is not None:
        return kubectl_component(step.name, step.resource)
    assert step.component is not None
    return kfp_call(step.component).spec


def _container_keys(spec: ComponentSpec) -> dict[str, str]:
    """Each input's and output's key -> the name KFP keeps for it: the key itself where KFP
    keeps it as it is, so a name changes only where the kfp SDK would change it."""
    ios = [io.key for io in (*spec.inputs, *spec.outputs)]
    keys = {k: k for k in ios if sanitize_name(k) == k and _KFP_IO_NAME.match(k)}
    taken = set(keys)
    for k in ios:
        if k not in keys:
            keys[k] = unique_name(sanitize_name(_ascii_name(k)), taken, "_")
    return keys


def _rekeyed(spec: ComponentSpec, keys: dict[str, str]) -> ComponentSpec:
    def part(p: Part) -> Part:
        if isinstance(p, InputValue | InputPath):
            return dataclasses.replace(p, input=keys[p.input])
        if isinstance(p, OutputPath):
            return OutputPath(keys[p.output])
        if isinstance(p, Concat):
            return Concat(tuple(map(part, p.parts)))
        if isinstance(p, IfPresent):
            return IfPresent(keys[p.input], tuple(map(part, p.then)), tuple(map(part, p.otherwise)))
        return p

    container = dataclasses.replace(
        spec.container,
        command=tuple(map(part, spec.container.command)),
        args=tuple(map(part, spec.container.args)),
        env=tuple((k, part(v)) for k, v in spec.container.env),
    )

    def io(x: _IO) -> _IO:
        return dataclasses.replace(x, name=keys[x.key], key=keys[x.key])

    inputs, outputs = tuple(map(io, spec.inputs)), tuple(map(io, spec.outputs))
    return dataclasses.replace(spec, container=container, inputs=inputs, outputs=outputs)


def _env_on_command_line(spec: ComponentSpec) -> ComponentSpec:
    """The environment variables that take an input (a parameter, a value, a path) set by a
    small `sh` wrapper from its command line, where KFP fills placeholders in (it does not in
    the environment); Argo and a local run set them directly. Like `file_outputs`, this needs a
    shell in the image."""
    moved = [(k, v) for k, v in spec.container.env if not isinstance(v, str)]
    if not moved:
        return spec
    n = len(moved)
    script = (
        " ".join(f'e{i}="${i}"' for i in range(1, n + 1))
        + f"; shift {n}\nexec env "
        + " ".join(f'{shlex.quote(k + "=")}"$e{i}"' for i, (k, _) in enumerate(moved, start=1))
        + ' "$@"'
    )
    container = dataclasses.replace(
        spec.container,
        command=(
            "sh",
            "-c",
            script,
            "kfpj-env",
            *(v for _, v in moved),
            *spec.container.command,
            *spec.container.args,
        ),
        args=(),
        env=tuple((k, v) for k, v in spec.container.env if isinstance(v, str)),
    )
    return dataclasses.replace(spec, container=container)


# --- how tasks are wired ----------------------------------------------------------------------


@dataclass(frozen=True)
class TaskArgument:
    """One input of a step's task (an argument of its function, or an input of its component)
    and what feeds it: a literal, a pipeline parameter, or an output of an earlier task."""

    input: str
    source: Literal["literal", "parameter", "output"]
    #: the literal; the parameter's name; the variable handed on
    value: object
    #: for an output: the step that writes it, its output key there, and whether it is a value
    producer: str = ""
    key: str = ""
    by_value: bool = False


def task_arguments(
    pipeline: Pipeline, step: Step, programs: Mapping[str, StepProgram]
) -> list[TaskArgument]:
    """The task's inputs in order: a Python step's from its program's arguments, another step's
    from its component call. `programs` holds every Python step's program (`kfp_programs`), by
    whose output names a Python producer's outputs go."""
    producers = {i.name: i.producer for i in step.inputs}

    def output(name: str, variable: str) -> TaskArgument:
        producer = pipeline.step(producers[variable])
        if producer.component is not None:
            key = kfp_call(producer.component).key(variable)
        elif producer.name in programs:
            key = _output_arg(programs[producer.name], variable)
        else:
            key = variable
        by_value = producer.output_kind(variable) == "value"
        return TaskArgument(name, "output", variable, producer.name, key, by_value)

    out: list[TaskArgument] = []
    prog = programs.get(step.name)
    if prog is not None:
        for a in prog.args:
            if a.kind == "parameter":
                out.append(TaskArgument(a.arg, "parameter", a.name))
            elif a.kind in ("input", "path", "value"):
                out.append(output(a.arg, a.name))
        return out
    for c in kfp_call(step.component).arguments if step.component is not None else ():
        if c.kind == "literal":
            out.append(TaskArgument(c.input, "literal", c.value))
        elif c.kind == "parameter":
            out.append(TaskArgument(c.input, "parameter", c.name))
        else:
            out.append(output(c.input, c.name))
    return out


def _output_arg(prog: StepProgram, variable: str) -> str:
    for a in prog.args:
        if a.kind in ("output", "export", "export_value") and a.name == variable:
            return a.arg
    return variable
