"""Faults and hostile input against the server extension, on a real `jupyter server`.

Nothing hangs (clusters that never answer do not freeze the panel), nothing leaks (no environment
variable or file outside the root reaches a caller), nothing answers 500.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_server_util import Server, jupyter_server
from nbutil import code, make_notebook
from servers.spec_host import ECHO_SPEC, SpecHost
from servers.spec_host import spec_host as serving

pytest_plugins = ["servers.fixtures"]

pytestmark = pytest.mark.faults

#: what the tests configure (as an administrator would, in jupyter_server_config)
SETTINGS = {"cluster_workers": 4, "quick_workers": 4}
#: variables of the server's environment that no caller may read
SECRETS = {
    "SERVER_SECRET": "s3cr3t-value-of-the-server",
    "KFPJ_TEST_TOKEN": "kfp-token-5ec4e7-never-print-me",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with jupyter_server(tmp_path_factory.mktemp("faults"), SETTINGS, SECRETS) as srv:
        yield srv


class SilentHost:
    """A loopback TCP server that accepts connections and never answers a byte."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)

    def close(self) -> None:
        """Drop every connection: the calls still waiting on it end (with an error)."""
        self.sock.close()
        for conn in self.accepted:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


@pytest.fixture
def silent_host() -> Iterator[SilentHost]:
    host = SilentHost()
    try:
        yield host
    finally:
        host.close()


def timed(server: Server, method: str, path: str, body: object = None) -> tuple[float, int, Any]:
    start = time.monotonic()
    status, data = server.call(method, path, body)
    return time.monotonic() - start, status, data


# --- 1. hung submits do not freeze the panel --------------------------------------------------------


def test_hung_submits_leave_inspect_and_compile_answering(
    server: Server, silent_host: SilentHost
) -> None:
    assert server.call("POST", "compile", {"path": "demo.ipynb", "target": "kfp"})[0] == 200
    answers: list[tuple[int, Any]] = []
    body = {"path": "demo.ipynb", "engine": "kfp", "host": silent_host.url}

    def submit() -> None:
        answers.append(server.call("POST", "submit", body))

    threads = [threading.Thread(target=submit, daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(silent_host.accepted) < SETTINGS["cluster_workers"] or len(answers) < 2:
        assert time.monotonic() < deadline, (len(silent_host.accepted), answers)
        time.sleep(0.1)
    # the submits beyond the cluster pool are refused at once, with a message
    assert [a[0] for a in answers] == [503, 503], answers
    assert "try again" in answers[0][1]["message"]
    # while four submits hang, the quick requests answer as usual
    took, status, data = timed(server, "GET", "inspect?path=demo.ipynb")
    assert status == 200 and data["name"] == "demo", data
    assert took < 5, took
    took, status, data = timed(server, "POST", "compile", {"path": "demo.ipynb", "target": "kfp"})
    assert status == 200, data
    assert took < 5, took
    took, status, _ = timed(server, "GET", "runs")
    assert status == 200 and took < 5, took
    deadline = time.monotonic() + 10
    silent_host.close()  # the hung submits end (unreachable) and the server stops cleanly
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))


# --- 2. token_env reads only token variables ---------------------------------------------------------


@pytest.mark.parametrize("name", ["SERVER_SECRET", "PATH", "HOME", "KFPJ_TEST_TOKEN_X"])
def test_submit_refuses_a_token_env_that_is_not_a_token_variable(
    server: Server, silent_host: SilentHost, name: str
) -> None:
    status, data = server.call(
        "POST", "submit", {"path": "demo.ipynb", "host": silent_host.url, "token_env": name}
    )
    assert status == 400, data
    assert name in data["message"] and "_TOKEN" in data["message"], data
    assert "s3cr3t" not in json.dumps(data)
    time.sleep(0.3)
    assert silent_host.accepted == []  # refused before anything connected


# --- 3. component tags stay inside the root; URLs only on an explicit compile ----------------------


def component_notebook(path: Path, source: str) -> Path:
    """A pipeline whose step `echo` is the component at `source` (a path or a URL)."""
    return make_notebook(
        path,
        [
            code("msg = 'hi'", "pipeline-parameters"),
            code("text = msg", "step:echo", f"component:{source}"),
            code("shown = out.upper()", "step:show"),
        ],
        metadata={"kfp_jupyter": {"name": "components"}},
    )


@pytest.fixture
def spec_host() -> Iterator[SpecHost]:
    with serving(ECHO_SPEC) as host:
        yield host


