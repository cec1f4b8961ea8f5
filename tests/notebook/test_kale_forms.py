"""Every form Kale accepts works here as in Kale, or is warned about: the forms beyond those of
test_kale_compat.py (Kale's role tags beside step tags, role names as step names, untagged code
above every step, `report:` tags, limits KFP cannot set, Kale 2's notebook settings)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from engine_support import kfpj, show, states
from every_target import on_every_target
from nbutil import code, make_notebook

from kfp_jupyter import NotebookError, load_notebook

if TYPE_CHECKING:
    from kfp_jupyter.model import Pipeline


def _warned(pipeline: Pipeline) -> str:
    return "\n".join(f"cell {w.cell}: {w.message}" for w in pipeline.warnings)


# --- the tag language


@pytest.mark.parametrize(
    ("tags", "kept"),
    [
        (("step:b", "skip"), "skip"),
        (("skip", "step:b", "prev:a"), "skip"),
        (("functions", "imports"), "functions"),
        (("block:b", "pipeline-metrics"), "pipeline-metrics"),
    ],
)
def test_a_kale_role_tag_beside_a_step_tag_wins_as_in_kale(
    tmp_path: Path, tags: tuple[str, ...], kept: str
) -> None:
    """Kale stops reading a cell's tags at its first role tag, so the cell plays that role and
    its step tags are ignored."""
    source = "print(x)" if kept != "functions" else "def f():\n    return 1"
    nb = make_notebook(
        tmp_path / "roles.ipynb",
        [code("x = 1", "step:a"), code(source, *tags), code("y = x + 1", "step:c")],
    )
    pipeline = load_notebook(nb)
    assert [s.name for s in pipeline.steps] == ["a", "c"]
    assert f"cell 2: the cell is tagged {kept!r}" in _warned(pipeline)
    if kept == "pipeline-metrics":
        assert pipeline.metrics == ("x",)
    on_every_target(pipeline, tmp_path)


def test_kale_role_names_used_as_step_names_are_those_roles(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "named.ipynb",
        [
            code("import os", "step:imports"),
            code("def here():\n    return os.getcwd()", "block:functions"),
            code("x = here()", "step:a"),
            code("print('exploring', x)", "step:skip"),
            code("y = len(x)", "step:b"),
        ],
    )
    pipeline = load_notebook(nb)
    steps = {s.name: s for s in pipeline.steps}
    assert list(steps) == ["a", "b"]
    # every step starts with the imports and functions cells
    assert "import os" in pipeline.imports and "def here" in pipeline.functions
    assert "exploring" not in steps["a"].source + steps["b"].source
    warned = _warned(pipeline)
    assert "cell 1: tag 'step:imports' is read as the tag 'imports'" in warned
    assert "cell 4: tag 'step:skip' is read as the tag 'skip'" in warned


@pytest.mark.parametrize(
    "tags", [("imports", "limit:cpu:1"), ("step:imports", "prev:a", "annotation:a.b/c:d")]
)
def test_step_settings_on_a_kale_role_cell_are_ignored_as_in_kale(
    tmp_path: Path, tags: tuple[str, ...]
) -> None:
    nb = make_notebook(
        tmp_path / "settings.ipynb",
        [code("x = 1", "step:a"), code("import os", *tags), code("y = os.sep + str(x)", "step:b")],
    )
    pipeline = load_notebook(nb)
    steps = {s.name: s for s in pipeline.steps}
    assert list(steps) == ["a", "b"]
    assert dict(steps["b"].limits) == {} and dict(steps["b"].annotations) == {}
    assert "import os" in pipeline.imports
    assert "cell 2: the step settings of this 'imports' cell are ignored" in _warned(pipeline)


def test_a_kale_name_whose_renaming_meets_another_step_gets_a_suffix(tmp_path: Path) -> None:
    """`_prep` and `prep` are two steps in Kale; `_prep` cannot be a KFP task name, and `prep`
    is taken, so it becomes `prep-2` (with a warning naming both) and both run."""
    nb = make_notebook(
        tmp_path / "clash.ipynb",
        [
            code("a = 1", "step:_prep"),
            code("b = a + 10", "step:prep", "prev:_prep"),
            code("c = b * 2", "step:prep_2", "prev:prep"),
            code("c", "pipeline-metrics"),
        ],
    )
    two = make_notebook(
        tmp_path / "two.ipynb", [code("a = 1", "step:_prep"), code("b = a", "step:prep")]
    )
    assert [s.name for s in load_notebook(two).steps] == ["prep-2", "prep"]
    pipeline = load_notebook(nb)
    steps = {s.name: s for s in pipeline.steps}
    # `prep-2` would share the Python name `prep_2` with the third step: the next suffix
    assert list(steps) == ["prep-3", "prep", "prep_2"]
    assert steps["prep"].after == ("prep-3",) and steps["prep_2"].after == ("prep",)
    assert (
        "cell 1: step name '_prep' (which Kale accepts) is read as 'prep-3' "
        "(as another step is called 'prep')"
    ) in _warned(pipeline)
    on_every_target(pipeline, tmp_path)
    store = tmp_path / "store"
    r = kfpj("run", nb, store=store)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "'prep-3'" in r.stderr
    assert show(store)["metrics"] == {"c": 22}


def test_untagged_code_above_every_step_is_left_out_as_in_kale(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "top.ipynb",
        [code("df_preview = list(range(3))\nprint(df_preview)"), code("x = 1", "step:only")],
    )
    pipeline = load_notebook(nb)
    assert [(s.name, s.cells) for s in pipeline.steps] == [("only", (2,))]
    assert "cell 1: this code cell comes before any step" in _warned(pipeline)
    assert "not part of the pipeline" in _warned(pipeline)


def test_untagged_code_above_every_step_that_a_step_needs_is_an_error(tmp_path: Path) -> None:
    """Kale drops it too, and its pipeline then fails when the step runs; here it fails now."""
    nb = make_notebook(
        tmp_path / "top.ipynb", [code("rate = 0.5"), code("x = rate * 2", "step:only")]
    )
    with pytest.raises(NotebookError) as e:
        load_notebook(nb)
    (problem,) = e.value.problems
    assert problem.cell == 1
    assert "later cells read 'rate' from it" in problem.message
    assert problem.fix and "step:NAME" in problem.fix


def test_report_tags_and_limits_kfp_cannot_set_are_warned_and_ignored(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "report.ipynb",
        [
            code("x = 1", "step:a", "report:disabled", "limit:ephemeral-storage:10Gi"),
            code("y = x + 1", "step:b", "report:enabled", "limit:cpu:0.5"),
        ],
    )
    pipeline = load_notebook(nb)
    steps = {s.name: s for s in pipeline.steps}
    assert dict(steps["a"].limits) == {}
    assert dict(steps["b"].limits) == {"cpu": "0.5"}
    warned = _warned(pipeline)
    assert "cell 1: tag 'report:disabled' is ignored" in warned
    assert "cell 2: tag 'report:enabled' is ignored" in warned
    assert "cell 1: tag 'limit:ephemeral-storage:10Gi' is ignored" in warned
    docs, argo = on_every_target(pipeline, tmp_path)
    assert "ephemeral-storage" not in yaml.safe_dump(docs) + yaml.safe_dump(argo)


def test_kales_notebook_reference_composes_the_notebook_it_names(tmp_path: Path) -> None:
    """Kale 2's composition (`notebook:NAME`, the path in the cell's metadata) splices another
    notebook's steps into this pipeline (tests/notebook/test_kale_composition.py has the rest)."""
    make_notebook(tmp_path / "prepare.ipynb", [code("prediction = 41 + 1", "step:predict")])
    cell = code("", "notebook:prepare")
    cell.metadata["notebook_path"] = "./prepare.ipynb"
    nb = make_notebook(tmp_path / "main.ipynb", [cell, code("print(prediction)", "step:final")])
    steps = {s.name: s for s in load_notebook(nb).steps}
    assert list(steps) == ["predict", "final"]
    assert steps["final"].input_names == ("prediction",)


