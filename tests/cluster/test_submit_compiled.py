"""`kfp-jupyter submit` of pipelines compiled already: a KFP IR YAML, an Argo Workflow YAML, a KFP
DSL script; against the KFP and Kubernetes API servers on 127.0.0.1 (tests/servers), with the
real kfp.Client and kubernetes client.

The files are written by `kfp-jupyter compile` from the demo notebook, and by hand as a kfp user
would write them. What the servers received is compared with the file; what is refused must be
refused before any request.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from servers.helpers import KFP_TOKEN, TOKEN_ENV, cli, no_traceback
from servers.k8s_server import K8sServer
from servers.kfp_server import KfpServer

import kfp_jupyter
from kfp_jupyter.cluster import InvalidSubmission

pytest_plugins = ["servers.fixtures"]


def compiled(nb: Path, target: str, out: Path) -> Path:
    result = cli("compile", str(nb), "-t", target, "-o", str(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def ir_file(demo_nb: Path, tmp_path: Path) -> Path:
    return compiled(demo_nb, "kfp", tmp_path / "demo.yaml")


@pytest.fixture
def argo_file(demo_nb: Path, tmp_path: Path) -> Path:
    return compiled(demo_nb, "argo", tmp_path / "demo-workflow.yaml")


@pytest.fixture
def dsl_file(demo_nb: Path, tmp_path: Path) -> Path:
    return compiled(demo_nb, "dsl", tmp_path / "demo_dsl.py")


def kfp_args(server: KfpServer, path: Path, *more: str) -> list[str]:
    return ["submit", str(path), "--host", server.url, "--token-env", TOKEN_ENV, *more]


def uploaded_spec(server: KfpServer) -> dict:
    [pipeline] = server.state.pipelines.values()
    [version] = server.state.versions[pipeline["pipeline_id"]]
    return version["pipeline_spec"]


def only_run(server: KfpServer) -> dict:
    assert len(server.state.runs) == 1
    return next(iter(server.state.runs.values())).run


def created(server: K8sServer) -> dict:
    [doc] = server.state.created
    return doc


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- KFP IR


def test_ir_yaml_is_uploaded_as_it_is_and_a_param_arrives_typed(kfp_api, ir_file):
    result = cli(*kfp_args(kfp_api, ir_file, "-p", "n_rows=7", "-p", "sizes=[3, 4]"))
    no_traceback(result)
    assert result.exit_code == 0, result.output
    run = only_run(kfp_api)
    assert result.stdout.strip() == f"run: {kfp_api.url}/#/runs/details/{run['run_id']}"
    assert "uploaded pipeline 'demo-pipeline' (new pipeline)" in result.stderr
    # the server got the file's pipeline spec, unchanged
    assert kfp_api.state.uploads == [ir_file.read_bytes()]
    assert uploaded_spec(kfp_api) == next(yaml.safe_load_all(ir_file.read_text()))
    [pipeline] = kfp_api.state.pipelines.values()
    assert pipeline["display_name"] == "demo-pipeline"
    params = run["runtime_config"]["parameters"]
    assert params["n_rows"] == 7 and isinstance(params["n_rows"], int)
    assert params["sizes"] == [3, 4]
    assert params["label"] == "demo" and params["verbose"] is False
    assert run["display_name"].startswith("demo-pipeline ")


def test_ir_through_the_api_and_again_reuses_the_version(kfp_api, ir_file):
    first = kfp_jupyter.submit(str(ir_file), host=kfp_api.url, token=KFP_TOKEN, params={"rate": 1})
    assert first.info.parameters["rate"] == 1.0 and isinstance(first.info.parameters["rate"], float)
    assert first.info.pipeline == "demo-pipeline"
    again = kfp_jupyter.submit(ir_file, host=kfp_api.url, token=KFP_TOKEN, experiment="other")
    assert any("unchanged: reusing its version" in n for n in again.notes)
    assert again.info.version_id == first.info.version_id
    assert only_run_count(kfp_api) == 2
    with pytest.raises(InvalidSubmission, match=r"parameter 'label' must be a str, not int"):
        kfp_jupyter.submit(ir_file, host=kfp_api.url, token=KFP_TOKEN, params={"label": 1})
    assert only_run_count(kfp_api) == 2


def only_run_count(server: KfpServer) -> int:
    return len(server.state.runs)


def test_ir_run_is_followed_with_wait_under_its_task_names(kfp_api, ir_file):
    kfp_api.state.fail_tasks = {"train"}
    result = cli(*kfp_args(kfp_api, ir_file, "--wait", "--poll-interval", "0.05"))
    no_traceback(result)
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "task 'train' failed: exit status 1" in out
    [summary] = [ln for ln in out.splitlines() if ln.startswith("run ")]
    assert "FAILED" in summary and "3 steps (" in summary
    assert all(f"1 {s}" in summary for s in ("succeeded", "failed", "skipped")), summary
    rows = [ln.split() for ln in out.splitlines() if ln[:1] == " " or ln[:1].isdigit()]
    assert ("load-data", "SUCCEEDED") in [(r[1], r[2]) for r in rows if len(r) >= 3]


def test_ir_with_schedule_run_name_and_experiment(kfp_api, ir_file):
    result = cli(*kfp_args(kfp_api, ir_file, "--schedule", "0 0 6 * * *", "--experiment", "x"))
    assert result.exit_code == 0, result.output
    [rec] = kfp_api.state.recurring.values()
    assert rec["trigger"] == {"cron_schedule": {"cron": "0 0 6 * * *"}}
    assert [e["display_name"] for e in kfp_api.state.experiments.values()] == ["x"]
    result = cli(*kfp_args(kfp_api, ir_file, "--run-name", "mine", "--json"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "mine" == only_run(kfp_api)["display_name"]
    assert data["pipeline"] == "demo-pipeline"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "nope=1",
            "unknown parameter 'nope'; the pipeline's parameters: label (str), n_rows (int)",
        ),
        ("n_rows=4.5", "parameter 'n_rows' (int): '4.5' is not an int"),
        ("verbose=maybe", "parameter 'verbose' (bool): 'maybe' is not a bool"),
        ("opts=[1]", "parameter 'opts' (dict): '[1]' is not a dict"),
        ("rate=nan", "parameter 'rate' is nan, which JSON cannot hold"),
    ],
)
def test_ir_bad_parameter_exits_2_and_sends_nothing(kfp_api, ir_file, option, message):
    result = cli(*kfp_args(kfp_api, ir_file), "-p", option)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert kfp_api.state.requests == []


def test_a_kfp_compiled_ir_with_a_required_parameter(kfp_api, tmp_path):
    """An IR from kfp's own compiler, with a parameter without default."""
    script = write(
        tmp_path / "greet.py",
        """
        from kfp import dsl

        @dsl.component(base_image="python:3.12")
        def hello(name: str, times: int) -> str:
            return name * times

        @dsl.pipeline(name="greeting", description="says hello")
        def greeting(name: str, times: int = 2):
            hello(name=name, times=times)
        """,
    )
    result = cli(*kfp_args(kfp_api, script))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "the pipeline 'greeting' has no default for name (str)" in result.stderr
    assert "-p name=VALUE" in result.stderr
    assert kfp_api.state.requests == []
    result = cli(*kfp_args(kfp_api, script, "-p", "name=ada", "-p", "times=3"))
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert only_run(kfp_api)["runtime_config"]["parameters"] == {"name": "ada", "times": 3}
    spec = uploaded_spec(kfp_api)
    assert spec["pipelineInfo"] == {"description": "says hello", "name": "greeting"}
    assert spec["sdkVersion"].startswith("kfp-")  # compiled by the kfp SDK


