"""Compilation targets: one module per target, one function `compile_<target>(pipeline) -> str` each.

Like papermill's engine registry: the CLI and the API look targets up by name here, so adding a
target is adding a module and a line below. Output is written atomically: a failed compile leaves
no file (and an old file untouched). An output that names nothing, a folder or a notebook, or that
cannot be written, is a UsageError naming it, here where every front end (the CLI, `%kfp`, the
widget, the server, the Python API) compiles.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError
from ..fileio import output_errors, output_file, same_file, write_atomically
from ..model import Pipeline, kfp_runtime_problem

#: target name -> (module, function, default file suffix)
TARGETS: dict[str, tuple[str, str, str]] = {
    "kfp": ("kfp_jupyter.compile.kfp_ir", "compile_kfp", ".yaml"),
    "argo": ("kfp_jupyter.compile.argo", "compile_argo", ".argo.yaml"),
    "dsl": ("kfp_jupyter.compile.dsl", "compile_dsl", ".py"),
}


def _entry(target: str) -> tuple[str, str, str]:
    if target not in TARGETS:
        raise UsageError(f"unknown target {target!r}; choose one of: {', '.join(TARGETS)}")
    return TARGETS[target]


def compiler_for(target: str) -> Callable[[Pipeline], str]:
    module, func, _ = _entry(target)
    fn: Callable[[Pipeline], str] = getattr(importlib.import_module(module), func)
    return fn


def default_output(notebook: str | Path | None, pipeline: Pipeline, target: str) -> Path:
    suffix = _entry(target)[2]
    if notebook:
        p = Path(notebook)
        return p.with_name(p.stem + suffix)
    return Path(pipeline.name + suffix)


def compile_pipeline(
    pipeline: Pipeline,
    target: str = "kfp",
    path: str | os.PathLike[str] | None = None,
    kfp_runtime: str | None = None,
) -> str:
    """The pipeline as `target`'s text, also written to `path` when given. `kfp_runtime`, when
    given, overrides the notebook's pin of the kfp runtime that steps install on KFP.

    Bad input (an unknown target, a path that names nothing, a folder or a notebook) is refused
    before compiling; a path the system will not write is an UnwritableOutput (a UsageError, and
    an OSError) after it, with nothing left at the path."""
    compile_text = compiler_for(target)
    if kfp_runtime is not None:
        problem = kfp_runtime_problem(kfp_runtime)
        if problem is not None:
            raise UsageError(f"--kfp-runtime {problem}")
        pipeline = dataclasses.replace(pipeline, kfp_runtime=kfp_runtime)
    out = None if path is None else _output(path, pipeline, target)
    text = compile_text(pipeline)
    if out is not None:
        with output_errors(out):
            write_atomically(out, text)
    return text


def _output(path: str | os.PathLike[str], pipeline: Pipeline, target: str) -> Path:
    out = output_file(path, default_output(pipeline.notebook, pipeline, target).name)
    refuse_notebook_output(out, pipeline)
    return out


def refuse_notebook_output(path: Path, pipeline: Pipeline) -> None:
    """A compiled pipeline never overwrites a notebook: not the compiled one, not any `.ipynb`."""
    is_source = pipeline.notebook is not None and same_file(path, Path(pipeline.notebook))
    if is_source or path.suffix.lower() == ".ipynb":
        raise UsageError(
            f"refusing to write the compiled pipeline to {str(path)!r}: it is "
            + ("the notebook itself" if is_source else "a notebook (.ipynb)")
            + f"; give an output path such as {path.with_suffix('.yaml').name!r}"
        )
