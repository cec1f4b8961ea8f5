"""A notebook mixing Python steps with a v1-style component, a v2 component YAML, a container cell
and a resource cell, compiled to KFP (accepted by the kfp SDK, strictly a PipelineSpec), to Argo
(valid under the official schema, made strict) and to the DSL script (which writes the same IR)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_schema import validate_workflow
from components_util import V1_SPEC, mixed_notebook
from ir_compare import assert_same_ir, ir_from_dsl_script
from nbutil import code, make_notebook

from kfp_jupyter import Pipeline, compile_pipeline, load_notebook


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return load_notebook(mixed_notebook(tmp_path))


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_the_analysis_wires_components_like_any_step(pipeline: Pipeline) -> None:
    steps = {s.name: s for s in pipeline.steps}
    assert [s.kind for s in pipeline.steps] == [
        "python",
        "component",
        "component",
        "container",
        "resource",
        "python",
    ]
    # the DataFrame goes to the v1 component as CSV, the str to the container as a value
    make = steps["make"]
    assert {(e.variable, e.format, e.type) for e in make.exports} == {
        ("table", "csv", None),
        ("label", "value", "str"),
    }
    assert set(make.outputs) == {"table__csv", "label__str"}
    scale = steps["scale"]
    assert scale.after == ("make",) and scale.image == "python:3.11-slim"
    assert [(i.name, i.producer, i.kind) for i in scale.inputs] == [("table__csv", "make", "path")]
    assert scale.outputs == ("scaled_rows", "row_count") and scale.parameters == ("factor",)
    assert scale.limits == {"cpu": "1", "memory": "512Mi"}
    total = steps["total"]
    assert total.gpus == "1" and total.retries == 2
    assert [(i.name, i.producer, i.kind) for i in total.inputs] == [
        ("scaled_rows", "scale", "path")
    ]
    # the Python step reads files as paths and values with their types
    check = steps["check"]
    assert {(i.name, i.producer, i.kind, i.type) for i in check.inputs} == {
        ("scaled_rows", "scale", "path", None),
        ("row_count", "scale", "value", "int"),
        ("total", "total", "value", "float"),
        ("line_count", "count-lines", "value", "int"),
        ("note", "count-lines", "path", None),
    }
    assert steps["settings"].after == ("make",) and steps["settings"].resource is not None
    # the notebook-wide volume is mounted in every step that runs a container
    assert [m.path for m in steps["count-lines"].mounts] == ["/shared", "/scratch"]
    assert [m.path for m in steps["make"].mounts] == ["/shared"]
    assert steps["settings"].mounts == ()
    assert [(v.name, v.size, v.storage_class, v.access_mode) for v in pipeline.volumes] == [
        ("shared", "2Gi", "standard", "ReadWriteMany"),
        ("scratch", "1Gi", "fast", "ReadWriteOnce"),
    ]


def test_tags_and_magics_give_the_same_pipeline(tmp_path: Path) -> None:
    a = load_notebook(mixed_notebook(tmp_path / "a", note_file=tmp_path / "n.txt"))
    b = load_notebook(mixed_notebook(tmp_path / "b", note_file=tmp_path / "n.txt", magics=False))
    for target in ("kfp", "argo"):
        assert compile_pipeline(a, target) == compile_pipeline(b, target)


def test_kfp_ir_is_accepted_by_the_kfp_sdk(pipeline: Pipeline, tmp_path: Path) -> None:
    from google.protobuf import json_format
    from kfp import components
    from kfp.pipeline_spec import pipeline_spec_pb2

    out = tmp_path / "mixed.yaml"
    compile_pipeline(pipeline, "kfp", out)
    assert components.load_component_from_file(str(out)).name == "mixed"
    spec, platform = _docs(out.read_text())
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False)
    tasks = spec["root"]["dag"]["tasks"]
    # every step is a task named after it; two more create the volumes
    assert set(tasks) == {
        "make",
        "scale",
        "total",
        "count-lines",
        "settings",
        "check",
        "createpvc",
        "createpvc-2",
    }
    assert tasks["scale"]["inputs"]["artifacts"]["rows"]["taskOutputArtifact"] == {
        "producerTask": "make",
        "outputArtifactKey": "table__csv",
    }
    assert tasks["scale"]["inputs"]["parameters"]["factor"] == {"componentInputParameter": "factor"}
    assert tasks["count-lines"]["inputs"]["parameters"]["label"]["taskOutputParameter"] == {
        "producerTask": "make",
        "outputParameterKey": "label__str",
    }
    assert tasks["check"]["inputs"]["parameters"]["row_count"]["taskOutputParameter"] == {
        "producerTask": "scale",
        "outputParameterKey": "row_count",
    }
    assert tasks["total"]["retryPolicy"]["maxRetryCount"] == 2
    execs = spec["deploymentSpec"]["executors"]
    # the component's own container, its placeholders in KFP's form
    scale = execs["exec-scale"]["container"]
    assert scale["image"] == "python:3.11-slim"
    assert scale["command"][-4:] == [
        "{{$.inputs.artifacts['rows'].path}}",
        "{{$.inputs.parameters['factor']}}",
        "{{$.outputs.artifacts['scaled_rows'].path}}",
        "{{$.outputs.parameters['row_count'].output_file}}",
    ]
    assert scale["resources"]["resourceCpuLimit"] == "1"
    assert scale["resources"]["resourceMemoryLimit"] == "512Mi"
    gpu = execs["exec-total"]["container"]["resources"]["accelerator"]
    assert (gpu["resourceType"], gpu["resourceCount"]) == ("nvidia.com/gpu", "1")
    # the Python producer writes the value a component takes as an output parameter
    make_outputs = spec["components"]["comp-make"]["outputDefinitions"]
    assert make_outputs["parameters"]["label__str"]["parameterType"] == "STRING"
    assert "table__csv" in make_outputs["artifacts"]
    # the resource step runs kubectl with the manifest
    kubectl = execs["exec-settings"]["container"]
    assert kubectl["image"] == "bitnami/kubectl:latest"
    assert "kubectl apply -f -" in kubectl["command"][2]
    assert "name: mixed-settings" in kubectl["command"][3]
    # volumes: kfp-kubernetes creates the claims and mounts them
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    mounts = {m["mountPath"] for m in k8s["exec-count-lines"]["pvcMount"]}
    assert mounts == {"/shared", "/scratch"}
    assert "exec-settings" not in k8s
    pvcs = {
        t["inputs"]["parameters"]["pvc_name_suffix"]["runtimeValue"]["constant"]: t
        for t in tasks.values()
        if t["componentRef"]["name"].startswith("comp-createpvc")
    }
    assert set(pvcs) == {"-shared", "-scratch"}
    shared = pvcs["-shared"]["inputs"]["parameters"]
    assert shared["size"]["runtimeValue"]["constant"] == "2Gi"
    assert shared["storage_class_name"]["runtimeValue"]["constant"] == "standard"
    assert shared["access_modes"]["runtimeValue"]["constant"] == ["ReadWriteMany"]
    assert pvcs["-shared"]["cachingOptions"] == {}  # a new claim on every run
    env = execs["exec-count-lines"]["container"]["env"]
    assert {"name": "KFPJ_VOLUME_SCRATCH", "value": "/scratch"} in env


def test_dsl_script_reads_well_and_writes_the_same_ir(pipeline: Pipeline, tmp_path: Path) -> None:
    script = tmp_path / "mixed_dsl.py"
    compile_pipeline(pipeline, "dsl", script)
    text = script.read_text()
    assert "from kfp import compiler, components, dsl" in text
    assert text.count("components.load_component_from_text(") == 4
    assert "# Component 'Scale rows' from components/scale_rows.yaml (v1 spec)" in text
    assert "# Component 'column-total' from components/column_total.v2.yaml (v2 spec)" in text
    assert "KFP v2 has no ResourceOp" in text
    assert "scale_task = scale(rows=make_task.outputs['table__csv'], factor=factor)" in text
    assert "kubernetes.CreatePVC(" in text and "kubernetes.mount_pvc(" in text
    assert_same_ir(
        compile_pipeline(pipeline, "kfp"), ir_from_dsl_script(script, tmp_path / "from_dsl.yaml")
    )


def test_argo_workflow_is_valid_and_wired(pipeline: Pipeline) -> None:
    docs = _docs(compile_pipeline(pipeline, "argo"))
    assert len(docs) == 1
    wf = docs[0]
    validate_workflow(wf)
    templates = {t["name"]: t for t in wf["spec"]["templates"]}
    tasks = {t["name"]: t for t in templates["pipeline"]["dag"]["tasks"]}
    scale = templates["scale"]
    assert scale["container"]["image"] == "python:3.11-slim"
    assert scale["container"]["command"][-4:] == [
        "/tmp/kfpj/inputs/table__csv",
        "{{inputs.parameters.factor}}",
        "/tmp/kfpj/outputs/scaled_rows",
        "/tmp/kfpj/outputs/row_count",
    ]
    # a value output is a parameter (for components) and an artifact (for Python steps)
    assert scale["outputs"]["parameters"] == [
        {"name": "row_count", "valueFrom": {"path": "/tmp/kfpj/outputs/row_count"}}
    ]
    assert {a["name"] for a in scale["outputs"]["artifacts"]} == {"scaled_rows", "row_count"}
    assert scale["container"]["resources"]["limits"] == {"cpu": "1", "memory": "512Mi"}
    assert templates["total"]["container"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert templates["total"]["retryStrategy"] == {"limit": "2"}
    assert tasks["scale"]["arguments"] == {
        "parameters": [{"name": "factor", "value": "{{workflow.parameters.factor}}"}],
        "artifacts": [
            {"name": "table__csv", "from": "{{tasks.make.outputs.artifacts.table__csv}}"}
        ],
    }
    assert tasks["count-lines"]["arguments"]["parameters"] == [
        {"name": "label", "value": "{{tasks.make.outputs.parameters.label__str}}"}
    ]
    make = templates["make"]
    assert {"name": "label__str", "valueFrom": {"path": "/tmp/kfpj/outputs/label__str"}} in make[
        "outputs"
    ]["parameters"]
    # the ContainerOp file output is copied to its output path after the command
    count = templates["count-lines"]["container"]
    assert count["command"][:2] == ["sh", "-c"] and "cp -R" in count["command"][2]
    assert {"name": "scratch", "mountPath": "/scratch"} in count["volumeMounts"]
    assert {"name": "KFPJ_VOLUME_SCRATCH", "value": "/scratch"} in count["env"]
    # the resource step is Argo's own resource template
    assert templates["settings"]["resource"]["action"] == "apply"
    assert "kind: ConfigMap" in templates["settings"]["resource"]["manifest"]
    assert tasks["settings"]["dependencies"] == ["make"]
    claims = {c["metadata"]["name"]: c["spec"] for c in wf["spec"]["volumeClaimTemplates"]}
    assert claims["shared"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "2Gi"}},
        "storageClassName": "standard",
    }
    assert claims["scratch"]["storageClassName"] == "fast"


def test_existing_claims_and_a_volume_without_storage_class(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "vol.ipynb",
        [
            code("x = 1", "step:a", "volume:pvc/team-data:/data", "volume:work:/work:5Gi"),
            code("%%step b --volume work:/w\ny = x + 1"),
        ],
    )
    p = load_notebook(nb)
    assert [(v.name, v.claim, v.size) for v in p.volumes] == [
        ("team-data", "team-data", None),
        ("work", None, "5Gi"),
    ]
    assert any("names no storage class" in w.message for w in p.warnings)
    wf = _docs(compile_pipeline(p, "argo"))[0]
    validate_workflow(wf)
    assert wf["spec"]["volumes"] == [
        {"name": "team-data", "persistentVolumeClaim": {"claimName": "team-data"}}
    ]
    b = next(t for t in wf["spec"]["templates"] if t["name"] == "b")
    assert b["script"]["volumeMounts"] == [{"name": "work", "mountPath": "/w"}]
    spec, platform = _docs(compile_pipeline(p, "kfp"))
    mounts = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-a"][
        "pvcMount"
    ]
    by_path = {m["mountPath"]: m["pvcNameParameter"] for m in mounts}
    assert by_path["/data"] == {"runtimeValue": {"constant": "team-data"}}
    assert by_path["/work"] == {
        "taskOutputParameter": {"outputParameterKey": "name", "producerTask": "createpvc"}
    }
    assert "createpvc" in spec["root"]["dag"]["tasks"]


def test_argo_refuses_a_placeholder_only_kfp_fills(tmp_path: Path) -> None:
    from kfp_jupyter import NotebookError

    spec = tmp_path / "exec.yaml"
    spec.write_text(
        "name: Uses executor input\n"
        "implementation:\n  container:\n    image: alpine\n"
        "    command: [echo, {executorInput: null}]\n"
    )
    nb = make_notebook(tmp_path / "n.ipynb", [code("%%component uses-exec exec.yaml\n")])
    p = load_notebook(nb)
    assert compile_pipeline(p, "kfp")
    with pytest.raises(NotebookError, match=r"only KFP fills in"):
        compile_pipeline(p, "argo")


def test_one_component_twice_with_renamed_outputs() -> None:
    """The example notebook runs one component spec in two steps, its outputs named apart."""
    examples = Path(__file__).resolve().parents[2] / "examples"
    p = load_notebook(examples / "components_pipeline.ipynb")
    train = p.step("train_stats")
    assert train.component is not None
    assert train.outputs == ("train_summary", "train_count")
    assert train.component.renames == (("train_summary", "stats"), ("train_count", "row_count"))
    compare = p.step("compare")
    assert {(i.name, i.producer, i.kind) for i in compare.inputs} == {
        ("train_summary", "train_stats", "path"),
        ("train_count", "train_stats", "value"),
        ("test_summary", "test_stats", "path"),
        ("test_count", "test_stats", "value"),
    }
    spec = _docs(compile_pipeline(p, "kfp"))[0]
    inputs = spec["root"]["dag"]["tasks"]["compare"]["inputs"]
    assert inputs["artifacts"]["test_summary"]["taskOutputArtifact"] == {
        "producerTask": "test-stats",
        "outputArtifactKey": "stats",
    }
    assert inputs["parameters"]["train_count"]["taskOutputParameter"] == {
        "producerTask": "train-stats",
        "outputParameterKey": "row_count",
    }
    wf = _docs(compile_pipeline(p, "argo"))[0]
    validate_workflow(wf)
    templates = {t["name"]: t for t in wf["spec"]["templates"]}
    assert templates["train-stats"]["container"]["command"][-2:] == [
        "/tmp/kfpj/outputs/train_summary",
        "/tmp/kfpj/outputs/train_count",
    ]
    tasks = {t["name"]: t for t in templates["pipeline"]["dag"]["tasks"]}
    assert {
        "name": "test_summary",
        "from": "{{tasks.test-stats.outputs.artifacts.test_summary}}",
    } in tasks["compare"]["arguments"]["artifacts"]


def test_a_component_step_can_run_another_image(tmp_path: Path) -> None:
    """--image on a component step replaces the spec's image (e.g. a mirror) on every target."""
    (tmp_path / "c").mkdir()
    shutil.copy(V1_SPEC, tmp_path / "c" / "scale.yaml")
    nb = make_notebook(
        tmp_path / "n.ipynb",
        [
            code("import pandas as pd", "imports"),
            code("t = pd.DataFrame({'b': [1.0]})", "step:m"),
            code("%%component s c/scale.yaml --image mirror.local/python:3.11\nrows = t"),
        ],
    )
    p = load_notebook(nb)
    assert p.step("s").image == "mirror.local/python:3.11"
    spec = _docs(compile_pipeline(p, "kfp"))[0]
    assert spec["deploymentSpec"]["executors"]["exec-s"]["container"]["image"] == (
        "mirror.local/python:3.11"
    )
    wf = _docs(compile_pipeline(p, "argo"))[0]
    s = next(t for t in wf["spec"]["templates"] if t["name"] == "s")
    assert s["container"]["image"] == "mirror.local/python:3.11"


