"""Read a component from YAML text, a file or a URL: a v1-style spec or a v2 component YAML.

Only a safe YAML loader is used and nothing in the spec is run while loading: a component from a
URL is data until a step runs its container. Every mistake is reported with the field it is in
(`inputs[1].name`, `implementation.container.args[2]`), since a spec is usually someone else's file.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import KfpJupyterError
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
    sanitize_name,
    value_type_of,
    walk,
)

#: A component file larger than this is not a component (and is not read into memory whole).
MAX_BYTES = 5 * 1024 * 1024
URL_TIMEOUT = 30.0

V1_KEYS = ("name", "description", "metadata", "inputs", "outputs", "implementation")
V1_INPUT_KEYS = ("name", "type", "description", "default", "optional", "annotations")
V1_OUTPUT_KEYS = ("name", "type", "description", "annotations")
V1_CONTAINER_KEYS = ("image", "command", "args", "env", "fileOutputs")


class ComponentSpecError(KfpJupyterError):
    """The component cannot be read: the message names the component and the field at fault."""


class _Invalid(Exception):
    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


def load_component_from_text(text: str, source: str = "component") -> ComponentSpec:
    """Read a component spec (v1-style or v2 YAML) from `text`; `source` names it in errors."""
    try:
        return _load(text)
    except _Invalid as e:
        where = f", field '{e.where}'" if e.where else ""
        raise ComponentSpecError(f"component spec {source}{where}: {e.message}") from None


def load_component_from_file(path: str | Path) -> ComponentSpec:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ComponentSpecError(f"component spec {str(p)!r} does not exist") from None
    except IsADirectoryError:
        raise ComponentSpecError(f"component spec {str(p)!r} is a folder, not a file") from None
    except OSError as e:
        raise ComponentSpecError(f"cannot read component spec {str(p)!r}: {e}") from None
    return load_component_from_text(_decode(data, repr(str(p))), repr(str(p)))


def load_component_from_url(url: str, timeout: float = URL_TIMEOUT) -> ComponentSpec:
    """Fetch a component with one plain HTTP(S) GET (no credentials, no other schemes)."""
    return load_component_from_text(fetch_text(url, timeout), repr(url))


def fetch_text(url: str, timeout: float = URL_TIMEOUT) -> str:
    import urllib.error
    import urllib.request

    if not re.match(r"^https?://", url, re.IGNORECASE):
        raise ComponentSpecError(f"component URL {url!r} must start with http:// or https://")
    request = urllib.request.Request(url, headers={"User-Agent": "kfp-jupyter"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise ComponentSpecError(
            f"cannot fetch component {url!r}: HTTP {e.code} {e.reason}"
        ) from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            raise ComponentSpecError(
                f"cannot fetch component {url!r}: no answer within {timeout:g} s"
            ) from None
        raise ComponentSpecError(f"cannot fetch component {url!r}: {reason}") from None
    except TimeoutError:
        raise ComponentSpecError(
            f"cannot fetch component {url!r}: no answer within {timeout:g} s"
        ) from None
    except (OSError, ValueError) as e:
        raise ComponentSpecError(f"cannot fetch component {url!r}: {e}") from None
    return _decode(data, repr(url))


def _decode(data: bytes, source: str) -> str:
    if len(data) > MAX_BYTES:
        raise ComponentSpecError(
            f"component spec {source} is larger than {MAX_BYTES // (1024 * 1024)} MB; "
            "it is not a component spec"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ComponentSpecError(f"component spec {source} is not UTF-8 text") from None


def _load(text: str) -> ComponentSpec:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        docs = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise _Invalid("", f"not valid YAML{at}: {problem}") from None
    if not docs:
        raise _Invalid("", "the file is empty")
    doc = docs[0]
    if not isinstance(doc, dict):
        raise _Invalid("", f"a component spec is a YAML mapping, not a {_kind(doc)}")
    if "implementation" not in doc and ("pipelineInfo" in doc or "root" in doc):
        return _v2(doc, text)
    return _v1(doc, text)


def _kind(value: object) -> str:
    return {
        dict: "mapping",
        list: "list",
        str: "string",
        int: "number",
        float: "number",
        bool: "boolean",
    }.get(type(value), type(value).__name__)


def _mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(where, f"must be a mapping, not a {_kind(value)}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Invalid(where, f"must be a list, not a {_kind(value)}")
    return value


def _text(doc: Mapping[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = doc.get(key)
    at = f"{where}.{key}" if where else key
    if value is None:
        if required:
            raise _Invalid(at, "is missing")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _Invalid(at, f"must be a non-empty string, not {value!r}")
    return value


def _known(doc: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in doc:
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(keys)}"
            at = f"{where}.{key}" if where else str(key)
            raise _Invalid(at, f"unknown field ({hint})")


# --- v1-style specs -------------------------------------------------------------------------------


def _v1(doc: dict[str, Any], text: str) -> ComponentSpec:
    _known(doc, V1_KEYS, "")
    name = _text(doc, "name", "", required=True)
    assert name is not None
    description = _text(doc, "description", "") or ""
    impl = _mapping(doc.get("implementation"), "implementation")
    if "graph" in impl:
        raise _Invalid(
            "implementation.graph",
            "graph components are not supported; a component step runs one container",
        )
    if "container" not in impl:
        raise _Invalid("implementation.container", "is missing")
    _known(impl, ("container",), "implementation")
    cont = _mapping(impl["container"], "implementation.container")
    _known(cont, V1_CONTAINER_KEYS, "implementation.container")
    if "fileOutputs" in cont:
        raise _Invalid(
            "implementation.container.fileOutputs",
            "fileOutputs are a KFP v1 feature that KFP v2 dropped; write outputs to "
            "{outputPath: NAME} instead",
        )
    image = _text(cont, "image", "implementation.container", required=True)
    assert image is not None

    raw_inputs = _list(doc.get("inputs") or [], "inputs")
    raw_outputs = _list(doc.get("outputs") or [], "outputs")
    inputs_by_name: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    for i, item in enumerate(raw_inputs):
        where = f"inputs[{i}]"
        m = _mapping(item, where)
        _known(m, V1_INPUT_KEYS, where)
        n = _text(m, "name", where, required=True)
        assert n is not None
        _unique_io(n, where, inputs_by_name, keys, "input")
        inputs_by_name[n] = m
    outputs_by_name: dict[str, dict[str, Any]] = {}
    out_keys: dict[str, str] = {}
    for i, item in enumerate(raw_outputs):
        where = f"outputs[{i}]"
        m = _mapping(item, where)
        _known(m, V1_OUTPUT_KEYS, where)
        n = _text(m, "name", where, required=True)
        assert n is not None
        _unique_io(n, where, outputs_by_name, out_keys, "output")
        outputs_by_name[n] = m

    def part(value: object, where: str) -> Part:
        return _v1_part(value, where, inputs_by_name, outputs_by_name)

    command = tuple(
        part(v, f"implementation.container.command[{i}]")
        for i, v in enumerate(_list(cont.get("command") or [], "implementation.container.command"))
    )
    args = tuple(
        part(v, f"implementation.container.args[{i}]")
        for i, v in enumerate(_list(cont.get("args") or [], "implementation.container.args"))
    )
    env_map = _mapping(cont.get("env") or {}, "implementation.container.env")
    env = tuple((str(k), part(v, f"implementation.container.env.{k}")) for k, v in env_map.items())
    if not command and not args:
        raise _Invalid("implementation.container.command", "is missing (nothing to run)")

    inputs = []
    for i, (n, m) in enumerate(inputs_by_name.items()):
        vt = value_type_of(m.get("type"))
        has_default = "default" in m
        default = m.get("default")
        if has_default and vt is not None:
            default = _typed_default(default, vt, f"inputs[{i}].default")
        elif has_default and default is not None:
            default = str(default)
        optional = m.get("optional", False)
        if not isinstance(optional, bool):
            raise _Invalid(f"inputs[{i}].optional", f"must be true or false, not {optional!r}")
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
    outputs = [
        ComponentOutput(
            name=n,
            key=sanitize_name(n),
            passing="value" if value_type_of(m.get("type")) else "path",
            type=_type_text(m.get("type")),
            value_type=value_type_of(m.get("type")),
            description=str(m.get("description") or ""),
        )
        for n, m in outputs_by_name.items()
    ]
    spec = ComponentSpec(
        name=name,
        description=description,
        container=Container(image=image, command=command, args=args, env=env),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        format="v1",
        text=text,
    )
    _check_uses(spec, "implementation.container")
    return spec


def _type_text(type_: object) -> str | None:
    if type_ is None:
        return None
    if isinstance(type_, str):
        return type_
    return json.dumps(type_, sort_keys=True)


def _unique_io(
    name: str, where: str, seen: dict[str, Any], keys: dict[str, str], what: str
) -> None:
    if name in seen:
        raise _Invalid(f"{where}.name", f"{what} {name!r} is declared twice")
    key = sanitize_name(name)
    if not key:
        raise _Invalid(
            f"{where}.name", f"{what} name {name!r} has no letters or digits to name it by"
        )
    if key in keys:
        raise _Invalid(
            f"{where}.name",
            f"{what}s {keys[key]!r} and {name!r} both become {key!r} in Python; rename one",
        )
    keys[key] = name


def _typed_default(value: object, vt: str, where: str) -> object:
    """A v1 default (often written as a string) as a value of the input's type."""
    try:
        if vt == "str":
            return value if isinstance(value, str) else str(value)
        if vt == "int":
            if isinstance(value, bool):
                raise ValueError
            return int(str(value).strip())
        if vt == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(str(value).strip())
        if vt == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes", "y", "t", "on"):
                return True
            if text in ("false", "0", "no", "n", "f", "off"):
                return False
            raise ValueError
        parsed = json.loads(value) if isinstance(value, str) else value
        if not isinstance(parsed, dict if vt == "dict" else list):
            raise ValueError
        return parsed
    except (ValueError, TypeError):
        raise _Invalid(where, f"{value!r} is not a valid {vt} value") from None