def test_an_ir_with_a_platform_spec_is_uploaded_whole(kfp_api, ir_file, tmp_path):
    two = tmp_path / "two.yaml"
    platform = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {}}}}}
    two.write_text(ir_file.read_text() + "---\n" + yaml.safe_dump(platform), encoding="utf-8")
    result = cli(*kfp_args(kfp_api, two, "-p", "label=two"))
    assert result.exit_code == 0, result.output
    assert kfp_api.state.uploads == [two.read_bytes()]
    assert only_run(kfp_api)["runtime_config"]["parameters"]["label"] == "two"


# --- DSL scripts


def test_dsl_script_is_compiled_by_kfp_and_submitted(kfp_api, dsl_file, ir_file):
    result = cli(*kfp_args(kfp_api, dsl_file, "-p", "rate=0.25"))
    no_traceback(result)
    assert result.exit_code == 0, result.output
    spec = uploaded_spec(kfp_api)
    assert spec["sdkVersion"].startswith("kfp-")
    ours = next(yaml.safe_load_all(ir_file.read_text()))
    assert spec["pipelineInfo"]["name"] == "demo-pipeline"
    assert set(spec["root"]["dag"]["tasks"]) == set(ours["root"]["dag"]["tasks"])
    assert spec["root"]["inputDefinitions"] == ours["root"]["inputDefinitions"]
    params = only_run(kfp_api)["runtime_config"]["parameters"]
    assert params["rate"] == 0.25 and params["n_rows"] == 4