def test_a_compiled_lightweight_python_component_runs_only_on_kfp(tmp_path: Path) -> None:
    """Its command hands KFP's executor `{{$}}`: KFP compiles it, Argo and a local run cannot."""
    import io

    from kfp_jupyter import NotebookError
    from kfp_jupyter.components.local import run_container_step

    script = tmp_path / "make_add.py"
    script.write_text(
        "from kfp import compiler, dsl\n\n\n"
        "@dsl.component(base_image='python:3.11')\n"
        "def add(a: int, b: int) -> int:\n"
        "    return a + b\n\n\n"
        "compiler.Compiler().compile(add, 'add.yaml')\n"
    )
    r = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    nb = make_notebook(
        tmp_path / "n.ipynb",
        [
            code("n = 2", "pipeline-parameters"),
            code("%%component add add.yaml\na = n\nb = 40\ntotal = Output"),
            code("x = total + 1", "step:use"),
        ],
    )
    p = load_notebook(nb)
    assert p.step("use").inputs[0].kind == "value" and p.step("use").inputs[0].type == "int"
    spec = _docs(compile_pipeline(p, "kfp"))[0]
    assert spec["root"]["dag"]["tasks"]["use"]["inputs"]["parameters"]["total"] == {
        "taskOutputParameter": {"producerTask": "add", "outputParameterKey": "Output"}
    }
    with pytest.raises(NotebookError, match=r"uses the placeholder \{\{\$\}\}"):
        compile_pipeline(p, "argo")
    log = io.StringIO()
    result = run_container_step(
        p.step("add"),
        parameters={"n": 2},
        inputs={},
        outputs={"total": tmp_path / "out"},
        work_dir=tmp_path / "work",
        host_exec=True,
        runtime="none",
        log=log,
    )
    assert not result.ok and "so this component runs only on KFP" in log.getvalue()
