"""Two things a notebook's code may rely on that a step function must give it on every target:
`from __future__ import ...` lines (a syntax error inside a function: they are left out of the
step's code, and `annotations`, the one that still changes anything, is warned about), and
`__name__ == "__main__"` (kfp imports a step as module `ephemeral_component`; the notebook,
local runs and Argo run such a block, so kfp's must too)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from argo_pods import run_like_argo
from engine_support import kfpj, show
from every_target import on_every_target
from ir_compare import kfp_local_metrics
from nbutil import code, make_notebook

from kfp_jupyter import compile_pipeline, load_notebook
from kfp_jupyter.packaging.program import build_program

kfp = pytest.importorskip("kfp")

CLI = [sys.executable, "-m", "kfp_jupyter.cli.main"]


def _future_notebook(path: Path) -> Path:
    return make_notebook(
        path,
        [
            code("from __future__ import print_function, division\nimport math", "imports"),
            code(
                '"""Helpers."""; from __future__ import (annotations,\n'
                "    generators); import os\n"
                "\n"
                "def root(x: float) -> float:\n"
                "    return math.sqrt(x)",
                "functions",
            ),
            code("scale = 8", "pipeline-parameters"),
            code("from __future__ import absolute_import\nx = root(16)\nsep = os.sep", "step:make"),
            code("y = x / scale\nprint(y, sep)", "step:use"),
            code("y", "pipeline-metrics"),
        ],
    )


def test_future_imports_are_left_out_of_every_target(tmp_path: Path) -> None:
    pipeline = load_notebook(_future_notebook(tmp_path / "future.ipynb"))
    _, argo = on_every_target(pipeline, tmp_path)  # the dsl script runs, as the IR holds
    for step in pipeline.steps:
        program = build_program(pipeline, step).plain_program()
        compile(program, step.name, "exec")
        assert "\n    # from __future__ import print_function, division\n" in program
        assert not any(p.startswith("future") for p in step.packages)
    assert run_like_argo(argo, tmp_path / "pods")["use"] == {"y": 0.5}


@pytest.mark.parametrize("launcher", ["fork", "subprocess"])
def test_future_imports_run_locally(tmp_path: Path, launcher: str) -> None:
    nb = _future_notebook(tmp_path / "future.ipynb")
    store = tmp_path / "store"
    p = kfpj("run", nb, "--launcher", launcher, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    assert show(store)["metrics"] == {"y": 0.5}


def test_compile_warns_that_annotations_has_no_effect_naming_the_cell(tmp_path: Path) -> None:
    nb = _future_notebook(tmp_path / "future.ipynb")
    p = subprocess.run(
        [*CLI, "compile", str(nb), "-t", "argo", "-o", str(tmp_path / "wf.yaml")],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    warning = next(line for line in p.stderr.splitlines() if "annotations" in line)
    assert warning.startswith("warning: cell 2, line 1: 'from __future__ import annotations'")
    assert "has no effect in a step" in warning
    assert "print_function" not in p.stderr  # a no-op on Python 3: nothing to say


def _main_notebook(path: Path) -> Path:
    return make_notebook(
        path,
        [
            code("def main():\n    return 42\n\ndef who():\n    return __name__", "functions"),
            code("offset = 0", "pipeline-parameters"),
            code("ran = 0\nif __name__ == '__main__':\n    ran = main()", "step:make"),
            code(
                "named = 1.0 if who() == '__main__' else 0.0\nboth = ran + named + offset",
                "step:use",
            ),
            code("both", "pipeline-metrics"),
        ],
    )


def test_a_main_block_runs_locally_and_under_argo(tmp_path: Path) -> None:
    nb = _main_notebook(tmp_path / "main.ipynb")
    store = tmp_path / "store"
    p = kfpj("run", nb, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    assert show(store)["metrics"] == {"both": 43.0}
    argo = yaml.safe_load(compile_pipeline(load_notebook(nb), "argo"))
    assert run_like_argo(argo, tmp_path / "pods")["use"] == {"both": 43.0}


@pytest.mark.slow
def test_a_main_block_runs_under_kfps_executor(tmp_path: Path) -> None:
    """kfp.local runs each step with `python -m kfp.dsl.executor_main`, which imports the step's
    source as module `ephemeral_component`: the block runs all the same, as in the notebook."""
    nb = _main_notebook(tmp_path / "main.ipynb")
    pipeline = dataclasses.replace(load_notebook(nb), kfp_runtime=kfp.__version__)
    ir = tmp_path / "main.yaml"
    compile_pipeline(pipeline, "kfp", ir)
    assert kfp_local_metrics(ir, tmp_path / "kfp-local") == {"both": 43.0}
