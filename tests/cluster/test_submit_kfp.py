"""`kfp-jupyter submit` and `kfp_jupyter.submit` against a Kubeflow Pipelines API on 127.0.0.1.

The server (tests/servers/kfp_server.py) checks every request the real kfp_api SDK sends and every
response it returns against KFP's official REST spec; the `kfp` fixture fails a test on any
violation. Runs progress on the server one step per read, so --wait, the table and the exit
status are exercised end to end.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbutil import code, make_notebook
from servers.helpers import CELLS, KFP_TOKEN, TOKEN_ENV, cli, no_traceback
from servers.kfp_server import KfpServer

import kfp_jupyter
from kfp_jupyter.cluster import AuthError, FollowError, InvalidSubmission, SubmitHandle
from kfp_jupyter.engine.events import RunEvent, TaskEvent

STEPS = ["load_data", "train", "report"]

pytest_plugins = ["servers.fixtures"]


def submit_args(server: KfpServer, nb: Path, *more: str) -> list[str]:
    return ["submit", str(nb), "--host", server.url, "--token-env", TOKEN_ENV, *more]


def ops(server: KfpServer) -> list[str]:
    return [r.operation or "?" for r in server.state.requests]


def only_run(server: KfpServer) -> dict:
    assert len(server.state.runs) == 1
    return next(iter(server.state.runs.values())).run


# --- the first submission: pipeline, experiment, run, URL


def test_first_submit_uploads_the_pipeline_creates_the_experiment_and_the_run(kfp_api, demo_nb):
    result = cli(*submit_args(kfp_api, demo_nb))
    no_traceback(result)
    assert result.exit_code == 0, result.output
    run = only_run(kfp_api)
    assert result.stdout.strip() == f"run: {kfp_api.url}/#/runs/details/{run['run_id']}"
    assert "uploaded pipeline 'demo-pipeline' (new pipeline)" in result.stderr
    assert "created experiment 'Default'" in result.stderr
    [pipeline] = kfp_api.state.pipelines.values()
    assert pipeline["display_name"] == "demo-pipeline"
    [version] = kfp_api.state.versions[pipeline["pipeline_id"]]
    # what was uploaded is the notebook's compiled KFP IR
    assert version["pipeline_spec"]["pipelineInfo"]["name"] == "demo-pipeline"
    assert set(version["pipeline_spec"]["root"]["dag"]["tasks"]) == {"load-data", "train", "report"}
    [experiment] = kfp_api.state.experiments.values()
    assert experiment["display_name"] == "Default"
    assert run["experiment_id"] == experiment["experiment_id"]
    assert run["pipeline_version_reference"] == {
        "pipeline_id": pipeline["pipeline_id"],
        "pipeline_version_id": version["pipeline_version_id"],
    }
    # the default values of every parameter, typed
    assert run["runtime_config"]["parameters"] == {
        "n_rows": 4,
        "rate": 0.5,
        "label": "demo",
        "verbose": False,
        "sizes": [1, 2],
        "opts": {"k": 1},
    }
    assert run["display_name"].startswith("demo-pipeline ")
    # every request carried the token as a Bearer header
    assert all(
        r.headers.get("authorization") == f"Bearer {KFP_TOKEN}" for r in kfp_api.state.requests
    )
    assert "RunService_GetRun" not in ops(kfp_api)  # without --wait the run is not followed


def test_the_kfp_runtime_pin_can_be_set_for_one_submit(kfp_api, demo_nb):
    result = cli(*submit_args(kfp_api, demo_nb, "--kfp-runtime", "2.16.1"))
    no_traceback(result)
    assert result.exit_code == 0, result.output
    [pipeline] = kfp_api.state.pipelines.values()
    [version] = kfp_api.state.versions[pipeline["pipeline_id"]]
    executors = version["pipeline_spec"]["deploymentSpec"]["executors"]
    installs = {e["container"]["command"][2] for e in executors.values()}
    assert len(installs) == 1 and "'kfp==2.16.1' '--no-deps'" in installs.pop()
    # a bad pin is refused before anything is sent
    kfp_api.state.requests.clear()
    result = cli(*submit_args(kfp_api, demo_nb, "--kfp-runtime", "not a version"))
    no_traceback(result)
    assert result.exit_code == 2 and "--kfp-runtime 'not a version'" in result.stderr
    assert not kfp_api.state.requests


def test_same_notebook_again_reuses_the_version_and_an_edit_uploads_a_new_one(
    kfp_api, demo_nb, tmp_path
):
    first = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN)
    again = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN, experiment="Default")
    assert any("unchanged: reusing its version" in n for n in again.notes)
    assert "UploadPipelineVersion" not in ops(kfp_api)
    [pid] = kfp_api.state.pipelines
    assert len(kfp_api.state.versions[pid]) == 1
    assert again.info.version_id == first.info.version_id
    assert "created experiment" not in " ".join(again.notes)  # found, not created twice

    edited = make_notebook(
        tmp_path / "demo.ipynb",
        [
            *CELLS[:3],
            code(
                "total = sum(data) * 2 + len(sizes) + opts['k']\nscore = total / 10", "step:train"
            ),
            *CELLS[4:],
        ],
        metadata={"kfp_jupyter": {"name": "demo-pipeline"}},
    )
    third = kfp_jupyter.submit(edited, host=kfp_api.url, token=KFP_TOKEN)
    assert ops(kfp_api).count("UploadPipeline") == 1
    assert ops(kfp_api).count("UploadPipelineVersion") == 1
    versions = kfp_api.state.versions[pid]
    assert len(versions) == 2
    assert third.info.version_id == versions[1]["pipeline_version_id"]
    assert versions[1]["display_name"].startswith("demo-pipeline-")
    assert any(f"as a new version '{versions[1]['display_name']}'" in n for n in third.notes)
    runs = [s.run for s in kfp_api.state.runs.values()]
    assert [r["pipeline_version_reference"]["pipeline_version_id"] for r in runs] == [
        first.info.version_id,
        first.info.version_id,
        third.info.version_id,
    ]


def test_existing_experiment_is_used_and_a_missing_one_created(kfp_api, demo_nb):
    kfp_api.state.experiments["exp-1"] = {
        "experiment_id": "exp-1",
        "display_name": "nightly",
        "created_at": "2025-01-01T00:00:00Z",
        "storage_state": "AVAILABLE",
    }
    h = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN, experiment="nightly")
    assert h.info.experiment_id == "exp-1"
    assert "ExperimentService_CreateExperiment" not in ops(kfp_api)
    h2 = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN, experiment="ad-hoc")
    assert "created experiment 'ad-hoc'" in h2.notes
    assert {e["display_name"] for e in kfp_api.state.experiments.values()} == {"nightly", "ad-hoc"}


def test_notebook_metadata_names_the_default_experiment(kfp_api, tmp_path):
    nb = make_notebook(
        tmp_path / "m.ipynb",
        CELLS,
        metadata={"kfp_jupyter": {"name": "demo-pipeline", "experiment": "from-notebook"}},
    )
    h = kfp_jupyter.submit(nb, host=kfp_api.url, token=KFP_TOKEN)
    assert h.info.experiment == "from-notebook"
    assert [e["display_name"] for e in kfp_api.state.experiments.values()] == ["from-notebook"]


# --- parameters


def test_parameters_are_typed_before_they_are_sent(kfp_api, demo_nb):
    result = cli(
        *submit_args(kfp_api, demo_nb),
        "-p", "n_rows=7", "-p", "rate=2", "-p", "label=a b=c", "-p", "verbose=true",
        "-p", "sizes=[3, 4]", "-p", 'opts={"k": 2, "z": [1]}',
        "--run-name", "my run",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = only_run(kfp_api)
    params = run["runtime_config"]["parameters"]
    assert params == {
        "n_rows": 7,
        "rate": 2.0,
        "label": "a b=c",
        "verbose": True,
        "sizes": [3, 4],
        "opts": {"k": 2, "z": [1]},
    }
    assert isinstance(params["rate"], float) and isinstance(params["n_rows"], int)
    assert run["display_name"] == "my run"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "nope=1",
            "unknown parameter 'nope'; the pipeline's parameters: n_rows (int), rate (float)",
        ),
        ("n_rows=4.5", "parameter 'n_rows' (int): '4.5' is not an int"),
        ("verbose=maybe", "parameter 'verbose' (bool): 'maybe' is not a bool"),
        ("sizes={1: 2}", "parameter 'sizes' (list): '{1: 2}' is not a list"),
        ("rate=nan", "parameter 'rate' is nan, which JSON cannot hold"),
    ],
)
def test_invalid_parameter_exits_2_and_sends_nothing(kfp_api, demo_nb, option, message):
    result = cli(*submit_args(kfp_api, demo_nb), "-p", option)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert kfp_api.state.requests == []


def test_api_takes_typed_values_and_refuses_wrong_types(kfp_api, demo_nb):
    with pytest.raises(InvalidSubmission, match=r"parameter 'label' must be a str, not int \(1\)"):
        kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN, params={"label": 1})
    assert kfp_api.state.requests == []
    h = kfp_jupyter.submit(
        demo_nb, host=kfp_api.url, token=KFP_TOKEN, params={"n_rows": 9, "sizes": [], "rate": 1}
    )
    assert h.info.parameters["rate"] == 1.0
    assert only_run(kfp_api)["runtime_config"]["parameters"]["sizes"] == []


# --- recurring runs


def test_schedule_creates_a_recurring_run(kfp_api, demo_nb):
    result = cli(*submit_args(kfp_api, demo_nb), "--schedule", "0 30 6 * * 1-5", "-p", "n_rows=2")
    assert result.exit_code == 0, result.output
    [rec] = kfp_api.state.recurring.values()
    assert result.stdout.strip() == (
        f"recurring run: {kfp_api.url}/#/recurringrun/details/{rec['recurring_run_id']}"
    )
    assert rec["trigger"] == {"cron_schedule": {"cron": "0 30 6 * * 1-5"}}
    assert rec["mode"] == "ENABLE"
    assert rec["max_concurrency"] == "1"
    assert rec["runtime_config"]["parameters"]["n_rows"] == 2
    assert kfp_api.state.runs == {}


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("30 6 * * 1", "write '0 30 6 * * 1'"),
        ("0 61 6 * * *", "minute: 61 is out of range 0-59"),
        ("@fortnightly", "unknown descriptor"),
        ("* * * *", "expected 6 fields, found 4"),
    ],
)
def test_invalid_schedule_exits_2_and_sends_nothing(kfp_api, demo_nb, cron, message):
    result = cli(*submit_args(kfp_api, demo_nb), "--schedule", cron)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert kfp_api.state.requests == []


def test_wait_with_schedule_is_refused(kfp_api, demo_nb):
    result = cli(*submit_args(kfp_api, demo_nb), "--schedule", "0 0 6 * * *", "--wait")
    assert result.exit_code == 2
    assert "--wait follows one run" in result.stderr
    assert kfp_api.state.requests == []


# --- following a run: --wait, the table, exit status


def test_wait_follows_the_run_to_success(kfp_api, demo_nb):
    result = cli(*submit_args(kfp_api, demo_nb), "--wait", "--poll-interval", "0.05")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    run = only_run(kfp_api)
    out = result.stdout
    assert out.startswith(f"run: {kfp_api.url}/#/runs/details/{run['run_id']}\n")
    # the plain form of the local engine's table: one line per change, our step names
    lines = [ln.split() for ln in out.splitlines() if ln[:1] == " " or ln[:1].isdigit()]
    seen = [(ln[1], ln[2]) for ln in lines if len(ln) >= 3 and ln[1] in STEPS]
    assert seen == [
        ("load_data", "RUNNING"),
        ("load_data", "SUCCEEDED"),
        ("train", "RUNNING"),
        ("train", "SUCCEEDED"),
        ("report", "RUNNING"),
        ("report", "SUCCEEDED"),
    ]
    assert f"run {run['run_id']} SUCCEEDED" in out
    assert "3 steps (3 succeeded)" in out
    assert kfp_api.state.runs[run["run_id"]].run["state"] == "SUCCEEDED"


def test_wait_exits_1_and_names_the_failing_task(kfp_api, demo_nb):
    kfp_api.state.fail_tasks = {"train"}
    result = cli(*submit_args(kfp_api, demo_nb), "--wait", "--poll-interval", "0.05")
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert "train" in result.stdout and "FAILED" in result.stdout
    assert "task 'train' failed: exit status 1" in result.stdout
    assert "report" in result.stdout and "SKIPPED" in result.stdout
    assert "1 succeeded, 1 failed, 1 skipped" in result.stdout


def test_handle_yields_the_same_events_as_a_local_run(kfp_api, demo_nb):
    h = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN, poll_interval=0.05)
    assert isinstance(h, SubmitHandle)
    assert h.url == f"{kfp_api.url}/#/runs/details/{h.run_id}"
    events = list(h.events())
    assert h.wait(timeout=30) == "SUCCEEDED"
    assert all(isinstance(e, (TaskEvent, RunEvent)) for e in events)
    assert all(e.run_id == h.run_id for e in events)
    assert isinstance(events[0], RunEvent) and events[0].state == "RUNNING"
    assert isinstance(events[-1], RunEvent) and events[-1].state == "SUCCEEDED"
    for step in STEPS:
        states = [e.state for e in events if isinstance(e, TaskEvent) and e.step == step]
        assert states == ["PENDING", "RUNNING", "SUCCEEDED"], (step, states)
        done = [e for e in events if isinstance(e, TaskEvent) and e.step == step][-1]
        assert done.started is not None and done.finished is not None
        assert done.finished >= done.started
    # a second subscriber gets everything from the start, as with run_local
    assert [(type(e), getattr(e, "step", None), e.state) for e in h.events()] == [
        (type(e), getattr(e, "step", None), e.state) for e in events
    ]
    assert h.tasks == dict.fromkeys(STEPS, "SUCCEEDED")


def test_failed_run_through_the_api(kfp_api, demo_nb):
    kfp_api.state.fail_tasks = {"load-data"}
    h = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN, poll_interval=0.05)
    assert h.wait(timeout=30) == "FAILED"
    assert h.failed_tasks == ["load_data"]
    assert h.message is not None and h.message.startswith("task 'load_data' failed")
    assert h.tasks == {"load_data": "FAILED", "train": "SKIPPED", "report": "SKIPPED"}


def test_cancel_terminates_the_run(kfp_api, demo_nb):
    h = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN, poll_interval=0.05)
    for e in h.events():
        if isinstance(e, TaskEvent) and e.state == "RUNNING":
            h.cancel()
            break
    assert h.wait(timeout=30) == "CANCELLED"
    assert "RunService_TerminateRun" in ops(kfp_api)
    assert set(h.tasks.values()) <= {"SUCCEEDED", "CANCELLED"}


def test_lost_connection_while_following_is_a_clear_failure(kfp_api, demo_nb):
    h = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN, poll_interval=0.02)
    kfp_api.stop()
    with pytest.raises(FollowError, match="lost the connection while following run"):
        h.wait(timeout=60)


def test_json_output(kfp_api, demo_nb):
    result = cli(*submit_args(kfp_api, demo_nb), "--json", "--experiment", "e1")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    run = only_run(kfp_api)
    assert data["run_id"] == run["run_id"]
    assert data["url"] == f"{kfp_api.url}/#/runs/details/{run['run_id']}"
    assert data["engine"] == "kfp" and data["kind"] == "run" and data["experiment"] == "e1"
    assert data["pipeline_id"] in kfp_api.state.pipelines
    assert data["parameters"]["n_rows"] == 4


def test_json_output_with_wait_reports_the_end(kfp_api, demo_nb):
    kfp_api.state.fail_tasks = {"report"}
    result = cli(*submit_args(kfp_api, demo_nb), "--json", "--wait", "--poll-interval", "0.05")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["state"] == "FAILED"
    assert data["tasks"] == {"load_data": "SUCCEEDED", "train": "SUCCEEDED", "report": "FAILED"}
    assert data["message"].startswith("task 'report' failed")


def test_ui_address_for_the_link(kfp_api, demo_nb, monkeypatch):
    monkeypatch.setenv("KF_PIPELINES_UI_ENDPOINT", "https://kubeflow.example.com/pipeline")
    h = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN)
    assert h.url == f"https://kubeflow.example.com/pipeline/#/runs/details/{h.run_id}"


# --- where the host and the credentials come from


def test_host_from_the_environment(kfp_api, demo_nb, monkeypatch):
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", kfp_api.url)
    result = cli("submit", str(demo_nb), "--token-env", TOKEN_ENV)
    assert result.exit_code == 0, result.output
    assert len(kfp_api.state.runs) == 1


def test_host_and_namespace_from_kfps_context_file(kfp_api, demo_nb, cluster_env):
    kfp_api.state.namespaces = {"team-a"}
    cluster_env.parent.mkdir(parents=True)
    cluster_env.write_text(json.dumps({"host": kfp_api.url, "namespace": "team-a"}))
    result = cli("submit", str(demo_nb), "--token-env", TOKEN_ENV)
    assert result.exit_code == 0, result.output
    [experiment] = kfp_api.state.experiments.values()
    assert experiment["namespace"] == "team-a"
    [pipeline] = kfp_api.state.pipelines.values()
    assert pipeline["namespace"] == "team-a"


def test_credentials_from_kfps_context_file(kfp_api, demo_nb, cluster_env, monkeypatch):
    """kfp.Client's own mechanism: an auth header kept in the context file."""
    monkeypatch.delenv(TOKEN_ENV)
    cluster_env.parent.mkdir(parents=True)
    cluster_env.write_text(
        json.dumps(
            {
                "namespace": "",
                "client_authentication_header_name": "Authorization",
                "client_authentication_header_value": f"Bearer {KFP_TOKEN}",
            }
        )
    )
    result = cli("submit", str(demo_nb), "--host", kfp_api.url)
    assert result.exit_code == 0, result.output
    assert KFP_TOKEN not in result.output


