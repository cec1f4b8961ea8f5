"""A first-hour user's findings, through the real commands: a notebook converted to magics runs
top to bottom ("Run All") because it loads the magics first; `artifacts get` does not write a
stored file under another format's suffix; `inspect` piped prints its table uncut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from engine_support import kfpj
from nbutil import code, make_notebook, md

LOAD = "%load_ext kfp_jupyter"


def tagged(path: Path, *first: Any) -> Path:
    return make_notebook(
        path,
        [
            md("# Tags"),
            *first,
            code("import math", "imports"),
            code("n = 3", "pipeline-parameters"),
            code("xs = [math.sqrt(i) for i in range(n)]", "step:load"),
            code("total = sum(xs)", "step:train"),
            code("total", "pipeline-metrics"),
        ],
        {"kfp_jupyter": {"name": "tags"}},
    )


def cells(path: Path) -> list[Any]:
    return list(nbformat.read(str(path), as_version=4).cells)


def steps(path: Path) -> list[str]:
    p = kfpj("inspect", path, "--json")
    assert p.returncode == 0, p.stderr
    return [s["name"] for s in json.loads(p.stdout)["steps"]]


def convert(src: Path, style: str, out: Path) -> None:
    p = kfpj("convert", src, "--to", style, "-o", out)
    assert p.returncode == 0, p.stderr


# --- 1. convert --to magics loads the magics first ---------------------------------------------


def test_converted_to_magics_the_notebook_starts_by_loading_them(tmp_path: Path) -> None:
    src = tagged(tmp_path / "tags.ipynb")
    out = tmp_path / "magics.ipynb"
    convert(src, "magics", out)
    first, *rest = cells(out)
    assert first.source == LOAD and first.metadata["tags"] == ["skip"]
    assert [c.source for c in rest][1].startswith("%%imports")
    nbformat.validate(nbformat.read(str(out), as_version=4))  # a cell id as nbformat 4.5 wants
    assert steps(out) == steps(src) == ["load", "train"]
    # back to tags: the loading cell is a skipped cell, never a step; to magics again: one only
    back, again = tmp_path / "back.ipynb", tmp_path / "again.ipynb"
    convert(out, "tags", back)
    assert steps(back) == ["load", "train"]
    assert [c.source for c in cells(back)].count(LOAD) == 1
    assert cells(back)[0].metadata["tags"] == ["skip"]
    convert(back, "magics", again)
    assert [c.source for c in cells(again)] == [c.source for c in cells(out)]


def test_a_notebook_that_loads_the_magics_keeps_its_own_cell(tmp_path: Path) -> None:
    src = tagged(tmp_path / "tags.ipynb", code(LOAD, "skip"))
    out = tmp_path / "magics.ipynb"
    convert(src, "magics", out)
    sources = [c.source for c in cells(out)]
    # no second loading cell, and its own is not turned into `%%skip` (which would need it)
    assert sources[:3] == ["# Tags", LOAD, "%%imports\nimport math"]
    assert cells(out)[1].metadata["tags"] == ["skip"]


@pytest.mark.slow
def test_run_all_works_on_the_converted_notebook(tmp_path: Path) -> None:
    from nbclient import NotebookClient

    out = tmp_path / "magics.ipynb"
    convert(tagged(tmp_path / "tags.ipynb"), "magics", out)
    nb = nbformat.read(str(out), as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    results = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in results if o.get("output_type") == "error"]
    # the metrics cell, last, shows the total the steps computed in the kernel
    assert nb.cells[-1].outputs[0]["data"]["text/plain"].startswith("2.414")


# --- 2. artifacts get: -o's suffix must be the stored file's -----------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose step `make` stores `rows` (a list, saved as rows.json)."""
    folder = tmp_path_factory.mktemp("suffix-run")
    nb = make_notebook(
        folder / "nb.ipynb",
        [code("%%step make\nrows = [1, 2, 3]"), code("%%step use\nprint(sum(rows))")],
    )
    st = folder / "store"
    ran = kfpj("run", nb, store=st)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return st


def test_an_output_is_not_written_under_another_formats_suffix(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "rows.csv"
    p = kfpj("artifacts", "get", "latest", "make", "rows", "-o", target, store=store)
    assert p.returncode == 2
    assert "stored as json (rows.json)" in p.stderr and str(target.with_suffix(".json")) in p.stderr
    assert "Traceback" not in p.stderr
    assert not target.exists() and not target.parent.exists()


@pytest.mark.parametrize("name", ["rows.json", "rows", "ROWS.JSON", "rows.data"])
def test_the_stored_suffix_no_suffix_or_an_unknown_one_is_written(
    store: Path, tmp_path: Path, name: str
) -> None:
    target = tmp_path / name
    p = kfpj("artifacts", "get", "latest", "make", "rows", "-o", target, store=store)
    assert p.returncode == 0, p.stderr
    assert json.loads(target.read_text()) == [1, 2, 3]


# --- 3. inspect, piped ---------------------------------------------------------------------------


def test_inspect_piped_prints_every_name_whole(tmp_path: Path) -> None:
    names = [f"a_rather_long_parameter_name_{i}" for i in range(4)]
    nb = make_notebook(
        tmp_path / "wide.ipynb",
        [
            code("\n".join(f"{n} = {i}" for i, n in enumerate(names)), "pipeline-parameters"),
            code(f"total_of_everything = {' + '.join(names)}", "step:a_step_with_a_long_name"),
        ],
    )
    p = kfpj("inspect", nb)  # stdout is a pipe, not a terminal
    assert p.returncode == 0, p.stderr
    row = next(line for line in p.stdout.splitlines() if "a_step_with_a_long_name" in line)
    assert "…" not in p.stdout
    assert all(n in row for n in names)
