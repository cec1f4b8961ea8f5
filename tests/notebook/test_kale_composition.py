"""Kale 2's notebook composition: a `notebook:NAME` cell (the path in its metadata
'notebook_path') adds that notebook's steps to the pipeline, and variables flow between notebooks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from engine_support import kfpj, show, states
from every_target import on_every_target
from nbutil import code, make_notebook, md

from kfp_jupyter import NotebookError, load_notebook

if TYPE_CHECKING:
    from kfp_jupyter.errors import Problem
    from kfp_jupyter.model import Pipeline


def ref(name: str, path: str, source: str = "") -> Any:
    """A reference cell as Kale's editor writes it."""
    cell = code(source, f"notebook:{name}")
    cell.metadata["notebook_path"] = path
    return cell


def _problems(nb: Path) -> list[Problem]:
    """The problems loading `nb` is refused with."""
    with pytest.raises(NotebookError) as e:
        load_notebook(nb)
    return e.value.problems


def _warned(pipeline: Pipeline) -> str:
    return "\n".join(f"cell {w.cell}: {w.message}" for w in pipeline.warnings)


def _composition(tmp_path: Path) -> Path:
    """A composing notebook over two notebooks in a subfolder: the second reads what the first
    makes, both have a step 'load', the composing notebook's own step reads the second's result,
    and an untagged cell after a reference belongs to the next step."""
    parts = tmp_path / "parts"
    parts.mkdir()
    make_notebook(
        parts / "prepare.ipynb",
        [
            code("import json", "imports"),
            code("scale = 10\nlabel = 'prep'", "pipeline-parameters"),
            code("values = [1, 2, 3, 4]", "step:load"),
            code("values = [v * scale for v in values]", "step:clean", "prev:load"),
            code("encoded = json.dumps(values)", "step:"),
        ],
        {"kubeflow_notebook": {"pipeline_name": "prepare"}},
    )
    make_notebook(
        parts / "summarize.ipynb",
        [
            md("# Summarize"),
            code("import statistics", "imports"),
            code("mean = statistics.mean(json.loads(encoded))", "step:load"),
            code("summary = f'{label}: mean {mean}'", "step:report", "prev:load"),
        ],
    )
    return make_notebook(
        tmp_path / "main.ipynb",
        [
            md("# Composition"),
            code("scale = 3", "pipeline-parameters"),
            ref("prepare", "./parts/prepare.ipynb"),
            ref("summarize", "parts/summarize.ipynb"),
            code("suffix = '!'"),
            code("final = summary + suffix\nprint(final)\ntotal = mean + len(final)", "step:final"),
            code("total", "pipeline-metrics"),
        ],
        {"kubeflow_notebook": {"pipeline_name": "composed", "experiment_name": "kale"}},
    )


def test_referenced_notebooks_steps_join_the_pipeline_in_reading_order(tmp_path: Path) -> None:
    pipeline = load_notebook(_composition(tmp_path))
    steps = {s.name: s for s in pipeline.steps}
    # summarize's 'load' meets prepare's: renamed after its notebook, its prev: rewritten
    assert list(steps) == ["load", "clean", "summarize_load", "report", "final"]
    assert "load" in steps["clean"].after
    assert "summarize_load" in steps["report"].after
    # variables flow between notebooks: summarize reads prepare's `encoded`, and the
    # composing notebook's own step reads summarize's `summary`
    assert steps["summarize_load"].input_names == ("encoded",)
    assert "summary" in steps["final"].input_names
    # the composing notebook's step runs after both notebooks (Kale's reading order)
    assert {"load", "clean", "summarize_load", "report"} <= set(steps["final"].after)
    # the composing notebook's parameter wins; the referenced one's other parameter joins
    assert {p.name: p.default for p in pipeline.parameters} == {"scale": 3, "label": "prep"}
    # the untagged cell after the reference belongs to the next step, not to 'report'
    assert "suffix = '!'" in steps["final"].source
    assert "suffix" not in steps["report"].source
    warned = _warned(pipeline)
    assert "in parts/summarize.ipynb, cell 3: step 'load' is named 'summarize_load'" in warned
    assert "in parts/prepare.ipynb, cell 2, line 1: parameter 'scale' takes this notebook's" in (
        warned
    )
    assert "cell 3: the steps of parts/prepare.ipynb join this pipeline" in warned
    # the composing notebook's step lists only its own cells
    assert steps["final"].cells == (5, 6)
    assert steps["clean"].cells == ()


def test_a_composition_compiles_to_every_target(tmp_path: Path) -> None:
    pipeline = load_notebook(_composition(tmp_path))
    spec = on_every_target(pipeline, tmp_path)[0][0]
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"load", "clean", "summarize-load", "report", "final"}
    assert "report" in tasks["final"]["dependentTasks"]


