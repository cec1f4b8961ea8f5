"""Browser tests: real headless Chromium (Debian's `chromium`), driven by Playwright, against a
plain page serving the widget's module and against a real `jupyter lab` started here.

Select them with `-m browser` (each module sets `pytestmark = pytest.mark.browser`). They are
skipped (with the reason) only when chromium or Playwright is missing; CI installs both (apt
`chromium`, pip `playwright`; never `playwright install`, which downloads browsers). Screenshots go
to test-artifacts/.
"""

from __future__ import annotations

import functools
import http.server
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import CHROMIUM, CHROMIUM_ARGS, PAGE, STATIC, Lab, QuietHandler, free_port, missing


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: runs real headless Chromium (and JupyterLab)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    why = missing()
    if why:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    context.close()


@pytest.fixture(scope="session")
def widget_page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain page on 127.0.0.1 with the widget's module (as built and committed)."""
    root = tmp_path_factory.mktemp("widget-page")
    shutil.copy(STATIC / "widget.js", root / "widget.js")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()


@pytest.fixture
def jupyter_lab(tmp_path: Path) -> Iterator[Lab]:
    """A real `jupyter lab` on 127.0.0.1 with a token, a temp root and its own config."""
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
    port = free_port()
    token = secrets.token_hex(16)
    env = dict(os.environ)
    venv_share = Path(sys.prefix) / "share" / "jupyter"
    env.update(
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_PATH=os.pathsep.join([str(venv_share), env.get("JUPYTER_PATH", "")]).rstrip(
            os.pathsep
        ),
        KFP_JUPYTER_CONFIG_DIR=str(home / "kfp-config"),
        KFP_JUPYTER_STORE=str(tmp_path / "store"),
        PYTHONUNBUFFERED="1",
    )
    log = open(tmp_path / "jupyter-lab.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    "jupyter lab exited:\n" + (tmp_path / "jupyter-lab.log").read_text()[-3000:]
                )
            try:
                req = urllib.request.Request(f"{url}/api/status")
                req.add_header("Authorization", f"token {token}")
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("jupyter lab did not start in 90 s")
            time.sleep(0.3)
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
