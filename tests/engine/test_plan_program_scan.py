"""Planning reads a Python step's program in two parts: the step's own code (its cells and the
code generated around them), and the runtime every step's program carries, which is the same
text in each and is read once. What the cache key finds must be what a scan of the whole
program finds (the runner checks the modules again that way once a step has succeeded): a
module imported anywhere in the step's cells, the imports cell or the functions cell is in its
key, and so is one that the runtime parts the step carries import (a file of that name beside
the notebook would be imported instead of the installed one); one that only a part the step
does not carry imports, or that is only named in a comment, is not."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from engine_support import kfpj, show, states
from nbutil import code, make_notebook

from kfp_jupyter.engine.cache import cache_key
from kfp_jupyter.engine.plan import Plan, module_digests, plan_from_pipeline
from kfp_jupyter.loader import load_notebook
from kfp_jupyter.packaging.program import build_program

FUNCTIONS = "def helper(x):\n    import helper_mod\n\n    return x + helper_mod.N\n"


def _notebook(folder: Path) -> Path:
    """`first` saves a variable (its runtime saves), `uses` loads one (its runtime loads too),
    `quiet` neither (no runtime in its function)."""
    return make_notebook(
        folder / "nb.ipynb",
        [
            code("import sys\n\nsys.path.insert(0, 'lib')\nimport cell_mod", "imports"),
            code(FUNCTIONS, "functions"),
            code("a = 1", "step:first"),
            code("import step_mod\n\nb = helper(a) + step_mod.N  # named_mod", "step:uses"),
            code("import lib_mod\n\nprint(lib_mod.N, 'named_mod')", "step:quiet"),
            code("b", "pipeline-metrics"),
        ],
    )


def _modules(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("N = 1\n")


def _plan(nb: Path) -> Plan:
    return plan_from_pipeline(load_notebook(nb))


def test_a_step_s_key_holds_the_modules_its_whole_program_imports(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    # joblib: the runtime's save part imports it; pandas: only its load part; linecache: the
    # main's error report, in every program
    _modules(folder, "cell_mod", "helper_mod", "step_mod", "named_mod", "lib/lib_mod")
    _modules(folder, "joblib", "pandas", "linecache")
    plan = _plan(_notebook(folder))

    modules = {s.name: set(dict(s.modules)) for s in plan.steps}
    every = {"cell_mod", "helper_mod", "linecache"}
    assert modules == {
        "first": every | {"joblib"},
        "uses": every | {"joblib", "pandas", "step_mod"},
        "quiet": every | {"lib_mod"},
    }
    for step in plan.steps:  # the runner's check after the step: the same modules
        assert module_digests(step.kind, step.program, folder) == step.modules


def test_a_module_only_a_helper_imports_reruns_every_step_and_a_step_s_only_its_own(
    tmp_path: Path,
) -> None:
    folder, store = tmp_path / "project", tmp_path / "store"
    _modules(folder, "cell_mod", "helper_mod", "step_mod", "lib/lib_mod")
    nb = _notebook(folder)

    def ran() -> set[str]:
        p = kfpj("run", nb, store=store)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "changed after the run was planned" not in p.stdout + p.stderr
        return {name for name, state in states(show(store)).items() if state == "SUCCEEDED"}

    assert ran() == {"first", "uses", "quiet"}
    assert ran() == set()
    (folder / "helper_mod.py").write_text("N = 2\n")  # every program holds the functions cell
    assert ran() == {"first", "uses", "quiet"}
    (folder / "step_mod.py").write_text("N = 3\n")
    assert ran() == {"uses"}
    assert show(store)["metrics"] == {"b": 6}


def test_a_helper_named_only_by_the_runtime_a_step_carries_is_in_its_key(
    tmp_path: Path,
) -> None:
    """The words of a step's whole program count as uses of the functions cell's helpers,
    the runtime's too (`tell` is a method of its file writer): editing such a helper re-runs
    the steps whose runtime names it, not the others."""
    folder = tmp_path / "project"

    def keys(body: str) -> dict[str, str]:
        functions = f"def tell(x):\n    return x + {body}\n\n\ndef other(x):\n    return x\n"
        nb = make_notebook(
            folder / "nb.ipynb",
            [
                code(functions, "functions"),
                code("a = 1", "step:saves"),
                code("print(2)", "step:quiet"),
                code("b = a", "step:after"),
            ],
        )
        plan = _plan(nb)
        return {s.name: cache_key(s, {}, {v: "blake3:0" for v, _ in s.inputs}) for s in plan.steps}

    before, after = keys("1"), keys("2")
    assert before["saves"] != after["saves"]
    assert before["quiet"] == after["quiet"]


def test_a_step_s_own_code_leaves_out_the_shared_runtime(tmp_path: Path) -> None:
    """What makes planning many steps fast: the part scanned for each step is its own, the
    runtime it carries (the same in every step) is apart; each parses alone."""
    _modules(tmp_path, "cell_mod", "helper_mod", "step_mod", "lib/lib_mod")
    pipeline = load_notebook(_notebook(tmp_path))
    for step in pipeline.steps:
        program = build_program(pipeline, step)
        own = program.own_code()
        outer, runtime = program.shared_runtime()
        assert program.plain_program().startswith(outer)
        assert bool(runtime) == (step.name != "quiet")
        defined = re.findall(r"def (_kfpj_\w+)\(", outer + runtime)
        assert "_kfpj_main" in defined
        assert not [name for name in defined if f"def {name}(" in own]
        for text in (own, outer, runtime):
            ast.parse(text)
