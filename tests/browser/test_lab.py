"""The widget in a real JupyterLab, in headless Chromium: open the example notebook, run it, show
the widget with `%kfp show` (which finds the notebook from the Jupyter session), click Run and
watch every step reach a final state; a screenshot is kept in test-artifacts/."""

from __future__ import annotations

import shutil
from typing import Any

import nbformat
import pytest
from harness import ROOT, Lab, lab_command, screenshot

pytestmark = pytest.mark.browser

STEPS = ["load_data", "split", "train_forest", "train_logreg", "evaluate"]
FINAL = ("SUCCEEDED", "CACHED", "FAILED", "SKIPPED", "CANCELLED", "INTERRUPTED")

#: the notebook is open, all its cells are drawn and its kernel is idle
KERNEL_READY = """(cells) => {
  const panel = window.jupyterapp?.shell?.currentWidget;
  const kernel = panel?.sessionContext?.session?.kernel;
  return Boolean(panel?.sessionContext?.isReady && kernel?.status === 'idle' &&
                 panel.node.querySelectorAll('.jp-Cell').length >= cells);
}"""

#: records every state each node shows, so the test can tell the run was drawn live
WATCH = """() => {
  window.kfpSeen = {};
  const note = (el) => {
    const s = el.getAttribute('data-kfp-step');
    if (!s) return;
    (window.kfpSeen[s] ||= []);
    const st = el.getAttribute('data-kfp-state');
    const seen = window.kfpSeen[s];
    if (seen[seen.length - 1] !== st) seen.push(st);
  };
  document.querySelectorAll('[data-kfp-step]').forEach(note);
  new MutationObserver((ms) => ms.forEach((m) => {
    if (m.type === 'attributes') note(m.target);
    m.addedNodes?.forEach((n) => n.querySelectorAll?.('[data-kfp-step]').forEach(note));
  })).observe(document.body, {subtree: true, childList: true, attributes: true,
                              attributeFilter: ['data-kfp-state']});
}"""


def test_widget_in_jupyterlab_draws_the_pipeline_and_runs_it(jupyter_lab: Lab, page: Any) -> None:
    nb_path = jupyter_lab.root / "iris_classifier.ipynb"
    shutil.copy(ROOT / "examples" / "iris_classifier.ipynb", nb_path)
    nb = nbformat.read(str(nb_path), as_version=4)
    show = nbformat.v4.new_code_cell("%load_ext kfp_jupyter\n%kfp show")
    show.metadata["tags"] = ["skip"]
    nb.cells.append(show)
    nbformat.write(nb, str(nb_path))

    page.set_default_timeout(60_000)
    page.goto(f"{jupyter_lab.url}/lab/tree/iris_classifier.ipynb?token={jupyter_lab.token}")
    page.wait_for_function(KERNEL_READY, arg=len(nb.cells), timeout=120_000)
    lab_command(page, "notebook:run-all-cells", timeout_ms=180_000)

    # the widget: one node per step, nothing run yet
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-kfp-step]').length === {len(STEPS)}",
        timeout=180_000,
    )
    page.evaluate(WATCH)
    names = page.locator("[data-kfp-step]").evaluate_all(
        "els => els.map(e => e.getAttribute('data-kfp-step'))"
    )
    assert sorted(names) == sorted(STEPS)
    assert page.locator("[data-kfp-action=run]").is_enabled()
    assert "iris-classifier" in page.locator(".kfp-widget .kfp-title").inner_text()

    page.locator("[data-kfp-action=run]").click()
    page.wait_for_function(
        """(final) => {
          const els = [...document.querySelectorAll('[data-kfp-step]')];
          return els.length > 0 && els.every(e => final.includes(e.getAttribute('data-kfp-state')));
        }""",
        arg=list(FINAL),
        timeout=240_000,
    )
    states = page.locator("[data-kfp-step]").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.dataset.kfpStep, e.dataset.kfpState]))"
    )
    seen = page.evaluate("window.kfpSeen")
    page.locator(".kfp-widget").scroll_into_view_if_needed()
    screenshot(page, "widget-lab.png")
    assert states == dict.fromkeys(STEPS, "SUCCEEDED"), (states, seen)
    # drawn live: the nodes went through PENDING/RUNNING before they succeeded
    assert all(seen[s][0] == "NONE" and seen[s][-1] == "SUCCEEDED" for s in STEPS), seen
    assert any("RUNNING" in seen[s] for s in STEPS), seen
    page.wait_for_selector("[data-kfp-run-state=SUCCEEDED]")
    assert "forest_accuracy" in page.locator("[data-kfp-status]").inner_text()

    # a click on a node shows what the step produced, from the run history
    page.locator("[data-kfp-step=split]").click()
    details = page.locator("[data-kfp-details=split]")
    details.wait_for(state="visible")
    page.wait_for_function(
        "() => document.querySelector('[data-kfp-details=split] [data-kfp-detail=outputs]')"
    )
    text = details.inner_text()
    assert "x_train" in text and "npy" in text and "parquet" in text
    assert "105 training rows" in details.locator("[data-kfp-detail=log]").inner_text()
    screenshot(page, "widget-lab-details.png")
    assert page.errors == []
