"""Component, container and resource steps: a ComponentSpec as the IR's component and container.

Whatever format the component was written in (a v1-style spec, a v2 component YAML, a notebook's
container or resource cell), it is one ComponentSpec by now; this writes its inputs and outputs
as the IR's definitions and its command line with the IR's placeholders.
"""

from __future__ import annotations

import json

from ...components.spec import (
    IR_TYPE_OF,
    ComponentInput,
    ComponentOutput,
    ComponentSpec,
    Concat,
    IfPresent,
    InputPath,
    InputValue,
    OutputPath,
    Part,
    Unsupported,
    artifact_schema,
)
from .names import artifact_type, io_definitions, struct_value


def _definition(spec: ComponentSpec, io: ComponentInput | ComponentOutput) -> dict[str, object]:
    """An input's or output's definition: a value's parameter type (an input's default too), or
    a file's artifact type."""
    d: dict[str, object] = {}
    if io.passing == "value":
        assert io.value_type is not None
        d["parameterType"] = IR_TYPE_OF[io.value_type]
        if isinstance(io, ComponentInput) and io.has_default and io.default is not None:
            d["defaultValue"] = struct_value(io.default)
    else:
        d.update(artifact_type(artifact_schema(io.type)))
    if isinstance(io, ComponentInput) and (io.optional or io.has_default):
        d["isOptional"] = True
    if spec.format == "v2" and io.description:
        d["description"] = io.description
    return d


def definitions(spec: ComponentSpec) -> dict[str, object]:
    """The component's `inputDefinitions` and `outputDefinitions` (only those that are not empty)."""
    inputs: dict[str, dict[str, object]] = {}
    outputs: dict[str, dict[str, object]] = {}
    both: list[ComponentInput | ComponentOutput] = [*spec.inputs, *spec.outputs]
    for io in both:
        side = inputs if isinstance(io, ComponentInput) else outputs
        group = "parameters" if io.passing == "value" else "artifacts"
        side.setdefault(group, {})[io.key] = _definition(spec, io)
    return io_definitions(inputs, outputs)


def _placeholder(spec: ComponentSpec, p: Part) -> object:
    """A part of the command line; Concat and IfPresent as the JSON structures KFP reads."""
    if isinstance(p, str):
        return p
    if isinstance(p, InputValue):
        return f"{{{{$.inputs.parameters['{p.input}']}}}}"
    if isinstance(p, InputPath):
        return f"{{{{$.inputs.artifacts['{p.input}'].path}}}}"
    if isinstance(p, OutputPath):
        if spec.output(p.output).passing == "value":
            return f"{{{{$.outputs.parameters['{p.output}'].output_file}}}}"
        return f"{{{{$.outputs.artifacts['{p.output}'].path}}}}"
    if isinstance(p, Concat):
        return {"Concat": [_placeholder(spec, q) for q in p.parts]}
    if isinstance(p, IfPresent):
        body: dict[str, object] = {
            "InputName": p.input,
            "Then": [_placeholder(spec, q) for q in p.then],
        }
        if p.otherwise:
            body["Else"] = [_placeholder(spec, q) for q in p.otherwise]
        return {"IfPresent": body}
    assert isinstance(p, Unsupported)
    return p.text


def command_line(spec: ComponentSpec, parts: tuple[Part, ...]) -> list[str]:
    out = []
    for p in parts:
        value = _placeholder(spec, p)
        out.append(value if isinstance(value, str) else json.dumps(value))
    return out


def container(spec: ComponentSpec, image: str) -> tuple[dict[str, object], dict[str, str]]:
    """The container, and the environment the spec gives it (to which a step may add)."""
    c: dict[str, object] = {"image": image}
    if spec.container.command:
        c["command"] = command_line(spec, spec.container.command)
    if spec.container.args:
        c["args"] = command_line(spec, spec.container.args)
    env = {name: command_line(spec, (value,))[0] for name, value in spec.container.env}
    return c, env
