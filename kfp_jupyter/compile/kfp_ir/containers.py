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
    Part,
    PartVisitor,
    artifact_schema,
)
from .names import artifact_type, io_definitions, struct_value


def _definition(spec: ComponentSpec, io: ComponentInput | ComponentOutput) -> dict[str, object]:
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
    inputs: dict[str, dict[str, object]] = {}
    outputs: dict[str, dict[str, object]] = {}
    both: list[ComponentInput | ComponentOutput] = [*spec.inputs, *spec.outputs]
    for io in both:
        side = inputs if isinstance(io, ComponentInput) else outputs
        group = "parameters" if io.passing == "value" else "artifacts"
        side.setdefault(group, {})[io.key] = _definition(spec, io)
    return io_definitions(inputs, outputs)


class _IRPart(PartVisitor[object]):
    """A part of the command line with the IR's placeholders; Concat and IfPresent as the JSON
    structures KFP reads."""

    def __init__(self, spec: ComponentSpec) -> None:
        self.spec = spec

    def text(self, text: str) -> object:
        return text

    def input_value(self, key: str) -> object:
        return f"{{{{$.inputs.parameters['{key}']}}}}"

    def input_path(self, key: str) -> object:
        return f"{{{{$.inputs.artifacts['{key}'].path}}}}"

    def output_path(self, key: str) -> object:
        if self.spec.output(key).passing == "value":
            return f"{{{{$.outputs.parameters['{key}'].output_file}}}}"
        return f"{{{{$.outputs.artifacts['{key}'].path}}}}"

    def concat(self, parts: list[object]) -> object:
        return {"Concat": parts}

    def if_present(self, key: str, then: tuple[Part, ...], otherwise: tuple[Part, ...]) -> object:
        body: dict[str, object] = {"InputName": key, "Then": [self.visit(q) for q in then]}
        if otherwise:
            body["Else"] = [self.visit(q) for q in otherwise]
        return {"IfPresent": body}

    def unsupported(self, text: str) -> object:
        return text


def command_line(spec: ComponentSpec, parts: tuple[Part, ...]) -> list[str]:
    out, writer = [], _IRPart(spec)
    for p in parts:
        value = writer.visit(p)
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
