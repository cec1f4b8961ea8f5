"""An untagged cell of `pip install` lines above every step installs what the notebook needs, as
the imports cell's pip lines do: every Python step installs its requirements, and the cell is
named in a warning, never dropped silently (Kale leaves untagged cells before the first step out,
but a cell of imports only is read as the imports cell here, and so is this one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbutil import code, inspect_json, make_notebook

from kfp_jupyter import Pipeline, load_notebook

STEPS = [
    code("import numpy as np", "imports"),
    code("x = np.arange(3)", "step:a"),
    code("y = x + 1", "step:b"),
]


def load(tmp_path: Path, cells: list[Any]) -> Pipeline:
    return load_notebook(make_notebook(tmp_path / "nb.ipynb", cells))


def test_an_untagged_pip_cell_above_the_steps_is_every_steps_requirements(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("# setup\n!pip install xgboost==1.7.6\n%pip install -q lightgbm==3.3.5"), *STEPS],
    )
    data = inspect_json(nb)
    for step in data["steps"]:
        assert {"xgboost==1.7.6", "lightgbm==3.3.5"} <= set(step["packages"]), step["name"]
    said = [w for w in data["warnings"] if w["cell"] == 1]
    assert len(said) == 2 and all("every Python step installs" in w["message"] for w in said)


def test_a_pip_cell_of_what_no_step_can_install_is_warned_about_with_the_fix(
    tmp_path: Path,
) -> None:
    p = load(tmp_path, [code("!pip install -r requirements.txt"), *STEPS])
    (w,) = [w for w in p.warnings if w.cell == 1]
    assert "'-r requirements.txt'" in w.message and w.fix and "packages:" in w.fix


def test_a_cell_of_other_magics_above_the_steps_stays_out_quietly(tmp_path: Path) -> None:
    p = load(tmp_path, [code("%matplotlib inline\n%load_ext autoreload"), *STEPS])
    assert p.warnings == () and "autoreload" not in p.imports
