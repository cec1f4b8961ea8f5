"""The `dsl` script with values and names the kfp SDK handles badly, through the real commands.

- A str default (or a description) holding a line break or a character YAML refuses: the kfp SDK's
  compiler copies the defaults, as they are, into the comment it heads its YAML with, which such a
  character breaks. The script (`python SCRIPT OUT.yaml`) and `kfp-jupyter submit SCRIPT.py` still
  give valid YAML, the IR `compile -t kfp` writes.
- `Output`, the name the kfp SDK keeps for a component's single output: a parameter of that name
  is refused for the `kfp` and `dsl` targets at its cell and line; a variable of that name passed
  between steps travels under another and is bound back to its own in the step.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ir_compare import assert_same_ir, docs, ir_from_dsl_script, kfp_local_metrics
from nbutil import code, make_notebook
from servers.helpers import TOKEN_ENV, cli, no_traceback
from servers.kfp_server import KfpServer

kfp = pytest.importorskip("kfp")
pytest.importorskip("kfp.kubernetes")

pytest_plugins = ["servers.fixtures"]

CLI = [sys.executable, "-m", "kfp_jupyter.cli.main"]


def kfpj(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def compiled(nb: Path, target: str, out: Path) -> Path:
    """`compile -t TARGET`, the kfp runtime pinned to the installed kfp SDK, as the oracle pins it
    (test_dsl_runtime_pin.py holds another pin)."""
    r = kfpj("compile", nb, "-t", target, "-o", out, "--kfp-runtime", kfp.__version__)
    assert r.returncode == 0, r.stderr
    return out


# --- defaults and descriptions a YAML comment cannot hold

#: (the parameters cell's line, the value it sets, the notebook's description)
ODD = {
    "a newline": ("greeting = 'hello\\nworld'", "hello\nworld", ""),
    "a carriage return": ("greeting = 'a\\rb'", "a\rb", ""),
    "a line separator": ("greeting = 'x\\u2028y'", "x\u2028y", ""),
    "a control character": ("greeting = 'bell\\x07'", "bell\x07", ""),
    "a description with a control character": ("greeting = 'hi'", "hi", "first\x01 line\nsecond"),
}


def _odd_notebook(folder: Path, which: str) -> Path:
    line, _, description = ODD[which]
    return make_notebook(
        folder / "odd.ipynb",
        [
            code(line, "pipeline-parameters"),
            code("print(greeting)", "step:say", "label:team:data"),
            code("n = len(greeting)", "step:count"),
        ],
        {"kfp_jupyter": {"name": "odd", "description": description}},
    )


@pytest.mark.parametrize("which", list(ODD))
def test_the_script_writes_valid_yaml_with_the_kfp_targets_ir(which: str, tmp_path: Path) -> None:
    nb = _odd_notebook(tmp_path, which)
    ours = compiled(nb, "kfp", tmp_path / "odd.yaml").read_text(encoding="utf-8")
    script = compiled(nb, "dsl", tmp_path / "odd_dsl.py")
    theirs = ir_from_dsl_script(script, tmp_path / "from_dsl.yaml")  # `python SCRIPT OUT.yaml`
    documents = docs(theirs)  # valid YAML
    default = documents[0]["root"]["inputDefinitions"]["parameters"]["greeting"]["defaultValue"]
    assert default == ODD[which][1]
    assert len(documents) == 2  # the PlatformSpec too (the label)
    assert_same_ir(ours, theirs)
    # with no argument, the script writes next to itself
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert docs((tmp_path / "odd_dsl.yaml").read_text(encoding="utf-8")) == documents


def test_an_ordinary_notebook_keeps_kfps_own_writer(tmp_path: Path) -> None:
    """Where nothing would break it, the script has kfp's compiler write the file, its heading
    comment too."""
    nb = make_notebook(
        tmp_path / "plain.ipynb",
        [
            code("greeting = 'hello world'", "pipeline-parameters"),
            code("print(greeting)", "step:say"),
        ],
    )
    script = compiled(nb, "dsl", tmp_path / "plain_dsl.py")
    theirs = ir_from_dsl_script(script, tmp_path / "from_dsl.yaml")
    assert theirs.startswith("# PIPELINE DEFINITION\n")
    assert "#    greeting: str [Default: 'hello world']" in theirs


def test_submit_compiles_such_a_script_and_uploads_valid_yaml(
    kfp_api: KfpServer, tmp_path: Path
) -> None:
    nb = _odd_notebook(tmp_path, "a newline")
    ours = compiled(nb, "kfp", tmp_path / "odd.yaml").read_text(encoding="utf-8")
    script = compiled(nb, "dsl", tmp_path / "odd_dsl.py")
    result = cli("submit", str(script), "--host", kfp_api.url, "--token-env", TOKEN_ENV)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    [upload] = kfp_api.state.uploads
    assert_same_ir(ours, upload.decode("utf-8"))
    [run] = kfp_api.state.runs.values()
    assert run.run["runtime_config"]["parameters"]["greeting"] == "hello\nworld"


def test_submit_compiles_a_hand_written_script_with_such_a_default(
    kfp_api: KfpServer, tmp_path: Path
) -> None:
    """The script need not come from kfp-jupyter: a kfp user's own, with a default holding a
    newline, is compiled by the kfp SDK and uploaded as valid YAML."""
    script = tmp_path / "mine.py"
    script.write_text(
        "from kfp import dsl\n\n\n"
        "@dsl.component(base_image='python:3.12')\n"
        "def say(text: str):\n"
        "    print(text)\n\n\n"
        "@dsl.pipeline(name='mine')\n"
        "def mine(text: str = 'two\\nlines'):\n"
        "    say(text=text)\n",
        encoding="utf-8",
    )
    result = cli("submit", str(script), "--host", kfp_api.url, "--token-env", TOKEN_ENV)
    no_traceback(result)
    assert result.exit_code == 0, result.output
    [upload] = kfp_api.state.uploads
    [spec] = docs(upload.decode("utf-8"))
    assert spec["root"]["inputDefinitions"]["parameters"]["text"]["defaultValue"] == "two\nlines"


# --- the name `Output`


def test_a_parameter_named_output_is_refused_for_kfp_and_dsl(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "out.ipynb",
        [
            code("n = 1\nOutput = 3", "pipeline-parameters"),
            code("y = Output + n", "step:a"),
            code("print(y)", "step:b"),
        ],
    )
    for target, out in (("kfp", "out.yaml"), ("dsl", "out.py")):
        r = kfpj("compile", nb, "-t", target, "-o", tmp_path / out)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        assert (
            "cell 1, line 2: parameter 'Output' has a name the kfp SDK keeps for itself "
            "(a component's single output), so no KFP pipeline can take it" in r.stderr
        ), r.stderr
        assert (
            "fix: rename the parameter, e.g. to 'output', or compile this notebook with the argo target"
            in r.stderr
        )
        assert not (tmp_path / out).exists()
    # Argo takes it
    r = kfpj("compile", nb, "-t", "argo", "-o", tmp_path / "out.argo.yaml")
    assert r.returncode == 0, r.stderr


def _output_variable(folder: Path) -> Path:
    return make_notebook(
        folder / "outvar.ipynb",
        [
            code("n = 1", "pipeline-parameters"),
            code("Output = n + 41", "step:make"),
            code("total = Output * 2", "step:use"),
            code("total", "pipeline-metrics"),
        ],
    )


def test_a_variable_named_output_travels_under_another_name(tmp_path: Path) -> None:
    nb = _output_variable(tmp_path)
    ours = docs(compiled(nb, "kfp", tmp_path / "outvar.yaml").read_text(encoding="utf-8"))
    script = compiled(nb, "dsl", tmp_path / "outvar_dsl.py")
    assert_same_ir(ours, ir_from_dsl_script(script, tmp_path / "from_dsl.yaml"))
    components = ours[0]["components"]
    assert set(components["comp-make"]["outputDefinitions"]["artifacts"]) == {"Output_"}
    assert set(components["comp-use"]["inputDefinitions"]["artifacts"]) == {"Output_"}


@pytest.mark.slow
def test_kfp_local_runs_a_variable_named_output(tmp_path: Path) -> None:
    """The step's code sees its variable under its own name: kfp's own runner judges the IR."""
    pytest.importorskip("cloudpickle")
    ir = compiled(_output_variable(tmp_path), "kfp", tmp_path / "outvar.yaml")
    assert kfp_local_metrics(ir, tmp_path / "kfp-local") == {"total": 84.0}
