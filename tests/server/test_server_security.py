"""What a caller holding the Jupyter server's token cannot make the server do, on a real `jupyter
server`: read files outside its root, run commands, or send a credential of the server's (its
kubeconfig's, kfp's, a saved target's token) to a host of the caller's choosing. Loopback
listeners record the headers each request brought: where a credential would have gone.

- a request names a kubeconfig only if `c.KfpJupyterServer.kubeconfigs` lists it;
- a host a request chooses gets none of the server's own credentials (Argo and KFP);
- a saved target's token goes only to its host, whether the request repeats its variable or not;
- the notebooks of nested notebook steps stay inside the root, and a FIFO is never read;
- a kubeconfig token ending in a line break is trimmed, and a token is never shown;
- a kubeconfig whose server is not http(s) is a config error;
- inspect's outline shows a component URL on the step Kale spliced in, under its new name.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jupyter_server_util import Server, add_target, jupyter_server
from nbutil import code, make_notebook
from servers.helpers import KFP_TOKEN, TOKEN_ENV, cli, no_traceback
from servers.listener import Listener, listening

pytest_plugins = ["servers.fixtures"]

#: the server's own credentials: its kubeconfig's token, its KFP service-account token
OWN_KUBE_TOKEN = "own-kube-token-never-elsewhere"
SA_TOKEN = "sa-token-never-elsewhere"
#: a token variable the settings allow (`*_TOKEN`) that no saved target uses
OTHER_ENV, OTHER_TOKEN = "OTHER_TOKEN", "other-token-the-caller-chose"


@pytest.fixture(scope="module")
def own() -> Iterator[Listener]:
    """Where the server's own configuration points (its kubeconfig, $KF_PIPELINES_ENDPOINT)."""
    with listening() as host:
        yield host


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[Listener]:
    """A host a caller chooses; never a saved target's."""
    with listening() as host:
        yield host


@pytest.fixture(autouse=True)
def forget(own: Listener, elsewhere: Listener) -> None:
    own.requests.clear()
    elsewhere.requests.clear()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, own: Listener) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("security")
    (base / "sa-token").write_text(SA_TOKEN)
    env = {
        TOKEN_ENV: KFP_TOKEN,
        OTHER_ENV: OTHER_TOKEN,
        "KUBECONFIG": str(base / "kube" / "config"),
        "KF_PIPELINES_ENDPOINT": own.url,
        "KF_PIPELINES_SA_TOKEN_PATH": str(base / "sa-token"),
    }
    with jupyter_server(base, {}, env) as srv:
        yield srv


def kubeconfig(path: Path, server: str, user: dict[str, Any]) -> Path:
    """A kubeconfig whose one context points at `server` as `user` (namespace argo)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "argo"}}],
        "current-context": "x",
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def own_kubeconfig(server: Server, url: str, user: dict[str, Any]) -> Path:
    """The server's own kubeconfig ($KUBECONFIG), read again by every submit."""
    return kubeconfig(server.root.parent / "kube" / "config", url, user)


def exec_user(marker: Path) -> dict[str, Any]:
    """A kubeconfig user whose credential plugin runs a command (it writes `marker`)."""
    program = f'open({str(marker)!r}, \'w\').write(\'ran\'); print(\'{{"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential", "status": {{"token": "exec-token"}}}}\')'
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": ["-c", program],
        }
    }


# --- 1. a kubeconfig named by a request ---------------------------------------------------------


def test_a_request_names_no_kubeconfig_unless_the_settings_list_one(
    server: Server, elsewhere: Listener
) -> None:
    marker = server.root.parent / "exec-ran"
    kubeconfig(server.root / "kc.yaml", elsewhere.url, exec_user(marker))
    outside = kubeconfig(server.root.parent / "outside" / "kc.yaml", elsewhere.url, {"token": "t"})
    for value in ("kc.yaml", f"a:{outside}"):
        body = {"path": "demo.ipynb", "engine": "argo", "kubeconfig": value}
        status, data = server.call("POST", "submit", body)
        assert status == 400, data
        assert "takes no 'kubeconfig' from a request" in data["message"], data
        assert "c.KfpJupyterServer.kubeconfigs" in data["message"], data
    assert elsewhere.requests == []
    assert not marker.exists(), "the kubeconfig's command ran"


