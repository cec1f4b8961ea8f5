"""The step graph and the variables that flow along it, on notebooks of real shape, and every
error the analysis reports (each with its cell, its step and a fix)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from nbutil import code, make_notebook, md

from kfp_jupyter import NotebookError, Pipeline, load_notebook

if TYPE_CHECKING:
    from kfp_jupyter.errors import Problem


def load(tmp_path: Path, cells: list[Any], metadata: dict[str, Any] | None = None) -> Pipeline:
    return load_notebook(make_notebook(tmp_path / "nb.ipynb", cells, metadata))


def problems(tmp_path: Path, cells: list[Any]) -> list[Problem]:
    with pytest.raises(NotebookError) as e:
        load(tmp_path, cells)
    return e.value.problems


def one_problem(tmp_path: Path, cells: list[Any]) -> Problem:
    probs = problems(tmp_path, cells)
    assert len(probs) == 1, [str(p) for p in probs]
    prob = probs[0]
    assert prob.fix, str(prob)
    return prob


def flows(p: Pipeline) -> dict[str, dict[str, str]]:
    """{step: {input variable: producing step}}"""
    return {s.name: {i.name: i.producer for i in s.inputs} for s in p.steps}


IRIS = [
    md("# Iris\nA small classifier."),
    code(
        "%matplotlib inline\nimport pandas as pd\nimport numpy as np\nimport matplotlib.pyplot as plt\n"
        "from sklearn.datasets import load_iris\nfrom sklearn.model_selection import train_test_split\n"
        "from sklearn.linear_model import LogisticRegression\nfrom sklearn.metrics import accuracy_score",
        "imports",
    ),
    code("test_size = 0.25\nseed = 0\nC = 1.0", "pipeline-parameters"),
    code("iris = load_iris(as_frame=True)\ndf = iris.frame\ndisplay(df.head())", "step:load"),
    md("## Features"),
    code(
        "df['petal_ratio'] = df['petal length (cm)'] / df['petal width (cm)']\n"
        "df.dropna(inplace=True)\ndf.describe()",
        "step:features",
    ),
    code(
        "fig, ax = plt.subplots()\ndf.plot.scatter(x='sepal length (cm)', y='petal_ratio', ax=ax)\n"
        "ax.set_title('ratio')\nfig.savefig('scatter.png')",
        "step:plot",
    ),
    code(
        "X = df.drop(columns=['target'])\ny = df['target']\n"
        "X_train, X_test, y_train, y_test = train_test_split(\n"
        "    X, y, test_size=test_size, random_state=seed\n)",
        "step:split",
    ),
    code(
        "model = LogisticRegression(C=C, max_iter=500)\nmodel.fit(X_train, y_train)", "step:train"
    ),
    code(
        "pred = model.predict(X_test)\naccuracy = accuracy_score(y_test, pred)\n"
        "print(f'accuracy: {accuracy:.3f}')",
        "step:evaluate",
    ),
    code("accuracy", "pipeline-metrics"),
]


def test_whole_graph_inferred_on_a_real_notebook(tmp_path: Path) -> None:
    p = load(tmp_path, IRIS)
    assert [s.name for s in p.steps] == ["load", "features", "plot", "split", "train", "evaluate"]
    assert {s.name: s.after for s in p.steps} == {
        "load": (),
        "features": ("load",),
        "plot": ("features",),
        "split": ("features",),
        "train": ("split",),
        "evaluate": ("split", "train"),
    }
    assert flows(p) == {
        "load": {},
        "features": {"df": "load"},  # changed in place (df[...] = ..., inplace=True): handed on
        "plot": {"df": "features"},
        "split": {"df": "features"},
        "train": {"X_train": "split", "y_train": "split"},
        "evaluate": {"model": "train", "X_test": "split", "y_test": "split"},
    }
    # a variable is handed only to the steps that read it
    assert p.step("split").outputs == ("X_test", "X_train", "y_test", "y_train")
    assert p.step("load").outputs == ("df",)
    assert p.step("plot").outputs == ()
    assert p.step("split").parameters == ("seed", "test_size")
    assert p.step("train").parameters == ("C",)
    assert p.step("evaluate").metrics == ("accuracy",)
    for s in p.steps:  # imports, parameters and builtins are never data
        assert not {"pd", "np", "plt", "C", "seed", "display", "print"} & set(s.input_names)


def test_explicit_edges_are_kept_with_inferred_ones(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("a = 1", "step:one"),
            code("b = 2", "step:two"),
            code("c = a", "step:three", "prev:two"),
            code("%%step four --after one\nd = b"),
        ],
    )
    assert p.step("three").after == ("one", "two")
    assert p.step("three").explicit_after == ("two",)
    assert p.step("four").after == ("one", "two")


def test_explicit_prev_decides_the_order_where_notebook_order_differs(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("x = 1", "step:first"),
            code("y = z", "step:late", "prev:source"),
            code("z = 2", "step:source"),
        ],
    )
    assert [s.name for s in p.steps] == ["first", "source", "late"]
    assert flows(p)["late"] == {"z": "source"}


def test_nearest_upstream_definer_hands_the_variable_on(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("x = 1\ny = 10", "step:a"),
            code("x = x + 1", "step:b"),
            code("total = x + y", "step:c"),
        ],
    )
    assert flows(p)["c"] == {"x": "b", "y": "a"}
    assert p.step("a").outputs == ("x", "y")
    assert p.step("b").outputs == ("x",)
    assert p.step("c").after == ("a", "b")


def test_a_redefinition_without_reading_still_replaces_the_value(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("x = 1", "step:a"),
            code("y = x", "step:b"),
            code("x = 5", "step:c", "prev:b"),
            code("z = x", "step:d"),
        ],
    )
    assert flows(p)["d"] == {"x": "c"}


def test_fan_out_and_fan_in(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("data = list(range(100))", "step:load"),
            code("evens = [d for d in data if d % 2 == 0]", "step:evens"),
            code("odds = [d for d in data if d % 2]", "step:odds"),
            code("squares = [d * d for d in data]", "step:squares"),
            code("report = (len(evens), len(odds), sum(squares))", "step:report"),
        ],
    )
    for branch in ("evens", "odds", "squares"):
        assert p.step(branch).after == ("load",)
    assert p.step("report").after == ("evens", "odds", "squares")
    assert p.step("load").outputs == ("data",)
    assert flows(p)["report"] == {"evens": "evens", "odds": "odds", "squares": "squares"}


@pytest.mark.parametrize(
    "change",
    [
        "df['x'] = 1",
        "df.x = 1",
        "df.fit([1])",
        "df.append(3)",
        "df.drop(columns=['a'], inplace=True)",
        "df.setdefault('k', 1)",
        "np.random.shuffle(df)",
    ],
)
def test_changing_an_upstream_object_hands_it_on_from_the_changing_step(
    tmp_path: Path, change: str
) -> None:
    p = load(
        tmp_path,
        [
            code("import numpy as np\nfrom collections import OrderedDict as make", "imports"),
            code("df = make()", "step:a"),
            code(change, "step:b"),
            code("out = df", "step:c"),
        ],
    )
    assert flows(p)["b"] == {"df": "a"}
    assert flows(p)["c"] == {"df": "b"}
    assert p.step("c").after == ("b",)


@pytest.mark.parametrize(
    "look", ["df.head()", "print(df.shape)", "df.predict([1])", "display(df)", "df.plot.line()"]
)
def test_read_only_use_does_not_hand_it_on(tmp_path: Path, look: str) -> None:
    p = load(
        tmp_path,
        [code("df = dict()", "step:a"), code(look, "step:b"), code("out = df", "step:c")],
    )
    assert flows(p)["c"] == {"df": "a"}
    assert p.step("b").outputs == ()


def test_a_model_fitted_in_one_step_is_the_fitted_one_downstream(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("from sklearn.linear_model import LinearRegression", "imports"),
            code("X = [[1], [2]]\ny = [1, 2]\nmodel = LinearRegression()", "step:prepare"),
            code("model.fit(X, y)", "step:train"),
            code("pred = model.predict(X)", "step:predict"),
        ],
    )
    assert flows(p)["predict"] == {"model": "train", "X": "prepare"}


def test_a_shared_function_that_changes_its_argument(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code(
                "def add_ratio(frame):\n    frame['ratio'] = 1\n\ndef show(frame):\n    print(frame)",
                "functions",
            ),
            code("df = {}", "step:a"),
            code("show(df)", "step:b"),
            code("add_ratio(df)", "step:c"),
            code("out = df['ratio']", "step:d"),
        ],
    )
    assert p.step("b").outputs == ()
    assert flows(p)["d"] == {"df": "c"}


def test_names_from_imports_functions_parameters_and_builtins_are_not_data(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("import math\nimport json as js", "imports"),
            code("def helper(v):\n    return math.floor(v)", "functions"),
            code("n = 3", "pipeline-parameters"),
            code(
                "import statistics\nvals = [helper(i) for i in range(n)]\ntext = js.dumps(vals)",
                "step:a",
            ),
            code("m = statistics.mean(vals) + len(text) + max(vals)", "step:b"),
        ],
    )
    assert flows(p)["b"] == {"vals": "a", "text": "a"}
    assert "import statistics" in p.step("b").extra_imports
    assert p.step("a").outputs == ("text", "vals")


def test_a_builtin_shadowed_upstream_is_data(tmp_path: Path) -> None:
    p = load(tmp_path, [code("max = 3", "step:a"), code("y = max + 1", "step:b")])
    assert flows(p)["b"] == {"max": "a"}


def test_a_shared_function_reading_a_parameter_gives_the_parameter_to_its_callers(
    tmp_path: Path,
) -> None:
    p = load(
        tmp_path,
        [
            code(
                "def scale(v):\n    return v * factor\n\ndef twice_scaled(v):\n    return 2 * scale(v)\n\n"
                "def unrelated():\n    return offset",
                "functions",
            ),
            code("factor = 3\noffset = 1", "pipeline-parameters"),
            code("a = twice_scaled(2)", "step:direct_caller"),
            code("b = a + 1", "step:non_caller"),
        ],
    )
    assert p.step("direct_caller").parameters == ("factor",)
    assert p.step("non_caller").parameters == ()


def test_a_shared_function_reading_a_variable_gives_it_to_its_callers(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("def lookup(k):\n    return table[k]", "functions"),
            code("table = {'a': 1}", "step:build"),
            code("v = lookup('a')", "step:use"),
        ],
    )
    assert flows(p)["use"] == {"table": "build"}


def test_a_function_defined_in_a_step_reading_a_name_bound_later_in_that_step(
    tmp_path: Path,
) -> None:
    p = load(
        tmp_path,
        [
            code("threshold = 0.5", "step:a"),
            code(
                "def above(v):\n    return v > threshold\nflag = above(1)\nthreshold = 0.9",
                "step:b",
            ),
            code("def local():\n    return mine\nmine = 1\nr = local()", "step:c"),
        ],
    )
    assert flows(p)["b"] == {"threshold": "a"}
    assert flows(p)["c"] == {}


def test_import_inside_a_step_is_re_imported_where_used_not_passed(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("import collections\nc = collections.Counter('aab')", "step:a"),
            code("d = collections.deque(c)", "step:b"),
        ],
    )
    assert flows(p)["b"] == {"c": "a"}
    assert p.step("b").extra_imports == "import collections"


def test_an_import_in_a_later_step_does_not_serve_an_earlier_one(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path, [code("d = collections.deque()", "step:a"), code("import collections", "step:b")]
    )
    assert prob.step == "a" and "'collections'" in prob.message
    assert "'b'" in (prob.fix or "")


def test_packages_from_imports_of_every_kind(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("import numpy as np\nfrom IPython.display import HTML", "imports"),
            code(
                "from google.cloud import storage, bigquery\nimport azure.storage.blob\n"
                "import cv2\nimport os, json\n\ndef f():\n    import xgboost\n    return xgboost",
                "step:a",
            ),
        ],
    )
    pkgs = {re.split("[=<>]", r)[0] for r in p.step("a").packages}
    for dist in (
        "numpy",
        "ipython",
        "google-cloud-storage",
        "google-cloud-bigquery",
        "azure-storage-blob",
        "opencv-python-headless",
        "xgboost",
    ):
        assert dist in pkgs
    assert not {"os", "json", "google-cloud", "google"} & set(pkgs)


def test_modules_beside_the_notebook_are_not_packages(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("def clean(x):\n    return x\n")
    (tmp_path / "mylib").mkdir()
    (tmp_path / "mylib" / "__init__.py").write_text("")
    p = load(
        tmp_path,
        [
            code("import helpers", "imports"),
            code("from mylib import thing\nimport requests\nx = helpers.clean(thing)", "step:a"),
        ],
    )
    names = {re.split("[=<>]", r)[0] for r in p.step("a").packages}
    assert "requests" in names
    assert not {"helpers", "mylib"} & names
    warned = {(w.cell, w.step) for w in p.warnings if "beside the notebook" in w.message}
    assert warned == {(1, None), (2, "a")}


def test_training_through_an_optimizer_hands_the_model_on(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code(
                "class Net:\n    def parameters(self):\n        return []\n\nclass SGD:\n"
                "    def __init__(self, params, lr):\n        self.params = params\n"
                "    def step(self):\n        pass",
                "functions",
            ),
            code("model = Net()\nx = 1", "step:build"),
            code(
                "opt = SGD(model.parameters(), lr=0.1)\nfor epoch in range(3):\n    opt.step()",
                "step:train",
            ),
            code("result = (model, x)", "step:evaluate"),
        ],
    )
    assert flows(p)["evaluate"] == {"model": "train", "x": "build"}


# -- errors ---------------------------------------------------------------------------------


def test_dependency_cycle(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path,
        [
            code("a = 1", "step:one", "prev:three"),
            code("b = 2", "step:two", "prev:one"),
            code("c = 3", "step:three", "prev:two"),
        ],
    )
    assert "cycle" in prob.message
    for name in ("one", "two", "three"):
        assert f"{name}" in prob.message
    # it points at the tag that makes a step wait for one further down (the notebook's order
    # never does), in the step that carries it
    assert (prob.cell, prob.step) == (1, "one")
    assert "'prev:three' from step 'one'" in (prob.fix or "")


@pytest.mark.parametrize("first", ["one", "two", "three"])
def test_a_cycle_points_at_the_edge_just_added_wherever_it_is_found(
    tmp_path: Path, first: str
) -> None:
    """A chain one -> two -> three -> four, then `prev:four` added to step two: whichever step
    the search starts from, the fix removes the new tag, not one of the chain's."""
    cells = {
        "one": code("a = 1", "step:one"),
        "two": code("b = a", "step:two", "prev:one", "prev:four"),
        "three": code("c = b", "step:three", "prev:two"),
        "four": code("d = c", "step:four", "prev:three"),
    }
    order = [first] + [n for n in cells if n != first]
    prob = one_problem(tmp_path, [cells[n] for n in order])
    assert prob.step == "two" and prob.cell == order.index("two") + 1
    assert "'prev:four' from step 'two'" in (prob.fix or "")


