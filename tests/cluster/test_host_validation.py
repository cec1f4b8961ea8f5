"""A malformed cluster address (`--host`, `--ui-url`, a saved target's, $KF_PIPELINES_ENDPOINT's,
$ARGO_SERVER's) is a setting to fix on this machine: exit status 2 (HTTP 400 from the Jupyter
server), a message naming the address and the form of a good one, and nothing sent or saved. It
was reported as the cluster being unreachable (exit 1, HTTP 502), which sent users looking for a
port-forward or a VPN. A scheme in capitals is a scheme all the same.

Through the command line and the API against the test servers (tests/servers/), and through a
real `jupyter server`'s `POST submit`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from jupyter_server_util import Server, jupyter_server
from servers.helpers import TOKEN_ENV, cli, no_traceback
from servers.k8s_server import K8sServer
from servers.kfp_server import KfpServer

import kfp_jupyter
from kfp_jupyter.cluster import ConfigError

pytest_plugins = ["servers.fixtures"]

GOOD_FORM = "http(s)://HOST[:PORT][/PATH]"

#: each malformed address, and what the message says is wrong with it
MALFORMED = [
    ("http://127.0.0.1:abc", "the port 'abc' is not a number from 1 to 65535"),
    ("http://127.0.0.1:99999", "the port '99999' is not a number from 1 to 65535"),
    ("http://127.0.0.1:0", "the port '0' is not a number from 1 to 65535"),
    ("http://[::1", "an IPv6 address goes in closed brackets"),
    ("http://host name", "it holds a space"),
    ("http://:8080", "it names no host"),
    ("http://", "it names no host"),
    ("http://kfp<example>", "the host 'kfp<example>' holds a character a host name cannot"),
    ("http://kfp.example.com/?ns=a", "an API address has no '?query' or '#fragment'"),
]


def refused(result: Result, address: str, says: str) -> str:
    """The error text of a command refused for `address` before anything was sent."""
    no_traceback(result)
    err = result.stderr
    assert result.exit_code == 2, err
    assert f"{address!r} is not a valid address: {says}" in err
    assert GOOD_FORM in err
    assert "cannot reach" not in err and "port-forward" not in err
    return str(err)


@pytest.mark.parametrize(("address", "says"), MALFORMED)
def test_submit_refuses_a_malformed_host_before_connecting(
    cluster_env: Path, demo_nb: Path, address: str, says: str
) -> None:
    result = cli("submit", str(demo_nb), "--host", address)
    err = refused(result, address, says)
    assert err.startswith(f"error: --host {address!r}")
    assert f"write it as {GOOD_FORM}, e.g. http://" in err
    assert "only http:// and https://" not in err  # `http://` is http, whatever else is wrong


@pytest.mark.parametrize("engine", ["kfp", "argo"])
def test_a_malformed_ui_url_is_refused_for_either_engine(
    cluster_env: Path, demo_nb: Path, engine: str
) -> None:
    result = cli(
        "submit", str(demo_nb), "--engine", engine, "--host", "http://127.0.0.1:1",
        "--ui-url", "http://ui.example.com:ui",
    )  # fmt: skip
    err = refused(result, "http://ui.example.com:ui", "the port 'ui' is not a number")
    assert "--ui-url 'http://ui.example.com:ui'" in err
    assert "e.g. http://ui.example.com:8080" in err


def test_a_capitalised_scheme_is_http(kfp_api: KfpServer, demo_nb: Path) -> None:
    shouted = "HTTP" + kfp_api.url.removeprefix("http")
    result = cli(
        "submit", str(demo_nb), "--host", shouted, "--ui-url", shouted.replace("HTTP", "Http"),
        "--token-env", TOKEN_ENV,
    )  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 0, result.stderr
    assert len(kfp_api.state.runs) == 1
    assert f"{kfp_api.url}/#/runs/details/" in result.output  # the link, in lower case


def test_targets_add_saves_no_malformed_address(cluster_env: Path) -> None:
    saved = Path(os.environ["KFP_JUPYTER_CONFIG_DIR"]) / "targets.json"
    result = cli("targets", "add", "tx", "--engine", "kfp", "--host", "http://[::1")
    refused(result, "http://[::1", "an IPv6 address goes in closed brackets")
    result = cli(
        "targets", "add", "tx", "--engine", "kfp", "--host", "https://kfp.example.com",
        "--ui-url", "https://ui.example.com:99999",
    )  # fmt: skip
    refused(result, "https://ui.example.com:99999", "the port '99999'")
    assert not saved.exists()
    result = cli("targets", "add", "tx", "--engine", "kfp", "--host", "HTTPS://kfp.example.com/")
    assert result.exit_code == 0, result.stderr
    assert json.loads(saved.read_text())["targets"]["tx"]["host"] == "https://kfp.example.com"


def test_a_saved_target_edited_by_hand_says_which_target(cluster_env: Path, demo_nb: Path) -> None:
    folder = Path(os.environ["KFP_JUPYTER_CONFIG_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    targets = {"targets": {"tx": {"engine": "kfp", "host": "http://127.0.0.1:abc"}}}
    (folder / "targets.json").write_text(json.dumps(targets), encoding="utf-8")
    result = cli("submit", str(demo_nb), "--target", "tx")
    err = refused(result, "http://127.0.0.1:abc", "the port 'abc'")
    assert "the host of the saved target 'tx'" in err
    assert "kfp-jupyter targets add tx --engine kfp --host URL --replace" in err


def test_the_api_submit_and_attach_raise_a_config_error(cluster_env: Path, demo_nb: Path) -> None:
    with pytest.raises(ConfigError, match="the port 'abc' is not a number") as raised:
        kfp_jupyter.submit(str(demo_nb), host="http://127.0.0.1:abc")
    assert raised.value.exit_code == 2
    for engine in ("kfp", "argo"):
        with pytest.raises(ConfigError, match="it names no host"):
            kfp_jupyter.attach("run-1", engine, host="http://:8080")
        with pytest.raises(ConfigError, match=r"--ui-url 'http://ui:x' is not a valid address"):
            kfp_jupyter.attach("run-1", engine, host="http://127.0.0.1:1", ui_url="http://ui:x")


def test_a_malformed_address_in_the_environment_is_named(
    cluster_env: Path, demo_nb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", "http://127.0.0.1:abc")
    result = cli("submit", str(demo_nb))
    err = refused(result, "http://127.0.0.1:abc", "the port 'abc'")
    assert "the KFP host from $KF_PIPELINES_ENDPOINT" in err
    monkeypatch.setenv("KF_PIPELINES_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.setenv("KF_PIPELINES_UI_ENDPOINT", "http://ui host")
    result = cli("submit", str(demo_nb))
    err = refused(result, "http://ui host", "it holds a space")
    assert "the KFP UI address from $KF_PIPELINES_UI_ENDPOINT" in err


def test_a_malformed_argo_server_sends_no_workflow(
    k8s_api: K8sServer, kubeconfig_file: Path, demo_nb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGO_SERVER", "argo.example.com:argo")
    result = cli("submit", str(demo_nb), "--engine", "argo")
    err = refused(result, "https://argo.example.com:argo", "the port 'argo'")
    assert "from $ARGO_SERVER" in err
    assert k8s_api.state.created == []


# --- the Jupyter server's `POST submit`


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with jupyter_server(tmp_path_factory.mktemp("hosts"), {}) as srv:
        yield srv


@pytest.mark.parametrize(("address", "says"), MALFORMED[:6])
def test_the_server_answers_400_for_a_malformed_host(
    server: Server, address: str, says: str
) -> None:
    status, data = server.call("POST", "submit", {"path": "demo.ipynb", "host": address})
    assert status == 400, data
    assert data["kind"] == "ConfigError", data
    assert f"{address!r} is not a valid address: {says}" in data["message"]
    assert GOOD_FORM in data["message"]


def test_the_server_takes_a_capitalised_scheme(server: Server, closed_port: int) -> None:
    """Past the check, to the network: nothing listens there (502, the cluster's answer)."""
    body = {"path": "demo.ipynb", "host": f"HTTP://127.0.0.1:{closed_port}"}
    status, data = server.call("POST", "submit", body)
    assert status == 502, data
    assert f"cannot reach the KFP API at http://127.0.0.1:{closed_port}" in data["message"]
