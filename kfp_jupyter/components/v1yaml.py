"""Write a ComponentSpec as a KFP v1-style component spec (YAML).

Container and resource cells have no spec file of their own; the `dsl` target embeds this text and
loads it with `kfp.components.load_component_from_text`, the same way it loads reusable components,
so every non-Python step reads alike in the generated script.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..yamltext import dump_yaml
from .spec import ComponentSpec, Part, PartVisitor


@dataclass(frozen=True)
class _V1Part(PartVisitor[Any]):
    """A placeholder as a v1 spec writes it, naming inputs and outputs as the spec declares them."""

    spec: ComponentSpec

    def text(self, text: str) -> Any:
        return text

    def input_value(self, key: str) -> Any:
        return {"inputValue": self.spec.input(key).name}

    def input_path(self, key: str) -> Any:
        return {"inputPath": self.spec.input(key).name}

    def output_path(self, key: str) -> Any:
        return {"outputPath": self.spec.output(key).name}

    def concat(self, parts: list[Any]) -> Any:
        return {"concat": parts}

    def if_present(self, key: str, then: tuple[Part, ...], otherwise: tuple[Part, ...]) -> Any:
        body: dict[str, Any] = {
            "cond": {"isPresent": self.spec.input(key).name},
            "then": [self.visit(q) for q in then],
        }
        if otherwise:
            body["else"] = [self.visit(q) for q in otherwise]
        return {"if": body}

    def unsupported(self, text: str) -> Any:
        raise ValueError(f"{text} cannot be written in a v1 component spec")


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
    part = _V1Part(spec).visit
    container: dict[str, Any] = {"image": spec.container.image}
    if spec.container.command:
        container["command"] = [part(p) for p in spec.container.command]
    if spec.container.args:
        container["args"] = [part(p) for p in spec.container.args]
    if spec.container.env:
        container["env"] = {k: part(v) for k, v in spec.container.env}
    doc["implementation"] = {"container": container}
    return dump_yaml(doc)
