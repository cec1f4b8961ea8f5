"""A step that fails on a cluster speaks in the notebook's terms, as a local run does: its
exception first, then `cell N, line M`, then the end of its log, read from the step's pod through
the Kubernetes API (tests/servers/k8s_server.py serves pod logs as the API server does).

The pod logs are what the step programs really print: an Argo step's compiled script, run here,
prints the marker line with its mapped error; a KFP step's component source, run here, prints
Python's own traceback, which is mapped with the source the compiled pipeline embeds.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from engine_support import failed_block
from nbutil import code, make_notebook, md
from servers.helpers import KFP_TOKEN, TOKEN_ENV, cli, kfp_pod_log, no_traceback
from servers.k8s_server import write_kubeconfig

import kfp_jupyter
from kfp_jupyter.engine.events import TaskEvent
from kfp_jupyter.engine.steperror import MARKER

pytest_plugins = ["servers.fixtures"]

# cells count from 1, markdown included
FAILING_CELL = 4


@pytest.fixture(scope="module")
def failing_nb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nb") / "fails.ipynb"
    return make_notebook(
        path,
        [
            md("# a step that fails"),
            code("import json", "imports"),
            code("n_rows = 3", "pipeline-parameters"),
            code("x = n_rows\nprint('preparing the data')\ny = x / 0", "step:prepare"),
            code("print(json.dumps(y))", "step:report"),
        ],
        metadata={"kfp_jupyter": {"name": "fails"}},
    )


def _argo_log(nb: Path, tmp: Path) -> str:
    """What the `prepare` pod of the compiled Workflow logs: its script, run as Argo runs it."""
    doc = yaml.safe_load(kfp_jupyter.compile_pipeline(kfp_jupyter.load_notebook(nb), "argo"))
    [template] = [t for t in doc["spec"]["templates"] if t["name"] == "prepare"]
    env = dict(os.environ, KFPJ_SKIP_PIP="1", KFPJ_ROOT=str(tmp / "kfpj"))
    env.pop("KFPJ_ERROR_FILE", None)
    for e in template["script"].get("env", []):
        if e["name"].startswith("KFPJ_PARAM_"):
            env[e["name"]] = "3"
    script = tmp / "script.py"
    script.write_text(template["script"]["source"], encoding="utf-8")
    r = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp, capture_output=True, text=True
    )
    assert r.returncode == 1, r.stdout + r.stderr
    return r.stdout + r.stderr


def _no_crash(output: str) -> None:
    """The mapped traceback is the step's; nothing of kfp-jupyter's own code is shown."""
    assert 'File "' not in output and "kfp_jupyter" not in output, output


def _assert_in_notebook_terms(text: str) -> None:
    lines = text.splitlines()
    assert lines[0] == "ZeroDivisionError: division by zero", text
    assert f"cell {FAILING_CELL}, line 3, in step prepare" in text
    assert "y = x / 0" in text
    assert "preparing the data" in text  # the log's end, after the error
    assert text.index("preparing the data") > text.index(f"cell {FAILING_CELL}, line 3")
    assert MARKER not in text
    assert "ephemeral_component.py" not in text and "_kfpj_" not in text


def test_argo_failed_step_shows_the_exception_cell_and_log(
    k8s_api, kubeconfig_file, failing_nb, tmp_path
):
    k8s_api.state.fail_tasks = {"prepare"}
    k8s_api.state.task_logs = {"prepare": _argo_log(failing_nb, tmp_path)}
    result = cli("submit", str(failing_nb), "--engine", "argo", "--wait")
    _no_crash(result.output)
    assert result.exit_code == 1, result.output
    _assert_in_notebook_terms(failed_block(result.stdout, "prepare"))
    # the summary names the step, the exception and where
    assert (
        f"task 'prepare' failed: ZeroDivisionError: division by zero (cell {FAILING_CELL}, line 3)"
        in result.stdout
    )
    [log_request] = [r for r in k8s_api.state.requests if r["path"].endswith("/log")]
    assert log_request["query"]["container"] == ["main"]
    assert log_request["path"].startswith("/api/v1/namespaces/argo/pods/fails-")


def test_argo_handle_events_carry_the_mapped_error(k8s_api, kubeconfig_file, failing_nb, tmp_path):
    k8s_api.state.fail_tasks = {"prepare"}
    k8s_api.state.task_logs = {"prepare": _argo_log(failing_nb, tmp_path)}
    handle = kfp_jupyter.submit(failing_nb, "argo", poll_interval=1)
    failed = [e for e in handle.events() if isinstance(e, TaskEvent) and e.state == "FAILED"]
    assert handle.state == "FAILED"
    [event] = failed
    assert event.step == "prepare" and event.error is not None
    assert event.error.headline == "ZeroDivisionError: division by zero"
    assert [f["cell"] for f in event.error.frames if "cell" in f] == [FAILING_CELL]
    assert event.log_tail is not None and "preparing the data" in event.log_tail
    assert MARKER not in event.log_tail
    assert handle.failures["prepare"].where == f"cell {FAILING_CELL}, line 3"
    assert "ZeroDivisionError" in (handle.message or "")


def test_argo_log_that_cannot_be_read_is_one_line_with_the_reason(
    k8s_api, kubeconfig_file, failing_nb
):
    k8s_api.state.fail_tasks = {"prepare"}
    k8s_api.state.deny_logs = True
    result = cli("submit", str(failing_nb), "--engine", "argo", "--wait")
    no_traceback(result)
    assert result.exit_code == 1, result.output
    summary = next(line for line in result.stdout.splitlines() if "task 'prepare' failed" in line)
    assert "its log could not be read: no permission to read the log of pod" in summary
    assert "pods/log" in summary


def test_argo_pod_gone_is_said(k8s_api, kubeconfig_file, failing_nb):
    k8s_api.state.fail_tasks = {"prepare"}
    k8s_api.state.pod_gc = True  # the pod is deleted as its step ends
    handle = kfp_jupyter.submit(failing_nb, "argo", poll_interval=1)
    assert handle.wait() == "FAILED"
    note = handle.failures["prepare"].note or ""
    assert note.startswith("its log could not be read: its pod ")
    assert "is gone from namespace 'argo'" in note
    assert "Traceback" not in (handle.message or "")


def _submit_failing_on_kfp(kfp_api, k8s_api, nb, step, log, tmp_path, monkeypatch):
    """`submit --wait` of `nb` to the test KFP server, where task `step` fails and its pod
    (read through the kubeconfig's Kubernetes API) logs `log`."""
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", k8s_api.url, "k8s-token", "default")
    k8s_api.state.tokens = {"k8s-token"}
    k8s_api.state.namespaces.add("kubeflow")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))

    def on_pod(task: str, pod: str) -> None:
        k8s_api.state.pods[("kubeflow", pod)] = log if task == step else ""

    kfp_api.state.fail_tasks = {step}
    kfp_api.state.on_pod = on_pod
    return cli(
        "submit", str(nb), "--host", kfp_api.url, "--token-env", TOKEN_ENV,
        "--wait", "--poll-interval", "0.05",
    )  # fmt: skip


