"""Every notebook error, through the real command line: exit status 2, a clear message naming the
cell and the step on stderr, no Python traceback, and no file written by `compile -o`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nbutil import code, make_notebook, md


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


#: name -> (cells, what stderr must say: cell, step and words of the message)
CASES: dict[str, tuple[list[Any], list[str]]] = {
    "cycle": (
        [code("a = 1", "step:one", "prev:two"), code("b = 2", "step:two", "prev:one")],
        ["cell 1", "step 'one'", "dependency cycle: one -> two -> one", "'prev:two'"],
    ),
    "unknown-prev": (
        [code("a = 1", "step:train"), md("x"), code("b = a", "step:evaluate", "prev:trian")],
        ["cell 3", "step 'evaluate'", "'trian'", "did you mean 'train'?"],
    ),
    "unknown-after": (
        [code("%%step train\na = 1"), code("%%step test --after trainn\nb = a")],
        ["cell 2", "step 'test'", "'trainn'", "did you mean 'train'?"],
    ),
    "syntax": (
        [code("a = 1", "step:one"), code("b = 1\nc = (2 +\n", "step:two")],
        ["cell 2, line", "step 'two'", "syntax error", "fix:"],
    ),
    "undefined": (
        [code("a = 1", "step:one"), code("b = a + nowhere", "step:two")],
        ["cell 2, line 1", "step 'two'", "'nowhere'", "fix:"],
    ),
    "defined-later": (
        [code("b = late", "step:early"), code("late = 1", "step:later")],
        ["cell 1", "step 'early'", "'late'", "prev:later"],
    ),
    "ambiguous": (
        [code("x = 1", "step:left"), code("x = 2", "step:right"), code("y = x", "step:join")],
        ["cell 3", "step 'join'", "'left'", "'right'", "ambiguous"],
    ),
    "invalid-step-name": (
        [code("a = 1", "step:Load Data")],
        ["cell 1", "step 'Load Data'", "invalid step name", "'load-data'"],
    ),
    "bad-magic": (
        [code("%%step train --gpu\na = 1")],
        ["cell 1", "--gpu", "usage: %%step"],
    ),
    "conflicting-settings": (
        [
            code("a = 1", "step:s", "image:python:3.10"),
            code("b = a", "step:s", "image:python:3.12"),
        ],
        ["cell 2", "step 's'", "image", "fix:"],
    ),
    "undefined-metric": (
        [code("acc = 1", "step:s"), code("acc\nrecall", "pipeline-metrics")],
        ["cell 2", "'recall'", "fix:"],
    ),
    "bad-parameter": (
        [code("size = (1, 2)", "pipeline-parameters"), code("a = size", "step:s")],
        ["cell 1, line 1", "'size'", "tuple", "fix:"],
    ),
    "bad-tag": (
        [code("a = 1", "step:s", "limit:memory:lots")],
        ["cell 1", "memory", "fix:"],
    ),
}


def check_refused(r: subprocess.CompletedProcess[str], words: list[str]) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    for w in words:
        assert w in r.stderr, (w, r.stderr)
    assert len(r.stderr.splitlines()) <= 12  # a few clear lines, not a dump


@pytest.mark.parametrize("case", sorted(CASES))
def test_compile_refuses_and_writes_nothing(tmp_path: Path, case: str) -> None:
    cells, words = CASES[case]
    nb = make_notebook(tmp_path / f"{case}.ipynb", cells)
    out = tmp_path / "out" / "pipeline.yaml"
    r = run_cli("compile", str(nb), "-o", str(out))
    check_refused(r, words)
    assert not out.exists() and not out.parent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{case}.ipynb"]


@pytest.mark.parametrize("case", ["cycle", "undefined", "bad-magic"])
def test_inspect_refuses_and_json_gets_only_the_problems(tmp_path: Path, case: str) -> None:
    cells, words = CASES[case]
    nb = make_notebook(tmp_path / "nb.ipynb", cells)
    r = run_cli("inspect", str(nb))
    check_refused(r, words)
    assert r.stdout == ""
    # --json promises one JSON object on stdout: the problems, as the server's 422 gives them
    r = run_cli("inspect", str(nb), "--json")
    check_refused(r, words)
    assert json.loads(r.stdout)["problems"], r.stdout


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{ this is not json", ["not a valid notebook", "not JSON", "fix:"]),
        (
            '{"cells": [{"cell_type": "code"}], "nbformat": 4, "nbformat_minor": 5}',
            ["not a valid notebook"],
        ),
        (None, ["does not exist", "fix:"]),
    ],
)
def test_broken_or_missing_notebook(tmp_path: Path, content: str | None, words: list[str]) -> None:
    nb = tmp_path / "nb.ipynb"
    if content is not None:
        nb.write_text(content)
    out = tmp_path / "out.yaml"
    r = run_cli("compile", str(nb), "-o", str(out))
    check_refused(r, [*words, "nb.ipynb"])
    assert not out.exists()


def test_every_problem_is_listed(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("a = first_missing", "step:one"), code("b = second_missing", "step:two")],
    )
    r = run_cli("compile", str(nb), "-o", str(tmp_path / "o.yaml"))
    check_refused(
        r, ["2 problems", "'first_missing'", "'second_missing'", "step 'one'", "step 'two'"]
    )


def test_compile_failure_leaves_an_existing_output_alone(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "nb.ipynb", [code("a = missing", "step:one")])
    out = tmp_path / "pipeline.yaml"
    out.write_text("previous: true\n")
    check_refused(run_cli("compile", str(nb), "-o", str(out)), ["'missing'"])
    assert out.read_text() == "previous: true\n"
