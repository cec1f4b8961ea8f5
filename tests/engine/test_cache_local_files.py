"""A module beside the notebook that a step imports is part of the step's cache key, and a failed
run's summary says how to re-run after fixing the notebook (not only `runs resume`, which
retries the run's own, unfixed programs)."""

from __future__ import annotations

from pathlib import Path

from engine_support import kfpj, show, states
from nbutil import code, make_notebook

from kfp_jupyter.engine.plan import Plan, plan_from_pipeline
from kfp_jupyter.loader import load_notebook


def _project(folder: Path) -> Path:
    """`scaled` imports features.py (which imports scaling.py), `packed` the package tools/,
    `plain` nothing of the folder's."""
    folder.mkdir()
    (folder / "features.py").write_text(
        "from scaling import FACTOR\n\n\ndef add_features(v):\n    return v * FACTOR\n"
    )
    (folder / "scaling.py").write_text("FACTOR = 10\n")
    (folder / "tools").mkdir()
    (folder / "tools" / "__init__.py").write_text("from .core import OFFSET\n")
    (folder / "tools" / "core.py").write_text("OFFSET = 1\n")
    return make_notebook(
        folder / "nb.ipynb",
        [
            code("base = 2", "step:start"),
            code("from features import add_features\nscaled = add_features(base)", "step:scaled"),
            code("import tools\npacked = base + tools.OFFSET", "step:packed"),
            code("plain = base + 100", "step:plain"),
            code("scaled\npacked\nplain", "pipeline-metrics"),
        ],
    )


def _run(nb: Path, store: Path) -> dict[str, object]:
    p = kfpj("run", nb, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    return show(store)


def test_editing_a_module_beside_the_notebook_reruns_the_steps_that_import_it(
    tmp_path: Path,
) -> None:
    nb, store = _project(tmp_path / "project"), tmp_path / "store"
    first = _run(nb, store)
    assert first["metrics"] == {"scaled": 20.0, "packed": 3.0, "plain": 102.0}
    # nothing changed: everything is reused
    assert set(states(_run(nb, store)).values()) == {"CACHED"}

    # a module a step's module imports
    (nb.parent / "scaling.py").write_text("FACTOR = 100\n")
    edited = _run(nb, store)
    assert states(edited) == {
        "start": "CACHED",
        "scaled": "SUCCEEDED",
        "packed": "CACHED",
        "plain": "CACHED",
    }
    assert edited["metrics"] == {"scaled": 200.0, "packed": 3.0, "plain": 102.0}

    # a file inside a package folder
    (nb.parent / "tools" / "core.py").write_text("OFFSET = 5\n")
    edited = _run(nb, store)
    assert states(edited) == {
        "start": "CACHED",
        "scaled": "CACHED",
        "packed": "SUCCEEDED",
        "plain": "CACHED",
    }
    assert edited["metrics"] == {"scaled": 200.0, "packed": 7.0, "plain": 102.0}


def test_module_digests_are_taken_when_planned_and_kept_by_the_plan(tmp_path: Path) -> None:
    """A resumed run executes its stored plan: the digests in it, not the files as they are now,
    decide its keys."""
    nb = _project(tmp_path / "project")
    plan = plan_from_pipeline(load_notebook(nb))
    modules = {s.name: dict(s.modules) for s in plan.steps}
    assert set(modules["scaled"]) == {"features", "scaling"}
    assert set(modules["packed"]) == {"tools"}
    assert modules["start"] == modules["plain"] == {}
    assert Plan.from_json(plan.to_json()) == plan
    (nb.parent / "features.py").write_text(
        "from scaling import FACTOR\n\n\ndef add_features(v):\n    return v + FACTOR\n"
    )
    again = plan_from_pipeline(load_notebook(nb))
    assert dict(again.step("scaled").modules)["features"] != modules["scaled"]["features"]
    assert dict(again.step("scaled").modules)["scaling"] == modules["scaled"]["scaling"]


def test_a_failed_run_says_to_fix_the_notebook_and_run_it_again(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "f.ipynb",
        [code("a = 1", "step:ok"), code("b = a / 0", "step:broken")],
    )
    p = kfpj("run", nb, store=tmp_path / "store")
    assert p.returncode == 1, p.stdout + p.stderr
    run = show(tmp_path / "store")["id"]
    assert "fixed the notebook? run it again (finished steps come from the cache)" in p.stdout
    assert f"kfp-jupyter runs resume {run}  (retries the same code: a flaky failure)" in p.stdout
