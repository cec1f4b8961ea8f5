"""Review fixes of the server extension, on a real `jupyter server`: a saved target's token goes
only through an allowed variable and only where the target points; everything a notebook makes
the server read stays inside the root (notebook steps, Kale's references and what their notebooks
name, a kubeconfig); bad paths and files are 4xx, never 500; a step's details while another step
has a problem; unknown fields of compile; a run sent from a kernel is attached once when two
requests ask at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_server_util import Server, add_target, jupyter_server
from nbutil import code, make_notebook
from servers.helpers import KFP_TOKEN, TOKEN_ENV
from servers.listener import Listener, listening
from servers.spec_host import SpecHost, spec_host

pytest_plugins = ["servers.fixtures"]

#: a variable of the server's environment that is no cluster token (a cloud key)
CLOUD_KEY = "hunter2-cloud-key-never-send-me"
#: a token variable the settings allow that no target names: the caller's own
OWN_TOKEN_ENV, OWN_TOKEN = "MY_KFP_TOKEN", "callers-own-token"
ENV = {TOKEN_ENV: KFP_TOKEN, "AWS_SECRET": CLOUD_KEY, OWN_TOKEN_ENV: OWN_TOKEN}

ECHO_SPEC = """name: Echo
inputs:
- {name: Text, type: String}
implementation:
  container:
    image: busybox:1.36
    command: [sh, -c, 'echo "$0"', {inputValue: Text}]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with jupyter_server(tmp_path_factory.mktemp("review"), {}, ENV) as srv:
        yield srv


@pytest.fixture
def listener() -> Iterator[Listener]:
    with listening() as host:
        yield host


# --- 1. a saved target's token ------------------------------------------------------------------


def test_a_targets_token_variable_must_be_one_the_server_may_read(
    server: Server, kfp_api: Any
) -> None:
    add_target(
        server, "corp", "--engine", "kfp", "--host", kfp_api.url, "--token-env", "AWS_SECRET"
    )
    status, data = server.call("POST", "submit", {"path": "demo.ipynb", "target": "corp"})
    assert status == 400, data
    assert "'AWS_SECRET'" in data["message"] and "not a token variable" in data["message"], data
    assert "*_TOKEN" in data["message"], data  # what the server allows
    assert kfp_api.state.requests == []  # nothing sent, the key never read
    assert CLOUD_KEY not in json.dumps(data)


def test_a_targets_token_goes_only_to_its_own_host(
    server: Server, kfp_api: Any, listener: Listener
) -> None:
    add_target(server, "prod", "--engine", "kfp", "--host", kfp_api.url, "--token-env", TOKEN_ENV)
    body = {"path": "demo.ipynb", "target": "prod", "host": listener.url}
    status, data = server.call("POST", "submit", body)
    assert status == 400, data
    assert 'only to its own cluster, and the request\'s "host"' in data["message"], data
    assert '"token variable" field' in data["message"], data
    assert listener.requests == []
    # the target's own host, said again (a trailing slash): its token goes there
    status, data = server.call("POST", "submit", {**body, "host": kfp_api.url + "/"})
    assert status == 201, data
    # ... or with the scheme in capitals: the same address
    upper = kfp_api.url.replace("http://", "HTTP://", 1)
    status, data = server.call("POST", "submit", {**body, "host": upper})
    assert status == 201, data
    # repeating the target's own variable changes nothing: still not to another host
    status, data = server.call("POST", "submit", {**body, "token_env": TOKEN_ENV})
    assert status == 400, data
    assert listener.requests == []
    # another variable the settings allow is the caller's choice, checked as ever
    status, data = server.call("POST", "submit", {**body, "token_env": OWN_TOKEN_ENV})
    assert status == 502, data
    assert listener.requests and listener.requests[0][1] == f"Bearer {OWN_TOKEN}"


def test_an_argo_targets_token_does_not_follow_another_kubeconfig_or_context(
    server: Server,
) -> None:
    add_target(
        server, "argo-prod", "--engine", "argo", "--host", "http://127.0.0.1:9",
        "--token-env", TOKEN_ENV,
    )  # fmt: skip
    for field in ("context", "kubeconfig"):
        body = {"path": "demo.ipynb", "target": "argo-prod", field: "other"}
        status, data = server.call("POST", "submit", body)
        assert status == 400, data
        assert f'the request\'s "{field}" would send it elsewhere' in data["message"], data


# --- 2. what a notebook makes the server read stays inside the root --------------------------


def kale_reference(name: str, path: str) -> Any:
    """A cell referencing another notebook as Kale's editor writes it."""
    cell = code("", f"notebook:{name}")
    cell.metadata["notebook_path"] = path
    return cell


def refused_everywhere(server: Server, name: str, says: str) -> None:
    """Inspect, compile and run of `name` are all 400 saying `says` and 'outside the root'."""
    for method, path, body in [
        ("GET", f"inspect?path={name}", None),
        ("POST", "compile", {"path": name, "target": "kfp", "output": "never.yaml"}),
        ("POST", "runs", {"path": name}),
    ]:
        status, data = server.call(method, path, body)
        assert status == 400, (path, data)
        assert says in data["message"], data
        assert "outside the server's root directory" in data["message"], data
    assert not (server.root / "never.yaml").exists()


