"""`%kfp` as the command line is, in a real IPython shell: the same `compile -o`, the same
warnings before a run or a submission, the same refusal of a meaningless number, `--help` that
prints the usage, a `--store` that must exist to be read; and a syntax error in an annotated cell
shown in the cell's terms."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_support import kfpj, usage_error
from engine_support import run_cell as run
from nbutil import code, make_notebook

pytest_plugins = ["servers.fixtures"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def small(path: Path) -> Path:
    return make_notebook(
        path,
        [code("%%step make\nvalues = [1, 2]"), code("%%step total\ntotal = sum(values)")],
        metadata={"kfp_jupyter": {"name": "small"}},
    )


def warned(path: Path) -> Path:
    """A notebook with two warnings: settings on its imports cell, and a secret not set here."""
    return make_notebook(
        path,
        [
            code("import os", "imports", "limit:cpu:1"),
            code("%%step make --secret creds:token:KFPJ_TEST_NEVER_SET\nvalues = [1, 2]"),
            code("%%step total\ntotal = sum(values)"),
        ],
        metadata={"kfp_jupyter": {"name": "warned"}},
    )


IGNORED = "the step settings of this 'imports' cell are ignored"
SECRET = "steps read secrets from KFPJ_TEST_NEVER_SET, which is not set here"


# --- 1. compile -o as the command line ---------------------------------------------------------


@pytest.mark.parametrize("output", ["out/", ".", "out"])
def test_compile_to_a_folder_is_the_command_lines_error_and_writes_nothing(
    ip: Any, tmp_path: Path, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = small(tmp_path / "small.ipynb")
    (tmp_path / "out").mkdir()
    message = usage_error(run(ip, f"%kfp compile {nb.name} -o {output}"))
    assert "is a folder; name a file in it" in message, message
    assert "Traceback" not in capsys.readouterr().err
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "small.yaml").exists()
    cli = kfpj("compile", nb.name, "-o", output, cwd=tmp_path)
    assert cli.returncode == 2
    assert cli.stderr.strip() == f"error: {message}"


def test_compile_to_dash_prints_the_pipeline_and_writes_no_file(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = small(tmp_path / "small.ipynb")
    assert run(ip, f"%kfp compile {nb.name} -o -").success
    printed = capsys.readouterr().out
    assert yaml.safe_load(printed)["pipelineInfo"]["name"] == "small"
    assert not (tmp_path / "-").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["small.ipynb"]
    assert printed == kfpj("compile", nb.name, "-o", "-", cwd=tmp_path).stdout


def test_compile_under_a_file_is_a_usage_error_and_writes_nothing(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = small(tmp_path / "small.ipynb")
    message = usage_error(run(ip, f"%kfp compile {nb.name} -o small.ipynb/out.yaml"))
    assert "'small.ipynb' is a file, not a folder" in message, message
    assert "Traceback" not in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["small.ipynb"]


# --- 2. the notebook's warnings before a run or a submission ----------------------------------


def test_run_prints_the_notebooks_warnings_as_the_command_line_does(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nb = warned(tmp_path / "warned.ipynb")
    result = run(ip, f"%kfp run {nb.name} --wait --store {tmp_path / 'runs'}")
    assert result.success, result.error_in_exec
    err = capsys.readouterr().err
    cli = kfpj("run", nb.name, store=tmp_path / "cli-runs", cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    for said in (IGNORED, SECRET):
        assert f"warning: {said}" in err or f"warning: cell 1: {said}" in err, err
        assert said in cli.stderr
    assert err.count("warning:") == cli.stderr.count("warning:") == 2


def test_submit_prints_the_notebooks_warnings(
    ip: Any, tmp_path: Path, kfp_api: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from servers.helpers import TOKEN_ENV

    nb = warned(tmp_path / "warned.ipynb")
    line = f"%kfp submit {nb.name} --engine kfp --host {kfp_api.url} --token-env {TOKEN_ENV}"
    result = run(ip, line)
    assert result.success, result.error_in_exec
    result.result.wait(60)
    err = capsys.readouterr().err
    assert f"warning: cell 1: {IGNORED}" in err, err


# --- 3. a number that means nothing is refused before anything is done -------------------------


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_a_poll_interval_not_more_than_0_is_refused_and_nothing_is_sent(
    ip: Any, tmp_path: Path, kfp_api: Any, value: str
) -> None:
    from servers.helpers import TOKEN_ENV

    nb = small(tmp_path / "small.ipynb")
    line = (
        f"%kfp submit {nb.name} --engine kfp --host {kfp_api.url} --token-env {TOKEN_ENV} "
        f"--poll-interval {value}"
    )
    message = usage_error(run(ip, line))
    assert f"--poll-interval {float(value):g}: give a number of seconds more than 0" in message
    assert kfp_api.state.requests == []


def test_no_workers_is_refused_and_nothing_runs(ip: Any, tmp_path: Path) -> None:
    nb = small(tmp_path / "small.ipynb")
    message = usage_error(run(ip, f"%kfp run {nb.name} --workers 0 --store {tmp_path / 'runs'}"))
    assert "--workers 0: give a whole number more than 0" in message
    assert not (tmp_path / "runs").exists()


# --- 4. --help prints the usage ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "lists"),
    [
        ("%kfp run --help", "--workers"),
        ("%kfp run small.ipynb -h", "--keep-going"),
        ("%kfp submit --help", "--poll-interval"),
        ("%kfp compile --help", "--output"),
        ("%kfp show --help", "--run"),
        ("%kfp --help", "submit"),
    ],
)
def test_help_prints_the_usage_and_does_nothing_else(
    ip: Any, tmp_path: Path, line: str, lists: str, capsys: pytest.CaptureFixture[str]
) -> None:
    small(tmp_path / "small.ipynb")
    result = run(ip, line)
    assert result.success, result.error_in_exec
    assert result.result is None
    out = capsys.readouterr().out
    assert out.startswith("usage: %kfp"), out
    assert lists in out
    assert not (tmp_path / "store").exists()  # nothing ran


# --- 5. a store to read must exist ---------------------------------------------------------------


@pytest.mark.parametrize("run_id", [None, "abc123"])
def test_show_with_a_store_that_does_not_exist_says_so_and_creates_nothing(
    ip: Any, tmp_path: Path, run_id: str | None
) -> None:
    nb = small(tmp_path / "small.ipynb")
    line = f"%kfp show {nb.name} --store typo" + (f" --run {run_id}" if run_id else "")
    message = usage_error(run(ip, line))
    assert f"there is no run history in {tmp_path / 'typo'}" in message, message
    assert not (tmp_path / "typo").exists()


# --- 6. a syntax error in an annotated cell, in the cell's terms ------------------------------


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        ("before = 1\ny = (2\nafter = 3", 3, "SyntaxError: '(' was never closed"),
        ("before = 1\n  y = 2", 3, "IndentationError: unexpected indent"),
        ("before = 1\nreturn 5", 3, "SyntaxError: 'return' outside function"),
    ],
)
def test_a_syntax_error_in_a_step_cell_names_the_cell_line_without_our_frames(
    ip: Any, body: str, line: int, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(ip, f"%%step s\n{body}")
    assert not result.success
    shown = _ANSI.sub("", capsys.readouterr().out)
    assert says in shown, shown
    assert re.search(rf"Cell In\[\d+\], line {line}\n", shown), shown
    assert "Traceback" not in shown
    for ours in ("magics.py", "cells.py", "run_cell_magic", "ast.py"):
        assert ours not in shown, shown
    assert "before" not in ip.user_ns  # nothing of the cell ran


def test_an_error_raised_in_a_step_cell_names_the_line_of_the_cell(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(ip, "%%step s\nbefore = 1\nraise ValueError('boom')")
    assert isinstance(result.error_in_exec, ValueError)
    shown = _ANSI.sub("", capsys.readouterr().out)
    # the raise is the cell's third line, the magic line being its first
    assert re.search(r"Cell In\[\d+\], line 3\n.*raise ValueError\('boom'\)", shown, re.S), shown