def test_credentials_from_a_service_account_token_file(kfp_api, demo_nb, tmp_path, monkeypatch):
    """In a pod: kfp's ServiceAccountTokenVolumeCredentials reads $KF_PIPELINES_SA_TOKEN_PATH."""
    token_file = tmp_path / "token"
    token_file.write_text(KFP_TOKEN + "\n")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token_file))
    h = kfp_jupyter.submit(demo_nb, host=kfp_api.url)
    assert h.run_id in kfp_api.state.runs


def test_no_host_configured_exits_2(cluster_env, demo_nb):
    result = cli("submit", str(demo_nb))
    no_traceback(result)
    assert result.exit_code == 2
    assert "no Kubeflow Pipelines host is configured" in result.stderr
    assert "KF_PIPELINES_ENDPOINT" in result.stderr and "--host" in result.stderr


def test_token_env_naming_an_unset_variable_exits_2(kfp_api, demo_nb):
    result = cli("submit", str(demo_nb), "--host", kfp_api.url, "--token-env", "NO_SUCH_VAR")
    assert result.exit_code == 2
    assert "the environment variable NO_SUCH_VAR is not set" in result.stderr
    assert kfp_api.state.requests == []


def test_host_without_scheme_exits_2(cluster_env, demo_nb):
    result = cli("submit", str(demo_nb), "--host", "localhost:8080")
    assert result.exit_code == 2
    assert "write it as http://localhost:8080" in result.stderr


