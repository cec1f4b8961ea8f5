"""Read a KFP v1-style component spec (`implementation.container`, `{inputValue: X}` placeholders).

Most reusable components in the wild are written this way, by hand, so the reader checks every
field and explains what KFP v2 does differently (files versus values, no fileOutputs) rather than
letting the spec fail later on the cluster.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .fields import (
    Invalid,
    check_uses,
    choices,
    known,
    listing,
    mapping,
    required_text,
    text,
)
from .spec import (
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
    sanitize_name,
    value_type_of,
)

V1_KEYS = ("name", "description", "metadata", "inputs", "outputs", "implementation")
V1_INPUT_KEYS = ("name", "type", "description", "default", "optional", "annotations")
V1_OUTPUT_KEYS = ("name", "type", "description", "annotations")
V1_CONTAINER_KEYS = ("image", "command", "args", "env", "fileOutputs")
_CONTAINER = "implementation.container"

#: declared inputs or outputs: name -> the mapping that declares it
_Declared = Mapping[str, Mapping[str, Any]]


def read_v1(doc: dict[str, Any], source_text: str) -> ComponentSpec:
    known(doc, V1_KEYS, "")
    name = required_text(doc, "name", "")
    description = text(doc, "description", "") or ""
    cont = _container(doc)
    image = required_text(cont, "image", _CONTAINER)
    raw_inputs = listing(doc.get("inputs") or [], "inputs")
    raw_outputs = listing(doc.get("outputs") or [], "outputs")
    inputs = _declared(raw_inputs, "inputs", V1_INPUT_KEYS, "input")
    outputs = _declared(raw_outputs, "outputs", V1_OUTPUT_KEYS, "output")
    command, args, env = _command_line(cont, inputs, outputs)
    spec = ComponentSpec(
        name=name,
        description=description,
        container=Container(image=image, command=command, args=args, env=env),
        inputs=_inputs(inputs),
        outputs=_outputs(outputs),
        format="v1",
        text=source_text,
    )
    check_uses(spec, _CONTAINER)
    return spec


def _container(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`implementation.container`, the one implementation a component step can run."""
    impl = mapping(doc.get("implementation"), "implementation")
    if "graph" in impl:
        raise Invalid(
            "implementation.graph",
            "graph components are not supported; a component step runs one container",
        )
    if "container" not in impl:
        raise Invalid(_CONTAINER, "is missing")
    known(impl, ("container",), "implementation")
    cont = mapping(impl["container"], _CONTAINER)
    known(cont, V1_CONTAINER_KEYS, _CONTAINER)
    if "fileOutputs" in cont:
        raise Invalid(
            f"{_CONTAINER}.fileOutputs",
            "fileOutputs are a KFP v1 feature that KFP v2 dropped; write outputs to "
            "{outputPath: NAME} instead",
        )
    return cont


def _declared(
    items: list[Any], field: str, keys: tuple[str, ...], what: str
) -> dict[str, dict[str, Any]]:
    """The declared inputs (or outputs) by name, each name unique also as a Python name."""
    by_name: dict[str, dict[str, Any]] = {}
    python_names: dict[str, str] = {}
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        m = mapping(item, where)
        known(m, keys, where)
        n = required_text(m, "name", where)
        _unique_io(n, where, by_name, python_names, what)
        by_name[n] = m
    return by_name


def _unique_io(
    name: str, where: str, seen: dict[str, Any], keys: dict[str, str], what: str
) -> None:
    if name in seen:
        raise Invalid(f"{where}.name", f"{what} {name!r} is declared twice")
    key = sanitize_name(name)
    if not key:
        raise Invalid(
            f"{where}.name", f"{what} name {name!r} has no letters or digits to name it by"
        )
    if key in keys:
        raise Invalid(
            f"{where}.name",
            f"{what}s {keys[key]!r} and {name!r} both become {key!r} in Python; rename one",
        )
    keys[key] = name


def _command_line(
    cont: Mapping[str, Any], inputs: _Declared, outputs: _Declared
) -> tuple[tuple[Part, ...], tuple[Part, ...], tuple[tuple[str, Part], ...]]:
    """The container's command, args and env, placeholders resolved against the declarations."""

    def parts(key: str) -> tuple[Part, ...]:
        items = listing(cont.get(key) or [], f"{_CONTAINER}.{key}")
        return tuple(
            _part(v, f"{_CONTAINER}.{key}[{i}]", inputs, outputs) for i, v in enumerate(items)
        )

    command, args = parts("command"), parts("args")
    env_map = mapping(cont.get("env") or {}, f"{_CONTAINER}.env")
    env = tuple(
        (str(k), _part(v, f"{_CONTAINER}.env.{k}", inputs, outputs)) for k, v in env_map.items()
    )
    if not command and not args:
        raise Invalid(f"{_CONTAINER}.command", "is missing (nothing to run)")
    return command, args, env


def _inputs(declared: _Declared) -> tuple[ComponentInput, ...]:
    inputs = []
    for i, (n, m) in enumerate(declared.items()):
        vt = value_type_of(m.get("type"))
        has_default = "default" in m
        default = m.get("default")
        if has_default and vt is not None:
            default = _typed_default(default, vt, f"inputs[{i}].default")
        elif has_default and default is not None:
            default = str(default)
        optional = m.get("optional", False)
        if not isinstance(optional, bool):
            raise Invalid(f"inputs[{i}].optional", f"must be true or false, not {optional!r}")
        inputs.append(
            ComponentInput(
                name=n,
                key=sanitize_name(n),
                passing="value" if vt else "path",
                type=_type_text(m.get("type")),
                value_type=vt,
                optional=bool(optional) or has_default,
                default=default,
                has_default=has_default,
                description=str(m.get("description") or ""),
            )
        )
    return tuple(inputs)


