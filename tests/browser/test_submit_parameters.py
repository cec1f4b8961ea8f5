"""The pipeline's parameters in the Submit and Run dialogs, in a real JupyterLab in headless
Chromium: Submit sends only the values the user changed, each as typed for the server to read by
the parameter's declared type (a `str` typed as 2024 stays text; an int too large for a
JavaScript number is shown with all its digits and not sent back rounded), and a value the server
refuses is said at its field while the dialog stays open; a notebook whose component URL inspect
does not fetch (an outline) still gives both dialogs its typed parameters, and the panel says why
the pipeline is an outline. Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Lab, open_in_lab, screenshot, start_lab
from nbutil import code, make_notebook
from servers.helpers import K8S_TOKEN
from servers.k8s_server import K8sServer, write_kubeconfig

pytestmark = pytest.mark.browser

PANEL = "#kfp-jupyter-panel"
DIALOG = ".jp-Dialog"
BIG = "12345678901234567890"  # past 2**53: a JavaScript number rounds it
PARAMETERS = code(f"year = '2023'\nbig = {BIG}\nlayers = [1, 2]", "pipeline-parameters")


@pytest.fixture
def argo_lab(tmp_path: Path) -> Iterator[tuple[K8sServer, Lab]]:
    """The Kubernetes test server (Argo Workflows) and a `jupyter lab` whose kubeconfig is it."""
    k8s = K8sServer().start()
    k8s.state.tokens = {K8S_TOKEN}
    try:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", k8s.url, K8S_TOKEN, "argo")
        with start_lab(tmp_path, {"KUBECONFIG": str(kubeconfig)}) as lab:
            yield k8s, lab
        assert not k8s.state.violations, k8s.state.violations
    finally:
        k8s.stop()


def _open_submit(page: Any) -> Any:
    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Submit").click()
    form = page.locator(DIALOG).locator(".kfpj-submit-form")
    form.wait_for()
    return form


def _param(form: Any, name: str) -> Any:
    return form.locator(f"input[name='param:{name}']")


def _shown_type(form: Any, name: str) -> str:
    """The type the form shows beside the parameter's name."""
    field = form.locator(f".kfpj-field:has(input[name='param:{name}'])")
    text: str = field.locator(".kfpj-type").inner_text()
    return text


def test_submit_sends_the_changed_parameters_as_typed_and_keeps_large_ints(
    argo_lab: tuple[K8sServer, Lab], page: Any
) -> None:
    k8s, lab = argo_lab
    make_notebook(
        lab.root / "params.ipynb",
        [PARAMETERS, code("total = len(year) + big % 7 + len(layers)", "step:a")],
        metadata={"kfp_jupyter": {"name": "params-demo"}},
    )
    open_in_lab(lab, page, "params.ipynb", 2, ".kfpj-step[data-kfp-step=a]")
    form = _open_submit(page)
    # every digit of the int, and each field with its declared type
    assert _param(form, "big").input_value() == BIG
    assert _param(form, "year").input_value() == "2023"
    assert _param(form, "layers").input_value() == "[1,2]"
    assert _shown_type(form, "year") == "(str)"
    form.locator("select[name=engine]").select_option("argo")
    _param(form, "year").fill("2024")
    _param(form, "layers").fill("[1, 2")  # not a list: the server says so at the field
    page.locator(DIALOG).locator("button.jp-mod-accept").click()
    refused = form.locator("[data-kfp-error-for=layers]")
    page.wait_for_function(
        "() => /not a list/.test(document.querySelector("
        "'.jp-Dialog [data-kfp-error-for=layers]')?.textContent ?? '')"
    )
    assert "parameter 'layers'" in refused.inner_text()
    assert page.locator(DIALOG).count() == 1
    assert k8s.state.created == []
    screenshot(page, "submit-parameter-refused.png")

    _param(form, "layers").fill("[3]")
    page.locator(DIALOG).locator("button.jp-mod-accept").click()
    page.locator(DIALOG).wait_for(state="detached")
    page.locator(PANEL).locator(".kfpj-run").get_by_text("submitted to argo").wait_for(
        timeout=120_000
    )
    [workflow] = k8s.state.created
    values = {p["name"]: p["value"] for p in workflow["spec"]["arguments"]["parameters"]}
    # "2024" as text (a str parameter), the int untouched (its default), the list as typed
    assert values == {"year": "2024", "big": BIG, "layers": "[3]"}
    assert not page.errors, page.errors


def test_an_outline_gives_the_dialogs_typed_parameters_and_says_why_it_is_one(
    jupyter_lab: Lab, page: Any
) -> None:
    url = "http://127.0.0.1:9/never-fetched.yaml"  # inspect never fetches it
    make_notebook(
        jupyter_lab.root / "outline.ipynb",
        [PARAMETERS, code("x = len(year)", "step:a"), code("", "step:c", f"component:{url}")],
    )
    open_in_lab(jupyter_lab, page, "outline.ipynb", 3, ".kfpj-step[data-kfp-step=c]")
    note = page.locator(PANEL).locator("[data-kfp-note=outline]")
    assert "component URL(s) not fetched on inspect" in note.inner_text()
    assert url in note.inner_text()
    screenshot(page, "panel-outline-note.png")

    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Run pipeline").click()
    dialog = page.locator(DIALOG).locator(".kfpj-run-options")
    dialog.wait_for()
    year = dialog.locator("input[data-kfp-param=year]")
    assert (year.input_value(), dialog.locator("input[data-kfp-param=big]").input_value()) == (
        "2023",
        BIG,
    )
    assert _shown_type(dialog, "year") == "(str)"
    page.locator(DIALOG).get_by_role("button", name="Cancel").click()
    page.locator(DIALOG).wait_for(state="detached")

    form = _open_submit(page)
    assert _param(form, "year").input_value() == "2023"
    assert _shown_type(form, "layers") == "(list)"
    page.locator(DIALOG).get_by_role("button", name="Cancel").click()
    page.locator(DIALOG).wait_for(state="detached")
    assert not page.errors, page.errors
