"""The IPython magics, in a real IPython shell: `%load_ext kfp_jupyter`, the annotation cell magics
(run the cell as if the magic line were absent), `%kfp show|compile|run|submit`, and finding the
current notebook."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from engine_support import run_cell as run
from engine_support import usage_error
from IPython.core.interactiveshell import InteractiveShell
from nbutil import code, make_notebook

from kfp_jupyter.jupyter.notebook_path import NotebookNotFound, find_notebook

pytest_plugins = ["servers.fixtures"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


# --- the annotation magics -------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "%%step train --after load split --gpu 1 --memory 4Gi --retries 2 --no-cache",
        "%%imports",
        "%%functions",
        "%%pipeline_parameters",
        "%%pipeline_metrics",
        "%%skip",
    ],
)
def test_each_magic_runs_its_cell_in_the_user_namespace(ip: Any, line: str) -> None:
    result = run(ip, f"{line}\nanswer = 40\nanswer + 2")
    assert result.success, result.error_in_exec
    assert ip.user_ns["answer"] == 40
    assert result.result == 42  # the last expression is the cell's value, as without the magic


def test_a_trailing_semicolon_hides_the_value_as_usual(ip: Any) -> None:
    result = run(ip, "%%step s\nx = 3\nx * 2;")
    assert result.success
    assert result.result is None
    assert ip.user_ns["x"] == 3


def test_skip_still_runs_the_cell(ip: Any) -> None:
    # skip means "not in the pipeline", not "not run": the notebook must still work top to bottom
    run(ip, "%%skip\nfrom math import tau\nhelper = tau / 2")
    result = run(ip, "%%step use\nround(helper, 2)")
    assert result.result == 3.14


def test_other_magics_and_shell_commands_inside_the_cell_still_work(
    ip: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run(ip, "%%step s\n!echo from-the-shell\n%time y = 5\ny")
    assert result.success, result.error_in_exec
    assert result.result == 5
    assert "from-the-shell" in capfd.readouterr().out


def test_an_error_in_the_cell_fails_the_cell(ip: Any) -> None:
    result = run(ip, "%%step s\nbefore = 1\nraise ValueError('boom')\nafter = 2")
    assert not result.success
    assert isinstance(result.error_in_exec, ValueError)
    assert ip.user_ns["before"] == 1
    assert "after" not in ip.user_ns


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("%%step", "name"),
        ("%%step train --gpux 1", "unrecognized arguments: --gpux"),
        ("%%step train --gpu lots", "whole numbers"),
        ("%%step train --memory 4 GB", "unrecognized arguments"),
        ("%%step train --retries -1", "--retries"),
        ("%%step Train!", "invalid step name"),
        ("%%imports now", "takes no arguments"),
        ("%%skip please", "takes no arguments"),
    ],
)
def test_bad_options_are_a_one_line_usage_error_and_the_cell_does_not_run(
    ip: Any, line: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(ip, f"{line}\nran = True")
    message = usage_error(result)
    assert says in message
    assert "\n" not in message
    assert "ran" not in ip.user_ns
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1


def test_the_usage_error_shows_how_to_write_the_line(ip: Any) -> None:
    message = usage_error(run(ip, "%%step train --gpux 1\npass"))
    assert "usage: %%step" in message
    assert "--after STEP" in message


def test_a_label_kubernetes_refuses_is_one_line_with_the_fix(ip: Any) -> None:
    """As a compile says it: each problem of the line, then what to write instead."""
    message = usage_error(run(ip, '%%step train --label "team=ML Team" --label "bad key!=x"\npass'))
    assert "\n" not in message
    assert "'ML Team'" in message and "'bad key!'" in message, message
    assert "fix: " in message and "--label team=ML-Team" in message, message


# --- %kfp -----------------------------------------------------------------------------------------


def _small_notebook(path: Path, sleep: float = 0.0) -> Path:
    return make_notebook(
        path,
        [
            code("%load_ext kfp_jupyter", "skip"),
            code("%%imports\nimport os\nimport time"),
            code("%%pipeline_parameters\nbase = 2"),
            code(
                f"%%step produce\ntime.sleep({sleep})\nvalues = [base, base + 1]\nprint('pid', os.getpid())"
            ),
            code("%%step consume\ntotal = float(sum(values))\nprint('pid', os.getpid())"),
            code("%%pipeline_metrics\ntotal"),
        ],
        metadata={"kfp_jupyter": {"name": "small", "experiment": "magics"}},
    )


def test_kfp_compile_writes_each_target_next_to_the_notebook(ip: Any, tmp_path: Path) -> None:
    nb = _small_notebook(tmp_path / "small.ipynb")
    assert run(ip, f"%kfp compile {nb}").success
    ir = yaml.safe_load((tmp_path / "small.yaml").read_text())
    assert {"produce", "consume"} <= set(ir["root"]["dag"]["tasks"])
    assert run(ip, f"%kfp compile {nb} -t argo -o {tmp_path / 'out' / 'wf.yaml'}").success
    wf = yaml.safe_load((tmp_path / "out" / "wf.yaml").read_text())
    assert wf["kind"] == "Workflow"


def test_kfp_acts_on_the_current_notebook_from_the_jupyter_session(
    ip: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = _small_notebook(tmp_path / "current.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    assert run(ip, "%kfp compile -t dsl").success
    assert "def produce" in (tmp_path / "current.py").read_text()


def test_kfp_without_a_notebook_it_can_find_says_how_to_name_one(
    ip: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("kfp_jupyter.jupyter.notebook_path._kernel_id", lambda: None)
    message = usage_error(run(ip, "%kfp compile"))
    assert "%kfp run my.ipynb" in message


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("%kfp", "show|compile|run|inputs|submit"),
        ("%kfp frob", "invalid choice: 'frob'"),
        ("%kfp compile nb.ipynb -t yaml", "invalid choice: 'yaml'"),
        ("%kfp run nb.ipynb --workers many", "invalid int value"),
        ("%kfp run nb.ipynb -p oops", "NAME=VALUE"),
        ("%kfp submit nb.ipynb --engine slurm", "invalid choice: 'slurm'"),
    ],
)
def test_kfp_bad_arguments_are_usage_errors(ip: Any, tmp_path: Path, line: str, says: str) -> None:
    _small_notebook(tmp_path / "nb.ipynb")
    assert says in usage_error(run(ip, line))


def test_kfp_on_an_invalid_notebook_lists_the_problems_without_a_traceback(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = make_notebook(tmp_path / "bad.ipynb", [code("%%step a --after nowhere\nx = 1")])
    message = usage_error(run(ip, f"%kfp compile {nb}"))
    assert "cannot become a pipeline" in message
    assert "nowhere" in message
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "bad.yaml").exists()


def test_kfp_run_returns_at_once_and_runs_the_steps_in_other_processes(
    ip: Any, tmp_path: Path
) -> None:
    nb = _small_notebook(tmp_path / "small.ipynb", sleep=3.0)
    started = time.monotonic()
    result = run(ip, f"%kfp run {nb} -p base=5 --store {tmp_path / 'runs'}")
    returned = time.monotonic() - started
    assert result.success, result.error_in_exec
    widget = result.result
    # the kernel is free while `produce` sleeps: the magic returned before the step could end
    assert returned < 3.0
    assert widget.run.get("state") in (None, "RUNNING")
    # and the kernel can run other cells meanwhile
    assert run(ip, "21 * 2").result == 42
    final = widget.wait(120)
    assert final["state"] == "SUCCEEDED"
    assert final["metrics"] == {"total": 11.0}
    assert {s["state"] for s in widget.states.values()} == {"SUCCEEDED"}
    # nothing of the steps ran in the kernel
    assert "values" not in ip.user_ns and "total" not in ip.user_ns
    widget.selected = "consume"
    log = widget.details["log_tail"]
    assert "pid" in log and f"pid {os.getpid()}" not in log


def test_kfp_run_wait_blocks_and_reports_the_result(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = _small_notebook(tmp_path / "small.ipynb")
    result = run(ip, f"%kfp run {nb} --wait --store {tmp_path / 'runs'}")
    assert result.success, result.error_in_exec
    assert result.result is None
    assert "SUCCEEDED" in capsys.readouterr().out


def test_kfp_run_with_a_bad_parameter_runs_nothing(ip: Any, tmp_path: Path) -> None:
    nb = _small_notebook(tmp_path / "small.ipynb")
    message = usage_error(run(ip, f"%kfp run {nb} -p base=two --store {tmp_path / 'runs'}"))
    assert "base" in message
    assert not (tmp_path / "runs" / "runs").exists()


def test_kfp_show_draws_the_pipeline_and_reattaches_to_a_run_by_id(ip: Any, tmp_path: Path) -> None:
    from kfp_jupyter.engine.api import run_local

    nb = _small_notebook(tmp_path / "small.ipynb")
    shown = run(ip, f"%kfp show {nb}").result
    assert [s["name"] for s in shown.graph["steps"]] == ["produce", "consume"]
    assert shown.params == {"base": 2}
    # a run started elsewhere (here: the Python API, then forgotten) is found again by its id
    store = tmp_path / "elsewhere"
    handle = run_local(nb, store=store)
    assert handle.wait(120) == "SUCCEEDED"
    run_id = handle.run_id
    del handle
    attached = run(ip, f"%kfp show {nb} --run {run_id[:6]} --store {store}").result
    final = attached.wait(30)
    assert final["id"] == run_id
    assert final["state"] == "SUCCEEDED"
    assert {s["state"] for s in attached.states.values()} == {"SUCCEEDED"}


def test_kfp_submit_without_a_cluster_says_what_to_configure(
    ip: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("kfp_jupyter.cluster")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    nb = _small_notebook(tmp_path / "small.ipynb")
    message = usage_error(run(ip, f"%kfp submit {nb} --engine kfp"))
    assert "host" in message.lower()


def test_kfp_submit_keeps_the_run_for_the_lab_panel_without_its_token(
    ip: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kfp_api: Any
) -> None:
    from servers.helpers import KFP_TOKEN, TOKEN_ENV

    from kfp_jupyter.cluster.submitted import records_of

    monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    nb = _small_notebook(tmp_path / "small.ipynb")
    line = f"%kfp submit {nb} --engine kfp --host {kfp_api.url} --token-env {TOKEN_ENV}"
    widget = run(ip, line).result
    final = widget.wait(60)
    [kept] = records_of(nb)
    assert kept["id"] == final["id"] and kept["engine"] == "kfp"
    assert kept["host"].startswith(kfp_api.url) and kept["token_env"] == TOKEN_ENV
    assert KFP_TOKEN not in (tmp_path / "config" / "submitted.jsonl").read_text()


# --- the notebook, top to bottom in a real kernel --------------------------------------------------


@pytest.mark.slow
def test_a_magics_notebook_runs_top_to_bottom_in_a_real_kernel(tmp_path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(str(EXAMPLES / "magics_pipeline.ipynb"), as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "y = 3.0" in outputs  # the report step's print, run in the kernel as a plain cell
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


# --- finding the current notebook --------------------------------------------------------------------


def test_find_notebook_prefers_an_explicit_path(tmp_path: Path) -> None:
    nb = _small_notebook(tmp_path / "a.ipynb")
    other = _small_notebook(tmp_path / "b.ipynb")
    found = find_notebook({"__vsc_ipynb_file__": str(other)}, "a.ipynb", cwd=tmp_path)
    assert found == nb.resolve()
    with pytest.raises(NotebookNotFound, match="no notebook"):
        find_notebook({}, "missing.ipynb", cwd=tmp_path)


def test_find_notebook_reads_vs_code_and_jupyter_hints(tmp_path: Path) -> None:
    a = _small_notebook(tmp_path / "sub" / "a.ipynb")
    b = _small_notebook(tmp_path / "b.ipynb")
    assert find_notebook({"__vsc_ipynb_file__": str(a)}, environ={}, cwd=tmp_path) == a.resolve()
    env = {"JPY_SESSION_NAME": str(b)}
    assert find_notebook({}, environ=env, cwd=tmp_path / "sub") == b.resolve()
    # a relative session path (older servers) is taken relative to the kernel's folder
    env = {"JPY_SESSION_NAME": "sub/a.ipynb"}
    assert find_notebook({}, environ=env, cwd=tmp_path / "sub", use_server=False) == a.resolve()
    # ipykernel's copy of the session name
    assert find_notebook({"__session__": str(b)}, environ={}, cwd=tmp_path) == b.resolve()


def test_find_notebook_ignores_a_stale_session_name(tmp_path: Path) -> None:
    env = {"JPY_SESSION_NAME": str(tmp_path / "renamed-since.ipynb")}
    with pytest.raises(NotebookNotFound):
        find_notebook({}, environ=env, cwd=tmp_path, use_server=False)


def test_load_ext_through_the_package_registers_the_magics() -> None:
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("kfp_jupyter")
    names = shell.magics_manager.lsmagic()
    assert {
        "step",
        "imports",
        "functions",
        "pipeline_parameters",
        "pipeline_metrics",
        "skip",
    } <= set(names["cell"])
    assert "kfp" in names["line"]
    assert "kfp_jupyter" in sys.modules


def test_non_python_step_magics_are_checked_and_say_what_they_need(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """In a kernel a component cell runs its component (tests/test_examples_topdown.py); its
    body is never run as Python, a missing spec is one line, and a bad magic line fails."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "kfp_jupyter")
    ip.user_ns.pop("ran", None)
    ok = ip.run_cell("%%container tool --image alpine:3\ncommand: [sh, -c, 'echo hi']\n")
    assert ok.success
    missing = ip.run_cell(f"%%component stats {tmp_path / 'comp.yaml'} --after tool\nran = True\n")
    assert not missing.success and "ran" not in ip.user_ns
    assert "does not exist" in str(missing.error_in_exec)
    bad = ip.run_cell("%%resource make --action explode\nkind: ConfigMap\n")
    assert not bad.success


@pytest.mark.parametrize("magic", ["step", "component", "resource", "notebook", "skip"])
def test_help_prints_the_usage_and_does_not_run_the_cell(
    ip: Any, magic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(ip, f"%%{magic} --help\nran = True\n")
    assert result.success, result.error_in_exec
    out = capsys.readouterr().out
    assert out.startswith(f"%%{magic}") and ("--after" in out or "takes no options" in out)
    assert "ran" not in ip.user_ns  # the cell's body did not run