def _outputs(declared: _Declared) -> tuple[ComponentOutput, ...]:
    return tuple(
        ComponentOutput(
            name=n,
            key=sanitize_name(n),
            passing="value" if value_type_of(m.get("type")) else "path",
            type=_type_text(m.get("type")),
            value_type=value_type_of(m.get("type")),
            description=str(m.get("description") or ""),
        )
        for n, m in declared.items()
    )


def _type_text(type_: object) -> str | None:
    if type_ is None:
        return None
    if isinstance(type_, str):
        return type_
    return json.dumps(type_, sort_keys=True)


def _typed_default(value: object, vt: ValueType, where: str) -> object:
    """A v1 default (often written as a string) as a value of the input's type."""
    try:
        if vt == "str":
            return value if isinstance(value, str) else str(value)
        if vt in ("int", "float"):
            if isinstance(value, bool):
                raise ValueError
            return (int if vt == "int" else float)(str(value).strip())
        if vt == "bool":
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word in ("true", "1", "yes", "y", "t", "on"):
                return True
            if word in ("false", "0", "no", "n", "f", "off"):
                return False
            raise ValueError
        parsed = json.loads(value) if isinstance(value, str) else value
        if not isinstance(parsed, dict if vt == "dict" else list):
            raise ValueError
        return parsed
    except (ValueError, TypeError):
        raise Invalid(where, f"{value!r} is not a valid {vt} value") from None


def _part(value: object, where: str, inputs: _Declared, outputs: _Declared) -> Part:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, dict) or len(value) != 1:
        raise Invalid(
            where,
            f"{value!r} is neither a string nor a placeholder such as {{inputValue: NAME}}, "
            "{inputPath: NAME}, {outputPath: NAME}",
        )
    ((kind, arg),) = value.items()
    if kind in ("inputValue", "inputPath"):
        return _input_placeholder(kind, arg, where, inputs)
    if kind == "outputPath":
        if not isinstance(arg, str) or arg not in outputs:
            raise Invalid(where, f"{{outputPath: {arg}}} names no output{choices(outputs)}")
        return OutputPath(sanitize_name(arg))
    if kind == "concat":
        items = listing(arg, f"{where}.concat")
        return Concat(
            tuple(_part(v, f"{where}.concat[{i}]", inputs, outputs) for i, v in enumerate(items))
        )
    if kind == "if":
        return _if_present(arg, where, inputs, outputs)
    if kind in ("inputUri", "outputUri", "executorInput"):
        return Unsupported(f"{{{kind}: {arg}}}")
    raise Invalid(
        where,
        f"unknown placeholder {kind!r} (known: inputValue, inputPath, outputPath, concat, if)",
    )


def _input_key(kind: str, name: object, where: str, inputs: _Declared) -> str:
    if not isinstance(name, str) or name not in inputs:
        raise Invalid(where, f"{{{kind}: {name}}} names no input{choices(inputs)}")
    return sanitize_name(name)


def _input_placeholder(kind: str, arg: object, where: str, inputs: _Declared) -> Part:
    """`{inputValue: X}` or `{inputPath: X}`, which must match how KFP v2 passes X."""
    key = _input_key(kind, arg, where, inputs)
    assert isinstance(arg, str)
    is_value = value_type_of(inputs[arg].get("type")) is not None
    if kind == "inputValue" and not is_value:
        raise Invalid(
            where,
            f"{{inputValue: {arg}}}: input {arg!r} has no parameter type, so KFP v2 passes "
            "it as a file (an artifact), not as a value; give it a type such as String, "
            "Integer, Float, Boolean, JsonObject or JsonArray, or use {inputPath: ...}",
        )
    if kind == "inputPath" and is_value:
        raise Invalid(
            where,
            f"{{inputPath: {arg}}}: input {arg!r} has the parameter type "
            f"{inputs[arg].get('type')!r}, which KFP v2 passes as a value, not a file; "
            "use {inputValue: ...} or give it a file type (e.g. CSV, Dataset)",
        )
    return InputValue(key) if kind == "inputValue" else InputPath(key)


def _if_present(arg: object, where: str, inputs: _Declared, outputs: _Declared) -> Part:
    cond = mapping(arg, f"{where}.if")
    known(cond, ("cond", "then", "else"), f"{where}.if")
    c = mapping(cond.get("cond"), f"{where}.if.cond")
    if set(c) != {"isPresent"}:
        raise Invalid(f"{where}.if.cond", "only {isPresent: INPUT} conditions are supported")
    key = _input_key("if", c["isPresent"], where, inputs)
    then = _parts(cond.get("then"), f"{where}.if.then", inputs, outputs)
    otherwise = _parts(cond.get("else"), f"{where}.if.else", inputs, outputs)
    return IfPresent(key, then, otherwise)


def _parts(value: object, where: str, inputs: _Declared, outputs: _Declared) -> tuple[Part, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(_part(v, f"{where}[{i}]", inputs, outputs) for i, v in enumerate(items))
