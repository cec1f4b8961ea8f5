"""A failing step speaks in the notebook's terms: its exception first, then `cell N, line M` with
the cell's line for each frame of step code, library frames as they are, then the log; the same
in `run`, `runs logs`, `runs show` and the widget's details, kept after the notebook is gone."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from engine_support import failed_block, kfpj, show, tasks
from nbutil import code, make_notebook, md

# cell numbers count every cell of the notebook from 1, markdown included, as other messages do
IMPORTS_CELL, FUNCTIONS_CELL = 2, 3


def _notebook(path: Path) -> Path:
    return make_notebook(
        path,
        [
            md("# steps that fail"),
            code("import json\nimport sys", "imports"),
            code(
                "def parse(text):\n"
                "    return json.loads(text)\n"
                "\n"
                "def ratio(a, b):\n"
                "    return a / b",
                "functions",
            ),
            code("x = 1\nprint('before the failure')\ny = x / 0", "step:own"),  # cell 4
            code("print('dividing')\nz = ratio(1, 0)", "step:viafunc"),  # cell 5
            code("data = parse('{not json')", "step:library"),  # cell 6
            code("w = eval('1 +')", "step:syntax"),  # cell 7
            code(
                "import threading\n"
                "t = threading.Thread(target=lambda: 1 / 0)\n"
                "t.start()\n"
                "t.join()\n"
                "sys.exit(3)",
                "step:exits",
            ),  # cell 8
            code(
                "try:\n    {}['key']\nexcept KeyError as e:\n    raise ValueError('no key') from e",
                "step:chained",
            ),  # cell 9
            code(
                "class BadInput(Exception):\n    pass\n\nraise BadInput('odd row')", "step:custom"
            ),  # cell 10
        ],
    )


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """One run of the notebook (every step fails its own way): (notebook, store, run output)."""
    tmp = tmp_path_factory.mktemp("errors")
    nb = _notebook(tmp / "nb" / "fails.ipynb")
    store = tmp / "store"
    p = kfpj("run", nb, "--keep-going", store=store)
    assert p.returncode == 1, p.stdout + p.stderr
    return nb, store, p.stdout


def test_run_shows_the_exception_first_then_the_cell_and_its_line(
    failed: tuple[Path, Path, str],
) -> None:
    _, _, out = failed
    text = failed_block(out, "own")
    assert text.splitlines()[0] == "ZeroDivisionError: division by zero"
    assert "cell 4, line 3, in step own\n    y = x / 0" in text
    assert text.index("y = x / 0") < text.index("before the failure")  # then the log
    assert "programs/" not in out and "_kfpj" not in out


def test_an_error_in_a_function_of_the_functions_cell_maps_both_frames(
    failed: tuple[Path, Path, str],
) -> None:
    text = failed_block(failed[2], "viafunc")
    assert text.splitlines()[0] == "ZeroDivisionError: division by zero"
    assert "cell 5, line 2, in step viafunc\n    z = ratio(1, 0)\n" in text
    assert f"cell {FUNCTIONS_CELL}, line 5, in ratio\n    return a / b" in text
    assert text.index("z = ratio(1, 0)") < text.index("return a / b")


def test_library_frames_are_kept_and_step_frames_mapped(failed: tuple[Path, Path, str]) -> None:
    text = failed_block(failed[2], "library")
    assert text.splitlines()[0].startswith("json.decoder.JSONDecodeError: Expecting property name")
    assert "cell 6, line 1, in step library\n    data = parse('{not json')" in text
    assert f"cell {FUNCTIONS_CELL}, line 2, in parse\n    return json.loads(text)" in text
    assert re.search(r'File ".*json[/\\]decoder\.py", line \d+, in raw_decode', text)


def test_a_syntax_error_raised_by_step_code_is_mapped(failed: tuple[Path, Path, str]) -> None:
    text = failed_block(failed[2], "syntax")
    assert text.splitlines()[0].startswith("SyntaxError: ")
    assert "cell 7, line 1, in step syntax\n    w = eval('1 +')" in text


def test_exit_codes_and_threads_are_the_steps_own(failed: tuple[Path, Path, str]) -> None:
    _, store, out = failed
    t = tasks(show(store))
    assert t["exits"]["state"] == "FAILED" and t["exits"]["exit_code"] == 3
    assert t["own"]["exit_code"] == 1 and t["library"]["exit_code"] == 1
    exits = failed_block(out, "exits")
    assert "ZeroDivisionError" in exits  # the thread's traceback is still in the log
    assert "cell 8" not in exits.splitlines()[0]  # sys.exit is no exception to report


def test_a_chained_exception_shows_its_cause(failed: tuple[Path, Path, str]) -> None:
    text = failed_block(failed[2], "chained")
    assert text.splitlines()[0] == "ValueError: no key"
    assert "KeyError: 'key'" in text
    assert "direct cause of the following exception" in text
    assert "cell 9, line 4, in step chained\n    raise ValueError('no key') from e" in text


def test_runs_logs_and_runs_show_keep_it_after_the_notebook_is_gone(
    failed: tuple[Path, Path, str],
) -> None:
    nb, store, _ = failed
    shutil.rmtree(nb.parent)
    logs = kfpj("runs", "logs", "latest", "viafunc", store=store)
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert lines[0] == "ZeroDivisionError: division by zero"
    assert f"cell {FUNCTIONS_CELL}, line 5, in ratio" in logs.stdout
    assert logs.stdout.index("return a / b") < logs.stdout.index("dividing")  # then the log
    assert "programs/" not in logs.stdout
    shown = kfpj("runs", "show", "latest", store=store)
    assert shown.returncode == 0, shown.stderr
    assert "step own failed:" in shown.stdout
    assert "ZeroDivisionError: division by zero" in shown.stdout
    assert "cell 4, line 3, in step own" in shown.stdout


def test_the_subprocess_launcher_maps_the_same(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "one.ipynb", [code("a = [1]\nb = a[5]", "step:only")])
    p = kfpj("run", nb, "--launcher", "subprocess", store=tmp_path / "store")
    assert p.returncode == 1, p.stdout + p.stderr
    text = failed_block(p.stdout, "only")
    assert text.splitlines()[0] == "IndexError: list index out of range"
    assert "cell 1, line 2, in step only\n    b = a[5]" in text
    assert "programs/" not in p.stdout


def test_a_magic_cell_counts_its_lines_from_the_magic_line(tmp_path: Path) -> None:
    """A `%%step` cell's code starts at its line 2: `line M` is the line the cell shows."""
    nb = make_notebook(
        tmp_path / "magic.ipynb",
        [code("%%step first\na = [1]\nb = a[5]"), code("%%step second\nc = 1")],
    )
    p = kfpj("run", nb, store=tmp_path / "store")
    assert p.returncode == 1, p.stdout + p.stderr
    text = failed_block(p.stdout, "first")
    assert "cell 1, line 3, in step first\n    b = a[5]" in text, text


def test_the_widget_details_show_the_mapped_error(failed: tuple[Path, Path, str]) -> None:
    from kfp_jupyter.engine.history import History
    from kfp_jupyter.engine.store import open_store
    from kfp_jupyter.jupyter.details import step_details

    _, store, _ = failed
    st = open_store(str(store), create=False)
    history = History(st.db_path)
    run = show(store)
    d = step_details(
        {"name": "own"},
        state={"state": "FAILED"},
        run={"id": run["id"], "engine": "local"},
        history=history,
    )
    assert d["error"].splitlines()[0] == "ZeroDivisionError: division by zero"
    assert {"cell": 4, "line": 3, "name": "step own", "source": "y = x / 0"} in d["error_frames"]
    assert d["log_tail"].startswith("ZeroDivisionError: division by zero")  # what the panel shows
    assert "before the failure" in d["log_tail"]


def test_a_class_from_a_cell_is_named_as_the_notebook_names_it(
    failed: tuple[Path, Path, str],
) -> None:
    text = failed_block(failed[2], "custom")
    assert text.splitlines()[0] == "BadInput: odd row"
    assert "<locals>" not in text
    assert "cell 10, line 4, in step custom" in text
