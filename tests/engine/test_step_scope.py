"""A step's code runs inside one function on every target, yet means what it means in the
notebook: a builtin's name can be a variable, a parameter, an input or an output (the runtime's
loads and saves still find the builtins), and the functions cell's classes are the notebook's
`__main__.NAME`, so a value that holds one (a fitted Pipeline, a dataclass) reaches the next step
as an instance of that step's own class, and a method's frames are that step's cells."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_pods import run_like_argo
from engine_support import ipython, kfpj, show, tasks
from ir_compare import kfp_local_metrics
from nbutil import code, make_notebook
from topdown import run_top_to_bottom

from kfp_jupyter import UsageError, compile_pipeline, load_notebook, step_inputs
from kfp_jupyter.packaging.program import build_program

pytest.importorskip("sklearn")

FUNCTIONS_CELL = 2
METRICS = ["checks", "pred", "tri_pred"]


def _scope_notebook(path: Path) -> Path:
    return make_notebook(
        path,
        [
            code(
                "import numpy as np\n"
                "from sklearn.base import BaseEstimator, TransformerMixin\n"
                "from sklearn.linear_model import LinearRegression\n"
                "from sklearn.pipeline import Pipeline",
                "imports",
            ),
            code(
                "from dataclasses import dataclass\n"
                "\n"
                "@dataclass\n"
                "class Point:\n"
                "    x: int\n"
                "\n"
                "    def shifted(self, by):\n"
                "        if by < 0:\n"
                "            raise ValueError('a negative shift')\n"
                "        return Point(self.x + by)\n"
                "\n"
                "class Doubler(BaseEstimator, TransformerMixin):\n"
                "    def fit(self, X, y=None):\n"
                "        return self\n"
                "\n"
                "    def transform(self, X):\n"
                "        return X * 2\n"
                "\n"
                "class logging:  # kfp's executor module has a `logging` of its own: left alone\n"
                "    level = 1",
                "functions",
            ),
            code("list = [1, 2]\nkind = 'csv'", "pipeline-parameters"),
            code(
                # read before the step sets them, as a kernel's globals fall back to the builtins
                "sum = sum(list)\n"
                "type = kind.upper()\n"
                "dict = dict(k=1)\n"
                "open = 'not a file'\n"
                "point = Point(3)\n"
                "X = np.arange(6.0).reshape(-1, 1)\n"
                "pipe = Pipeline([('d', Doubler()), ('lr', LinearRegression())]).fit(X, X.ravel() * 4)\n"
                "\n"
                "class Tripler(BaseEstimator, TransformerMixin):  # the step's own class\n"
                "    def fit(self, X, y=None):\n"
                "        return self\n"
                "\n"
                "    def transform(self, X):\n"
                "        return X * 3\n"
                "\n"
                "tri = Pipeline([('t', Tripler()), ('lr', LinearRegression())]).fit(X, X.ravel() * 6)",
                "step:make",
            ),
            code(
                "str = str(sum) + type + open\n"
                "same = isinstance(point, Point) and point == Point(3) and point.shifted(1).x == 4\n"
                "mine = isinstance(pipe.steps[0][1], Doubler)\n"
                "named = (str == '3CSVnot a file') + (dict == {'k': 1}) + (logging.level == 1)\n"
                "checks = (same + mine + named) * 1.0\n"
                "pred = round(pipe.predict(X[:2])[1], 6)\n"
                "tri_pred = round(tri.predict(X[:2])[1], 6)\n"
                "print('checks', checks, 'pred', pred, 'tri_pred', tri_pred)",
                "step:use",
            ),
            code("checks\npred\ntri_pred", "pipeline-metrics"),
        ],
    )


@pytest.fixture(scope="module")
def scope(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The notebook, and its metrics when it runs top to bottom in a kernel (the reference)."""
    pytest.importorskip("nbclient")
    nb = _scope_notebook(tmp_path_factory.mktemp("scope") / "scope.ipynb")
    reference = run_top_to_bottom(nb, METRICS)
    assert reference == {"checks": 5.0, "pred": 4.0, "tri_pred": 6.0}
    return nb, reference


