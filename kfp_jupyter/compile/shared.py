"""What the targets read off the pipeline model alike, so that they cannot drift apart.

The `kfp` target and the `dsl` script must wire every task the same way (the tests hold their IR
side by side), and all three targets group secrets and pod metadata alike; each target then only
spells the result in its own language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

from ..model import Pipeline, Step
from ..packaging.program import StepProgram

_T = TypeVar("_T")


def compact(d: dict[str, _T]) -> dict[str, _T]:
    """`d` without its empty values: the targets leave out a field that would be empty."""
    return {k: v for k, v in d.items() if v}


def is_python(step: Step) -> bool:
    """A step whose code is Python (a notebook step is a Python function too: one that executes
    the embedded notebook); the others run a component's container."""
    return step.kind in ("python", "notebook")


def pod_metadata(step: Step) -> dict[str, dict[str, str]]:
    """The step's pod annotations and labels, each sorted, each only when it has any."""
    return compact(
        {
            "annotations": dict(sorted(step.annotations.items())),
            "labels": dict(sorted(step.labels.items())),
        }
    )


def secrets_by_name(step: Step) -> list[tuple[str, dict[str, str]]]:
    """The secrets the step reads, by secret name: each with its keys and their variables."""
    by_secret: dict[str, dict[str, str]] = {}
    for s in step.secrets:
        by_secret.setdefault(s.secret, {})[s.key] = s.env
    return [(secret, dict(sorted(keys.items()))) for secret, keys in sorted(by_secret.items())]


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


def task_arguments(pipeline: Pipeline, step: Step, prog: StepProgram | None) -> list[TaskArgument]:
    """The task's inputs in order: a Python step's from its program's arguments (`prog`), another
    step's from its component call."""
    producers = {i.name: i.producer for i in step.inputs}

    def output(name: str, variable: str) -> TaskArgument:
        producer = pipeline.step(producers[variable])
        call = producer.component
        key = call.key(variable) if call is not None else variable
        by_value = producer.output_kind(variable) == "value"
        return TaskArgument(name, "output", variable, producer.name, key, by_value)

    out: list[TaskArgument] = []
    if prog is not None:
        for a in prog.args:
            if a.kind == "parameter":
                out.append(TaskArgument(a.arg, "parameter", a.name))
            elif a.kind in ("input", "path", "value"):
                out.append(output(a.arg, a.name))
        return out
    for c in step.component.arguments if step.component is not None else ():
        if c.kind == "literal":
            out.append(TaskArgument(c.input, "literal", c.value))
        elif c.kind == "parameter":
            out.append(TaskArgument(c.input, "parameter", c.name))
        else:
            out.append(output(c.input, c.name))
    return out