def test_kfp_failed_step_shows_the_exception_cell_and_log(
    kfp_api, k8s_api, cluster_env, failing_nb, tmp_path, monkeypatch
):
    log = kfp_pod_log(
        failing_nb, "prepare", "n_rows=3, y=types.SimpleNamespace(path='out/y')", tmp_path
    )
    result = _submit_failing_on_kfp(
        kfp_api, k8s_api, failing_nb, "prepare", log, tmp_path, monkeypatch
    )
    _no_crash(result.output)
    assert result.exit_code == 1, result.output
    _assert_in_notebook_terms(failed_block(result.stdout, "prepare"))
    assert "launcher_v2.go" in failed_block(result.stdout, "prepare")  # the log's other lines stay
    assert KFP_TOKEN not in result.output
    [log_request] = [r for r in k8s_api.state.requests if r["path"].endswith("/log")]
    assert log_request["path"].startswith("/api/v1/namespaces/kubeflow/pods/prepare-")


def test_kfp_without_kubernetes_configuration_says_so_in_one_line(kfp_api, failing_nb):
    kfp_api.state.fail_tasks = {"prepare"}
    result = cli(
        "submit", str(failing_nb), "--host", kfp_api.url, "--token-env", TOKEN_ENV,
        "--wait", "--poll-interval", "0.05",
    )  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 1, result.output
    summary = next(line for line in result.stdout.splitlines() if "task 'prepare' failed" in line)
    assert "its log could not be read: no Kubernetes API to read it from" in summary


