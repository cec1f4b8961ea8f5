"""A cell whose magic makes it not Python (`%%bash`, `%%writefile`, ...) is left out of its step
whatever its body holds, with a warning; Jupyter runs it, so an indented line in it is no error."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbutil import code, inspect_json, make_notebook

from kfp_jupyter import NotebookError, load_notebook

INDENTED = {
    "bash": "%%bash\nif [ ! -f data.csv ]; then\n    echo 'a,b' > data.csv\nfi",
    "sh": "%%sh\nfor f in *.csv; do\n    wc -l $f\ndone",
    "writefile": "%%writefile helper.py\ndef f():\n    return 1",
    "html": "%%html\n<div>\n    <b>done</b>\n</div>",
}


@pytest.mark.parametrize("magic", sorted(INDENTED))
def test_an_indented_body_of_a_non_python_cell_magic_compiles(tmp_path: Path, magic: str) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import os", "imports"),
            code(INDENTED[magic], "block:download"),
            code("n = len(os.listdir('.'))", "block:count", "prev:download"),
        ],
    )
    data = inspect_json(nb)
    assert [s["name"] for s in data["steps"]] == ["download", "count"]
    said = [(w["cell"], w["step"], w["message"]) for w in data["warnings"]]
    assert (
        2,
        "download",
        f"cell magic %%{magic} is not Python; the cell is left out of the step",
    ) in said


def test_an_error_below_a_non_python_cell_still_points_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(NotebookError) as e:
        load_notebook(
            make_notebook(
                tmp_path / "nb.ipynb",
                [
                    code(INDENTED["bash"], "block:download"),
                    code("x = 1\ny = 2\nz = x +\n", "block:download"),
                ],
            )
        )
    (prob,) = e.value.problems
    assert (prob.cell, prob.line, prob.step) == (2, 3, "download")
    assert "syntax error" in prob.message