def test_inspect_never_fetches_a_component_url_compile_does(
    server: Server, spec_host: SpecHost
) -> None:
    url = spec_host.url(f"echo.yaml?{secrets.token_hex(4)}")
    component_notebook(server.root / "by-url.ipynb", url)
    for _ in range(3):  # the panel refreshes on every save
        status, data = server.call("GET", "inspect?path=by-url.ipynb")
        assert status == 200, data
        assert [s["name"] for s in data["steps"]] == ["echo", "show"]
        assert data["steps"][0]["component"] == {"source": url, "fetched": False}
        assert data["unfetched"] == [url]
    assert spec_host.requests == []
    status, data = server.call("POST", "compile", {"path": "by-url.ipynb", "target": "kfp"})
    assert status == 200, data
    assert len(spec_host.requests) == 1


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink", "home"])
def test_component_files_outside_the_root_are_refused(server: Server, kind: str) -> None:
    outside = server.root.parent / "outside.yaml"
    outside.write_text(ECHO_SPEC)
    source = {
        "parent": "../outside.yaml",
        "absolute": str(outside),
        "symlink": "linked.yaml",
        "home": "~/outside.yaml",
    }[kind]
    if kind == "symlink" and not (server.root / "linked.yaml").exists():
        (server.root / "linked.yaml").symlink_to(outside)
    if kind == "home":
        (server.root.parent / "home").mkdir(exist_ok=True)
        (server.root.parent / "home" / "outside.yaml").write_text(ECHO_SPEC)
    name = f"outside-{kind}.ipynb"
    component_notebook(server.root / name, source)
    for method, path, body in [
        ("GET", f"inspect?path={name}", None),
        ("POST", "compile", {"path": name, "target": "kfp"}),
        ("POST", "runs", {"path": name}),
    ]:
        status, data = server.call(method, path, body)
        assert status == 400, (path, data)
        assert f"component:{source}" in data["message"], data
        assert "outside the server's root" in data["message"]
    assert not (server.root / f"outside-{kind}.yaml").exists()