def test_a_composition_runs_with_variables_flowing_between_notebooks(tmp_path: Path) -> None:
    nb = _composition(tmp_path)
    store = tmp_path / "store"
    r = kfpj("run", nb, "-p", "scale=2", store=store)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = show(store)
    assert set(states(summary)) == {"load", "clean", "summarize_load", "report", "final"}
    assert set(states(summary).values()) == {"SUCCEEDED"}
    # [1, 2, 3, 4] scaled by the run's 2 in prepare, averaged in summarize (5), then main's
    # own step adds the length of 'prep: mean 5!' (13)
    assert summary["metrics"]["total"] == 18


def _with_settings(tmp_path: Path, child_metadata: dict[str, Any]) -> Path:
    """A composing notebook with settings of its own, over a notebook with `child_metadata`."""
    make_notebook(
        tmp_path / "prep.ipynb",
        [
            code("rows = [1, 2]", "step:load"),
            code("total = sum(rows)", "step:fit", "limit:cpu:4"),
            code(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: s",
                "step:cfg",
                "resource:apply",
            ),
        ],
        child_metadata,
    )
    parent = {
        "kubeflow_notebook": {
            "base_image": "main:1",
            "steps_defaults": ["label:team:main", "label:owner:ann", "limit:memory:1Gi"],
        }
    }
    return make_notebook(
        tmp_path / "main.ipynb",
        [ref("prep", "./prep.ipynb"), code("print(total)", "step:report")],
        parent,
    )


def test_a_referenced_notebooks_own_settings_apply_to_its_steps(tmp_path: Path) -> None:
    """As in Kale, a referenced notebook's metadata applies to its steps: a step's own settings
    first, then its notebook's (steps_defaults, caching, base image, volumes), then the composing
    notebook's; the composing notebook's steps take only their notebook's."""
    child = {
        "kubeflow_notebook": {
            "base_image": "prep:2",
            "enable_caching": False,
            "steps_defaults": ["label:team:prep", "limit:cpu:2"],
            "volumes": [
                {
                    "type": "new_pvc",
                    "name": "work",
                    "mount_point": "/work",
                    "size": 1,
                    "size_type": "Gi",
                    "storage_class_name": "standard",
                },
            ],
        },
        "kfp_jupyter": {"packages": ["tabulate==0.9.0"]},
    }
    pipeline = load_notebook(_with_settings(tmp_path, child))
    steps = {s.name: s for s in pipeline.steps}
    for name in ("load", "fit"):
        s = steps[name]
        assert s.image == "prep:2", name
        assert s.labels == {"team": "prep", "owner": "ann"}, name
        assert s.cache is False, name
        assert [m.path for m in s.mounts] == ["/work"], name
        assert "tabulate==0.9.0" in s.packages, name
    assert steps["load"].limits == {"cpu": "2", "memory": "1Gi"}
    assert steps["fit"].limits == {"cpu": "4", "memory": "1Gi"}  # the step's own wins
    # the notebook's volumes go where its containers run, not into its resource step
    assert steps["cfg"].mounts == ()
    report = steps["report"]
    assert (report.image, report.cache) == ("main:1", True)
    assert report.labels == {"team": "main", "owner": "ann"}
    assert report.mounts == () and report.limits == {"memory": "1Gi"}
    assert [v.name for v in pipeline.volumes] == ["work"]
    assert "not applied" not in _warned(pipeline)
    on_every_target(pipeline, tmp_path)


def test_a_problem_in_a_referenced_notebooks_settings_names_that_notebook(tmp_path: Path) -> None:
    child = {"kubeflow_notebook": {"steps_defaults": "label:team:prep"}}
    (problem,) = _problems(_with_settings(tmp_path, child))
    assert problem.message.startswith(
        "in prep.ipynb: notebook metadata 'kubeflow_notebook.steps_defaults' must be a list"
    ), problem.message
    assert problem.fix


def test_a_function_two_notebooks_define_differently_is_an_error_naming_both(
    tmp_path: Path,
) -> None:
    """The composed pipeline has one functions block for every step: a referenced notebook's
    `clean` would silently replace this notebook's in this notebook's steps too."""
    make_notebook(
        tmp_path / "child.ipynb",
        [
            code("import numpy as np\nimport json", "imports"),
            code("def clean(x):\n    return x * 100", "functions"),
            code("b = clean(2)", "step:two"),
        ],
    )
    nb = _main(
        tmp_path,
        code("import numpy as np", "imports"),
        code("def clean(x):\n    return x + 1", "functions"),
        code("a = clean(1)", "step:one"),
        ref("child", "./child.ipynb"),
    )
    (problem,) = _problems(nb)  # numpy, imported alike in both, is no clash
    assert problem.message.startswith("in child.ipynb, cell 2, line 1: 'clean' is defined here")
    assert "this notebook's functions cell" in problem.message
    assert problem.fix


