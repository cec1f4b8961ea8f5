"""The widget's Submit in a real JupyterLab, in headless Chromium, against the KFP test server
(tests/servers/kfp_server.py, on 127.0.0.1, which wants a bearer token): without a token
variable the widget's message names the field to fill, not a command-line option; with the NAME
of a variable set in the lab server's environment, the pipeline goes out with that token and the
widget follows the run. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from harness import Lab, lab_command, screenshot, start_lab
from nbutil import code, make_notebook
from servers.helpers import CELLS, KFP_TOKEN
from servers.kfp_server import KfpServer

pytestmark = pytest.mark.browser

#: the variable the lab's environment holds the token in (its NAME goes into the widget)
TOKEN_VAR = "KFPJ_BROWSER_TOKEN"

#: the notebook is open, all its cells are drawn and its kernel is idle
KERNEL_READY = """(cells) => {
  const panel = window.jupyterapp?.shell?.currentWidget;
  const kernel = panel?.sessionContext?.session?.kernel;
  return Boolean(panel?.sessionContext?.isReady && kernel?.status === 'idle' &&
                 panel.node.querySelectorAll('.jp-Cell').length >= cells);
}"""


@pytest.fixture
def kfp_api() -> Iterator[KfpServer]:
    server = KfpServer().start()
    server.state.tokens = {KFP_TOKEN}
    server.state.hold_runs = True  # the run stays RUNNING: the widget shows it, nothing races
    try:
        yield server
        assert not server.state.violations, server.state.violations
    finally:
        server.stop()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with start_lab(tmp_path, {TOKEN_VAR: KFP_TOKEN}) as lab:
        yield lab


def _fill(page: Any, field: str, value: str) -> None:
    page.fill(f"[data-kfp-field={field}]", value)
    page.locator(f"[data-kfp-field={field}]").dispatch_event("change")


def test_widget_submits_with_a_token_variable(lab: Lab, kfp_api: KfpServer, page: Any) -> None:
    show = code("%load_ext kfp_jupyter\n%kfp show", "skip")
    nb_path = make_notebook(
        lab.root / "demo.ipynb",
        [*CELLS, show],
        metadata={"kfp_jupyter": {"name": "demo-pipeline"}},
    )
    cells = len(nbformat.read(str(nb_path), as_version=4).cells)

    page.set_default_timeout(60_000)
    page.goto(f"{lab.url}/lab/tree/demo.ipynb?token={lab.token}")
    page.wait_for_function(KERNEL_READY, arg=cells, timeout=120_000)
    lab_command(page, "notebook:run-all-cells", timeout_ms=180_000)
    page.wait_for_function(
        "() => document.querySelectorAll('[data-kfp-step]').length === 3", timeout=180_000
    )

    page.select_option("[data-kfp-field=engine]", "kfp")
    _fill(page, "host", kfp_api.url)
    assert page.locator("[data-kfp-field=token_env]").is_visible()

    # 1. no token variable: the server refuses, and the advice names the widget's field
    page.locator("[data-kfp-action=submit]").click()
    error = page.locator("[data-kfp-error]")
    error.wait_for(state="visible")
    text = error.inner_text()
    assert "401 Unauthorized" in text, text
    assert 'fill the "token variable" field' in text, text
    assert "--token-env" not in text and "--host" not in text, text
    page.locator(".kfp-widget").scroll_into_view_if_needed()
    screenshot(page, "widget-submit-no-token.png")
    assert not kfp_api.state.runs
    # the request went out without a token, which the spec requires: expected here
    with kfp_api.state.lock:
        missing = [v for v in kfp_api.state.violations if "no 'authorization: Bearer" in v]
        assert missing, kfp_api.state.violations
        kfp_api.state.violations[:] = [v for v in kfp_api.state.violations if v not in missing]

    # 2. the NAME of the variable holding the token: the pipeline goes out with it
    _fill(page, "token_env", TOKEN_VAR)
    page.locator("[data-kfp-action=submit]").click()
    page.wait_for_function(
        "() => Boolean(document.querySelector('[data-kfp-run]')?.getAttribute('data-kfp-run'))"
    )
    [run_id] = list(kfp_api.state.runs)
    shown = page.locator("[data-kfp-run]").get_attribute("data-kfp-run")
    assert shown == run_id
    status = page.locator("[data-kfp-status]").inner_text()
    assert "kfp run" in status and run_id in status, status
    assert not error.is_visible()
    sent = [r for r in kfp_api.state.requests if r.operation == "UploadPipeline"]
    created = [r for r in kfp_api.state.requests if r.operation == "RunService_CreateRun"]
    assert len(sent) == 1 and len(created) == 1
    for r in (*sent, *created):
        assert r.headers.get("authorization") == f"Bearer {KFP_TOKEN}"
    assert b"pipelineInfo" in kfp_api.state.uploads[0]
    # the token itself is nowhere in the page: only its variable's name
    assert KFP_TOKEN not in page.content()
    page.locator(".kfp-widget").scroll_into_view_if_needed()
    screenshot(page, "widget-submit-kfp.png")
    assert page.errors == []
