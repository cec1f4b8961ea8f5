"""A `pip install` line in a notebook states requirements, as `packages:` tags do: the step (or,
in the imports cell, every step) installs them instead of the pins of this environment; what no
step can install by name, and a skip cell's pins, are warned about with the cell and the fix.
A `%%writefile helper.py` cell writes a local module, not a package to install."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbutil import code, inspect_json, make_notebook

from kfp_jupyter import Pipeline, load_notebook


def load(tmp_path: Path, cells: list[Any]) -> Pipeline:
    return load_notebook(make_notebook(tmp_path / "nb.ipynb", cells))


def keyed(packages: tuple[str, ...]) -> dict[str, str]:
    """A step's requirements by distribution name."""
    return {p.split("=")[0].split(">")[0]: p for p in packages}


def test_pip_lines_in_step_cells_are_the_steps_requirements(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import numpy as np", "imports"),
            code(
                "!pip install xgboost==1.7.6 lightgbm==3.3.5\nimport xgboost as xgb\n"
                "arr = np.arange(5)",
                "block:train",
            ),
            code(
                "%pip install -q scikit-learn==1.0.2\n"
                "from sklearn.linear_model import LinearRegression\ntot = float(arr.sum())",
                "block:fit",
                "prev:train",
            ),
        ],
    )
    data = inspect_json(nb)
    steps = {s["name"]: keyed(tuple(s["packages"])) for s in data["steps"]}
    assert steps["train"]["xgboost"] == "xgboost==1.7.6"
    assert steps["train"]["lightgbm"] == "lightgbm==3.3.5"
    assert steps["fit"]["scikit-learn"] == "scikit-learn==1.0.2"
    assert "xgboost" not in steps["fit"]
    said = {(w["cell"], w["step"]): w["message"] for w in data["warnings"]}
    assert "the step installs scikit-learn==1.0.2 instead" in said[(3, "fit")]
    assert "'!pip install xgboost==1.7.6 lightgbm==3.3.5'" in said[(2, "train")]


def test_every_way_of_running_pip_is_read_and_its_options_left_aside(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code(
                "!python -m pip install -U alpha==1.0\n"
                "!{sys.executable} -m pip install --upgrade beta==2.0\n"
                "%pip install -q gamma==3.0 && echo done\n"
                "!pip3 --quiet install --no-cache-dir delta==4.0 2>&1\n"
                "!pip list\n"
                "x = 1",
                "block:a",
            ),
        ],
    )
    got = keyed(p.step("a").packages)
    want = {
        "alpha": "alpha==1.0",
        "beta": "beta==2.0",
        "gamma": "gamma==3.0",
        "delta": "delta==4.0",
    }
    assert {k: got.get(k) for k in want} == want
    # `!pip list` installs nothing: it is one of the IPython lines left out, as before
    assert any("IPython magics and shell commands left out" in w.message for w in p.warnings)


def test_a_pip_line_in_the_imports_cell_is_every_steps_said_once(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("!pip install scikit-learn==1.0.2\nimport sklearn", "imports"),
            code("a = 1", "block:one"),
            code("b = a + 1", "block:two"),
        ],
    )
    for step in ("one", "two"):
        assert keyed(p.step(step).packages)["scikit-learn"] == "scikit-learn==1.0.2"
    said = [w for w in p.warnings if "pip install" in w.message]
    assert [(w.cell, w.step) for w in said] == [(1, None)]
    assert "every Python step installs scikit-learn==1.0.2" in said[0].message


def test_a_packages_tag_wins_over_a_pip_line(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code(
                "%pip install scikit-learn==1.0.2\nimport sklearn",
                "block:a",
                "packages:scikit-learn==1.5.0",
            )
        ],
    )
    assert keyed(p.step("a").packages)["scikit-learn"] == "scikit-learn==1.5.0"


def test_what_is_no_requirement_by_name_is_left_out_with_the_fix(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code(
                "!pip install -r requirements.txt tqdm==4.66.1 -e ./lib git+https://x.org/y.git\n"
                "x = 1",
                "block:a",
            ),
        ],
    )
    packages = p.step("a").packages
    assert "tqdm==4.66.1" in packages
    assert not [r for r in packages if "requirements" in r or "git+" in r or "lib" in r]
    (w,) = [w for w in p.warnings if "pip install" in w.message]
    assert (w.cell, w.step) == (1, "a")
    for part in ("'-r requirements.txt'", "'-e ./lib'", "'git+https://x.org/y.git'"):
        assert part in w.message
    assert w.fix and "packages:NAME==VERSION" in w.fix


