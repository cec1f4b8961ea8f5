"""`kfp-jupyter artifacts get` finds a variable written for a component by the notebook's name of
it (`n` for `n__str`) only when the output is one: a notebook's own variable whose name merely
has `__` in it (`data__raw`, even `frame__csv`) is never handed out as another variable's, and a
variable written in several formats asks for the whole name. Through the real command on a real
run (the container steps run with --host-exec)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from engine_support import kfpj
from nbutil import code, make_notebook

COPY = (
    "%%container copy --image busybox:1.36\n"
    'command: [sh, -c, \'cat "$0" > "$1"\', {inputPath: rows}, {outputPath: copied}]'
)
ECHO = (
    "%%container echo --image busybox:1.36\n"
    'command: [sh, -c, \'echo "$0 $1" > "$2"\', {inputValue: rows}, {inputValue: n}, '
    "{outputPath: echoed}]"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose step `make` stores: `rows` written for two containers (as a file, rows__auto,
    and as a value, rows__str), `n` written for one (n__str), and two variables of its own that
    look like such outputs (data__raw, frame__csv: saved as .json, read by a later Python step)."""
    folder = tmp_path_factory.mktemp("names-run")
    nb = make_notebook(
        folder / "names.ipynb",
        [
            code("%%step make\nrows = [1, 2, 3]\nn = 7\ndata__raw = [4]\nframe__csv = [5]"),
            code(COPY),
            code(ECHO),
            code(
                "%%step show\nprint(open(copied).read(), open(echoed).read(), data__raw, frame__csv)"
            ),
        ],
    )
    st = folder / "store"
    ran = kfpj("run", nb, "--host-exec", store=st)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return st


def get(store: Path, variable: str, out: Path) -> subprocess.CompletedProcess[str]:
    return kfpj("artifacts", "get", "latest", "make", variable, "-o", f"{out}/", store=store)


def test_a_variable_written_for_one_component_is_found_by_its_name(
    store: Path, tmp_path: Path
) -> None:
    got = get(store, "n", tmp_path)
    assert got.returncode == 0, got.stderr
    assert f"wrote {tmp_path / 'n__str'} (file" in got.stderr
    assert (tmp_path / "n__str").read_text(encoding="utf-8") == "7"


@pytest.mark.parametrize("variable", ["data", "frame"])
def test_a_variable_of_the_notebooks_own_is_not_taken_for_an_export(
    store: Path, tmp_path: Path, variable: str
) -> None:
    got = get(store, variable, tmp_path)
    assert got.returncode == 2, got.stderr
    assert "step 'make' of run " in got.stderr
    assert f"has no output {variable!r} (its outputs: " in got.stderr
    assert "data__raw" in got.stderr and "frame__csv" in got.stderr
    # the hint names a real export of the step (n__str), never one of these, which are no
    # component's files but variables of the notebook's own
    assert "VARIABLE__FORMAT (n__str)" in got.stderr, got.stderr
    assert "(data__raw) is" not in got.stderr and "(frame__csv) is" not in got.stderr
    assert "Traceback" not in got.stderr
    assert list(tmp_path.iterdir()) == []


def test_such_a_variable_is_copied_by_its_own_name(store: Path, tmp_path: Path) -> None:
    got = get(store, "data__raw", tmp_path)
    assert got.returncode == 0, got.stderr
    assert json.loads((tmp_path / "data__raw.json").read_text(encoding="utf-8")) == [4]


def test_a_variable_written_in_several_formats_asks_for_the_whole_name(
    store: Path, tmp_path: Path
) -> None:
    got = get(store, "rows", tmp_path)
    assert got.returncode == 2, got.stderr
    assert "wrote 'rows' for components in several formats (rows__auto, rows__str)" in got.stderr
    assert "give the output's whole name" in got.stderr
    assert list(tmp_path.iterdir()) == []
    for whole in ("rows__auto", "rows__str"):
        assert get(store, whole, tmp_path).returncode == 0
    assert json.loads((tmp_path / "rows__auto").read_text(encoding="utf-8")) == [1, 2, 3]