def test_dsl_script_with_several_pipelines_uses_its_main(kfp_api, tmp_path):
    body = """
        import sys
        from kfp import compiler, dsl

        @dsl.component(base_image="python:3.12")
        def step(x: int) -> int:
            return x + 1

        @dsl.pipeline(name="first")
        def first(x: int = 1):
            step(x=x)

        @dsl.pipeline(name="second")
        def second(x: int = 2):
            step(x=x)
        """
    several = write(tmp_path / "several.py", body)
    result = cli(*kfp_args(kfp_api, several))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "defines several pipelines (first, second)" in result.stderr
    assert kfp_api.state.requests == []
    main = write(
        tmp_path / "with_main.py",
        body
        + """
        if __name__ == "__main__":
            compiler.Compiler().compile(second, sys.argv[1])
        """,
    )
    result = cli(*kfp_args(kfp_api, main))
    assert result.exit_code == 0, result.output
    assert uploaded_spec(kfp_api)["pipelineInfo"]["name"] == "second"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "from kfp import dsl\n\nx = 1\nprint(undefined_name)\n",
            "failed to compile, line 4: NameError: name 'undefined_name' is not defined",
        ),
        ("def broken(:\n    pass\n", "failed to compile: SyntaxError"),
        (
            # kfp refuses a pipeline passing a str to an int input
            "from kfp import dsl\n\n"
            "@dsl.component\ndef f(n: int) -> int:\n    return n\n\n"
            "@dsl.pipeline(name='p')\ndef p(s: str = 'a'):\n    f(n=s)\n",
            "failed to compile, line 9: InconsistentTypeException",
        ),
        ("print('no pipeline here')\n", "defines no @dsl.pipeline function"),
    ],
)
def test_broken_dsl_script_exits_2_and_sends_nothing(kfp_api, tmp_path, source, message):
    script = tmp_path / "broken.py"
    script.write_text(source, encoding="utf-8")
    result = cli(*kfp_args(kfp_api, script))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert f"the DSL script {script}" in result.stderr
    assert message in result.stderr
    assert kfp_api.state.requests == []


def test_dsl_script_without_kfp_says_what_to_install(kfp_api, dsl_file, tmp_path, monkeypatch):
    # a Python where `import kfp` fails, as it does where the kfp SDK is not installed
    fake = tmp_path / "no-kfp" / "kfp"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'kfp'\")\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    result = cli(*kfp_args(kfp_api, dsl_file))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert f"compiling the DSL script {dsl_file} needs the kfp SDK" in result.stderr
    assert "pip install -e '.[cluster]' in your kfp-jupyter checkout" in result.stderr
    assert kfp_api.state.requests == []


#: a Python where kfp-kubernetes is not installed: `kfp.kubernetes` cannot be imported
_NO_KFP_KUBERNETES = """
import sys


class _NoKfpKubernetes:
    def find_spec(self, name, path=None, target=None):
        if name == "kfp.kubernetes" or name.startswith("kfp.kubernetes."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoKfpKubernetes())
"""


