"""Compilation targets: one module per target, one function `compile_<target>(pipeline) -> str` each.

Like papermill's engine registry: the CLI and the API look targets up by name here, so adding a
target is adding a module and a line below. Output is written atomically: a failed compile leaves
no file (and an old file untouched).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError
from ..fileio import same_file, write_atomically
from ..model import Pipeline, kfp_runtime_problem

#: target name -> (module, function, default file suffix)
TARGETS: dict[str, tuple[str, str, str]] = {
    "kfp": ("kfp_jupyter.compile.kfp_ir", "compile_kfp", ".yaml"),
    "argo": ("kfp_jupyter.compile.argo", "compile_argo", ".argo.yaml"),
    "dsl": ("kfp_jupyter.compile.dsl", "compile_dsl", ".py"),
}


def compiler_for(target: str) -> Callable[[Pipeline], str]:
    if target not in TARGETS:
        raise UsageError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    module, func, _ = TARGETS[target]
    fn: Callable[[Pipeline], str] = getattr(importlib.import_module(module), func)
    return fn


def default_output(notebook: str | Path | None, pipeline: Pipeline, target: str) -> Path:
    suffix = TARGETS[target][2]
    if notebook:
        p = Path(notebook)
        return p.with_name(p.stem + suffix)
    return Path(pipeline.name + suffix)


def compile_pipeline(
    pipeline: Pipeline,
    target: str = "kfp",
    path: str | Path | None = None,
    kfp_runtime: str | None = None,
) -> str:
    """The pipeline as `target`'s text, also written to `path` when given. `kfp_runtime`, when
    given, overrides the notebook's pin of the kfp runtime that steps install on KFP."""
    if kfp_runtime is not None:
        problem = kfp_runtime_problem(kfp_runtime)
        if problem is not None:
            raise UsageError(f"--kfp-runtime {problem}")
        pipeline = dataclasses.replace(pipeline, kfp_runtime=kfp_runtime)
    if path is not None:
        refuse_notebook_output(Path(path), pipeline)
    text = compiler_for(target)(pipeline)
    if path is not None:
        write_atomically(Path(path), text)
    return text


def refuse_notebook_output(path: Path, pipeline: Pipeline) -> None:
    """A compiled pipeline never overwrites a notebook: not the compiled one, not any `.ipynb`."""
    is_source = pipeline.notebook is not None and same_file(path, Path(pipeline.notebook))
    if is_source or path.suffix.lower() == ".ipynb":
        raise UsageError(
            f"refusing to write the compiled pipeline to {str(path)!r}: it is "
            + ("the notebook itself" if is_source else "a notebook (.ipynb)")
            + f"; give an output path such as {path.with_suffix('.yaml').name!r}"
        )