def test_a_step_after_itself(tmp_path: Path) -> None:
    prob = one_problem(tmp_path, [code("a = 1", "step:one", "prev:one")])
    assert prob.cell == 1 and prob.step == "one" and "itself" in prob.message


@pytest.mark.parametrize(
    "cell",
    [code("b = 1", "step:evaluate", "prev:trian"), code("%%step evaluate --after trian\nb = 1")],
)
def test_unknown_step_in_prev_or_after_suggests_a_close_match(tmp_path: Path, cell: Any) -> None:
    prob = one_problem(tmp_path, [code("a = 1", "step:train"), md("text"), cell])
    assert prob.cell == 3 and prob.step == "evaluate"
    assert "'trian'" in prob.message
    assert prob.fix and "did you mean 'train'?" in prob.fix


def test_syntax_error_names_cell_line_and_step(tmp_path: Path) -> None:
    prob = one_problem(tmp_path, [code("a = 1", "step:one"), code("b = 2\nc = (3 +\n", "step:two")])
    assert (prob.cell, prob.step) == (2, "two")
    assert prob.line in (2, 3) and "syntax error" in prob.message


def test_top_level_await_parses_but_cannot_run_in_a_step(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path,
        [code("import asyncio", "imports"), code("%%step a\nx = 1\nawait asyncio.sleep(0)")],
    )
    assert (prob.cell, prob.step, prob.line) == (2, "a", 3)
    assert "await" in prob.message and prob.fix and "asyncio.run" in prob.fix


