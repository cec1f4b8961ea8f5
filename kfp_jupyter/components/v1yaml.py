"""Write a ComponentSpec as a KFP v1-style component spec (YAML).

Container and resource cells have no spec file of their own; the `dsl` target embeds this text and
loads it with `kfp.components.load_component_from_text`, the same way it loads reusable components,
so every non-Python step reads alike in the generated script.
"""

from __future__ import annotations

from typing import Any

from ..yamltext import dump_yaml
from .spec import ComponentSpec, Concat, IfPresent, InputPath, InputValue, OutputPath, Part


def _part(spec: ComponentSpec, p: Part) -> Any:
    if isinstance(p, str):
        return p
    if isinstance(p, InputValue):
        return {"inputValue": spec.input(p.input).name}
    if isinstance(p, InputPath):
        return {"inputPath": spec.input(p.input).name}
    if isinstance(p, OutputPath):
        return {"outputPath": spec.output(p.output).name}
    if isinstance(p, Concat):
        return {"concat": [_part(spec, q) for q in p.parts]}
    if isinstance(p, IfPresent):
        body: dict[str, Any] = {
            "cond": {"isPresent": spec.input(p.input).name},
            "then": [_part(spec, q) for q in p.then],
        }
        if p.otherwise:
            body["else"] = [_part(spec, q) for q in p.otherwise]
        return {"if": body}
    raise ValueError(f"{p.text} cannot be written in a v1 component spec")


def to_v1_yaml(spec: ComponentSpec) -> str:
    doc: dict[str, Any] = {"name": spec.name}
    if spec.description:
        doc["description"] = spec.description
    if spec.inputs:
        inputs = []
        for i in spec.inputs:
            item: dict[str, Any] = {"name": i.name}
            if i.type:
                item["type"] = i.type
            if i.has_default:
                item["default"] = i.default
            elif i.optional:
                item["optional"] = True
            inputs.append(item)
        doc["inputs"] = inputs
    if spec.outputs:
        doc["outputs"] = [
            {"name": o.name, **({"type": o.type} if o.type else {})} for o in spec.outputs
        ]
    container: dict[str, Any] = {"image": spec.container.image}
    if spec.container.command:
        container["command"] = [_part(spec, p) for p in spec.container.command]
    if spec.container.args:
        container["args"] = [_part(spec, p) for p in spec.container.args]
    if spec.container.env:
        container["env"] = {k: _part(spec, v) for k, v in spec.container.env}
    doc["implementation"] = {"container": container}
    return dump_yaml(doc)
