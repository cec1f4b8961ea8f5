"""The `argo` target: a Workflow that Argo's strict schema accepts, wired like the notebook's data flow,
and whose step scripts, run the way Argo runs them, give the notebook's own results."""

from __future__ import annotations

import ast
import copy
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_pods import artifact_from, run_like_argo, tasks_by_name, templates_by_name
from argo_schema import WorkflowSchemaError, validate_workflow
from nbutil import code, make_notebook, md

from kfp_jupyter import compile_pipeline, load_notebook
from kfp_jupyter.compile.argo import dump_yaml, pip_header
from kfp_jupyter.compile.argo import workflow as argo_workflow
from kfp_jupyter.packaging.program import build_program

CELLS = [
    code(
        "import numpy as np\nimport pandas as pd\nfrom sklearn.linear_model import LinearRegression",
        "imports",
    ),
    code("def score(model, X, y):\n    return float(model.score(X, y))", "functions"),
    code(
        "n_rows = 60\nnoise = 0.25\nlabel = 'run \"one\": {x} $HOME'\nfit_intercept = True\n"
        "coefs = [1.5, -2.0, 0.5]\nopts = {'seed': 7, 'scale': 2.0}",
        "pipeline-parameters",
    ),
    md("# Data"),
    code(
        "rng = np.random.default_rng(opts['seed'])\nX = rng.normal(size=(n_rows, len(coefs)))\n"
        "y = X @ np.array(coefs) + noise * rng.normal(size=n_rows)\n"
        "df = pd.DataFrame(X, columns=[f'x{i}' for i in range(len(coefs))])",
        "step:load",
    ),
    code(
        "%%step train_a --after load --cpu 1 --memory 512Mi --retries 2\n"
        "model_a = LinearRegression(fit_intercept=fit_intercept).fit(df.values, y)"
    ),
    # no prev: the edge from load is inferred from the data the step reads
    code(
        "model_b = LinearRegression(fit_intercept=not fit_intercept).fit(df.values * opts['scale'], y)",
        "step:train-b",
        "limit:nvidia.com/gpu:1",
        "limit:example.com/fpga:2",
        "timeout:600",
        "secret:creds:token:API_TOKEN",
        "label:team:ml",
        "annotation:owner:data-team",
        "cache:disabled",
        "packages:scikit-learn==1.5.2",
        "packages:pandas",
    ),
    code(
        "r2_a = score(model_a, df.values, y)\nr2_b = score(model_b, df.values * opts['scale'], y)\n"
        'tag = f"{{{label}}}"\nbraces = len(tag) + len(f"{{}}") + len("{{workflow.name}}")\nprint(tag)',
        "step:evaluate",
    ),
    code("best = max(r2_a, r2_b)", "step:report_final"),
    code("print('not part of the pipeline')", "skip"),
    code("r2_a\nprint(r2_b)\nbraces\nbest", "pipeline-metrics"),
]

#: The notebook's data flow, written out by hand (not read back from the analysis).
EDGES = {
    "load": set(),
    "train-a": {"load"},
    "train-b": {"load"},
    "evaluate": {"load", "train-a", "train-b"},
    "report-final": {"evaluate"},
}
WIRING = {  # consumer task -> {artifact: producer task}
    "load": {},
    "train-a": {"df": "load", "y": "load"},
    "train-b": {"df": "load", "y": "load"},
    "evaluate": {"df": "load", "y": "load", "model_a": "train-a", "model_b": "train-b"},
    "report-final": {"r2_a": "evaluate", "r2_b": "evaluate"},
}
PARAMETERS_USED = {
    "load": {"n_rows", "noise", "coefs", "opts"},
    "train-a": {"fit_intercept"},
    "train-b": {"fit_intercept", "opts"},
    "evaluate": {"label", "opts"},
    "report-final": set(),
}
METRICS = ["r2_a", "r2_b", "braces", "best"]
SECRETS = {("creds", "token"): "not-a-real-token"}


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "regression.ipynb",
        CELLS,
        {"kfp_jupyter": {"name": "regression-demo", "description": "two models, one winner"}},
    )


@pytest.fixture
def workflow(notebook: Path) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(compile_pipeline(load_notebook(notebook), "argo"))
    return doc


# --- the schema