def test_syntax_error_in_a_continuation_cell(tmp_path: Path) -> None:
    prob = one_problem(tmp_path, [code("a = 1", "step:one"), code("def f(:\n    pass")])
    assert (prob.cell, prob.step, prob.line) == (2, "one", 1)


def test_name_that_nothing_defines(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path, [code("a = 1", "step:one"), code("b = 1\nc = a + undefined_thing", "step:two")]
    )
    assert (prob.cell, prob.step, prob.line) == (2, "two", 2)
    assert "'undefined_thing'" in prob.message


def test_name_that_only_a_later_step_defines(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path, [code("b = late + 1", "step:early"), code("late = 1", "step:later")]
    )
    assert (prob.cell, prob.step) == (1, "early") and "'late'" in prob.message
    assert prob.fix and "'later'" in prob.fix and "prev:later" in prob.fix


def test_name_that_only_a_skipped_cell_defines(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path,
        [code("a = 1", "step:one"), code("%%skip\nb = 2"), code("c = b", "step:two")],
    )
    assert (prob.cell, prob.step) == (3, "two") and "'b'" in prob.message
    assert prob.fix and "cell 2" in prob.fix and "skipped" in prob.fix


def test_two_unordered_definers_of_a_name_a_later_step_reads(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path,
        [code("x = 1", "step:left"), code("x = 2", "step:right"), code("y = x", "step:join")],
    )
    assert (prob.cell, prob.step) == (3, "join")
    assert "'left'" in prob.message and "'right'" in prob.message and "ambiguous" in prob.message
    assert prob.fix and "prev:" in prob.fix


