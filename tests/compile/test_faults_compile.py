"""Faults and hostile input on the way from a notebook to a compiled pipeline: nothing overwritten,
no internal error, every target and the local run agreeing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from argo_schema import validate_workflow
from ir_compare import assert_same_ir, ir_from_dsl_script
from nbutil import code, make_notebook

from kfp_jupyter import compile_pipeline, load_notebook

pytestmark = pytest.mark.faults

CLI = [sys.executable, "-m", "kfp_jupyter.cli.main"]


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd
    )


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return make_notebook(tmp_path / "nb.ipynb", [code("x = 1", "step:a"), code("y = x", "step:b")])


@pytest.mark.parametrize("target", ["kfp", "argo", "dsl"])
def test_compile_never_writes_over_a_notebook(notebook: Path, tmp_path: Path, target: str) -> None:
    before = notebook.read_bytes()
    other = make_notebook(tmp_path / "other.IPYNB", [code("z = 2", "step:c")])
    other_before = other.read_bytes()
    for output, says in (
        (notebook, "it is the notebook itself"),
        (tmp_path / "sub" / ".." / "nb.ipynb", "it is the notebook itself"),
        (other, "it is a notebook (.ipynb)"),
        (tmp_path / "new.ipynb", "it is a notebook (.ipynb)"),
    ):
        r = cli("compile", notebook, "-t", target, "-o", output)
        assert r.returncode == 2, r.stderr
        assert says in r.stderr and "give an output path such as" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    assert notebook.read_bytes() == before and other.read_bytes() == other_before
    assert not (tmp_path / "new.ipynb").exists()
    # the API refuses the same
    from kfp_jupyter.errors import UsageError

    with pytest.raises(UsageError, match="the notebook itself"):
        compile_pipeline(load_notebook(notebook), target, notebook)
    assert notebook.read_bytes() == before


RESERVED = ["class", "lambda", "import", "dsl", "compiler"]


@pytest.fixture
def keyword_notebook(tmp_path: Path) -> Path:
    cells = [code("n = 3", "pipeline-parameters")]
    previous = "n"
    for i, name in enumerate(RESERVED):
        cells.append(code(f"v{i} = {previous} + 1", f"step:{name}"))
        previous = f"v{i}"
    cells.append(code(previous, "pipeline-metrics"))
    return make_notebook(tmp_path / "keywords.ipynb", cells)


def test_steps_named_after_python_keywords_work_in_every_target_and_locally(
    keyword_notebook: Path, tmp_path: Path
) -> None:
    r = cli("inspect", keyword_notebook, "--json")
    assert r.returncode == 0, r.stderr
    assert [s["name"] for s in json.loads(r.stdout)["steps"]] == RESERVED
    # kfp: the tasks keep the notebook's names
    r = cli("compile", keyword_notebook, "-t", "kfp", "-o", tmp_path / "k.yaml")
    assert r.returncode == 0, r.stderr
    spec = yaml.safe_load((tmp_path / "k.yaml").read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == set(RESERVED)
    assert {t["taskInfo"]["name"] for t in tasks.values()} == set(RESERVED)
    for executor in spec["deploymentSpec"]["executors"].values():
        source = executor["container"]["command"][-1]
        compile(source, "step", "exec")  # valid Python
    # dsl: a valid script that writes the same IR (the kfp SDK's compiler judges it)
    script = tmp_path / "keywords_dsl.py"
    r = cli("compile", keyword_notebook, "-t", "dsl", "-o", script)
    assert r.returncode == 0, r.stderr
    import kfp

    pinned = compile_pipeline(load_notebook(keyword_notebook), "kfp", kfp_runtime=kfp.__version__)
    assert_same_ir(pinned, ir_from_dsl_script(script, tmp_path / "from_dsl.yaml"))
    # argo: valid, with the notebook's names
    r = cli("compile", keyword_notebook, "-t", "argo", "-o", tmp_path / "a.yaml")
    assert r.returncode == 0, r.stderr
    workflow = yaml.safe_load((tmp_path / "a.yaml").read_text())
    validate_workflow(workflow)
    dag = next(t for t in workflow["spec"]["templates"] if "dag" in t)
    assert [t["name"] for t in dag["dag"]["tasks"]] == RESERVED
    # a local run: every step succeeds and the metric is computed
    r = cli("run", keyword_notebook, "--store", tmp_path / "store", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCEEDED" in r.stdout + r.stderr and "v4=8" in r.stdout + r.stderr


def test_a_notebook_nested_too_deeply_is_an_invalid_notebook(tmp_path: Path) -> None:
    deep = tmp_path / "deep.ipynb"
    depth = 100_000
    deep.write_text(
        '{"cells": [], "metadata": {"x": ' + "[" * depth + "]" * depth + "}, "
        '"nbformat": 4, "nbformat_minor": 5}'
    )
    for args in (("inspect", deep), ("compile", deep), ("run", deep)):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert "nested too deeply" in r.stderr and "Traceback" not in r.stderr
        assert "internal error" not in r.stderr
