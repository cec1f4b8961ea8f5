"""Build notebooks for tests: a list of cells, each code (with tags) or markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat


def code(source: str, *tags: str) -> Any:
    c = nbformat.v4.new_code_cell(source)
    if tags:
        c.metadata["tags"] = list(tags)
    return c


def md(source: str) -> Any:
    return nbformat.v4.new_markdown_cell(source)


def make_notebook(path: Path, cells: list[Any], metadata: dict[str, Any] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    if metadata:
        nb.metadata.update(metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