def test_two_definers_in_a_chain_are_not_ambiguous(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("x = 1", "step:left"),
            code("x = 2", "step:right", "prev:left"),
            code("y = x", "step:join"),
        ],
    )
    assert flows(p)["join"] == {"x": "right"}


def test_reading_a_deleted_name(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path, [code("tmp = 1", "step:a"), code("del tmp", "step:b"), code("y = tmp", "step:c")]
    )
    assert (
        (prob.cell, prob.step) == (3, "c") and "'b'" in prob.message and "del tmp" in prob.message
    )


def test_a_parameter_changed_in_a_step_and_read_later(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path,
        [
            code("lr = 0.1", "pipeline-parameters"),
            code("lr = lr * 2", "step:a"),
            code("x = lr", "step:b"),
        ],
    )
    assert (
        (prob.step, prob.cell) == ("b", 3) and "'a'" in prob.message and "parameter" in prob.message
    )


@pytest.mark.parametrize(
    "change", ["LABELS.append('c')", "LABELS = ['x']", "helper = print", "sizes.append(4)"]
)
def test_a_shared_value_or_parameter_changed_in_a_step_and_read_later(
    tmp_path: Path, change: str
) -> None:
    prob = one_problem(
        tmp_path,
        [
            code("import math\nLABELS = ['a', 'b']", "imports"),
            code("def helper(x):\n    return x", "functions"),
            code("sizes = [1, 2]", "pipeline-parameters"),
            code(change, "step:a"),
            code("y = (LABELS, helper, sizes, math.pi)", "step:b"),
        ],
    )
    assert (prob.step, prob.cell) == ("b", 5) and "step 'a'" in prob.message


