"""The pipeline IR: one small, typed, backend-neutral description of what to run.

Everything downstream (compilers, the local engine, the cluster clients, the widget) reads only this
model, never the notebook, so each of them can be tested without the parser and the analysis.
The model is frozen: a Pipeline is a value, and two equal notebooks give two equal Pipelines.
"""

from __future__ import annotations

import functools
import keyword
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from .params import ParamType, parse_value

if TYPE_CHECKING:
    from .components.spec import ComponentSpec
    from .components.steps import Resource
    from .errors import Problem


#: The resource key that means "GPUs" when no other accelerator is named.
GPU_RESOURCE = "nvidia.com/gpu"

DEFAULT_IMAGE = "python:3.11"

#: The kfp runtime (`kfp.dsl.executor_main`) each Python step installs on KFP: pinned here, so a
#: notebook compiles to the same IR on every machine; `kfp_runtime` in the notebook's metadata or
#: `--kfp-runtime` overrides it (a version, or any pip requirement).
DEFAULT_KFP_RUNTIME = "2.17.3"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def by_name(items: Iterable[_N], name: str) -> _N:
    """The item called `name`, else KeyError: how a pipeline (or a plan) looks up its volumes,
    parameters and steps."""
    for item in items:
        if item.name == name:
            return item
    raise KeyError(name)


def kfp_runtime_problem(text: str) -> str | None:
    """Why `text` cannot be a kfp runtime pin (a version or one pip requirement), or None."""
    if not text or any(c.isspace() for c in text) or "'" in text or '"' in text:
        return (
            f"{text!r} is not a kfp version or pip requirement: give a version such as "
            f"{DEFAULT_KFP_RUNTIME!r}, or a requirement such as 'kfp==2.15.0'"
        )
    return None


@dataclass(frozen=True)
class Parameter:
    """A typed pipeline parameter, from a literal in the pipeline-parameters cell."""

    name: str
    type: ParamType
    default: object

    def parse(self, text: str) -> object:
        """Turn a command-line value into this parameter's type, or raise ValueError."""
        return parse_value(self.type, text)


@dataclass(frozen=True)
class Secret:
    """A Kubernetes secret key exposed to a step as an environment variable."""

    secret: str
    key: str
    env: str


#: What runs a step: the notebook's Python code, a reusable component (v1-style spec or v2 YAML),
#: a container cell (ContainerOp-style: an image, a command, files), a Kubernetes resource, or a
#: whole notebook executed in a kernel (a `notebook:` step, or a plain notebook's only step).
StepKind = Literal["python", "component", "container", "resource", "notebook"]

#: The output of a notebook step that holds the executed notebook (.ipynb, and .html when
#: nbconvert is there): kept as an artifact of the step, never handed to other steps.
NOTEBOOK_OUTPUT = "executed_notebook"

#: How an input reaches a step. `variable`: a folder holding a Python variable saved by an earlier
#: Python step (packaging/stepruntime.py). `path`: a file (or folder) written by a component or
#: container step, or exported by a Python step for one; a Python step gets its path as a str.
#: `value`: a parameter-like output (Integer, String, ...) written as text; a Python step gets the
#: value itself, and a component gets it on its command line.
InputKind = Literal["variable", "path", "value"]


@dataclass(frozen=True)
class Input:
    """A variable a step reads, and the step that hands it over.

    `name` is the artifact's name: the variable's own name, except for a file a Python step writes
    for a component (an Export, e.g. `frame__csv`).
    """

    name: str
    producer: str
    kind: InputKind = "variable"
    #: the value's type when kind is "value"
    type: ParamType | None = None


@dataclass(frozen=True)
class Export:
    """A variable a Python step also writes as a plain file (or value) for a component to read.

    Formats: csv, tsv, json, text, npy, parquet, auto (chosen by the value's type at run time:
    pandas -> CSV, numpy -> .npy, str -> text, bytes as they are, builtins -> JSON), and value
    (a parameter: text for str, JSON for the rest), whose `type` is the consumer's input type.
    """

    name: str
    variable: str
    format: str
    type: ParamType | None = None


@dataclass(frozen=True)
class Argument:
    """What a component step gives one input of its component."""

    input: str
    #: literal: `value` itself; parameter: the pipeline parameter `name`; artifact: the step's
    #: Input called `name` (a file or a value from an earlier step)
    kind: Literal["literal", "parameter", "artifact"]
    value: object = None
    name: str = ""


@dataclass(frozen=True)
class ComponentCall:
    """A component or container step: the component and what each of its inputs gets."""

    spec: ComponentSpec
    arguments: tuple[Argument, ...] = ()
    #: where the spec came from, as the notebook says it (path or URL); "" for container cells
    source: str = ""
    #: outputs the cell gives another name (`train_stats = stats`): (variable, output key)
    renames: tuple[tuple[str, str], ...] = ()

    def argument(self, key: str) -> Argument | None:
        for a in self.arguments:
            if a.input == key:
                return a
        return None

    def variable(self, key: str) -> str:
        """The variable that holds output `key` (its key, unless the cell renames it)."""
        for var, k in self.renames:
            if k == key:
                return var
        return key

    def key(self, variable: str) -> str:
        """The output key of the component behind `variable`."""
        return dict(self.renames).get(variable, variable)

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(self.variable(o.key) for o in self.spec.outputs)