def test_a_listed_kubeconfig_is_used_as_it_is_and_no_other(
    tmp_path_factory: pytest.TempPathFactory, own: Listener, elsewhere: Listener
) -> None:
    base = tmp_path_factory.mktemp("listed")
    with jupyter_server(base, {"kubeconfigs": ["kube/*.yaml"]}) as srv:
        kubeconfig(srv.root / "kube" / "team.yaml", own.url, {"token": "listed-token"})
        body = {"path": "demo.ipynb", "engine": "argo", "kubeconfig": "kube/team.yaml"}
        status, data = srv.call("POST", "submit", body)
        assert status == 502, data  # the listener's 404
        assert own.credentials() == {"Bearer listed-token"}
        # a listed file that is no kubeconfig: said as the command line says it
        (srv.root / "kube" / "broken.yaml").write_text("apiVersion: v1\nclusters: [\n  - {a\n")
        status, data = srv.call("POST", "submit", {**body, "kubeconfig": "kube/broken.yaml"})
        assert status == 400 and data["kind"] == "ConfigError", data
        assert (
            "cannot read the kubeconfig kube/broken.yaml: it is not valid YAML" in (data["message"])
        ), data
        # not listed: a file of the root, a link out of the listed folder, a list of files
        kubeconfig(srv.root / "mine.yaml", elsewhere.url, {"token": "t"})
        (srv.root / "kube" / "link.yaml").symlink_to(
            kubeconfig(base / "outside.yaml", elsewhere.url, {"token": "t"})
        )
        for value, says in [
            ("mine.yaml", "is not one this server may use (allowed: kube/*.yaml"),
            ("kube/link.yaml", "is not one this server may use"),
            ("kube/a:team.yaml", "holds ':'"),
        ]:
            status, data = srv.call("POST", "submit", {**body, "kubeconfig": value})
            assert status == 400, (value, data)
            assert says in data["message"], data
    assert elsewhere.requests == []


def test_the_command_line_refuses_a_kubeconfig_path_holding_the_path_separator(
    cluster_env: Path, demo_nb: Path, tmp_path: Path, elsewhere: Listener
) -> None:
    # the kubernetes client would read "x:y.yaml" as the files "x" and "y.yaml": x's cluster
    kubeconfig(tmp_path / "x", elsewhere.url, {"token": "x-token"})
    given = kubeconfig(tmp_path / "x:y.yaml", elsewhere.url, {"token": "y-token"})
    result = cli("submit", str(demo_nb), "--engine", "argo", "--kubeconfig", str(given))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert f"--kubeconfig {given}: a path holding ':' cannot be given" in result.output
    assert elsewhere.requests == []


# --- 2. a host the request chooses gets none of the server's own credentials -------------------


def test_argo_sends_the_servers_kubeconfig_credentials_only_to_the_kubeconfigs_server(
    server: Server, own: Listener, elsewhere: Listener
) -> None:
    own_kubeconfig(server, own.url, {"token": OWN_KUBE_TOKEN})
    body = {"path": "demo.ipynb", "engine": "argo"}
    status, data = server.call("POST", "submit", body)
    assert status == 502, data
    assert own.credentials() == {f"Bearer {OWN_KUBE_TOKEN}"}  # its own server: as ever
    status, data = server.call("POST", "submit", {**body, "host": elsewhere.url})
    assert status == 502, data
    assert elsewhere.requests and elsewhere.credentials() == {None}
    # a saved Argo target without a token variable: the same
    add_target(server, "lab", "--engine", "argo", "--host", own.url)
    elsewhere.requests.clear()
    status, data = server.call("POST", "submit", {"path": "demo.ipynb", "target": "lab",
                                                  "host": elsewhere.url})  # fmt: skip
    assert status == 502, data
    assert elsewhere.requests and elsewhere.credentials() == {None}
    # the token of a variable the request names goes there: the caller's choice, as allowed
    elsewhere.requests.clear()
    status, data = server.call(
        "POST", "submit", {**body, "host": elsewhere.url, "token_env": OTHER_ENV}
    )
    assert status == 502, data
    assert elsewhere.credentials() == {f"Bearer {OTHER_TOKEN}"}


def test_a_run_followed_again_from_its_record_sends_no_credentials_to_a_host_chosen_elsewhere(
    server: Server, own: Listener, elsewhere: Listener
) -> None:
    # what a submit through the server with a request's host records (the Argo answer aside)
    own_kubeconfig(server, own.url, {"token": OWN_KUBE_TOKEN})
    record = {
        "id": "wf-from-a-request",
        "engine": "argo",
        "notebook": os.path.realpath(server.root / "demo.ipynb"),
        "host": elsewhere.url,
        "namespace": "argo",
        "created": 1.0,
    }
    records = server.root.parent / "kfp-config" / "submitted.jsonl"
    records.parent.mkdir(parents=True, exist_ok=True)
    with records.open("a") as f:
        f.write(json.dumps(record) + "\n")
    status, data = server.call("GET", "runs/wf-from-a-request")
    assert status >= 400, data
    assert elsewhere.requests and elsewhere.credentials() == {None}


