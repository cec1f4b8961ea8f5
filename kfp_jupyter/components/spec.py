"""A reusable component, as one typed value whatever file format it was written in.

KFP has two component formats: the v1-style spec (`name`, `inputs`, `outputs`,
`implementation.container` with `{inputValue: X}` placeholders) and the v2 component YAML (the
pipeline IR of a single component, with `{{$.inputs.parameters['x']}}` placeholders). Both are read
into the frozen model below, so the compilers and the local runner handle one shape. Inputs and
outputs are keyed by the name KFP's Python API gives them (`Training data` -> `training_data`), which
is also the name a notebook uses for them.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

#: How a value travels: `value` as a parameter (text on the command line), `path` as a file.
Passing = Literal["value", "path"]
#: The Python type of a parameter-like input or output (the pipeline parameter types).
ValueType = Literal["int", "float", "str", "bool", "list", "dict"]

#: Each parameter type in the three vocabularies that name it: the Python type (the pipeline
#: parameter types), the v1 type name written into generated specs, and the IR's parameterType.
#: The one table every target and reader derives its mappings from.
VALUE_TYPES: tuple[tuple[ValueType, str, str], ...] = (
    ("int", "Integer", "NUMBER_INTEGER"),
    ("float", "Float", "NUMBER_DOUBLE"),
    ("str", "String", "STRING"),
    ("bool", "Boolean", "BOOLEAN"),
    ("list", "JsonArray", "LIST"),
    ("dict", "JsonObject", "STRUCT"),
)

#: KFP's parameter types (its PARAMETER_TYPES_MAPPING), lower-cased, to Python types: the v1
#: names above, the Python names, and KFP's other spellings.
PARAMETER_TYPES: dict[str, ValueType] = {
    **{v1.lower(): py for py, v1, _ in VALUE_TYPES},
    **{py: py for py, _, _ in VALUE_TYPES},
    "double": "float",
    "text": "str",
}
#: v2 IR parameter types to Python types, and back.
IR_PARAMETER_TYPES: dict[str, ValueType] = {ir: py for py, _, ir in VALUE_TYPES}
IR_TYPE_OF: dict[str, str] = {py: ir for py, _, ir in VALUE_TYPES}
#: Python types to the v1 type names written into generated specs.
V1_TYPE_OF: dict[ValueType, str] = {py: v1 for py, v1, _ in VALUE_TYPES}

#: v1 type names (lower-cased) that are one of KFP's artifact classes, to their schema titles
ARTIFACT_SCHEMAS = {
    "artifact": "system.Artifact",
    "dataset": "system.Dataset",
    "model": "system.Model",
    "metrics": "system.Metrics",
    "classificationmetrics": "system.ClassificationMetrics",
    "slicedclassificationmetrics": "system.SlicedClassificationMetrics",
    "html": "system.HTML",
    "markdown": "system.Markdown",
}


def artifact_schema(type_name: str | None) -> str:
    """The schema title of an artifact input or output: a v2 spec names it (`system.Dataset`), a
    v1 spec names a type that may be one of KFP's artifact classes (`Model`); others are plain."""
    if not type_name:
        return "system.Artifact"
    if "." in type_name:
        return type_name.split("@")[0]
    return ARTIFACT_SCHEMAS.get(type_name.lower(), "system.Artifact")


def sanitize_name(name: str) -> str:
    """The key KFP's Python API gives an input or output (kfp.dsl.utils.sanitize_input_name)."""
    return re.sub(r"[^_0-9a-z]+", "_", name.lower()).strip("_")


def canonical_type(type_: object) -> str | None:
    """A v1 type as KFP reads it: `typing.List[str]` -> `List`; None for untyped or dict types."""
    if not isinstance(type_, str):
        return None
    name = type_.removeprefix("typing.")
    if name.lower().startswith(("list", "dict")):
        name = name.split("[")[0]
    return name


def value_type_of(type_: object) -> ValueType | None:
    """The Python type of a v1 type when KFP passes it as a parameter, else None (an artifact)."""
    name = canonical_type(type_)
    return PARAMETER_TYPES.get(name.lower()) if name else None


# --- placeholders: the parts of a command line that are filled in when the step runs


@dataclass(frozen=True)
class InputValue:
    """The value of an input, as text."""

    input: str


@dataclass(frozen=True)
class InputPath:
    """The path of a file holding an input."""

    input: str


@dataclass(frozen=True)
class OutputPath:
    """The path where the program writes an output (a file, or for artifacts also a folder)."""

    output: str


@dataclass(frozen=True)
class Concat:
    """Parts joined into one argument."""

    parts: tuple[Part, ...]


