"""The `kfp` and `dsl` targets: real kfp SDK compiler, strict proto parse, kfp.local execution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from ir_compare import assert_same_ir, kfp_local_metrics
from nbutil import code, make_notebook, md
from topdown import run_top_to_bottom

from kfp_jupyter import compile_pipeline, load_notebook

ML_CELLS = [
    code(
        "import numpy as np\nimport pandas as pd\nfrom sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\nfrom sklearn.tree import DecisionTreeClassifier",
        "imports",
    ),
    code(
        "def accuracy(model, X, y):\n    return float((model.predict(X) == y).mean())", "functions"
    ),
    code(
        "test_fraction = 0.25\nseed = 3\ndepth = 3\nlabel = 'iris'\nuse_scaling = True\n"
        "weights = [1.0, 2.0]\nopts = {'max_iter': 300}",
        "pipeline-parameters",
    ),
    md("## Load the data"),
    code(
        "data = load_iris(as_frame=True)\ndf = data.frame\nrng = np.random.default_rng(seed)\n"
        "order = rng.permutation(len(df))",
        "step:load",
    ),
    code(
        "n_test = int(len(df) * test_fraction)\ntest_idx, train_idx = order[:n_test], order[n_test:]\n"
        "X = df.drop(columns=['target'])\nif use_scaling:\n    X = (X - X.mean()) / X.std()\n"
        "X_train, X_test = X.iloc[train_idx], X.iloc[test_idx]\n"
        "y_train, y_test = df['target'].values[train_idx], df['target'].values[test_idx]",
        "step:split",
        "prev:load",
    ),
    code(
        "tree = DecisionTreeClassifier(max_depth=depth, random_state=seed)\ntree.fit(X_train, y_train)",
        "step:train_tree",
        "limit:cpu:1",
        "limit:memory:1Gi",
        "retries:2",
    ),
    code(
        "logreg = LogisticRegression(max_iter=opts['max_iter'])\nlogreg.fit(X_train, y_train)",
        "step:train-logreg",
        "cache:disabled",
        "limit:nvidia.com/gpu:1",
        "timeout:600",
        "label:team:ml",
        "annotation:owner:me",
        "secret:creds:token:API_TOKEN",
    ),
    code(
        "tree_acc = accuracy(tree, X_test, y_test)\nlogreg_acc = accuracy(logreg, X_test, y_test)\n"
        "best = max(tree_acc, logreg_acc) * weights[0]\nprint(label, tree_acc, logreg_acc)",
        "step:evaluate",
    ),
    code("tree_acc\nprint(logreg_acc)\nbest", "pipeline-metrics"),
]


@pytest.fixture
def ml_notebook(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "ml.ipynb",
        ML_CELLS,
        {"kfp_jupyter": {"name": "iris-demo", "description": "a test"}},
    )


def _docs(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_ir_is_loadable_and_strictly_a_pipeline_spec(ml_notebook: Path, tmp_path: Path) -> None:
    from google.protobuf import json_format
    from kfp import components
    from kfp.pipeline_spec import pipeline_spec_pb2

    out = tmp_path / "ml.yaml"
    compile_pipeline(load_notebook(ml_notebook), "kfp", out)
    comp = components.load_component_from_file(str(out))
    assert comp.name == "iris-demo"
    docs = _docs(out.read_text())
    spec = json_format.ParseDict(
        docs[0], pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False
    )
    assert spec.pipeline_info.name == "iris-demo"
    assert spec.pipeline_info.description == "a test"
    # a platform spec (kfp-kubernetes) follows for secrets, labels, annotations, timeouts
    assert len(docs) == 2
    json_format.ParseDict(docs[1], pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False)


def test_ir_maps_parameters_artifacts_metrics_and_settings(ml_notebook: Path) -> None:
    docs = _docs(compile_pipeline(load_notebook(ml_notebook), "kfp"))
    spec, platform = docs[0], docs[1]
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert {k: v["parameterType"] for k, v in params.items()} == {
        "test_fraction": "NUMBER_DOUBLE",
        "seed": "NUMBER_INTEGER",
        "depth": "NUMBER_INTEGER",
        "label": "STRING",
        "use_scaling": "BOOLEAN",
        "weights": "LIST",
        "opts": "STRUCT",
    }
    assert params["opts"]["defaultValue"] == {"max_iter": 300}
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"load", "split", "train-tree", "train-logreg", "evaluate"}
    # only the parameters a step uses reach it
    assert set(tasks["train-tree"]["inputs"]["parameters"]) == {"depth", "seed"}
    assert set(tasks["train-logreg"]["inputs"]["parameters"]) == {"opts"}
    # variables are artifacts wired from their producer
    art = tasks["evaluate"]["inputs"]["artifacts"]
    assert art["tree"]["taskOutputArtifact"] == {
        "producerTask": "train-tree",
        "outputArtifactKey": "tree",
    }
    assert set(art) == {"tree", "logreg", "X_test", "y_test"}
    comp = spec["components"][tasks["evaluate"]["componentRef"]["name"]]
    assert (
        comp["outputDefinitions"]["artifacts"]["metrics"]["artifactType"]["schemaTitle"]
        == "system.Metrics"
    )
    # settings
    assert (
        tasks["train-logreg"]["cachingOptions"] == {}
        or tasks["train-logreg"]["cachingOptions"].get("enableCache") is not True
    )
    assert tasks["train-tree"]["cachingOptions"]["enableCache"] is True
    assert tasks["train-tree"]["retryPolicy"]["maxRetryCount"] == 2
    execs = spec["deploymentSpec"]["executors"]
    res_tree = execs["exec-train-tree"]["container"]["resources"]
    assert res_tree["cpuLimit"] == 1.0 and res_tree["resourceCpuLimit"] == "1"
    assert res_tree["resourceMemoryLimit"] == "1Gi"
    res_lr = execs["exec-train-logreg"]["container"]["resources"]
    assert res_lr["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert res_lr["accelerator"]["resourceCount"] == "1"
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train-logreg"]
    assert k8s["secretAsEnv"][0]["secretName"] == "creds"
    assert k8s["secretAsEnv"][0]["keyToEnv"] == [{"secretKey": "token", "envVar": "API_TOKEN"}]
    assert k8s["podMetadata"]["labels"] == {"team": "ml"}
    assert k8s["podMetadata"]["annotations"] == {"owner": "me"}
    assert k8s["activeDeadlineSeconds"] == "600" or k8s["activeDeadlineSeconds"] == 600
    # packages detected from the imports, mapped to distributions, pinned to this environment
    cmd = " ".join(execs["exec-train-tree"]["container"]["command"])
    assert f"'scikit-learn=={version('scikit-learn')}'" in cmd
    assert f"'pandas=={version('pandas')}'" in cmd and "'sklearn" not in cmd


def test_compiles_byte_identical(ml_notebook: Path, tmp_path: Path) -> None:
    a = compile_pipeline(load_notebook(ml_notebook), "kfp")
    b = compile_pipeline(load_notebook(ml_notebook), "kfp")
    assert a == b
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "kfp_jupyter.cli.main",
            "compile",
            str(ml_notebook),
            "-o",
            str(tmp_path / "cli.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cli.yaml").read_text() == a
    assert compile_pipeline(load_notebook(ml_notebook), "dsl") == compile_pipeline(
        load_notebook(ml_notebook), "dsl"
    )


def test_the_command_writes_a_large_pipeline_whole_to_a_file_and_to_a_pipe(tmp_path: Path) -> None:
    """The command writes a large IR whole, to a file and to a pipe, as the API writes it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from _notebooks import write_synthetic

    nb = write_synthetic(150, tmp_path / "big.ipynb")
    expected = compile_pipeline(load_notebook(nb), "kfp")
    command = [sys.executable, "-m", "kfp_jupyter.cli.main"]
    r = subprocess.run(
        [*command, "compile", str(nb), "-o", str(tmp_path / "big.yaml")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stderr and "150 steps" in r.stderr
    assert (tmp_path / "big.yaml").read_text(encoding="utf-8") == expected
    # buffered output, as in a plain shell (this sandbox may set PYTHONUNBUFFERED)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    r = subprocess.run(
        [*command, "compile", str(nb), "-o", "-"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == expected
    r = subprocess.run(
        [*command, "inspect", str(nb), "--json"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["steps"]) == 150


def test_dsl_script_writes_the_same_ir(ml_notebook: Path, tmp_path: Path) -> None:
    pipeline = load_notebook(ml_notebook)
    script = tmp_path / "pipeline_dsl.py"
    compile_pipeline(pipeline, "dsl", script)
    text = script.read_text()
    assert "@dsl.component(" in text and "@dsl.pipeline(name='iris-demo'" in text
    assert text.count("@dsl.component(") == 5
    r = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "from_dsl.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert_same_ir(compile_pipeline(pipeline, "kfp"), (tmp_path / "from_dsl.yaml").read_text())
    # with no argument it writes next to itself
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert_same_ir(compile_pipeline(pipeline, "kfp"), script.with_suffix(".yaml").read_text())


def test_failed_compile_writes_nothing(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "bad.ipynb", [code("x = y + 1", "step:a")])
    out = tmp_path / "bad.yaml"
    r = subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "compile", str(nb), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "cell 1" in r.stderr and "'y'" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".bad.yaml*"))


@pytest.mark.slow
def test_ir_runs_under_kfp_local_with_the_notebooks_metric_values(
    ml_notebook: Path, tmp_path: Path
) -> None:
    yaml_path = tmp_path / "ml.yaml"
    compile_pipeline(load_notebook(ml_notebook), "kfp", yaml_path)
    got = kfp_local_metrics(yaml_path, tmp_path / "kfp-local", seed=5, depth=2)
    # the same notebook, top to bottom, with the same parameter values
    nb_params = tmp_path / "topdown.ipynb"
    cells = list(ML_CELLS)
    cells[2] = code(
        cells[2].source.replace("seed = 3", "seed = 5").replace("depth = 3", "depth = 2"),
        "pipeline-parameters",
    )
    make_notebook(nb_params, cells)
    expected = run_top_to_bottom(nb_params, ["tree_acc", "logreg_acc", "best"])
    assert got == pytest.approx(expected, abs=0, rel=1e-12)
    assert set(got) == {"tree_acc", "logreg_acc", "best"}


def test_component_source_given_to_kfp_is_what_inspect_reads(tmp_path: Path) -> None:
    """The kfp target hands kfp our own text of each component; it must equal inspect's reading."""
    import importlib.util

    from kfp.dsl import component_factory

    from kfp_jupyter.packaging.program import build_program

    nb = make_notebook(
        tmp_path / "tricky.ipynb",
        [
            code("a = 1\n# a trailing comment\n\n", "step:comment_end"),
            code("if a:\n    b = '''x\ny'''\n# done", "step:compound_end"),
            code("c = b + '''\n# not a comment\n'''", "step:string_end"),
            code("# only a comment", "step:empty"),
            code("d = [a,\n     c]  # trailing\n", "step:continued"),
            code("print(d)", "step:last"),
        ],
    )
    pipeline = load_notebook(nb)
    script = tmp_path / "tricky_dsl.py"
    compile_pipeline(pipeline, "dsl", script)
    spec = importlib.util.spec_from_file_location("tricky_dsl", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for step in pipeline.steps:
        prog = build_program(pipeline, step)
        real = component_factory._get_function_source_definition(
            getattr(module, prog.function).python_func
        )
        assert real == prog.kfp_function(), step.name


def test_compiled_file_is_readable_like_any_file(ml_notebook: Path, tmp_path: Path) -> None:
    import os

    out = tmp_path / "ml.yaml"
    compile_pipeline(load_notebook(ml_notebook), "kfp", out)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_compiles_to_kfp_with_the_kfp_sdk_unimportable(ml_notebook: Path, tmp_path: Path) -> None:
    """Compiling needs only the core install: a process where `import kfp` fails writes the same
    IR (the kfp SDK is for running the `dsl` script, submitting, and these tests)."""
    blocker = (
        "import sys\n"
        "class NoKfp:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('kfp', 'kfp_server_api'):\n"
        "            raise ImportError('kfp is not installed here: ' + name)\n"
        "sys.meta_path.insert(0, NoKfp())\n"
        "from kfp_jupyter.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    assert 'kfp' not in sys.modules, 'kfp was imported'\n"
    )
    out = tmp_path / "no-kfp.yaml"
    r = subprocess.run(
        [sys.executable, "-c", blocker, "compile", str(ml_notebook), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert out.read_text() == compile_pipeline(load_notebook(ml_notebook), "kfp")
    r = subprocess.run(
        [sys.executable, "-c", blocker, "compile", str(ml_notebook), "-t", "dsl", "-o", "-"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "@dsl.pipeline(name='iris-demo'" in r.stdout


def test_the_runtime_pin_comes_from_the_notebook_and_the_command_line_wins(
    tmp_path: Path,
) -> None:
    nb = make_notebook(
        tmp_path / "pinned.ipynb",
        [code("x = 1", "step:a"), code("y = x + 1", "step:b")],
        {"kfp_jupyter": {"kfp_runtime": "2.15.2"}},
    )
    installs = {
        e["container"]["command"][2]
        for e in _docs(compile_pipeline(load_notebook(nb), "kfp"))[0]["deploymentSpec"][
            "executors"
        ].values()
    }
    assert len(installs) == 1 and "'kfp==2.15.2' '--no-deps'" in installs.pop()
    command = [sys.executable, "-m", "kfp_jupyter.cli.main", "compile", str(nb), "-o", "-"]
    r = subprocess.run([*command, "--kfp-runtime", "2.16.1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "kfp==2.16.1" in r.stdout and "2.15.2" not in r.stdout
    # the dsl script says the same pin
    r = subprocess.run([*command, "-t", "dsl"], capture_output=True, text=True)
    assert "KFP_RUNTIME = '2.15.2'" in r.stdout
    # a bad pin: one message, exit 2, nothing written
    r = subprocess.run(
        [*command[:-2], "-o", str(tmp_path / "x.yaml"), "--kfp-runtime", "2.15 junk"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--kfp-runtime '2.15 junk' is not a kfp version" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x.yaml").exists()
    bad = make_notebook(
        tmp_path / "bad.ipynb",
        [code("x = 1", "step:a")],
        {"kfp_jupyter": {"kfp_runtime": "kfp 2.15"}},
    )
    r = subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "compile", str(bad)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "kfp_jupyter.kfp_runtime" in r.stderr, r.stderr