def test_a_notebook_step_outside_the_root_is_refused(server: Server) -> None:
    make_notebook(server.root.parent / "outside-child.ipynb", [code("x = 1")])
    make_notebook(
        server.root / "runs-outside.ipynb",
        [code("", "step:child", "notebook:../outside-child.ipynb")],
    )
    refused_everywhere(server, "runs-outside.ipynb", "tag 'notebook:../outside-child.ipynb'")


def test_a_kale_reference_outside_the_root_is_refused(server: Server) -> None:
    make_notebook(server.root.parent / "outside-part.ipynb", [code("y = 2", "step:part")])
    make_notebook(
        server.root / "kale-outside.ipynb",
        [code("x = 1", "step:first"), kale_reference("part", "../outside-part.ipynb")],
    )
    refused_everywhere(
        server, "kale-outside.ipynb", "Kale's reference to notebook '../outside-part.ipynb'"
    )


def test_a_component_of_a_kale_referenced_notebook_outside_the_root_is_refused(
    server: Server,
) -> None:
    (server.root.parent / "outside.yaml").write_text(ECHO_SPEC)
    # the spliced steps' paths are relative to the composing notebook, as the analysis reads them
    make_notebook(
        server.root / "parts" / "echo.ipynb",
        [code("text = 'hi'", "step:echo", "component:../outside.yaml")],
    )
    make_notebook(
        server.root / "kale-comp.ipynb",
        [code("x = 1", "step:first"), kale_reference("echo", "parts/echo.ipynb")],
    )
    refused_everywhere(
        server, "kale-comp.ipynb", "tag 'component:../outside.yaml' of step 'echo' (cell 1) in "
        "parts/echo.ipynb"
    )  # fmt: skip


@pytest.fixture
def spec_url() -> Iterator[tuple[str, SpecHost]]:
    with spec_host(ECHO_SPEC) as host:
        yield host.url("echo.yaml"), host


def composing_a_url(root: Path, url: str) -> str:
    """A notebook referencing (as Kale does) one whose step is the component at `url`."""
    make_notebook(root / "parts" / "by-url.ipynb", [code("text = 'hi'", "step:echo",
                                                         f"component:{url}")])  # fmt: skip
    make_notebook(
        root / "kale-url.ipynb",
        [code("x = 1", "step:first"), kale_reference("by_url", "parts/by-url.ipynb")],
    )
    return "kale-url.ipynb"


def test_inspect_never_fetches_a_component_url_of_a_kale_referenced_notebook(
    server: Server, spec_url: tuple[str, SpecHost]
) -> None:
    url, host = spec_url
    name = composing_a_url(server.root, url)
    status, data = server.call("GET", f"inspect?path={name}")
    assert status == 200, data
    assert data["outline"] is True and data["unfetched"] == [url], data
    assert [s["name"] for s in data["steps"]] == ["first", "echo"], data
    assert host.requests == []


def test_a_server_forbidding_urls_refuses_those_of_kale_referenced_notebooks(
    tmp_path: Path, spec_url: tuple[str, SpecHost]
) -> None:
    url, host = spec_url
    with jupyter_server(tmp_path, {"component_urls": False}, ENV) as srv:
        name = composing_a_url(srv.root, url)
        for method, path, body in [
            ("GET", f"inspect?path={name}", None),
            ("POST", "compile", {"path": name, "target": "kfp"}),
        ]:
            status, data = srv.call(method, path, body)
            assert status == 400, (path, data)
            assert f"tag 'component:{url}' of step 'echo'" in data["message"], data
            assert "does not fetch components from URLs" in data["message"], data
    assert host.requests == []


# --- 3. 4xx for paths and files the system cannot take -----------------------------------------

LONG = "a" * 300 + ".ipynb"
DEEP = "d/" * 2100 + "x.ipynb"  # more than PATH_MAX


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"inspect?path={LONG}", None),
        ("GET", f"inspect?path={DEEP}", None),
        ("GET", f"steps/load?path={LONG}", None),
        ("GET", f"runs?path={LONG}", None),
        ("POST", "compile", {"path": LONG}),
        ("POST", "compile", {"path": "demo.ipynb", "output": "b" * 300 + ".yaml"}),
        ("POST", "runs", {"path": LONG}),
        ("POST", "submit", {"path": LONG}),
    ],
)
def test_a_path_too_long_is_400_with_a_short_message(
    server: Server, method: str, path: str, body: object
) -> None:
    status, data = server.call(method, path, body)
    assert status == 400, data
    assert "cannot be used: File name too long" in data["message"], data
    assert len(data["message"]) < 200, data


