"""The bodies of a notebook's non-Python cells: a `%%container` cell and a `%%resource` cell.

A container step's body is YAML with the fields of a component's container (`command`, `args`,
`env`) plus `file_outputs` (ContainerOp's outputs at fixed paths) and optional `outputs` types.
Its placeholders name the notebook's own names: `{inputValue: seed}` (a pipeline parameter, or a
value an earlier step hands on), `{inputPath: frame}` (a variable of an earlier step, as a file),
`{outputPath: counts}` (a new variable). Once the analysis knows what each name is, the step becomes
an ordinary ComponentSpec, so every target and the local runner treat it like a loaded component.
"""

from __future__ import annotations

import keyword
import re
import shlex
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from .spec import (
    V1_TYPE_OF,
    ComponentInput,
    ComponentOutput,
    ComponentSpec,
    Concat,
    Container,
    InputPath,
    InputValue,
    OutputPath,
    Part,
    ValueType,
    value_type_of,
    walk,
)

CONTAINER_KEYS = ("command", "args", "env", "file_outputs", "outputs")
RESOURCE_ACTIONS = ("create", "apply", "delete")
#: The image that runs kubectl for a resource step on KFP (which has no resource template).
KUBECTL_IMAGE = "bitnami/kubectl:latest"


class StepBodyError(ValueError):
    """A mistake in a container or resource cell; `line` is 1-based in the body when known."""

    def __init__(self, message: str, line: int | None = None, fix: str | None = None) -> None:
        self.message = message
        self.line = line
        self.fix = fix
        super().__init__(message)


def _yaml(text: str, what: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        docs = [d for d in yaml.load_all(text, Loader=loader) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise StepBodyError(
            f"the {what} is not valid YAML: {problem}",
            line=mark.line + 1 if mark is not None else None,
            fix="correct the YAML (the cell body is YAML, not Python)",
        ) from None
    if len(docs) > 1:
        raise StepBodyError(f"the {what} holds {len(docs)} YAML documents; give one", fix=None)
    return docs[0] if docs else None


# --- container steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerBody:
    """A container cell, read: placeholders still name the notebook's names."""

    command: tuple[Part, ...]
    args: tuple[Part, ...] = ()
    env: tuple[tuple[str, Part], ...] = ()
    #: output variable -> path in the container where the program leaves it
    file_outputs: tuple[tuple[str, str], ...] = ()
    #: declared types of outputs (e.g. {count: Integer}); others are files
    output_types: tuple[tuple[str, str], ...] = ()

    @property
    def parts(self) -> tuple[Part, ...]:
        return (*self.command, *self.args, *(v for _, v in self.env))

    def reads(self) -> dict[str, str]:
        """Names the body reads, with how: 'value' or 'path' (in order of first use)."""
        out: dict[str, str] = {}
        for p in walk(self.parts):
            if isinstance(p, (InputValue, InputPath)):
                how = "value" if isinstance(p, InputValue) else "path"
                if out.setdefault(p.input, how) != how:
                    raise StepBodyError(
                        f"{p.input!r} is used both as {{inputValue: {p.input}}} and as "
                        f"{{inputPath: {p.input}}}",
                        fix="use one: a file ({inputPath}) or its text ({inputValue})",
                    )
        return out

    def outputs(self) -> list[str]:
        written = [p.output for p in walk(self.parts) if isinstance(p, OutputPath)]
        return list(dict.fromkeys([*written, *(n for n, _ in self.file_outputs)]))


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value):
        raise StepBodyError(
            f"{what} {value!r} is not a Python name",
            fix="placeholders of a container cell name notebook variables or parameters",
        )
    return value


def _part(value: object, where: str) -> Part:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, dict) or len(value) != 1:
        raise StepBodyError(
            f"{where}: {value!r} is neither a string nor a placeholder "
            "({inputValue: NAME}, {inputPath: NAME}, {outputPath: NAME}, {concat: [...]})"
        )
    ((kind, arg),) = value.items()
    if kind == "inputValue":
        return InputValue(_name(arg, f"{where}: inputValue"))
    if kind == "inputPath":
        return InputPath(_name(arg, f"{where}: inputPath"))
    if kind == "outputPath":
        return OutputPath(_name(arg, f"{where}: outputPath"))
    if kind == "concat" and isinstance(arg, list):
        return Concat(tuple(_part(v, f"{where}.concat[{i}]") for i, v in enumerate(arg)))
    raise StepBodyError(
        f"{where}: unknown placeholder {kind!r} (a container cell knows inputValue, inputPath, "
        "outputPath and concat)"
    )