# --- what the server (or the network) says


def test_unreachable_host_exits_1_quickly_with_one_clear_message(cluster_env, demo_nb, closed_port):
    began = time.time()
    result = cli("submit", str(demo_nb), "--host", f"http://127.0.0.1:{closed_port}",
                 "--token-env", TOKEN_ENV)  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 1
    assert f"cannot reach the KFP API at http://127.0.0.1:{closed_port}" in result.stderr
    assert "connection refused" in result.stderr
    assert "Retrying" not in result.stderr  # urllib3's retry warnings are kept out of the way
    assert time.time() - began < 30


def test_wrong_token_401(kfp_api, demo_nb, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "expired-token")
    result = cli(*submit_args(kfp_api, demo_nb))
    no_traceback(result)
    assert result.exit_code == 1
    assert "refused the credentials (401 Unauthorized)" in result.stderr
    assert "Unauthorized: missing or invalid bearer token" in result.stderr  # the server's words
    assert f"the token from ${TOKEN_ENV} was refused" in result.stderr
    assert "expired-token" not in result.output
    assert ops(kfp_api) == ["HealthzService_GetHealthz"]  # one attempt, not kfp's five


def test_no_token_401(kfp_api, demo_nb):
    result = cli("submit", str(demo_nb), "--host", kfp_api.url)
    assert result.exit_code == 1
    assert "refused the credentials (401 Unauthorized)" in result.stderr
    assert "no token was sent" in result.stderr
    # the request without a Bearer header is, rightly, a violation of the spec
    assert all("security" in v for v in kfp_api.state.violations)
    kfp_api.state.violations.clear()