def test_a_loop_of_symbolic_links_is_400(server: Server) -> None:
    loop = server.root / "loop.ipynb"
    if not loop.is_symlink():
        loop.symlink_to(loop)
    status, data = server.call("GET", "inspect?path=loop.ipynb")
    assert status == 400, data
    assert data["message"] == "'loop.ipynb' cannot be used: it is a loop of symbolic links"


# --- 4. a step's details while another step has a problem --------------------------------------


def test_a_steps_details_while_another_step_has_a_problem(server: Server) -> None:
    from jupyter_server_util import CELLS

    make_notebook(
        server.root / "half.ipynb",
        [*CELLS, code("text = 'x'", "step:late", "component:specs/none.yaml")],
    )
    assert server.call("GET", "inspect?path=half.ipynb")[0] == 422
    status, d = server.call("GET", "steps/train?path=half.ipynb")
    assert status == 200, d
    assert d["step"] == "train" and d["cells"] == [4] and d["state"] is None, d
    assert d["note"] == (
        "the notebook has problems elsewhere (step 'late'); this step's inputs and outputs "
        "show once they are fixed"
    )
    assert d["problems"] == []
    # the step with the problem: its own problem, the root never shown
    status, d = server.call("GET", "steps/late?path=half.ipynb")
    assert status == 200, d
    assert d["note"].startswith("this step has problems: component spec"), d
    assert "specs/none.yaml" in d["note"] and [p["step"] for p in d["problems"]] == ["late"]
    assert str(server.root) not in json.dumps(d)
    status, d = server.call("GET", "steps/nope?path=half.ipynb")
    assert status == 404 and "nope" in d["message"], d


# --- 5. unknown fields --------------------------------------------------------------------------


def test_compile_refuses_an_unknown_field_naming_the_known_ones(server: Server) -> None:
    body = {"path": "demo.ipynb", "target": "kfp", "ouput": "typo.yaml"}
    status, data = server.call("POST", "compile", body)
    assert status == 400, data
    assert data["message"] == (
        "unknown field 'ouput'; the fields accepted: kfp_runtime, output, path, target"
    )
    assert not (server.root / "typo.yaml").exists()


# --- 6. a run sent from a kernel is attached once ------------------------------------------------


class HeldRuns:
    """Holds the KFP test server's reads of one run (GET .../runs/ID) until `opened`, counting
    those that came while it was closed: each is a request attaching to the run."""

    def __init__(self, run_id: str) -> None:
        self.path = f"/apis/v2beta1/runs/{run_id}"
        self.opened = threading.Event()
        self.first = threading.Event()
        self.lock = threading.Lock()
        self.held = 0

    def hold(self, path: str) -> None:
        if path.split("?")[0] != self.path or self.opened.is_set():
            return
        with self.lock:
            self.held += 1
        self.first.set()
        self.opened.wait(60)


def test_two_requests_at_once_attach_to_a_run_sent_from_a_kernel_once(
    tmp_path: Path, kfp_api: Any
) -> None:
    base = tmp_path / "server"
    base.mkdir()
    with jupyter_server(base, {}, {TOKEN_ENV: KFP_TOKEN}) as srv:
        sent = subprocess.run(
            [sys.executable, "-m", "kfp_jupyter.cli.main", "submit", "demo.ipynb",
             "--host", kfp_api.url, "--token-env", TOKEN_ENV, "--json"],
            capture_output=True, text=True, cwd=srv.root,
            env={**os.environ, "KFP_JUPYTER_CONFIG_DIR": str(base / "kfp-config"),
                 TOKEN_ENV: KFP_TOKEN},
        )  # fmt: skip
        assert sent.returncode == 0, sent.stdout + sent.stderr
        run_id = json.loads(sent.stdout)["run_id"]
        gate = HeldRuns(run_id)
        served = kfp_api.RequestHandlerClass

        class Held(served):  # type: ignore[misc,valid-type]
            def do_GET(self) -> None:
                gate.hold(self.path)
                served.do_GET(self)

        kfp_api.RequestHandlerClass = Held
        answers: dict[str, tuple[int, Any]] = {}

        def ask(key: str, path: str) -> None:
            answers[key] = srv.call("GET", path)

        # the panel's poll of the run, and a click on one of its steps meanwhile
        poll = threading.Thread(target=ask, args=("poll", f"runs/{run_id}"))
        poll.start()
        try:
            assert gate.first.wait(60), "the server never read the run"
            click = threading.Thread(
                target=ask, args=("click", f"runs/{run_id}/steps/load?path=demo.ipynb")
            )
            click.start()
            log = base / "server.log"

            def waits() -> bool:  # the server's log says the click waits for the poll's attach
                return "another request is looking up" in log.read_text(errors="replace")

            # the click either waits for the poll's attach or attaches a second time
            deadline = time.monotonic() + 60
            while gate.held < 2 and not waits():
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.05)
        finally:
            gate.opened.set()
        poll.join(60)
        click.join(60)
    assert gate.held == 1, "the run was attached to twice"
    assert answers["poll"][0] == 200 and answers["poll"][1]["id"] == run_id, answers
    assert answers["click"][0] == 200 and answers["click"][1]["step"] == "load", answers