@dataclass(frozen=True)
class IfPresent:
    """`then` when the input is given (or has a default), else `otherwise`."""

    input: str
    then: tuple[Part, ...]
    otherwise: tuple[Part, ...] = ()


@dataclass(frozen=True)
class Unsupported:
    """A placeholder KFP understands but only KFP can fill in (`{{$}}`, `inputUri`, ...)."""

    text: str


Part = str | InputValue | InputPath | OutputPath | Concat | IfPresent | Unsupported


_T = TypeVar("_T")


class PartVisitor(ABC, Generic[_T]):
    """What each kind of placeholder becomes for one writer of command lines (filled in for a
    local run or Argo, written into a v1 spec): `visit` is the one place that tells the kinds
    apart, so a new kind of placeholder is a method every writer has to give."""

    def visit(self, p: Part) -> _T:
        if isinstance(p, str):
            return self.text(p)
        if isinstance(p, InputValue):
            return self.input_value(p.input)
        if isinstance(p, InputPath):
            return self.input_path(p.input)
        if isinstance(p, OutputPath):
            return self.output_path(p.output)
        if isinstance(p, Concat):
            return self.concat([self.visit(q) for q in p.parts])
        if isinstance(p, IfPresent):
            return self.if_present(p.input, p.then, p.otherwise)
        return self.unsupported(p.text)

    @abstractmethod
    def text(self, text: str) -> _T: ...

    @abstractmethod
    def input_value(self, key: str) -> _T: ...

    @abstractmethod
    def input_path(self, key: str) -> _T: ...

    @abstractmethod
    def output_path(self, key: str) -> _T: ...

    @abstractmethod
    def concat(self, parts: list[_T]) -> _T: ...

    @abstractmethod
    def if_present(self, key: str, then: tuple[Part, ...], otherwise: tuple[Part, ...]) -> _T:
        """Given the branches unvisited: a writer may fill in only the one that applies."""

    @abstractmethod
    def unsupported(self, text: str) -> _T: ...


def walk(parts: tuple[Part, ...]) -> list[Part]:
    """Every placeholder in `parts`, nested ones included."""
    out: list[Part] = []
    for p in parts:
        out.append(p)
        if isinstance(p, Concat):
            out += walk(p.parts)
        elif isinstance(p, IfPresent):
            out += walk(p.then) + walk(p.otherwise)
    return out


# --- the component


@dataclass(frozen=True)
class ComponentIO:
    """What an input and an output share, so that both are declared and looked up one way.

    `description` is declared by each kind after its own fields, keeping the order in which
    positional arguments have always been given."""

    name: str
    key: str
    passing: Passing
    #: the type as written (v1), or the parameter type / artifact schema title (v2)
    type: str | None = None
    value_type: ValueType | None = None


@dataclass(frozen=True)
class ComponentInput(ComponentIO):
    optional: bool = False
    #: the default (typed for value inputs); only meaningful when `has_default`
    default: object = None
    has_default: bool = False
    description: str = ""


@dataclass(frozen=True)
class ComponentOutput(ComponentIO):
    description: str = ""


_IO = TypeVar("_IO", bound=ComponentIO)


def _by_key(ios: tuple[_IO, ...], key: str) -> _IO:
    for io in ios:
        if io.key == key:
            return io
    raise KeyError(key)


@dataclass(frozen=True)
class Container:
    image: str
    command: tuple[Part, ...] = ()
    args: tuple[Part, ...] = ()
    env: tuple[tuple[str, Part], ...] = ()


@dataclass(frozen=True)
class ComponentSpec:
    """One component, from a v1-style spec, a v2 component YAML, or a notebook's container step."""

    name: str
    container: Container
    inputs: tuple[ComponentInput, ...] = ()
    outputs: tuple[ComponentOutput, ...] = ()
    description: str = ""
    #: "v1", "v2", or "container" (written from a notebook's %%container cell)
    format: str = "v1"
    #: the text the spec was read from (what the `dsl` target embeds); "" for generated specs
    text: str = ""

    def input(self, key: str) -> ComponentInput:
        return _by_key(self.inputs, key)

    def output(self, key: str) -> ComponentOutput:
        return _by_key(self.outputs, key)

    @property
    def parts(self) -> tuple[Part, ...]:
        return (*self.container.command, *self.container.args, *(v for _, v in self.container.env))

    def unsupported(self) -> list[str]:
        """Placeholders that only KFP can fill in (so neither Argo nor a local run can)."""
        return [p.text for p in walk(self.parts) if isinstance(p, Unsupported)]
