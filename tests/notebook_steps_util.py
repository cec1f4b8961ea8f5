"""Notebooks that use notebook steps, built by the tests of notebook steps and by the KFP oracle
(which compiles them with the kfp SDK too)."""

from __future__ import annotations

from pathlib import Path

from nbutil import code, make_notebook, md


def plain(path: Path) -> Path:
    """A notebook as anyone writes one: papermill's parameters cell, no annotation."""
    return make_notebook(
        path,
        [
            md("# a plain notebook"),
            code("n = 3\nscale = 2.0", "parameters"),
            code(
                "values = [i * scale for i in range(n)]\ntotal = sum(values)\nprint('total', total)"
            ),
            code("total", "pipeline-metrics"),
        ],
    )


def child(path: Path, body: str = "rows = list(range(count))\nsize = len(rows) * factor") -> Path:
    return make_notebook(
        path,
        [
            code("import math"),
            code("count = 2\nfactor = 1\nlabel = 'none'", "parameters"),
            code(body + "\nprint('child', label, size)"),
            code("size", "pipeline-metrics"),
        ],
    )


def parent(folder: Path, *, tags: bool = True) -> Path:
    """count is a literal, factor passes the pipeline parameter through, rows flows on."""
    child(folder / "children" / "child.ipynb")
    cells = [
        code("factor = 3", "pipeline-parameters"),
        code(
            "count = 4\nfactor = factor\nlabel = 'from parent'",
            "step:run_child",
            "notebook:children/child.ipynb",
            "outputs:rows",
        )
        if tags
        else code(
            "%%notebook run_child children/child.ipynb --outputs rows\n"
            "count = 4\nfactor = factor\nlabel = 'from parent'"
        ),
        code("doubled = [2 * r for r in rows]\ntotal = sum(doubled)", "step:use_rows"),
        code("total", "pipeline-metrics"),
    ]
    return make_notebook(folder / "parent.ipynb", cells)


# --- what the notebook means ----------------------------------------------------------------
