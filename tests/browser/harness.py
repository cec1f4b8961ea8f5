"""What the browser tests share: where Chromium is, how to start it, the widget test page."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
