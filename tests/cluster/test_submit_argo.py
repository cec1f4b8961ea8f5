"""`kfp-jupyter submit --engine argo` against a Kubernetes API server on 127.0.0.1.

The server (tests/servers/k8s_server.py) validates every Workflow and CronWorkflow the kubernetes
client creates, and every Workflow it serves back, against Argo's JSON schema made strict; an
Argo-like controller in it plays status.nodes forward, which the client follows with a watch.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from pathlib import Path

import pytest
from servers.helpers import K8S_TOKEN, TOKEN_ENV, cli, no_traceback
from servers.k8s_server import K8sServer, write_kubeconfig

import kfp_jupyter
from kfp_jupyter.cluster import AuthError, FollowError, NotFoundError
from kfp_jupyter.cluster.argo_backend import workflow_snapshot
from kfp_jupyter.engine.events import RunEvent, TaskEvent

STEPS = ["load_data", "train", "report"]

pytest_plugins = ["servers.fixtures"]


def created(server: K8sServer) -> dict:
    [doc] = server.state.created
    return doc


def workflows(server: K8sServer) -> dict:
    return {k[2]: v for k, v in server.state.objects.items() if k[0] == "workflows"}


def test_submit_creates_a_workflow_with_generate_name(k8s_api, kubeconfig_file, demo_nb):
    result = cli("submit", str(demo_nb), "--engine", "argo", "-p", "n_rows=9", "-p", "sizes=[5]")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    doc = created(k8s_api)
    # what was sent: the compiled Workflow (validated strictly by the server), with generateName
    assert doc["kind"] == "Workflow" and doc["apiVersion"] == "argoproj.io/v1alpha1"
    assert doc["metadata"]["generateName"] == "demo-pipeline-"
    assert "name" not in doc["metadata"]
    assert doc["metadata"]["namespace"] == "argo"  # the kubeconfig context's namespace
    params = {p["name"]: p["value"] for p in doc["spec"]["arguments"]["parameters"]}
    assert params == {
        "n_rows": "9",
        "rate": "0.5",
        "label": "demo",
        "verbose": "false",
        "sizes": "[5]",
        "opts": '{"k": 1}',
    }
    [name] = workflows(k8s_api)
    assert name.startswith("demo-pipeline-") and len(name) == len("demo-pipeline-") + 5
    expected = f"{k8s_api.url}/apis/argoproj.io/v1alpha1/namespaces/argo/workflows/{name}"
    assert result.stdout.strip() == f"run: {expected}"
    assert f"created workflow '{name}' in namespace 'argo'" in result.stderr
    [create] = [r for r in k8s_api.state.requests if r["method"] == "POST"]
    assert create["auth"] == f"Bearer {K8S_TOKEN}"


def test_namespace_run_name_experiment_and_ui_link(k8s_api, kubeconfig_file, demo_nb, monkeypatch):
    monkeypatch.setenv("ARGO_SERVER", "argo.example.com:2746")
    result = cli(
        "submit", str(demo_nb), "--engine", "argo", "--namespace", "team-a",
        "--run-name", "Nightly Run #3", "--experiment", "nightly",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = created(k8s_api)
    assert doc["metadata"]["namespace"] == "team-a"
    assert doc["metadata"]["generateName"] == "nightly-run-3-"
    assert doc["metadata"]["annotations"]["kfp-jupyter/experiment"] == "nightly"
    [name] = workflows(k8s_api)
    assert result.stdout.strip() == f"run: https://argo.example.com:2746/workflows/team-a/{name}"


def test_wait_follows_status_nodes_to_success(k8s_api, kubeconfig_file, demo_nb):
    k8s_api.state.metric_values = {"score": "0.75"}
    result = cli("submit", str(demo_nb), "--engine", "argo", "--wait", "--poll-interval", "5")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    [name] = workflows(k8s_api)
    out = result.stdout
    rows = [ln.split() for ln in out.splitlines() if ln.startswith(" ")]
    seen = [(r[1], r[2]) for r in rows if len(r) >= 3 and r[1] in STEPS]
    for step in STEPS:
        assert [s for n, s in seen if n == step] == ["RUNNING", "SUCCEEDED"], seen
    assert f"run {name} SUCCEEDED" in out and "3 steps (3 succeeded)" in out
    assert "metrics: score=0.75" in out
    # followed with a watch on this one workflow, not by polling
    watches = [r for r in k8s_api.state.requests if r["query"].get("watch")]
    assert watches and all(
        r["query"]["fieldSelector"] == [f"metadata.name={name}"] for r in watches
    )
    gets = [
        r for r in k8s_api.state.requests if r["method"] == "GET" and not r["query"].get("watch")
    ]
    assert len(gets) <= 2


def test_wait_exits_1_and_names_the_failing_task(k8s_api, kubeconfig_file, demo_nb):
    k8s_api.state.fail_tasks = {"train"}
    result = cli("submit", str(demo_nb), "--engine", "argo", "--wait")
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "task 'train' failed: Error (exit code 1)" in result.stdout
    assert "1 succeeded, 1 failed, 1 skipped" in result.stdout


def test_events_through_the_api_with_a_retry(k8s_api, kubeconfig_file, tmp_path):
    from nbutil import code, make_notebook

    nb = make_notebook(
        tmp_path / "r.ipynb",
        [
            code("x = 1", "step:first"),
            code("y = x + 1", "step:flaky", "retries:2"),
        ],
        metadata={"kfp_jupyter": {"name": "retry-demo"}},
    )
    k8s_api.state.flaky_tasks = {"flaky"}
    h = kfp_jupyter.submit(nb, engine="argo", poll_interval=5)
    events = list(h.events())
    assert h.wait(timeout=60) == "SUCCEEDED"
    assert isinstance(events[0], RunEvent) and isinstance(events[-1], RunEvent)
    flaky = [e for e in events if isinstance(e, TaskEvent) and e.step == "flaky"]
    assert [(e.state, e.attempt) for e in flaky] == [
        ("PENDING", 0),
        ("RUNNING", 1),
        ("RUNNING", 2),
        ("SUCCEEDED", 2),
    ]
    assert flaky[-1].exit_code == 0


def test_watch_resumes_after_the_stream_ends_and_after_410_gone(k8s_api, kubeconfig_file, demo_nb):
    k8s_api.state.watch_event_limit = 1  # every watch stream ends after one event
    h = kfp_jupyter.submit(demo_nb, engine="argo", poll_interval=5)
    assert h.wait(timeout=60) == "SUCCEEDED"
    assert len([r for r in k8s_api.state.requests if r["query"].get("watch")]) > 3
    k8s_api.state.watch_event_limit = None
    k8s_api.state.expire_before = 10**9  # any resourceVersion is too old: 410, then a fresh read
    h2 = kfp_jupyter.submit(demo_nb, engine="argo", poll_interval=5).follow()
    began = time.time()
    while time.time() - began < 2:  # let the controller finish the workflow
        time.sleep(0.1)
    k8s_api.state.expire_before = 0
    assert h2.wait(timeout=60) == "SUCCEEDED"
    assert 1 <= k8s_api.state.gone_sent <= 20  # answered by re-reading, with a pause between


def test_cancel_stops_the_workflow(k8s_api, kubeconfig_file, demo_nb):
    h = kfp_jupyter.submit(demo_nb, engine="argo", poll_interval=5)
    for e in h.events():
        if isinstance(e, TaskEvent) and e.state == "RUNNING":
            h.cancel()
            break
    assert h.wait(timeout=60) == "CANCELLED"
    [patch] = [r for r in k8s_api.state.requests if r["method"] == "PATCH"]
    assert json.loads(patch["body"]) == {"spec": {"shutdown": "Terminate"}}


def test_schedule_creates_a_cron_workflow(k8s_api, kubeconfig_file, demo_nb):
    result = cli("submit", str(demo_nb), "--engine", "argo", "--schedule", "30 6 * * 1-5")
    assert result.exit_code == 0, result.output
    doc = created(k8s_api)
    assert doc["kind"] == "CronWorkflow"
    assert doc["spec"]["schedules"] == ["30 6 * * 1-5"]
    assert doc["spec"]["concurrencyPolicy"] == "Forbid"
    assert doc["spec"]["workflowSpec"]["entrypoint"]
    [name] = [k[2] for k in k8s_api.state.objects if k[0] == "cronworkflows"]
    assert result.stdout.strip() == (
        f"recurring run: {k8s_api.url}/apis/argoproj.io/v1alpha1/namespaces/argo/cronworkflows/{name}"
    )


def test_six_field_cron_is_refused_for_argo(k8s_api, kubeconfig_file, demo_nb):
    result = cli("submit", str(demo_nb), "--engine", "argo", "--schedule", "0 30 6 * * *")
    assert result.exit_code == 2
    assert "drop the seconds field: '30 6 * * *'" in result.stderr
    assert k8s_api.state.requests == []


def test_unknown_parameter_sends_nothing(k8s_api, kubeconfig_file, demo_nb):
    result = cli("submit", str(demo_nb), "--engine", "argo", "-p", "epochs=3")
    assert result.exit_code == 2
    assert "unknown parameter 'epochs'" in result.stderr
    assert k8s_api.state.requests == []


# --- errors


def test_unknown_namespace(k8s_api, kubeconfig_file, demo_nb):
    result = cli("submit", str(demo_nb), "--engine", "argo", "--namespace", "nope")
    no_traceback(result)
    assert result.exit_code == 1
    assert "the namespace 'nope' does not exist in the cluster" in result.stderr
    assert 'namespaces "nope" not found' in result.stderr


def test_bad_credentials_401(k8s_api, tmp_path, demo_nb, monkeypatch):
    path = write_kubeconfig(tmp_path / "kc", k8s_api.url, "stale-token", "argo")
    monkeypatch.setenv("KUBECONFIG", str(path))
    result = cli("submit", str(demo_nb), "--engine", "argo")
    no_traceback(result)
    assert result.exit_code == 1
    assert "refused the credentials (401 Unauthorized)" in result.stderr
    assert "stale-token" not in result.output


def test_forbidden_403_shows_the_servers_reason(k8s_api, kubeconfig_file, demo_nb):
    k8s_api.state.forbidden_tokens = {K8S_TOKEN}
    with pytest.raises(AuthError) as info:
        kfp_jupyter.submit(demo_nb, engine="argo")
    assert info.value.status == 403
    assert 'cannot post resource "workflows" in API group "argoproj.io"' in str(info.value)
    assert "namespace 'argo'" in str(info.value)
    result = cli("submit", str(demo_nb), "--engine", "argo")
    assert result.exit_code == 1 and "(403 Forbidden)" in result.stderr


def test_cluster_without_argo(k8s_api, kubeconfig_file, demo_nb):
    k8s_api.state.crd_installed = False
    with pytest.raises(NotFoundError, match="the cluster has no Argo Workflows API"):
        kfp_jupyter.submit(demo_nb, engine="argo")


def test_unreachable_api_server(cluster_env, tmp_path, demo_nb, closed_port, monkeypatch):
    path = write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{closed_port}", K8S_TOKEN)
    monkeypatch.setenv("KUBECONFIG", str(path))
    result = cli("submit", str(demo_nb), "--engine", "argo")
    no_traceback(result)
    assert result.exit_code == 1
    assert f"cannot reach the Kubernetes API at http://127.0.0.1:{closed_port}" in result.stderr
    assert "connection refused" in result.stderr and "Retrying" not in result.stderr


def test_no_kubernetes_configuration_exits_2(cluster_env, demo_nb):
    result = cli("submit", str(demo_nb), "--engine", "argo")
    no_traceback(result)
    assert result.exit_code == 2
    assert "no Kubernetes configuration" in result.stderr


def test_host_and_token_without_kubeconfig(k8s_api, demo_nb, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, K8S_TOKEN)
    result = cli("submit", str(demo_nb), "--engine", "argo", "--host", k8s_api.url,
                 "--token-env", TOKEN_ENV, "--namespace", "team-a")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert created(k8s_api)["metadata"]["namespace"] == "team-a"
    assert K8S_TOKEN not in result.output


def test_token_env_overrides_the_kubeconfig_user(k8s_api, tmp_path, demo_nb, monkeypatch):
    path = write_kubeconfig(tmp_path / "kc", k8s_api.url, "stale-token")
    monkeypatch.setenv(TOKEN_ENV, K8S_TOKEN)
    result = cli("submit", str(demo_nb), "--engine", "argo", "--kubeconfig", str(path),
                 "--token-env", TOKEN_ENV)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert created(k8s_api)["metadata"]["namespace"] == "default"  # no namespace in that context
    assert {r["auth"] for r in k8s_api.state.requests} == {f"Bearer {K8S_TOKEN}"}


def test_workflow_deleted_while_followed(k8s_api, kubeconfig_file, demo_nb):
    h = kfp_jupyter.submit(demo_nb, engine="argo", poll_interval=5)
    k8s_api.delete("workflows", "argo", h.run_id)
    with pytest.raises(FollowError, match="was deleted"):
        h.wait(timeout=30)


# --- reading status.nodes


def _node(name: str, phase: str, **more: object) -> dict:
    return {"id": f"id-{name}", "name": f"wf.{name}", "displayName": name, "type": "Pod",
            "phase": phase, **more}  # fmt: skip


def test_snapshot_of_compressed_nodes_and_offloaded_status():
    nodes = {
        "id-load-data": _node("load-data", "Succeeded", outputs={"exitCode": "0"}),
        "id-train": _node("train", "Running", startedAt="2025-01-01T00:00:00Z"),
    }
    packed = base64.b64encode(gzip.compress(json.dumps(nodes).encode())).decode()
    steps = {"load-data": "load_data", "train": "train", "report": "report"}
    snap = workflow_snapshot(
        {"status": {"phase": "Running", "compressedNodes": packed}}, steps, set()
    )
    assert snap.tasks["load_data"].state == "SUCCEEDED"
    assert snap.tasks["train"].state == "RUNNING"
    assert snap.tasks["train"].started == 1735689600.0
    assert "report" not in snap.tasks
    offloaded = workflow_snapshot(
        {"status": {"phase": "Running", "offloadNodeStatusVersion": "abc"}}, steps, set()
    )
    assert offloaded.tasks == {} and "database" in (offloaded.message or "")


def test_snapshot_phases():
    steps = {"a": "a"}
    stopped = {"phase": "Failed", "message": "Stopped with strategy 'Terminate'", "nodes": {}}
    assert workflow_snapshot({"status": stopped}, steps, set()).state == "CANCELLED"
    failed = {"phase": "Error", "nodes": {"x": _node("a", "Error", message="OOMKilled")}}
    snap = workflow_snapshot({"status": failed}, steps, set())
    assert snap.state == "FAILED" and snap.tasks["a"].message == "OOMKilled"
    pending = {"phase": "Running", "nodes": {"x": _node("a", "Pending", message="Unschedulable")}}
    assert (
        workflow_snapshot({"status": pending}, steps, set()).tasks["a"].message == "Unschedulable"
    )
    assert workflow_snapshot({}, steps, set()).state == "RUNNING"


def test_token_in_kubeconfig_never_printed(k8s_api, kubeconfig_file, demo_nb, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    for args in (["--wait"], ["--json"], ["--namespace", "nope"]):
        result = cli("submit", str(demo_nb), "--engine", "argo", *args)
        assert K8S_TOKEN not in result.output + (result.stderr or "")
    assert K8S_TOKEN not in caplog.text
    assert all(K8S_TOKEN not in json.dumps(d) for d in k8s_api.state.created)
    assert Path(kubeconfig_file).read_text().count(K8S_TOKEN) == 1  # untouched


def test_a_rejected_workflow_shows_the_servers_reason(k8s_api, kubeconfig_file, demo_nb):
    """The server's schema check is not vacuous, and a refusal reaches the user in its words."""
    from kfp_jupyter import load_notebook
    from kfp_jupyter.cluster import RejectedError
    from kfp_jupyter.cluster.argo_backend import submit_argo, workflow_for
    from kfp_jupyter.cluster.config import ConnectionSettings, kube_connection

    pipeline = load_notebook(demo_nb)
    conn = kube_connection(ConnectionSettings())
    doc = workflow_for(pipeline, {}, namespace="argo")
    doc["spec"]["templates"][1]["retryStratgy"] = {"limit": "1"}  # misspelt
    with pytest.raises(RejectedError) as info:
        submit_argo(pipeline, doc, conn)
    assert "(422)" in str(info.value)
    assert "Additional properties are not allowed ('retryStratgy' was unexpected)" in str(
        info.value
    )
    assert len(k8s_api.state.violations) == 1
    k8s_api.state.violations.clear()
