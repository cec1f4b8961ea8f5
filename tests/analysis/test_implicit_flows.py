"""Data a step takes in that no plain read shows. A variable a step sets on some paths only
(under an `if`, in a loop, in a `try`) keeps, on the other paths, the value it had before the
step, as in the notebook: the step takes that value in too; with no value before it, a run that
takes none of the paths fails naming the variable, never handing on something else. And a helper
an earlier step defines changes what a later step passes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_support import kfpj, show, states
from nbutil import code, make_notebook

from kfp_jupyter import NotebookError, load_notebook


def _flows(nb: Path) -> dict[str, dict[str, str]]:
    return {s.name: {i.name: i.producer for i in s.inputs} for s in load_notebook(nb).steps}


def _notebook(tmp_path: Path, middle: str, *tags: str) -> Path:
    return make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("retrain = False", "pipeline-parameters"),
            code("model = 'pretrained'", "step:load"),
            code(middle, "step:train", *tags),
            code("print('SERVE', model)", "step:serve"),
        ],
    )


@pytest.mark.parametrize(
    ("middle", "takes_it"),
    [
        ("if retrain:\n    model = 'retrained'", True),
        ("if retrain:\n    model = 'retrained'\nelif model == 'x':\n    model = 'y'", True),
        ("for epoch in range(int(retrain)):\n    model = f'epoch {epoch}'", True),
        ("while retrain:\n    model = 'retrained'\n    break", True),
        (
            "try:\n    model = 'retrained' if retrain else 1 / 0\nexcept ZeroDivisionError:\n    pass",
            True,
        ),
        ("if retrain:\n    model = 'retrained'\nelse:\n    model = 'fresh'", False),
        (
            "try:\n    model = str(1 / int(retrain))\nexcept ZeroDivisionError:\n    model = 'none'",
            False,
        ),
        ("if not retrain:\n    raise SystemExit('no')\nmodel = 'retrained'", False),
    ],
)
def test_a_variable_set_on_some_paths_takes_the_value_from_before(
    tmp_path: Path, middle: str, takes_it: bool
) -> None:
    flows = _flows(_notebook(tmp_path, middle, "prev:load"))
    assert ("model" in flows["train"]) is takes_it, flows
    assert flows["serve"] == {"model": "train"}


def test_the_run_hands_on_the_value_the_notebook_would_have(tmp_path: Path) -> None:
    nb = _notebook(tmp_path, "if retrain:\n    model = 'retrained'", "prev:load")
    store = tmp_path / "store"
    for value, served in (("False", "SERVE pretrained"), ("True", "SERVE retrained")):
        r = kfpj("run", nb, "-p", f"retrain={value}", store=store)
        assert r.returncode == 0, r.stdout + r.stderr
        logs = kfpj("runs", "logs", "latest", "serve", store=store)
        assert served in logs.stdout, logs.stdout + logs.stderr


def test_with_no_value_before_a_run_that_sets_nothing_fails_naming_it(tmp_path: Path) -> None:
    cells: list[Any] = [
        code("retrain = False", "pipeline-parameters"),
        code("if retrain:\n    model = 'retrained'", "step:train"),
        code("print('SERVE', model)", "step:serve"),
    ]
    nb = make_notebook(tmp_path / "nb.ipynb", cells)
    store = tmp_path / "store"
    r = kfpj("run", nb, store=store)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "step 'train' did not set 'model'" in out, out
    assert "_KfpjArtifact" not in out
    assert states(show(store)) == {
        "train": "FAILED",
        "serve": "SKIPPED",
    }


def test_a_helper_an_earlier_step_defines_changes_what_a_later_step_passes_it(
    tmp_path: Path,
) -> None:
    """`add_features(df)` in a later step changes `df` as it would in the step defining the
    helper: the changed `df` is what the step after it gets."""
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code(
                "df = {'price': [1, 2]}\n"
                "def add_features(frame):\n"
                "    frame['double'] = [p * 2 for p in frame['price']]",
                "step:load",
            ),
            code("add_features(df)", "step:features"),
            code("print('COLUMNS', sorted(df))", "step:train"),
        ],
    )
    assert _flows(nb)["train"] == {"df": "features"}
    store = tmp_path / "store"
    r = kfpj("run", nb, store=store)
    assert r.returncode == 0, r.stdout + r.stderr
    logs = kfpj("runs", "logs", "latest", "train", store=store)
    assert "COLUMNS ['double', 'price']" in logs.stdout, logs.stdout + logs.stderr


def test_a_variable_changed_through_an_object_built_around_it_is_refused_where_read(
    tmp_path: Path,
) -> None:
    """`opt = Optimizer(weights)` in one step, `opt.step()` in the next: in the notebook that
    changes `weights`; between steps each variable travels alone, so a later step reading
    `weights` would not see the change. Said with the step, cell and line, and what to do."""
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code(
                "class Optimizer:\n    def __init__(self, w):\n        self.w = w\n"
                "    def step(self):\n        self.w[0] += 1",
                "functions",
            ),
            code("weights = [0.0, 0.0]\nopt = Optimizer(weights)", "step:setup"),
            code("for _ in range(10):\n    opt.step()", "step:train"),
            code("print('ok')\nscore = sum(weights)", "step:evaluate"),
        ],
    )
    with pytest.raises(NotebookError) as e:
        load_notebook(nb)
    (p,) = e.value.problems
    assert (p.step, p.cell, p.line) == ("evaluate", 4, 2)
    assert "which step 'train' changes through 'opt'" in p.message
    assert p.fix and "'opt'" in p.fix
