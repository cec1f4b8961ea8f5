"""The JupyterLab extension in a real JupyterLab, in headless Chromium: open the example notebook,
make a plain cell a step with the panel's editor and find its tags in the saved file, then click
"Run pipeline" and watch every step succeed in the panel. Screenshots go to test-artifacts/."""

from __future__ import annotations

import shutil
import time
from typing import Any

import nbformat
import pytest
from harness import ROOT, Lab, screenshot

pytestmark = pytest.mark.browser

STEPS = ["load_data", "split", "train_forest", "train_logreg", "evaluate", "report"]
FINAL = ("SUCCEEDED", "CACHED", "FAILED", "SKIPPED", "CANCELLED", "INTERRUPTED")
PANEL = "#kfp-jupyter-panel"

NOTEBOOK_READY = """(cells) => {
  const panel = window.jupyterapp?.shell?.currentWidget;
  return Boolean(panel?.context?.isReady &&
                 panel.node.querySelectorAll('.jp-Cell').length >= cells);
}"""


def _saved_tags(path: Any, index: int) -> list[str]:
    # JupyterLab may be writing the file right now (truncate, then write): an empty or half-written
    # file is "not saved yet", not an error.
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:
        return []
    if len(nb.cells) <= index:
        return []
    return list(nb.cells[index].metadata.get("tags", []))


def test_step_editor_and_run_pipeline(jupyter_lab: Lab, page: Any) -> None:
    nb_path = jupyter_lab.root / "iris_classifier.ipynb"
    shutil.copy(ROOT / "examples" / "iris_classifier.ipynb", nb_path)
    nb = nbformat.read(str(nb_path), as_version=4)
    # a plain cell before the metrics cell: it continues `evaluate` until the editor says otherwise
    plain = nbformat.v4.new_code_cell('print(f"forest accuracy {forest_accuracy:.3f}")')
    index = len(nb.cells) - 1
    nb.cells.insert(index, plain)
    nbformat.write(nb, str(nb_path))

    page.set_default_timeout(60_000)
    page.goto(f"{jupyter_lab.url}/lab/tree/iris_classifier.ipynb?token={jupyter_lab.token}")
    page.wait_for_function(NOTEBOOK_READY, arg=len(nb.cells), timeout=120_000)
    page.evaluate("() => window.jupyterapp.shell.activateById('kfp-jupyter-panel')")
    panel = page.locator(PANEL)
    # the pipeline from the server: its steps, linked to their cells, and the DAG
    panel.locator(".kfpj-step[data-kfp-step=evaluate]").wait_for()
    assert panel.locator(".kfpj-step").count() == len(STEPS) - 1
    assert panel.locator(".kfp-dag [data-kfp-step], .kfpj-dag [data-kfp-step]").count() >= 5
    # tagged cells carry their role label
    labels = page.locator(".jp-Notebook .jp-Cell[data-kfp-role=step]").count()
    assert labels == len(STEPS) - 1

    # make the plain cell a step through the editor
    page.evaluate(
        f"() => {{ window.jupyterapp.shell.currentWidget.content.activeCellIndex = {index}; }}"
    )
    editor = panel.locator(".kfpj-editor")
    editor.locator("select[data-kfp-field=role]").select_option("step")
    editor.locator("input[data-kfp-field=name]").fill("report")
    editor.locator("select[data-kfp-field=after]").select_option(["evaluate"])
    editor.locator("select[data-kfp-field=cache]").select_option("disabled")
    screenshot(page, "labextension-editor.png")
    editor.locator("[data-kfp-action=apply]").click()

    deadline = time.monotonic() + 60
    while _saved_tags(nb_path, index) != ["step:report", "prev:evaluate", "cache:disabled"]:
        assert time.monotonic() < deadline, _saved_tags(nb_path, index)
        time.sleep(0.3)
    panel.locator(".kfpj-step[data-kfp-step=report]").wait_for()
    assert page.locator(".jp-Notebook .jp-Cell[data-kfp-role=step]").count() == len(STEPS)

    # run it: every step succeeds, shown in the panel's list and its DAG
    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Run pipeline").click()
    page.wait_for_function(
        """([sel, final, n]) => {
          const els = [...document.querySelectorAll(sel + ' .kfpj-step[data-kfp-step]')];
          return els.length === n && els.every(e => final.includes(e.getAttribute('data-kfp-state')));
        }""",
        arg=[PANEL, list(FINAL), len(STEPS)],
        timeout=300_000,
    )
    screenshot(page, "labextension-run.png")
    states = panel.locator(".kfpj-step[data-kfp-step]").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.dataset.kfpStep, e.dataset.kfpState]))"
    )
    assert states == dict.fromkeys(STEPS, "SUCCEEDED"), states
    dag = panel.locator(".kfpj-dag [data-kfp-step]").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.dataset.kfpStep, e.dataset.kfpState]))"
    )
    assert dag == dict.fromkeys(STEPS, "SUCCEEDED"), dag
    assert "succeeded" in panel.locator(".kfpj-run").inner_text()
    assert not page.errors, page.errors