def test_module_state_changes_are_not_data(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [
            code("import matplotlib.pyplot as plt\nimport numpy as np", "imports"),
            code("np.random.seed(0)\nplt.figure()\nplt.title('t')", "step:a"),
            code("x = np.random.rand()\nplt.plot([x])", "step:b"),
        ],
    )
    assert flows(p) == {"a": {}, "b": {}}


def test_a_parameter_changed_where_only_that_step_uses_it_is_fine(tmp_path: Path) -> None:
    p = load(
        tmp_path,
        [code("epochs = 2", "pipeline-parameters"), code("epochs = int(epochs)", "step:a")],
    )
    assert p.step("a").parameters == ("epochs",)


@pytest.mark.parametrize(
    ("cell", "bad"),
    [
        (code("x = 1", "step:Train Model"), "Train Model"),
        (code("x = 1", "step:1st"), "1st"),
        (code("%%step load.data\nx = 1"), "load.data"),
        (code("x = 1", "step:ends-"), "ends-"),
    ],
)
def test_invalid_step_name(tmp_path: Path, cell: Any, bad: str) -> None:
    prob = one_problem(tmp_path, [cell])
    assert prob.cell == 1 and prob.step == bad and "invalid step name" in prob.message
    assert "e.g." in prob.message


def test_steps_differing_only_by_dash_and_underscore(tmp_path: Path) -> None:
    prob = one_problem(tmp_path, [code("x = 1", "step:load-data"), code("y = 1", "step:load_data")])
    assert prob.cell == 2 and prob.step == "load_data"