def test_forbidden_403(kfp_api, demo_nb):
    kfp_api.state.forbidden_tokens = {KFP_TOKEN}
    result = cli(*submit_args(kfp_api, demo_nb), "--namespace", "team-b")
    no_traceback(result)
    assert result.exit_code == 1
    assert "denied permission (403 Forbidden)" in result.stderr
    assert "in namespace 'team-b'" in result.stderr


def test_rejected_pipeline_shows_the_servers_reason(kfp_api, demo_nb):
    kfp_api.state.reject_upload = (
        "Failed to upload a pipeline: invalid pipeline spec: unsupported executor type"
    )
    result = cli(*submit_args(kfp_api, demo_nb))
    no_traceback(result)
    assert result.exit_code == 1
    assert (
        "the KFP server rejected the pipeline 'demo-pipeline': Failed to upload a pipeline: "
        "invalid pipeline spec: unsupported executor type"
    ) in result.stderr
    assert "RunService_CreateRun" not in ops(kfp_api)


def test_unknown_namespace(kfp_api, demo_nb):
    kfp_api.state.namespaces = {"team-a"}
    result = cli(*submit_args(kfp_api, demo_nb), "--namespace", "no-such-team")
    no_traceback(result)
    assert result.exit_code == 1
    assert "the namespace 'no-such-team' does not exist" in result.stderr