def test_kfp_sends_the_servers_own_credentials_only_to_its_configured_host(
    server: Server, own: Listener, elsewhere: Listener
) -> None:
    body = {"path": "demo.ipynb", "engine": "kfp"}
    status, data = server.call("POST", "submit", body)
    assert status == 502, data
    assert own.credentials() == {f"Bearer {SA_TOKEN}"}  # $KF_PIPELINES_ENDPOINT: as ever
    status, data = server.call("POST", "submit", {**body, "host": elsewhere.url})
    assert status == 502, data
    assert elsewhere.requests and elsewhere.credentials() == {None}
    # kfp sends its context file's sign-in cookie to any host: refused before it connects
    context = server.root.parent / "home" / ".config" / "kfp" / "context.json"
    context.parent.mkdir(parents=True, exist_ok=True)
    context.write_text(json.dumps({"client_authentication_cookie": "session=cookie-secret"}))
    elsewhere.requests.clear()
    try:
        status, data = server.call(
            "POST", "submit", {**body, "host": elsewhere.url, "token_env": OTHER_ENV}
        )
    finally:
        context.unlink()
    assert status == 400 and data["kind"] == "ConfigError", data
    assert "kfp would send it the sign-in cookie of" in data["message"], data
    assert "cookie-secret" not in json.dumps(data)
    assert elsewhere.requests == []


# --- 3. a saved target's token, its variable repeated by the request ---------------------------


def test_a_targets_token_does_not_follow_another_host_when_the_request_repeats_its_variable(
    server: Server, own: Listener, elsewhere: Listener
) -> None:
    add_target(server, "prod", "--engine", "kfp", "--host", own.url, "--token-env", TOKEN_ENV)
    # what the Submit dialog sends once the user picked `prod` and edited the host
    body = {"path": "demo.ipynb", "target": "prod", "host": elsewhere.url, "token_env": TOKEN_ENV}
    status, data = server.call("POST", "submit", body)
    assert status == 400, data
    assert f"sends its token (${TOKEN_ENV}) only to its own cluster" in data["message"], data
    assert 'name another token variable in the "token variable" field' in data["message"], data
    assert elsewhere.requests == []
    # another variable, named by the request: that one goes there
    status, data = server.call("POST", "submit", {**body, "token_env": OTHER_ENV})
    assert status == 502, data
    assert elsewhere.credentials() == {f"Bearer {OTHER_TOKEN}"}
    # the target's own host: its token goes there
    status, data = server.call("POST", "submit", {**body, "host": own.url})
    assert status == 502, data
    assert own.credentials() == {f"Bearer {KFP_TOKEN}"}


# --- 4. nested notebook steps ---------------------------------------------------------------------


@contextlib.contextmanager
def fifo(path: Path) -> Iterator[Path]:
    """A FIFO at `path`; whoever is left reading it when the block ends is given an end of file
    (a server that read it would otherwise hold a thread until it stops)."""
    if not path.exists():
        os.mkfifo(path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):  # ENXIO: nobody reads it, as it should be
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_the_notebooks_of_nested_notebook_steps_stay_inside_the_root(server: Server) -> None:
    root = server.root
    make_notebook(root.parent / "outside" / "nb.ipynb", [code("x = 1")])
    top = [code("n = 1", "pipeline-parameters"), code("# go", "step:run_child", "notebook:NB")]
    # the child is inside; its own notebook step leaves the root, resolved from its folder
    make_notebook(root / "child.ipynb", [code("y = 2"), code("", "step:n",
                                                             "notebook:../outside/nb.ipynb")])  # fmt: skip
    make_notebook(root / "top.ipynb", [top[0], code("# go", "step:run_child",
                                                    "notebook:child.ipynb")])  # fmt: skip
    for method, path, body in [
        ("GET", "inspect?path=top.ipynb", None),
        ("POST", "compile", {"path": "top.ipynb", "target": "kfp", "output": "never.yaml"}),
        ("POST", "runs", {"path": "top.ipynb"}),
    ]:
        status, data = server.call(method, path, body)
        assert status == 400, (path, data)
        assert data["message"] == (
            "tag 'notebook:../outside/nb.ipynb' of step 'n' (cell 2) in child.ipynb: the file "
            "is outside the server's root directory; copy it into the notebook's folder"
        ), data
    assert not (root / "never.yaml").exists()
    # from its own folder, `..` of nest/inner.ipynb is the root: inside, and read
    make_notebook(root / "leaf.ipynb", [code("z = 3")])
    make_notebook(root / "nest" / "inner.ipynb", [code("y = 2"), code("", "step:leaf",
                                                                      "notebook:../leaf.ipynb")])  # fmt: skip
    make_notebook(root / "top-ok.ipynb", [top[0], code("# go", "step:run_child",
                                                       "notebook:nest/inner.ipynb")])  # fmt: skip
    status, data = server.call("GET", "inspect?path=top-ok.ipynb")
    assert status == 200, data