def test_dsl_script_with_a_secret_without_kfp_kubernetes_says_what_to_install(
    kfp_api, tmp_path, monkeypatch
):
    """A secret makes `compile -t dsl` import kfp-kubernetes: where it is missing, the message
    names it and the extra that installs it, not the script's ImportError alone."""
    from nbutil import code, make_notebook

    nb = make_notebook(
        tmp_path / "secret.ipynb",
        [code("import os\ntoken = os.environ['TOKEN']", "step:use", "secret:creds:token:TOKEN")],
    )
    script = compiled(nb, "dsl", tmp_path / "secret_dsl.py")
    assert "from kfp import kubernetes" in script.read_text()
    site = tmp_path / "no-kfp-kubernetes"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_NO_KFP_KUBERNETES)
    monkeypatch.setenv("PYTHONPATH", str(site))
    result = cli(*kfp_args(kfp_api, script))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    line = 1 + script.read_text().split("\n").index("from kfp import kubernetes")
    assert (
        f"compiling the DSL script {script} needs kfp-kubernetes (the script imports it on "
        f"line {line})" in result.stderr
    )
    assert "pip install -e '.[cluster]' in your kfp-jupyter checkout" in result.stderr
    assert kfp_api.state.requests == []
    # with kfp-kubernetes importable, the same script is compiled and sent
    monkeypatch.delenv("PYTHONPATH")
    assert cli(*kfp_args(kfp_api, script)).exit_code == 0


def test_the_cluster_extra_installs_every_client_submitting_imports():
    """`pip install '.[cluster]'` must bring what submit imports: kfp's client for KFP, the
    kubernetes client for Argo, and kfp-kubernetes for DSL scripts with secrets or volumes."""
    from kfp_jupyter.analysis.environment import installed
    from kfp_jupyter.notebook.step_settings import requirement_key

    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and newer
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]

    cluster = {requirement_key(r) for r in extras["cluster"]}
    for module in ("kfp.client", "kfp.kubernetes", "kubernetes.client"):
        dist = installed(module)
        assert dist is not None, module
        assert requirement_key(dist.name) in cluster, (module, dist.name)
    assert "cluster" in extras["all"][0]


# --- Argo Workflows


def test_argo_workflow_yaml_is_created_with_the_parameter(k8s_api, kubeconfig_file, argo_file):
    result = cli("submit", str(argo_file), "--engine", "argo", "-p", "n_rows=9", "-p", "label=x y")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    doc = created(k8s_api)
    original = yaml.safe_load(argo_file.read_text())
    params = {p["name"]: p["value"] for p in doc["spec"]["arguments"]["parameters"]}
    assert params == {
        "n_rows": "9",
        "rate": "0.5",
        "label": "x y",
        "verbose": "false",
        "sizes": "[1, 2]",
        "opts": '{"k": 1}',
    }
    assert doc["spec"]["templates"] == original["spec"]["templates"]
    assert doc["metadata"]["generateName"] == original["metadata"]["generateName"]
    assert doc["metadata"]["namespace"] == "argo"
    [name] = [k[2] for k in k8s_api.state.objects if k[0] == "workflows"]
    assert f"created workflow '{name}' in namespace 'argo'" in result.stderr


def test_argo_engine_is_inferred_and_the_run_followed(k8s_api, kubeconfig_file, argo_file):
    k8s_api.state.fail_tasks = {"train"}
    result = cli("submit", str(argo_file), "--wait", "--run-name", "Night 1", "--experiment", "e")
    no_traceback(result)
    assert result.exit_code == 1, result.output
    doc = created(k8s_api)
    assert doc["metadata"]["generateName"] == "night-1-"
    assert doc["metadata"]["annotations"]["kfp-jupyter/experiment"] == "e"
    assert "task 'train' failed" in result.stdout
    [summary] = [ln for ln in result.stdout.splitlines() if ln.startswith("run ")]
    assert all(f"1 {s}" in summary for s in ("succeeded", "failed", "skipped")), summary


def test_argo_through_the_api_converts_typed_values_to_text(k8s_api, kubeconfig_file, argo_file):
    h = kfp_jupyter.submit(argo_file, params={"verbose": True, "sizes": [7], "rate": 2.5})
    assert h.info.engine == "argo" and h.info.pipeline == "demo-pipeline"
    params = {p["name"]: p["value"] for p in created(k8s_api)["spec"]["arguments"]["parameters"]}
    assert (params["verbose"], params["sizes"], params["rate"]) == ("true", "[7]", "2.5")


