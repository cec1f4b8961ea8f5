"""The `kfp` target: KFP v2 pipeline IR YAML, produced by the kfp SDK's own compiler.

The DSL script of the `dsl` target is loaded as a module and its pipeline compiled, so the two
targets cannot drift apart.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import warnings
from pathlib import Path

from ..errors import UsageError
from ..model import Pipeline
from .dsl import dsl_script


def _require_kfp() -> None:
    try:
        import kfp  # noqa: F401
    except ImportError:
        raise UsageError(
            "the 'kfp' target needs the kfp SDK: pip install 'kfp-jupyter[kfp]'"
        ) from None


def compile_kfp(pipeline: Pipeline) -> str:
    _require_kfp()
    from kfp import compiler

    source, func_name = dsl_script(pipeline)
    with tempfile.TemporaryDirectory(prefix="kfpj-") as tmp:
        script = Path(tmp) / "pipeline_dsl.py"
        script.write_text(source, encoding="utf-8")
        name = f"_kfpj_dsl_{abs(hash(source))}"
        spec = importlib.util.spec_from_file_location(name, script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                spec.loader.exec_module(module)
                func = getattr(module, func_name)
                out = Path(tmp) / "pipeline.yaml"
                compiler.Compiler().compile(func, str(out))
        finally:
            sys.modules.pop(name, None)
        return out.read_text(encoding="utf-8")