def test_a_fifo_named_by_a_nested_notebook_step_is_refused_not_read(server: Server) -> None:
    root = server.root
    with fifo(root / "pipe.ipynb"):
        make_notebook(root / "reads-pipe.ipynb", [code("y = 2"), code("", "step:p",
                                                                      "notebook:pipe.ipynb")])  # fmt: skip
        make_notebook(root / "top-pipe.ipynb", [code("n = 1", "pipeline-parameters"),
                                                code("# go", "step:r",
                                                     "notebook:reads-pipe.ipynb")])  # fmt: skip
        status, data = server.call("GET", "inspect?path=top-pipe.ipynb")
    assert status == 400, data
    assert "tag 'notebook:pipe.ipynb' of step 'p' (cell 2) in reads-pipe.ipynb: it is not a " \
        "file" in data["message"], data  # fmt: skip


# --- 5. a kubeconfig token ending in a line break ----------------------------------------------


def test_a_kubeconfig_token_is_trimmed_and_never_shown(server: Server, own: Listener) -> None:
    token_file = server.root.parent / "token-file"
    token_file.write_text("file-token-123\n")  # as `echo TOKEN > file` writes it
    own_kubeconfig(server, own.url, {"tokenFile": str(token_file)})
    body = {"path": "demo.ipynb", "engine": "argo"}
    status, data = server.call("POST", "submit", body)
    assert status == 502, data
    assert own.credentials() == {"Bearer file-token-123"}
    # a line break inside the token: refused, the token shown nowhere
    own.requests.clear()
    own_kubeconfig(server, own.url, {"token": "ab\ncd-secret-part"})
    status, data = server.call("POST", "submit", body)
    assert status == 400 and data["kind"] == "ConfigError", data
    assert (
        "holds a line break or another character a request header cannot carry" in (data["message"])
    ), data
    assert "secret-part" not in json.dumps(data)
    assert "secret-part" not in (server.root.parent / "server.log").read_text()
    assert own.requests == []


# --- 7. a kubeconfig server that is not http(s) --------------------------------------------------


def test_a_kubeconfig_server_that_is_not_http_is_a_config_error(
    server: Server, cluster_env: Path, demo_nb: Path, tmp_path: Path
) -> None:
    own_kubeconfig(server, "ftp://cluster.example", {"token": "t"})
    status, data = server.call("POST", "submit", {"path": "demo.ipynb", "engine": "argo"})
    assert status == 400 and data["kind"] == "ConfigError", data
    assert "only http:// and https:// addresses are supported, not ftp://" in data["message"]
    path = kubeconfig(tmp_path / "ftp.yaml", "ftp://cluster.example", {"token": "t"})
    result = cli("submit", str(demo_nb), "--engine", "argo", "--kubeconfig", str(path))
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "only http:// and https:// addresses are supported" in result.output


# --- 6. inspect's outline of a Kale-spliced component URL --------------------------------------


def test_the_outline_shows_a_spliced_component_url_on_the_spliced_step(server: Server) -> None:
    root = server.root
    make_notebook(root / "k" / "ref.ipynb", [code("# spec", "step:train",
                                                  "component:https://example.invalid/c.yaml")])  # fmt: skip
    reference = code("", "notebook:ref")
    reference.metadata["notebook_path"] = "k/ref.ipynb"
    make_notebook(
        root / "kale-top.ipynb",
        [code("x = 1", "step:train"), reference, code("y = 2", "step:after")],
    )
    status, data = server.call("GET", "inspect?path=kale-top.ipynb")
    assert status == 200 and data["outline"] is True, data
    steps = {s["name"]: s for s in data["steps"]}
    assert "component" not in steps["train"], steps  # the composing notebook's own step
    [spliced] = [s for s in steps.values() if s.get("component")]
    assert spliced["name"] != "train", steps  # renamed as Kale splices it in
    assert spliced["component"] == {"source": "https://example.invalid/c.yaml", "fetched": False}
