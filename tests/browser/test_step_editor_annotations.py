"""The step editor on annotations beyond `step:` tags, in a real JupyterLab in headless Chromium:
Kale's `block:NAME` tags (read as a step, kept on an Apply that leaves the name, one `step:`
tag after a rename), a `%%notebook` cell (a step whose magic line, path and `--outputs` the
editor keeps, never adding tags), and the Packages field (split on commas only: a spaced
requirement is one tag, a version range that no tag can hold is refused with the advice to write
the magic line). Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from harness import Lab, open_in_lab, screenshot, select_cell, wait_saved
from nbutil import code, make_notebook

pytestmark = pytest.mark.browser

PANEL = "#kfp-jupyter-panel"
NOTEBOOK_STEP = "%%notebook prep child.ipynb --after load --outputs rows\n# runs child.ipynb"
KALE_TRAIN = ["block:train", "prev:load", "limit:memory:4Gi", "image:python:3.12"]
CELLS = [
    code("x = 1", "block:load"),
    code("y = x", *KALE_TRAIN),
    code(NOTEBOOK_STEP),
    code("z = y", "step:fit"),
]


def _open(lab: Lab, page: Any) -> Path:
    make_notebook(lab.root / "child.ipynb", [code("rows = 5", "step:a")])
    path = make_notebook(lab.root / "kale.ipynb", CELLS)
    open_in_lab(lab, page, "kale.ipynb", len(CELLS), ".kfpj-step[data-kfp-step=fit]")
    return path


def _model_cell(page: Any, index: int) -> tuple[str, list[str]]:
    """The cell as the notebook holds it now (an Apply changes it at once, before any save)."""
    source, tags = page.evaluate(
        """(i) => {
          const cell = window.jupyterapp.shell.currentWidget.content.widgets[i].model;
          return [cell.sharedModel.getSource(), cell.getMetadata('tags') ?? []];
        }""",
        index,
    )
    return source, tags


def _inspect(lab: Lab, name: str) -> dict[str, Any]:
    """The pipeline as the server reads the saved notebook (`GET inspect`)."""
    req = urllib.request.Request(f"{lab.url}/kfp-jupyter/api/inspect?path={name}")
    req.add_header("Authorization", f"token {lab.token}")
    with urllib.request.urlopen(req, timeout=60) as r:
        answer: dict[str, Any] = json.loads(r.read())
    return answer


def _badge(page: Any, index: int) -> str:
    text: str = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".kfpj-badge").inner_text()
    return text


def _editor(page: Any, index: int, name: str) -> Any:
    select_cell(page, index)
    page.wait_for_function(
        f"() => document.querySelector('{PANEL} input[data-kfp-field=name]')?.value === '{name}'"
    )
    return page.locator(PANEL).locator(".kfpj-editor")


def _after(editor: Any) -> list[list[Any]]:
    options = editor.locator("select[data-kfp-field=after] option")
    selected: list[list[Any]] = options.evaluate_all("os => os.map(o => [o.value, o.selected])")
    return selected


def test_kale_block_tags_are_steps_kept_by_apply_and_renamed_to_one_step_tag(
    jupyter_lab: Lab, page: Any
) -> None:
    path = _open(jupyter_lab, page)
    assert (_badge(page, 0), _badge(page, 1)) == ("step: load", "step: train")
    editor = _editor(page, 1, "train")
    assert editor.locator("select[data-kfp-field=role]").input_value() == "step"
    assert ["load", True] in _after(editor)
    assert editor.locator("input[data-kfp-field=memory]").input_value() == "4Gi"
    assert editor.locator("input[data-kfp-field=image]").input_value() == "python:3.12"

    # Apply with nothing changed: every tag stays, `block:train` with them
    editor.locator("[data-kfp-action=apply]").click()
    source, tags = _model_cell(page, 1)
    assert (source, sorted(tags)) == ("y = x", sorted(KALE_TRAIN))

    # renamed: one role tag, `step:train2`, and the settings kept
    editor.locator("input[data-kfp-field=name]").fill("train2")
    editor.locator("[data-kfp-action=apply]").click()
    renamed = ["step:train2", "prev:load", "image:python:3.12", "limit:memory:4Gi"]
    wait_saved(path, 1, ("y = x", renamed))
    # the compiler reads it as one step (two roles would be a problem, and no step train2)
    page.locator(PANEL).locator(".kfpj-step[data-kfp-step=train2]").wait_for()
    assert _badge(page, 1) == "step: train2"
    assert not page.locator(PANEL).locator(".kfpj-problems").count()
    screenshot(page, "step-editor-kale-block.png")
    assert not page.errors, page.errors


def test_a_notebook_magic_cell_is_a_step_whose_line_the_editor_rewrites(
    jupyter_lab: Lab, page: Any
) -> None:
    path = _open(jupyter_lab, page)
    assert _badge(page, 2) == "step: prep"
    editor = _editor(page, 2, "prep")
    assert editor.locator("select[data-kfp-field=role]").input_value() == "step"
    assert ["load", True] in _after(editor)
    editor.locator("input[data-kfp-field=cpu]").fill("2")
    editor.locator("[data-kfp-action=apply]").click()
    # the magic line keeps its magic, the notebook's path and --outputs; the cell gets no tags
    line = "%%notebook prep child.ipynb --after load --cpu 2 --outputs rows"
    wait_saved(path, 2, (f"{line}\n# runs child.ipynb", []))
    assert _badge(page, 2) == "step: prep"
    assert editor.locator("input[data-kfp-field=cpu]").input_value() == "2"
    assert not page.errors, page.errors


def test_packages_split_on_commas_only_and_a_range_is_refused_with_advice(
    jupyter_lab: Lab, page: Any
) -> None:
    path = _open(jupyter_lab, page)
    editor = _editor(page, 3, "fit")
    packages = editor.locator("input[data-kfp-field=packages]")
    hint = editor.locator(".kfpj-hint")

    # a version range: a tag cannot hold its comma, so nothing is written and the editor says why
    packages.fill("scikit-learn >= 1.3, pandas>=2, <3")
    editor.locator("[data-kfp-action=apply]").click()
    assert "pandas>=2,<3 contains ','" in hint.inner_text()
    assert "%%step fit --packages 'pandas>=2,<3'" in hint.inner_text()
    assert _model_cell(page, 3) == ("z = y", ["step:fit"])
    screenshot(page, "step-editor-packages-range.png")

    # a requirement with spaces is one tag
    packages.fill("scikit-learn >= 1.3, numpy")
    editor.locator("[data-kfp-action=apply]").click()
    assert hint.inner_text() == ""
    tags = ["step:fit", "packages:scikit-learn >= 1.3", "packages:numpy"]
    wait_saved(path, 3, ("z = y", tags))
    # the compiler reads the two requirements the field shows
    fit = next(s for s in _inspect(jupyter_lab, "kale.ipynb")["steps"] if s["name"] == "fit")
    assert {"scikit-learn >= 1.3", "numpy"} <= set(fit["packages"]), fit["packages"]
    assert packages.input_value() == "scikit-learn >= 1.3, numpy"
    assert not page.errors, page.errors