def _v1_part(
    value: object,
    where: str,
    inputs: Mapping[str, Mapping[str, Any]],
    outputs: Mapping[str, Mapping[str, Any]],
) -> Part:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, dict) or len(value) != 1:
        raise _Invalid(
            where,
            f"{value!r} is neither a string nor a placeholder such as {{inputValue: NAME}}, "
            "{inputPath: NAME}, {outputPath: NAME}",
        )
    ((kind, arg),) = value.items()

    def input_name(name: object) -> str:
        if not isinstance(name, str) or name not in inputs:
            raise _Invalid(where, f"{{{kind}: {name}}} names no input{_choices(inputs)}")
        return sanitize_name(name)

    if kind == "inputValue":
        key = input_name(arg)
        assert isinstance(arg, str)
        if value_type_of(inputs[arg].get("type")) is None:
            raise _Invalid(
                where,
                f"{{inputValue: {arg}}}: input {arg!r} has no parameter type, so KFP v2 passes "
                "it as a file (an artifact), not as a value; give it a type such as String, "
                "Integer, Float, Boolean, JsonObject or JsonArray, or use {inputPath: ...}",
            )
        return InputValue(key)
    if kind == "inputPath":
        key = input_name(arg)
        assert isinstance(arg, str)
        if value_type_of(inputs[arg].get("type")) is not None:
            raise _Invalid(
                where,
                f"{{inputPath: {arg}}}: input {arg!r} has the parameter type "
                f"{inputs[arg].get('type')!r}, which KFP v2 passes as a value, not a file; "
                "use {inputValue: ...} or give it a file type (e.g. CSV, Dataset)",
            )
        return InputPath(key)
    if kind == "outputPath":
        if not isinstance(arg, str) or arg not in outputs:
            raise _Invalid(where, f"{{outputPath: {arg}}} names no output{_choices(outputs)}")
        return OutputPath(sanitize_name(arg))
    if kind == "concat":
        items = _list(arg, f"{where}.concat")
        return Concat(
            tuple(_v1_part(v, f"{where}.concat[{i}]", inputs, outputs) for i, v in enumerate(items))
        )
    if kind == "if":
        cond = _mapping(arg, f"{where}.if")
        _known(cond, ("cond", "then", "else"), f"{where}.if")
        c = _mapping(cond.get("cond"), f"{where}.if.cond")
        if set(c) != {"isPresent"}:
            raise _Invalid(f"{where}.if.cond", "only {isPresent: INPUT} conditions are supported")
        key = input_name(c["isPresent"])
        then = _v1_parts(cond.get("then"), f"{where}.if.then", inputs, outputs)
        otherwise = _v1_parts(cond.get("else"), f"{where}.if.else", inputs, outputs)
        return IfPresent(key, then, otherwise)
    if kind in ("inputUri", "outputUri", "executorInput"):
        return Unsupported(f"{{{kind}: {arg}}}")
    raise _Invalid(
        where,
        f"unknown placeholder {kind!r} (known: inputValue, inputPath, outputPath, concat, if)",
    )


