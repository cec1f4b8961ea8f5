"""The JupyterLab extension in a real JupyterLab, in headless Chromium: open the example notebook,
make a plain cell a step with the panel's editor and find its tags in the saved file, then click
"Run pipeline" and watch every step succeed in the panel; undo and redo editor changes with the
notebook's own keys; submit through the "Submit" dialog to the KFP test server and find the run
and its KFP UI link in the panel. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from harness import ROOT, Lab, screenshot, select_cell, start_lab
from servers.helpers import KFP_TOKEN, TOKEN_ENV
from servers.kfp_server import KfpServer

pytestmark = pytest.mark.browser

STEPS = ["load_data", "split", "train_forest", "train_logreg", "evaluate", "report"]
FINAL = ("SUCCEEDED", "CACHED", "FAILED", "SKIPPED", "CANCELLED", "INTERRUPTED")
PANEL = "#kfp-jupyter-panel"

NOTEBOOK_READY = """(cells) => {
  const panel = window.jupyterapp?.shell?.currentWidget;
  return Boolean(panel?.context?.isReady &&
                 panel.node.querySelectorAll('.jp-Cell').length >= cells);
}"""


#: what `_saved_tags` says of a file JupyterLab is writing right now (truncate, then write)
BEING_WRITTEN = "being written"


def _saved_tags(path: Any, index: int) -> list[str] | str | None:
    """The cell's tags as saved (None: the cell has no tags key at all)."""
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:
        return BEING_WRITTEN
    if len(nb.cells) <= index:
        return BEING_WRITTEN
    tags = nb.cells[index].metadata.get("tags")
    return None if tags is None else list(tags)


def _open_example(lab: Lab, page: Any) -> tuple[Path, int]:
    """Open the iris example with a plain cell added before its metrics cell; the sidebar shows
    its pipeline. Returns the notebook's path and the plain cell's index."""
    nb_path = lab.root / "iris_classifier.ipynb"
    shutil.copy(ROOT / "examples" / "iris_classifier.ipynb", nb_path)
    nb = nbformat.read(str(nb_path), as_version=4)
    # a plain cell before the metrics cell: it continues `evaluate` until the editor says otherwise
    plain = nbformat.v4.new_code_cell('print(f"forest accuracy {forest_accuracy:.3f}")')
    index = len(nb.cells) - 1
    nb.cells.insert(index, plain)
    nbformat.write(nb, str(nb_path))

    page.set_default_timeout(60_000)
    page.goto(f"{lab.url}/lab/tree/iris_classifier.ipynb?token={lab.token}")
    page.wait_for_function(NOTEBOOK_READY, arg=len(nb.cells), timeout=120_000)
    page.evaluate("() => window.jupyterapp.shell.activateById('kfp-jupyter-panel')")
    page.locator(PANEL).locator(".kfpj-step[data-kfp-step=evaluate]").wait_for()
    return nb_path, index


def _wait_saved(path: Path, index: int, tags: list[str] | None) -> None:
    deadline = time.monotonic() + 60
    while _saved_tags(path, index) != tags:
        assert time.monotonic() < deadline, (_saved_tags(path, index), tags)
        time.sleep(0.3)


def _apply(page: Any, role: str = "step", name: str = "", after: list[str] | None = None,
           cache: str | None = None) -> None:  # fmt: skip
    editor = page.locator(PANEL).locator(".kfpj-editor")
    editor.locator("select[data-kfp-field=role]").select_option(role)
    if name:
        editor.locator("input[data-kfp-field=name]").fill(name)
    if after is not None:
        editor.locator("select[data-kfp-field=after]").select_option(after)
    if cache is not None:
        editor.locator("select[data-kfp-field=cache]").select_option(cache)
    editor.locator("[data-kfp-action=apply]").click()


def test_step_editor_and_run_pipeline(jupyter_lab: Lab, page: Any) -> None:
    nb_path, index = _open_example(jupyter_lab, page)
    panel = page.locator(PANEL)
    # the pipeline from the server: its steps, linked to their cells, and the DAG
    assert panel.locator(".kfpj-step").count() == len(STEPS) - 1
    assert panel.locator(".kfp-dag [data-kfp-step], .kfpj-dag [data-kfp-step]").count() >= 5
    # tagged cells carry their role label
    labels = page.locator(".jp-Notebook .jp-Cell[data-kfp-role=step]").count()
    assert labels == len(STEPS) - 1

    # make the plain cell a step through the editor
    select_cell(page, index)
    editor = panel.locator(".kfpj-editor")
    editor.locator("select[data-kfp-field=role]").select_option("step")
    editor.locator("input[data-kfp-field=name]").fill("report")
    editor.locator("select[data-kfp-field=after]").select_option(["evaluate"])
    editor.locator("select[data-kfp-field=cache]").select_option("disabled")
    screenshot(page, "labextension-editor.png")
    editor.locator("[data-kfp-action=apply]").click()

    _wait_saved(nb_path, index, ["step:report", "prev:evaluate", "cache:disabled"])
    panel.locator(".kfpj-step[data-kfp-step=report]").wait_for()
    assert page.locator(".jp-Notebook .jp-Cell[data-kfp-role=step]").count() == len(STEPS)

    # run it: every step succeeds, shown in the panel's list and its DAG
    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Run pipeline").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Run").click()
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


