"""A module imported by a call with a literal name (`importlib.import_module("helpers")`,
`__import__("helpers")`) is one the step imports: editing it re-runs the step (it was reused
from the cache with the old module's results), and an installed package imported so is one the
step's container installs."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_support import kfpj, show, states
from nbutil import code, make_notebook

from kfp_jupyter.analysis.packages import imported_modules
from kfp_jupyter.loader import load_notebook


@pytest.mark.parametrize(
    "call",
    [
        "importlib.import_module('helpers')",
        "__import__('helpers')",
        "import_module('helpers')",
    ],
)
def test_editing_a_module_imported_by_name_reruns_the_step(tmp_path: Path, call: str) -> None:
    (tmp_path / "helpers.py").write_text("VALUE = 1\n")
    head = "import importlib\nfrom importlib import import_module\n"
    nb = make_notebook(
        tmp_path / "dyn.ipynb",
        [
            code(f"{head}m = {call}\nv = m.VALUE", "step:a"),
            code("w = v * 10", "step:b"),
            code("w", "pipeline-metrics"),
        ],
    )
    store = tmp_path / "store"

    def run() -> dict[str, str]:
        p = kfpj("run", nb, store=store)
        assert p.returncode == 0, p.stdout + p.stderr
        return states(show(store))

    assert run() == {"a": "SUCCEEDED", "b": "SUCCEEDED"}
    assert run() == {"a": "CACHED", "b": "CACHED"}
    (tmp_path / "helpers.py").write_text("VALUE = 2\n")
    assert run() == {"a": "SUCCEEDED", "b": "SUCCEEDED"}
    assert show(store)["metrics"] == {"w": 20}


def test_only_a_literal_absolute_name_is_read() -> None:
    code_text = (
        "import importlib\n"
        "a = importlib.import_module('yaml')\n"
        "b = importlib.import_module(name)\n"  # computed: cannot be known
        "c = importlib.import_module('.sub', 'pkg')\n"  # relative: its package's
        "d = other.import_module('nope')\n"  # not importlib's
    )
    assert set(imported_modules(code_text)) == {"yaml", "importlib"}


def test_a_package_imported_by_name_is_installed_in_the_step(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "p.ipynb",
        [code("import importlib\nyaml = importlib.import_module('yaml')\nx = 1", "step:a")],
    )
    [step] = load_notebook(nb).steps
    assert any(p.lower().startswith("pyyaml") for p in step.packages), step.packages