def test_workflow_is_valid_under_the_strict_official_schema(workflow: dict[str, Any]) -> None:
    validate_workflow(workflow)
    assert workflow["apiVersion"] == "argoproj.io/v1alpha1"
    assert workflow["kind"] == "Workflow"
    assert workflow["metadata"]["generateName"] == "regression-demo-"
    assert workflow["metadata"]["labels"] == {"kfp-jupyter/pipeline": "regression-demo"}
    notes = workflow["metadata"]["annotations"]
    assert notes["kfp-jupyter/pipeline"] == "regression-demo"
    assert notes["kfp-jupyter/notebook"] == "regression.ipynb"
    assert notes["workflows.argoproj.io/description"] == "two models, one winner"
    # Argo has no parameter types: the annotation keeps them (compact JSON, in parameter order)
    # for `kfp-jupyter submit` to check -p values with
    assert notes["kfp-jupyter/parameters"] == (
        '{"n_rows":"int","noise":"float","label":"str","fit_intercept":"bool",'
        '"coefs":"list","opts":"dict"}'
    )


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("misspelt template field", lambda d: d["spec"]["templates"][1].update(retryStratgy={})),
        ("misspelt script field", lambda d: d["spec"]["templates"][1]["script"].update(imagee="x")),
        ("unknown spec field", lambda d: d["spec"].update(entrypoints="x")),
        ("wrong type", lambda d: d["spec"]["templates"][0]["dag"].update(tasks="load")),
        ("missing required", lambda d: d["spec"]["templates"][1]["script"].pop("image")),
        ("wrong kind", lambda d: d.update(kind="WorkflowTemplate")),
    ],
)
def test_the_validator_rejects_broken_documents(
    workflow: dict[str, Any], where: str, change: Any
) -> None:
    broken = copy.deepcopy(workflow)
    change(broken)
    with pytest.raises(WorkflowSchemaError) as err:
        validate_workflow(broken)
    assert err.value.problems, where


def test_the_validator_names_the_path_of_a_misspelt_field(workflow: dict[str, Any]) -> None:
    broken = copy.deepcopy(workflow)
    broken["spec"]["templates"][2]["script"]["resources"] = {"limit": {"cpu": "1"}}
    with pytest.raises(
        WorkflowSchemaError, match=r"spec\.templates\[2\]\.script\.resources: .*'limit'"
    ):
        validate_workflow(broken)


def test_the_validator_accepts_numbers_where_kubernetes_does(workflow: dict[str, Any]) -> None:
    doc = copy.deepcopy(workflow)
    train_a = templates_by_name(doc)["train-a"]
    train_a["retryStrategy"]["limit"] = 2  # IntOrString
    train_a["script"]["resources"]["limits"]["cpu"] = 1  # Quantity
    train_a["script"]["resources"]["limits"]["memory"] = 0.5
    validate_workflow(doc)
    train_a["retryStrategy"]["limit"] = 2.5
    with pytest.raises(WorkflowSchemaError, match=r"retryStrategy\.limit"):
        validate_workflow(doc)


# --- what the workflow says


def test_dag_dependencies_and_artifact_wiring_follow_the_data_flow(
    workflow: dict[str, Any], notebook: Path
) -> None:
    pipeline = load_notebook(notebook)
    tasks = tasks_by_name(workflow)
    templates = templates_by_name(workflow)
    assert list(tasks) == ["load", "train-a", "train-b", "evaluate", "report-final"]
    for name, task in tasks.items():
        assert task["template"] == name
        assert set(task.get("dependencies", [])) == EDGES[name]
        wired = {
            a["name"]: artifact_from(a["from"])
            for a in task.get("arguments", {}).get("artifacts", [])
        }
        assert {var: producer for var, (producer, _) in wired.items()} == WIRING[name]
        for var, (producer, output) in wired.items():
            assert output == var
            # the producer really has that output, at the path its program writes
            produced = {o["name"]: o["path"] for o in templates[producer]["outputs"]["artifacts"]}
            assert produced[var] == f"/tmp/kfpj/outputs/{var}"
        consumed = {
            a["name"]: a["path"] for a in templates[name].get("inputs", {}).get("artifacts", [])
        }
        assert consumed == {v: f"/tmp/kfpj/inputs/{v}" for v in WIRING[name]}
    # ... and the pipeline model agrees with the hand-written flow
    assert {
        s.name.replace("_", "-"): {a.replace("_", "-") for a in s.after} for s in pipeline.steps
    } == EDGES
    # an output nobody reads is not shipped
    outputs = {
        n: {a["name"] for a in t.get("outputs", {}).get("artifacts", [])} - {"metrics"}
        for n, t in templates.items()
        if "script" in t
    }
    assert outputs == {
        "load": {"df", "y"},
        "train-a": {"model_a"},
        "train-b": {"model_b"},
        "evaluate": {"r2_a", "r2_b"},
        "report-final": set(),
    }


