"""Notebooks as steps: a plain notebook is a pipeline of one step, `notebook:PATH` / `%%notebook`
steps run another notebook whole in a real kernel (nbclient), and `compose` makes a pipeline of
several notebooks. Every target compiles them; local runs execute them."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from argo_pods import run_like_argo
from engine_support import kfpj, show, tasks
from ir_compare import docs, kfp_local_metrics
from nbutil import code, make_notebook, md
from notebook_steps_util import child, parent, plain
from topdown import run_top_to_bottom

from kfp_jupyter import compile_pipeline, load_notebook
from kfp_jupyter.errors import NotebookError
from kfp_jupyter.model import NOTEBOOK_OUTPUT

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytest_plugins = ["servers.fixtures"]


def test_a_plain_notebook_is_one_notebook_step(tmp_path: Path) -> None:
    p = load_notebook(plain(tmp_path / "sums.ipynb"))
    assert [s.name for s in p.steps] == ["sums"]
    step = p.steps[0]
    assert step.kind == "notebook" and step.notebook is not None
    assert step.notebook.path == "sums.ipynb"
    assert [(q.name, q.type, q.default) for q in p.parameters] == [
        ("n", "int", 3),
        ("scale", "float", 2.0),
    ]
    assert step.parameters == ("n", "scale")
    assert p.metrics == ("total",) and step.metrics == ("total",)
    assert any(pkg.startswith("nbclient") for pkg in step.packages)
    assert any(pkg.startswith("ipykernel") for pkg in step.packages)
    # without nbconvert a cluster's step keeps the executed notebook as .ipynb only
    assert any(pkg.startswith("nbconvert") for pkg in step.packages)


def test_an_annotated_notebook_keeps_todays_rules(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "half.ipynb", [code("x = 1"), code("y = x + 1", "step:later")])
    with pytest.raises(NotebookError) as e:
        load_notebook(nb)
    assert "comes before any step" in str(e.value)


@pytest.mark.parametrize("tags", [True, False], ids=["tags", "magic"])
def test_a_notebook_step_and_its_wiring(tmp_path: Path, tags: bool) -> None:
    p = load_notebook(parent(tmp_path, tags=tags))
    run_child, use_rows = p.steps
    assert run_child.kind == "notebook" and run_child.notebook is not None
    assert run_child.notebook.path == "children/child.ipynb"
    assert run_child.outputs == ("rows", NOTEBOOK_OUTPUT)
    assert run_child.parameters == ("factor",)
    assert run_child.metrics == ("size",)
    args = {a.input: (a.kind, a.value, a.name) for a in run_child.notebook.arguments}
    assert args == {
        "count": ("literal", 4, ""),
        "factor": ("parameter", None, "factor"),
        "label": ("literal", "from parent", ""),
    }
    assert [(i.name, i.producer) for i in use_rows.inputs] == [("rows", "run_child")]
    assert p.metrics == ("total", "size")


def test_the_magic_and_the_tags_say_the_same(tmp_path: Path) -> None:
    by_tags = load_notebook(parent(tmp_path / "t", tags=True)).to_json()
    by_magic = load_notebook(parent(tmp_path / "m", tags=False)).to_json()
    for data in (by_tags, by_magic):
        data.pop("notebook")
        for s in data["steps"]:  # type: ignore[attr-defined]
            s.pop("cells")
    assert by_tags == by_magic


def test_a_missing_notebook_names_the_cell_and_the_path(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "p.ipynb",
        [md("# x"), code("a = 1", "step:first"), code("%%notebook later nowhere/gone.ipynb")],
    )
    r = kfpj("compile", nb, "-o", tmp_path / "out.yaml")
    assert r.returncode == 2
    assert "cell 3" in r.stderr and "step 'later'" in r.stderr
    assert "'nowhere/gone.ipynb' does not exist" in r.stderr
    assert str(tmp_path / "nowhere" / "gone.ipynb") in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out.yaml").exists()


def test_a_notebook_step_takes_only_values(tmp_path: Path) -> None:
    child(tmp_path / "c.ipynb")
    nb = make_notebook(
        tmp_path / "p.ipynb", [code("%%notebook c c.ipynb\ncount = len('abc')\nprint(count)")]
    )
    with pytest.raises(NotebookError) as e:
        load_notebook(nb)
    text = str(e.value)
    assert "cell 1, line 2" in text and "must be given a literal" in text
    assert "cell 1, line 3" in text and "only 'name = value' lines" in text


# --- local runs: real kernels --------------------------------------------------------------------


def _artifact(store: Path, step: str, name: str, out: Path) -> Path:
    r = kfpj("artifacts", "get", "latest", step, name, "-o", out, store=store)
    assert r.returncode == 0, r.stderr
    return out


def test_a_plain_notebook_runs_with_a_parameter_and_its_metric(tmp_path: Path) -> None:
    nb = plain(tmp_path / "sums.ipynb")
    store = tmp_path / "store"
    r = kfpj("run", nb, "-p", "n=4", "-p", "scale=0.5", store=store)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = show(store)
    assert summary["state"] == "SUCCEEDED"
    assert summary["parameters"] == {"n": 4, "scale": 0.5}
    assert summary["metrics"] == {"total": 3.0}  # (0 + 1 + 2 + 3) * 0.5
    html = _artifact(store, "sums", NOTEBOOK_OUTPUT, tmp_path / "executed.html")
    assert "total 3.0" in html.read_text(encoding="utf-8")


def test_a_plain_notebooks_none_default_stays_in_the_notebook_with_a_warning(
    tmp_path: Path,
) -> None:
    """papermill's `data = None` (a value given only when injected) is no pipeline parameter:
    the notebook runs whole, so the line means there what it always meant."""
    nb = make_notebook(
        tmp_path / "alone.ipynb",
        [
            code("n = 3\ndata = None", "parameters"),
            code("data = data if data is not None else list(range(n))\ntotal = sum(data)"),
            code("total", "pipeline-metrics"),
        ],
    )
    p = load_notebook(nb)
    assert [q.name for q in p.parameters] == ["n"]
    [warning] = [w for w in p.warnings if "'data'" in w.message]
    assert warning.cell == 1 and warning.line == 2
    assert "not a pipeline parameter" in warning.message
    store = tmp_path / "store"
    r = kfpj("run", nb, "-p", "n=5", store=store)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "not a pipeline parameter" in r.stderr
    assert show(store)["metrics"] == {"total": 10.0}


def test_a_notebook_step_runs_and_hands_on_its_variables(tmp_path: Path) -> None:
    nb = parent(tmp_path)
    store = tmp_path / "store"
    r = kfpj("run", nb, "-p", "factor=5", store=store)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = show(store)
    assert {t["name"]: t["state"] for t in summary["tasks"]} == {
        "run_child": "SUCCEEDED",
        "use_rows": "SUCCEEDED",
    }
    # the child got count=4 and factor=5: rows 0..3, size 20; the Python step doubled the rows
    assert summary["metrics"] == {"size": 20.0, "total": 12.0}
    rows = _artifact(store, "run_child", "rows", tmp_path / "rows.json")
    assert json.loads(rows.read_text()) == [0, 1, 2, 3]
    # the executed notebook is kept: its HTML is what `artifacts get` hands out, beside the .ipynb
    html = _artifact(store, "run_child", NOTEBOOK_OUTPUT, tmp_path / "kept.html")
    assert "child from parent 20" in html.read_text(encoding="utf-8")
    (kept,) = store.rglob(f"{NOTEBOOK_OUTPUT}.ipynb")
    executed = nbformat.read(str(kept), as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert "count = 4" in injected[0].source and "factor = 5" in injected[0].source
    # injected right after the parameters cell, as papermill does
    tags = [c.metadata.get("tags", []) for c in executed.cells]
    assert tags.index(["injected-parameters"]) == tags.index(["parameters"]) + 1
    printed = "".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "child from parent 20" in printed


def test_a_plain_notebook_reads_the_data_file_beside_it(tmp_path: Path) -> None:
    """As in Jupyter, the kernel starts in the notebook's folder, whatever folder `run` is typed
    in: `pd.read_csv("data.csv")` finds the file next to the notebook."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "data.csv").write_text("x,y\n1,2\n3,4\n5,6\n", encoding="utf-8")
    nb = make_notebook(
        project / "load.ipynb",
        [
            code("import pandas as pd"),
            code("column = 'x'", "parameters"),
            code("frame = pd.read_csv('data.csv')\ntotal = float(frame[column].sum())"),
            code("total", "pipeline-metrics"),
        ],
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    store = tmp_path / "store"
    r = kfpj("run", nb, "-p", "column=y", store=store, cwd=elsewhere)
    assert r.returncode == 0, r.stdout + r.stderr
    assert show(store)["metrics"] == {"total": 12.0}


def test_a_child_notebook_reads_relative_paths_from_its_own_folder(tmp_path: Path) -> None:
    """A child notebook's relative paths mean what they mean when it is opened in Jupyter (or
    run by papermill with --cwd at it): its own folder, not the pipeline notebook's."""
    child(tmp_path / "children" / "child.ipynb", body="size = int(open('size.txt').read())")
    (tmp_path / "children" / "size.txt").write_text("7\n", encoding="utf-8")
    (tmp_path / "size.txt").write_text("1\n", encoding="utf-8")  # the parent's: not this one
    nb = make_notebook(tmp_path / "p.ipynb", [code("%%notebook sized children/child.ipynb")])
    store = tmp_path / "store"
    r = kfpj("run", nb, store=store)
    assert r.returncode == 0, r.stdout + r.stderr
    assert show(store)["metrics"] == {"size": 7.0}


def test_run_all_in_a_kernel_reads_the_childs_relative_paths_from_its_folder_too(
    tmp_path: Path,
) -> None:
    """Run top to bottom in a kernel, a %%notebook cell runs its child where the step's kernel
    would start (the child's folder), then gives the kernel its own folder back."""
    child(tmp_path / "children" / "child.ipynb", body="size = int(open('size.txt').read())")
    (tmp_path / "children" / "size.txt").write_text("7\n", encoding="utf-8")
    (tmp_path / "size.txt").write_text("1\n", encoding="utf-8")  # the parent's: not this one
    nb = make_notebook(
        tmp_path / "p.ipynb",
        [
            code("%load_ext kfp_jupyter"),
            # IPython runs no cell magic with an empty body: a comment will do
            code("%%notebook sized children/child.ipynb\n# the child's defaults"),
            code("parent_size = int(open('size.txt').read())"),
        ],
    )
    got = run_top_to_bottom(nb, ["size", "parent_size"])
    assert got == {"size": 7.0, "parent_size": 1.0}


def test_a_failure_in_the_notebook_names_its_cell_line_and_exception(tmp_path: Path) -> None:
    child(tmp_path / "bad.ipynb", body="rows = [1]\nsize = 1\nsize = rows[5]")
    nb = make_notebook(tmp_path / "p.ipynb", [code("%%notebook boom bad.ipynb\ncount = 1")])
    store = tmp_path / "store"
    r = kfpj("run", nb, store=store)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "IndexError: list index out of range (notebook bad.ipynb, cell 3, line 3)" in out
    assert tasks(show(store))["boom"]["state"] == "FAILED"
    # the executed notebook is kept all the same: where it failed is in it
    logs = kfpj("runs", "logs", "latest", "boom", store=store)
    assert "IndexError" in logs.stdout + logs.stderr


def test_an_output_the_notebook_does_not_define_is_said_plainly(tmp_path: Path) -> None:
    child(tmp_path / "c.ipynb")
    nb = make_notebook(
        tmp_path / "p.ipynb",
        [
            code("%%notebook c c.ipynb --outputs nothing_here"),
            code("print(nothing_here)", "step:after_it"),
        ],
    )
    r = kfpj("run", nb, store=tmp_path / "store")
    assert r.returncode == 1
    assert "notebook c.ipynb defines no variable 'nothing_here'" in r.stdout + r.stderr


# --- compose ---------------------------------------------------------------------------------------


def test_compose_writes_a_pipeline_notebook_that_runs(tmp_path: Path) -> None:
    make_notebook(
        tmp_path / "nbs" / "make.ipynb",
        [code("start = 10", "parameters"), code("numbers = list(range(start, start + 3))")],
    )
    make_notebook(
        tmp_path / "nbs" / "add.ipynb",
        [
            code("numbers = None\nextra = 1", "parameters"),
            code("result = sum(numbers or []) + extra\nprint('result', result)"),
            code("result", "pipeline-metrics"),
        ],
    )
    out = tmp_path / "pipeline.ipynb"
    r = kfpj(
        "compose",
        tmp_path / "nbs" / "make.ipynb",
        tmp_path / "nbs" / "add.ipynb",
        "--outputs",
        "make:numbers",
        "-o",
        out,
    )
    assert r.returncode == 0, r.stderr
    book = nbformat.read(str(out), as_version=4)
    nbformat.validate(book)
    sources = [c.source for c in book.cells if c.cell_type == "code"]
    assert sources[1] == "start = 10\nextra = 1"
    assert sources[2] == "%%notebook make nbs/make.ipynb --outputs numbers\nstart = start"
    assert (
        sources[3] == "%%notebook add nbs/add.ipynb --after make\nnumbers = numbers\nextra = extra"
    )
    p = load_notebook(out)
    assert [(s.name, s.kind, s.after) for s in p.steps] == [
        ("make", "notebook", ()),
        ("add", "notebook", ("make",)),
    ]
    store = tmp_path / "store"
    r = kfpj("run", out, "-p", "start=1", store=store)
    assert r.returncode == 0, r.stdout + r.stderr
    assert show(store)["metrics"] == {"result": 7.0}  # 1 + 2 + 3 + 1


def test_compose_order_and_after(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        make_notebook(tmp_path / f"{name}.ipynb", [code(f"{name} = 1")])
    out = tmp_path / "p.ipynb"
    nbs = [tmp_path / f"{n}.ipynb" for n in ("a", "b", "c")]
    assert kfpj("compose", *nbs, "--after", "c:a", "--after", "b:", "-o", out).returncode == 0
    p = load_notebook(out)
    assert {s.name: s.after for s in p.steps} == {"a": (), "b": (), "c": ("a",)}
    r = kfpj("compose", *nbs, "--after", "c:zz", "-o", tmp_path / "q.ipynb")
    assert r.returncode == 2 and "'c' cannot run after 'zz'" in r.stderr
    assert not (tmp_path / "q.ipynb").exists()


def test_compose_writes_the_same_bytes_twice(tmp_path: Path) -> None:
    a = plain(tmp_path / "a.ipynb")
    b = child(tmp_path / "b.ipynb")
    written = []
    for _ in range(2):
        assert kfpj("compose", a, b, "-o", tmp_path / "p.ipynb", "--replace").returncode == 0
        written.append((tmp_path / "p.ipynb").read_bytes())
    assert written[0] == written[1]


# --- the magic in a kernel --------------------------------------------------------------------------


def test_the_magic_runs_the_notebook_in_the_kernel(tmp_path: Path) -> None:
    """Run All of a pipeline notebook of %%notebook cells: each runs its notebook here, with the
    cell's values after the notebook's parameters cell, so later cells see its variables."""
    from nbclient import NotebookClient

    parent(tmp_path, tags=False)
    book = nbformat.read(str(tmp_path / "parent.ipynb"), as_version=4)
    book.cells.insert(0, nbformat.v4.new_code_cell("%load_ext kfp_jupyter"))
    book.cells.append(nbformat.v4.new_code_cell("print('@@', rows, size, total)"))
    NotebookClient(
        book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    printed = "".join(o.get("text", "") for o in book.cells[-1].outputs)
    assert "@@ [0, 1, 2, 3] 12 12" in printed  # count=4, factor=3 (the parameter's default)


# --- every target -------------------------------------------------------------------------------


def test_every_target_compiles_and_the_same_bytes_twice(tmp_path: Path) -> None:
    from argo_schema import validate_workflow
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    for nb in (parent(tmp_path / "p"), plain(tmp_path / "plain" / "sums.ipynb")):
        p = load_notebook(nb)
        kfp_text = compile_pipeline(p, "kfp")
        assert compile_pipeline(load_notebook(nb), "kfp") == kfp_text
        spec = docs(kfp_text)[0]
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
        for task in spec["root"]["dag"]["tasks"].values():
            component = spec["components"][task["componentRef"]["name"]]
            artifacts = component["outputDefinitions"]["artifacts"]
            if task["taskInfo"]["name"] in ("run-child", "sums"):
                assert NOTEBOOK_OUTPUT in artifacts
        # the step's container installs what keeps the executed notebook as HTML too
        nbconvert = f"'nbconvert=={version('nbconvert')}'"
        assert nbconvert in kfp_text
        argo_text = compile_pipeline(p, "argo")
        assert compile_pipeline(load_notebook(nb), "argo") == argo_text
        validate_workflow(yaml.safe_load(argo_text))
        dsl_text = compile_pipeline(p, "dsl")
        assert compile_pipeline(load_notebook(nb), "dsl") == dsl_text
        assert nbconvert in dsl_text
        compile(dsl_text, "dsl.py", "exec")


def test_a_plain_notebook_is_submitted_with_its_parameters(kfp_api: Any, tmp_path: Path) -> None:
    from servers.helpers import TOKEN_ENV, cli, no_traceback

    nb = plain(tmp_path / "sums.ipynb")
    result = cli(
        "submit", str(nb), "--host", kfp_api.url, "--token-env", TOKEN_ENV, "-p", "n=5"
    )  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 0, result.output
    [run] = kfp_api.state.runs.values()
    assert run.run["runtime_config"]["parameters"] == {"n": 5, "scale": 2.0}
    [pipeline] = kfp_api.state.pipelines.values()
    [version] = kfp_api.state.versions[pipeline["pipeline_id"]]
    assert set(version["pipeline_spec"]["root"]["dag"]["tasks"]) == {"sums"}


@pytest.mark.slow
def test_the_argo_scripts_run_the_notebook(tmp_path: Path) -> None:
    doc = yaml.safe_load(compile_pipeline(load_notebook(parent(tmp_path / "p")), "argo"))
    metrics = run_like_argo(doc, tmp_path / "pods")
    assert metrics == {"run-child": {"size": 12.0}, "use-rows": {"total": 12.0}}


@pytest.mark.slow
def test_kfp_local_runs_the_ir_of_notebook_steps(tmp_path: Path) -> None:
    """The KFP IR, run by kfp.local (steps as subprocesses): the notebook runs in a kernel."""
    import dataclasses

    import kfp

    p = dataclasses.replace(load_notebook(parent(tmp_path / "p")), kfp_runtime=kfp.__version__)
    ir = tmp_path / "pipeline.yaml"
    compile_pipeline(p, "kfp", ir)
    root = tmp_path / "kfp-local"
    found = kfp_local_metrics(ir, root, factor=2)
    assert found == {"size": 8.0, "total": 12.0}
    assert any(root.rglob(f"{NOTEBOOK_OUTPUT}/{NOTEBOOK_OUTPUT}.ipynb"))
    (html,) = root.rglob(f"{NOTEBOOK_OUTPUT}/{NOTEBOOK_OUTPUT}.html")
    assert "child from parent 8" in html.read_text(encoding="utf-8")


_KFP_NOTEBOOK_COMPONENT = """
import sys
from kfp import components, dsl, local

ir, root, child, theirs = sys.argv[1:]
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root)
components.load_component_from_file(ir)()


@dsl.notebook_component(notebook_path=child, packages_to_install=[], install_kfp_package=False)
def by_kfp(count: int, factor: int, label: str, out: str):
    dsl.run_notebook(count=count, factor=factor, label=label, out=out)


by_kfp(count=4, factor=3, label="given", out=theirs)
"""


@pytest.mark.slow
def test_the_kfp_step_of_a_notebook_does_what_kfp_notebook_component_does(tmp_path: Path) -> None:
    """Where kfp 2.15 or newer is installed, kfp's own `dsl.notebook_component` runs the same
    notebook with the same values: both, run by kfp.local, leave the notebook with the same
    state (the values injected after its parameters cell, its cells run in order)."""
    import dataclasses

    import kfp
    from kfp import dsl

    if not hasattr(dsl, "notebook_component"):
        pytest.skip(f"kfp {kfp.__version__} has no dsl.notebook_component (kfp 2.15 or newer)")
    record = (
        "import json\nsize = count * factor\n"
        "json.dump({'count': count, 'factor': factor, 'label': label, 'size': size}, open(out, 'w'))"
    )
    child = make_notebook(
        tmp_path / "child.ipynb",
        [code("count = 2\nfactor = 1\nlabel = 'none'\nout = ''", "parameters"), code(record)],
    )
    ours, theirs = tmp_path / "ours.json", tmp_path / "theirs.json"
    nb = make_notebook(
        tmp_path / "parent.ipynb",
        [
            code(
                "%%notebook run_child child.ipynb\n"
                f"count = 4\nfactor = 3\nlabel = 'given'\nout = {str(ours)!r}"
            )
        ],
    )
    p = dataclasses.replace(load_notebook(nb), kfp_runtime=kfp.__version__)
    ir = tmp_path / "pipeline.yaml"
    compile_pipeline(p, "kfp", ir)
    script = tmp_path / "by_kfp.py"  # a file: kfp reads the component function's source
    script.write_text(_KFP_NOTEBOOK_COMPONENT, encoding="utf-8")
    r = subprocess.run(
        [sys.executable, str(script), str(ir), str(tmp_path / "root"), str(child), str(theirs)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    expected = {"count": 4, "factor": 3, "label": "given", "size": 12}
    assert json.loads(ours.read_text()) == expected
    assert json.loads(theirs.read_text()) == expected


def test_a_timeout_stops_the_notebook_step(tmp_path: Path) -> None:
    make_notebook(tmp_path / "slow.ipynb", [code("import time\ntime.sleep(600)")])
    nb = make_notebook(tmp_path / "p.ipynb", [code("%%notebook slow slow.ipynb --timeout 5")])
    store = tmp_path / "store"
    r = kfpj("run", nb, store=store)
    assert r.returncode == 1
    assert "timed out after 5 s" in r.stdout + r.stderr
    assert tasks(show(store))["slow"]["state"] == "FAILED"


def test_ctrl_c_cancels_the_notebook_step_and_ends_its_kernel(tmp_path: Path) -> None:
    import signal

    from engine_support import pid_alive, start_kfpj, wait_for

    pid_file = tmp_path / "kernel.pid"
    make_notebook(
        tmp_path / "slow.ipynb",
        [
            code(
                f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
                "time.sleep(600)"
            )
        ],
    )
    nb = make_notebook(tmp_path / "p.ipynb", [code("%%notebook slow slow.ipynb")])
    store = tmp_path / "store"
    runner = start_kfpj("run", nb, store=store)
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text() != "", 120)
        runner.send_signal(signal.SIGINT)
        out, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 130, out
    assert tasks(show(store))["slow"]["state"] == "CANCELLED"
    kernel = int(pid_file.read_text())
    wait_for(lambda: not pid_alive(kernel), 30)
