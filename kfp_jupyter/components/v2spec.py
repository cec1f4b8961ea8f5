"""Read a KFP v2 component YAML: the pipeline IR of a single component, as `kfp` compiles it.

Such a file is a whole PipelineSpec; a component step needs only its one container and its
inputs and outputs, so the reader follows the one task to its executor and refuses anything
larger (a pipeline, a nested DAG, an importer) with the field that makes it so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .fields import (
    Invalid,
    check_uses,
    choices,
    kind,
    listing,
    mapping,
    required_text,
)
from .spec import (
    IR_PARAMETER_TYPES,
    ComponentInput,
    ComponentOutput,
    ComponentSpec,
    Concat,
    Container,
    IfPresent,
    InputPath,
    InputValue,
    OutputPath,
    Part,
    Unsupported,
    ValueType,
)

_PLACEHOLDER = re.compile(r"\{\{\$[^{}]*\}\}")
_FORMS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}$"), "value"),
    (re.compile(r"^\{\{\$\.inputs\.artifacts\['([^']+)'\]\.path\}\}$"), "path"),
    (re.compile(r"^\{\{\$\.outputs\.parameters\['([^']+)'\]\.output_file\}\}$"), "out"),
    (re.compile(r"^\{\{\$\.outputs\.artifacts\['([^']+)'\]\.path\}\}$"), "out"),
]
_DESCRIPTION = "# Description: "
_DESCRIPTION_MORE = "#             "


def read_v2(doc: dict[str, Any], source_text: str) -> ComponentSpec:
    info = mapping(doc.get("pipelineInfo"), "pipelineInfo")
    name = required_text(info, "name", "pipelineInfo")
    root = mapping(doc.get("root"), "root")
    cont, where = _executor_container(doc, root)
    image = required_text(cont, "image", where)
    inputs = _inputs(root.get("inputDefinitions"), "root.inputDefinitions")
    outputs = _outputs(root.get("outputDefinitions"), "root.outputDefinitions")
    declared = _Declared({i.key: i for i in inputs}, {o.key: o for o in outputs})

    def parts(key: str) -> tuple[Part, ...]:
        items = listing(cont.get(key) or [], f"{where}.{key}")
        return tuple(_part(v, f"{where}.{key}[{i}]", declared) for i, v in enumerate(items))

    env: list[tuple[str, Part]] = []
    for i, item in enumerate(listing(cont.get("env") or [], f"{where}.env")):
        m = mapping(item, f"{where}.env[{i}]")
        n = required_text(m, "name", f"{where}.env[{i}]")
        env.append((n, _part(m.get("value", ""), f"{where}.env[{i}].value", declared)))
    command, args = parts("command"), parts("args")
    if not command and not args:
        raise Invalid(f"{where}.command", "is missing (nothing to run)")
    spec = ComponentSpec(
        name=name,
        description=str(info.get("description") or _header_description(source_text)),
        container=Container(image=image, command=command, args=args, env=tuple(env)),
        inputs=inputs,
        outputs=outputs,
        format="v2",
        text=source_text,
    )
    check_uses(spec, where)
    return spec


def _executor_container(doc: Mapping[str, Any], root: Mapping[str, Any]) -> tuple[Any, str]:
    """The container of the one task's executor, and the field it is at."""
    dag = mapping(root.get("dag"), "root.dag")
    tasks = mapping(dag.get("tasks"), "root.dag.tasks")
    if len(tasks) != 1:
        raise Invalid(
            "root.dag.tasks",
            f"holds {len(tasks)} tasks: this is a pipeline, not one component; a component step "
            "runs a single component",
        )
    ((task_name, task),) = tasks.items()
    task = mapping(task, f"root.dag.tasks.{task_name}")
    ref = mapping(task.get("componentRef"), f"root.dag.tasks.{task_name}.componentRef")
    comp_name = required_text(ref, "name", f"root.dag.tasks.{task_name}.componentRef")
    components = mapping(doc.get("components"), "components")
    if comp_name not in components:
        raise Invalid("components", f"has no {comp_name!r}, which the task refers to")
    comp = mapping(components[comp_name], f"components.{comp_name}")
    if "dag" in comp:
        raise Invalid(
            f"components.{comp_name}.dag",
            "a nested pipeline is not supported; a component step runs one container",
        )
    label = required_text(comp, "executorLabel", f"components.{comp_name}")
    executors = mapping(
        mapping(doc.get("deploymentSpec"), "deploymentSpec").get("executors"),
        "deploymentSpec.executors",
    )
    where = f"deploymentSpec.executors.{label}"
    if label not in executors:
        raise Invalid("deploymentSpec.executors", f"has no {label!r}, which {comp_name} uses")
    executor = mapping(executors[label], where)
    if "importer" in executor or "resolver" in executor:
        raise Invalid(where, "importer and resolver components are not supported")
    return mapping(executor.get("container"), f"{where}.container"), f"{where}.container"


def _header_description(source_text: str) -> str:
    """The description the kfp compiler writes only into the YAML's header comment."""
    lines = source_text.splitlines()
    for i, line in enumerate(lines[:40]):
        if line.startswith(_DESCRIPTION):
            parts = [line[len(_DESCRIPTION) :]]
            for more in lines[i + 1 :]:
                if not more.startswith(_DESCRIPTION_MORE):
                    break
                parts.append(more[len(_DESCRIPTION_MORE) :].strip())
            return "\n".join(parts)
    return ""


