"""`kfp-jupyter attach RUN_ID`, and a saved target when following a run sent earlier.

A run is sent and left alone; the command then follows it from nothing but its id, as
`submit --wait` follows the run it sends: the same view, exit status and `--json` object. The
clusters are the test servers on 127.0.0.1 (tests/servers/), which check every request against
KFP's REST spec and Argo's schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbutil import code, make_notebook
from servers.helpers import KFP_TOKEN, TOKEN_ENV, cli, no_traceback
from servers.k8s_server import K8sServer
from servers.kfp_server import KfpServer

import kfp_jupyter
from kfp_jupyter.cluster import attach

pytest_plugins = ["servers.fixtures"]
pytestmark = pytest.mark.usefixtures("config")

STEPS = ["load_data", "train", "report"]


def sent(server: KfpServer, nb: Path) -> str:
    """The id of a run sent and never read by the one who sent it."""
    return kfp_jupyter.submit(nb, host=server.url, token=KFP_TOKEN).run_id


def kfp_attach(server: KfpServer, run_id: str, *more: str) -> Any:
    return cli("attach", run_id, "--host", server.url, "--token-env", TOKEN_ENV,
               "--poll-interval", "0.05", *more)  # fmt: skip


def save_prod(server: KfpServer) -> None:
    result = cli("targets", "add", "prod", "--engine", "kfp", "--host", server.url,
                 "--token-env", TOKEN_ENV)  # fmt: skip
    assert result.exit_code == 0, result.output


def test_attach_follows_a_kfp_run_to_its_end(kfp_api: KfpServer, demo_nb: Path) -> None:
    run_id = sent(kfp_api, demo_nb)
    result = kfp_attach(kfp_api, run_id)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"run: {kfp_api.url}/#/runs/details/{run_id}\n")
    assert f"run {run_id} SUCCEEDED after " in result.stdout
    for step in STEPS:  # the notebook's step names, read back from the run
        assert step in result.stdout
    assert KFP_TOKEN not in result.output


def test_attach_shows_the_run_as_submit_wait_does(kfp_api: KfpServer, demo_nb: Path) -> None:
    """The same summary lines, but for the run id and the times."""

    def summary(text: str, run_id: str) -> list[str]:
        lines = text.replace(run_id, "RUN").splitlines()
        return [" ".join(w for w in x.split() if not w[:1].isdigit()) for x in lines]

    waited = cli("submit", str(demo_nb), "--host", kfp_api.url, "--token-env", TOKEN_ENV,
                 "--wait", "--poll-interval", "0.05")  # fmt: skip
    assert waited.exit_code == 0, waited.output
    [first] = kfp_api.state.runs
    attached = kfp_attach(kfp_api, sent(kfp_api, demo_nb))
    assert attached.exit_code == 0, attached.output
    [second] = [r for r in kfp_api.state.runs if r != first]
    assert summary(attached.stdout, second)[-4:] == summary(waited.stdout, first)[-4:]


def test_attach_to_a_failing_run_exits_1_naming_the_task(kfp_api: KfpServer, demo_nb: Path) -> None:
    kfp_api.state.fail_tasks = {"train"}
    result = kfp_attach(kfp_api, sent(kfp_api, demo_nb))
    no_traceback(result)
    assert result.exit_code == 1
    assert "task 'train' failed" in result.stdout


def test_attach_json_is_the_object_submit_wait_prints(kfp_api: KfpServer, demo_nb: Path) -> None:
    run_id = sent(kfp_api, demo_nb)
    out = json.loads(kfp_attach(kfp_api, run_id, "--json").stdout)
    assert (out["run_id"], out["engine"], out["state"]) == (run_id, "kfp", "SUCCEEDED")
    assert out["tasks"] == dict.fromkeys(STEPS, "SUCCEEDED")
    assert out["url"] == f"{kfp_api.url}/#/runs/details/{run_id}"


def test_attach_to_an_unknown_run_exits_1_naming_it(kfp_api: KfpServer) -> None:
    result = kfp_attach(kfp_api, "0000-no-such-run")
    no_traceback(result)
    assert result.exit_code == 1
    assert f"the KFP server at {kfp_api.url} has no run with id '0000-no-such-run'" in (
        result.stderr
    )
    assert result.stdout == ""


def test_attach_timeout_leaves_the_run_running_and_exits_124(
    kfp_api: KfpServer, demo_nb: Path
) -> None:
    kfp_api.state.hold_runs = True
    run_id = sent(kfp_api, demo_nb)
    result = kfp_attach(kfp_api, run_id, "--timeout", "1")
    no_traceback(result)
    assert result.exit_code == 124
    assert "(--timeout): stopped following; the run is left running in the cluster" in (
        result.stderr
    )
    assert kfp_api.state.runs[run_id].run["state"] == "RUNNING"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--timeout", "0"], "--timeout 0: give a number of seconds more than 0"),
        (["--poll-interval", "0"], "--poll-interval 0: give a number of seconds more than 0"),
        (["--target", "nope"], "no saved target named 'nope'"),
    ],
)
def test_bad_options_exit_2_and_send_nothing(
    kfp_api: KfpServer, args: list[str], message: str
) -> None:
    result = cli("attach", "some-run", "--host", kfp_api.url, *args)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not kfp_api.state.requests


def test_attach_with_a_saved_target(kfp_api: KfpServer, demo_nb: Path) -> None:
    save_prod(kfp_api)
    run_id = sent(kfp_api, demo_nb)
    result = cli("attach", run_id, "--target", "prod", "--poll-interval", "0.05")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert f"run {run_id} SUCCEEDED after " in result.stdout
    # the Python API takes the same target, and refuses an engine that is not the target's
    assert attach(run_id, target="prod", poll_interval=0.05).wait(timeout=30) == "SUCCEEDED"
    wrong = cli("attach", run_id, "--target", "prod", "--engine", "argo")
    assert wrong.exit_code == 2
    assert "--engine argo does not match the target 'prod', which is kfp" in wrong.stderr


def test_attach_follows_an_argo_workflow(
    k8s_api: K8sServer, kubeconfig_file: Path, demo_nb: Path
) -> None:
    k8s_api.state.metric_values = {"score": "0.75"}
    name = kfp_jupyter.submit(demo_nb, engine="argo").run_id
    result = cli("attach", name, "--engine", "argo", "--json")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["run_id"], out["engine"], out["state"]) == (name, "argo", "SUCCEEDED")
    assert out["tasks"] == dict.fromkeys(STEPS, "SUCCEEDED")


def test_show_magic_follows_a_run_of_a_saved_target(
    kfp_api: KfpServer, demo_nb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`%kfp show --run ID --target NAME`: the target says the engine (no --engine needed)."""
    pytest.importorskip("anywidget")
    monkeypatch.chdir(tmp_path)
    save_prod(kfp_api)
    run_id = sent(kfp_api, demo_nb)
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("kfp_jupyter")
    try:
        line = f"%kfp show {demo_nb} --run {run_id} --target prod --poll-interval 0.05"
        widget = shell.run_line_magic("kfp", line.removeprefix("%kfp "))
        final = widget.wait(60)
    finally:
        shell.reset(new_session=False)
    assert final["id"] == run_id and final["state"] == "SUCCEEDED"
    assert {widget.states[s]["state"] for s in STEPS} == {"SUCCEEDED"}