def test_parameters_are_workflow_arguments_passed_only_to_steps_that_use_them(
    workflow: dict[str, Any],
) -> None:
    args = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
    assert args == {
        "n_rows": "60",
        "noise": "0.25",
        "label": 'run "one": {x} $HOME',
        "fit_intercept": "true",
        "coefs": "[1.5, -2.0, 0.5]",
        "opts": '{"seed": 7, "scale": 2.0}',
    }
    templates = templates_by_name(workflow)
    for name, task in tasks_by_name(workflow).items():
        passed = {p["name"]: p["value"] for p in task.get("arguments", {}).get("parameters", [])}
        assert passed == {p: f"{{{{workflow.parameters.{p}}}}}" for p in PARAMETERS_USED[name]}
        template = templates[name]
        declared = {p["name"] for p in template.get("inputs", {}).get("parameters", [])}
        assert declared == PARAMETERS_USED[name]
        env = {e["name"]: e.get("value") for e in template["script"].get("env", [])}
        assert {k: v for k, v in env.items() if k.startswith("KFPJ_PARAM_")} == {
            f"KFPJ_PARAM_{p.upper()}": f"{{{{inputs.parameters.{p}}}}}"
            for p in PARAMETERS_USED[name]
        }


def test_step_settings_map_to_argo_fields(workflow: dict[str, Any]) -> None:
    t = templates_by_name(workflow)
    assert t["train-a"]["retryStrategy"] == {"limit": "2"}
    assert t["train-a"]["script"]["resources"] == {
        "limits": {"cpu": "1", "memory": "512Mi"},
        "requests": {"cpu": "1", "memory": "512Mi"},
    }
    b = t["train-b"]
    assert b["activeDeadlineSeconds"] == "600"
    assert b["script"]["resources"] == {"limits": {"example.com/fpga": "2", "nvidia.com/gpu": "1"}}
    assert b["metadata"] == {"annotations": {"owner": "data-team"}, "labels": {"team": "ml"}}
    assert {
        "name": "API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}},
    } in b["script"]["env"]
    for name in ("load", "evaluate", "report-final"):
        assert not {"retryStrategy", "activeDeadlineSeconds", "metadata"} & set(t[name])
        assert "resources" not in t[name]["script"]
    for template in t.values():
        if "script" in template:
            assert template["script"]["command"] == ["python3"]
            assert template["script"]["image"] == "python:3.11"
    # metrics: one output parameter each, read from KFPJ_METRICS_DIR, plus the metrics.json artifact
    ev = t["evaluate"]
    assert ev["outputs"]["parameters"] == [
        {"name": m, "valueFrom": {"path": f"/tmp/kfpj/metrics/{m}"}}
        for m in ("r2_a", "r2_b", "braces")
    ]
    assert {"name": "metrics", "path": "/tmp/kfpj/outputs/metrics.json"} in ev["outputs"][
        "artifacts"
    ]
    assert {"name": "KFPJ_METRICS_DIR", "value": "/tmp/kfpj/metrics"} in ev["script"]["env"]
    assert [p["name"] for p in t["report-final"]["outputs"]["parameters"]] == ["best"]
    assert "parameters" not in t["load"].get("outputs", {})


def test_packages_are_installed_before_the_program_imports_them(
    workflow: dict[str, Any], notebook: Path
) -> None:
    source = templates_by_name(workflow)["train-b"]["script"]["source"]
    install = source.index('"-m", "pip", "install", "--quiet", "--no-warn-script-location"')
    installed = ast.literal_eval(re.search(r"^_kfpj_pip_install\((.*)\)$", source, re.M).group(1))  # type: ignore[union-attr]
    assert "scikit-learn==1.5.2" in installed and "pandas" in installed
    assert install < source.index("import numpy as np")
    assert 'os.environ.get("KFPJ_SKIP_PIP") == "1"' in source
    step = load_notebook(notebook).step("train-b")
    assert source == build_program(load_notebook(notebook), step).plain_program(
        pip_header(step.packages)
    )