# --- Kale's notebook settings


#: Kale's own test notebook (kale/tests/assets/notebooks/pipeline_parameters_and_metrics.ipynb,
#: Kale 2.3): caching off for the pipeline, one step turning it on, a GPU limit, parameters
#: listed as metrics.
KALE_ASSET_CELLS = [
    code("import numpy as np", "imports"),
    code("d1 = 5\nd2 = 6\nbooltest = True\nstrtest = 'test'", "pipeline-parameters"),
    code(
        "rnd_matrix = np.random.rand(d1, d2)",
        "limit:nvidia.com/gpu:2",
        "step:create_matrix",
        "cache:enabled",
    ),
    code("sum_result = rnd_matrix.sum()", "prev:create_matrix", "step:sum_matrix"),
    code("print(d1)\nprint(d2)\nprint(sum_result)", "pipeline-metrics"),
]
KALE_ASSET_METADATA = {
    "kubeflow_notebook": {
        "base_image": "",
        "experiment_name": "hp-tuning",
        "katib_run": False,
        "pipeline_description": "",
        "pipeline_name": "hp-test",
        "enable_caching": False,
        "volumes": [],
    }
}


def test_kales_enable_caching_false_turns_caching_off_unless_a_step_turns_it_on(
    tmp_path: Path,
) -> None:
    nb = make_notebook(tmp_path / "hp.ipynb", KALE_ASSET_CELLS, KALE_ASSET_METADATA)
    pipeline = load_notebook(nb)
    assert {s.name: s.cache for s in pipeline.steps} == {
        "create_matrix": True,
        "sum_matrix": False,
    }
    assert pipeline.metrics == ("d1", "d2", "sum_result")
    docs, _ = on_every_target(pipeline, tmp_path)
    tasks = docs[0]["root"]["dag"]["tasks"]
    assert tasks["create-matrix"]["cachingOptions"] == {"enableCache": True}
    assert tasks["sum-matrix"]["cachingOptions"] == {}


