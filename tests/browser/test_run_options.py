"""Run options and pipeline settings in a real JupyterLab, in headless Chromium: "Run pipeline"
asks for the parameters (defaults prefilled) and the run switches, the run gets what was chosen,
the choices come back for the next run, and a bad value keeps the dialog open with a message at
its field; "Pipeline settings…" renames the pipeline in the notebook's metadata, undoably, and the
saved file (and so `kfp-jupyter compile`) has the new name. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from harness import Lab, lab_command, open_in_lab, screenshot, wait_for_kernel_metadata
from nbutil import code, make_notebook

pytestmark = pytest.mark.browser

PANEL = "#kfp-jupyter-panel"
DIALOG = ".jp-Dialog"
FINAL = ("SUCCEEDED", "CACHED", "FAILED", "SKIPPED", "CANCELLED", "INTERRUPTED")
CELLS = [
    ("n = 3\nscale = 0.5", "pipeline-parameters"),
    ("c = 2", "step:const"),
    ("total = sum(range(n)) * scale + c", "step:load"),
    ("total", "pipeline-metrics"),
]


def _open(lab: Lab, page: Any) -> Path:
    path = make_notebook(
        lab.root / "options.ipynb",
        [code(src, tag) for src, tag in CELLS],
        metadata={"kfp_jupyter": {"name": "options-demo", "image": "python:3.12"}},
    )
    open_in_lab(lab, page, "options.ipynb", len(CELLS), ".kfpj-step[data-kfp-step=load]")
    return path


def _api(lab: Lab, path: str) -> Any:
    req = urllib.request.Request(f"{lab.url}/kfp-jupyter/api/{path}")
    req.add_header("Authorization", f"token {lab.token}")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def _run_ids(lab: Lab) -> set[str]:
    return {r["id"] for r in _api(lab, "runs")}


def _open_run_dialog(page: Any) -> Any:
    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Run pipeline").click()
    dialog = page.locator(DIALOG)
    dialog.locator(".kfpj-run-options").wait_for()
    return dialog


def _run_and_wait(lab: Lab, page: Any, before: set[str]) -> dict[str, Any]:
    """Click the dialog's Run; the summary of the run it started (`GET runs/ID`) once it ended."""
    page.locator(DIALOG).get_by_role("button", name="Run").click()
    page.locator(DIALOG).wait_for(state="detached")
    deadline = time.monotonic() + 300  # a hang guard
    while True:
        new = _run_ids(lab) - before
        if new:
            (run_id,) = new
            run: dict[str, Any] = _api(lab, f"runs/{run_id}")
            if run["state"] in FINAL:
                return run
        assert time.monotonic() < deadline, new
        time.sleep(0.2)


def test_run_options_reach_the_run_and_come_back_next_time(jupyter_lab: Lab, page: Any) -> None:
    _open(jupyter_lab, page)
    before = _run_ids(jupyter_lab)
    dialog = _open_run_dialog(page)
    n, scale = (
        dialog.locator("input[data-kfp-param=n]"),
        dialog.locator("input[data-kfp-param=scale]"),
    )
    # the defaults, prefilled; an emptied field shows its default as a greyed placeholder
    assert (n.input_value(), scale.input_value()) == ("3", "0.5")
    assert n.get_attribute("placeholder") == "default: 3"
    n.fill("")
    grey = n.evaluate("e => getComputedStyle(e, '::placeholder').color")
    text = n.evaluate("e => getComputedStyle(e).color")
    assert grey != text, (grey, text)
    n.fill("3")
    for option in ("no_cache", "keep_going", "host_exec"):
        assert not dialog.locator(f"input[data-kfp-option={option}]").is_checked()
    screenshot(page, "run-options-dialog.png")
    first = _run_and_wait(jupyter_lab, page, before)
    assert first["state"] == "SUCCEEDED", first
    assert first["metrics"] == {"total": sum(range(3)) * 0.5 + 2}

    # again, with n changed and the cache off: `const` did not change, and runs all the same
    before = _run_ids(jupyter_lab)
    dialog = _open_run_dialog(page)
    dialog.locator("input[data-kfp-param=n]").fill("5")
    dialog.locator("input[data-kfp-option=no_cache]").check()
    second = _run_and_wait(jupyter_lab, page, before)
    assert second["state"] == "SUCCEEDED", second
    assert second["parameters"]["n"] == 5
    assert second["metrics"] == {"total": sum(range(5)) * 0.5 + 2}
    assert {t["name"]: t["state"] for t in second["tasks"]} == {
        "const": "SUCCEEDED",
        "load": "SUCCEEDED",
    }

    # the next dialog starts from the last choices; a bad value keeps it open, said at its field
    dialog = _open_run_dialog(page)
    n = dialog.locator("input[data-kfp-param=n]")
    assert n.input_value() == "5"
    assert dialog.locator("input[data-kfp-option=no_cache]").is_checked()
    n.fill("five")
    before = _run_ids(jupyter_lab)
    dialog.get_by_role("button", name="Run").click()
    error = dialog.locator("[data-kfp-error-for=n]")
    error.wait_for()
    assert "not a whole number" in error.inner_text()
    assert "Fix n" in dialog.locator(".kfpj-form-error").inner_text()
    assert page.locator(DIALOG).count() == 1
    screenshot(page, "run-options-bad-value.png")
    # fixed, the message goes
    n.fill("6")
    page.wait_for_function(
        "() => !document.querySelector('.jp-Dialog [data-kfp-error-for=n]').textContent"
    )
    # a value only the server can judge (a float JSON cannot hold): its answer is said at the
    # field, and the dialog stays open
    dialog.locator("input[data-kfp-param=scale]").fill("1e999")
    dialog.get_by_role("button", name="Run").click()
    refused = dialog.locator("[data-kfp-error-for=scale]")
    page.wait_for_function(
        "() => /JSON cannot hold/.test("
        "document.querySelector('.jp-Dialog [data-kfp-error-for=scale]')?.textContent ?? '')"
    )
    assert "parameter 'scale'" in refused.inner_text()
    assert page.locator(DIALOG).count() == 1
    # cancelled, nothing runs
    dialog.get_by_role("button", name="Cancel").click()
    page.locator(DIALOG).wait_for(state="detached")
    assert _run_ids(jupyter_lab) == before
    assert not page.errors, page.errors