def _v1_parts(
    value: object,
    where: str,
    inputs: Mapping[str, Mapping[str, Any]],
    outputs: Mapping[str, Mapping[str, Any]],
) -> tuple[Part, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(_v1_part(v, f"{where}[{i}]", inputs, outputs) for i, v in enumerate(items))


def _choices(names: Mapping[str, object]) -> str:
    return (
        f" (the names are: {', '.join(repr(n) for n in names)})" if names else " (there are none)"
    )


def _check_uses(spec: ComponentSpec, where: str) -> None:
    """Every output must be handed to the program, or it could never be written."""
    if spec.unsupported():
        return  # e.g. `{{$}}`: KFP's executor gets every path from its input, not the command line
    written = {p.output for p in walk(spec.parts) if isinstance(p, OutputPath)}
    for o in spec.outputs:
        if o.key not in written:
            raise _Invalid(
                where,
                f"output {o.name!r} is never given to the program: no {{outputPath: {o.name}}} "
                "in its command, args or env",
            )


# --- v2 component YAML ----------------------------------------------------------------------------

_V2_PLACEHOLDER = re.compile(r"\{\{\$[^{}]*\}\}")
_V2_FORMS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}$"), "value"),
    (re.compile(r"^\{\{\$\.inputs\.artifacts\['([^']+)'\]\.path\}\}$"), "path"),
    (re.compile(r"^\{\{\$\.outputs\.parameters\['([^']+)'\]\.output_file\}\}$"), "out"),
    (re.compile(r"^\{\{\$\.outputs\.artifacts\['([^']+)'\]\.path\}\}$"), "out"),
]