@dataclass(frozen=True)
class NotebookCall:
    """A notebook step: the notebook it executes and the values injected into it.

    `source` is the notebook itself (its cells, without outputs), embedded in the step's program,
    so the step runs what was compiled even where the file is not (a cluster, or after an edit).
    """

    #: the path as the cell says it (relative to the parent notebook's folder), or the file's
    #: name for a plain notebook's own step
    path: str
    source: str
    #: injected after the notebook's `parameters` cell: literals, and pipeline parameters passed
    #: through (kind "parameter")
    arguments: tuple[Argument, ...] = ()
    #: the variables of the notebook the step hands on (also in Step.outputs)
    variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class Volume:
    """A volume steps mount: a new PVC made for each run (`size` set) or an existing claim."""

    name: str
    size: str | None = None
    storage_class: str | None = None
    access_mode: str = "ReadWriteOnce"
    #: the name of an existing PersistentVolumeClaim (then nothing is created)
    claim: str | None = None

    @property
    def env(self) -> str:
        """The environment variable that holds the volume's mount path in every step mounting it
        (the local engine points it at the volume's folder in the store instead)."""
        return volume_env(self.name)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


#: Python's builtins in every version the package supports (3.10 to 3.13), those `site` adds
#: (`exit`, `help`, ...) and those IPython adds (`display`, `get_ipython`). Written out, not read
#: from `builtins`, which differs by version, under `python -S` and inside IPython: the names
#: generated code avoids are the same everywhere, so a notebook compiles to the same bytes from
#: the CLI and from `%kfp compile`, on any Python.
_BUILTIN_NAMES = """
    ArithmeticError AssertionError AttributeError BaseException BaseExceptionGroup
    BlockingIOError BrokenPipeError BufferError BytesWarning ChildProcessError
    ConnectionAbortedError ConnectionError ConnectionRefusedError ConnectionResetError
    DeprecationWarning EOFError Ellipsis EncodingWarning EnvironmentError Exception
    ExceptionGroup False FileExistsError FileNotFoundError FloatingPointError FutureWarning
    GeneratorExit IOError ImportError ImportWarning IndentationError IndexError InterruptedError
    IsADirectoryError KeyError KeyboardInterrupt LookupError MemoryError ModuleNotFoundError
    NameError None NotADirectoryError NotImplemented NotImplementedError OSError OverflowError
    PendingDeprecationWarning PermissionError ProcessLookupError PythonFinalizationError
    RecursionError ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration
    StopIteration SyntaxError SyntaxWarning SystemError SystemExit TabError TimeoutError True
    TypeError UnboundLocalError UnicodeDecodeError UnicodeEncodeError UnicodeError
    UnicodeTranslateError UnicodeWarning UserWarning ValueError Warning ZeroDivisionError
    _IncompleteInputError __build_class__ __debug__ __doc__ __import__ __loader__ __name__
    __package__ __spec__ abs aiter all anext any ascii bin bool breakpoint bytearray bytes
    callable chr classmethod compile complex delattr dict dir divmod enumerate eval exec filter
    float format frozenset getattr globals hasattr hash hex id input int isinstance issubclass
    iter len list locals map max memoryview min next object oct open ord pow print property
    range repr reversed round set setattr slice sorted staticmethod str sum super tuple type
    vars zip
    copyright credits exit help license quit
    display get_ipython
"""
PYTHON_BUILTINS = frozenset(_BUILTIN_NAMES.split())

#: Names a step's function cannot take: Python's keywords; the builtins, since the function is
#: defined at the top of each generated program and would hide the builtin from every step's code
#: (a step named `print` or `open`); and the modules the generated programs and the `dsl` script
#: import at module level (a step named `dsl` would hide kfp's `dsl`).
_RESERVED_FUNCTION_NAMES = (
    frozenset(keyword.kwlist)
    | PYTHON_BUILTINS
    | {"compiler", "components", "dsl", "kfp", "kubernetes", "sys"}
)


def function_name(step_name: str) -> str:
    """The Python name of a step's function in every generated program: the step's name with
    each character Python does not allow as `_`, and a `_` after a reserved name (`class` ->
    `class_`, `print` -> `print_`). KFP names the task after the step all the same (`class_` ->
    task `class`)."""
    name = re.sub(r"[^0-9a-zA-Z_]", "_", step_name)
    return name + "_" if name in _RESERVED_FUNCTION_NAMES else name


def volume_env(name: str) -> str:
    return "KFPJ_VOLUME_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


@dataclass(frozen=True)
class Mount:
    volume: str
    path: str


