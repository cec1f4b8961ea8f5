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
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import CHROMIUM, CHROMIUM_ARGS, PAGE, STATIC, Lab, QuietHandler, missing, start_lab


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
    with start_lab(tmp_path) as lab:
        yield lab
