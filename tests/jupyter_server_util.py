"""A real `jupyter server` with the kfp-jupyter extension, started for a test, and how to call
its REST API."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbutil import code, make_notebook

CELLS = [
    code("import json", "imports"),
    code("n = 3", "pipeline-parameters"),
    code("data = list(range(n))", "step:load"),
    code("total = sum(data)", "step:train"),
    code("score = total / 10", "step:report"),
    code("score", "pipeline-metrics"),
]


@dataclass
class Server:
    url: str
    token: str
    root: Path
    store: Path

    def call(
        self, method: str, path: str, body: object = None, token: bool = True
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/kfp-jupyter/api/{path}", data, method=method)
        if token:
            req.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text.decode(errors="replace")


def wait_for_server(
    proc: subprocess.Popen[bytes], runtime: Path, token: str, log: Path, seconds: float
) -> str:
    """The URL of a jupyter server (or lab) started with `--ServerApp.port=0`, once it answers:
    read from the file it writes into its runtime folder. It binds a port of its own: a free
    port picked here and handed to it could be taken in between (by the kernel of a test running
    beside it, whose ZMQ socket then answered our status request)."""
    info = runtime / f"jpserver-{proc.pid}.json"
    deadline = time.monotonic() + seconds
    url = None
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text(errors='replace')[-3000:]}")
        if url is None and info.is_file():
            with contextlib.suppress(ValueError, KeyError):  # being written
                url = str(json.loads(info.read_text())["url"]).rstrip("/")
        if url is not None:
            req = urllib.request.Request(f"{url}/api/status")
            req.add_header("Authorization", f"token {token}")
            try:
                with urllib.request.urlopen(req, timeout=2):
                    return url
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start in {seconds:g} s")
        time.sleep(0.3)


@contextlib.contextmanager
def jupyter_server(
    base: Path, settings: dict[str, Any], env: dict[str, str] | None = None
) -> Iterator[Server]:
    """A jupyter server with the extension on `base/root` (holding demo.ipynb), configured with
    `settings` (the extension's KfpJupyterServer traits) and the extra environment `env`; its run
    store is `base/store`."""
    root = base / "root"
    root.mkdir()
    make_notebook(root / "demo.ipynb", CELLS, metadata={"kfp_jupyter": {"name": "demo"}})
    config = base / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"kfp_jupyter": True}},
                "KfpJupyterServer": settings,
            }
        )
    )
    token = secrets.token_hex(16)
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith(("_PROXY", "KUBECONFIG"))}
    env.pop("KF_PIPELINES_ENDPOINT", None)
    env.update(
        HOME=str(base / "home"),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_DATA_DIR=str(base / "data"),
        KFP_JUPYTER_CONFIG_DIR=str(base / "kfp-config"),
        KFP_JUPYTER_STORE=str(base / "store"),
        **extra,
    )
    log = open(base / "server.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server", "--no-browser",
            "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = wait_for_server(proc, base / "runtime", token, base / "server.log", 60)
        yield Server(url, token, root, base / "store")
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise AssertionError("the server did not stop within 20 s") from None
        finally:
            log.close()


def add_target(server: Server, name: str, *options: str) -> None:
    """`kfp-jupyter targets add NAME OPTIONS` in a terminal of the server's user."""
    subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "targets", "add", name, "--replace",
         *options],
        env={**os.environ, "KFP_JUPYTER_CONFIG_DIR": str(server.root.parent / "kfp-config")},
        check=True,
        capture_output=True,
    )  # fmt: skip