def test_archived_experiment(kfp_api, demo_nb):
    kfp_api.state.experiments["exp-9"] = {
        "experiment_id": "exp-9",
        "display_name": "old",
        "storage_state": "ARCHIVED",
    }
    result = cli(*submit_args(kfp_api, demo_nb), "--experiment", "old")
    assert result.exit_code == 1
    assert "the experiment 'old' is archived" in result.stderr
    assert kfp_api.state.runs == {}


def test_experiment_that_cannot_be_created(kfp_api, demo_nb):
    """Multi-user KFP without a namespace: the experiment is missing and cannot be made."""
    kfp_api.state.multi_user = True
    result = cli(*submit_args(kfp_api, demo_nb), "--experiment", "x")
    assert result.exit_code == 1
    assert "the experiment 'x' does not exist and could not be created" in result.stderr
    assert "experiment namespace must be set" in result.stderr


# --- the token stays secret


def test_token_never_appears_in_output_logs_or_files(kfp_api, demo_nb, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    kfp_api.state.fail_tasks = {"train"}
    for args in (["--wait", "--poll-interval", "0.05"], ["--json"], ["--schedule", "0 0 1 * * *"]):
        result = cli(*submit_args(kfp_api, demo_nb), *args)
        assert result.exit_code in (0, 1), result.output
        assert KFP_TOKEN not in result.output and KFP_TOKEN not in result.stderr
    kfp_api.state.tokens = set()
    result = cli(*submit_args(kfp_api, demo_nb))
    assert result.exit_code == 1
    assert KFP_TOKEN not in result.output
    assert KFP_TOKEN not in caplog.text
    assert kfp_api.state.uploads and all(KFP_TOKEN.encode() not in u for u in kfp_api.state.uploads)
    # ... and the token was what authenticated every request
    assert {r.headers.get("authorization") for r in kfp_api.state.requests} == {
        f"Bearer {KFP_TOKEN}"
    }
    # the compiled IR as written by `compile` holds no token either
    ir = tmp_path / "demo.yaml"
    assert cli("compile", str(demo_nb), "-o", str(ir)).exit_code == 0
    assert KFP_TOKEN not in ir.read_text()


def test_errors_carry_no_token(kfp_api, demo_nb):
    kfp_api.state.tokens = {"another"}
    with pytest.raises(AuthError) as info:
        kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN)
    assert KFP_TOKEN not in str(info.value) and KFP_TOKEN not in repr(info.value.__dict__)
    assert info.value.status == 401


