"""The `kfp` target: KFP v2 pipeline IR YAML, produced by the kfp SDK's own compiler.

The DSL script of the `dsl` target is loaded as a module and its pipeline compiled, so the two
targets cannot drift apart. Compiling a large notebook is mostly the kfp SDK's own work; the
patches below (each reverted when compiling ends, each written so that a kfp version without the
patched function simply runs unpatched) remove work whose result kfp-jupyter already has, and
tests/test_compile_kfp.py checks that the output stays byte-identical to the script run by `python`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import operator
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, KeysView
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from ..errors import UsageError
from ..model import Pipeline
from . import forked, yaml_emitter
from .dsl import PIPELINE_DECORATOR, dsl_script

_PATCH_LOCK = threading.Lock()


def _kfp_attribute(name: str) -> Any:
    """What `kfp/__init__.py` would have imported eagerly, imported when first used instead."""
    if name == "Client":
        return importlib.import_module("kfp.client").Client
    if name in ("client", "components", "dsl"):
        return importlib.import_module(f"kfp.{name}")
    raise AttributeError(f"module 'kfp' has no attribute {name!r}")


def import_compiler() -> ModuleType:
    """`kfp.compiler`, without the ~0.7 s of importing kfp's REST client and the kubernetes client
    with it, which `import kfp` does eagerly and compiling never uses (half of a short compile).

    kfp's package skips those imports in its own runtime mode; the package alone is imported in
    that mode, then `kfp.dsl` and `kfp.compiler` normally, and `kfp.Client` stays available to any
    later code through a lazy module attribute."""
    if "kfp" not in sys.modules:
        saved = os.environ.get("_KFP_RUNTIME")
        os.environ["_KFP_RUNTIME"] = "true"
        try:
            import kfp
        except ImportError:
            raise UsageError(
                "the 'kfp' target needs the kfp SDK: pip install 'kfp-jupyter[kfp]'"
            ) from None
        finally:
            if saved is None:
                del os.environ["_KFP_RUNTIME"]
            else:
                os.environ["_KFP_RUNTIME"] = saved
        if "__getattr__" not in vars(kfp):
            kfp.__getattr__ = _kfp_attribute
    return importlib.import_module("kfp.compiler")


class _FastYaml:
    """kfp's compiler module sees this as its `yaml`: the same module, but dumping through
    yaml_emitter (the same bytes as PyYAML's pure-Python emitter, in a fraction of the time),
    with the long texts another process may have written ahead (see _written_ahead)."""

    def __init__(self) -> None:
        self.ahead: Callable[[], yaml_emitter.Ahead | None] = lambda: None

    def __getattr__(self, name: str) -> Any:
        return getattr(yaml, name)

    def dump_all(self, documents: Any, stream: Any = None, **kwargs: Any) -> Any:
        return yaml_emitter.dump_all(documents, stream, ahead=self.ahead(), **kwargs)


#: where the IR holds each container's command and args: deploymentSpec.executors.<exec>.container
_CONTAINER_LISTS = ("deploymentSpec", "executors", "exec-x", "container", "command")
#: below this much long text (~20 ms of writing) a helper process would cost more than it saves
_AHEAD_LEAST = 250_000


@contextlib.contextmanager
def _written_ahead(module: ModuleType) -> Iterator[Callable[[], yaml_emitter.Ahead | None]]:
    """The components' long texts (each step's program and pip script) written as YAML by a
    forked child while kfp builds the pipeline's graph (at `@dsl.pipeline`, the longest part of
    compiling); when kfp writes the IR, those texts are replayed (much of the writing at 500
    steps). Yields what gets the child's work: None when no child helped (the writer then
    writes those texts itself)."""
    from kfp.dsl import base_component

    texts = list(
        dict.fromkeys(
            text
            for value in vars(module).values()
            if isinstance(value, base_component.BaseComponent)
            for text in _container_texts(value)
            if len(text) >= 64
        )
    )
    size = sum(map(len, texts))
    if size < _AHEAD_LEAST or not forked.can_fork():
        yield lambda: None
        return

    def write() -> Any:
        return yaml_emitter.write_ahead(texts, _CONTAINER_LISTS).packed(texts)

    with forked.Forked(write) as child:

        def ahead() -> yaml_emitter.Ahead | None:
            try:
                # about 0.1 s per MB here: past a generous wait, the writer does it itself
                packed = child.result(timeout=2.0 + size / 1_000_000)
                return yaml_emitter.Ahead.unpacked(texts, packed)
            except Exception:  # a helper that failed costs time, never output
                return None

        yield ahead


def _container_texts(component: Any) -> list[str]:
    container = getattr(
        getattr(component.component_spec, "implementation", None), "container", None
    )
    if container is None:
        return []
    return [t for t in (*(container.command or ()), *(container.args or ())) if isinstance(t, str)]


@contextlib.contextmanager
def _patched(owner: object, name: str, make: Callable[[Any], Any]) -> Iterator[None]:
    original = getattr(owner, name, None)
    if original is None:  # another kfp version: run it as it is
        yield
        return
    setattr(owner, name, make(original))
    try:
        yield
    finally:
        setattr(owner, name, original)


def _ours(module_name: str, answer: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A kfp function of a component's Python function, answered by `answer` for the components
    of the compiled module (None: by kfp after all) and by kfp itself for any other function."""

    def make(original: Callable[[Callable[..., Any]], Any]) -> Callable[[Callable[..., Any]], Any]:
        def lookup(func: Callable[..., Any]) -> Any:
            if getattr(func, "__module__", None) == module_name:
                known = answer(func)
                if known is not None:
                    return known
            return original(func)

        return lookup

    return make