# --- the widget: the same failure in its details, and advice that names its fields


@pytest.fixture
def widget_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The widget's remembered settings and saved targets: the test's own."""
    monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(tmp_path / "kfpj-config"))
    return tmp_path / "kfpj-config"


def test_widget_details_of_a_failed_argo_step_show_the_exception_first(
    k8s_api, kubeconfig_file, failing_nb, tmp_path, widget_config
):
    from kfp_jupyter.jupyter.widget import PipelineWidget

    k8s_api.state.fail_tasks = {"prepare"}
    k8s_api.state.task_logs = {"prepare": _argo_log(failing_nb, tmp_path)}
    w = PipelineWidget(failing_nb)
    w.target = {"engine": "argo"}
    w.submit(poll_interval=1)
    assert w.wait(60)["state"] == "FAILED"
    assert w.states["prepare"]["message"] == (
        f"ZeroDivisionError: division by zero (cell {FAILING_CELL}, line 3)"
    )
    w.selected = "prepare"
    d = w.details
    assert d["error"].splitlines()[0] == "ZeroDivisionError: division by zero"
    assert [f["cell"] for f in d["error_frames"] if "cell" in f] == [FAILING_CELL]
    _assert_in_notebook_terms(d["log_tail"])
    assert d["log_tail"].startswith(d["error"])


def test_widget_advice_names_the_token_variable_field_and_the_cli_its_flag(
    kfp_api, failing_nb, widget_config
):
    from kfp_jupyter.cluster import AuthError
    from kfp_jupyter.jupyter.widget import PipelineWidget, describe_error

    w = PipelineWidget(failing_nb)
    w.target = {"engine": "kfp", "host": kfp_api.url}
    with pytest.raises(AuthError) as caught:
        w.submit()
    kfp_api.state.violations.clear()  # the request without a token that the test made on purpose
    in_widget = describe_error(caught.value)
    assert 'fill the "token variable" field' in in_widget
    assert "--token-env" not in in_widget
    # the same error, as the command line shows it, keeps its option
    assert "--token-env VAR" in str(caught.value)
    result = cli("submit", str(failing_nb), "--host", kfp_api.url)
    kfp_api.state.violations.clear()
    assert result.exit_code == 1 and "--token-env VAR" in result.stderr, result.output
    assert '"token variable"' not in result.stderr


def test_widget_advice_for_a_variable_that_is_not_set(kfp_api, failing_nb, widget_config):
    from kfp_jupyter.cluster import ConfigError
    from kfp_jupyter.jupyter.widget import PipelineWidget, describe_error

    w = PipelineWidget(failing_nb)
    w.target = {"engine": "kfp", "host": kfp_api.url, "token_env": "KFPJ_NOT_SET_HERE"}
    with pytest.raises(ConfigError) as caught:
        w.submit()
    in_widget = describe_error(caught.value)
    assert 'the "token variable" field (KFPJ_NOT_SET_HERE)' in in_widget
    assert "restart the kernel" in in_widget and "--token-env" not in in_widget
    assert not kfp_api.state.requests  # nothing was sent


# --- the pieces


def test_marker_lines_are_read_and_taken_out_of_the_log():
    from kfp_jupyter.engine.steperror import StepError, marker_line, split_marker

    error = StepError("ValueError", "bad", "ValueError: bad", "", ({"cell": 2, "line": 1},))
    log = f"first\n{marker_line(error)}\nlast\n"
    found, rest = split_marker(log)
    assert found == error and rest == "first\nlast\n"
    cut = MARKER + '{"type": "Val'  # a tail that cut the line short: kept, not misread
    assert split_marker(cut) == (None, cut)


def test_argo_pod_names_follow_argos_naming():
    from kfp_jupyter.cluster.steplogs import argo_pod_names, fnv32a

    # the test vectors of Argo's own pod-name code (ui/src/shared/pod-name.test.ts)
    assert fnv32a("hello") == 1335831723 and fnv32a("world") == 933488787
    wf = {"metadata": {"name": "wf-abc"}}
    node = {"id": "wf-abc-123", "name": "wf-abc.prepare", "templateName": "prepare"}
    assert argo_pod_names(wf, node) == [f"wf-abc-prepare-{fnv32a('wf-abc.prepare')}", "wf-abc-123"]
    v1 = {
        "metadata": {
            "name": "wf-abc",
            "annotations": {"workflows.argoproj.io/pod-name-format": "v1"},
        }
    }
    assert argo_pod_names(v1, node) == ["wf-abc-123"]


def test_a_local_run_prints_no_marker(failing_nb, tmp_path):
    from engine_support import kfpj

    p = kfpj("run", failing_nb, store=tmp_path / "store")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "ZeroDivisionError: division by zero" in p.stdout
    assert MARKER not in p.stdout + p.stderr
    logs = list((tmp_path / "store").rglob("prepare*.log"))
    assert logs and all(MARKER not in f.read_text() for f in logs)


def test_kfp_failed_step_of_a_referenced_notebook_is_shown_in_that_notebooks_terms(
    kfp_api, k8s_api, cluster_env, tmp_path, monkeypatch
):
    """A step Kale's composition spliced in from another notebook fails on KFP: its traceback
    names that notebook, cell and line, as a local run does."""
    (tmp_path / "parts").mkdir()
    make_notebook(
        tmp_path / "parts" / "fit.ipynb",
        [md("# fit"), code("print('fitting')\nscore = 1 / 0", "step:fit")],
    )
    ref = code("", "notebook:fit_part")
    ref.metadata["notebook_path"] = "./parts/fit.ipynb"
    nb = make_notebook(
        tmp_path / "main.ipynb",
        [code("n = 1", "step:start"), ref],
        metadata={"kfp_jupyter": {"name": "composed"}},
    )
    log = kfp_pod_log(nb, "fit", "", tmp_path)
    result = _submit_failing_on_kfp(kfp_api, k8s_api, nb, "fit", log, tmp_path, monkeypatch)
    _no_crash(result.output)
    assert result.exit_code == 1, result.output
    block = failed_block(result.stdout, "fit")
    assert block.splitlines()[0] == "ZeroDivisionError: division by zero", block
    assert "parts/fit.ipynb, cell 2, line 2, in step fit" in block, block
    assert "score = 1 / 0" in block and "fitting" in block


def test_a_kfp_steps_recursion_keeps_pythons_count_of_repeated_frames(tmp_path: Path) -> None:
    """Python prints a recursion's repeated frame once with `[Previous line repeated N more
    times]`; the mapped traceback keeps that count instead of dropping the line."""
    from kfp_jupyter.cluster.steplogs import failure_from_log, kfp_component_source

    nb = make_notebook(
        tmp_path / "deep.ipynb",
        [code("def down(n):\n    return down(n + 1)\n\ndown(0)", "step:dive")],
        metadata={"kfp_jupyter": {"name": "deep"}},
    )
    log = kfp_pod_log(nb, "dive", "", tmp_path)
    assert "[Previous line repeated" in log
    ir = kfp_jupyter.compile_pipeline(kfp_jupyter.load_notebook(nb), "kfp")
    found = kfp_component_source(ir, "dive")
    assert found is not None
    failure = failure_from_log("dive", log, program=found[0], function=found[1])
    assert failure.error is not None
    text = failure.error.traceback
    assert "cell 1, line 2, in down" in text, text
    assert re.search(r"\[Previous line repeated \d+ more times\]", text), text
    assert len(text.splitlines()) < 20, text
