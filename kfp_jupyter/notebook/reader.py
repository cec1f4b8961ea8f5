"""Read a notebook file with nbformat into plain, numbered cells."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotebookError, Problem


@dataclass(frozen=True)
class Cell:
    """One cell. `index` is 1-based over all cells, as a person counts them in the notebook."""

    index: int
    kind: str
    source: str
    tags: tuple[str, ...]

    @property
    def first_line(self) -> str:
        for line in self.source.splitlines():
            if line.strip():
                return line.strip()
        return ""


@dataclass(frozen=True)
class NotebookFile:
    path: Path | None
    cells: tuple[Cell, ...]
    metadata: dict[str, Any]


def read_notebook(path: str | Path) -> NotebookFile:
    """Read and validate `path`; a file that is not a notebook is a NotebookError, not a crash."""
    import nbformat

    p = Path(path)
    if not p.exists():
        raise NotebookError(Problem(f"notebook {str(p)!r} does not exist", fix="check the path"))
    if p.is_dir():
        raise NotebookError(Problem(f"{str(p)!r} is a folder, not a notebook", fix="give the path of an .ipynb file"))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise NotebookError(Problem(f"cannot read {str(p)!r}: {e}")) from None
    return parse_notebook_text(text, p)


def parse_notebook_text(text: str, path: Path | None = None) -> NotebookFile:
    import nbformat

    name = str(path) if path else "notebook"
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise NotebookError(
            Problem(f"{name} is not a valid notebook: not JSON ({e})", fix="open and re-save it in Jupyter")
        ) from None
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # nbformat raises several unrelated types for malformed files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise NotebookError(
            Problem(f"{name} is not a valid notebook: {msg}", fix="open and re-save it in Jupyter")
        ) from None
    del raw
    return from_nbformat(nb, path)


def from_nbformat(nb: Any, path: Path | None = None) -> NotebookFile:
    cells = []
    for i, c in enumerate(nb.cells, start=1):
        src = c.get("source", "")
        if isinstance(src, list):
            src = "".join(src)
        tags = tuple(str(t) for t in c.get("metadata", {}).get("tags", []) or [])
        cells.append(Cell(index=i, kind=str(c.get("cell_type", "code")), source=src, tags=tags))
    return NotebookFile(path=path, cells=tuple(cells), metadata=dict(nb.get("metadata", {})))
