"""The server extension's REST API, against a real `jupyter server` started here.

Every handler, with the server's own authentication: no token or no XSRF token means 403, a path
that leaves the server's root is refused, a notebook's problems come back with their cells.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jupyter_server_util import Server, jupyter_server
from nbutil import code, make_notebook

pytest_plugins = ["servers.fixtures"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from servers.helpers import KFP_TOKEN, TOKEN_ENV

    base = tmp_path_factory.mktemp("server")
    with jupyter_server(base, {}, {TOKEN_ENV: KFP_TOKEN}) as srv:
        (base / "outside.ipynb").write_bytes((srv.root / "demo.ipynb").read_bytes())
        yield srv


def cli_json(*args: str, store: Path) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KFP_JUPYTER_STORE": str(store)},
        check=True,
    )
    return json.loads(out.stdout)


def test_requests_without_the_token_are_refused(server: Server) -> None:
    assert server.call("GET", "inspect?path=demo.ipynb", token=False)[0] == 403
    assert server.call("GET", "runs", token=False)[0] == 403
    assert server.call("GET", "runs/latest", token=False)[0] == 403
    for path in ("compile", "runs", "submit"):
        assert server.call("POST", path, {"path": "demo.ipynb"}, token=False)[0] == 403


def test_a_cookie_session_needs_the_xsrf_token_to_post(server: Server) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{server.url}/?token={server.token}", timeout=30).read()  # logs in: a cookie
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    url = f"{server.url}/kfp-jupyter/api/compile"
    body = json.dumps({"path": "demo.ipynb", "target": "dsl"}).encode()
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(urllib.request.Request(url, body, method="POST"), timeout=60)
    assert e.value.code == 403
    # the GET needs no XSRF token, the same POST with it succeeds
    with opener.open(f"{server.url}/kfp-jupyter/api/inspect?path=demo.ipynb", timeout=60) as r:
        assert json.loads(r.read())["name"] == "demo"
    req = urllib.request.Request(url, body, method="POST", headers={"X-XSRFToken": xsrf})
    with opener.open(req, timeout=120) as r:
        assert json.loads(r.read())["output"] == "demo.py"


def test_inspect_answers_what_the_cli_prints(server: Server) -> None:
    status, data = server.call("GET", "inspect?path=demo.ipynb")
    assert status == 200
    assert data == cli_json(
        "inspect", "--json", str(server.root / "demo.ipynb"), store=server.store
    )
    assert [s["name"] for s in data["steps"]] == ["load", "train", "report"]


@pytest.mark.parametrize(
    "path", ["../outside.ipynb", "sub/../../outside.ipynb", "%2e%2e/outside.ipynb", "link.ipynb"]
)
def test_paths_outside_the_root_are_refused(server: Server, path: str) -> None:
    link = server.root / "link.ipynb"
    if not link.exists():
        link.symlink_to(server.root.parent / "outside.ipynb")
    status, data = server.call("GET", f"inspect?path={path}")
    assert status == 403, data
    assert "outside" in data["message"]
    plain = urllib.parse.unquote(path)  # a JSON body is not URL-decoded
    status, _ = server.call("POST", "runs", {"path": plain})
    assert status == 403
    status, _ = server.call("POST", "compile", {"path": plain})
    assert status == 403


def test_compile_refuses_an_output_outside_the_root(server: Server) -> None:
    status, _ = server.call("POST", "compile", {"path": "demo.ipynb", "output": "../x.yaml"})
    assert status == 403
    assert not (server.root.parent / "x.yaml").exists()


def test_a_missing_notebook_is_404_and_bad_bodies_400(server: Server) -> None:
    assert server.call("GET", "inspect?path=nope.ipynb")[0] == 404
    assert server.call("GET", "inspect")[0] == 400  # no path at all
    assert server.call("POST", "compile", {"path": "demo.ipynb", "target": "zip"})[0] == 400
    assert server.call("POST", "runs", {"path": "demo.ipynb", "params": [1]})[0] == 400
    assert server.call("POST", "runs", {"path": "demo.ipynb", "params": {"nope": 1}})[0] == 400


def test_inspect_reports_problems_with_their_cells(server: Server) -> None:
    make_notebook(
        server.root / "broken.ipynb",
        [code("x = 1", "step:a"), code("y = undefined_name + x", "step:b", "prev:zzz")],
    )
    status, data = server.call("GET", "inspect?path=broken.ipynb")
    assert status == 422, data
    assert data["problems"], data
    assert all({"message", "cell", "step", "line", "fix"} <= p.keys() for p in data["problems"])
    assert any(p["cell"] == 2 for p in data["problems"])


def test_compile_writes_the_pipeline_next_to_the_notebook(server: Server) -> None:
    status, data = server.call("POST", "compile", {"path": "demo.ipynb", "target": "kfp"})
    assert status == 200, data
    assert data == {"target": "kfp", "output": "demo.yaml"}
    spec = yaml.safe_load((server.root / "demo.yaml").read_text())
    assert set(spec["root"]["dag"]["tasks"]) == {"load", "train", "report"}
    # the same options as the command line: the kfp runtime pin
    status, data = server.call(
        "POST", "compile", {"path": "demo.ipynb", "output": "pin.yaml", "kfp_runtime": "2.15.2"}
    )
    assert status == 200, data
    assert "kfp==2.15.2" in (server.root / "pin.yaml").read_text()
    status, data = server.call(
        "POST", "compile", {"path": "demo.ipynb", "output": "bad.yaml", "kfp_runtime": "2 15"}
    )
    assert status == 400 and "not a kfp version" in json.dumps(data), data
    assert not (server.root / "bad.yaml").exists()


def test_a_local_run_starts_runs_to_the_end_and_is_listed(server: Server) -> None:
    status, started = server.call("POST", "runs", {"path": "demo.ipynb", "params": {"n": 5}})
    assert status == 201, started
    run_id = started["id"]
    deadline = time.monotonic() + 180
    while True:
        status, run = server.call("GET", f"runs/{run_id}")
        assert status == 200
        if run["state"] not in ("PENDING", "RUNNING"):
            break
        assert time.monotonic() < deadline, run
        time.sleep(0.5)
    assert run["state"] == "SUCCEEDED", run
    assert run["parameters"] == {"n": 5}
    assert {t["name"]: t["state"] for t in run["tasks"]} == {
        "load": "SUCCEEDED",
        "train": "SUCCEEDED",
        "report": "SUCCEEDED",
    }
    assert run == cli_json("runs", "show", run_id, "--json", store=server.store)
    status, runs = server.call("GET", "runs")
    assert status == 200
    assert runs == cli_json("runs", "list", "--json", store=server.store)
    assert run_id in [r["id"] for r in runs]
    assert server.call("GET", "runs/no-such-run")[0] == 404


def test_submit_reports_an_unreachable_cluster(server: Server, closed_port: int) -> None:
    status, data = server.call(
        "POST",
        "submit",
        {"path": "demo.ipynb", "engine": "kfp", "host": f"http://127.0.0.1:{closed_port}"},
    )
    assert status == 502, data
    assert data["kind"] == "UnreachableError"


def test_submit_creates_a_kfp_run_and_answers_its_link(server: Server, kfp_api: Any) -> None:
    from servers.helpers import TOKEN_ENV

    status, data = server.call(
        "POST",
        "submit",
        {
            "path": "demo.ipynb",
            "engine": "kfp",
            "host": kfp_api.url,
            "experiment": "lab",
            "run_name": "from-lab",
            "params": {"n": 7},
            "token_env": TOKEN_ENV,
        },
    )
    assert status == 201, data
    assert data["engine"] == "kfp"
    assert data["name"] == "from-lab"
    assert data["parameters"] == {"n": 7}
    assert data["run_id"] in (data["url"] or "")


def test_submit_takes_a_compiled_pipeline_as_the_command_line_does(
    server: Server, kfp_api: Any
) -> None:
    from servers.helpers import TOKEN_ENV

    from kfp_jupyter import compile_pipeline, load_notebook

    compile_pipeline(load_notebook(server.root / "demo.ipynb"), "kfp", server.root / "demo.yaml")
    status, data = server.call(
        "POST",
        "submit",
        {"path": "demo.yaml", "host": kfp_api.url, "params": {"n": 3}, "token_env": TOKEN_ENV},
    )
    assert status == 201, data
    assert data["engine"] == "kfp" and data["parameters"] == {"n": 3}
    status, data = server.call(
        "POST", "submit", {"path": "demo.yaml", "host": kfp_api.url, "params": {"nope": 1}}
    )
    assert status == 400 and "nope" in data["message"], data


def test_submit_advice_names_the_forms_fields(server: Server) -> None:
    status, data = server.call("POST", "submit", {"path": "demo.ipynb", "engine": "kfp"})
    assert status == 400, data
    assert '"host" field' in data["message"], data  # where the Submit dialog takes it
    assert "--host" not in data["message"]


def test_submit_advice_names_the_dialogs_own_labels_and_keeps_commands_as_typed(
    server: Server,
) -> None:
    """The dialog's engine choice is labelled "engine" (the widget's is "target"), its saved
    targets "saved target"; a command the advice quotes is typed in a terminal, so it keeps its
    options."""
    config = server.root.parent / "kfp-config"  # the server's KFP_JUPYTER_CONFIG_DIR
    subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "targets", "add", "advice-kfp",
         "--engine", "kfp", "--host", "http://127.0.0.1:9"],
        env={**os.environ, "KFP_JUPYTER_CONFIG_DIR": str(config)},
        check=True,
        capture_output=True,
    )  # fmt: skip
    status, data = server.call(
        "POST", "submit", {"path": "demo.ipynb", "target": "advice-kfp", "engine": "argo"}
    )
    assert status == 400, data
    assert data["message"].startswith('the "engine" field (argo) does not match'), data
    assert "--engine" not in data["message"] and '"target" field' not in data["message"], data

    status, data = server.call("POST", "submit", {"path": "demo.ipynb", "target": "nosuch"})
    assert status == 400, data
    assert "add it: kfp-jupyter targets add nosuch --engine kfp --host URL" in data["message"]
    assert "`kfp-jupyter targets list`" in data["message"], data
    assert " field" not in data["message"], data


def test_targets_lists_the_saved_ones_and_submit_uses_one(tmp_path: Path, kfp_api: Any) -> None:
    from servers.helpers import KFP_TOKEN, TOKEN_ENV

    config = tmp_path / "kfp-config"  # the server's KFP_JUPYTER_CONFIG_DIR
    with jupyter_server(tmp_path, {}, {TOKEN_ENV: KFP_TOKEN}) as srv:
        from kfp_jupyter.cluster.targets import ENGINES

        empty = {"targets": [], "last": None, "engines": list(ENGINES)}
        assert srv.call("GET", "targets") == (200, empty)
        subprocess.run(
            [sys.executable, "-m", "kfp_jupyter.cli.main", "targets", "add", "prod",
             "--engine", "kfp", "--host", kfp_api.url, "--token-env", TOKEN_ENV,
             "--experiment", "saved-exp"],
            env={**os.environ, "KFP_JUPYTER_CONFIG_DIR": str(config)},
            check=True,
            capture_output=True,
        )  # fmt: skip
        status, listed = srv.call("GET", "targets")
        assert status == 200 and [t["name"] for t in listed["targets"]] == ["prod"]
        assert (
            listed["targets"][0]["token_env"] == TOKEN_ENV and "token" not in listed["targets"][0]
        )
        status, data = srv.call("POST", "submit", {"path": "demo.ipynb", "target": "prod"})
        assert status == 201, data
        assert data["engine"] == "kfp" and data["experiment"] == "saved-exp"
        assert srv.call("GET", "targets")[1]["last"] == "prod"  # offered first next time
        # a damaged targets file: said, and the engines are still offered for a hand-made submit
        (config / "targets.json").write_text("{not json")
        status, broken = srv.call("GET", "targets")
        assert status == 200 and broken["engines"] == list(ENGINES), broken
        assert broken["targets"] == [] and "targets.json" in broken["error"], broken


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (["labextension", "list"], "kfp-jupyter-labextension"),
        (["server", "extension", "list"], "kfp_jupyter"),
    ],
)
def test_pip_install_enables_both_extensions(command: list[str], name: str) -> None:
    """What `pip install` put in the environment (shared-data of the wheel), as Jupyter sees it."""
    jupyter = Path(sys.executable).parent / "jupyter"
    out = subprocess.run(
        [str(jupyter), *command],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=True,
        timeout=120,
    )
    text = out.stdout + out.stderr
    lines = [ln for ln in text.splitlines() if name in ln and "enabled" in ln]
    assert lines, text