def _parts(doc: dict[str, Any], key: str) -> tuple[Part, ...]:
    value = doc.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        # `command: python3 run.py` is one shell-like line: split it as a shell would
        return tuple(shlex.split(value))
    if not isinstance(value, list):
        raise StepBodyError(f"'{key}' must be a list, not {type(value).__name__}")
    return tuple(_part(v, f"{key}[{i}]") for i, v in enumerate(value))


def parse_container_body(text: str) -> ContainerBody:
    doc = _container_doc(text)
    command = _parts(doc, "command")
    if not command:
        raise StepBodyError("the container cell has no 'command'", fix="add command: [...]")
    env = _env(doc)
    file_outputs = _file_outputs(doc)
    types_doc = doc.get("outputs") or {}
    if not isinstance(types_doc, dict):
        raise StepBodyError("'outputs' must be a mapping of VARIABLE: TYPE (e.g. count: Integer)")
    body = ContainerBody(
        command=command,
        args=_parts(doc, "args"),
        env=env,
        file_outputs=file_outputs,
        output_types=tuple((str(k), str(v)) for k, v in types_doc.items()),
    )
    _check_uses(body)
    return body


def _container_doc(text: str) -> dict[str, Any]:
    doc = _yaml(text, "container cell")
    if not isinstance(doc, dict):
        raise StepBodyError(
            "a container cell holds YAML with 'command' (and optionally 'args', 'env', "
            "'file_outputs', 'outputs')",
            fix='e.g.\ncommand: [sh, -c, \'wc -l < "$0" > "$1"\', {inputPath: text}, '
            "{outputPath: lines}]",
        )
    for key in doc:
        if key not in CONTAINER_KEYS:
            raise StepBodyError(
                f"unknown field {key!r} in the container cell; the fields are: "
                + ", ".join(CONTAINER_KEYS)
            )
    return doc


def _env(doc: dict[str, Any]) -> tuple[tuple[str, Part], ...]:
    env_doc = doc.get("env") or {}
    if not isinstance(env_doc, dict):
        raise StepBodyError("'env' must be a mapping of NAME: value")
    return tuple((str(k), _part(v, f"env.{k}")) for k, v in env_doc.items())