CELL_STATE = """(index) => {
  const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
  return {tags: cell.model.getMetadata('tags') ?? null, role: cell.node.dataset.kfpRole ?? null};
}"""


def _cell_state(page: Any, index: int) -> dict[str, Any]:
    """The cell's tags as JupyterLab holds them, and the role label the extension put on it."""
    state: dict[str, Any] = page.evaluate(CELL_STATE, index)
    return state


def _command_mode_key(page: Any, index: int, key: str) -> None:
    """Press `key` in the notebook's command mode with the cell selected, as a user would."""
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputPrompt").click()
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.mode === 'command'")
    page.keyboard.press(key)


def _wait_cell(page: Any, index: int, tags: list[str] | None) -> None:
    page.wait_for_function(
        f"([index, tags]) => JSON.stringify(({CELL_STATE})(index).tags) === JSON.stringify(tags)",
        arg=[index, tags],
    )


def test_editor_changes_are_undone_and_redone_like_any_notebook_change(
    jupyter_lab: Lab, page: Any
) -> None:
    nb_path, index = _open_example(jupyter_lab, page)
    editor = page.locator(PANEL).locator(".kfpj-editor")
    select_cell(page, index)
    # two editor actions: make the plain cell a step, then turn its cache off
    _apply(page, "step", name="report", after=["evaluate"])
    _wait_saved(nb_path, index, ["step:report", "prev:evaluate"])
    _apply(page, "step", cache="disabled")
    _wait_saved(nb_path, index, ["step:report", "prev:evaluate", "cache:disabled"])
    assert _cell_state(page, index)["role"] == "step"

    # `z` in command mode (notebook:undo-cell-action): one editor action per press
    _command_mode_key(page, index, "z")
    _wait_cell(page, index, ["step:report", "prev:evaluate"])
    _command_mode_key(page, index, "z")
    _wait_cell(page, index, None)
    assert _cell_state(page, index) == {"tags": None, "role": None}
    page.wait_for_function(
        f"() => document.querySelector('{PANEL} select[data-kfp-field=role]').value === 'continue'"
    )
    # nothing else was undone: the example's own tags are all there
    assert page.locator(".jp-Notebook .jp-Cell[data-kfp-role=step]").count() == len(STEPS) - 1
    # the undo refreshes the panel by itself (nobody saves): `report` is gone from its list and
    # its DAG, and the file has no tags key at all, as before the editor touched it
    page.locator(PANEL).locator(".kfpj-step[data-kfp-step=report]").wait_for(state="detached")
    page.locator(PANEL).locator(".kfpj-dag [data-kfp-step=report]").wait_for(state="detached")
    _wait_saved(nb_path, index, None)
    screenshot(page, "labextension-undo.png")

    # redo (Shift+Z) brings the first action back
    _command_mode_key(page, index, "Shift+Z")
    _wait_cell(page, index, ["step:report", "prev:evaluate"])
    assert _cell_state(page, index)["role"] == "step"
    page.wait_for_function(
        f"() => document.querySelector('{PANEL} input[data-kfp-field=name]')?.value === 'report'"
    )
    assert editor.locator("select[data-kfp-field=cache]").input_value() == ""
    # and the redo too: `report` is back in the panel, and in the file
    page.locator(PANEL).locator(".kfpj-dag [data-kfp-step=report]").wait_for()
    page.locator(PANEL).locator(".kfpj-step[data-kfp-step=report]").wait_for()
    _wait_saved(nb_path, index, ["step:report", "prev:evaluate"])
    assert not page.errors, page.errors