def test_argo_hand_written_workflow_with_enum_and_required_parameter(
    k8s_api, kubeconfig_file, tmp_path
):
    wf = write(
        tmp_path / "hello.yaml",
        """
        apiVersion: argoproj.io/v1alpha1
        kind: Workflow
        metadata:
          name: hello
        spec:
          entrypoint: main
          arguments:
            parameters:
            - name: who
            - name: mood
              value: calm
              enum: [calm, loud]
          templates:
          - name: main
            dag:
              tasks:
              - {name: say, template: say}
          - name: say
            container:
              image: alpine:3.20
              command: [echo, "{{workflow.parameters.who}}"]
        """,
    )
    for options, message in [
        ((), "the pipeline 'hello' has no default for who (str)"),
        (("-p", "who=ada", "-p", "mood=sad"), "parameter 'mood': 'sad' is not one of its values"),
        (("-p", "whom=ada"), "unknown parameter 'whom'; the pipeline's parameters: who (str)"),
    ]:
        result = cli("submit", str(wf), *options)
        no_traceback(result)
        assert result.exit_code == 2, result.output
        assert message in result.stderr
    assert k8s_api.state.requests == []
    result = cli("submit", str(wf), "-p", "who=ada", "-p", "mood=loud")
    assert result.exit_code == 0, result.output
    doc = created(k8s_api)
    assert doc["spec"]["arguments"]["parameters"] == [
        {"name": "who", "value": "ada"},
        {"name": "mood", "value": "loud", "enum": ["calm", "loud"]},
    ]
    assert doc["metadata"]["name"] == "hello"


def test_argo_bad_parameter_exits_2_and_sends_nothing(k8s_api, kubeconfig_file, argo_file):
    result = cli("submit", str(argo_file), "-p", "epochs=3")
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "unknown parameter 'epochs'; the pipeline's parameters: n_rows (int)" in result.stderr
    assert k8s_api.state.requests == []


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("n_rows=x", "parameter 'n_rows' (int): 'x' is not an int"),
        ("verbose=maybe", "parameter 'verbose' (bool): 'maybe' is not a bool"),
        ("sizes=1, 2", "parameter 'sizes' (list): '1, 2' is not a list"),
    ],
)
def test_argo_value_not_of_its_type_exits_2_and_sends_nothing(
    k8s_api, kubeconfig_file, argo_file, option, message
):
    """The compiled Workflow says its parameters' types (Argo has none), so a value the step
    could not read is refused here, as for the notebook, rather than failing the step later."""
    result = cli("submit", str(argo_file), "-p", option)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert k8s_api.state.requests == []


def test_argo_values_are_converted_as_their_types_are_read(k8s_api, kubeconfig_file, argo_file):
    """`-p` takes what it takes for a notebook (yes, spaces, a Python literal); the Workflow is
    sent the value in the spelling the compiled step reads back."""
    options = ["-p", "n_rows= 12 ", "-p", "verbose=yes", "-p", "rate=2", "-p", "opts={'k': 2}"]
    result = cli("submit", str(argo_file), *options)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    params = {p["name"]: p["value"] for p in created(k8s_api)["spec"]["arguments"]["parameters"]}
    assert params == {
        "n_rows": "12",
        "rate": "2.0",
        "label": "demo",
        "verbose": "true",
        "sizes": "[1, 2]",
        "opts": '{"k": 2}',
    }


def test_argo_workflow_with_a_broken_types_annotation_says_so(k8s_api, kubeconfig_file, argo_file):
    doc = yaml.safe_load(argo_file.read_text())
    doc["metadata"]["annotations"]["kfp-jupyter/parameters"] = '{"n_rows": "integer"}'
    argo_file.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = cli("submit", str(argo_file), "-p", "n_rows=3")
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "the annotation kfp-jupyter/parameters is" in result.stderr
    assert "kfp-jupyter compile -t argo" in result.stderr
    assert k8s_api.state.requests == []


@pytest.mark.parametrize(
    ("given", "task", "said"),
    [
        (
            {"n_rows": "many"},
            "load-data",
            "parameter 'n_rows' (int) was given 'many', which is not an int",
        ),
        (
            {"verbose": "maybe"},
            "report",
            "parameter 'verbose' (bool) was given 'maybe', which is not a bool",
        ),
        ({"sizes": "1, 2"}, "train", "parameter 'sizes' (list) was given '1, 2'"),
    ],
)
def test_a_workflow_given_a_value_not_of_its_type_fails_the_step_naming_it(
    argo_file, tmp_path, given, task, said
):
    """Argo passes text and checks no type: a Workflow run with a value the step cannot read
    (from the Argo UI, `argo submit -p`, an edited file) fails that step naming the parameter
    and its type, in the log the notebook's side reads back, never as a silently wrong value."""
    from argo_pods import run_like_argo

    doc = yaml.safe_load(argo_file.read_text())
    for p in doc["spec"]["arguments"]["parameters"]:
        p["value"] = given.get(p["name"], p["value"])
    with pytest.raises(AssertionError) as failed:
        run_like_argo(doc, tmp_path / "pods")
    log = str(failed.value)
    assert f"task {task} failed" in log
    [name] = given
    assert said in log and "Fix: run the pipeline with a" in log and f"for {name!r}" in log
    assert "kfp-jupyter-step-error: " in log and "Traceback" not in log


