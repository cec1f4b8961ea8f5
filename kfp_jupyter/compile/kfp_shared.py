"""What the two KFP targets read off the pipeline model alike: the `kfp` target writes KFP's IR
itself, the `dsl` script has the kfp SDK write it, and the two must be equal (the tests hold them
side by side). So both wire every task the same way, refuse the same things, and fit the same names
to what the kfp SDK allows, here and nowhere else.

Python allows names KFP does not (`_rows`, `données`, `X` for a component's input), and a container
cell's environment may take an input KFP does not fill in there; what KFP cannot hold at all (two
accelerator types on one step) is refused with a fix.
"""

from __future__ import annotations

import dataclasses
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
from ..packaging.program import INDENT, StepProgram, build_program, unique_identifier
from .shared import is_python, unique_name

if TYPE_CHECKING:
    from ..model import ComponentCall, Pipeline, Step

_IO = TypeVar("_IO", bound=ComponentIO)

# --- what KFP cannot hold ---------------------------------------------------------------------


def check_kfp(pipeline: Pipeline) -> None:
    """Refuse what KFP's IR cannot hold, for the `kfp` and `dsl` targets alike, with a fix."""
    problems: list[Problem] = []
    for step in pipeline.steps:
        problems += _accelerator_problems(step) + _env_problems(step)
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
    first. An argument Python allows and KFP not (`_rows`, `données`) takes another name (`rows`,
    `donnees`) that the function binds back to the variable first thing, so the step's code runs
    unchanged; a name the notebook's code uses, a builtin or a keyword is never taken (the
    runtime's own names start with `_kfpj`)."""
    prog = build_program(pipeline, step)
    bad = [a.arg for a in prog.args if not _KFP_IO_NAME.match(a.arg)]
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
