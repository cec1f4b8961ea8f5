"""`kfp-jupyter compose` writes its pipeline notebook without losing one: never over a notebook it
composes (that would also make a pipeline that runs itself), never over an existing file unless
--replace says so, into folders it makes, and all at once. A notebook step that leads back to a
notebook already running is an error when the notebook is read, naming the cell, not a
RecursionError deep in a run. All through the real command."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nbformat
import pytest
from engine_support import kfpj
from nbutil import code, make_notebook


@pytest.fixture
def nbs(tmp_path: Path) -> tuple[Path, Path]:
    a = make_notebook(tmp_path / "a.ipynb", [code("start = 1", "parameters"), code("x = start")])
    b = make_notebook(tmp_path / "b.ipynb", [code("y = 2")])
    return a, b


def refused(result: subprocess.CompletedProcess[str], *says: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for words in says:
        assert words in result.stderr, result.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def composed_steps(path: Path) -> list[str]:
    book = nbformat.read(str(path), as_version=4)
    nbformat.validate(book)
    return [c.source.split("\n", 1)[0] for c in book.cells if c.source.startswith("%%notebook")]


@pytest.mark.parametrize("which", [0, 1])
def test_an_output_that_is_one_of_the_notebooks_is_refused_even_with_replace(
    nbs: tuple[Path, Path], tmp_path: Path, which: int
) -> None:
    before = snapshot(tmp_path)
    for more in ([], ["--replace"]):
        got = kfpj("compose", *nbs, "-o", nbs[which], *more)
        refused(got, "it is one of the notebooks composed", "give another output path")
        assert snapshot(tmp_path) == before


def test_the_same_notebook_by_another_path_is_refused(
    nbs: tuple[Path, Path], tmp_path: Path
) -> None:
    (tmp_path / "link.ipynb").symlink_to(nbs[0])
    before = snapshot(tmp_path)
    got = kfpj("compose", tmp_path / "link.ipynb", nbs[1], "-o", "./a.ipynb", cwd=tmp_path)
    refused(got, "it is one of the notebooks composed")
    assert snapshot(tmp_path) == before


def test_an_existing_output_is_kept_unless_replace(nbs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "p.ipynb"
    out.write_text("my own notes\n")
    got = kfpj("compose", *nbs, "-o", out)
    refused(got, f"refusing to overwrite '{out}'", "--replace")
    assert out.read_text() == "my own notes\n"
    got = kfpj("compose", *nbs, "-o", out, "--replace")
    assert got.returncode == 0, got.stderr
    assert composed_steps(out) == [
        "%%notebook a a.ipynb",
        "%%notebook b b.ipynb --after a",
    ]


def test_the_default_output_is_kept_too(nbs: tuple[Path, Path], tmp_path: Path) -> None:
    assert kfpj("compose", *nbs, cwd=tmp_path).returncode == 0
    first = (tmp_path / "pipeline.ipynb").read_bytes()
    got = kfpj("compose", nbs[1], nbs[0], cwd=tmp_path)
    refused(got, "refusing to overwrite 'pipeline.ipynb'")
    assert (tmp_path / "pipeline.ipynb").read_bytes() == first


def test_missing_folders_of_the_output_are_made(nbs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "p.ipynb"
    got = kfpj("compose", *nbs, "-o", out)
    assert got.returncode == 0, got.stderr
    # the notebooks' paths are relative to the output's folder
    assert composed_steps(out)[0] == "%%notebook a ../../a.ipynb"
    assert sorted(p.name for p in out.parent.iterdir()) == ["p.ipynb"]
    shown = kfpj("inspect", out, "--json")
    assert shown.returncode == 0, shown.stderr


def test_an_output_that_cannot_be_written_leaves_nothing(
    nbs: tuple[Path, Path], tmp_path: Path
) -> None:
    before = snapshot(tmp_path)
    got = kfpj("compose", *nbs, "-o", tmp_path / "a.ipynb" / "p.ipynb")
    refused(got, "cannot write")
    assert snapshot(tmp_path) == before


# --- notebook steps that lead back ----------------------------------------------------------


def test_a_notebook_step_of_the_notebook_itself_is_an_error_naming_the_cell(
    tmp_path: Path,
) -> None:
    nb = make_notebook(
        tmp_path / "self.ipynb",
        [code("%%step make\nx = 1"), code("%%notebook again ./self.ipynb --after make\n")],
    )
    for command in ("inspect", "compile"):
        got = kfpj(command, nb)
        refused(got, "cell 2 / step 'again'", "notebook './self.ipynb' is this notebook itself")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["self.ipynb"]


def test_a_loop_of_notebook_steps_is_an_error_saying_the_way_back(tmp_path: Path) -> None:
    top = make_notebook(tmp_path / "top.ipynb", [code("%%notebook go sub/b.ipynb\n")])
    make_notebook(tmp_path / "sub" / "b.ipynb", [code("%%notebook on c.ipynb\n")])
    make_notebook(tmp_path / "sub" / "c.ipynb", [code("%%notebook back ../top.ipynb\n")])
    got = kfpj("run", top, store=tmp_path / "store")
    refused(
        got,
        "cell 1 / step 'go'",
        "notebook 'sub/b.ipynb' runs c.ipynb, which runs this notebook",
    )
    assert not (tmp_path / "store").exists()  # nothing ran, nothing was recorded
    # from the middle of the loop, the same loop is told from there
    refused(kfpj("inspect", tmp_path / "sub" / "b.ipynb"), "runs top.ipynb, which runs this")


def test_a_composed_pipeline_over_its_own_input_is_an_error_not_a_recursion(
    nbs: tuple[Path, Path], tmp_path: Path
) -> None:
    """What a `compose a b -o a` wrote before it was refused: a.ipynb running itself."""
    got = kfpj("compose", *nbs, "-o", tmp_path / "p.ipynb")
    assert got.returncode == 0, got.stderr
    (tmp_path / "p.ipynb").replace(nbs[0])
    got = kfpj("run", nbs[0], store=tmp_path / "store")
    refused(got, "step 'a'", "notebook 'a.ipynb' is this notebook itself")
    assert "RecursionError" not in got.stdout + got.stderr


def test_a_notebook_run_twice_is_no_loop(tmp_path: Path) -> None:
    make_notebook(tmp_path / "d.ipynb", [code("y = 2")])
    nb = make_notebook(
        tmp_path / "twice.ipynb",
        [code("%%notebook one d.ipynb\n"), code("%%notebook two d.ipynb --after one\n")],
    )
    got = kfpj("inspect", nb, "--json")
    assert got.returncode == 0, got.stderr
