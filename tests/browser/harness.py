"""What the browser tests share: where Chromium is, how to start it, the widget test page, and
starting a real `jupyter lab`."""

from __future__ import annotations

import contextlib
import http.server
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_server_util import wait_for_server

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "kfp_jupyter" / "jupyter" / "static"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("KFP_JUPYTER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: the test page: the widget's module with a small stand-in for anywidget's model
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>kfp-jupyter widget</title></head>
<body style="margin:0;padding:12px"><div id="host" style="width:1100px"></div>
<script type="module">
import widget, { renderDag, layeredLayout } from "./widget.js";
class Model {
  constructor(state) { this.state = state; this.listeners = {}; this.sent = []; }
  get(k) { return this.state[k]; }
  set(k, v) { this.state[k] = v; this.emit("change:" + k); }
  save_changes() {}
  send(content) { this.sent.push(content); }
  on(e, cb) { (this.listeners[e] ||= []).push(cb); }
  off(e, cb) { this.listeners[e] = (this.listeners[e] || []).filter((x) => x !== cb); }
  emit(e) { for (const cb of this.listeners[e] || []) cb(); }
}
window.kfp = {
  widget, renderDag, layeredLayout, Model,
  async mount(graph, extra = {}) {
    const t0 = performance.now();
    const model = new Model({
      graph, states: {}, run: {}, params: {}, selected: "", details: {}, error: "",
      status: "", busy: "", notebook: "", target: { engine: "local" }, ...extra,
    });
    const host = document.getElementById("host");
    host.replaceChildren();
    window.cleanup?.();
    window.cleanup = widget.render({ model, el: host });
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r)));
    window.model = model;
    return performance.now() - t0;
  },
};
window.ready = true;
</script></body></html>
"""


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; no `playwright install`)"
    return None


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


class Lab:
    def __init__(self, url: str, token: str, root: Path, proc: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.token = token
        self.root = root
        self.proc = proc


#: environment variables through which this machine's own cluster settings would reach the lab
CLUSTER_ENV = (
    "KF_PIPELINES_ENDPOINT",
    "KF_PIPELINES_UI_ENDPOINT",
    "KF_PIPELINES_SA_TOKEN_PATH",
    "KUBECONFIG",
    "ARGO_SERVER",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
)


def built_labextension_share(tmp_path: Path) -> str:
    """A Jupyter data folder whose kfp-jupyter-labextension is this tree's build (the committed
    kfp_jupyter/labextension), ahead of the copy an earlier `pip install` left in the venv."""
    share = tmp_path / "share-jupyter"
    (share / "labextensions").mkdir(parents=True, exist_ok=True)
    link = share / "labextensions" / "kfp-jupyter-labextension"
    if not link.exists():
        link.symlink_to(ROOT / "kfp_jupyter" / "labextension", target_is_directory=True)
    return str(share)


@contextlib.contextmanager
def start_lab(tmp_path: Path, env_extra: dict[str, str] | None = None) -> Iterator[Lab]:
    """Start `jupyter lab` (see the `jupyter_lab` fixture); `env_extra` is added to its
    environment, after the cluster settings of this machine (kfp, kubeconfig, proxies) are
    dropped from it."""
    if missing():
        pytest.skip(str(missing()))
    pytest.importorskip("jupyterlab")
    pytest.importorskip("anywidget")
    root = tmp_path / "root"
    root.mkdir()
    home = tmp_path / "home"
    config = home / "jupyter-config"
    (config / "labconfig").mkdir(parents=True)
    # no news or update checks: the machine has no internet, and a toast would cover the page
    (config / "labconfig" / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}'
    )
    token = secrets.token_hex(16)
    env = dict(os.environ)
    venv_share = Path(sys.prefix) / "share" / "jupyter"
    built = built_labextension_share(tmp_path)
    env.update(
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_PATH=os.pathsep.join([built, str(venv_share), env.get("JUPYTER_PATH", "")]).rstrip(
            os.pathsep
        ),
        KFP_JUPYTER_CONFIG_DIR=str(home / "kfp-config"),
        KFP_JUPYTER_STORE=str(tmp_path / "store"),
        PYTHONUNBUFFERED="1",
    )
    for name in CLUSTER_ENV:
        env.pop(name, None)
    env.update(env_extra or {})
    log = open(tmp_path / "jupyter-lab.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = wait_for_server(proc, home / "runtime", token, tmp_path / "jupyter-lab.log", 90)
        yield Lab(url, token, root, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if proc.returncode not in (0, -15, None):
            print((tmp_path / "jupyter-lab.log").read_text()[-3000:])


PANEL = "#kfp-jupyter-panel"


def open_in_lab(lab: Lab, page: Any, name: str, cells: int, wait_for: str | None = None) -> None:
    """Open the notebook `name` (of `cells` cells, in the lab's root) and show the Pipeline panel;
    `wait_for`: a selector inside the panel that must appear (the panel has read the notebook)."""
    page.set_default_timeout(60_000)
    page.goto(f"{lab.url}/lab/tree/{name}?token={lab.token}")
    page.wait_for_function(
        """(n) => {
          const panel = window.jupyterapp?.shell?.currentWidget;
          return Boolean(panel?.context?.isReady && panel.node.querySelectorAll('.jp-Cell').length >= n);
        }""",
        arg=cells,
        timeout=120_000,
    )
    page.evaluate("() => window.jupyterapp.shell.activateById('kfp-jupyter-panel')")
    if wait_for:
        page.locator(PANEL).locator(wait_for).first.wait_for()


def lab_command(page: Any, command: str, timeout_ms: int = 60_000) -> None:
    """Run a JupyterLab command and wait for it to finish, at most `timeout_ms`. `page.evaluate`
    waits for a returned promise with no timeout, and a command's promise can wait on anything
    JupyterLab asks first (a dialog) or on a kernel: past the time, the test fails naming the
    command and any dialog on the page, instead of hanging."""
    page.evaluate(
        """([command, ms]) => Promise.race([
          window.jupyterapp.commands.execute(command),
          new Promise((_, reject) => setTimeout(() => {
            const dialog = document.querySelector('.jp-Dialog');
            reject(new Error(`${command} did not finish in ${ms} ms`
              + (dialog ? `; a dialog is open: ${dialog.textContent}` : '')));
          }, ms)),
        ])""",
        [command, timeout_ms],
    )


def wait_for_kernel_metadata(page: Any) -> None:
    """Wait until the notebook's kernel has started and JupyterLab has written its
    `language_info` into the notebook's metadata. Why: that write is a notebook change like any
    other; once metadata is part of the notebook's undo (pipeline settings), it would otherwise
    land on the undo stack after a test's own change whenever the kernel starts late."""
    page.wait_for_function(
        """() => {
          const panel = window.jupyterapp.shell.currentWidget;
          const session = panel.sessionContext;
          if (!session.isReady) return false;
          const kernel = session.session?.kernel;
          if (!kernel) return true;
          return kernel.status === 'idle'
            && Boolean(panel.context.model.getMetadata('language_info')?.version);
        }""",
        timeout=120_000,
    )


def select_cell(page: Any, index: int) -> None:
    """Make cell `index` the active one, and wait until the panel's editor shows that cell (it
    follows the active cell asynchronously: a change made before would go to the cell before)."""
    page.evaluate(
        f"() => {{ window.jupyterapp.shell.currentWidget.content.activeCellIndex = {index}; }}"
    )
    page.wait_for_function(
        """(index) => {
          const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
          const editor = document.querySelector('#kfp-jupyter-panel .kfpj-editor');
          return editor?.dataset.kfpCell === cell.model.id;
        }""",
        arg=index,
    )


def saved_cell(path: Path, index: int) -> tuple[str, list[str]] | None:
    """A cell's source and tags as the notebook file holds them (None while it is written)."""
    try:  # JupyterLab may be writing the file right now
        cell = nbformat.read(str(path), as_version=4).cells[index]
    except Exception:
        return None
    return cell.source, list(cell.metadata.get("tags", []))


def wait_saved(path: Path, index: int, expected: tuple[str, list[str]]) -> None:
    """Until JupyterLab has saved the cell as `expected` (at most a minute)."""
    deadline = time.monotonic() + 60
    while saved_cell(path, index) != expected:
        assert time.monotonic() < deadline, (saved_cell(path, index), expected)
        time.sleep(0.2)