def test_a_pin_in_a_skip_cell_the_step_does_not_get_is_warned_about(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("%pip install scikit-learn==1.0.2 tqdm==4.66.1", "skip"),
            code("import sklearn\nx = 1", "block:a"),
            code("y = 2", "block:b", "packages:scikit-learn==1.0.2"),
            code("import sklearn\nz = 3", "block:c"),
        ],
    )
    # skip means skip: no step installs what the skip cell's pip line names
    assert keyed(p.step("a").packages)["scikit-learn"] != "scikit-learn==1.0.2"
    assert "tqdm" not in keyed(p.step("a").packages)
    said = [w for w in p.warnings if w.cell == 1]
    # step b states the pin itself; nothing imports tqdm
    assert [w.step for w in said] == ["a", "c"]
    assert "skip cell" in said[0].message
    assert said[0].fix and "'packages:scikit-learn==1.0.2'" in said[0].fix


def test_a_module_a_writefile_cell_writes_is_local_not_a_package(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("import numpy as np", "imports"),
            code("%%writefile helper.py\nSCALE = 3", "block:load"),
            code("from helper import SCALE\nX = np.ones(3) * SCALE", "block:load"),
            code("%%writefile tools/__init__.py\nA = 1", "skip"),
            code("import tools\nn = len(X) + tools.A", "block:use"),
        ],
    )
    assert "helper" not in keyed(p.step("load").packages)
    assert "tools" not in keyed(p.step("use").packages)
    said = {(w.cell, w.step): w for w in p.warnings if "module" in w.message}
    assert "%%writefile cell 2" in said[(3, "load")].message
    assert "%%writefile cell 4" in said[(5, "use")].message
    assert said[(3, "load")].fix and "functions cell" in said[(3, "load")].fix


def test_a_pip_line_with_nothing_to_install_is_left_out_with_a_note(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("!pip install\nimport json", "imports"),
            code("%pip install -U pip setuptools wheel\n!pip install -q\nx = 1", "step:a"),
            code("%pip install --upgrade\ny = x + 1", "step:b", "prev:a"),
        ],
    )
    data = inspect_json(nb)  # no "internal error"
    nothing = [
        w["message"] for w in data["warnings"] if "names nothing a step installs" in w["message"]
    ]
    assert len(nothing) == 4, data["warnings"]
    for step in data["steps"]:
        assert not {"pip", "setuptools", "wheel"} & keyed(tuple(step["packages"])).keys()


def test_a_shell_operator_glued_to_a_word_ends_the_pip_command(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("%pip install alpha==1.0; import json\n!pip install beta==2.0|tee log", "step:a"),
            code(
                "!pip install gamma==3.0>/dev/null\n!pip install 'delta>=4' 2>&1\nx = 1", "step:b"
            ),
        ],
    )
    a, b = keyed(p.step("a").packages), keyed(p.step("b").packages)
    assert (a.get("alpha"), a.get("beta"), "import" in a, "json" in a) == (
        "alpha==1.0",
        "beta==2.0",
        False,
        False,
    )
    assert (b.get("gamma"), b.get("delta"), "2" in b) == ("gamma==3.0", "delta>=4", False)


def test_a_pip_line_without_a_version_keeps_the_pin_of_this_environment(tmp_path: Path) -> None:
    """`pip install numpy` installs the numpy the step gets anyway: the pin stays; a package the
    step does not import is added as written."""
    cells = [code("import numpy as np", "imports"), code("x = float(np.ones(2).sum())", "step:a")]
    before = keyed(
        tuple(inspect_json(make_notebook(tmp_path / "a.ipynb", cells))["steps"][0]["packages"])
    )
    cells[0] = code("!pip install -q numpy tqdm\nimport numpy as np", "imports")
    data = inspect_json(make_notebook(tmp_path / "b.ipynb", cells))
    after = keyed(tuple(data["steps"][0]["packages"]))
    assert "==" in before["numpy"]
    assert (after["numpy"], after["tqdm"]) == (before["numpy"], "tqdm")


def test_a_pin_a_pip_line_states_is_no_pin_of_this_environment(tmp_path: Path) -> None:
    """The warning about steps in an image with another Python counts the pins taken from this
    environment; `--no-pin` would not change those the notebook states in pip lines."""
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("!pip install xgboost==1.7.6\nimport xgboost", "imports"),
            code("%pip install numpy==1.26.4\nimport numpy as np\nx = np.ones(1)", "step:a"),
        ],
        metadata={"kubeflow_notebook": {"docker_image": "python:3.10"}},
    )
    data = inspect_json(nb)
    assert keyed(tuple(data["steps"][0]["packages"]))["numpy"] == "numpy==1.26.4"
    assert not [w for w in data["warnings"] if "pinned to the versions" in w["message"]]