@pytest.fixture
def kfp_and_lab(tmp_path: Path) -> Iterator[tuple[KfpServer, Lab]]:
    """The KFP test server on 127.0.0.1 and a `jupyter lab` whose environment holds its token."""
    kfp = KfpServer().start()
    kfp.state.tokens = {KFP_TOKEN}
    try:
        with start_lab(tmp_path, {TOKEN_ENV: KFP_TOKEN}) as lab:
            yield kfp, lab
        assert not kfp.state.violations, kfp.state.violations
    finally:
        kfp.stop()


def test_submit_from_the_toolbar_to_kubeflow_pipelines(
    kfp_and_lab: tuple[KfpServer, Lab], page: Any
) -> None:
    kfp, lab = kfp_and_lab
    _open_example(lab, page)
    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Submit").click()
    dialog = page.locator(".jp-Dialog")
    form = dialog.locator(".kfpj-submit-form")
    form.wait_for()
    # the pipeline's parameters are offered with their defaults
    assert form.locator("input[name='param:n_estimators']").input_value() == "50"
    form.locator("select[name=engine]").select_option("kfp")
    form.locator("input[name=host]").fill(kfp.url)
    form.locator("input[name=experiment]").fill("from-lab")
    form.locator("input[name=run_name]").fill("iris-from-browser")
    form.locator("input[name=token_env]").fill(TOKEN_ENV)
    form.locator("input[name='param:n_estimators']").fill("25")
    screenshot(page, "labextension-submit-dialog.png")
    dialog.locator("button.jp-mod-accept").click()

    status = page.locator(PANEL).locator(".kfpj-run")
    status.get_by_text("submitted to kfp").wait_for(timeout=120_000)
    screenshot(page, "labextension-submitted.png")
    # what the test server received: the compiled pipeline, then one run with the parameter
    assert len(kfp.state.uploads) == 1
    uploaded = yaml.safe_load(kfp.state.uploads[0])
    assert uploaded["pipelineInfo"]["name"] == "iris-classifier"
    assert len(kfp.state.runs) == 1
    run_id, sim = next(iter(kfp.state.runs.items()))
    assert sim.run["display_name"] == "iris-from-browser"
    assert sim.run["runtime_config"]["parameters"]["n_estimators"] == 25
    assert [e["display_name"] for e in kfp.state.experiments.values()] == ["from-lab"]
    # ... and what the panel shows: the run, and its page in the KFP UI
    assert f"iris-from-browser ({run_id})" in status.inner_text()
    link = status.get_by_role("link", name="open in the KFP UI")
    assert link.get_attribute("href") == f"{kfp.url}/#/runs/details/{run_id}"
    assert link.get_attribute("target") == "_blank"
    assert not page.locator(".jp-Dialog").count()
    assert not page.errors, page.errors


def test_submit_dialog_offers_the_saved_targets_and_the_last_used_first(
    kfp_and_lab: tuple[KfpServer, Lab], page: Any, tmp_path: Path
) -> None:
    kfp, lab = kfp_and_lab
    config = tmp_path / "home" / "kfp-config"  # the lab's KFP_JUPYTER_CONFIG_DIR
    subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "targets", "add", "prod",
         "--engine", "kfp", "--host", kfp.url, "--token-env", TOKEN_ENV,
         "--experiment", "saved-exp"],
        env={**os.environ, "KFP_JUPYTER_CONFIG_DIR": str(config)},
        check=True,
        capture_output=True,
    )  # fmt: skip
    _open_example(lab, page)

    def open_dialog() -> Any:
        page.locator(".jp-NotebookPanel-toolbar").get_by_text("Submit").click()
        form = page.locator(".jp-Dialog .kfpj-submit-form")
        form.wait_for()
        return form

    form = open_dialog()
    assert form.locator("select[name=target]").input_value() == ""  # none used yet
    form.locator("select[name=target]").select_option("prod")
    # the target fills the form; the token is never shown, only the variable's name
    assert form.locator("input[name=host]").input_value() == kfp.url
    assert form.locator("input[name=token_env]").input_value() == TOKEN_ENV
    assert form.locator("input[name=experiment]").input_value() == "saved-exp"
    screenshot(page, "labextension-submit-saved-target.png")
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    page.locator(PANEL).locator(".kfpj-run").get_by_text("submitted to kfp").wait_for(
        timeout=120_000
    )
    assert [e["display_name"] for e in kfp.state.experiments.values()] == ["saved-exp"]

    # the next dialog opens on the target used last (shared with the CLI and the widget)
    form = open_dialog()
    assert form.locator("select[name=target]").input_value() == "prod"
    assert form.locator("input[name=host]").input_value() == kfp.url
    page.locator(".jp-Dialog button.jp-mod-reject").click()
    assert not page.errors, page.errors