def _saved_metadata(path: Path) -> dict[str, Any] | None:
    try:  # JupyterLab may be writing the file right now
        metadata: dict[str, Any] = json.loads(path.read_text())["metadata"]
    except (ValueError, KeyError):
        return None
    return metadata


MODEL = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return {dirty: panel.context.model.dirty, ours: panel.context.model.getMetadata('kfp_jupyter')};
}"""


def test_pipeline_settings_rename_the_pipeline_undoably(jupyter_lab: Lab, page: Any) -> None:
    path = _open(jupyter_lab, page)
    # the kernel's own metadata written first: a later write would be the undo's top step
    wait_for_kernel_metadata(page)
    # saved first (opening a notebook may touch its metadata): the change below makes it dirty
    lab_command(page, "docmanager:save")
    page.wait_for_function(f"() => !({MODEL})().dirty")
    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Pipeline settings…").click()
    dialog = page.locator(DIALOG)
    name = dialog.locator("[data-kfp-setting=name]")
    name.wait_for()
    assert name.input_value() == "options-demo"
    assert dialog.locator("[data-kfp-setting=experiment]").get_attribute("placeholder")

    name.fill("Options Demo")
    dialog.get_by_role("button", name="Apply").click()
    error = dialog.locator("[data-kfp-error-for=name]")
    error.wait_for()
    assert '"options-demo"' in error.inner_text()  # the suggestion
    assert "Pipeline name" in dialog.locator(".kfpj-form-error").inner_text()
    screenshot(page, "pipeline-settings-bad-name.png")

    name.fill("renamed-demo")
    dialog.locator("[data-kfp-setting=description]").fill("Sums a range")
    dialog.locator("[data-kfp-setting=experiment]").fill("trials")
    dialog.get_by_role("button", name="Apply").click()
    page.locator(DIALOG).wait_for(state="detached")
    # changed in the notebook, not yet on disk: the notebook is dirty
    assert page.evaluate(MODEL) == {
        "dirty": True,
        "ours": {
            "name": "renamed-demo",
            "image": "python:3.12",
            "description": "Sums a range",
            "experiment": "trials",
        },
    }
    assert (_saved_metadata(path) or {})["kfp_jupyter"]["name"] == "options-demo"

    lab_command(page, "docmanager:save")
    deadline = time.monotonic() + 60
    while ((_saved_metadata(path) or {}).get("kfp_jupyter") or {}).get("name") != "renamed-demo":
        assert time.monotonic() < deadline, _saved_metadata(path)
        time.sleep(0.2)
    saved = (_saved_metadata(path) or {})["kfp_jupyter"]
    assert saved == {
        "name": "renamed-demo",
        "image": "python:3.12",
        "description": "Sums a range",
        "experiment": "trials",
    }
    # what compile reads: the server loads the saved notebook as `kfp-jupyter compile` does
    inspected = _api(jupyter_lab, "inspect?path=options.ipynb")
    assert (inspected["name"], inspected["description"], inspected["experiment"]) == (
        "renamed-demo",
        "Sums a range",
        "trials",
    )
    screenshot(page, "pipeline-settings-saved.png")

    # the notebook's own undo takes the change back
    page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-InputPrompt").click()
    # command mode, and the keyboard's focus in the notebook (not left where the dialog was)
    page.wait_for_function(
        "() => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " return nb.mode === 'command' && nb.activeCellIndex === 1"
        " && nb.node.contains(document.activeElement); }"
    )
    page.keyboard.press("z")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.context.model"
        ".getMetadata('kfp_jupyter')?.name === 'options-demo'"
    )
    assert page.evaluate(MODEL)["ours"] == {"name": "options-demo", "image": "python:3.12"}
    assert not page.errors, page.errors