@pytest.mark.slow
def test_kales_test_notebook_runs_here_with_its_parameters_as_metrics(tmp_path: Path) -> None:
    # no GPU here: the same notebook without its GPU limit
    cells = list(KALE_ASSET_CELLS)
    cells[2] = code("rnd_matrix = np.random.rand(d1, d2)", "step:create_matrix", "cache:enabled")
    nb = make_notebook(tmp_path / "hp.ipynb", cells, KALE_ASSET_METADATA)
    store = tmp_path / "store"
    r = kfpj("run", nb, "-p", "d1=3", "-p", "d2=4", store=store)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = show(store)
    assert set(states(summary).values()) == {"SUCCEEDED"}
    metrics = summary["metrics"]
    assert (metrics["d1"], metrics["d2"]) == (3, 4)
    # the sum of a 3x4 matrix of numbers in [0, 1)
    assert 0 <= metrics["sum_result"] < 12


def test_kale_2_steps_defaults_object_is_read(tmp_path: Path) -> None:
    """The object Kale's parser makes of steps_defaults, as Kale 2 notebooks may store it."""
    meta = {
        "kubeflow_notebook": {
            "pipeline_name": "defaults",
            "steps_defaults": {
                "base_image": "python:3.12-slim",
                "enable_caching": False,
                "secrets": {"DB_PASSWORD": {"secret_name": "db", "secret_key": "password"}},
                "generate_html_report": True,
                "labels": {"tier": "batch"},
            },
        }
    }
    nb = make_notebook(
        tmp_path / "d.ipynb",
        [code("x = 1", "step:a"), code("y = x", "step:b", "image:python:3.11-slim")],
        meta,
    )
    pipeline = load_notebook(nb)
    steps = {s.name: s for s in pipeline.steps}
    assert steps["a"].image == "python:3.12-slim"
    assert steps["b"].image == "python:3.11-slim"  # a step's own setting wins
    for step in steps.values():
        assert not step.cache
        assert [(s.secret, s.key, s.env) for s in step.secrets] == [
            ("db", "password", "DB_PASSWORD")
        ]
        assert dict(step.labels) == {"tier": "batch"}
    assert "steps_defaults.generate_html_report' is ignored" in _warned(pipeline)
    on_every_target(pipeline, tmp_path)