# --- the real command, as a user runs it


def test_command_line_end_to_end(kfp_api, demo_nb, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        TOKEN_ENV: KFP_TOKEN,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    base = [sys.executable, "-m", "kfp_jupyter.cli.main", "submit", str(demo_nb),
            "--host", kfp_api.url, "--token-env", TOKEN_ENV, "--poll-interval", "0.05"]  # fmt: skip
    ok = subprocess.run([*base, "--wait"], env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "SUCCEEDED" in ok.stdout and "Traceback" not in ok.stderr
    kfp_api.state.fail_tasks = {"report"}
    failed = subprocess.run([*base, "--wait"], env=env, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1
    assert "task 'report' failed" in failed.stdout
    kfp_api.state.tokens = set()
    refused = subprocess.run(base, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: the KFP API at")
    for p in (ok, failed, refused):
        assert "Traceback" not in p.stdout + p.stderr
        assert KFP_TOKEN not in p.stdout + p.stderr


def test_a_login_page_instead_of_the_api(kfp_api, demo_nb):
    """Kubeflow behind Dex/OIDC without a session: 302 to a login page (HTML)."""
    kfp_api.state.login_redirect = True
    result = cli(*submit_args(kfp_api, demo_nb))
    no_traceback(result)
    assert result.exit_code == 1
    assert "answered with a text/html page instead of the KFP API" in result.stderr
    assert "client_authentication_cookie" in result.stderr


def test_a_host_that_is_not_the_api(kfp_api, demo_nb):
    result = cli("submit", str(demo_nb), "--host", kfp_api.url + "/wrong-prefix",
                 "--token-env", TOKEN_ENV)  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 1
    assert "does not serve the KFP API (GET /apis/v2beta1/healthz: 404)" in result.stderr
    # the request to a path the spec does not have is, rightly, a violation
    assert kfp_api.state.violations == [
        "request GET /wrong-prefix/apis/v2beta1/healthz: not an operation of the spec"
    ]
    kfp_api.state.violations.clear()


def test_the_server_catches_contract_violations(kfp_api, demo_nb):
    """The checks are not vacuous: what breaks the spec is caught, in both directions."""
    import warnings

    import kfp_server_api
    from kfp import Client

    h = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        client = Client(host=kfp_api.url, existing_token=KFP_TOKEN, namespace="x")
    # the SDK's own create_recurring_run sends max_concurrency (an int64) as a JSON number;
    # the test server answers a request that breaks the spec with 400, as grpc-gateway would
    with pytest.raises(kfp_server_api.ApiException) as info:
        client.create_recurring_run(
            experiment_id=h.info.experiment_id,
            job_name="sdk",
            cron_expression="0 0 * * * *",
            pipeline_id=h.info.pipeline_id,
            version_id=h.info.version_id,
        )
    assert info.value.status == 400
    assert kfp_api.state.violations == [
        "request POST /apis/v2beta1/recurringruns body.max_concurrency: 1 is not of type 'string'"
    ]
    kfp_api.state.violations.clear()
    # a response that breaks the spec is caught too
    with kfp_api.state.lock:
        next(iter(kfp_api.state.runs.values())).run["storage_state"] = "GONE"
    client.get_run(h.run_id)
    assert kfp_api.state.violations == [
        "response 200 to GET /apis/v2beta1/runs/{run_id} body.storage_state: "
        "'GONE' is not one of ['STORAGE_STATE_UNSPECIFIED', 'AVAILABLE', 'ARCHIVED']"
    ]
    kfp_api.state.violations.clear()


def test_ctrl_c_while_waiting_stops_following_not_the_run(kfp_api, demo_nb, tmp_path):
    import os
    import signal

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), TOKEN_ENV: KFP_TOKEN}
    cmd = [sys.executable, "-m", "kfp_jupyter.cli.main", *submit_args(kfp_api, demo_nb),
           "--wait", "--poll-interval", "30"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "run: URL", printed once the run exists
    assert first.startswith("run: ")
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "stopped following; the run goes on in the cluster" in err
    assert "Traceback" not in out + err
    assert "RunService_TerminateRun" not in ops(kfp_api)
