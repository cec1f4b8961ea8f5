"""A notebook step's kernel imports as Jupyter opening that notebook would: the modules beside
the executed notebook, not those beside the pipeline notebook (which the runner puts on the
step's own path), with the user's PYTHONPATH as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import kfpj, show
from nbutil import code, make_notebook

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


@pytest.mark.parametrize("launcher", ["fork", "subprocess"])
def test_a_child_notebook_imports_the_module_beside_it(tmp_path: Path, launcher: str) -> None:
    children = tmp_path / "children"
    children.mkdir()
    (tmp_path / "helper.py").write_text("K = 5\n", encoding="utf-8")  # the parent's: not this
    (children / "helper.py").write_text("K = 2\n", encoding="utf-8")
    mine = tmp_path / "on_my_path"
    mine.mkdir()
    (mine / "extra_mod.py").write_text("E = 7\n", encoding="utf-8")
    make_notebook(
        children / "child.ipynb",
        [
            code("from helper import K\nfrom extra_mod import E\nk = K * 10 + E"),
            code("k", "pipeline-metrics"),
        ],
    )
    nb = make_notebook(
        tmp_path / "nb.ipynb", [code("", "step:child", "notebook:children/child.ipynb")]
    )
    store = tmp_path / "store"
    r = kfpj(
        "run",
        nb,
        "--no-cache",
        "--launcher",
        launcher,
        store=store,
        env={"PYTHONPATH": str(mine)},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert show(store)["metrics"] == {"k": 27.0}