def test_a_metric_no_step_defines(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path, [code("acc = 1", "step:a"), code("acc\nrecall", "pipeline-metrics")]
    )
    assert prob.cell == 2 and "'recall'" in prob.message


def test_functions_cell_using_a_variable_outside_functions(tmp_path: Path) -> None:
    prob = one_problem(
        tmp_path,
        [
            code("def f():\n    return 1\nCACHE = make_cache()", "functions"),
            code("x = f()", "step:a"),
        ],
    )
    assert prob.cell == 1 and prob.line == 3 and "'make_cache'" in prob.message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    probs = problems(
        tmp_path,
        [code("a = missing_one", "step:one"), code("b = missing_two", "step:two")],
    )
    assert {p.step for p in probs} == {"one", "two"}


def test_a_notebook_without_steps(tmp_path: Path) -> None:
    prob = one_problem(tmp_path, [md("only words"), code("import os", "imports")])
    assert "no steps" in prob.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("this is not json", "not JSON"),
        (
            '{"cells": "nope", "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
            "not a valid notebook",
        ),
        (
            '{"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
            "not a valid notebook",
        ),
        ("[1, 2]", "not a valid notebook"),
        ("", "not JSON"),
    ],
)
def test_broken_notebook_files(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text(text)
    with pytest.raises(NotebookError) as e:
        load_notebook(path)
    (prob,) = e.value.problems
    assert words in prob.message and str(path) in prob.message and prob.fix


def test_missing_notebook_and_folder(tmp_path: Path) -> None:
    with pytest.raises(NotebookError) as e:
        load_notebook(tmp_path / "absent.ipynb")
    assert "does not exist" in e.value.problems[0].message
    with pytest.raises(NotebookError) as e:
        load_notebook(tmp_path)
    assert "folder" in e.value.problems[0].message


def test_old_notebook_formats_are_read(tmp_path: Path) -> None:
    # nbformat 4.4 (no cell ids, source as a list of lines) and 3 (worksheets) are still around
    v44 = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {"tags": ["step:a"]},
                "outputs": [],
                "source": ["x = 1\n", "y = x"],
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 4,
    }
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {},
        "worksheets": [
            {
                "metadata": {},
                "cells": [
                    {"cell_type": "markdown", "source": "# old", "metadata": {}},
                    {
                        "cell_type": "code",
                        "language": "python",
                        "input": "x = 1\ny = x",
                        "outputs": [],
                        "collapsed": False,
                        "metadata": {"tags": ["step:a"]},
                    },
                ],
            }
        ],
    }
    for name, nb, cell in (("v44", v44, 1), ("v3", v3, 2)):
        path = tmp_path / f"{name}.ipynb"
        path.write_text(json.dumps(nb))
        (step,) = load_notebook(path).steps
        assert step.name == "a" and step.cells == (cell,) and "y = x" in step.source


def test_inspect_json_shape(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "iris.ipynb", IRIS)
    out = subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "inspect", str(nb), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)  # exactly one JSON object and nothing else
    assert isinstance(data, dict)
    assert data["name"] == "iris"
    assert data["parameters"] == {"test_size": 0.25, "seed": 0, "C": 1.0}
    assert data["metrics"] == ["accuracy"]
    for s in data["steps"]:
        assert {"name", "after", "inputs", "outputs", "image", "packages", "resources"} <= set(s)
        assert isinstance(s["name"], str) and isinstance(s["image"], str)
        assert all(
            isinstance(v, list) for v in (s["after"], s["inputs"], s["outputs"], s["packages"])
        )
        assert isinstance(s["resources"], dict)
    by_name = {s["name"]: s for s in data["steps"]}
    assert by_name["evaluate"]["after"] == ["split", "train"]  # every edge, inferred ones too
    assert by_name["evaluate"]["inputs"] == ["X_test", "model", "y_test"]
    assert f"scikit-learn=={version('scikit-learn')}" in by_name["train"]["packages"]
