"""Wrong cache hits found by a review of the cache key: a step shown CACHED whose result would
differ if it ran. A dict parameter's key order, the local modules of a notebook step, a
namespace package beside the notebook, and a module edited after the run was planned (during the
run, or before `runs resume`) must each make the step run again."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from engine_support import kfpj, show, states
from nbutil import code, make_notebook

from kfp_jupyter.engine.cache import cache_key, program_fingerprint
from kfp_jupyter.engine.digest import ALGORITHM, new_hasher
from kfp_jupyter.engine.plan import PlanStep, plan_from_pipeline
from kfp_jupyter.loader import load_notebook


def _run(nb: Path, store: Path, *args: str) -> tuple[dict[str, object], str]:
    p = kfpj("run", nb, *args, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    return show(store), p.stdout + p.stderr


# --- a dict parameter's key order ---------------------------------------------------------------


def test_a_dict_parameter_in_another_key_order_runs_the_step_again(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code('weights = {"a": 1, "b": 2}', "pipeline-parameters"),
            code("first = weights[list(weights)[0]]", "step:first_weight"),
            code("first", "pipeline-metrics"),
        ],
    )
    store = tmp_path / "store"
    assert _run(nb, store)[0]["metrics"] == {"first": 1.0}
    again, _ = _run(nb, store, "-p", 'weights={"b": 2, "a": 1}')
    assert states(again) == {"first_weight": "SUCCEEDED"}
    assert again["metrics"] == {"first": 2.0}
    # the same order as before is the same key
    same, _ = _run(nb, store, "-p", 'weights={"a": 1, "b": 2}')
    assert states(same) == {"first_weight": "CACHED"}


def _format_2_key(step: PlanStep, parameters: dict[str, object], inputs: dict[str, str]) -> str:
    """The key as format 2 has always computed it (before dict parameters kept their order)."""
    data = {
        "format": 2,
        "program": program_fingerprint(step.program),
        "inputs": inputs,
        "parameters": {p: parameters[p] for p in step.parameters},
        "packages": {},
        "image": step.image,
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
    }
    hasher = new_hasher(ALGORITHM)
    hasher.update(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    return f"{ALGORITHM}:{hasher.hexdigest()}"


def test_keys_change_only_for_dict_parameters_whose_order_sorting_loses() -> None:
    """Existing caches stay valid: the key of any other parameter value is what it was."""
    step = PlanStep(
        name="s",
        program="x = a + k\n",
        after=(),
        inputs=(("a", "up"),),
        outputs=("x",),
        parameters=("k", "l"),
        metrics=(),
        packages=(),
        image="python:3.11",
        cache=True,
        retries=0,
        timeout=None,
    )
    inputs = {"a": "blake3:aa"}
    for params in (
        {"k": 1, "l": [1, 2.5, "x", None, True]},
        {"k": "text", "l": [[1], []]},
        {"k": {"a": 1, "b": {"c": 2, "d": [3]}}, "l": [{"a": 1, "b": 2}]},  # sorted already
    ):
        assert cache_key(step, params, inputs) == _format_2_key(step, params, inputs)
    unsorted = {"k": {"b": 2, "a": 1}, "l": []}
    assert cache_key(step, unsorted, inputs) != _format_2_key(step, unsorted, inputs)
    assert cache_key(step, unsorted, inputs) != cache_key(
        step, {"k": {"a": 1, "b": 2}, "l": []}, inputs
    )
    # nor does a value that looks like the stand-in of an ordered dict take its key
    text = json.dumps({"b": 2, "a": 1}, separators=(",", ":"))
    lookalike = {"k": {"kfp-jupyter:key-order": text}, "l": []}
    assert cache_key(step, lookalike, inputs) != cache_key(step, unsorted, inputs)


# --- notebook steps and their modules ------------------------------------------------------------

needs_kernel = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("nbclient", "ipykernel")),
    reason="notebook steps need nbclient and ipykernel",
)


def _child_project(folder: Path) -> Path:
    (folder / "children").mkdir(parents=True)
    (folder / "helper.py").write_text("K = 5\n", encoding="utf-8")  # hidden by the child's
    (folder / "children" / "helper.py").write_text("K = 2\n", encoding="utf-8")
    make_notebook(
        folder / "children" / "child.ipynb",
        [
            code("%env MAGIC_LINE=1\nfrom helper import K\nk = K * 10"),
            code("k", "pipeline-metrics"),
        ],
    )
    return make_notebook(
        folder / "nb.ipynb", [code("", "step:child", "notebook:children/child.ipynb")]
    )


def test_a_notebook_step_keys_the_modules_its_notebook_imports(tmp_path: Path) -> None:
    nb = _child_project(tmp_path / "project")
    planned = dict(plan_from_pipeline(load_notebook(nb)).step("child").modules)
    assert set(planned) == {"helper"}
    (nb.parent / "helper.py").write_text("K = 50\n", encoding="utf-8")  # not what it imports
    assert dict(plan_from_pipeline(load_notebook(nb)).step("child").modules) == planned
    (nb.parent / "children" / "helper.py").write_text("K = 30\n", encoding="utf-8")
    assert dict(plan_from_pipeline(load_notebook(nb)).step("child").modules) != planned


@needs_kernel
def test_editing_a_child_notebooks_module_runs_the_notebook_step_again(tmp_path: Path) -> None:
    nb, store = _child_project(tmp_path / "project"), tmp_path / "store"
    assert _run(nb, store)[0]["metrics"] == {"k": 20.0}
    # (a size other than the old one: Python's bytecode cache cannot take it for the old file)
    (nb.parent / "children" / "helper.py").write_text("K = 30\n", encoding="utf-8")
    again, _ = _run(nb, store)
    assert states(again) == {"child": "SUCCEEDED"}
    assert again["metrics"] == {"k": 300.0}


@needs_kernel
def test_editing_a_module_a_plain_notebook_imports_runs_it_again(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("K = 1\n", encoding="utf-8")
    nb = make_notebook(
        tmp_path / "plain.ipynb",
        [code("from helper import K\nk = K * 100"), code("k", "pipeline-metrics")],
    )
    store = tmp_path / "store"
    assert _run(nb, store)[0]["metrics"] == {"k": 100.0}
    assert set(states(_run(nb, store)[0]).values()) == {"CACHED"}
    (tmp_path / "helper.py").write_text("K = 50\n", encoding="utf-8")
    again, _ = _run(nb, store)
    assert set(states(again).values()) == {"SUCCEEDED"}
    assert again["metrics"] == {"k": 5000.0}


# --- a namespace package beside the notebook -----------------------------------------------------


def test_editing_a_folder_without_init_that_a_step_imports_runs_it_again(tmp_path: Path) -> None:
    (tmp_path / "nspkg").mkdir()
    (tmp_path / "nspkg" / "mod.py").write_text("V = 1\n", encoding="utf-8")
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("from nspkg.mod import V\nv = V", "step:uses_folder"),
            code("w = 3", "step:other"),
            code("v\nw", "pipeline-metrics"),
        ],
    )
    store = tmp_path / "store"
    assert _run(nb, store)[0]["metrics"] == {"v": 1.0, "w": 3.0}
    (tmp_path / "nspkg" / "mod.py").write_text("V = 200\n", encoding="utf-8")
    again, _ = _run(nb, store)
    assert states(again) == {"uses_folder": "SUCCEEDED", "other": "CACHED"}
    assert again["metrics"] == {"v": 200.0, "w": 3.0}


def test_a_folder_named_like_an_installed_module_is_not_keyed(tmp_path: Path) -> None:
    """`import json` imports the standard library's, not a `json/` folder without
    `__init__.py` beside the notebook: editing that folder must not re-run the step."""
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "notes.py").write_text("X = 1\n", encoding="utf-8")
    (tmp_path / "nspkg").mkdir()
    (tmp_path / "nspkg" / "mod.py").write_text("V = 1\n", encoding="utf-8")
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("import json\nimport nspkg.mod\nv = len(json.dumps(nspkg.mod.V))", "step:s")],
    )
    assert set(dict(plan_from_pipeline(load_notebook(nb)).step("s").modules)) == {"nspkg"}


# --- a module edited after the run was planned ---------------------------------------------------


def test_a_module_edited_during_the_run_does_not_poison_the_cache(tmp_path: Path) -> None:
    """`edit` stands for the user editing features.py while the run runs (between planning and
    the step that imports it): `use` imports the edited file, so its result must not be found
    under the key of the file as planned."""
    (tmp_path / "features.py").write_text("K = 1\n", encoding="utf-8")
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code(
                "with open('features.py', 'w') as f:\n    f.write('K = 200\\n')\nmark = 1",
                "step:edit",
            ),
            code("import features\ny = features.K + mark - 1", "step:use"),
            code("y", "pipeline-metrics"),
        ],
    )
    store = tmp_path / "store"
    first, out = _run(nb, store)
    assert first["metrics"] == {"y": 200.0}  # the run keeps what its step computed
    assert "the local module 'features' of step 'use' changed after the run was planned" in out
    assert "its result is not cached" in out

    (tmp_path / "features.py").write_text("K = 1\n", encoding="utf-8")  # the planned content
    again, _ = _run(nb, store)
    assert states(again) == {"edit": "CACHED", "use": "SUCCEEDED"}
    assert again["metrics"] == {"y": 1.0}
    # a run whose modules stayed as planned is cached as always
    assert set(states(_run(nb, store)[0]).values()) == {"CACHED"}


def test_a_module_edited_before_runs_resume_does_not_poison_the_cache(tmp_path: Path) -> None:
    broken = 'def scale(x):\n    raise RuntimeError("v1 is broken")\n'
    (tmp_path / "features.py").write_text(broken, encoding="utf-8")
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("x = 10", "step:first"),
            code("import features\ny = features.scale(x)", "step:second"),
            code("y", "pipeline-metrics"),
        ],
    )
    store = tmp_path / "store"
    assert kfpj("run", nb, store=store).returncode == 1
    (tmp_path / "features.py").write_text("def scale(x):\n    return x * 3\n", encoding="utf-8")
    resumed = kfpj("runs", "resume", "latest", store=store)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "'features' of step 'second' changed after the run was planned" in resumed.stdout
    assert show(store)["metrics"] == {"y": 30.0}

    # back to the module the resumed run was planned with: its key, but not its result
    (tmp_path / "features.py").write_text(broken, encoding="utf-8")
    p = kfpj("run", nb, store=store)
    assert p.returncode == 1, p.stdout + p.stderr
    assert states(show(store)) == {"first": "CACHED", "second": "FAILED"}