def test_argo_expressions_in_user_code_survive(workflow: dict[str, Any], notebook: Path) -> None:
    text = compile_pipeline(load_notebook(notebook), "argo")
    # the only {{...}} left anywhere are the ones Argo must resolve
    for expr in re.findall(r"\{\{(.*?)\}\}", text):
        assert re.fullmatch(
            r"workflow\.parameters\.\w+|inputs\.parameters\.\w+|tasks\.[a-z0-9-]+\.outputs\.artifacts\.\w+",
            expr,
        ), expr
    evaluate = templates_by_name(workflow)["evaluate"]["script"]["source"]
    assert "base64" in evaluate and "Argo" in evaluate
    assert "{{" not in evaluate
    # the steps without '{{' keep their program readable
    assert "import base64" not in templates_by_name(workflow)["load"]["script"]["source"]
    assert "\n  - name: load\n" in text and "      source: |\n" in text


# --- the text


def test_compiling_is_deterministic(notebook: Path, tmp_path: Path) -> None:
    first = compile_pipeline(load_notebook(notebook), "argo")
    assert compile_pipeline(load_notebook(notebook), "argo") == first
    # another process, another hash seed: still byte-identical
    out = tmp_path / "again.yaml"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    script = "import sys; from kfp_jupyter import compile_pipeline, load_notebook; compile_pipeline(load_notebook(sys.argv[1]), 'argo', sys.argv[2])"
    subprocess.run([sys.executable, "-c", script, str(notebook), str(out)], check=True, env=env)
    assert out.read_bytes() == first.encode("utf-8")


def test_script_sources_load_back_exactly(tmp_path: Path) -> None:
    # trailing blanks and tabs in user code cannot sit in a `|` block: that template is quoted instead
    nb = make_notebook(
        tmp_path / "ws.ipynb",
        [
            code("a = 1   \nb = 'x\\ty'\t\n\nc = '''two\n  lines  \n'''", "step:first"),
            code("d = a + b.count('x') + len(c)", "step:second"),
            code("d", "pipeline-metrics"),
        ],
    )
    pipeline = load_notebook(nb)
    text = compile_pipeline(pipeline, "argo")
    doc = yaml.safe_load(text)
    validate_workflow(doc)
    templates = templates_by_name(doc)
    for step in pipeline.steps:
        expected = build_program(pipeline, step).plain_program(pip_header(step.packages))
        assert templates[step.name]["script"]["source"] == expected
    assert "a = 1   \n" in templates["first"]["script"]["source"]
    assert '      source: "' in text  # first: quoted
    assert "      source: |" in text  # second: a literal block


def test_yaml_strings_round_trip() -> None:
    pieces = [
        "a",
        " ",
        "  ",
        "\n",
        "\t",
        "\r",
        "\x85",
        "\u2028",
        "#",
        ": ",
        "- ",
        "'",
        '"',
        "|",
        ">",
    ]
    pieces += ["{{", "\\", "ü", "😀", "\x00", "\ufeff", "---", "..."]
    rng = random.Random(7)
    samples = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 10))) for _ in range(3000)]
    for s in samples:
        for writer in (yaml.CSafeDumper, yaml.SafeDumper):
            assert yaml.safe_load(dump_yaml({"s": s}, writer))["s"] == s, (writer, repr(s))


def test_libyaml_and_pyyamls_own_writer_write_the_same_workflow(tmp_path: Path) -> None:
    """libyaml writes the Workflow (PyYAML's own writer takes seconds on hundreds of scripts);
    where PyYAML has no libyaml the pure-Python writer gives the same bytes."""
    odd = make_notebook(
        tmp_path / "odd.ipynb",
        [
            code("a = 1   \nb = 'x\\ty'\t\n\nc = '''two\n  lines  \n'''", "step:first"),
            code("text = 'café ☕' + '''\n  indented: [x, {y}]\n# not a comment\n'''", "step:b"),
            code("print(a, b, c, text, '\\u2028')", "step:c"),
        ],
    )
    examples = Path(__file__).resolve().parents[2] / "examples"
    for path in [*sorted(examples.glob("*.ipynb")), odd]:
        doc = argo_workflow(load_notebook(path))
        text = dump_yaml(doc)
        assert dump_yaml(doc, yaml.SafeDumper) == text, path
        assert yaml.safe_load(text) == doc


