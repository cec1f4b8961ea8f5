"""The panel as a run view, in a real JupyterLab in headless Chromium: a failed step's details
(the exception first, in the notebook's cell and line) and the red mark on the cell it failed in,
gone after a fixed re-run; a run started from a terminal (`kfp-jupyter run`) followed live without
clicking anything; and the last good DAG kept while the notebook has a problem. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from harness import Lab, open_in_lab, screenshot
from nbutil import code, make_notebook

pytestmark = pytest.mark.browser

PANEL = "#kfp-jupyter-panel"

FAILING = [
    ("import json", ["imports"]),
    ("n = 3", ["pipeline-parameters"]),
    ("rows = list(range(n))\nraise ValueError(f'bad rows: {len(rows)}')", ["step:load"]),
    ("total = sum(rows)", ["step:train"]),
]


def _write(path: Path, cells: list[tuple[str, list[str]]]) -> None:
    make_notebook(path, [code(source, *tags) for source, tags in cells])


def _open(lab: Lab, page: Any, name: str, cells: list[tuple[str, list[str]]]) -> Path:
    path = lab.root / name
    _write(path, cells)
    open_in_lab(lab, page, name, len(cells), ".kfpj-dag [data-kfp-step]")
    return path


def _run_pipeline(page: Any) -> None:
    """Click *Run pipeline* and accept its dialog (the run's options) as it comes."""
    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Run pipeline").click()
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached")


def _run_state(page: Any, state: str) -> None:
    page.locator(PANEL).locator(f".kfpj-run[data-kfp-run-state={state}]").wait_for(timeout=300_000)


def _set_source(page: Any, index: int, source: str) -> None:
    page.evaluate(
        """([i, s]) => window.jupyterapp.shell.currentWidget.content.widgets[i]
             .model.sharedModel.setSource(s)""",
        [index, source],
    )


def _save(page: Any) -> None:
    """Save, and wait (with the page's timeout, never forever) until the notebook is clean: a
    save that meets JupyterLab's "file changed on disk" question fails the test, not hangs it."""
    page.evaluate("() => { void window.jupyterapp.shell.currentWidget.context.save(); }")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")


def _shown_box(locator: Any) -> dict[str, float]:
    """The element's box, once it is attached and shown (None while the drawing is redrawn)."""
    deadline = time.monotonic() + 60  # a hang guard
    while (box := locator.bounding_box()) is None:
        assert time.monotonic() < deadline, "the element was never shown"
        time.sleep(0.1)
    found: dict[str, float] = box
    return found


def _overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_a_failed_step_shows_its_exception_and_marks_its_cell(jupyter_lab: Lab, page: Any) -> None:
    _open(jupyter_lab, page, "failing.ipynb", FAILING)
    panel = page.locator(PANEL)
    _run_pipeline(page)
    _run_state(page, "FAILED")
    assert panel.locator(".kfpj-dag [data-kfp-step=load]").get_attribute("data-kfp-state") == (
        "FAILED"
    )

    # the failing cell (the third: index 2) carries the red mark, no other cell does
    mark = page.locator(".jp-Notebook .jp-Cell .kfpj-fail-mark")
    mark.first.wait_for()
    marked = page.locator(".jp-Notebook .jp-Cell").evaluate_all(
        "els => els.map(e => e.dataset.kfpFailed ?? null)"
    )
    assert marked == [None, None, "load", None], marked

    # click the failed step in the DAG: its details, the exception first, then cell and line
    panel.locator(".kfpj-dag [data-kfp-step=load]").click()
    details = panel.locator("[data-kfp-details][data-kfp-step=load]")
    details.wait_for()
    error = details.locator("[data-kfp-detail=error]").inner_text()
    assert error.splitlines()[0] == "ValueError: bad rows: 3", error
    assert "cell 3, line 2" in error, error
    assert "failed" in details.locator("[data-kfp-detail=state]").inner_text()
    screenshot(page, "panel-runs-failed-step.png")

    # what the step received, put into the notebook's kernel (as `%kfp inputs` does there)
    details.locator("[data-kfp-action=load-inputs]").click()
    page.wait_for_function(
        """(sel) => (document.querySelector(sel)?.textContent ?? '').includes(
              "n: int, a pipeline parameter")""",
        arg=f"{PANEL} [data-kfp-details][data-kfp-step=load] [data-kfp-detail=loaded]",
        timeout=120_000,
    )

    # the step list opens details too; the mark on the cell opens the failed step's again
    panel.locator(".kfpj-step[data-kfp-step=train] .kfpj-open").click()
    panel.locator("[data-kfp-details][data-kfp-step=train]").wait_for()
    mark.click()
    panel.locator("[data-kfp-details][data-kfp-step=load]").wait_for()

    # fix the cell and run again: the run succeeds and the mark is gone
    _set_source(page, 2, "rows = list(range(n))")
    _save(page)
    _run_pipeline(page)
    _run_state(page, "SUCCEEDED")
    assert page.locator(".jp-Notebook .jp-Cell .kfpj-fail-mark").count() == 0
    assert page.locator(".jp-Notebook .jp-Cell[data-kfp-failed]").count() == 0
    # two runs of this notebook in the recent runs, the newest first and shown
    page.wait_for_function(
        """(sel) => [...document.querySelectorAll(sel + ' .kfpj-recent-run')]
              .map(e => e.dataset.kfpRunState).join() === 'SUCCEEDED,FAILED'""",
        arg=PANEL,
    )
    screenshot(page, "panel-runs-fixed.png")
    assert not page.errors, page.errors


def test_a_run_started_from_a_terminal_is_followed_live(jupyter_lab: Lab, page: Any) -> None:
    gate = jupyter_lab.root / "go"
    cells = [
        ("import os, time", ["imports"]),
        (f"while not os.path.exists({str(gate)!r}):\n    time.sleep(0.1)\nx = 1", ["step:wait"]),
        ("y = x + 1", ["step:after"]),
    ]
    _open(jupyter_lab, page, "gated.ipynb", cells)
    panel = page.locator(PANEL)
    store = jupyter_lab.root.parent / "store"  # the lab's KFP_JUPYTER_STORE (harness.start_lab)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "run", "gated.ipynb"],
        cwd=jupyter_lab.root,
        env={**os.environ, "KFP_JUPYTER_STORE": str(store)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # nobody clicked anything: the panel finds the run and shows it going on
        panel.locator(".kfpj-dag [data-kfp-step=wait][data-kfp-state=RUNNING]").wait_for(
            timeout=120_000
        )
        run_id = panel.locator(".kfpj-run").get_attribute("data-kfp-run")
        assert run_id
        assert panel.locator(f".kfpj-recent-run[data-kfp-run='{run_id}']").count() == 1
        screenshot(page, "panel-runs-terminal-running.png")
        gate.write_text("go")
        _run_state(page, "SUCCEEDED")
        out, _ = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert run_id in out, out
    dag = panel.locator(".kfpj-dag [data-kfp-step]").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.dataset.kfpStep, e.dataset.kfpState]))"
    )
    assert dag == {"wait": "SUCCEEDED", "after": "SUCCEEDED"}, dag
    assert not page.errors, page.errors


