"""Numbers KFP would change. KFP's IR, and a KFP run's parameters, hold every number as a protobuf
Value: a 64-bit float, exact for whole numbers up to 2**53 in size, and JSON, which has no inf or
nan; Argo and a local run keep them. So the `kfp` and `dsl` targets refuse a larger int in a
parameter (also inside a list or a dict), naming its cell and line, and such an int or a float that
is not finite given to a component's input; `submit` refuses such an int given with `-p` for the
KFP engine, before anything is sent. A cluster run never silently uses another value than a local
one. (A parameter's inf or nan is refused for every target by the analysis.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from nbutil import code, make_notebook
from servers.helpers import TOKEN_ENV, cli, no_traceback
from servers.k8s_server import K8sServer
from servers.kfp_server import KfpServer

pytest_plugins = ["servers.fixtures"]

BIG = 12345678901234567891
#: what a float64 makes of BIG: the value a KFP run would get
BIG_ON_KFP = 12345678901234567168
EXACT = 2**53
KFP_TARGETS = ["kfp", "dsl"]
REASON = "too large for KFP to hold exactly: its pipeline spec holds every number as a 64-bit "
REASON += f"float, exact for whole numbers up to 2**53 ({EXACT}) in size"


def compile_cli(nb: Path, target: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`kfp-jupyter compile NB -t TARGET -o OUT`, as a user runs it."""
    command = [sys.executable, "-m", "kfp_jupyter.cli.main", "compile", str(nb), "-t", target]
    return subprocess.run(
        [*command, "-o", str(out)], capture_output=True, text=True, timeout=600, check=False
    )


def assert_refused(result: subprocess.CompletedProcess[str], out: Path) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not out.exists()
    return result.stderr


def params_notebook(path: Path, parameters: str, *tags: str) -> Path:
    return make_notebook(
        path,
        [
            code("import json", "imports"),
            code(parameters, *tags),
            code("print(json.dumps([n]))", "step:show"),
        ],
    )


def ir_defaults(text: str) -> dict[str, Any]:
    spec = next(yaml.safe_load_all(text))
    params = spec["root"]["inputDefinitions"]["parameters"]
    return {name: p["defaultValue"] for name, p in params.items()}


# --- compiling


@pytest.mark.parametrize("target", KFP_TARGETS)
def test_an_int_parameter_beyond_2_53_is_refused_at_its_cell_and_line(
    tmp_path: Path, target: str
) -> None:
    nb = params_notebook(tmp_path / "nb.ipynb", f"small = 3\nn = {BIG}", "pipeline-parameters")
    out = tmp_path / "out"
    said = assert_refused(compile_cli(nb, target, out), out)
    assert (
        f"cell 2, line 2: parameter 'n' is {BIG}, {REASON}, so a run would get {BIG_ON_KFP}" in said
    )
    assert f"fix: write the number as a str ('{BIG}') and convert it with int() in the step" in said
    assert "or compile this notebook with the argo target, which keeps it" in said
    assert "small" not in said
    wf = tmp_path / "nb.argo.yaml"
    assert compile_cli(nb, "argo", wf).returncode == 0
    parameters = yaml.safe_load(wf.read_text())["spec"]["arguments"]["parameters"]
    assert {"name": "n", "value": str(BIG)} in parameters


@pytest.mark.parametrize("target", KFP_TARGETS)
def test_ints_beyond_2_53_inside_lists_and_dicts_are_refused_each_at_its_line(
    tmp_path: Path, target: str
) -> None:
    # a magic line above the lines: they are counted as the notebook shows them
    nb = params_notebook(
        tmp_path / "nb.ipynb",
        f"%%pipeline_parameters\nn = 1\nxs = [1, {EXACT + 1}]\nd = {{'a': {{'b': -{2**60}}}}}",
    )
    out = tmp_path / "out"
    said = assert_refused(compile_cli(nb, target, out), out)
    assert (
        f"cell 2, line 3: parameter 'xs'[1] is {EXACT + 1}, {REASON}, so a run would get {EXACT}"
        in said
    )
    # exact as a float, and still refused: KFP holds no int beyond 2**53 as an int
    assert f"cell 2, line 4: parameter 'd'['a']['b'] is -{2**60}, {REASON}\n" in said


def test_a_papermill_parameters_cell_of_a_plain_notebook_is_located_too(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "plain.ipynb",
        [code("import json"), code(f"n = {BIG}", "parameters"), code("print(n)")],
    )
    out = tmp_path / "out.yaml"
    said = assert_refused(compile_cli(nb, "kfp", out), out)
    assert f"cell 2, line 1: parameter 'n' is {BIG}, {REASON}" in said


