"""The notebooks in examples/: they compile to every target, run in Jupyter, and match their generator."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from ir_compare import assert_same_ir

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
TARGETS = ["kfp", "argo", "dsl"]


def _cli() -> list[str]:
    """The installed `kfp-jupyter` script of this interpreter (what a user runs), else the module."""
    script = Path(sys.executable).with_name("kfp-jupyter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kfp_jupyter.cli.main"]


def kfpj(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_cli(), *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def _inspect(nb: Path) -> dict[str, Any]:
    r = kfpj("inspect", "--json", nb)
    assert r.returncode == 0, r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def test_there_are_examples() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {"iris_classifier.ipynb", "magics_pipeline.ipynb"} <= names


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_example_compiles(nb: Path, target: str, tmp_path: Path) -> None:
    out = tmp_path / f"out.{target}"
    r = kfpj("compile", nb, "-t", target, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    text = out.read_text(encoding="utf-8")
    name = nbformat.read(str(nb), as_version=4).metadata["kfp_jupyter"]["name"]
    steps = [s["name"] for s in _inspect(nb)["steps"]]
    if target == "kfp":
        from kfp.components import load_component_from_file

        spec = yaml.safe_load(text)
        assert spec["pipelineInfo"]["name"] == name
        assert set(spec["root"]["dag"]["tasks"]) == {s.replace("_", "-") for s in steps}
        assert load_component_from_file(str(out)).name == name
    elif target == "argo":
        from argo_schema import validate_workflow

        docs = [d for d in yaml.safe_load_all(text) if d]
        assert len(docs) == 1
        validate_workflow(docs[0])
    else:
        ast.parse(text)
        assert f"name={name!r}" in text


def test_readme_main_command_runs_the_example_and_says_where_results_are(tmp_path: Path) -> None:
    """The README's main command, `kfp-jupyter run examples/iris_classifier.ipynb`, in a copy."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ".venv/bin/kfp-jupyter run examples/iris_classifier.ipynb" in readme
    (tmp_path / "examples").mkdir()
    nb = tmp_path / "examples" / "iris_classifier.ipynb"
    nb.write_bytes((EXAMPLES / "iris_classifier.ipynb").read_bytes())
    env = {**os.environ, "KFP_JUPYTER_STORE": ""}
    env.pop("KFP_JUPYTER_STORE")
    r = subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "run", "examples/iris_classifier.ipynb"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "SUCCEEDED" in out and "forest_accuracy=" in out
    assert f"results: {tmp_path / '.kfp-jupyter'}" in out
    assert (tmp_path / ".kfp-jupyter").is_dir()


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_dsl_script_of_example_writes_the_kfp_yaml(nb: Path, tmp_path: Path) -> None:
    """The `dsl` output is an editable script; run as it is, it writes what `-t kfp` writes
    (the installed kfp SDK is the pinned runtime here)."""
    assert kfpj("compile", nb, "-t", "dsl", "-o", tmp_path / "pipeline.py").returncode == 0
    assert kfpj("compile", nb, "-t", "kfp", "-o", tmp_path / "direct.yaml").returncode == 0
    r = subprocess.run(
        [sys.executable, "pipeline.py", "from_script.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert_same_ir(
        (tmp_path / "direct.yaml").read_text(), (tmp_path / "from_script.yaml").read_text()
    )


def test_iris_graph_fans_out_and_in() -> None:
    info = _inspect(EXAMPLES / "iris_classifier.ipynb")
    steps = {s["name"]: s for s in info["steps"]}
    assert list(steps) == ["load_data", "split", "train_forest", "train_logreg", "evaluate"]
    assert steps["train_forest"]["after"] == ["split"]
    assert steps["train_logreg"]["after"] == ["split"]
    assert {"train_forest", "train_logreg"} <= set(steps["evaluate"]["after"])
    assert set(steps["evaluate"]["inputs"]) == {"forest", "logreg", "x_test", "y_test"}
    assert steps["train_forest"]["resources"] == {"cpu": "1", "memory": "1Gi"}
    assert "scikit-learn" in {p.split("=")[0] for p in steps["train_forest"]["packages"]}
    assert info["parameters"] == {
        "test_size": 0.3,
        "n_estimators": 50,
        "seed": 7,
        "solver": "lbfgs",
    }
    assert info["metrics"] == ["forest_accuracy", "logreg_accuracy", "forest_f1", "logreg_f1"]


def test_magics_graph_is_inferred_from_data() -> None:
    nb = nbformat.read(str(EXAMPLES / "magics_pipeline.ipynb"), as_version=4)
    assert not any("--after" in c.source for c in nb.cells), (
        "the example must rely on inferred edges"
    )
    assert not any(
        "tags" in c.metadata and any(t.startswith("prev:") for t in c.metadata.tags)
        for c in nb.cells
    )
    steps = {s["name"]: s for s in _inspect(EXAMPLES / "magics_pipeline.ipynb")["steps"]}
    assert steps["make_data"]["after"] == []
    assert steps["clean"]["after"] == ["make_data"]
    assert steps["summary"]["after"] == ["clean"] and steps["fit"]["after"] == ["clean"]
    assert set(steps["report"]["after"]) == {"clean", "summary", "fit"}
    assert steps["report"]["input_sources"] == {
        "frame": "clean",
        "stats": "summary",
        "slope": "fit",
        "intercept": "fit",
    }


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_example_is_saved_clean(nb: Path) -> None:
    """No outputs or execution counts in git, our metadata present, the standard kernel."""
    book = nbformat.read(str(nb), as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert book.metadata["kernelspec"]["name"] == "python3"
    assert set(book.metadata["kfp_jupyter"]) == {"name", "description", "experiment"}


def test_examples_match_their_generator(tmp_path: Path) -> None:
    """examples/_make_examples.py regenerates exactly the committed notebooks."""
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / "_make_examples.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    generated = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert generated == [p.name for p in NOTEBOOKS]
    # and the notebooks the examples run as steps (examples/compose/)
    children = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*.ipynb"))
    assert children == sorted(
        p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.glob("*/*.ipynb")
    )
    for name in [*generated, *children]:
        assert (tmp_path / name).read_bytes() == (EXAMPLES / name).read_bytes(), (
            f"examples/{name} is out of date: run python examples/_make_examples.py"
        )


def _run_notebook(path: Path) -> Any:
    """Run every cell in a `python3` kernel, then one more cell that prints the kernel's prefix."""
    from nbclient import NotebookClient

    book = nbformat.read(str(path), as_version=4)
    book.cells.append(nbformat.v4.new_code_cell("import sys\nprint('@@prefix', sys.prefix)"))
    client = NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    probe = "".join(o.get("text", "") for o in book.cells.pop().outputs)
    assert f"@@prefix {sys.prefix}" in probe, (
        f"the python3 kernel is not this environment's ({probe.strip()}); install it with "
        "`python -m ipykernel install --sys-prefix` or put its kernelspec first on JUPYTER_PATH"
    )
    return book


def _stdout(book: Any) -> str:
    return "".join(
        o.get("text", "")
        for c in book.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream" and o.name == "stdout"
    )


@pytest.mark.slow
def test_iris_runs_top_to_bottom() -> None:
    out = _stdout(_run_notebook(EXAMPLES / "iris_classifier.ipynb"))
    assert "105 training rows, 45 test rows" in out
    assert "best is " in out


@pytest.mark.slow
def test_magics_notebook_runs_top_to_bottom() -> None:
    out = _stdout(_run_notebook(EXAMPLES / "magics_pipeline.ipynb"))
    assert "y = 3.0" in out


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run must run what the README tells people to run, word for word."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    line = next(ln for ln in ci.splitlines() if ln.startswith("README_TEST_COMMAND="))
    command = line.split("=", 1)[1].strip('"')
    assert f"```bash\n{command}\n```" in readme
    assert 'bash -c "$README_TEST_COMMAND"' in ci