@dataclass(frozen=True)
class Step:
    """One pipeline step: the code of its cells plus everything needed to run it alone."""

    name: str
    source: str
    cells: tuple[int, ...]
    after: tuple[str, ...] = ()
    explicit_after: tuple[str, ...] = ()
    inputs: tuple[Input, ...] = ()
    outputs: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    #: import statements from earlier steps whose names this step uses (not data: re-imported).
    extra_imports: str = ""
    image: str = DEFAULT_IMAGE
    packages: tuple[str, ...] = ()
    limits: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[Secret, ...] = ()
    cache: bool = True
    retries: int = 0
    timeout: int | None = None
    kind: StepKind = "python"
    #: component and container steps: the component to run and its arguments
    component: ComponentCall | None = None
    #: resource steps: the Kubernetes object and what to do with it
    resource: Resource | None = None
    #: notebook steps: the notebook to execute and its injected parameters
    notebook: NotebookCall | None = None
    #: Python steps: variables also written as files (or values) for component steps
    exports: tuple[Export, ...] = ()
    mounts: tuple[Mount, ...] = ()

    @property
    def gpus(self) -> str | None:
        return self.limits.get(GPU_RESOURCE)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    def export(self, name: str) -> Export | None:
        for e in self.exports:
            if e.name == name:
                return e
        return None

    def output_kind(self, name: str) -> InputKind:
        """How output `name` is stored: a saved variable, a file, or a value (see InputKind)."""
        if self.component is not None:
            return self.component.spec.output(self.component.key(name)).passing
        e = self.export(name)
        if e is not None:
            return "value" if e.format == "value" else "path"
        return "variable"

    def to_json(self) -> dict[str, object]:
        out = self._to_json()
        out["kind"] = self.kind
        if self.component is not None:
            spec = self.component.spec
            out["component"] = {
                "name": spec.name,
                "source": self.component.source,
                "format": spec.format,
                "arguments": {
                    a.input: (a.value if a.kind == "literal" else {a.kind: a.name})
                    for a in self.component.arguments
                },
                "outputs": {self.component.variable(o.key): o.key for o in spec.outputs},
            }
        if self.resource is not None:
            out["resource"] = self.resource.to_json()
        if self.notebook is not None:
            out["notebook"] = {
                "path": self.notebook.path,
                "arguments": {
                    a.input: (a.value if a.kind == "literal" else {a.kind: a.name})
                    for a in self.notebook.arguments
                },
                "variables": list(self.notebook.variables),
            }
        if self.exports:
            out["exports"] = {
                e.name: {"variable": e.variable, "format": e.format} for e in self.exports
            }
        if self.mounts:
            out["volumes"] = {m.path: m.volume for m in self.mounts}
        return out

    def _to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "cells": list(self.cells),
            "after": list(self.after),
            "inputs": [i.name for i in self.inputs],
            "input_sources": {i.name: i.producer for i in self.inputs},
            "outputs": list(self.outputs),
            "parameters": list(self.parameters),
            "metrics": list(self.metrics),
            "image": self.image,
            "packages": list(self.packages),
            "resources": dict(self.limits),
            "retries": self.retries,
            "timeout": self.timeout,
            "cache": self.cache,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "secrets": [{"secret": s.secret, "key": s.key, "env": s.env} for s in self.secrets],
        }


@dataclass(frozen=True)
class Pipeline:
    """A whole pipeline: shared code, parameters, metrics and steps in a valid run order."""

    name: str
    steps: tuple[Step, ...]
    description: str = ""
    experiment: str | None = None
    pipeline_root: str | None = None
    notebook: str | None = None
    #: code every step starts with: the imports cells, then the functions cells.
    imports: str = ""
    functions: str = ""
    parameters: tuple[Parameter, ...] = ()
    metrics: tuple[str, ...] = ()
    warnings: tuple[Problem, ...] = ()
    volumes: tuple[Volume, ...] = ()
    kfp_runtime: str = DEFAULT_KFP_RUNTIME

    def volume(self, name: str) -> Volume:
        return by_name(self.volumes, name)

    def step(self, name: str) -> Step:
        step = self._steps_by_name.get(name)
        if step is None:
            raise KeyError(name)
        return step

    @functools.cached_property
    def _steps_by_name(self) -> dict[str, Step]:
        """Compiling looks steps up by name once per edge: a dict, not a scan per lookup."""
        return {s.name: s for s in self.steps}

    def parameter(self, name: str) -> Parameter:
        return by_name(self.parameters, name)

    def to_json(self) -> dict[str, object]:
        """The shape printed by `kfp-jupyter inspect --json` (and served to the lab extension)."""
        return {
            "name": self.name,
            "description": self.description,
            "experiment": self.experiment,
            "notebook": self.notebook,
            "parameters": {p.name: p.default for p in self.parameters},
            "parameter_types": {p.name: p.type for p in self.parameters},
            "metrics": list(self.metrics),
            "steps": [s.to_json() for s in self.steps],
            **({"volumes": [v.to_json() for v in self.volumes]} if self.volumes else {}),
            "warnings": [w.to_json() for w in self.warnings],
        }
