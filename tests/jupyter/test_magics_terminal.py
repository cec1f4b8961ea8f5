"""`%kfp run` in IPython in a terminal (`ipython`), which draws no widget: the run is shown as
`kfp-jupyter run` shows it, each step's progress and then the run's state and metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from engine_support import ipython
from nbutil import code, make_notebook


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