def _remembered(func: Callable[[str], str]) -> Callable[[str], str]:
    return functools.lru_cache(maxsize=None)(func)


def _remembered_for_text(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A pure function of one argument, remembered when that argument is a string (kfp's type
    helpers also take dicts and types, which are passed through)."""
    known: dict[str, Any] = {}

    def lookup(arg: Any) -> Any:
        if type(arg) is not str:
            return func(arg)
        answer = known.get(arg, known)  # `known` itself: not seen yet
        if answer is known:
            answer = known[arg] = func(arg)
        return answer

    return lookup


class _RememberedDocstrings:
    """kfp's component factory sees this as its `docstring_parser`: the same module, with `parse`
    remembered by text. It tries every docstring style on each component's docstring, the same
    (none) for every step, and only reads the result."""

    def __init__(self, module: ModuleType) -> None:
        self._module = module
        self.parse = functools.lru_cache(maxsize=None)(module.parse)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


class _Keys(KeysView[Any]):
    """A map's keys view that iterates the map itself, not through a generator: kfp lists the
    keys of the deployment's executors once per task (quadratic)."""

    def __iter__(self) -> Iterator[Any]:
        return iter(self._mapping)  # type: ignore[attr-defined]


def _map_keys(original: Any) -> Any:
    def keys(self: Any) -> _Keys:
        return _Keys(self)

    return keys


def _plain_task_name(original: Any) -> Any:
    """`PipelineTask.name` is read for every pair of tasks of a DAG (hundreds of thousands of
    times for 500 steps); when the property only returns `self._task_spec.name` (as in kfp 2.x),
    the same lookup as a C-level getter saves a Python call each time."""
    getter = getattr(original, "fget", None)
    code = getattr(getter, "__code__", None)
    if code is None or code.co_names != ("_task_spec", "name"):
        return original
    return property(operator.attrgetter("_task_spec.name"), doc=original.__doc__)


@contextlib.contextmanager
def _faster_kfp(module_name: str, sources: dict[str, str], fast_yaml: _FastYaml) -> Iterator[None]:
    """The patches, for one compile at a time (the Jupyter server compiles on several threads).

    - the components' source: kfp would read each one again with inspect (which tokenizes every
      function) and find the `pass` bodies of the compiled module; it gets the generated text,
      the same by construction (packaging/program.py ends every function on a statement;
      tests/test_compile_kfp.py checks it against inspect);
    - the components' imports of custom artifact types: they use only kfp's own types;
    - every component's (empty) docstring is parsed once, see _RememberedDocstrings;
    - kfp sanitizes every task's name once per task of the same DAG (quadratic: much of building
      a 500-step graph); the function is pure, so its answers are remembered while compiling,
      and the task's name is read without a Python call (see _plain_task_name);
    - the keys of the executors' map are listed without a generator, see _Keys;
    - whether a type name is a parameter type, and its short form, are remembered per name
      (asked about 8000 times each at 500 steps, of a handful of names);
    - the YAML is written by yaml_emitter."""
    from kfp.compiler import pipeline_spec_builder
    from kfp.dsl import component_factory, pipeline_task, utils
    from kfp.dsl.types import custom_artifact_types, type_annotations, type_utils
    from kfp.pipeline_spec import pipeline_spec_pb2

    executors = pipeline_spec_pb2.PipelineDeploymentConfig().executors
    with (
        _PATCH_LOCK,
        _patched(
            component_factory,
            "_get_function_source_definition",
            _ours(module_name, lambda func: sources.get(func.__name__)),
        ),
        # the components' parameters are of kfp's own artifact types: nothing to import
        _patched(
            custom_artifact_types,
            "get_custom_artifact_type_import_statements",
            _ours(module_name, lambda func: []),
        ),
        _patched(component_factory, "docstring_parser", _RememberedDocstrings),
        _patched(utils, "maybe_rename_for_k8s", _remembered),
        _patched(utils, "sanitize_task_name", _remembered),
        # kfp asks what each input's and output's type is thousands of times, of a few type names
        _patched(type_utils, "is_parameter_type", _remembered_for_text),
        _patched(type_annotations, "get_short_type_name", _remembered_for_text),
        _patched(pipeline_task.PipelineTask, "name", _plain_task_name),
        _patched(type(executors), "keys", _map_keys)
        if isinstance(executors.keys(), KeysView)
        else contextlib.nullcontext(),
        _patched(pipeline_spec_builder, "yaml", lambda _: fast_yaml),
    ):
        yield


def _components_then_pipeline(source: str) -> tuple[str, str]:
    """The DSL module as two pieces of code: its components, and from the pipeline function on
    (with the line numbers it has in the whole module), so that the components' texts can be
    handed to a helper process before kfp builds the pipeline's graph (see _written_ahead)."""
    at = source.rfind("\n" + PIPELINE_DECORATOR) + 1
    return source[:at], "\n" * source.count("\n", 0, at) + source[at:]


def compile_kfp(pipeline: Pipeline) -> str:
    compiler = import_compiler()
    source, func_name, sources = dsl_script(pipeline, bodies=False)
    with tempfile.TemporaryDirectory(prefix="kfpj-") as tmp:
        script = Path(tmp) / "pipeline_dsl.py"
        script.write_text(source, encoding="utf-8")
        name = f"_kfpj_dsl_{abs(hash(source))}"
        spec = importlib.util.spec_from_file_location(name, script)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            fast_yaml = _FastYaml()
            with warnings.catch_warnings(), _faster_kfp(name, sources, fast_yaml):
                warnings.simplefilter("ignore")
                # compiled here, not by spec.loader.exec_module: the loader would also write
                # the throwaway module's bytecode to a __pycache__ (~10-20 ms at 500 steps)
                components, graph = (
                    compile(part, str(script), "exec", dont_inherit=True)
                    for part in _components_then_pipeline(source)
                )
                exec(components, vars(module))
                with _written_ahead(module) as fast_yaml.ahead:
                    exec(graph, vars(module))  # @dsl.pipeline: kfp builds the pipeline's graph
                    func = getattr(module, func_name)
                    out = Path(tmp) / "pipeline.yaml"
                    compiler.Compiler().compile(func, str(out))
        finally:
            sys.modules.pop(name, None)
        return out.read_text(encoding="utf-8")