@pytest.mark.parametrize("launcher", ["fork", "subprocess"])
def test_a_local_run_gives_the_kernels_values(
    scope: tuple[Path, dict[str, Any]], tmp_path: Path, launcher: str
) -> None:
    nb, reference = scope
    store = tmp_path / "store"
    p = kfpj("run", nb, "--launcher", launcher, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    assert show(store)["metrics"] == reference
    # the step's own class went by value (joblib keeps classes by reference): said in its log
    logs = kfpj("runs", "logs", "latest", "make", store=store)
    assert "'tri' is saved as a pickle instead" in logs.stdout
    assert "'pipe'" not in logs.stdout


def test_step_inputs_come_back_as_instances_of_the_kernels_classes(
    scope: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """`kfp_jupyter.step_inputs` in a kernel that ran the imports and functions cells gives the
    kernel's own classes; one that did not gets a message that says to run the cell."""
    nb, _ = scope
    assert kfpj("run", nb, store=tmp_path / "store").returncode == 0  # ipython() reads this store
    imports, functions = (
        "".join(c["source"]) for c in json.loads(nb.read_text(encoding="utf-8"))["cells"][:2]
    )
    load = f"import kfp_jupyter\ngot = kfp_jupyter.step_inputs({str(nb)!r}, 'use')"
    probe = "print('same:', isinstance(got['point'], Point), isinstance(got['pipe'][0], Doubler))"
    r = ipython(tmp_path, imports, functions, load, probe)
    assert "same: True True" in r.stdout, r.stdout + r.stderr
    r = ipython(tmp_path, load)
    assert "holds a class of the notebook's functions cell" in r.stdout + r.stderr
    assert "run the functions cell first" in r.stdout + r.stderr
    # one message, as any bad input gets: a UsageError, not the step runtime's own error class
    with pytest.raises(UsageError, match="run the functions cell first"):
        step_inputs(nb, "use", store=tmp_path / "store")


def test_argo_pods_give_the_kernels_values(
    scope: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    nb, reference = scope
    doc = yaml.safe_load(compile_pipeline(load_notebook(nb), "argo"))
    assert run_like_argo(doc, tmp_path / "pods")["use"] == reference


@pytest.mark.slow
def test_kfps_executor_gives_the_kernels_values(
    scope: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """kfp.local runs each step with `python -m kfp.dsl.executor_main`: its `__main__` is kfp's
    module, and the functions cell's classes are named in it all the same, but for `logging`,
    which that module calls after the step (taking its name would fail the step there)."""
    kfp = pytest.importorskip("kfp")
    from every_target import same_ir_from_dsl

    nb, reference = scope
    pipeline = dataclasses.replace(load_notebook(nb), kfp_runtime=kfp.__version__)
    same_ir_from_dsl(pipeline, tmp_path)  # the dsl script's IR is the kfp target's
    ir = tmp_path / "scope.yaml"
    compile_pipeline(pipeline, "kfp", ir)
    assert kfp_local_metrics(ir, tmp_path / "kfp-local") == reference


def test_a_traceback_through_a_method_points_at_the_functions_cell(tmp_path: Path) -> None:
    nb = _scope_notebook(tmp_path / "nb" / "scope.ipynb")
    text = json.loads(nb.read_text())
    text["cells"][4]["source"] = "moved = point.shifted(-1)"
    del text["cells"][5]  # the metrics: this step no longer computes them
    nb.write_text(json.dumps(text))
    p = kfpj("run", nb, store=tmp_path / "store")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "ValueError: a negative shift" in p.stdout
    assert "cell 5, line 1, in step use\n    |     moved = point.shifted(-1)" in p.stdout
    where = f"cell {FUNCTIONS_CELL}, line 9, in shifted\n    |     raise ValueError"
    assert where in p.stdout, p.stdout
    assert "dynamic-code" not in p.stdout and "earlier step" not in p.stdout


def test_builtin_names_as_a_notebook_steps_parameter_and_kernel_globals(tmp_path: Path) -> None:
    """A notebook step's parameter named `list` and the child's global `type`: the runtime in
    the step's function and in the child's kernel still finds the builtins."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    make_notebook(
        tmp_path / "child.ipynb",
        [
            code("list = [1]", "parameters"),
            code("type = 'kind'\ntotal = sum(list) * 1.0"),
        ],
    )
    nb = make_notebook(
        tmp_path / "parent.ipynb",
        [
            code("list = [1, 2, 3]", "pipeline-parameters"),
            code(
                "list = list", "step:child", "notebook:child.ipynb", "outputs:total", "outputs:type"
            ),
            code("print(type, total)\nfound = total + len(type)", "step:after"),
            code("found", "pipeline-metrics"),
        ],
    )
    store = tmp_path / "store"
    p = kfpj("run", nb, store=store, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert show(store)["metrics"] == {"found": 10.0}
    assert tasks(show(store))["after"]["state"] == "SUCCEEDED"


def test_the_programs_are_the_same_bytes_in_every_process(tmp_path: Path) -> None:
    """What names the programs import from builtins and which classes they name `__main__.NAME`
    are read from the code, in its order: two processes (other hash seeds) write the same."""
    nb = _scope_notebook(tmp_path / "scope.ipynb")
    script = (
        "import sys\nfrom kfp_jupyter import load_notebook\n"
        "from kfp_jupyter.packaging.program import build_program\n"
        "p = load_notebook(sys.argv[1])\n"
        "print('\\n'.join(build_program(p, s).plain_program() for s in p.steps))\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, str(nb)],
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"},
            check=True,
        ).stdout
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1]
    pipeline = load_notebook(nb)
    use = build_program(pipeline, pipeline.step("use")).body
    assert re.search(r"from builtins import .*\bstr\b", use)
    assert "_kfpj_as_main(('Point', 'Doubler', 'logging'))" in use