# --- kfp-jupyter cancel


def test_cancel_stops_a_kfp_run_and_follows_it_to_its_end(
    kfp_api: KfpServer, demo_nb: Path
) -> None:
    kfp_api.state.hold_runs = True  # it would run for ever
    run_id = sent(kfp_api, demo_nb)
    result = cli("cancel", run_id, "--host", kfp_api.url, "--token-env", TOKEN_ENV,
                 "--poll-interval", "0.05")  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"cancelling run: {kfp_api.url}/#/runs/details/{run_id}\n")
    assert f"run {run_id} CANCELLED" in result.stdout
    assert kfp_api.state.runs[run_id].run["state"] == "CANCELED"
    assert "RunService_TerminateRun" in [r.operation for r in kfp_api.state.requests]


def test_cancel_of_a_run_that_had_ended_says_so(kfp_api: KfpServer, demo_nb: Path) -> None:
    handle = kfp_jupyter.submit(demo_nb, host=kfp_api.url, token=KFP_TOKEN, poll_interval=0.05)
    assert handle.wait(timeout=30) == "SUCCEEDED"
    result = cli("cancel", handle.run_id, "--host", kfp_api.url, "--token-env", TOKEN_ENV,
                 "--poll-interval", "0.05", "--json")  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "SUCCEEDED"
    assert "the run had ended SUCCEEDED before it could be cancelled" in result.stderr
    # the run was read first: KFP refuses (400) to terminate a run that has ended
    assert "RunService_TerminateRun" not in [r.operation for r in kfp_api.state.requests]