def test_an_int_beyond_any_float_is_refused_not_an_internal_error(tmp_path: Path) -> None:
    huge = 10**400
    nb = params_notebook(tmp_path / "nb.ipynb", f"n = {huge}", "pipeline-parameters")
    out = tmp_path / "out.yaml"
    said = assert_refused(compile_cli(nb, "kfp", out), out)
    shown = f"{str(huge)[:21]}... (401 digits)"
    assert f"parameter 'n' is {shown}, {REASON}, and this one is beyond a 64-bit float" in said
    assert "write the number as a str (its digits in quotes)" in said


COMPONENT = """\
name: Echo
inputs:
- {name: count, type: Integer}
- {name: rate, type: Float}
- {name: scale, type: Float, default: .nan}
implementation:
  container:
    image: alpine:3.20
    command: [echo, {inputValue: count}, {inputValue: rate}, {inputValue: scale}]
"""


@pytest.mark.parametrize("target", KFP_TARGETS)
def test_a_component_input_kfp_would_change_is_refused_at_its_step(
    tmp_path: Path, target: str
) -> None:
    """An int beyond 2**53, and a float that is not finite: the IR wrote `.inf`, which KFP's
    JSON cannot hold, and the `dsl` script `rate=inf`, which does not run."""
    (tmp_path / "echo.yaml").write_text(COMPONENT, encoding="utf-8")
    cell = f"%%component echo echo.yaml\ncount = {BIG}\nrate = 1e999"
    nb = make_notebook(tmp_path / "nb.ipynb", [code("import json", "imports"), code(cell)])
    out = tmp_path / "out"
    said = assert_refused(compile_cli(nb, target, out), out)
    assert f"cell 2 / step 'echo': the input 'count' is {BIG}, {REASON}" in said
    json_has_no_nan = (
        "which KFP cannot hold: its pipeline spec holds numbers as JSON, which has no inf"
    )
    assert f"cell 2 / step 'echo': the input 'rate' is inf, {json_has_no_nan}" in said
    assert (
        f"cell 2 / step 'echo': the default of the input 'scale' is nan, {json_has_no_nan}" in said
    )
    assert said.count("fix: compile this notebook with the argo target, which keeps it") == 3
    wf = tmp_path / "nb.argo.yaml"
    assert compile_cli(nb, "argo", wf).returncode == 0
    assert f"- '{BIG}'" in wf.read_text()


def test_2_53_is_the_limit_and_kfp_keeps_every_int_up_to_it(tmp_path: Path) -> None:
    nb = params_notebook(
        tmp_path / "nb.ipynb", f"n = {EXACT}\nlow = {-EXACT}\nxs = [{EXACT}]", "pipeline-parameters"
    )
    ir = tmp_path / "nb.yaml"
    assert compile_cli(nb, "kfp", ir).returncode == 0
    assert ir_defaults(ir.read_text()) == {"n": EXACT, "low": -EXACT, "xs": [EXACT]}
    over = params_notebook(tmp_path / "over.ipynb", f"n = {-EXACT - 1}", "pipeline-parameters")
    out = tmp_path / "over.yaml"
    said = assert_refused(compile_cli(over, "kfp", out), out)
    assert f"parameter 'n' is {-EXACT - 1}, {REASON}, so a run would get {-EXACT}" in said


# --- submitting: a value given with -p


def kfp_submit(server: KfpServer, path: Path, *more: str) -> list[str]:
    return ["submit", str(path), "--host", server.url, "--token-env", TOKEN_ENV, *more]


def test_submit_refuses_a_kfp_value_beyond_2_53_before_sending_anything(
    kfp_api: KfpServer, k8s_api: K8sServer, kubeconfig_file: Path, demo_nb: Path, tmp_path: Path
) -> None:
    ir = tmp_path / "demo.yaml"
    assert compile_cli(demo_nb, "kfp", ir).returncode == 0
    for path in (demo_nb, ir):
        for option, where in ((f"n_rows={BIG}", "'n_rows'"), (f"sizes=[1, {BIG}]", "'sizes'[1]")):
            result = cli(*kfp_submit(kfp_api, path, "-p", option))
            no_traceback(result)
            assert result.exit_code == 2, result.output
            said = result.stderr
            assert f"parameter {where} is {BIG}, {REASON}, so a run would get {BIG_ON_KFP}" in said
            assert "fix: submit the notebook with --engine argo, which keeps it" in said
    assert kfp_api.state.requests == []
    # up to 2**53 a value goes through; and Argo takes the one KFP cannot
    result = cli(*kfp_submit(kfp_api, ir, "-p", f"n_rows={EXACT}"))
    assert result.exit_code == 0, result.output
    [run] = kfp_api.state.runs.values()
    assert run.run["runtime_config"]["parameters"]["n_rows"] == EXACT
    result = cli("submit", str(demo_nb), "--engine", "argo", "-p", f"n_rows={BIG}")
    assert result.exit_code == 0, result.output
    [doc] = k8s_api.state.created
    values = {p["name"]: p["value"] for p in doc["spec"]["arguments"]["parameters"]}
    assert values["n_rows"] == str(BIG)
