"""`kfp_jupyter.cluster.attach`: follow a cluster run by its id, as a new kernel session does.

A run is submitted and left alone (its handle never reads it), then a fresh handle made from
nothing but the id follows it on the test servers (tests/servers/), which validate every request
and response against KFP's REST spec and Argo's schema. The step names come back from the run
itself: `load_data` is `load-data` on both servers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbutil import code, make_notebook
from servers.helpers import KFP_TOKEN, TOKEN_ENV
from servers.k8s_server import K8sServer
from servers.kfp_server import KfpServer

import kfp_jupyter
from kfp_jupyter.cluster import ConfigError, NotFoundError, SubmitHandle, UnknownRun, attach
from kfp_jupyter.engine.events import Event, RunEvent, TaskEvent
from kfp_jupyter.errors import KfpJupyterError

STEPS = ["load_data", "train", "report"]

pytest_plugins = ["servers.fixtures"]


def task_states(events: list[Event], step: str) -> list[str]:
    return [e.state for e in events if isinstance(e, TaskEvent) and e.step == step]


def submit_kfp(server: KfpServer, nb: Path) -> str:
    h = kfp_jupyter.submit(nb, host=server.url, token=KFP_TOKEN, poll_interval=0.05)
    return h.run_id


def attach_kfp(server: KfpServer, run_id: str) -> SubmitHandle:
    return attach(run_id, "kfp", host=server.url, token_env=TOKEN_ENV, poll_interval=0.05)


# --- Kubeflow Pipelines


def test_kfp_attach_follows_every_task_to_its_end(kfp_api, demo_nb):
    run_id = submit_kfp(kfp_api, demo_nb)
    h = attach_kfp(kfp_api, run_id)
    assert isinstance(h, SubmitHandle)
    assert (h.run_id, h.engine) == (run_id, "kfp")
    assert h.url == f"{kfp_api.url}/#/runs/details/{run_id}"
    assert h.steps == STEPS  # the notebook's names, in the order they run
    events = list(h.events())
    assert h.wait(timeout=30) == "SUCCEEDED"
    assert h.state == "SUCCEEDED"
    assert isinstance(events[0], RunEvent) and events[0].state == "RUNNING"
    assert isinstance(events[-1], RunEvent) and events[-1].state == "SUCCEEDED"
    assert all(e.run_id == run_id for e in events)
    for step in STEPS:
        assert task_states(events, step) == ["PENDING", "RUNNING", "SUCCEEDED"], step
    assert h.tasks == dict.fromkeys(STEPS, "SUCCEEDED")
    assert kfp_api.state.runs[run_id].run["state"] == "SUCCEEDED"


def test_kfp_attach_to_a_failing_run_names_the_task(kfp_api, demo_nb):
    kfp_api.state.fail_tasks = {"train"}
    h = attach_kfp(kfp_api, submit_kfp(kfp_api, demo_nb))
    assert h.wait(timeout=30) == "FAILED"
    assert h.failed_tasks == ["train"]
    assert h.message is not None and h.message.startswith("task 'train' failed")
    assert h.tasks == {"load_data": "SUCCEEDED", "train": "FAILED", "report": "SKIPPED"}


def test_kfp_attach_to_a_run_that_already_ended(kfp_api, demo_nb):
    first = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN, poll_interval=0.05)
    assert first.wait(timeout=30) == "SUCCEEDED"
    h = attach_kfp(kfp_api, first.run_id)
    events = list(h.events())
    assert h.wait(timeout=30) == "SUCCEEDED"
    for step in STEPS:  # the first read shows the end: no RUNNING in between
        assert task_states(events, step) == ["PENDING", "SUCCEEDED"], step


def test_kfp_attach_cancel_terminates_the_run(kfp_api, demo_nb):
    h = attach_kfp(kfp_api, submit_kfp(kfp_api, demo_nb))
    for e in h.events():
        if isinstance(e, TaskEvent) and e.state == "RUNNING":
            h.cancel()
            break
    assert h.wait(timeout=30) == "CANCELLED"


def test_kfp_unknown_run_id(kfp_api):
    with pytest.raises(UnknownRun) as caught:
        attach_kfp(kfp_api, "0000-no-such-run")
    e = caught.value
    assert isinstance(e, NotFoundError) and isinstance(e, KfpJupyterError)
    assert e.exit_code == 1
    assert f"the KFP server at {kfp_api.url} has no run with id '0000-no-such-run'" in str(e)
    assert KFP_TOKEN not in str(e)


def test_kfp_attach_without_the_pipeline_uses_the_servers_task_names(kfp_api, demo_nb):
    run_id = submit_kfp(kfp_api, demo_nb)
    kfp_api.state.versions.clear()  # the pipeline version is gone (deleted, or not readable)
    h = attach_kfp(kfp_api, run_id)
    events = list(h.events())
    assert h.wait(timeout=30) == "SUCCEEDED"
    # each task becomes a step when the server first shows it; drivers and the root DAG do not
    assert h.steps == ["load-data", "train", "report"]
    assert h.tasks == dict.fromkeys(h.steps, "SUCCEEDED")
    for step in h.steps:
        assert task_states(events, step)[-1] == "SUCCEEDED"


def test_no_host_configured_is_a_config_error(cluster_env):
    with pytest.raises(ConfigError, match="no Kubeflow Pipelines host is configured"):
        attach("some-run", "kfp")


def test_unknown_engine():
    with pytest.raises(KfpJupyterError, match="unknown engine 'local'"):
        attach("some-run", "local")


def test_underscore_and_dash_step_names_are_told_apart(kfp_api, tmp_path):
    nb = make_notebook(
        tmp_path / "names.ipynb",
        [code("a = 1", "step:prep_data"), code("b = a + 1", "step:fit-model")],
        metadata={"kfp_jupyter": {"name": "names-demo"}},
    )
    h = attach_kfp(kfp_api, submit_kfp(kfp_api, nb))
    assert h.steps == ["prep_data", "fit-model"]
    assert h.wait(timeout=30) == "SUCCEEDED"
    assert h.tasks == {"prep_data": "SUCCEEDED", "fit-model": "SUCCEEDED"}


# --- Argo Workflows


def submit_argo(nb: Path) -> str:
    return kfp_jupyter.submit(nb, engine="argo", poll_interval=5).run_id


def test_argo_attach_follows_the_workflow(k8s_api: K8sServer, kubeconfig_file, demo_nb):
    k8s_api.state.metric_values = {"score": "0.75"}
    name = submit_argo(demo_nb)
    h = attach(name, "argo", poll_interval=5)
    assert (h.run_id, h.engine) == (name, "argo")
    assert h.url == f"{k8s_api.url}/apis/argoproj.io/v1alpha1/namespaces/argo/workflows/{name}"
    assert h.steps == STEPS
    events = list(h.events())
    assert h.wait(timeout=60) == "SUCCEEDED"
    for step in STEPS:
        states = task_states(events, step)
        assert states[0] == "PENDING" and states[-1] == "SUCCEEDED", (step, states)
        assert "RUNNING" in states or len(states) == 2, (step, states)
    last = events[-1]
    assert isinstance(last, RunEvent) and last.state == "SUCCEEDED"
    assert last.metrics == {"score": 0.75}
    assert h.info.pipeline == "demo-pipeline"


def test_argo_attach_to_a_failing_workflow(k8s_api, kubeconfig_file, demo_nb):
    k8s_api.state.fail_tasks = {"train"}
    h = attach(submit_argo(demo_nb), "argo", poll_interval=5)
    assert h.wait(timeout=60) == "FAILED"
    assert h.failed_tasks == ["train"]
    assert h.tasks == {"load_data": "SUCCEEDED", "train": "FAILED", "report": "SKIPPED"}


def test_argo_unknown_workflow_name(k8s_api, kubeconfig_file):
    with pytest.raises(UnknownRun) as caught:
        attach("demo-pipeline-zzzzz", "argo")
    assert "there is no workflow named 'demo-pipeline-zzzzz' in namespace 'argo'" in str(
        caught.value
    )
    assert caught.value.exit_code == 1


def test_argo_unknown_namespace_says_namespace(k8s_api, kubeconfig_file):
    with pytest.raises(NotFoundError, match="the namespace 'nope' does not exist") as caught:
        attach("demo-pipeline-zzzzz", "argo", namespace="nope")
    assert not isinstance(caught.value, UnknownRun)


# --- the notebook widget re-attaching from a new session


def test_widget_reattaches_to_a_kfp_run_by_id(kfp_api, demo_nb, tmp_path, monkeypatch):
    pytest.importorskip("anywidget")
    from kfp_jupyter.jupyter.widget import PipelineWidget

    monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("KFP_JUPYTER_STORE", str(tmp_path / "store"))
    run_id = submit_kfp(kfp_api, demo_nb)
    w = PipelineWidget(demo_nb)
    w.attach(run_id, engine="kfp", host=kfp_api.url, token_env=TOKEN_ENV, poll_interval=0.05)
    final = w.wait(60)
    assert final["id"] == run_id and final["state"] == "SUCCEEDED"
    assert {w.states[s]["state"] for s in STEPS} == {"SUCCEEDED"}