# --- running it


def _exec_top_to_bottom(notebook: Path, names: list[str]) -> dict[str, float]:
    """The reference: the notebook's code cells run in order in one namespace, as a kernel would."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code" or "skip" in cell.get("metadata", {}).get("tags", []):
            continue
        if source.startswith("%%"):
            if source.startswith("%%skip"):
                continue
            source = "\n" + source.split("\n", 1)[1]  # a cell magic line: the rest is plain Python
        exec(compile(source, "cell", "exec"), namespace)
    return {n: float(namespace[n]) for n in names}


@pytest.mark.slow
def test_generated_scripts_run_like_argo_and_match_the_notebook(
    workflow: dict[str, Any], notebook: Path, tmp_path: Path
) -> None:
    by_task = run_like_argo(workflow, tmp_path / "pods", SECRETS)
    got = {m: v for values in by_task.values() for m, v in values.items()}
    expected = _exec_top_to_bottom(notebook, METRICS)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert set(by_task) == {"evaluate", "report-final"}
    assert got["braces"] == len('{run "one": {x} $HOME}') + 2 + len("{{workflow.name}}")


# --- the command line


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("kfp-jupyter")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "kfp_jupyter.cli.main"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=cwd)


def test_cli_compiles_to_argo(notebook: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "wf.yaml"
    r = _cli("compile", str(notebook), "-t", "argo", "-o", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8") == compile_pipeline(load_notebook(notebook), "argo")
    validate_workflow(yaml.safe_load(out.read_text(encoding="utf-8")))
    # without -o: next to the notebook
    r = _cli("compile", str(notebook), "-t", "argo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert notebook.with_name("regression.argo.yaml").read_text() == out.read_text()


def test_cli_writes_nothing_when_compiling_fails(tmp_path: Path) -> None:
    bad = make_notebook(
        tmp_path / "bad.ipynb",
        [code("a = b + 1", "step:one", "prev:two"), code("b = a", "step:two", "prev:one")],
    )
    out = tmp_path / "wf.yaml"
    r = _cli("compile", str(bad), "-t", "argo", "-o", str(out), cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "cycle" in r.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".wf", "bad.argo"))]
    out.write_text("old\n")
    r = _cli("compile", str(bad), "-t", "argo", "-o", str(out), cwd=tmp_path)
    assert r.returncode == 2
    assert out.read_text() == "old\n"


def test_names_argo_cannot_take_are_reported_before_anything_is_written(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "case.ipynb",
        [
            code("rate = 1\nRATE = 2", "pipeline-parameters"),
            code("x = rate + RATE", "step:one"),
            code("données = x * 2", "step:two"),
            code("y = données", "step:three"),
        ],
    )
    out = tmp_path / "case.yaml"
    r = _cli("compile", str(nb), "-t", "argo", "-o", str(out), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "KFPJ_PARAM_RATE" in r.stderr and "'données'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_dag_template_name_never_clashes_with_a_step(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "clash.ipynb",
        [code("a = 1", "step:pipeline"), code("b = a + 1", "step:pipeline_dag")],
    )
    doc = yaml.safe_load(compile_pipeline(load_notebook(nb), "argo"))
    validate_workflow(doc)
    names = [t["name"] for t in doc["spec"]["templates"]]
    assert len(set(names)) == len(names) == 3
    assert doc["spec"]["entrypoint"] not in ("pipeline", "pipeline-dag")
    assert [t["name"] for t in tasks_by_name(doc).values()] == ["pipeline", "pipeline-dag"]


def test_long_pipeline_names_fit_kubernetes_limits(tmp_path: Path) -> None:
    name = "a-very-long-pipeline-name-" * 4 + "end"
    nb = make_notebook(
        tmp_path / "long.ipynb", [code("a = 1", "step:only")], {"kfp_jupyter": {"name": name}}
    )
    doc = yaml.safe_load(compile_pipeline(load_notebook(nb), "argo"))
    validate_workflow(doc)
    generate = doc["metadata"]["generateName"]
    assert len(generate) + 5 <= 63 and generate.endswith("-") and not generate.endswith("--")
    assert name.startswith(generate[:-1])
    label = doc["metadata"]["labels"]["kfp-jupyter/pipeline"]
    assert len(label) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", label)
    assert doc["metadata"]["annotations"]["kfp-jupyter/pipeline"] == name
