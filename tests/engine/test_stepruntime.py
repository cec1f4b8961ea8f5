"""The marshalling runtime that every step program carries: each kind of value survives the trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from nbutil import code, make_notebook

from kfp_jupyter import load_notebook
from kfp_jupyter.packaging.program import build_program
from kfp_jupyter.packaging.runtime_text import inner_runtime


@pytest.fixture(scope="module")
def rt() -> dict[str, Any]:
    ns: dict[str, Any] = {}
    exec(compile(inner_runtime(), "<runtime>", "exec"), ns)
    return ns


def _roundtrip(rt: dict[str, Any], value: Any, tmp_path: Path) -> tuple[Any, str]:
    path = tmp_path / "v"
    file = rt["_kfpj_save"]("s", "v", value, str(path))
    return rt["_kfpj_load"]("t", "v", str(path)), Path(file).suffix


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


def test_each_type_gets_its_format(rt: dict[str, Any], tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    back, ext = _roundtrip(rt, arr, tmp_path / "a")
    assert ext == ".npy" and back.dtype == np.float32 and (back == arr).all()

    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}, index=[10, 20, 30])
    back, ext = _roundtrip(rt, df, tmp_path / "b")
    assert ext == ".parquet"
    pd.testing.assert_frame_equal(back, df)

    odd = pd.DataFrame(
        {"mixed": [1, "x"]}
    )  # a mixed object column: parquet refuses, pickle keeps it
    back, ext = _roundtrip(rt, odd, tmp_path / "c")
    assert ext == ".pkl"
    pd.testing.assert_frame_equal(back, odd)

    s = pd.Series([1.0, 2.0], name="price", index=["a", "b"])
    back, ext = _roundtrip(rt, s, tmp_path / "d")
    assert ext == ".parquet"
    assert [f.name for f in (tmp_path / "d" / "v").iterdir()] == ["v.series.parquet"]
    pd.testing.assert_series_equal(back, s)
    for other, expected_ext in ((pd.Series([3, 4]), ".parquet"), (s.rename(7), ".pkl")):
        back, ext = _roundtrip(rt, other, tmp_path / f"d{expected_ext}")
        assert ext == expected_ext
        pd.testing.assert_series_equal(back, other)  # the name too: None, "price" or 7

    model = LinearRegression().fit([[0], [1], [2]], [0, 2, 4])
    back, ext = _roundtrip(rt, model, tmp_path / "e")
    assert ext == ".joblib" and back.predict([[3]])[0] == pytest.approx(6)

    for value in ({"a": [1, 2.5, None, True, "s"]}, [1, 2], "text", 3, 2.5, None):
        back, ext = _roundtrip(rt, value, tmp_path / f"j{abs(hash(repr(value)))}")
        assert ext == ".json" and back == value and type(back) is type(value)

    for value in ((1, 2), {1, 2}, {1: "int key"}, float("nan"), b"bytes", np.int64(3)):
        back, ext = _roundtrip(rt, value, tmp_path / f"p{abs(hash(repr(value)))}")
        assert ext == ".pkl" and type(back) is type(value)
        assert back == value or value != value

    obj = np.array([{"a": 1}, None], dtype=object)
    back, ext = _roundtrip(rt, obj, tmp_path / "o")
    assert ext == ".pkl" and back[0] == {"a": 1}


def test_unserialisable_value_names_variable_type_step_and_fix(
    rt: dict[str, Any], tmp_path: Path
) -> None:
    gen = (i for i in range(3))
    with pytest.raises(RuntimeError) as e:
        rt["_kfpj_save"]("prepare", "numbers", gen, str(tmp_path / "g"))
    msg = str(e.value)
    assert "'prepare'" in msg and "'numbers'" in msg and "generator" in msg and "Fix:" in msg
    assert not list((tmp_path / "g").iterdir())


def test_metric_must_be_a_number(rt: dict[str, Any]) -> None:
    class M:
        def __init__(self) -> None:
            self.logged: dict[str, float] = {}

        def log_metric(self, name: str, value: float) -> None:
            self.logged[name] = value

    m = M()
    rt["_kfpj_metric"]("s", m, "acc", np.float64(0.5))
    rt["_kfpj_metric"]("s", m, "ok", True)
    assert m.logged == {"acc": 0.5, "ok": 1.0}
    with pytest.raises(RuntimeError, match="metric 'name' must be a number"):
        rt["_kfpj_metric"]("s", m, "name", "abc")


def test_ints_in_list_and_dict_parameters_survive_kfp(rt: dict[str, Any]) -> None:
    like = rt["_kfpj_like"]
    assert like({"max_iter": 300.0, "lr": 1.0}, {"max_iter": 300, "lr": 0.5}) == {
        "max_iter": 300,
        "lr": 1.0,
    }
    assert type(like({"max_iter": 300.0}, {"max_iter": 1})["max_iter"]) is int
    assert like([1.0, 2.0, 3.0], [1]) == [1, 2, 3]
    assert like([1.0, 2.5], [0.5]) == [1.0, 2.5]


def test_plain_programs_run_alone_and_hand_values_on(tmp_path: Path) -> None:
    """Two step programs, run as `python step.py args.json` the way the local engine runs them."""
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import numpy as np", "imports"),
            code("scale = 2\nnames = ['a', 'b']", "pipeline-parameters"),
            code(
                "class Box:\n    def __init__(self, v):\n        self.v = v\n"
                "box = Box(np.arange(3) * scale)\nlookup = {n: i for i, n in enumerate(names)}\n"
                "text = '''line one\n    indented line\n'''",
                "step:make",
            ),
            code("total = float(box.v.sum()) + len(lookup) + len(text)", "step:use"),
            code("total", "pipeline-metrics"),
        ],
    )
    pipeline = load_notebook(nb)
    make, use = pipeline.steps
    folder = tmp_path / "run"
    for step in (make, use):
        prog = build_program(pipeline, step)
        script = folder / f"{step.name}.py"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(prog.plain_program())
        args = {
            "parameters": {p: pipeline.parameter(p).default for p in step.parameters},
            "inputs": {i.name: str(folder / i.producer / i.name) for i in step.inputs},
            "outputs": {o: str(folder / step.name / o) for o in step.outputs},
            "metrics": str(folder / step.name / "metrics.json") if step.metrics else None,
        }
        (folder / f"{step.name}.json").write_text(json.dumps(args))
        r = subprocess.run(
            [sys.executable, str(script), str(folder / f"{step.name}.json")],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert r.returncode == 0, r.stderr
    metrics = json.loads((folder / "use" / "metrics.json").read_text())
    assert metrics == {"total": 6.0 + 2 + len("line one\n    indented line\n")}