def test_the_dag_stays_while_the_notebook_has_a_problem(jupyter_lab: Lab, page: Any) -> None:
    cells = [
        ("import json", ["imports"]),
        ("data = [1, 2, 3]", ["step:load"]),
        ("total = sum(data)", ["step:train"]),
        ("score = total / 10", ["step:report"]),
    ]
    _open(jupyter_lab, page, "good.ipynb", cells)
    panel = page.locator(PANEL)
    nodes = panel.locator(".kfpj-dag [data-kfp-step]")
    assert nodes.count() == 3
    # the DAG fits the panel's width and shows every node; the find box is outside the drawing
    # (the drawing is redrawn when the panel settles its width: a box is read once it is shown)
    svg = _shown_box(panel.locator(".kfpj-dag svg"))
    find = _shown_box(panel.locator(".kfp-dag-find"))
    assert svg["x"] + svg["width"] <= panel.bounding_box()["x"] + panel.bounding_box()["width"]
    assert not _overlaps(svg, find), (svg, find)
    for box in nodes.evaluate_all("els => els.map(e => e.getBoundingClientRect().toJSON())"):
        assert svg["x"] - 1 <= box["x"] and box["x"] + box["width"] <= svg["x"] + svg["width"] + 1
        assert svg["y"] - 1 <= box["y"] and box["y"] + box["height"] <= svg["y"] + svg["height"] + 1
        assert not _overlaps(box, find), (box, find)
    # a problem: `report` runs after a step that does not exist
    page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets[3]
             .model.setMetadata('tags', ['step:report', 'prev:nowhere'])"""
    )
    # a change of a step's tags is saved by the panel itself once the user pauses (a save of
    # our own at the same moment would meet JupyterLab's "file changed on disk" question)
    problem = panel.locator(".kfpj-problem")
    problem.first.wait_for()
    assert "nowhere" in panel.locator(".kfpj-problems").inner_text()
    # the last good DAG is still there, the step with the problem marked
    assert nodes.count() == 3
    problems = panel.locator(".kfpj-dag [data-kfp-problem]").evaluate_all(
        "els => els.map(e => e.dataset.kfpStep)"
    )
    assert problems == ["report"], problems
    screenshot(page, "panel-runs-problem.png")

    # fixed: the problems and the mark go
    page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets[3]
             .model.setMetadata('tags', ['step:report'])"""
    )
    panel.locator(".kfpj-problems").wait_for(state="detached")
    assert panel.locator(".kfpj-dag [data-kfp-problem]").count() == 0
    assert nodes.count() == 3

    # the user widens the sidebar: the drawing refits to the new width, every node still shown
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    grip = _shown_box(handle)
    page.mouse.move(grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2)
    page.mouse.down()
    page.mouse.move(grip["x"] + 250, grip["y"] + grip["height"] / 2, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "([sel, w]) => document.querySelector(sel).getBoundingClientRect().width > w + 150",
        arg=[f"{PANEL} .kfpj-dag svg", svg["width"]],
    )
    wide = _shown_box(panel.locator(".kfpj-dag svg"))
    assert wide["x"] + wide["width"] <= panel.bounding_box()["x"] + panel.bounding_box()["width"]
    for box in nodes.evaluate_all("els => els.map(e => e.getBoundingClientRect().toJSON())"):
        assert (
            wide["x"] - 1 <= box["x"] and box["x"] + box["width"] <= wide["x"] + wide["width"] + 1
        )
        assert (
            wide["y"] - 1 <= box["y"] and box["y"] + box["height"] <= wide["y"] + wide["height"] + 1
        )
    assert not page.errors, page.errors
