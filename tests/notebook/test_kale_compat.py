"""Notebooks written for Kale compile unchanged: its tag forms, its metadata, its metric rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_schema import validate_workflow
from engine_support import kfpj, show, states
from every_target import same_ir_from_dsl
from ir_compare import kfp_local_metrics
from nbutil import code, make_notebook, md
from topdown import run_top_to_bottom

from kfp_jupyter import compile_pipeline, load_notebook

#: A Kale notebook as Kale's extension leaves it: `block:` and `step:` mixed, bare `block:` and
#: `step:` tags on continuation cells, and a pipeline parameter listed as a metric.
KALE_CELLS = [
    code("import math", "imports"),
    code("def halve(x):\n    return x / 2", "functions"),
    code("rate = 0.5\nrounds = 4", "pipeline-parameters"),
    md("## Load"),
    code("xs = [i * 3 for i in range(rounds)]", "block:load"),
    code("total = sum(xs)", "block:"),
    code(
        "score = halve(total) * math.sqrt(4)",
        "step:train",
        "prev:load",
        "annotation:team.example.com/owner:",
        "limit:memory:1.5Gi",
    ),
    code("score = score + 1", "step:"),
    code("final = score * 10", "block:report", "prev:train", "label:app.kubernetes.io/part-of:"),
    code("score\nprint(final)\nrate", "pipeline-metrics"),
]

KALE_METADATA: dict[str, Any] = {
    "kubeflow_notebook": {
        "pipeline_name": "kale-demo",
        "pipeline_description": "written for Kale",
        "experiment_name": "kale-exp",
        "experiment": {"id": "new", "name": "kale-exp"},
        "docker_image": "python:3.11-slim",
        "volumes": [
            {"type": "pvc", "name": "shared-data", "mount_point": "/shared", "annotations": []},
            {
                "type": "new_pvc",
                "name": "scratch",
                "mount_point": "/scratch",
                "size": 2,
                "size_type": "Gi",
                "snapshot": True,
                "snapshot_name": "snap",
            },
            {"type": "clone", "name": "workspace", "mount_point": "/home/jovyan"},
        ],
        "steps_defaults": ["label:app:demo", "limit:cpu:1", "annotation:note:"],
        "katib_run": True,
        "katib_metadata": {"parameters": [], "objective": {}, "algorithm": {}},
        "autosnapshot": True,
        "snapshot_volumes": True,
        "marshal_volume": True,
        "marshal_path": "/marshal",
    }
}


def _kale(tmp_path: Path, metadata: dict[str, Any] | None = None) -> Path:
    return make_notebook(
        tmp_path / "kale.ipynb", list(KALE_CELLS), KALE_METADATA if metadata is None else metadata
    )


def _tasks_of_ir(text: str) -> dict[str, Any]:
    spec = next(yaml.safe_load_all(text))
    tasks: dict[str, Any] = spec["root"]["dag"]["tasks"]
    return tasks


# --- the tag language


def test_bare_step_tags_continue_the_step_above_and_are_noted(tmp_path: Path) -> None:
    nb = _kale(tmp_path)
    pipeline = load_notebook(nb)
    steps = {s.name: s for s in pipeline.steps}
    assert list(steps) == ["load", "train", "report"]
    # cells are numbered from 1, markdown included: block:load is cell 5, its bare block: cell 6
    assert steps["load"].cells == (5, 6)
    assert steps["train"].cells == (7, 8)
    r = kfpj("inspect", nb)
    assert r.returncode == 0, r.stderr
    shown = r.stdout + r.stderr
    assert "cell 6: tag 'block:' names no step" in shown
    assert "cell 8: tag 'step:' names no step" in shown


def test_a_bare_step_tag_drops_the_cells_other_step_tags_as_kale_does(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "n.ipynb",
        [
            code("a = 1", "step:first"),
            code("b = 2", "step:second"),
            code("c = a + b", "block:", "prev:nowhere", "limit:cpu:8"),
        ],
    )
    pipeline = load_notebook(nb)
    second = next(s for s in pipeline.steps if s.name == "second")
    assert second.cells == (2, 3)
    assert dict(second.limits) == {}
    assert any("its other step tags are ignored" in w.message for w in pipeline.warnings)


def test_kale_tag_values_are_accepted(tmp_path: Path) -> None:
    """Kale allows an empty annotation or label value and decimal memory amounts."""
    pipeline = load_notebook(_kale(tmp_path))
    steps = {s.name: s for s in pipeline.steps}
    assert dict(steps["train"].annotations)["team.example.com/owner"] == ""
    # the KFP SDK takes only whole amounts, so the same amount is written in a smaller unit
    assert dict(steps["train"].limits)["memory"] == "1536Mi"
    assert dict(steps["report"].labels)["app.kubernetes.io/part-of"] == ""
    assert steps["report"].after == ("train",)


# --- the notebook metadata


def test_kale_metadata_is_read_or_warned_about(tmp_path: Path) -> None:
    pipeline = load_notebook(_kale(tmp_path))
    assert pipeline.name == "kale-demo"
    assert pipeline.description == "written for Kale"
    assert pipeline.experiment == "kale-exp"
    for step in pipeline.steps:
        assert step.image == "python:3.11-slim"
        assert dict(step.labels)["app"] == "demo"
        assert dict(step.limits)["cpu"] == "1"
        assert dict(step.annotations)["note"] == ""
        assert {(m.volume, m.path) for m in step.mounts} == {
            ("shared-data", "/shared"),
            ("scratch", "/scratch"),
        }
    warned = "\n".join(w.message for w in pipeline.warnings)
    for key in (
        "katib_run",
        "katib_metadata",
        "autosnapshot",
        "snapshot_volumes",
        "marshal_volume",
        "marshal_path",
    ):
        assert f"'kubeflow_notebook.{key}' is ignored" in warned
    assert "'kubeflow_notebook.volumes[1]': its 'snapshot' setting" in warned
    assert "'kubeflow_notebook.volumes[2]' is ignored: volume type 'clone'" in warned


def test_steps_defaults_in_kales_object_form(tmp_path: Path) -> None:
    meta = {
        "kubeflow_notebook": {
            "pipeline_name": "defaults",
            "steps_defaults": {
                "labels": {"tier": "batch"},
                "limits": {"memory": "2Gi"},
                "annotations": {"a.example.com/x": "y"},
            },
        }
    }
    pipeline = load_notebook(_kale(tmp_path, meta))
    for step in pipeline.steps:
        assert dict(step.labels)["tier"] == "batch"
        assert dict(step.annotations)["a.example.com/x"] == "y"
    # a step's own limit wins over the default
    limits = {s.name: dict(s.limits)["memory"] for s in pipeline.steps}
    assert limits == {"load": "2Gi", "train": "1536Mi", "report": "2Gi"}


# --- the three targets


def test_kfp_ir_is_strictly_a_pipeline_spec_and_reports_the_parameter_metric(
    tmp_path: Path,
) -> None:
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    text = compile_pipeline(load_notebook(_kale(tmp_path)), "kfp")
    docs = list(yaml.safe_load_all(text))
    spec = json_format.ParseDict(
        docs[0], pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False
    )
    assert spec.pipeline_info.name == "kale-demo"
    json_format.ParseDict(docs[1], pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False)
    tasks = _tasks_of_ir(text)
    # the step that reads `rate`... none does, so the first step is handed it and logs it
    assert "rate" in tasks["load"]["inputs"]["parameters"]
    comp = docs[0]["components"][tasks["load"]["componentRef"]["name"]]
    assert comp["outputDefinitions"]["artifacts"]["metrics"]["artifactType"]["schemaTitle"] == (
        "system.Metrics"
    )
    executor = docs[0]["deploymentSpec"]["executors"][comp["executorLabel"]]
    program = "\n".join(executor["container"]["command"] + executor["container"].get("args", []))
    assert "'rate', rate)" in program


def test_the_parameter_metric_goes_to_a_step_that_reads_the_parameter(tmp_path: Path) -> None:
    cells = list(KALE_CELLS)
    cells[8] = code("final = score * 10 * rate", "block:report", "prev:train")
    nb = make_notebook(tmp_path / "reads.ipynb", cells)
    steps = {s.name: s for s in load_notebook(nb).steps}
    assert "rate" in steps["report"].metrics
    assert "rate" not in steps["load"].metrics
    assert "rate" not in steps["load"].parameters


def test_argo_workflow_is_valid_and_reports_the_parameter_metric(tmp_path: Path) -> None:
    doc = yaml.safe_load(compile_pipeline(load_notebook(_kale(tmp_path)), "argo"))
    validate_workflow(doc)
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    load = templates["load"]
    assert "rate" in {p["name"] for p in load["inputs"]["parameters"]}
    assert "rate" in {p["name"] for p in load["outputs"]["parameters"]}
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in doc["spec"].get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    assert "shared-data" in claims
    assert "scratch" in {t["metadata"]["name"] for t in doc["spec"]["volumeClaimTemplates"]}


def test_dsl_script_writes_the_same_ir(tmp_path: Path) -> None:
    same_ir_from_dsl(load_notebook(_kale(tmp_path)), tmp_path)


# --- runs


def _expected(tmp_path: Path, rate: float) -> dict[str, Any]:
    """The metrics of the same notebook run top to bottom with `rate` set."""
    cells = list(KALE_CELLS)
    cells[2] = code(f"rate = {rate!r}\nrounds = 4", "pipeline-parameters")
    nb = make_notebook(tmp_path / "topdown" / "kale.ipynb", cells)
    return run_top_to_bottom(nb, ["score", "final", "rate"])


@pytest.mark.slow
def test_local_run_reports_the_parameter_metric_with_the_runs_value(tmp_path: Path) -> None:
    nb = _kale(tmp_path)
    store = tmp_path / "store"
    r = kfpj("run", nb, "-p", "rate=0.25", store=store)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = show(store)
    assert set(states(summary).values()) == {"SUCCEEDED"}
    assert summary["metrics"] == _expected(tmp_path, 0.25)
    assert summary["metrics"]["rate"] == 0.25


@pytest.mark.slow
def test_ir_run_under_kfp_local_reports_the_parameter_metric(tmp_path: Path) -> None:
    # no volumes: kfp.local runs no Kubernetes
    meta = {"kubeflow_notebook": {"pipeline_name": "kale-local"}}
    yaml_path = tmp_path / "kale.yaml"
    compile_pipeline(load_notebook(_kale(tmp_path, meta)), "kfp", yaml_path)
    got = kfp_local_metrics(yaml_path, tmp_path / "kfp-local", rate=0.75)
    assert got == _expected(tmp_path, 0.75)


def test_step_names_kale_accepts_but_kfp_cannot_take_are_renamed(tmp_path: Path) -> None:
    long_name = "train_" + "x" * 70
    nb = make_notebook(
        tmp_path / "names.ipynb",
        [
            code("a = 1", "step:_prep"),
            code("b = a + 1", f"step:{long_name}", "prev:_prep"),
            code("c = b * 2", "block:report_", f"prev:{long_name}"),
            code("c", "pipeline-metrics"),
        ],
    )
    pipeline = load_notebook(nb)
    steps = {s.name: s for s in pipeline.steps}
    short = long_name[:63]
    assert list(steps) == ["prep", short, "report"]
    assert steps[short].after == ("prep",)
    assert steps["report"].after == (short,)
    warned = [w.message for w in pipeline.warnings]
    assert any("step name '_prep' (which Kale accepts) is read as 'prep'" in w for w in warned)
    validate_workflow(yaml.safe_load(compile_pipeline(pipeline, "argo")))
    assert set(_tasks_of_ir(compile_pipeline(pipeline, "kfp"))) == {
        "prep",
        short.replace("_", "-"),
        "report",
    }


def test_a_bare_step_tag_above_every_step_is_left_out_as_kale_does(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "top.ipynb",
        [code("print('exploring')\nx = 1", "block:"), code("y = 2", "step:only")],
    )
    pipeline = load_notebook(nb)
    assert [(s.name, s.cells) for s in pipeline.steps] == [("only", (2,))]
    assert any(w.cell == 1 and "not part of the pipeline" in w.message for w in pipeline.warnings)


@pytest.mark.parametrize(
    ("given", "stored"),
    [("1.5Gi", "1536Mi"), ("1.3Gi", str(-(-13 * 1024**3 // 10))), ("0.5", "1"), ("2.25M", "2250K")],
)
def test_decimal_memory_limits_kale_accepts_become_whole_amounts(given: str, stored: str) -> None:
    from kfp_jupyter.notebook.limits import check_limit

    # Kubernetes rounds a fraction of a byte up; a whole amount of a smaller unit is kept exact
    assert check_limit("memory", given) == ("memory", stored)
