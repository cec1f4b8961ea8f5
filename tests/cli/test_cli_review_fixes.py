"""The command line on bad input, through the real command: `compile -o` somewhere that cannot be
written, a meaningless number of seconds or workers, and a `--store` that does not exist given to
a command that reads runs. Each is exit status 2 and one clear line, no traceback, no internal
error, and nothing written or sent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_support import kfpj
from nbutil import small_notebook
from servers.helpers import TOKEN_ENV, cli, no_traceback

pytest_plugins = ["servers.fixtures"]


@pytest.fixture
def nb(tmp_path: Path) -> Path:
    return small_notebook(tmp_path)


def refused(result: subprocess.CompletedProcess[str], *says: str) -> None:
    """Bad input: exit 2 and a message naming it, not an internal error."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for words in says:
        assert words in result.stderr, result.stderr


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- compile -o --------------------------------------------------------------------------------


def test_compile_under_a_file_says_so_and_writes_nothing(nb: Path, tmp_path: Path) -> None:
    before = files(tmp_path)
    got = kfpj("compile", nb, "-o", tmp_path / "small.ipynb" / "out.yaml")
    refused(got, "cannot write", f"'{tmp_path / 'small.ipynb'}' is a file, not a folder")
    assert files(tmp_path) == before


def test_compile_to_a_name_too_long_for_the_file_system_writes_nothing(
    nb: Path, tmp_path: Path
) -> None:
    before = files(tmp_path)
    got = kfpj("compile", nb, "-o", tmp_path / ("x" * 300 + ".yaml"))
    refused(got, "cannot write", "give -o a file in a folder you can write")
    assert files(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_compile_into_a_read_only_folder_says_so_and_writes_nothing(
    nb: Path, tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        got = kfpj("compile", nb, "-o", locked / "out.yaml")
        refused(got, "cannot write", "Permission denied")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize(
    ("output", "says"),
    [("out/", "'out/' is a folder"), ("out", "'out' is a folder"), ("", "give a file name")],
)
def test_compile_to_a_folder_or_to_nothing_is_refused(
    nb: Path, tmp_path: Path, output: str, says: str
) -> None:
    (tmp_path / "out").mkdir()
    refused(kfpj("compile", nb.name, "-o", output, cwd=tmp_path), says)
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "small.yaml").exists()


def test_compile_creates_a_missing_folder_and_dash_is_standard_output(
    nb: Path, tmp_path: Path
) -> None:
    got = kfpj("compile", nb, "-o", tmp_path / "new" / "deeper" / "small.yaml")
    assert got.returncode == 0, got.stderr
    assert yaml.safe_load((tmp_path / "new" / "deeper" / "small.yaml").read_text())
    printed = kfpj("compile", nb.name, "-o", "-", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert yaml.safe_load(printed.stdout)["pipelineInfo"]["name"] == "small"
    assert not (tmp_path / "-").exists()


# --- numbers that mean nothing -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_a_poll_interval_not_more_than_0_is_refused_and_nothing_is_sent(
    nb: Path, kfp_api: Any, value: str
) -> None:
    result = cli(
        "submit", str(nb), "--engine", "kfp", "--host", kfp_api.url, "--token-env", TOKEN_ENV,
        "--wait", "--poll-interval", value,
    )  # fmt: skip
    no_traceback(result)
    assert result.exit_code == 2
    said = f"--poll-interval {float(value):g}: give a number of seconds more than 0"
    assert said in result.stderr, result.stderr
    assert kfp_api.state.requests == []


def test_no_workers_is_refused_and_nothing_runs(nb: Path, tmp_path: Path) -> None:
    got = kfpj("run", nb, "--workers", "0", store=tmp_path / "runs")
    refused(got, "--workers 0: give a whole number more than 0")
    assert not (tmp_path / "runs").exists()


# --- a store that does not exist -----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["runs", "list"],
        ["runs", "show", "latest"],
        ["runs", "logs", "latest", "make"],
        ["runs", "resume", "latest"],
        ["runs", "gc", "--keep", "1"],
        ["experiments", "list"],
        ["artifacts", "get", "latest", "make", "values"],
    ],
)
def test_a_runs_command_given_a_store_that_does_not_exist_says_so_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    got = kfpj(*command, store="typo", cwd=tmp_path)
    refused(got, f"there is no run history in {tmp_path / 'typo'}")
    assert not (tmp_path / "typo").exists()
