"""The step editor in a real JupyterLab, in headless Chromium: `%%step` cells read and rewritten
by the editor (the saved cell keeps its magic style), an After list free of steps that would close
a cycle, role badges clear of the cell's toolbar, and two quick Applies that both reach the file.
Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from harness import ARTIFACTS, Lab, open_in_lab, screenshot, select_cell, wait_saved

pytestmark = pytest.mark.browser

PANEL = "#kfp-jupyter-panel"
CELLS = [
    "%%step load\nx = 1",
    "%%step train --after load --image python:3.11\ny = x + 1",
    "%%step evaluate --after train\nz = y * 2",
    "%%step report --after evaluate\nprint(z)",
    "print('plain')",
]


def _open(lab: Lab, page: Any) -> Path:
    path = lab.root / "magic.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    open_in_lab(lab, page, "magic.ipynb", len(CELLS), ".kfpj-step[data-kfp-step=report]")
    return path


def _badge(page: Any, index: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".kfpj-badge")


def test_a_step_magic_cell_is_read_and_rewritten_by_the_editor(jupyter_lab: Lab, page: Any) -> None:
    path = _open(jupyter_lab, page)
    # every magic cell carries its role badge, as a tagged cell does; the plain one has none
    for i, name in enumerate(["load", "train", "evaluate", "report"]):
        assert _badge(page, i).inner_text() == f"step: {name}"
    assert _badge(page, 4).count() == 0

    select_cell(page, 1)
    editor = page.locator(PANEL).locator(".kfpj-editor")
    name = editor.locator("input[data-kfp-field=name]")
    page.wait_for_function(
        f"() => document.querySelector('{PANEL} input[data-kfp-field=name]')?.value === 'train'"
    )
    assert editor.locator("select[data-kfp-field=role]").input_value() == "step"
    assert editor.locator("input[data-kfp-field=image]").input_value() == "python:3.11"
    # After offers `load` (selected) but neither `evaluate` nor `report`: both run after `train`
    after = editor.locator("select[data-kfp-field=after] option")
    assert after.evaluate_all("os => os.map(o => [o.value, o.selected])") == [["load", True]]

    editor.locator("input[data-kfp-field=cpu]").fill("2")
    editor.locator("input[data-kfp-field=memory]").fill("1Gi")
    editor.locator("input[data-kfp-field=gpu]").fill("1")
    editor.locator("input[data-kfp-field=retries]").fill("2")
    editor.locator("input[data-kfp-field=timeout]").fill("300")
    editor.locator("input[data-kfp-field=packages]").fill("numpy, pandas")
    editor.locator("input[data-kfp-field=image]").fill("my registry/py:3.12")
    editor.locator("select[data-kfp-field=cache]").select_option("disabled")
    screenshot(page, "step-editor-magic.png")
    editor.locator("[data-kfp-action=apply]").click()

    line = (
        "%%step train --after load --image 'my registry/py:3.12' --packages numpy,pandas "
        "--cpu 2 --memory 1Gi --gpu 1 --retries 2 --timeout 300 --no-cache"
    )
    wait_saved(path, 1, (f"{line}\ny = x + 1", []))
    # the cell shows the rewritten magic line, and the editor reads it back
    assert (
        page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".cm-line").first.inner_text() == line
    )
    assert name.input_value() == "train"
    assert editor.locator("input[data-kfp-field=memory]").input_value() == "1Gi"
    assert not page.errors, page.errors


def _box(locator: Any) -> dict[str, float]:
    box: dict[str, float] = locator.bounding_box()
    return box


def test_badges_stay_clear_of_the_cell_toolbar(jupyter_lab: Lab, page: Any) -> None:
    _open(jupyter_lab, page)
    # every badge is in the same place: a row above its cell's code, whether the cell was drawn
    # first or later (the notebook draws cells lazily)
    for index in range(4):
        cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
        badge, code = _box(_badge(page, index)), _box(cell.locator(".jp-InputArea-editor"))
        assert badge["y"] + badge["height"] <= code["y"] + 1, (index, badge, code)
        assert code["y"] - (badge["y"] + badge["height"]) < 12, (index, badge, code)
    for index in (0, 3):
        page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputPrompt").click()
        toolbar = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-cell-toolbar")
        toolbar.wait_for(state="visible")
        badge = _badge(page, index)
        assert badge.is_visible()
        a, b = badge.bounding_box(), toolbar.bounding_box()
        overlap_x = a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
        overlap_y = a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]
        assert not (overlap_x and overlap_y), (a, b)
    screenshot(page, "step-editor-badges.png")


def test_the_panel_tab_shows_its_pipeline_icon(jupyter_lab: Lab, page: Any) -> None:
    _open(jupyter_lab, page)
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="kfp-jupyter-panel"]')
    icon = tab.locator(".lm-TabBar-tabIcon svg")
    box = _box(icon)
    assert box["width"] >= 12 and box["height"] >= 12, box
    # three steps and two edges, painted (not an empty box)
    assert icon.locator("rect").count() == 3 and icon.locator("path").count() == 2
    fills = icon.locator("rect").evaluate_all("els => els.map(e => getComputedStyle(e).fill)")
    assert all(f not in ("none", "rgba(0, 0, 0, 0)") for f in fills), fills
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "panel-tab-icon.png"))


def test_two_quick_applies_are_both_saved(jupyter_lab: Lab, page: Any) -> None:
    path = _open(jupyter_lab, page)
    select_cell(page, 4)
    editor = page.locator(PANEL).locator(".kfpj-editor")
    editor.locator("select[data-kfp-field=role]").select_option("step")
    editor.locator("input[data-kfp-field=name]").fill("summary")
    editor.locator("select[data-kfp-field=after]").select_option(["report"])
    editor.locator("[data-kfp-action=apply]").click()
    # at once, while the first save is still in flight
    editor.locator("select[data-kfp-field=cache]").select_option("disabled")
    editor.locator("[data-kfp-action=apply]").click()
    wait_saved(path, 4, ("print('plain')", ["step:summary", "prev:report", "cache:disabled"]))
    page.locator(PANEL).locator(".kfpj-step[data-kfp-step=summary]").wait_for()
    assert _badge(page, 4).inner_text() == "step: summary"
    assert not page.locator(".jp-Dialog").count()  # no "file changed on disk" question
    screenshot(page, "step-editor-two-applies.png")
    assert not page.errors, page.errors
