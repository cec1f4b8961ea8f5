"""The `kfp` target: KFP v2 pipeline IR YAML, produced by the kfp SDK's own compiler.

The DSL script of the `dsl` target is loaded as a module and its pipeline compiled, so the two
targets cannot drift apart.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..model import Pipeline
from .dsl import dsl_script

_PATCH_LOCK = threading.Lock()


def _require_kfp() -> None:
    try:
        import kfp  # noqa: F401
    except ImportError:
        raise UsageError(
            "the 'kfp' target needs the kfp SDK: pip install 'kfp-jupyter[kfp]'"
        ) from None


@contextlib.contextmanager
def _known_sources(module_name: str, sources: dict[str, str]) -> Iterator[None]:
    """Give kfp the components' source text we generated instead of letting it re-read each one
    with inspect (which tokenizes every function again: most of the compile time of a large
    pipeline). The text is the same by construction (packaging/program.py ends every function on a
    statement) and tests/test_compile_kfp.py checks it against inspect."""
    from kfp.dsl import component_factory

    original = getattr(component_factory, "_get_function_source_definition", None)
    if original is None:  # another kfp version: just let it read the source
        yield
        return

    def lookup(func: Callable[..., Any]) -> str:
        if getattr(func, "__module__", None) == module_name and func.__name__ in sources:
            return sources[func.__name__]
        result: str = original(func)
        return result

    with _PATCH_LOCK:
        component_factory._get_function_source_definition = lookup
        try:
            yield
        finally:
            component_factory._get_function_source_definition = original


def compile_kfp(pipeline: Pipeline) -> str:
    _require_kfp()
    from kfp import compiler

    source, func_name, sources = dsl_script(pipeline)
    with tempfile.TemporaryDirectory(prefix="kfpj-") as tmp:
        script = Path(tmp) / "pipeline_dsl.py"
        script.write_text(source, encoding="utf-8")
        name = f"_kfpj_dsl_{abs(hash(source))}"
        spec = importlib.util.spec_from_file_location(name, script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            with warnings.catch_warnings(), _known_sources(name, sources):
                warnings.simplefilter("ignore")
                spec.loader.exec_module(module)
                func = getattr(module, func_name)
                out = Path(tmp) / "pipeline.yaml"
                compiler.Compiler().compile(func, str(out))
        finally:
            sys.modules.pop(name, None)
        return out.read_text(encoding="utf-8")