def _definitions(defs: object, where: str) -> Iterator[tuple[str, dict[str, Any], str, bool]]:
    """Each definition of `inputDefinitions` or `outputDefinitions`: (name, its mapping, its
    field, whether it is a parameter), parameters first."""
    if defs is None:
        return
    d = mapping(defs, where)
    for group in ("parameters", "artifacts"):
        for name, value in mapping(d.get(group) or {}, f"{where}.{group}").items():
            at = f"{where}.{group}.{name}"
            m = mapping(value, at)
            if group == "artifacts" and m.get("isArtifactList"):
                raise Invalid(f"{at}.isArtifactList", "lists of artifacts are not supported")
            yield str(name), m, at, group == "parameters"


def _inputs(defs: object, where: str) -> tuple[ComponentInput, ...]:
    out: list[ComponentInput] = []
    for name, m, at, is_parameter in _definitions(defs, where):
        description = str(m.get("description") or "")
        if is_parameter:
            has_default = "defaultValue" in m
            value = ComponentInput(
                name=name,
                key=name,
                passing="value",
                type=str(m.get("parameterType")),
                value_type=_ir_type(m, at),
                optional=bool(m.get("isOptional", False)) or has_default,
                default=m.get("defaultValue"),
                has_default=has_default,
                description=description,
            )
        else:
            value = ComponentInput(
                name=name,
                key=name,
                passing="path",
                type=_schema_title(m, at),
                optional=bool(m.get("isOptional", False)),
                description=description,
            )
        out.append(value)
    return tuple(out)


def _outputs(defs: object, where: str) -> tuple[ComponentOutput, ...]:
    return tuple(
        ComponentOutput(
            name,
            name,
            "value" if is_parameter else "path",
            str(m.get("parameterType")) if is_parameter else _schema_title(m, at),
            _ir_type(m, at) if is_parameter else None,
            str(m.get("description") or ""),
        )
        for name, m, at, is_parameter in _definitions(defs, where)
    )


def _ir_type(m: Mapping[str, Any], where: str) -> ValueType:
    t = m.get("parameterType")
    if t not in IR_PARAMETER_TYPES:
        raise Invalid(
            f"{where}.parameterType",
            f"{t!r} is not one of {', '.join(IR_PARAMETER_TYPES)}",
        )
    return IR_PARAMETER_TYPES[t]


def _schema_title(m: Mapping[str, Any], where: str) -> str:
    t = mapping(m.get("artifactType"), f"{where}.artifactType")
    return required_text(t, "schemaTitle", f"{where}.artifactType")


@dataclass(frozen=True)
class _Declared:
    """The component's inputs and outputs by key, which every placeholder is checked against."""

    inputs: Mapping[str, ComponentInput]
    outputs: Mapping[str, ComponentOutput]


def _part(value: object, where: str, declared: _Declared) -> Part:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise Invalid(where, f"must be a string, not a {kind(value)}")
    stripped = value.strip()
    if stripped.startswith('{"Concat"') or stripped.startswith('{"IfPresent"'):
        try:
            structure = json.loads(stripped)
        except ValueError:
            structure = None
        if isinstance(structure, dict) and len(structure) == 1:
            return _structure(structure, where, declared)
    pieces: list[Part] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(value):
        if m.start() > pos:
            pieces.append(value[pos : m.start()])
        pieces.append(_placeholder(m.group(0), where, declared))
        pos = m.end()
    if pos < len(value):
        pieces.append(value[pos:])
    if len(pieces) == 1:
        return pieces[0]
    return Concat(tuple(pieces)) if pieces else ""


def _placeholder(placeholder: str, where: str, declared: _Declared) -> Part:
    for pattern, form in _FORMS:
        m = pattern.match(placeholder)
        if not m:
            continue
        name = m.group(1)
        if form == "out":
            if name not in declared.outputs:
                raise Invalid(where, f"{placeholder} names no output{choices(declared.outputs)}")
            return OutputPath(name)
        if name not in declared.inputs:
            raise Invalid(where, f"{placeholder} names no input{choices(declared.inputs)}")
        if (form == "value") != (declared.inputs[name].passing == "value"):
            raise Invalid(where, f"{placeholder} does not match the kind of input {name!r}")
        return InputValue(name) if form == "value" else InputPath(name)
    return Unsupported(placeholder)


def _structure(structure: dict[str, Any], where: str, declared: _Declared) -> Part:
    ((name, body),) = structure.items()

    def many(value: object, at: str) -> tuple[Part, ...]:
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        return tuple(_part(v, f"{at}[{i}]", declared) for i, v in enumerate(items))

    if name == "Concat":
        return Concat(many(listing(body, f"{where}.Concat"), f"{where}.Concat"))
    b = mapping(body, f"{where}.IfPresent")
    input_name = b.get("InputName")
    if not isinstance(input_name, str) or input_name not in declared.inputs:
        raise Invalid(
            f"{where}.IfPresent.InputName",
            f"{input_name!r} names no input{choices(declared.inputs)}",
        )
    return IfPresent(
        input_name,
        many(b.get("Then"), f"{where}.IfPresent.Then"),
        many(b.get("Else"), f"{where}.IfPresent.Else"),
    )
