"""Saved targets: `kfp-jupyter targets add|list|show|remove`, and one target used the same way by
`submit --target`, `kfp_jupyter.submit(target=...)`, `%kfp submit --target` and the widget; plus
`%kfp run --host-exec` (that every front end takes the same options: test_frontend_options.py).

The cluster is the KFP API test server on 127.0.0.1 (tests/servers/), which checks every request
against KFP's REST spec.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbutil import code, make_notebook
from servers.helpers import CELLS, KFP_TOKEN, TOKEN_ENV, cli, no_traceback
from servers.kfp_server import KfpServer

import kfp_jupyter

pytest_plugins = ["servers.fixtures"]
pytestmark = pytest.mark.usefixtures("config")


def add_prod(server: KfpServer, *more: str) -> None:
    result = cli(
        "targets",
        "add",
        "prod",
        "--engine",
        "kfp",
        "--host",
        server.url,
        "--namespace",
        "team-a",
        "--token-env",
        TOKEN_ENV,
        *more,
    )
    assert result.exit_code == 0, result.output


def only_run(server: KfpServer) -> dict[str, Any]:
    [run] = server.state.runs.values()
    return dict(run.run)


def experiment_of(server: KfpServer, run: dict[str, Any]) -> str:
    return str(server.state.experiments[run["experiment_id"]]["display_name"])


# --- targets add|list|show|remove ---------------------------------------------------------------


def test_add_list_show_remove_round_trip(config: Path) -> None:
    result = cli(
        "targets", "add", "prod", "--engine", "kfp", "--host", "https://kfp.example.com/",
        "--namespace", "team-a", "--experiment", "nightly", "--ui-url", "https://ui.example.com",
        "--token-env", "KFP_TOKEN",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert cli("targets", "add", "dev", "--engine", "argo", "--namespace", "argo").exit_code == 0
    saved = json.loads((config / "targets.json").read_text())
    assert saved == {
        "targets": {
            "dev": {"engine": "argo", "namespace": "argo"},
            "prod": {
                "engine": "kfp",
                "host": "https://kfp.example.com",
                "namespace": "team-a",
                "experiment": "nightly",
                "ui_url": "https://ui.example.com",
                "token_env": "KFP_TOKEN",
            },
        }
    }
    listed = cli("targets", "list")
    assert listed.stdout.splitlines() == [
        "  dev  argo  namespace=argo",
        "  prod  kfp  https://kfp.example.com namespace=team-a",
    ]
    as_json = json.loads(cli("targets", "list", "--json").stdout)
    assert [t["name"] for t in as_json["targets"]] == ["dev", "prod"]
    assert json.loads(cli("targets", "show", "prod", "--json").stdout)["token_env"] == "KFP_TOKEN"
    shown = cli("targets", "show", "prod").stdout
    assert "host: https://kfp.example.com" in shown and "token_env: KFP_TOKEN" in shown
    # a name is taken until replaced
    again = cli("targets", "add", "prod", "--engine", "kfp")
    assert again.exit_code == 2 and "--replace" in again.stderr
    assert cli("targets", "remove", "dev").exit_code == 0
    assert cli("targets", "list").stdout.split() == ["prod", "kfp", "https://kfp.example.com",
                                                     "namespace=team-a"]  # fmt: skip
    gone = cli("targets", "show", "dev")
    assert gone.exit_code == 2 and "saved targets: prod" in gone.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--token-env", "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9"],
            "NAME of the environment variable",
        ),
        (["--token-env", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"], "NAME of the environment"),
        (["--token-env", "kfp-token-5ec4e7-never-print-me"], "NAME of the environment variable"),
        (["--host", "https://me:s3cret@kfp.example.com"], "stores no credentials"),
        (["--host", "kfp.example.com"], "has no scheme"),
    ],
)
def test_a_token_or_credentials_are_refused_and_nothing_is_written(
    config: Path, args: list[str], says: str
) -> None:
    result = cli("targets", "add", "prod", "--engine", "kfp", *args)
    no_traceback(result)
    assert result.exit_code == 2
    assert says in result.stderr
    for secret in ("eyJhbGci", "ghp_16C7", "never-print-me", "s3cret"):
        assert secret not in result.output
    assert not (config / "targets.json").exists()


def test_the_file_is_replaced_whole_and_never_holds_a_token(
    kfp_api: KfpServer, config: Path
) -> None:
    from kfp_jupyter.cluster.submitted import records_of

    add_prod(kfp_api)
    nb = make_notebook(config.parent / "n.ipynb", CELLS)
    assert cli("submit", str(nb), "--target", "prod")
    text = (config / "targets.json").read_text()
    assert KFP_TOKEN not in text
    # no temporary file left over; the run is kept for the JupyterLab panel, without its token,
    # with where the target sent it
    assert sorted(p.name for p in config.iterdir()) == ["submitted.jsonl", "targets.json"]
    assert KFP_TOKEN not in (config / "submitted.jsonl").read_text()
    [kept] = records_of(nb)
    assert (kept["namespace"], kept["token_env"]) == ("team-a", TOKEN_ENV), kept


# --- submit --target ----------------------------------------------------------------------------


def test_submit_target_uses_its_host_namespace_experiment_and_token_variable(
    kfp_api: KfpServer, demo_nb: Path
) -> None:
    kfp_api.state.namespaces = {"team-a"}
    add_prod(kfp_api, "--experiment", "nightly")
    result = cli("submit", str(demo_nb), "--target", "prod")
    no_traceback(result)
    assert result.exit_code == 0, result.output
    run = only_run(kfp_api)
    assert result.stdout.strip() == f"run: {kfp_api.url}/#/runs/details/{run['run_id']}"
    assert experiment_of(kfp_api, run) == "nightly"
    [experiment] = kfp_api.state.experiments.values()
    assert experiment["namespace"] == "team-a"
    assert all(
        r.headers.get("authorization") == f"Bearer {KFP_TOKEN}" for r in kfp_api.state.requests
    )
    # remembered as the target used last
    assert json.loads(cli("targets", "list", "--json").stdout)["last"] == "prod"
    assert cli("targets", "list").stdout.startswith("* prod")


def test_command_line_options_override_the_target(kfp_api: KfpServer, demo_nb: Path) -> None:
    add_prod(kfp_api, "--experiment", "nightly")
    result = cli("submit", str(demo_nb), "--target", "prod", "--experiment", "tuning")
    assert result.exit_code == 0, result.output
    assert experiment_of(kfp_api, only_run(kfp_api)) == "tuning"


def test_the_notebooks_experiment_only_when_neither_gives_one(
    kfp_api: KfpServer, tmp_path: Path
) -> None:
    meta = {"kfp_jupyter": {"name": "demo-pipeline", "experiment": "from-notebook"}}
    nb = make_notebook(tmp_path / "m.ipynb", CELLS, metadata=meta)
    add_prod(kfp_api)
    assert cli("submit", str(nb), "--target", "prod").exit_code == 0
    names = {e["display_name"] for e in kfp_api.state.experiments.values()}
    assert names == {"from-notebook"}
    add_prod(kfp_api, "--experiment", "nightly", "--replace")
    handle = kfp_jupyter.submit(nb, target="prod")  # the Python API: the same rule
    assert handle.info.experiment == "nightly"


def test_unknown_target_exits_2_listing_the_known_ones_and_sends_nothing(
    kfp_api: KfpServer, demo_nb: Path
) -> None:
    add_prod(kfp_api)
    result = cli("submit", str(demo_nb), "--target", "prdo")
    no_traceback(result)
    assert result.exit_code == 2
    assert "no saved target named 'prdo' (saved targets: prod)" in result.stderr
    assert not kfp_api.state.requests


def test_an_engine_that_is_not_the_targets_exits_2(kfp_api: KfpServer, demo_nb: Path) -> None:
    add_prod(kfp_api)
    result = cli("submit", str(demo_nb), "--target", "prod", "--engine", "argo")
    assert result.exit_code == 2
    assert "--engine argo does not match the target 'prod', which is kfp" in result.stderr
    assert not kfp_api.state.requests


def test_submit_refuses_a_token_given_as_token_env_without_printing_it(
    kfp_api: KfpServer, demo_nb: Path
) -> None:
    result = cli("submit", str(demo_nb), "--host", kfp_api.url, "--token-env", KFP_TOKEN)
    assert result.exit_code == 2
    assert KFP_TOKEN not in result.output
    assert "NAME of the environment variable" in result.stderr


# --- %kfp ---------------------------------------------------------------------------------------


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("kfp_jupyter")
    yield shell
    shell.reset(new_session=False)


def test_kfp_submit_magic_with_a_target(
    ip: Any, kfp_api: KfpServer, demo_nb: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_prod(kfp_api, "--experiment", "nightly")
    result = ip.run_cell(f"%kfp submit {demo_nb} --target prod --wait --poll-interval 0.05")
    assert result.success, result.error_in_exec
    run = only_run(kfp_api)
    out = capsys.readouterr().out
    assert f"submitted kfp run {run['run_id']}" in out
    assert f"run {run['run_id']}: SUCCEEDED" in out
    assert experiment_of(kfp_api, run) == "nightly"
    unknown = ip.run_cell(f"%kfp submit {demo_nb} --target nope")
    assert "no saved target named 'nope'" in str(unknown.error_in_exec)


def test_kfp_submit_magic_takes_a_compiled_pipeline(
    ip: Any, kfp_api: KfpServer, demo_nb: Path, tmp_path: Path
) -> None:
    from kfp_jupyter import compile_pipeline, load_notebook

    ir = compile_pipeline(load_notebook(demo_nb), "kfp", tmp_path / "demo.yaml")
    assert ir.startswith(("components:", "# "))
    line = f"%kfp submit {tmp_path / 'demo.yaml'} --host {kfp_api.url} --token-env {TOKEN_ENV}"
    result = ip.run_cell(line + " -p n_rows=4")
    assert result.success, result.error_in_exec
    assert only_run(kfp_api)["runtime_config"]["parameters"]["n_rows"] == 4
    refused = ip.run_cell(line + " --no-pin")
    assert "--no-pin applies when a notebook is compiled" in str(refused.error_in_exec)


def test_kfp_run_host_exec_runs_a_container_steps_command_on_this_machine(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran.txt"
    nb = make_notebook(
        tmp_path / "c.ipynb",
        [
            code("x = 1", "step:first"),
            code(
                f"command: [sh, -c, 'echo on-the-host > {marker}']",
                "step:shell",
                "container",
                "image:busybox:1.36",
                "prev:first",
            ),
        ],
        metadata={"kfp_jupyter": {"name": "hostexec"}},
    )
    result = ip.run_cell(f"%kfp run {nb} --host-exec --wait --store {tmp_path / 'runs'}")
    assert result.success, result.error_in_exec
    assert "SUCCEEDED" in capsys.readouterr().out
    assert marker.read_text().strip() == "on-the-host"


# --- the widget ---------------------------------------------------------------------------------


def test_widget_submit_passes_the_token_variable(kfp_api: KfpServer, demo_nb: Path) -> None:
    pytest.importorskip("anywidget")
    from kfp_jupyter.jupyter.widget import PipelineWidget

    w = PipelineWidget(demo_nb)
    form = {"engine": "kfp", "host": kfp_api.url, "namespace": "", "experiment": "w"}
    w._on_msg(w, {"action": "submit", "target": {**form, "token_env": ""}}, [])
    _idle(w)
    assert "refused the credentials (401 Unauthorized)" in w.error  # no token: refused
    # the request without a Bearer header is, rightly, a violation of the spec
    assert all("security" in v for v in kfp_api.state.violations)
    kfp_api.state.violations.clear()
    kfp_api.state.requests.clear()
    w._on_msg(w, {"action": "submit", "target": {**form, "token_env": TOKEN_ENV}}, [])
    _idle(w)
    assert w.error == ""
    assert only_run(kfp_api)
    assert all(
        r.headers.get("authorization") == f"Bearer {KFP_TOKEN}" for r in kfp_api.state.requests
    )
    w.wait(60)


def test_widget_opens_with_the_last_target_and_a_chosen_target_fills_the_form(
    kfp_api: KfpServer, demo_nb: Path
) -> None:
    pytest.importorskip("anywidget")
    from kfp_jupyter.jupyter.widget import PipelineWidget

    add_prod(kfp_api, "--experiment", "nightly")
    assert cli("targets", "add", "other", "--engine", "argo", "--namespace", "x").exit_code == 0
    w = PipelineWidget(demo_nb)
    assert w.targets == ["other", "prod"]
    assert w.target["target"] == ""
    w.target = {**w.target, "target": "prod"}  # what choosing it in the form sends
    assert w.target["engine"] == "kfp"
    assert w.target["host"] == kfp_api.url
    assert w.target["token_env"] == TOKEN_ENV
    w._on_msg(w, {"action": "submit", "target": w.target}, [])
    _idle(w)
    assert w.error == ""
    assert experiment_of(kfp_api, only_run(kfp_api)) == "nightly"
    w.wait(60)
    # the next widget (another notebook, another front end) starts with the target used last
    again = PipelineWidget(demo_nb)
    assert again.target["target"] == "prod" and again.target["namespace"] == "team-a"


def _idle(w: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    time.sleep(0.05)
    while w.busy and time.monotonic() < deadline:
        time.sleep(0.05)