def _v2(doc: dict[str, Any], text: str) -> ComponentSpec:
    info = _mapping(doc.get("pipelineInfo"), "pipelineInfo")
    name = _text(info, "name", "pipelineInfo", required=True)
    assert name is not None
    root = _mapping(doc.get("root"), "root")
    dag = _mapping(root.get("dag"), "root.dag")
    tasks = _mapping(dag.get("tasks"), "root.dag.tasks")
    if len(tasks) != 1:
        raise _Invalid(
            "root.dag.tasks",
            f"holds {len(tasks)} tasks: this is a pipeline, not one component; a component step "
            "runs a single component",
        )
    ((task_name, task),) = tasks.items()
    task = _mapping(task, f"root.dag.tasks.{task_name}")
    ref = _mapping(task.get("componentRef"), f"root.dag.tasks.{task_name}.componentRef")
    comp_name = _text(ref, "name", f"root.dag.tasks.{task_name}.componentRef", required=True)
    components = _mapping(doc.get("components"), "components")
    if comp_name not in components:
        raise _Invalid("components", f"has no {comp_name!r}, which the task refers to")
    comp = _mapping(components[comp_name], f"components.{comp_name}")
    if "dag" in comp:
        raise _Invalid(
            f"components.{comp_name}.dag",
            "a nested pipeline is not supported; a component step runs one container",
        )
    label = _text(comp, "executorLabel", f"components.{comp_name}", required=True)
    executors = _mapping(
        _mapping(doc.get("deploymentSpec"), "deploymentSpec").get("executors"),
        "deploymentSpec.executors",
    )
    where = f"deploymentSpec.executors.{label}"
    if label not in executors:
        raise _Invalid("deploymentSpec.executors", f"has no {label!r}, which {comp_name} uses")
    executor = _mapping(executors[label], where)
    if "importer" in executor or "resolver" in executor:
        raise _Invalid(where, "importer and resolver components are not supported")
    cont = _mapping(executor.get("container"), f"{where}.container")
    image = _text(cont, "image", f"{where}.container", required=True)
    assert image is not None

    inputs = _v2_inputs(root.get("inputDefinitions"), "root.inputDefinitions")
    outputs = _v2_outputs(root.get("outputDefinitions"), "root.outputDefinitions")
    by_key_in = {i.key: i for i in inputs}
    by_key_out = {o.key: o for o in outputs}

    def parts(key: str) -> tuple[Part, ...]:
        items = _list(cont.get(key) or [], f"{where}.container.{key}")
        return tuple(
            _v2_part(v, f"{where}.container.{key}[{i}]", by_key_in, by_key_out)
            for i, v in enumerate(items)
        )

    env: list[tuple[str, Part]] = []
    for i, item in enumerate(_list(cont.get("env") or [], f"{where}.container.env")):
        m = _mapping(item, f"{where}.container.env[{i}]")
        n = _text(m, "name", f"{where}.container.env[{i}]", required=True)
        assert n is not None
        env.append(
            (
                n,
                _v2_part(
                    m.get("value", ""), f"{where}.container.env[{i}].value", by_key_in, by_key_out
                ),
            )
        )
    command, args = parts("command"), parts("args")
    if not command and not args:
        raise _Invalid(f"{where}.container.command", "is missing (nothing to run)")
    spec = ComponentSpec(
        name=name,
        description=str(info.get("description") or _header_description(text)),
        container=Container(image=image, command=command, args=args, env=tuple(env)),
        inputs=inputs,
        outputs=outputs,
        format="v2",
        text=text,
    )
    _check_uses(spec, f"{where}.container")
    return spec