def _file_outputs(doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    files_doc = doc.get("file_outputs") or {}
    if not isinstance(files_doc, dict):
        raise StepBodyError("'file_outputs' must be a mapping of VARIABLE: /path/in/the/container")
    file_outputs: list[tuple[str, str]] = []
    for k, v in files_doc.items():
        name = _name(k, "file_outputs: output")
        if not isinstance(v, str) or not v.startswith("/"):
            raise StepBodyError(
                f"file_outputs.{name} must be an absolute path in the container, not {v!r}"
            )
        file_outputs.append((name, v))
    return tuple(file_outputs)


def _check_uses(body: ContainerBody) -> None:
    """Each declared output type belongs to an output, and no name is both read and written."""
    written = body.outputs()
    body.reads()  # one kind of use per name
    for name, t in body.output_types:
        if name not in written:
            raise StepBodyError(
                f"outputs.{name}: no {{outputPath: {name}}} and no file_outputs.{name}"
            )
        if value_type_of(t) is None:
            raise StepBodyError(
                f"outputs.{name}: {t!r} is not a value type (String, Integer, Float, Boolean, "
                "JsonObject, JsonArray); leave files out of 'outputs'"
            )
    both = set(body.reads()) & set(written)
    if both:
        name = sorted(both)[0]
        raise StepBodyError(
            f"{name!r} is both read and written by the container cell",
            fix=f"write the new value under another name, e.g. {{outputPath: {name}_2}}",
        )


#: $0 of the wrapper's `sh -c` script: marks a command as wrapped (see wrapped_file_outputs)
_WRAPPER_NAME = "kfpj-file-outputs"
_COPY = re.compile(r'cp -R (.+?) "\$o\d+" \|\| ')


def file_outputs_wrapper(
    command: tuple[Part, ...], args: tuple[Part, ...], file_outputs: tuple[tuple[str, str], ...]
) -> tuple[Part, ...]:
    """ContainerOp's file_outputs for KFP v2, which has none: run the program, then copy each
    file to its output path. Needs `sh` in the image (any image with a shell)."""
    n = len(file_outputs)
    lines = [
        " ".join(f'o{i}="${i}";' for i in range(1, n + 1)) + f" shift {n}",
        '"$@" || exit $?',
    ]
    for i, (name, path) in enumerate(file_outputs, start=1):
        lines.append(
            f'mkdir -p "$(dirname "$o{i}")" && cp -R {shlex.quote(path)} "$o{i}" || '
            f"{{ echo 'kfp-jupyter: the program did not write {name} to {path}' >&2; exit 1; }}"
        )
    script = "\n".join(lines)
    return (
        "sh",
        "-c",
        script,
        _WRAPPER_NAME,
        *(OutputPath(name) for name, _ in file_outputs),
        *command,
        *args,
    )


def wrapped_file_outputs(argv: list[str]) -> list[str]:
    """The fixed paths of the file_outputs a command was wrapped for by `file_outputs_wrapper`
    (none for any other command): a run on the host moves them into the step's scratch."""
    if len(argv) < 4 or argv[:2] != ["sh", "-c"] or argv[3] != _WRAPPER_NAME:
        return []
    found = (shlex.split(m.group(1)) for m in _COPY.finditer(argv[2]))
    return [p[0].rstrip("/") for p in found if len(p) == 1 and p[0].rstrip("/")]


def container_component(
    step: str,
    image: str,
    body: ContainerBody,
    input_kinds: dict[str, tuple[str, ValueType | None]],
    output_kinds: dict[str, ValueType | None] | None = None,
) -> ComponentSpec:
    """The component a container cell means, once each name it reads is known.

    `input_kinds` maps each name read to ("value", its type) or ("path", None); a value read with
    an unknown type (a variable an earlier Python step hands on) is passed as a String.
    """
    command, args = body.command, body.args
    if body.file_outputs:
        command, args = file_outputs_wrapper(command, args, body.file_outputs), ()
    declared = dict(body.output_types)
    inputs = []
    for name, (passing, vt) in input_kinds.items():
        if passing == "value":
            vt = vt or "str"
            inputs.append(ComponentInput(name, name, "value", V1_TYPE_OF[vt], vt, optional=False))
        else:
            inputs.append(ComponentInput(name, name, "path"))
    outputs = []
    for name in body.outputs():
        vt = value_type_of(declared[name]) if name in declared else None
        if output_kinds is not None:
            vt = output_kinds.get(name, vt)
        if vt is not None:
            outputs.append(ComponentOutput(name, name, "value", V1_TYPE_OF[vt], vt))
        else:
            outputs.append(ComponentOutput(name, name, "path"))
    return ComponentSpec(
        name=step,
        container=Container(image=image, command=command, args=args, env=body.env),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        format="container",
    )


# --- resource steps -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """A Kubernetes object a step creates, applies or deletes."""

    # The fields' order is the key order of `to_json` (what `inspect --json` prints).
    action: str
    kind: str
    name: str
    manifest: str
    #: the image that runs kubectl on KFP
    image: str = KUBECTL_IMAGE

    def to_json(self) -> dict[str, object]:
        return asdict(self)


_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def parse_resource_body(text: str, action: str, image: str | None = None) -> Resource:
    if action not in RESOURCE_ACTIONS:
        raise StepBodyError(
            f"unknown resource action {action!r}", fix="use one of: " + ", ".join(RESOURCE_ACTIONS)
        )
    doc = _yaml(text, "resource cell")
    if not isinstance(doc, dict):
        raise StepBodyError(
            "a resource cell holds one Kubernetes manifest (YAML with apiVersion, kind, metadata)"
        )
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise StepBodyError(f"the manifest has no '{key}'")
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        raise StepBodyError("the manifest has no 'metadata'")
    name = meta.get("name")
    if name is None and meta.get("generateName") and action == "create":
        name = str(meta["generateName"]) + "*"
    elif not isinstance(name, str) or not _DNS_NAME.match(name):
        raise StepBodyError(
            f"metadata.name {name!r} is not a Kubernetes object name"
            + (" (only 'create' may use generateName)" if meta.get("generateName") else "")
        )
    if "{{" in text:
        raise StepBodyError(
            "the manifest contains '{{', which Argo would take for a template expression",
            fix="write the values out",
        )
    return Resource(
        action=action,
        manifest=text.strip("\n") + "\n",
        kind=str(doc["kind"]),
        name=str(name),
        image=image or KUBECTL_IMAGE,
    )


def kubectl_component(step: str, resource: Resource) -> ComponentSpec:
    """KFP v2 has no ResourceOp: a resource step there is this small container running kubectl."""
    script = f"printf '%s' \"$0\" | kubectl {resource.action} -f -"
    return ComponentSpec(
        name=step,
        description=f"kubectl {resource.action} {resource.kind}/{resource.name}",
        container=Container(image=resource.image, command=("sh", "-c", script, resource.manifest)),
        format="container",
    )
