"""A plain notebook (run whole as one step) may hold the cell that loads our magics, tagged
`skip` (older `convert --to magics` added it): the step's kernel runs without kfp-jupyter (none
is installed on a cluster), so the cell stays in the embedded notebook as a comment, in its place
so that cell numbers hold, and the rest runs."""

from __future__ import annotations

import json
from pathlib import Path

from engine_support import kfpj
from nbutil import code, make_notebook


def test_the_loader_cell_is_not_run_in_the_step_kernel(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "plain.ipynb",
        [
            code("%load_ext kfp_jupyter", "skip"),
            code("x = 1", "parameters"),
            code("y = x + 1\nprint(y)"),
            code("y", "pipeline-metrics"),
        ],
    )
    store = tmp_path / "store"
    ran = kfpj("run", nb, store=store)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    out = tmp_path / "executed.ipynb"
    got = kfpj("artifacts", "get", "latest", "plain", "executed_notebook", "-o", out, store=store)
    assert got.returncode == 0, got.stderr
    cells = json.loads(out.read_text())["cells"]
    first = "".join(cells[0]["source"])
    assert first.startswith("# %load_ext kfp_jupyter: left out")
    assert "load_ext" not in "".join("".join(c["source"]) for c in cells[1:])