def test_kale_2_steps_defaults_list_with_report_is_read_and_warned(tmp_path: Path) -> None:
    meta = {
        "kubeflow_notebook": {
            "pipeline_name": "defaults",
            "steps_defaults": ["image:python:3.12-slim", "cache:disabled", "report:disabled"],
        }
    }
    nb = make_notebook(tmp_path / "d.ipynb", [code("x = 1", "step:a")], meta)
    pipeline = load_notebook(nb)
    (step,) = pipeline.steps
    assert (step.image, step.cache) == ("python:3.12-slim", False)
    assert "steps_defaults': tag 'report:disabled' is ignored" in _warned(pipeline)


def test_kale_volume_storage_class_and_access_mode_are_kept(tmp_path: Path) -> None:
    meta = {
        "kubeflow_notebook": {
            "pipeline_name": "volumes",
            # Kale's defaults for every volume that names none
            "storage_class_name": "fast",
            "volume_access_mode": "rwm",
            "volumes": [
                {
                    "type": "new_pvc",
                    "name": "data",
                    "mount_point": "/data",
                    "size": 1,
                    "size_type": "Gi",
                    "storage_class_name": "slow",
                    "volume_access_mode": "rom",
                },
                {"type": "new_pvc", "name": "scratch", "mount_point": "/scratch", "size": 2},
                {
                    "type": "pvc",
                    "name": "raw-data",
                    "mount_point": "/raw",
                    "expose_as_env_var": True,
                },
            ],
        }
    }
    nb = make_notebook(tmp_path / "v.ipynb", [code("x = 1", "step:a")], meta)
    pipeline = load_notebook(nb)
    volumes = {v.name: v for v in pipeline.volumes}
    assert (volumes["data"].storage_class, volumes["data"].access_mode) == (
        "slow",
        "ReadOnlyMany",
    )
    assert (volumes["scratch"].storage_class, volumes["scratch"].access_mode) == (
        "fast",
        "ReadWriteMany",
    )
    assert volumes["raw-data"].claim == "raw-data"
    warned = _warned(pipeline)
    assert "environment variable KFPJ_VOLUME_RAW_DATA here" in warned
    assert "KALE_VOLUME_RAW_DATA" in warned
    assert "storage_class_name' is ignored" not in warned
    docs, argo = on_every_target(pipeline, tmp_path)
    # KFP makes each new volume in a CreatePVC task, given its class and modes as constants
    ir = yaml.safe_dump(docs[0])
    assert "- ReadOnlyMany" in ir and "constant: slow" in ir
    assert "- ReadWriteMany" in ir and "constant: fast" in ir
    claims = {t["metadata"]["name"]: t["spec"] for t in argo["spec"]["volumeClaimTemplates"]}
    assert claims["data"]["storageClassName"] == "slow"
    assert claims["data"]["accessModes"] == ["ReadOnlyMany"]
    assert claims["scratch"]["accessModes"] == ["ReadWriteMany"]


def test_kale_2_settings_with_no_counterpart_are_warned_about(tmp_path: Path) -> None:
    meta = {
        "kubeflow_notebook": {
            "pipeline_name": "misc",
            "experiment_name": "e",
            "timeout": 600,
            "security_context": {"enabled": True, "run_as_user": 1000},
            "output_path": "pipelines",
            "kfp_host": "http://ml-pipeline:8888",
        }
    }
    nb = make_notebook(tmp_path / "m.ipynb", [code("x = 1", "step:a")], meta)
    pipeline = load_notebook(nb)
    warned = _warned(pipeline)
    for key in ("timeout", "security_context", "output_path", "kfp_host"):
        assert f"'kubeflow_notebook.{key}' is ignored" in warned
    (step,) = pipeline.steps
    assert step.timeout is None
    assert pipeline.experiment == "e"
