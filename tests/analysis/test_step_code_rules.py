"""What a step's code may rely on when it runs as a plain program rather than in the kernel:
`global` is refused (a step runs as a function, where it would reach the wrong names), a helper
may call `display`, a logger or a path from the functions cell may be used by every step, and a
version range stays one requirement. Each refusal names the cell and line and says what to do."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from engine_support import kfpj
from nbutil import code, make_notebook

from kfp_jupyter import NotebookError, load_notebook

if TYPE_CHECKING:
    from kfp_jupyter.errors import Problem


def _problems(tmp_path: Path, cells: list[Any]) -> list[Problem]:
    with pytest.raises(NotebookError) as e:
        load_notebook(make_notebook(tmp_path / "nb.ipynb", cells))
    return e.value.problems


def test_global_in_a_helper_is_refused_naming_cell_and_line(tmp_path: Path) -> None:
    (p,) = _problems(
        tmp_path,
        [
            code("def load_config():\n    global config\n    config = {'lr': 0.1}", "functions"),
            code("load_config()", "step:setup"),
            code("print(config)", "step:train"),
        ],
    )
    assert (p.cell, p.line) == (1, 2)
    assert "'global config' in a function" in p.message
    assert p.fix and "config = load_config()" in p.fix


def test_global_at_the_top_of_a_step_cell_is_refused(tmp_path: Path) -> None:
    (p,) = _problems(tmp_path, [code("global x\nx = 1", "step:a"), code("print(x)", "step:b")])
    assert (p.cell, p.line, p.step) == (1, 1, "a")
    assert p.fix and p.fix.startswith("remove it")


def test_a_helper_in_the_functions_cell_may_call_display(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("def show(rows):\n    display(rows[:2])", "functions"),
            code("rows = [1, 2, 3]\nshow(rows)", "step:a"),
        ],
    )
    r = kfpj("run", nb, store=tmp_path / "store")
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_logger_and_a_path_from_the_functions_cell_serve_every_step(tmp_path: Path) -> None:
    """Logging and writing files act on the world, not on the logger or the path: no step
    changes them, so every step may use them."""
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import logging\nfrom pathlib import Path", "imports"),
            code("log = logging.getLogger('nb')\nOUT = Path('out')", "functions"),
            code("OUT.mkdir(exist_ok=True)\nlog.warning('made')\nn = 2", "step:a"),
            code("(OUT / 'n.txt').write_text(str(n))\nlog.error('wrote')", "step:b"),
        ],
    )
    steps = {s.name: s for s in load_notebook(nb).steps}
    assert [i.name for i in steps["b"].inputs] == ["n"]


def test_a_version_range_on_a_magic_line_stays_one_requirement(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code('%%step train --packages "pandas>=2,<3",tabulate\nx = 1')],
    )
    (step,) = load_notebook(nb).steps
    assert "pandas>=2,<3" in step.packages and "tabulate" in step.packages
    assert "<3" not in step.packages


def test_a_version_range_in_a_tag_says_where_a_range_can_go(tmp_path: Path) -> None:
    problems = _problems(tmp_path, [code("x = 1", "step:a", "packages:pandas>=2,<3")])
    (p,) = [p for p in problems if "contains ','" in p.message]
    assert p.fix and "--packages" in p.fix and "'packages:<3'" not in p.fix


def test_a_step_magic_below_the_top_of_a_cell_is_reported_not_run_as_a_whole_notebook(
    tmp_path: Path,
) -> None:
    problems = _problems(
        tmp_path,
        [code("# Load\n%%step load\nx = 1"), code("# Train\n%%step train\ny = x + 1")],
    )
    assert [(p.cell, p.line) for p in problems] == [(1, 2), (2, 2)]
    assert all("is not the first line of the cell" in p.message for p in problems)
