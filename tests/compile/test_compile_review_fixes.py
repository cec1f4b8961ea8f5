"""Notebooks that compiled to something broken, or not at all: steps named after builtins, a
container cell's environment taking inputs, names the kfp SDK refuses, a parameter that hides the
script's `kubernetes`, None inside a default, Argo volumes whose names clash, and a step with two
accelerator types. Each target either runs what the notebook means, agreeing with the others, or
refuses with one message naming the cell and the fix."""

from __future__ import annotations

import builtins
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_schema import validate_workflow
from ir_compare import assert_same_ir, docs, ir_from_dsl_script, kfp_local_metrics
from nbutil import code, make_notebook

from kfp_jupyter import Pipeline, compile_pipeline, load_notebook

kfp = pytest.importorskip("kfp")
pytest.importorskip("kfp.kubernetes")

CLI = [sys.executable, "-m", "kfp_jupyter.cli.main"]


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd
    )


def _pinned(notebook: Path) -> Pipeline:
    return dataclasses.replace(load_notebook(notebook), kfp_runtime=kfp.__version__)


def assert_oracle_agrees(notebook: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """The `dsl` script runs, and the kfp SDK writes from it the IR the `kfp` target writes."""
    pipeline = _pinned(notebook)
    ours = docs(compile_pipeline(pipeline, "kfp"))
    script = tmp_path / f"{notebook.stem}_dsl.py"
    compile_pipeline(pipeline, "dsl", script)
    assert_same_ir(ours, ir_from_dsl_script(script, tmp_path / f"{notebook.stem}_sdk.yaml"))
    return ours


def _executors(ir: list[dict[str, Any]]) -> dict[str, Any]:
    executors: dict[str, Any] = ir[0]["deploymentSpec"]["executors"]
    return executors


# --- 1. steps named after builtins --------------------------------------------------------------

BUILTIN_STEPS = ["print", "sorted", "open", "len", "filter"]


@pytest.mark.faults
def test_steps_named_after_builtins_leave_the_builtins_to_the_code(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "builtins.ipynb",
        [
            code("import os", "imports"),
            code("rows = [3, -1, 2, 0]", "step:load"),
            code("ordered = sorted(rows)\nprint('ordered', ordered)", "step:print"),
            code("kept = list(filter(None, ordered))", "step:sorted"),
            code("size = len(kept)\nprint(size)", "step:open"),
            code("with open(os.devnull) as f:\n    f.read()\ntotal = sum(kept)", "step:len"),
            code("result = max(total, size) + len(rows)", "step:filter"),
            code("result", "pipeline-metrics"),
        ],
    )
    # a local run: every step's code finds the builtins (print, len, sorted, open, filter)
    r = cli("run", nb, "--store", tmp_path / "store", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "result=8" in r.stdout + r.stderr
    # kfp: each task keeps its step's name; its function does not take a builtin's
    ir = assert_oracle_agrees(nb, tmp_path)
    assert set(ir[0]["root"]["dag"]["tasks"]) == {"load", *BUILTIN_STEPS}
    functions = {name: e["container"]["args"][-1] for name, e in _executors(ir).items()}
    assert functions["exec-print"] == "print_" and functions["exec-len"] == "len_"
    for executor in _executors(ir).values():
        source = executor["container"]["command"][-1]
        assert not set(re.findall(r"^def (\w+)\(", source, re.M)) & set(dir(builtins))
    # argo: valid, the notebook's names
    r = cli("compile", nb, "-t", "argo", "-o", tmp_path / "wf.yaml")
    assert r.returncode == 0, r.stderr
    workflow = yaml.safe_load((tmp_path / "wf.yaml").read_text())
    validate_workflow(workflow)
    dag = next(t for t in workflow["spec"]["templates"] if "dag" in t)
    assert [t["name"] for t in dag["dag"]["tasks"]] == ["load", *BUILTIN_STEPS]


def test_a_step_name_that_is_a_builtin_is_reserved_in_the_model() -> None:
    from kfp_jupyter.model import function_name

    assert [function_name(n) for n in ("print", "open", "sorted", "class", "dsl")] == [
        "print_",
        "open_",
        "sorted_",
        "class_",
        "dsl_",
    ]
    assert function_name("printer") == "printer"


# --- 2. a container cell's environment taking inputs --------------------------------------------

ENV_CELL = (
    "%%container show --image busybox:1.36\n"
    'command: [sh, -c, \'printf "%s|%s|%s" "$N" "$P" "$L" > "$0"\', {outputPath: got}]\n'
    "env: {N: {inputValue: n}, P: {concat: [x-, {inputValue: n}]}, L: plain}"
)


@pytest.fixture
def env_notebook(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "envs.ipynb",
        [
            code("n = 3", "pipeline-parameters"),
            code(ENV_CELL),
            code(
                "parts = open(got).read().split('|')\nseen = int(parts[0])\n"
                "agree = float(parts[1:] == [f'x-{seen}', 'plain'])",
                "step:check",
            ),
            code("seen\nagree", "pipeline-metrics"),
        ],
    )


def _resolve(arg: str, values: dict[str, str]) -> str:
    """A command-line argument as KFP's launcher fills it in (parameters, output paths, Concat)."""
    if arg.startswith('{"Concat"'):
        return "".join(_resolve(a, values) for a in json.loads(arg)["Concat"])
    for placeholder, value in values.items():
        arg = arg.replace(placeholder, value)
    return arg


def test_container_env_placeholders_reach_the_program_on_every_target(
    env_notebook: Path, tmp_path: Path
) -> None:
    ir = assert_oracle_agrees(env_notebook, tmp_path)
    container = _executors(ir)["exec-show"]["container"]
    # KFP copies a container's env as written: only the literal one is left there
    assert container["env"] == [{"name": "L", "value": "plain"}]
    assert "{{$" not in json.dumps(container["env"])
    # the command, run as KFP's launcher runs it, gives the program the values
    out = tmp_path / "kfp-got"
    values = {
        "{{$.inputs.parameters['n']}}": "5",
        "{{$.outputs.artifacts['got'].path}}": str(out),
    }
    argv = [_resolve(a, values) for a in [*container["command"], *container.get("args", [])]]
    env = {"PATH": "/usr/bin:/bin", **{e["name"]: e["value"] for e in container["env"]}}
    subprocess.run(argv, env=env, check=True, timeout=60)
    assert out.read_text() == "5|x-5|plain"
    # argo sets the variables itself, from its own expressions
    workflow = yaml.safe_load(compile_pipeline(load_notebook(env_notebook), "argo"))
    show = next(t for t in workflow["spec"]["templates"] if t["name"] == "show")
    assert {e["name"]: e["value"] for e in show["container"]["env"]} == {
        "N": "{{inputs.parameters.n}}",
        "P": "x-{{inputs.parameters.n}}",
        "L": "plain",
    }
    validate_workflow(workflow)
    # and a local run gives the same to the program
    r = cli(
        "run",
        env_notebook,
        "-p",
        "n=5",
        "--host-exec",
        "--store",
        tmp_path / "store",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "seen=5" in r.stdout + r.stderr and "agree=1" in r.stdout + r.stderr


def test_a_component_files_env_placeholder_is_refused_by_both_kfp_targets(
    tmp_path: Path,
) -> None:
    (tmp_path / "echo.yaml").write_text(
        "name: Echo\ninputs:\n- {name: msg, type: String}\nimplementation:\n  container:\n"
        "    image: busybox:1.36\n    command: [sh, -c, 'echo \"$MSG\"']\n"
        "    env: {MSG: {inputValue: msg}}\n"
    )
    nb = make_notebook(
        tmp_path / "echo.ipynb",
        [
            code("greeting = 'hi'", "pipeline-parameters"),
            code("msg = greeting", "step:echo", "component:echo.yaml"),
        ],
    )
    for target, out in (("kfp", "e.yaml"), ("dsl", "e.py")):
        r = cli("compile", nb, "-t", target, "-o", tmp_path / out, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert "cell 2 / step 'echo': component 'Echo' (echo.yaml)" in r.stderr
        assert "puts a placeholder in the environment variable MSG, and KFP" in r.stderr
        assert "fix: pass the value on the component's command line" in r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / out).exists()
    r = cli("compile", nb, "-t", "argo", "-o", tmp_path / "e.argo.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


# --- 3. what the kfp SDK refused in the dsl script ----------------------------------------------


def _names_notebook(path: Path) -> Path:
    return make_notebook(
        path,
        [
            code("seed = 2", "pipeline-parameters"),
            code("_rows = [1, 2, seed]\ndonnées = {'a': 1}\nX = [4]", "step:load"),
            code(
                "%%container count --image busybox:1.36\n"
                'command: [sh, -c, \'cat "$0" "$1" > "$2"\', {inputPath: _rows}, '
                "{inputPath: X}, {outputPath: Both}]"
            ),
            code("total = sum(_rows) + len(données) + len(Both)", "step:train"),
            code("total", "pipeline-metrics"),
        ],
    )


def test_names_kfp_refuses_are_renamed_alike_in_both_kfp_targets(tmp_path: Path) -> None:
    ir = assert_oracle_agrees(_names_notebook(tmp_path / "names.ipynb"), tmp_path)
    components = ir[0]["components"]
    # `_rows` and `données` for Python steps, `_rows` and `X` as files for the container cell
    assert set(components["comp-load"]["outputDefinitions"]["artifacts"]) == {
        "rows",
        "donnees",
        "rows__auto",
        "X__auto",
    }
    assert set(components["comp-count"]["inputDefinitions"]["artifacts"]) == {"rows", "x"}
    assert set(components["comp-count"]["outputDefinitions"]["artifacts"]) == {"both"}
    train = ir[0]["root"]["dag"]["tasks"]["train"]["inputs"]["artifacts"]
    assert train["Both"]["taskOutputArtifact"] == {
        "producerTask": "count",
        "outputArtifactKey": "both",
    }
    # the step's code still reads its own names: the function binds them back first thing
    source = _executors(ir)["exec-train"]["container"]["command"][-1]
    assert "    _rows = rows\n    données = donnees\n" in source


@pytest.mark.slow
def test_renamed_inputs_and_outputs_run_in_kfp_local(tmp_path: Path) -> None:
    """The IR the kfp SDK writes from the `dsl` script (the `kfp` target's, as the oracle holds),
    run by `kfp.local` (Python steps as subprocesses), hands `_rows` and `données` on."""
    nb = make_notebook(
        tmp_path / "local.ipynb",
        [
            code("seed = 2", "pipeline-parameters"),
            code("_rows = [1, 2, seed]\ndonnées = {'a': 1, 'b': 2}", "step:load"),
            code("total = sum(_rows) + len(données)", "step:train"),
            code("total", "pipeline-metrics"),
        ],
    )
    script = tmp_path / "local_dsl.py"
    compile_pipeline(_pinned(nb), "dsl", script)
    ir = tmp_path / "local.yaml"
    ir_from_dsl_script(script, ir)
    assert kfp_local_metrics(ir, tmp_path / "kfp-local") == {"total": 7.0}


def test_a_parameter_named_kubernetes_leaves_the_scripts_kubernetes_alone(
    tmp_path: Path,
) -> None:
    nb = make_notebook(
        tmp_path / "k8s.ipynb",
        [
            code("kubernetes = 'k'\ndsl = 1\nsys = 2", "pipeline-parameters"),
            code("x = kubernetes * (dsl + sys)", "step:train", "timeout:30", "label:team:ml"),
            code("y = x", "step:use", "volume:data:/data:1Gi:standard"),
        ],
    )
    ir = assert_oracle_agrees(nb, tmp_path)
    executors = ir[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors["exec-train"]["activeDeadlineSeconds"] == "30"
    script = compile_pipeline(load_notebook(nb), "dsl")
    assert "from kfp import kubernetes as kfp_kubernetes" in script
    assert "def pipeline(kubernetes: str = 'k', dsl: int = 1, sys: int = 2):" in script


def test_none_inside_a_list_or_dict_default_is_kept_in_both_kfp_targets(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nones.ipynb",
        [
            code(
                "bounds = [1, None, {'a': None}]\nopts = {'k': None, 'l': [None, 2]}\n"
                "plain = [1, 2]",
                "pipeline-parameters",
            ),
            code("n = len(bounds) + len(opts) + len(plain)", "step:count"),
        ],
    )
    ir = assert_oracle_agrees(nb, tmp_path)
    params = ir[0]["root"]["inputDefinitions"]["parameters"]
    assert params["bounds"]["defaultValue"] == [1.0, None, {"a": None}]
    assert params["opts"]["defaultValue"] == {"k": None, "l": [None, 2.0]}
    assert params["plain"]["defaultValue"] == [1.0, 2.0]
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    json_format.ParseDict(ir[0], pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)


# --- 4. Argo volumes whose claims' names differ only by '.' and '-' -----------------------------


def test_argo_gives_each_claim_its_own_pod_volume(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "claims.ipynb",
        [
            code(
                "x = 1",
                "step:write",
                "volume:pvc/data.v1:/a",
                "volume:pvc/data-v1:/b",
                "volume:team-claim:/c:1Gi:standard",
                "volume:pvc/team.claim:/d",
            ),
            code("y = x", "step:read", "volume:pvc/data-v1:/b", "volume:pvc/team.claim:/d"),
        ],
    )
    text = compile_pipeline(load_notebook(nb), "argo")
    assert compile_pipeline(load_notebook(nb), "argo") == text  # the same names every time
    workflow = yaml.safe_load(text)
    validate_workflow(workflow)
    spec = workflow["spec"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]}
    templates = [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]]
    assert templates == ["team-claim"]
    assert len(claims) == 3 and not set(claims) & set(templates)
    mounted = {
        t["name"]: {m["mountPath"]: m["name"] for m in t["script"]["volumeMounts"]}
        for t in spec["templates"]
        if "script" in t
    }
    for step, mounts in mounted.items():
        expect = {"/a": "data.v1", "/b": "data-v1", "/d": "team.claim"}
        assert {p: claims[n] for p, n in mounts.items() if n in claims} == {
            p: c for p, c in expect.items() if p in mounts
        }, step
    assert mounted["write"]["/c"] == "team-claim"


# --- 5. a step with two accelerator types --------------------------------------------------------


def test_two_accelerator_types_are_refused_by_both_kfp_targets(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "gpus.ipynb",
        [
            code("a = 1", "step:prep"),
            code("x = a", "step:train", "limit:nvidia.com/gpu:1", "limit:amd.com/gpu:2"),
        ],
    )
    for target, out in (("kfp", "g.yaml"), ("dsl", "g.py")):
        r = cli("compile", nb, "-t", target, "-o", tmp_path / out)
        assert r.returncode == 2, r.stderr
        assert (
            "cell 2 / step 'train': the step asks for 2 kinds of accelerator "
            "(amd.com/gpu, nvidia.com/gpu); KFP gives a step one accelerator type"
        ) in r.stderr
        assert "fix: keep one limit:RESOURCE:N tag" in r.stderr
        assert "Traceback" not in r.stderr and not (tmp_path / out).exists()
    # Argo sets both
    workflow = yaml.safe_load(compile_pipeline(load_notebook(nb), "argo"))
    train = next(t for t in workflow["spec"]["templates"] if t["name"] == "train")
    assert train["script"]["resources"]["limits"] == {"amd.com/gpu": "2", "nvidia.com/gpu": "1"}