def _header_description(text: str) -> str:
    """The description the kfp compiler writes only into the YAML's header comment."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:40]):
        if line.startswith("# Description: "):
            parts = [line[len("# Description: ") :]]
            for more in lines[i + 1 :]:
                if not more.startswith("#             "):
                    break
                parts.append(more[len("#             ") :].strip())
            return "\n".join(parts)
    return ""


def _v2_inputs(defs: object, where: str) -> tuple[ComponentInput, ...]:
    if defs is None:
        return ()
    d = _mapping(defs, where)
    out: list[ComponentInput] = []
    for name, p in _mapping(d.get("parameters") or {}, f"{where}.parameters").items():
        at = f"{where}.parameters.{name}"
        m = _mapping(p, at)
        vt = _ir_type(m, at)
        has_default = "defaultValue" in m
        out.append(
            ComponentInput(
                name=str(name),
                key=str(name),
                passing="value",
                type=str(m.get("parameterType")),
                value_type=vt,
                optional=bool(m.get("isOptional", False)) or has_default,
                default=m.get("defaultValue"),
                has_default=has_default,
                description=str(m.get("description") or ""),
            )
        )
    for name, a in _mapping(d.get("artifacts") or {}, f"{where}.artifacts").items():
        at = f"{where}.artifacts.{name}"
        m = _mapping(a, at)
        if m.get("isArtifactList"):
            raise _Invalid(f"{at}.isArtifactList", "lists of artifacts are not supported")
        out.append(
            ComponentInput(
                name=str(name),
                key=str(name),
                passing="path",
                type=_schema_title(m, at),
                optional=bool(m.get("isOptional", False)),
                description=str(m.get("description") or ""),
            )
        )
    return tuple(out)


def _v2_outputs(defs: object, where: str) -> tuple[ComponentOutput, ...]:
    if defs is None:
        return ()
    d = _mapping(defs, where)
    out: list[ComponentOutput] = []
    for name, p in _mapping(d.get("parameters") or {}, f"{where}.parameters").items():
        at = f"{where}.parameters.{name}"
        m = _mapping(p, at)
        out.append(
            ComponentOutput(
                str(name),
                str(name),
                "value",
                str(m.get("parameterType")),
                _ir_type(m, at),
                str(m.get("description") or ""),
            )
        )
    for name, a in _mapping(d.get("artifacts") or {}, f"{where}.artifacts").items():
        at = f"{where}.artifacts.{name}"
        m = _mapping(a, at)
        if m.get("isArtifactList"):
            raise _Invalid(f"{at}.isArtifactList", "lists of artifacts are not supported")
        out.append(
            ComponentOutput(
                str(name),
                str(name),
                "path",
                _schema_title(m, at),
                None,
                str(m.get("description") or ""),
            )
        )
    return tuple(out)


def _ir_type(m: Mapping[str, Any], where: str) -> Any:
    t = m.get("parameterType")
    if t not in IR_PARAMETER_TYPES:
        raise _Invalid(
            f"{where}.parameterType",
            f"{t!r} is not one of {', '.join(IR_PARAMETER_TYPES)}",
        )
    return IR_PARAMETER_TYPES[t]


def _schema_title(m: Mapping[str, Any], where: str) -> str:
    t = _mapping(m.get("artifactType"), f"{where}.artifactType")
    title = _text(t, "schemaTitle", f"{where}.artifactType", required=True)
    assert title is not None
    return title


def _v2_part(
    value: object,
    where: str,
    inputs: Mapping[str, ComponentInput],
    outputs: Mapping[str, ComponentOutput],
) -> Part:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _Invalid(where, f"must be a string, not a {_kind(value)}")
    stripped = value.strip()
    if stripped.startswith('{"Concat"') or stripped.startswith('{"IfPresent"'):
        try:
            structure = json.loads(stripped)
        except ValueError:
            structure = None
        if isinstance(structure, dict) and len(structure) == 1:
            return _v2_structure(structure, where, inputs, outputs)
    pieces: list[Part] = []
    pos = 0
    for m in _V2_PLACEHOLDER.finditer(value):
        if m.start() > pos:
            pieces.append(value[pos : m.start()])
        pieces.append(_v2_placeholder(m.group(0), where, inputs, outputs))
        pos = m.end()
    if pos < len(value):
        pieces.append(value[pos:])
    if len(pieces) == 1:
        return pieces[0]
    return Concat(tuple(pieces)) if pieces else ""


def _v2_placeholder(
    text: str,
    where: str,
    inputs: Mapping[str, ComponentInput],
    outputs: Mapping[str, ComponentOutput],
) -> Part:
    for pattern, kind in _V2_FORMS:
        m = pattern.match(text)
        if not m:
            continue
        name = m.group(1)
        if kind == "out":
            if name not in outputs:
                raise _Invalid(where, f"{text} names no output{_choices(outputs)}")
            return OutputPath(name)
        if name not in inputs:
            raise _Invalid(where, f"{text} names no input{_choices(inputs)}")
        if (kind == "value") != (inputs[name].passing == "value"):
            raise _Invalid(where, f"{text} does not match the kind of input {name!r}")
        return InputValue(name) if kind == "value" else InputPath(name)
    return Unsupported(text)


def _v2_structure(
    structure: dict[str, Any],
    where: str,
    inputs: Mapping[str, ComponentInput],
    outputs: Mapping[str, ComponentOutput],
) -> Part:
    ((kind, body),) = structure.items()

    def many(value: object, at: str) -> tuple[Part, ...]:
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        return tuple(_v2_part(v, f"{at}[{i}]", inputs, outputs) for i, v in enumerate(items))

    if kind == "Concat":
        return Concat(many(_list(body, f"{where}.Concat"), f"{where}.Concat"))
    b = _mapping(body, f"{where}.IfPresent")
    name = b.get("InputName")
    if not isinstance(name, str) or name not in inputs:
        raise _Invalid(f"{where}.IfPresent.InputName", f"{name!r} names no input{_choices(inputs)}")
    return IfPresent(
        name,
        many(b.get("Then"), f"{where}.IfPresent.Then"),
        many(b.get("Else"), f"{where}.IfPresent.Else"),
    )
