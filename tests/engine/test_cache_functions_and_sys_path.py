"""Two cache-key findings of the cache review: editing one helper of the functions cell re-ran
every step (now only the steps that can call it re-run, and every step when the analysis cannot
be sure), and a module found through a literal `sys.path.insert(0, "src")` was not in the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_support import kfpj, show, states
from nbutil import code, make_notebook

from kfp_jupyter.engine.cache import functions_in_key
from kfp_jupyter.engine.plan import plan_from_pipeline
from kfp_jupyter.loader import load_notebook

HELPERS = """\
def helper_a(x):
    return x + 1

def helper_b(x):
    return helper_c(x) * 2

def helper_c(x):
    return x + 100
"""


def _notebook(path: Path, functions: str, step_a: str = "a = helper_a(n)") -> Path:
    return make_notebook(
        path,
        [
            code("import math", "imports"),
            code(functions, "functions"),
            code("n = 3", "pipeline-parameters"),
            code(step_a, "step:sa"),
            code("b = helper_b(5)", "step:sb"),
            code("w = math.floor(n / 2)", "step:sw"),
            code("total = a + b + w", "step:final", "prev:sa", "prev:sb"),
            code("total", "pipeline-metrics"),
        ],
    )


def _run(nb: Path, store: Path, *args: str) -> dict[str, Any]:
    p = kfpj("run", nb, *args, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    return show(store)


def _ran(summary: dict[str, Any]) -> set[str]:
    return {name for name, state in states(summary).items() if state == "SUCCEEDED"}


def _edit_and_run(
    nb: Path, store: Path, functions: str, step_a: str = "a = helper_a(n)"
) -> set[str]:
    """The steps that ran after the edit; the metrics are checked against a run without cache."""
    _notebook(nb, functions, step_a)
    summary = _run(nb, store)
    assert summary["metrics"] == _run(nb, store, "--no-cache")["metrics"]
    return _ran(summary)


# --- the functions cell -------------------------------------------------------------------------


def test_editing_a_helper_re_runs_only_the_steps_that_can_call_it(tmp_path: Path) -> None:
    nb, store = _notebook(tmp_path / "nb.ipynb", HELPERS), tmp_path / "store"
    assert _run(nb, store)["metrics"] == {"total": 4.0 + 210.0 + 1.0}
    # helper_a: only step sa calls it (final re-runs because its input a changed)
    edited = HELPERS.replace("x + 1\n", "x + 10\n")
    assert _edit_and_run(nb, store, edited) == {"sa", "final"}
    # helper_c is called through helper_b, which only sb calls
    edited = edited.replace("x + 100", "x + 200")
    assert _edit_and_run(nb, store, edited) == {"sb", "final"}
    assert show(store)["metrics"] == {"total": 13.0 + 410.0 + 1.0}


UNSURE = {
    "a decorated helper (a decorator may register it)": (
        "import functools\n\n@functools.lru_cache\ndef helper_d(x):\n    return 1\n",
        ("return 1", "return 2"),
    ),
    "a class": ("class Config:\n    size = 1\n", ("size = 1", "size = 2")),
    "a default argument, evaluated when the helper is defined": (
        "def helper_u(x=1):\n    return x\n",
        ("x=1", "x=2"),
    ),
    "a functions cell that reads globals()": (
        "NAMES = sorted(globals())\n",
        ("x + 1\n", "x + 10\n"),
    ),
}


@pytest.mark.parametrize("case", UNSURE)
def test_edits_the_analysis_cannot_place_re_run_every_step(tmp_path: Path, case: str) -> None:
    extra, (old, new) = UNSURE[case]
    nb, store = _notebook(tmp_path / "nb.ipynb", HELPERS + "\n" + extra), tmp_path / "store"
    _run(nb, store)
    edited = HELPERS.replace(old, new) + "\n" + extra.replace(old, new)
    assert _edit_and_run(nb, store, edited) == {"sa", "sb", "sw", "final"}


def test_a_step_that_finds_a_helper_by_a_computed_name_re_runs(tmp_path: Path) -> None:
    """`eval` sees the helpers: a name built at run time may be any of them."""
    step_a = 'a = eval("helper_" + "c")(n)'
    nb, store = _notebook(tmp_path / "nb.ipynb", HELPERS, step_a), tmp_path / "store"
    _run(nb, store)
    edited = HELPERS.replace("x + 100", "x + 200")
    assert _edit_and_run(nb, store, edited, step_a) == {"sa", "sb", "final"}
    assert show(store)["metrics"] == {"total": 203.0 + 410.0 + 1.0}


def test_keys_stay_as_they_were_when_every_helper_is_reached(tmp_path: Path) -> None:
    """Existing caches stay valid: nothing is left out, so the key is the whole program's."""
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code(HELPERS, "functions"),
            code("a = helper_a(1) + helper_b(2)", "step:s"),
        ],
    )
    plan = plan_from_pipeline(load_notebook(nb))
    assert plan.step("s").program_key == ""
    assert "program_key" not in plan.to_json()


def test_the_cell_is_kept_whole_when_some_code_does_not_parse() -> None:
    assert functions_in_key(HELPERS, ["a = helper_a(1"]) == HELPERS
    assert functions_in_key(HELPERS + "x = (", ["a = helper_a(1)"]) == HELPERS + "x = ("
    # lines the parser and str.splitlines would count apart
    odd = HELPERS.replace("x + 100", "len('\f') + 100")
    assert functions_in_key(odd, ["a = helper_a(1)"]) == odd
    kept = functions_in_key(HELPERS, ["a = helper_a(1)"])
    assert "x + 1" in kept and "x + 100" not in kept and "def helper_c(x):" in kept


# --- sys.path -----------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["sys.path.insert(0, 'src')", "sys.path.append({absolute!r})"])
def test_a_module_found_through_a_literal_sys_path_call_is_in_the_key(
    tmp_path: Path, call: str
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "srcmod.py").write_text("W = 1000\n", encoding="utf-8")
    imports = "import sys\n" + call.format(absolute=str(tmp_path / "src"))
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code(imports, "imports"),
            code("import srcmod\nv = srcmod.W", "step:uses_src"),
            code("w = 3", "step:other"),
            code("v\nw", "pipeline-metrics"),
        ],
    )
    assert dict(plan_from_pipeline(load_notebook(nb)).step("uses_src").modules).keys() == {"srcmod"}
    store = tmp_path / "store"
    assert _run(nb, store)["metrics"] == {"v": 1000.0, "w": 3.0}
    (tmp_path / "src" / "srcmod.py").write_text("W = 2000\n", encoding="utf-8")
    again = _run(nb, store)
    assert states(again) == {"uses_src": "SUCCEEDED", "other": "CACHED"}
    assert again["metrics"] == {"v": 2000.0, "w": 3.0}