def test_a_workflows_values_in_other_spellings_still_run(argo_file, tmp_path):
    """What `-p` takes for a bool (yes/no, on/off, 1/0) and a Python literal for a list work in
    the pod as they do on the command line."""
    from argo_pods import run_like_argo

    doc = yaml.safe_load(argo_file.read_text())
    values = {"verbose": "No", "sizes": "(1, 2)", "n_rows": " 3 "}
    for p in doc["spec"]["arguments"]["parameters"]:
        p["value"] = values.get(p["name"], p["value"])
    with pytest.raises(AssertionError, match="parameter 'sizes' \\(list\\)"):
        run_like_argo(doc, tmp_path / "tuple")  # a tuple is not a list, as for -p
    values["sizes"] = "[1, 2]"
    for p in doc["spec"]["arguments"]["parameters"]:
        p["value"] = values.get(p["name"], p["value"])
    assert run_like_argo(doc, tmp_path / "pods")  # the metrics of a finished run


# --- the wrong engine, and files that are no pipeline


def test_engine_mismatches_are_refused_before_anything_is_sent(
    kfp_api, k8s_api, kubeconfig_file, ir_file, argo_file, dsl_file
):
    result = cli(*kfp_args(kfp_api, argo_file, "--engine", "kfp"))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "this is an Argo Workflow; submit it with --engine argo" in result.stderr
    for path, what in [(ir_file, "a KFP pipeline (IR YAML)"), (dsl_file, "a KFP DSL script")]:
        result = cli("submit", str(path), "--engine", "argo")
        no_traceback(result)
        assert result.exit_code == 2, result.output
        assert f"this is {what}; submit it with --engine kfp" in result.stderr
    assert kfp_api.state.requests == [] and k8s_api.state.requests == []
    with pytest.raises(InvalidSubmission, match="this is an Argo Workflow"):
        kfp_jupyter.submit(argo_file, "kfp", host=kfp_api.url, token=KFP_TOKEN)


def test_notebook_only_options_are_refused_for_a_compiled_file(kfp_api, ir_file):
    result = cli(*kfp_args(kfp_api, ir_file, "--kfp-runtime", "2.16.1"))
    assert result.exit_code == 2 and "is already compiled" in result.stderr
    result = cli(*kfp_args(kfp_api, ir_file, "--no-pin"))
    assert result.exit_code == 2 and "is compiled already" in result.stderr
    assert kfp_api.state.requests == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "is neither a notebook, a KFP pipeline (IR YAML) nor an Argo Workflow: it is a "
            "ConfigMap of v1",
        ),
        ("steps: [a, b]\n", "its top-level keys are steps"),
        ("a: [1, 2\nb: 3\n", "is not valid YAML (line 2, column 2)"),
        ("", "is empty: it holds no pipeline"),
        ("- 1\n- 2\n", "is YAML but not a mapping (list)"),
        (
            "apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: t}\n",
            "is an Argo WorkflowTemplate; submit takes a Workflow",
        ),
    ],
)
def test_a_file_that_is_no_pipeline_exits_2_and_sends_nothing(kfp_api, tmp_path, text, message):
    path = tmp_path / "thing.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli(*kfp_args(kfp_api, path))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert f"{path}" in result.stderr and message in result.stderr
    assert kfp_api.state.requests == []


def test_the_kind_is_read_from_the_content_not_the_name(kfp_api, ir_file, tmp_path):
    renamed = tmp_path / "pipeline.txt"
    renamed.write_bytes(ir_file.read_bytes())
    result = cli(*kfp_args(kfp_api, renamed))
    assert result.exit_code == 0, result.output
    assert uploaded_spec(kfp_api)["pipelineInfo"]["name"] == "demo-pipeline"
