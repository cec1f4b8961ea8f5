"""The server's run view for the JupyterLab panel, against a real `jupyter server` started here:
the runs of one notebook (wherever they were started: the server, or `kfp-jupyter run` in a
terminal on the same store) and a step's details, the same dict the notebook widget shows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_server_util import Server, jupyter_server
from nbutil import code, make_notebook

pytest_plugins = ["servers.fixtures"]

FAILING = [
    code("import json", "imports"),
    code("n = 3", "pipeline-parameters"),
    code("rows = list(range(n))\nraise ValueError(f'bad rows: {len(rows)}')", "step:load"),
    code("total = sum(rows)", "step:train"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from servers.helpers import KFP_TOKEN, TOKEN_ENV

    base = tmp_path_factory.mktemp("runs-view")
    with jupyter_server(base, {}, {TOKEN_ENV: KFP_TOKEN}) as srv:
        make_notebook(srv.root / "failing.ipynb", FAILING, {"kfp_jupyter": {"name": "failing"}})
        yield srv


def cli_run(server: Server, notebook: str) -> subprocess.CompletedProcess[str]:
    """`kfp-jupyter run` from a terminal in the server's root, on the server's store."""
    return subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "run", notebook],
        capture_output=True,
        text=True,
        cwd=server.root,
        env={**os.environ, "KFP_JUPYTER_STORE": str(server.store)},
    )


def run_via_server(server: Server, notebook: str) -> dict[str, Any]:
    """Start a run through the server (as the panel's Run button does) and wait for its end."""
    status, started = server.call("POST", "runs", {"path": notebook})
    assert status == 201, started
    while True:
        status, run = server.call("GET", f"runs/{started['id']}")
        assert status == 200, run
        if run["state"] not in ("PENDING", "RUNNING"):
            return dict(run)
        time.sleep(0.3)


def _until_done(server: Server, run_id: str) -> dict[str, Any]:
    """The cluster run `run_id` once the server has followed it to its end (and read the pod
    logs of its failed steps)."""
    while True:
        status, run = server.call("GET", f"runs/{run_id}")
        assert status == 200, run
        if run["done"]:
            return dict(run)
        time.sleep(0.3)


@pytest.fixture(scope="module")
def runs(server: Server) -> dict[str, str]:
    """One run of demo.ipynb from the server, one from the command line, one failing run."""
    from_server = run_via_server(server, "demo.ipynb")
    assert from_server["state"] == "SUCCEEDED", from_server
    done = cli_run(server, "demo.ipynb")
    assert done.returncode == 0, done.stderr
    failed = cli_run(server, "failing.ipynb")
    assert failed.returncode != 0
    _, listed = server.call("GET", "runs")
    by_notebook = {Path(r["notebook"]).name: r["id"] for r in reversed(listed)}
    return {"server": from_server["id"], "cli": by_notebook["demo.ipynb"],
            "failed": by_notebook["failing.ipynb"]}  # fmt: skip


def test_the_runs_of_a_notebook_are_listed_wherever_they_started(
    server: Server, runs: dict[str, str]
) -> None:
    status, listed = server.call("GET", "runs?path=demo.ipynb")
    assert status == 200, listed
    # newest first: the terminal's run, then the server's; never the other notebook's
    assert [r["id"] for r in listed] == [runs["cli"], runs["server"]]
    assert {r["state"] for r in listed} == {"SUCCEEDED"}
    assert {r["engine"] for r in listed} == {"local"}
    assert all(r["created"] for r in listed)
    status, one = server.call("GET", "runs?path=demo.ipynb&limit=1")
    assert [r["id"] for r in one] == [runs["cli"]]
    status, other = server.call("GET", "runs?path=failing.ipynb")
    assert [(r["id"], r["state"]) for r in other] == [(runs["failed"], "FAILED")]
    # without a path: all runs, as `runs list --json` (unchanged)
    _, everything = server.call("GET", "runs")
    assert {r["id"] for r in everything} == set(runs.values())


def test_a_failed_steps_details_show_the_exception_first_and_its_cell(
    server: Server, runs: dict[str, str]
) -> None:
    status, d = server.call("GET", f"runs/{runs['failed']}/steps/load?path=failing.ipynb")
    assert status == 200, d
    assert d["step"] == "load" and d["state"] == "FAILED"
    assert d["error"].splitlines()[0] == "ValueError: bad rows: 3"
    assert "cell 3, line 2" in d["error"]
    assert any(f.get("cell") == 3 and f.get("line") == 2 for f in d["error_frames"]), d
    assert d["cells"] == [3]
    assert d["log_tail"].startswith("ValueError: bad rows: 3")
    # the step that never ran because of it
    status, train = server.call("GET", f"runs/{runs['failed']}/steps/train?path=failing.ipynb")
    assert status == 200 and train["state"] != "SUCCEEDED" and train["error"] is None


def test_a_steps_details_after_a_run_and_before_any(server: Server, runs: dict[str, str]) -> None:
    status, d = server.call("GET", f"runs/{runs['server']}/steps/train?path=demo.ipynb")
    assert status == 200, d
    assert d["state"] == "SUCCEEDED" and d["kind"] == "python"
    assert [(i["name"], i["producer"]) for i in d["inputs"]] == [("data", "load")]
    assert d["inputs"][0]["type"] and d["inputs"][0]["size"] > 0
    assert [o["name"] for o in d["outputs"]] == ["total"] and d["outputs"][0]["size"] > 0
    # before any run: what the notebook says, and why there is no more
    status, fresh = server.call("GET", "steps/train?path=demo.ipynb")
    assert status == 200, fresh
    assert fresh["state"] is None and fresh["inputs"][0]["size"] is None
    assert "not run yet" in fresh["note"]


def test_a_run_keeps_its_steps_details_while_the_notebook_has_problems(
    server: Server, runs: dict[str, str]
) -> None:
    path = server.root / "failing.ipynb"
    good = path.read_bytes()
    make_notebook(path, [*FAILING, code("x = 1", "step:late", "prev:nowhere")])  # no step nowhere
    try:
        assert server.call("GET", "inspect?path=failing.ipynb")[0] == 422
        status, d = server.call("GET", f"runs/{runs['failed']}/steps/load?path=failing.ipynb")
        assert status == 200, d
        assert d["error"].startswith("ValueError: bad rows: 3")
    finally:
        path.write_bytes(good)


def test_unknown_steps_runs_and_paths_are_refused_in_words(
    server: Server, runs: dict[str, str]
) -> None:
    status, d = server.call("GET", f"runs/{runs['server']}/steps/nope?path=demo.ipynb")
    assert status == 404 and "nope" in d["message"]
    status, d = server.call("GET", "steps/nope?path=demo.ipynb")
    assert status == 404 and "nope" in d["message"]
    status, d = server.call("GET", "runs/no-such-run/steps/load?path=demo.ipynb")
    assert status == 404 and "no-such-run" in d["message"]
    assert server.call("GET", "steps/load?path=../outside.ipynb")[0] == 403
    assert server.call("GET", "runs?path=../outside.ipynb")[0] == 403
    assert server.call("GET", "steps/load?path=missing.ipynb")[0] == 404
    assert server.call("GET", "steps/load?path=demo.ipynb", token=False)[0] == 403
    assert server.call("GET", "runs?path=demo.ipynb", token=False)[0] == 403


def test_a_cluster_run_sent_through_the_server_is_listed_and_followed(
    server: Server, runs: dict[str, str], kfp_api: Any
) -> None:
    from servers.helpers import TOKEN_ENV

    body = {"path": "demo.ipynb", "engine": "kfp", "host": kfp_api.url, "token_env": TOKEN_ENV}
    status, sent = server.call("POST", "submit", body)
    assert status == 201, sent
    status, listed = server.call("GET", "runs?path=demo.ipynb")
    assert listed[0]["id"] == sent["run_id"] and listed[0]["engine"] == "kfp", listed
    assert listed[0]["url"] == sent["url"]
    assert [r["id"] for r in listed[1:]] == [runs["cli"], runs["server"]]
    # the server follows it on the cluster until it ends, as the widget does
    run = _until_done(server, sent["run_id"])
    assert run["state"] == "SUCCEEDED", run
    assert {t["name"]: t["state"] for t in run["tasks"]} == dict.fromkeys(
        ["load", "train", "report"], "SUCCEEDED"
    )
    status, d = server.call("GET", f"runs/{sent['run_id']}/steps/train?path=demo.ipynb")
    assert status == 200 and d["state"] == "SUCCEEDED", d
    assert sent["url"] in d["note"]


def test_a_run_sent_from_the_widget_is_listed_followed_and_its_failure_mapped(
    tmp_path: Path, kfp_api: Any, k8s_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run the notebook widget (in a kernel, not the server) sent to the cluster appears in
    the notebook's runs; asked about, the server follows it on the cluster, and a failed step's
    details are in the notebook's terms, read from its pod's log."""
    from servers.helpers import KFP_TOKEN, TOKEN_ENV, kfp_pod_log
    from servers.k8s_server import write_kubeconfig

    from kfp_jupyter.jupyter.widget import PipelineWidget

    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", k8s_api.url, "k8s-token", "default")
    k8s_api.state.tokens = {"k8s-token"}
    k8s_api.state.namespaces.add("kubeflow")
    base = tmp_path / "server"
    base.mkdir()
    env = {TOKEN_ENV: KFP_TOKEN, "KUBECONFIG": str(kubeconfig)}
    with jupyter_server(base, {}, env) as srv:
        nb = make_notebook(srv.root / "failing.ipynb", FAILING, {"kfp_jupyter": {"name": "f"}})
        log = kfp_pod_log(nb, "load", "n=3, rows=types.SimpleNamespace(path='out/rows')", tmp_path)
        assert "bad rows: 3" in log

        def on_pod(task: str, pod: str) -> None:
            k8s_api.state.pods[("kubeflow", pod)] = log if task == "load" else ""

        kfp_api.state.fail_tasks = {"load"}
        kfp_api.state.on_pod = on_pod
        # the kernel: the same user as the server (its config folder), its own process
        monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(base / "kfp-config"))
        w = PipelineWidget(nb)
        w.target = {"engine": "kfp", "host": kfp_api.url, "token_env": TOKEN_ENV}
        handle = w.submit()
        w.wait(60)
        status, listed = srv.call("GET", "runs?path=failing.ipynb")
        assert status == 200 and [r["id"] for r in listed] == [handle.run_id], listed
        assert listed[0]["engine"] == "kfp" and listed[0]["url"] == handle.url, listed
        # the server follows the run, and reads the failed step's pod log
        run = _until_done(srv, handle.run_id)
        assert run["state"] == "FAILED", run
        assert {t["name"]: t["state"] for t in run["tasks"]}["load"] == "FAILED", run
        status, d = srv.call("GET", f"runs/{handle.run_id}/steps/load?path=failing.ipynb")
        status_listed, listed = srv.call("GET", "runs?path=failing.ipynb")
    assert status_listed == 200 and listed[0]["state"] == "FAILED", listed
    assert status == 200 and d["state"] == "FAILED", d
    # the exception first, then the cell and line in the notebook's numbering, then the log
    text = d["log_tail"]
    assert text.splitlines()[0] == "ValueError: bad rows: 3", text
    assert "cell 3, line 2, in step load" in text, text
    assert text.index("cell 3, line 2") < text.index("launcher_v2.go"), text
    assert "ephemeral_component.py" not in text and "kfp_jupyter" not in text, text
    assert d["error"].startswith("ValueError: bad rows: 3"), d
    assert any(f.get("cell") == 3 and f.get("line") == 2 for f in d["error_frames"]), d
    assert d["message"].startswith("ValueError: bad rows: 3 (cell 3, line 2)"), d
    # where to find the run again is kept, never the token
    kept = (base / "kfp-config" / "submitted.jsonl").read_text()
    assert TOKEN_ENV in kept and KFP_TOKEN not in kept


def test_a_run_sent_by_kfp_jupyter_submit_in_a_terminal_is_listed_and_followed(
    tmp_path: Path, kfp_api: Any
) -> None:
    """`kfp-jupyter submit` in a terminal (the same user as the server, its own process) keeps
    its run for the panel: the server lists it among the notebook's runs and follows it on the
    cluster; the record keeps the token's variable, never the token."""
    import json

    from servers.helpers import KFP_TOKEN, TOKEN_ENV

    base = tmp_path / "server"
    base.mkdir()
    with jupyter_server(base, {}, {TOKEN_ENV: KFP_TOKEN}) as srv:
        make_notebook(srv.root / "small.ipynb", [*FAILING[:2], code("x = n", "step:only")])
        make_notebook(srv.root / "other.ipynb", [*FAILING[:2], code("y = n", "step:only")])
        terminal = {
            **os.environ,
            "KFP_JUPYTER_CONFIG_DIR": str(base / "kfp-config"),
            TOKEN_ENV: KFP_TOKEN,
        }
        sent = subprocess.run(
            [sys.executable, "-m", "kfp_jupyter.cli.main", "submit", "small.ipynb",
             "--host", kfp_api.url, "--token-env", TOKEN_ENV, "--json"],
            capture_output=True, text=True, cwd=srv.root, env=terminal,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stdout + sent.stderr
        run_id = json.loads(sent.stdout)["run_id"]
        status, listed = srv.call("GET", "runs?path=small.ipynb")
        assert status == 200 and [r["id"] for r in listed] == [run_id], listed
        assert listed[0]["engine"] == "kfp", listed
        status, others = srv.call("GET", "runs?path=other.ipynb")
        assert status == 200 and others == [], others
        run = _until_done(srv, run_id)  # the server follows it on the cluster
        status, followed = srv.call("GET", "runs?path=small.ipynb")
    assert run["state"] == "SUCCEEDED" and run["engine"] == "kfp", run
    # listed in its place: sent when the terminal sent it, not when the server began to follow
    assert status == 200 and [r["id"] for r in followed] == [run_id], followed
    assert followed[0]["state"] == "SUCCEEDED", followed
    assert followed[0]["created"] == listed[0]["created"], (followed, listed)
    kept = (base / "kfp-config" / "submitted.jsonl").read_text()
    assert TOKEN_ENV in kept and KFP_TOKEN not in kept
