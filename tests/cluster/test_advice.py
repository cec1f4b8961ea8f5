"""Error advice worded for where it is shown: the same cluster error names an option on the
command line, the widget's field in the widget, the Submit dialog's field in JupyterLab (each
form's own labels), and a command the advice quotes is kept as typed in every front end.

The errors are the real ones, raised by a submit that is refused before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbutil import code, make_notebook
from servers.helpers import cli, no_traceback

import kfp_jupyter
from kfp_jupyter.cluster import submit
from kfp_jupyter.cluster.advice import error_text
from kfp_jupyter.cluster.targets import Target, add_target

SAVED = "advice-kfp"
ADD_COMMAND = "kfp-jupyter targets add nosuch --engine kfp --host URL"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own saved targets and widget settings, with one saved KFP target."""
    monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(tmp_path / "kfpj-config"))
    add_target(Target(SAVED, "kfp", host="http://127.0.0.1:9"))
    return tmp_path / "kfpj-config"


@pytest.fixture
def nb(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "small.ipynb",
        [code("n = 3", "pipeline-parameters"), code("x = n", "step:only")],
        metadata={"kfp_jupyter": {"name": "small"}},
    )


def _widget_error(nb: Path, target: dict[str, str], engine: str | None = None) -> str:
    """What the widget shows when its submit (of the form, with `engine` if given) fails."""
    from kfp_jupyter.jupyter.widget import PipelineWidget, describe_error

    w = PipelineWidget(nb)
    w.target = target
    with pytest.raises(kfp_jupyter.KfpJupyterError) as caught:
        w.submit(engine)
    return describe_error(caught.value)


def test_each_front_end_names_the_engine_choice_by_its_own_label(config: Path, nb: Path) -> None:
    # the saved target chosen in the form sets its engine there; widget.submit("argo") differs
    in_widget = _widget_error(nb, {"target": SAVED}, "argo")
    assert in_widget.startswith('the "target" field (argo) does not match'), in_widget
    assert "--engine" not in in_widget

    result = cli("submit", str(nb), "--engine", "argo", "--target", SAVED)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert "--engine argo does not match" in result.stderr and " field" not in result.stderr

    with pytest.raises(kfp_jupyter.KfpJupyterError) as caught:
        submit(kfp_jupyter.load_notebook(nb), "argo", target=SAVED)
    in_dialog = error_text(caught.value, "dialog")
    assert in_dialog.startswith('the "engine" field (argo) does not match'), in_dialog
    assert '"target" field' not in in_dialog


def test_a_quoted_command_is_kept_as_typed_in_every_front_end(config: Path, nb: Path) -> None:
    in_widget = _widget_error(nb, {"engine": "kfp", "target": "nosuch"})
    result = cli("submit", str(nb), "--target", "nosuch")
    assert result.exit_code == 2, result.output
    with pytest.raises(kfp_jupyter.KfpJupyterError) as caught:
        submit(kfp_jupyter.load_notebook(nb), target="nosuch")
    in_dialog = error_text(caught.value, "dialog")
    for shown in (in_widget, result.stderr, in_dialog):
        assert f"add it: {ADD_COMMAND}" in shown, shown
        assert "`kfp-jupyter targets list`" in shown, shown
        assert " field" not in shown, shown


def test_an_option_a_form_lacks_is_named_where_that_front_end_sets_it(
    config: Path, nb: Path, tmp_path: Path
) -> None:
    """--kfp-runtime has no field in either form: the widget names its `submit()` keyword, the
    dialog the field of the server's request; the compile command in backquotes keeps its
    option in both."""
    compiled = tmp_path / "small.yaml"
    kfp_jupyter.compile_pipeline(kfp_jupyter.load_notebook(nb), "kfp", compiled)
    with pytest.raises(kfp_jupyter.KfpJupyterError) as caught:
        submit(compiled, "kfp", host="http://127.0.0.1:9", kfp_runtime="2.9.0")
    command = "`kfp-jupyter compile -t kfp --kfp-runtime VERSION`"
    as_written = error_text(caught.value, "cli")
    in_widget = error_text(caught.value, "widget")
    in_dialog = error_text(caught.value, "dialog")
    assert as_written == str(caught.value) and "drop --kfp-runtime," in as_written
    assert "drop kfp_runtime=... in widget.submit()," in in_widget, in_widget
    assert 'drop "kfp_runtime" in the request to POST submit' in in_dialog, in_dialog
    for shown in (as_written, in_widget, in_dialog):
        assert shown.endswith(command), shown


def test_a_token_variable_that_is_not_set_is_set_where_each_front_end_reads_it(
    config: Path, nb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel reads the widget's variable, the Jupyter server the dialog's: each says which
    one to restart."""
    monkeypatch.delenv("KFPJ_NOT_SET_HERE", raising=False)
    with pytest.raises(kfp_jupyter.KfpJupyterError) as caught:
        submit(
            kfp_jupyter.load_notebook(nb),
            "kfp",
            host="http://127.0.0.1:9",
            token_env="KFPJ_NOT_SET_HERE",
        )
    in_widget = error_text(caught.value, "widget")
    in_dialog = error_text(caught.value, "dialog")
    assert "restart the kernel" in in_widget and "restart JupyterLab" not in in_widget
    assert "restart JupyterLab" in in_dialog and "restart the kernel" not in in_dialog
    for shown in (in_widget, in_dialog):
        assert 'the "token variable" field (KFPJ_NOT_SET_HERE)' in shown, shown
        assert "--token-env" not in shown and "export " not in shown, shown
    assert "export KFPJ_NOT_SET_HERE=..." in error_text(caught.value, "cli")
