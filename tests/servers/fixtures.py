"""pytest fixtures of the submit tests: the two test servers, an isolated environment, notebooks.

A test module uses them with `pytest_plugins = ["servers.fixtures"]`. Every
server fixture fails the test at teardown if a request or a response broke the API contract,
unless the test took the violations it expected out of `server.state.violations`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nbutil import make_notebook

from .helpers import CELLS, K8S_TOKEN, KFP_TOKEN, TOKEN_ENV
from .k8s_server import K8sServer, write_kubeconfig
from .kfp_server import KfpServer

#: environment variables that would let the user's own settings leak into a test
_ISOLATE = (
    "KF_PIPELINES_ENDPOINT",
    "KF_PIPELINES_UI_ENDPOINT",
    "KF_PIPELINES_SA_TOKEN_PATH",
    "KF_PIPELINES_IAP_OAUTH2_CLIENT_ID",
    "KF_PIPELINES_APP_OAUTH2_CLIENT_ID",
    "KF_PIPELINES_APP_OAUTH2_CLIENT_SECRET",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "KUBECONFIG",
    # the per-user config folder is under the test's HOME (or a folder of the test's own, below)
    "XDG_CONFIG_HOME",
    "ARGO_SERVER",
    "ARGO_BASE_HREF",
    "ARGO_SECURE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
)


@pytest.fixture(scope="session")
def demo_nb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A three-step notebook (load_data -> train -> report) with parameters of every type."""
    path = tmp_path_factory.mktemp("nb") / "demo.ipynb"
    return make_notebook(path, CELLS, metadata={"kfp_jupyter": {"name": "demo-pipeline"}})


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's config folder (saved targets, runs sent) and local store, the test's own."""
    folder = tmp_path / "config"
    monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(folder))
    monkeypatch.setenv("KFP_JUPYTER_STORE", str(tmp_path / "store"))
    return folder


@pytest.fixture
def cluster_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No cluster settings from this machine: kfp's context file, kubeconfig and variables are
    the test's own. Returns the path of kfp's context file (absent unless the test writes it)."""
    for name in _ISOLATE:
        monkeypatch.delenv(name, raising=False)
    from kfp.client.client import Client

    context = tmp_path / "kfp-home" / "context.json"
    monkeypatch.setattr(Client, "_LOCAL_KFP_CONTEXT", str(context))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # saved targets and submitted runs: never the developer's own config folder (a test that
    # set a folder of its own under tmp_path keeps it)
    own = os.environ.get("KFP_JUPYTER_CONFIG_DIR", "")
    if not own.startswith(str(tmp_path)):
        monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(tmp_path / "home" / "kfp-config"))
    monkeypatch.setenv(TOKEN_ENV, KFP_TOKEN)
    return context


def _check(state: Any) -> None:
    violations = list(state.violations)
    assert not violations, "API contract violations:\n" + "\n".join(violations)


@pytest.fixture
def kfp_api(cluster_env: Path) -> Iterator[KfpServer]:
    server = KfpServer().start()
    server.state.tokens = {KFP_TOKEN}
    try:
        yield server
        _check(server.state)
    finally:
        server.stop()


@pytest.fixture
def k8s_api(cluster_env: Path) -> Iterator[K8sServer]:
    server = K8sServer().start()
    server.state.tokens = {K8S_TOKEN}
    try:
        yield server
        _check(server.state)
    finally:
        server.stop()


@pytest.fixture
def kubeconfig_file(k8s_api: K8sServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubeconfig (in $KUBECONFIG) whose context points at the test server, namespace argo."""
    path = write_kubeconfig(tmp_path / "kubeconfig", k8s_api.url, K8S_TOKEN, "argo")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