def test_cancel_that_outlives_its_timeout_says_the_stop_was_asked(
    kfp_api: KfpServer, demo_nb: Path
) -> None:
    kfp_api.state.hold_runs = True
    kfp_api.state.hold_cancel = True  # the cluster takes its time to stop it
    run_id = sent(kfp_api, demo_nb)
    result = cli("cancel", run_id, "--host", kfp_api.url, "--token-env", TOKEN_ENV,
                 "--poll-interval", "0.05", "--timeout", "1")  # fmt: skip
    assert result.exit_code == 124
    assert "the cluster was asked to stop the run, which had not ended yet" in result.stderr
    assert "left running" not in result.stderr


def test_cancel_of_an_unknown_run_exits_1_and_stops_nothing(kfp_api: KfpServer) -> None:
    result = cli("cancel", "0000-no-such-run", "--host", kfp_api.url, "--token-env", TOKEN_ENV)
    no_traceback(result)
    assert result.exit_code == 1
    assert "has no run with id '0000-no-such-run'" in result.stderr
    assert "RunService_TerminateRun" not in [r.operation for r in kfp_api.state.requests]


def test_show_magic_with_cluster_options_but_no_engine_says_what_is_missing(
    demo_nb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They were dropped, and the run was looked for in the local store ("no run history")."""
    pytest.importorskip("anywidget")
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("kfp_jupyter")
    try:
        result = shell.run_cell(f"%kfp show {demo_nb} --run abc --host http://127.0.0.1:9")
    finally:
        shell.reset(new_session=False)
    assert not result.success
    assert "--host say where a cluster run is: add --engine kfp|argo (or --target NAME)" in str(
        result.error_in_exec
    )
    assert not (tmp_path / ".kfp-jupyter").exists()


def test_attach_leaves_out_the_task_that_makes_a_volume(kfp_api: KfpServer, tmp_path: Path) -> None:
    """The volume made for the run is a task of the pipeline, no step of the notebook."""
    nb = make_notebook(
        tmp_path / "vol.ipynb",
        [
            code("x = 1", "step:load_data", "volume:scratch:/mnt/scratch:1Gi:standard"),
            code("y = x + 1", "step:train"),
        ],
        metadata={"kfp_jupyter": {"name": "vol-demo"}},
    )
    handle = attach(sent(kfp_api, nb), "kfp", host=kfp_api.url, token_env=TOKEN_ENV,
                    poll_interval=0.05)  # fmt: skip
    assert handle.steps == ["load_data", "train"]
    assert handle.wait(timeout=30) == "SUCCEEDED"
    assert handle.tasks == {"load_data": "SUCCEEDED", "train": "SUCCEEDED"}
