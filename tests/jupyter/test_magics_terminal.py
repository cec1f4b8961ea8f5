"""`%kfp run` in IPython in a terminal (`ipython`), which draws no widget: the run is shown as
`kfp-jupyter run` shows it, each step's progress and then the run's state and metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from engine_support import ipython
from nbutil import code, make_notebook
from servers.helpers import TOKEN_ENV
from servers.kfp_server import KfpServer

pytest_plugins = ["servers.fixtures"]


def small(path: Path) -> Path:
    return make_notebook(
        path,
        [
            code("%load_ext kfp_jupyter", "skip"),
            code("%%pipeline_parameters\nbase = 2"),
            code("%%step produce\nvalues = [base, base + 1]"),
            code("%%step consume\ntotal = float(sum(values))"),
            code("%%pipeline_metrics\ntotal"),
        ],
        metadata={"kfp_jupyter": {"name": "small"}},
    )


@pytest.mark.parametrize("wait", ["--wait", ""])
def test_kfp_run_in_a_terminal_shows_progress_and_metrics(tmp_path: Path, wait: str) -> None:
    nb = small(tmp_path / "small.ipynb")
    shown = ipython(
        tmp_path, "%load_ext kfp_jupyter", f"%kfp run {nb.name} -p base=5 {wait}", "print(_)"
    )
    out = shown.stdout
    assert shown.returncode == 0, out + shown.stderr
    # each step's progress, as `kfp-jupyter run` prints it piped
    assert re.search(r"produce\s+SUCCEEDED", out) and re.search(r"consume\s+SUCCEEDED", out), out
    assert re.search(r"run \w+ SUCCEEDED in [\d.]+s: 2 steps \(2 ran, 0 cached\)", out), out
    assert "metrics: total=11" in out
    assert "kfp-jupyter runs show" in out
    assert "PipelineWidget" not in out and "Traceback" not in out + shown.stderr


@pytest.mark.parametrize("wait", ["--wait", ""])
def test_kfp_submit_in_a_terminal_shows_the_run_as_submit_does(
    kfp_api: KfpServer, tmp_path: Path, wait: str
) -> None:
    """No widget repr: without --wait the submitted line and the URL, with --wait each step's
    progress and the run's state, as `kfp-jupyter submit --wait` shows them."""
    nb = small(tmp_path / "small.ipynb")
    shown = ipython(
        tmp_path,
        "%load_ext kfp_jupyter",
        f"%kfp submit {nb.name} --host {kfp_api.url} --token-env {TOKEN_ENV} -p base=5 "
        f"--poll-interval 0.05 {wait}",  # the last line: IPython shows what it returns
    )
    out = shown.stdout
    assert shown.returncode == 0, out + shown.stderr
    [run_id] = list(kfp_api.state.runs)
    assert f"submitted kfp run {run_id}: {kfp_api.url}/#/runs/details/{run_id}" in out
    assert "Widget" not in out and "Traceback" not in out + shown.stderr
    followed = re.search(rf"run {run_id} SUCCEEDED after [\d.]+s: 2 steps", out)
    if wait:
        assert re.search(r"produce\s+SUCCEEDED", out) and re.search(r"consume\s+SUCCEEDED", out)
        assert followed, out
    else:
        assert not followed and "produce" not in out, out