def test_a_step_of_a_referenced_notebook_fails_in_that_notebooks_terms(tmp_path: Path) -> None:
    """The traceback names the referenced notebook and its own cell and line, not a number the
    composing notebook does not have; nothing marks a cell of the composing notebook."""
    (tmp_path / "parts").mkdir()
    make_notebook(
        tmp_path / "parts" / "fit.ipynb",
        [
            md("# Fit"),
            code("rows = [1, 2]", "step:load"),
            code("total = sum(rows)\nratio = total / (len(rows) - 2)", "step:fit"),
        ],
    )
    nb = make_notebook(tmp_path / "main.ipynb", [ref("fit", "parts/fit.ipynb")])
    store = tmp_path / "store"
    r = kfpj("run", nb, store=store)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "ZeroDivisionError: division by zero" in out
    assert "parts/fit.ipynb, cell 3, line 2, in step fit" in out
    assert "ratio = total / (len(rows) - 2)" in out
    assert "cell 100" not in out  # the pipeline's internal numbers for spliced cells
    logs = kfpj("runs", "logs", "latest", "fit", store=store)
    assert "parts/fit.ipynb, cell 3, line 2, in step fit" in logs.stdout + logs.stderr


def test_kfp_jupyters_own_notebook_step_is_unchanged(tmp_path: Path) -> None:
    """`notebook:PATH` with a step tag and no 'notebook_path' metadata runs a notebook whole."""
    make_notebook(tmp_path / "child.ipynb", [code("x = 1")])
    nb = make_notebook(tmp_path / "main.ipynb", [code("", "step:whole", "notebook:child.ipynb")])
    (step,) = load_notebook(nb).steps
    assert step.kind == "notebook"


def _main(tmp_path: Path, *cells: Any) -> Path:
    return make_notebook(tmp_path / "main.ipynb", list(cells))


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("./missing.ipynb", "does not exist"),
        ("", "the path is empty"),
        ("./main.ipynb", "a reference cycle"),
        ("./broken.ipynb", "not a valid notebook"),
    ],
)
def test_a_reference_that_cannot_be_read_is_one_error_naming_cell_and_path(
    tmp_path: Path, path: str, said: str
) -> None:
    (tmp_path / "broken.ipynb").write_text("{not json")
    nb = _main(tmp_path, code("x = 1", "step:a"), ref("part", path))
    (problem,) = _problems(nb)
    assert problem.cell == 2
    assert f"'notebook:part' to {path!r}" in problem.message
    assert said in problem.message
    assert problem.fix


def test_a_cycle_through_a_referenced_notebook_is_an_error(tmp_path: Path) -> None:
    make_notebook(tmp_path / "part.ipynb", [ref("main", "./main.ipynb")])
    nb = _main(tmp_path, ref("part", "./part.ipynb"), code("x = 1", "step:a"))
    (problem,) = _problems(nb)
    assert problem.cell == 1
    assert "references this one back (its cell 1), a reference cycle" in problem.message


def test_nested_references_and_code_in_a_reference_are_refused_as_kale_refuses_them(
    tmp_path: Path,
) -> None:
    make_notebook(tmp_path / "leaf.ipynb", [code("y = 2", "step:leaf")])
    make_notebook(tmp_path / "mid.ipynb", [ref("leaf", "./leaf.ipynb")])
    nb = _main(tmp_path, ref("mid", "./mid.ipynb"), ref("leaf", "./leaf.ipynb", "z = 1"))
    first, second = _problems(nb)
    assert (first.cell, second.cell) == (1, 2)
    assert "references do not nest" in first.message
    assert "the cell holds code" in second.message


def test_errors_in_a_referenced_notebook_name_its_notebook_and_cell(tmp_path: Path) -> None:
    make_notebook(
        tmp_path / "part.ipynb",
        [md("intro"), code("a = 1", "step:one"), code("b = (", "step:two")],
    )
    nb = _main(tmp_path, ref("part", "./part.ipynb"), code("print(a)", "step:after"))
    (problem,) = _problems(nb)
    assert problem.cell is None
    assert problem.message.startswith("in part.ipynb, cell 3, line 1: syntax error")


def test_untagged_code_after_a_reference_with_no_step_below_is_an_error(tmp_path: Path) -> None:
    make_notebook(tmp_path / "part.ipynb", [code("a = 1", "step:one")])
    nb = _main(tmp_path, ref("part", "./part.ipynb"), code("print(a)"))
    (problem,) = _problems(nb)
    assert problem.cell == 2
    assert "belongs to the next 'step:' cell" in problem.message


def test_a_reference_without_notebook_path_says_what_is_missing(tmp_path: Path) -> None:
    nb = _main(tmp_path, code("", "notebook:prepare"), code("x = 1", "step:a"))
    (problem,) = _problems(nb)
    assert problem.cell == 1
    assert "no 'notebook_path' in its metadata" in problem.message
    assert problem.fix and "'notebook_path'" in problem.fix