def test_component_files_inside_the_root_still_compile(server: Server) -> None:
    (server.root / "specs").mkdir(exist_ok=True)
    (server.root / "specs" / "echo.yaml").write_text(ECHO_SPEC)
    component_notebook(server.root / "inside.ipynb", "specs/echo.yaml")
    status, data = server.call("GET", "inspect?path=inside.ipynb")
    assert status == 200 and data["steps"][0]["component"]["name"] == "Echo", data
    status, data = server.call("POST", "compile", {"path": "inside.ipynb", "target": "kfp"})
    assert status == 200, data


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose administrator forbade component URLs and allows one token variable."""
    settings = {**SETTINGS, "component_urls": False, "token_envs": ["MY_CLUSTER_KEY"]}
    with jupyter_server(tmp_path_factory.mktemp("strict"), settings, SECRETS) as srv:
        yield srv


def test_a_server_can_forbid_component_urls(strict_server: Server, spec_host: SpecHost) -> None:
    url = spec_host.url("echo.yaml")
    component_notebook(strict_server.root / "by-url.ipynb", url)
    for method, path, body in [
        ("GET", "inspect?path=by-url.ipynb", None),
        ("POST", "compile", {"path": "by-url.ipynb", "target": "kfp"}),
        ("POST", "submit", {"path": "by-url.ipynb", "host": spec_host.url("")}),
    ]:
        status, data = strict_server.call(method, path, body)
        assert status == 400, (path, data)
        assert f"component:{url}" in data["message"] and "URLs" in data["message"], data
    assert spec_host.requests == []


def test_the_token_variables_are_a_server_setting(
    strict_server: Server, silent_host: SilentHost
) -> None:
    body = {"path": "demo.ipynb", "host": silent_host.url, "token_env": "KFPJ_TEST_TOKEN"}
    status, data = strict_server.call("POST", "submit", body)
    assert status == 400, data
    assert "MY_CLUSTER_KEY" in data["message"], data
    assert silent_host.accepted == []


# --- 4. hostile bodies: 400 with a message, never a 500 ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "says"),
    [
        ("POST", "compile", {"path": 123}, "'path' must be a string, not a number"),
        ("POST", "compile", {"path": ["demo.ipynb"]}, "'path' must be a string, not a list"),
        ("POST", "compile", {"path": {"a": 1}}, "'path' must be a string, not an object"),
        ("POST", "compile", {"path": "demo.ipynb", "output": 7}, "'output' must be a string"),
        ("POST", "compile", {"path": "demo.ipynb", "target": ["kfp"]}, "'target' must be a"),
        ("POST", "compile", {"path": "demo.ipynb", "kfp_runtime": {}}, "'kfp_runtime' must be"),
        ("POST", "runs", {"path": True}, "'path' must be a string, not a boolean"),
        ("POST", "runs", {"path": "demo.ipynb", "no_cache": "yes"}, "'no_cache' must be true"),
        ("POST", "runs", {"path": "demo.ipynb", "experiment": [1]}, "'experiment' must be a"),
        ("POST", "submit", {"path": 1.5}, "'path' must be a string"),
        ("POST", "submit", {"path": "demo.ipynb", "host": ["x"]}, "'host' must be a string"),
        ("POST", "submit", {"path": "demo.ipynb", "token_env": {}}, "'token_env' must be a"),
        ("GET", "runs?limit=abc", None, "limit must be a whole number, not 'abc'"),
        ("GET", "runs?limit=-3", None, "limit must be 1 or more"),
        ("GET", "runs?limit=1e99", None, "limit must be a whole number"),
    ],
)
def test_fields_of_the_wrong_type_are_400_with_a_message(
    server: Server, method: str, path: str, body: object, says: str
) -> None:
    status, data = server.call(method, path, body)
    assert status == 400, data
    assert says in data["message"], data


def test_a_very_deep_body_is_400(server: Server) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    req = urllib.request.Request(
        f"{server.url}/kfp-jupyter/api/compile", deep.encode(), method="POST"
    )
    req.add_header("Authorization", f"token {server.token}")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=60)
    assert e.value.code == 400
    assert "nested too deeply" in json.loads(e.value.read())["message"]


@pytest.mark.parametrize("output", [".", "specs-dir", "specs-dir/"])
def test_compile_to_a_folder_is_400(server: Server, output: str) -> None:
    (server.root / "specs-dir").mkdir(exist_ok=True)
    status, data = server.call("POST", "compile", {"path": "demo.ipynb", "output": output})
    assert status == 400, data
    assert "is a folder" in data["message"], data
    (server.root / "a-file").write_text("")
    status, data = server.call("POST", "compile", {"path": "demo.ipynb", "output": "a-file/x.yaml"})
    assert status == 400 and "cannot write output 'a-file/x.yaml'" in data["message"], data


@pytest.mark.parametrize("output", ["demo.ipynb", "./demo.ipynb", "other.ipynb"])
def test_compile_never_writes_over_a_notebook(server: Server, output: str) -> None:
    before = (server.root / "demo.ipynb").read_bytes()
    status, data = server.call("POST", "compile", {"path": "demo.ipynb", "output": output})
    assert status == 400, data
    assert "refusing to write the compiled pipeline" in data["message"], data
    assert (server.root / "demo.ipynb").read_bytes() == before
    assert output != "other.ipynb" or not (server.root / output).exists()


def test_messages_keep_percent_signs_and_hide_the_root(server: Server) -> None:
    status, data = server.call("POST", "compile", {"path": "50%_done.ipynb", "target": "kfp"})
    assert status == 404, data
    assert data["message"] == "no notebook '50%_done.ipynb'", data
    component_notebook(server.root / "missing-spec.ipynb", "specs/none%d.yaml")
    status, data = server.call("GET", "inspect?path=missing-spec.ipynb")
    assert status == 422, data
    text = json.dumps(data)
    assert "specs/none%d.yaml" in text, data
    assert str(server.root) not in text and str(server.root.resolve()) not in text, data


def test_a_damaged_run_history_is_answered_as_json_saying_what_to_do(
    tmp_path: Path,
) -> None:
    with jupyter_server(tmp_path, SETTINGS) as srv:
        r = subprocess.run(
            [sys.executable, "-m", "kfp_jupyter.cli.main", "run", str(srv.root / "demo.ipynb"),
             "--store", str(srv.store)],
            capture_output=True, text=True, timeout=300, cwd=srv.root,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        status, runs = srv.call("GET", "runs")
        assert status == 200 and len(runs) == 1, runs
        run_id = runs[0]["id"]
        (srv.store / "history.db").write_bytes(os.urandom(8192))
        for method, path, body in (
            ("GET", "runs", None),
            ("GET", f"runs/{run_id}", None),
            ("POST", "runs", {"path": "demo.ipynb"}),
        ):
            status, data = srv.call(method, path, body)
            assert status == 503, (path, status, data)
            assert data["kind"] == "HistoryDamaged", data
            assert "history.db" in data["message"] and "move it aside" in data["message"].lower(), (
                data
            )
