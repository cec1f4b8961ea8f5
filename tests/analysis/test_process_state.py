"""State a step sets for its whole process (a global seed, an environment variable, pandas'
options) is not there in a later step, which runs in a process of its own: where a later step
uses it, a warning names the cell, the line, the step, what is lost, the later steps and the fix.
Set where every step runs it (the imports or functions cell), or where nothing later uses it,
it is fine and said nothing about."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from nbutil import code, inspect_json, make_notebook

from kfp_jupyter import load_notebook

if TYPE_CHECKING:
    from kfp_jupyter.errors import Problem

IMPORTS = code("import os\nimport random\nimport numpy as np", "imports")


def lost(tmp_path: Path, cells: list[Any]) -> list[Problem]:
    """The warnings about process state a later step runs without."""
    p = load_notebook(make_notebook(tmp_path / "nb.ipynb", cells))
    return [w for w in p.warnings if "in a process of its own" in w.message]


def test_seeds_and_environment_set_in_one_step_and_used_in_the_next(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            IMPORTS,
            code("np.random.seed(42); random.seed(42); os.environ['SCALE'] = '10'", "step:setup"),
            code(
                "a = np.random.rand(3)\nb = random.randint(1, 1000)\n"
                "scale = int(os.environ['SCALE'])\nm = float(a.sum()) * scale + b",
                "step:compute",
                "prev:setup",
            ),
            code("m", "pipeline-metrics"),
        ],
    )
    said = [w for w in inspect_json(nb)["warnings"] if w["step"] == "setup"]
    assert [w["message"].split(" sets ")[0] for w in said] == [
        "'np.random.seed(42)'",
        "'random.seed(42)'",
        "\"os.environ['SCALE'] = '10'\"",
    ]
    for w, what in zip(
        said, ("numpy's global random seed", "random generator", "environment"), strict=True
    ):
        assert (w["cell"], w["line"]) == (2, 1)
        assert what in w["message"] and "later step 'compute'" in w["message"]
        assert "imports (or functions) cell" in w["fix"]


@pytest.mark.parametrize("cell", ["imports", "functions"])
def test_state_set_in_the_imports_or_functions_cell_is_fine(tmp_path: Path, cell: str) -> None:
    cells = [
        IMPORTS,
        code("np.random.seed(0)\nrandom.seed(0)\nos.environ['A'] = '1'", cell),
        code("x = np.random.rand(2)", "step:a"),
        code("y = x + random.random() + len(os.environ['A'])", "step:b"),
    ]
    assert lost(tmp_path, cells) == []


@pytest.mark.parametrize(
    ("later", "warned"),
    [
        ("y = x + 1", False),  # nothing later uses the environment
        ("y = os.getenv('A')", True),
        ("y = x + os.path.getsize('/etc/hostname')", False),
        ("os.environ['A'] = '2'\ny = os.environ['A']", False),  # sets its own
    ],
)
def test_environment_warned_only_when_a_later_step_reads_it(
    tmp_path: Path, later: str, warned: bool
) -> None:
    got = lost(
        tmp_path,
        [IMPORTS, code("os.environ.update(A='1')\nx = 1", "step:a"), code(later, "step:b")],
    )
    assert [(w.cell, w.line, w.step) for w in got] == ([(2, 1, "a")] if warned else [])


def test_state_set_in_the_last_step_is_fine(tmp_path: Path) -> None:
    got = lost(
        tmp_path,
        [
            IMPORTS,
            code("x = np.random.rand(2)", "step:a"),
            code("np.random.seed(1)\nos.environ['B'] = '2'\ny = x + 1", "step:b"),
        ],
    )
    assert got == []


@pytest.mark.parametrize(
    "later",
    [
        "np.random.seed(1)\ny = np.random.rand(2)",  # seeds its own generator
        "y = np.random.default_rng(1).random(2)",  # an independent generator
        "y = np.arange(2)",  # numpy, but not its global generator
    ],
)
def test_a_later_step_that_does_not_need_the_seed(tmp_path: Path, later: str) -> None:
    cells = [IMPORTS, code("np.random.seed(0)\nx = 1", "step:a"), code(later, "step:b")]
    assert lost(tmp_path, cells) == []


def test_aliases_helpers_and_every_later_step_are_named(tmp_path: Path) -> None:
    got = lost(
        tmp_path,
        [
            code("import torch\nfrom numpy import random as npr", "imports"),
            code(
                "def seed_everything(s):\n    torch.manual_seed(s)\n\n"
                "def noise():\n    return torch.randn(2)",
                "functions",
            ),
            code("x = 1\nnpr.seed(3)\nseed_everything(3)", "step:a"),
            code("import numpy\ny = numpy.random.rand(2)", "step:b"),
            code("z = noise()", "step:c"),  # runs beside b, after a in the notebook
        ],
    )
    assert [(w.line, w.message.split(" sets ")[0]) for w in got] == [
        (2, "'npr.seed(3)'"),
        (3, "'seed_everything(3)'"),
    ]
    assert "later step 'b'" in got[0].message and "torch" in got[1].message
    assert "later step 'c'" in got[1].message


@pytest.mark.parametrize(
    ("imports", "setter", "later"),
    [
        ("import pandas as pd", "pd.set_option('display.max_rows', 5)", "y = pd.DataFrame()"),
        ("import pandas as pd", "pd.options.display.precision = 2", "y = pd.Series([1.0])"),
        ("import numpy as np", "np.set_printoptions(precision=2)", "print(np.ones(2))"),
        ("import sklearn", "sklearn.set_config(transform_output='pandas')", "y = sklearn.base"),
        ("import warnings", "warnings.filterwarnings('error')", "warnings.warn('w')"),
        ("import matplotlib.pyplot as plt", "plt.rcParams['lines.linewidth'] = 3", "plt.plot([1])"),
        ("import matplotlib as mpl", "mpl.rcParams.update({'lines.linewidth': 3})", "y = mpl"),
        ("import sys", "sys.path.append('/opt/lib')", "import mylib"),
        ("import logging", "logging.basicConfig(level=logging.INFO)", "logging.info('hi')"),
        ("import os\nimport pandas as pd", "os.chdir('/data')", "y = pd.read_csv('train.csv')"),
        ("import tensorflow as tf", "tf.random.set_seed(1)", "y = tf.random.uniform((2,))"),
    ],
)
def test_every_kind_of_process_state(tmp_path: Path, imports: str, setter: str, later: str) -> None:
    got = lost(
        tmp_path,
        [code(imports, "imports"), code(f"x = 1\n{setter}", "step:a"), code(later, "step:b")],
    )
    assert [(w.cell, w.line, w.step) for w in got] == [(2, 2, "a")], [str(w) for w in got]
    assert "move it into the imports (or functions) cell" in (got[0].fix or "")


@pytest.mark.parametrize(
    ("setter", "later", "warned"),
    [
        ("os.environ['MODE'] = 'x'", "home = os.environ.get('HOME')", False),
        ("os.environ['MODE'] = 'x'", "home = os.getenv('HOME', 'none')", False),
        ("os.environ['MODE'] = 'x'", "home = os.environ['HOME']", False),
        ("os.environ['MODE'] = 'x'", "on = 'HOME' in os.environ", False),
        ("os.environ['MODE'] = 'x'", "mode = os.environ.get('MODE')", True),
        ("os.environ['MODE'] = 'x'", "on = 'MODE' in os.environ", True),
        ("os.putenv('MODE', 'x')", "mode = os.getenv('MODE')", True),
        ("os.environ.update({'MODE': 'x'})", "home = os.getenv('HOME')", False),
        ("os.environ['MODE'] = 'x'", "var = 'MODE'\nv = os.environ[var]", True),
        ("os.environ['MODE'] = 'x'", "env = dict(os.environ)", True),
        ("os.environ['MODE'] = 'x'", "import subprocess\nsubprocess.run(['env'])", True),
        ("name = 'MODE'\nos.environ[name] = 'x'", "home = os.getenv('HOME')", True),
    ],
)
def test_environment_warned_only_for_the_variable_set_or_any(
    tmp_path: Path, setter: str, later: str, warned: bool
) -> None:
    """A later step that reads another variable by its name does not depend on the one set; one
    that reads it, or reads variables it does not name (`os.environ[var]`), may."""
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [IMPORTS, code(f"x = 1\n{setter}", "step:prep"), code(later, "step:train", "prev:prep")],
    )
    said = [w for w in inspect_json(nb)["warnings"] if "sets environment variables" in w["message"]]
    assert [(w["step"], "'train'" in w["message"]) for w in said] == (
        [("prep", True)] if warned else []
    )
