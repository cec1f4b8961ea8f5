"""The cell that loads our cell magics: a notebook written with magics needs one above them
("Cell magic not found" otherwise), and it belongs to no step. Read by the analysis (a plain
notebook's loader cell does not make it annotated) and written by `convert` and `compose`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .tags import is_our_tag

if TYPE_CHECKING:
    from .reader import Cell
    from .step_settings import StepSettings

#: The line that registers our cell magics; a cell of magics above it fails ("Cell magic not
#: found"), so a notebook converted to magics gets a `skip` cell holding it above them.
LOAD_MAGICS = "%load_ext kfp_jupyter"
_LOADS = frozenset({LOAD_MAGICS, "%reload_ext kfp_jupyter"})


def empty_body(settings: StepSettings) -> str:
    """The body of a cell magic with no code: IPython refuses a cell magic whose body is empty
    ("Run All" stops there), and a comment is code that does nothing."""
    if settings.notebook is not None:
        return "# the notebook's own parameter values"
    return "# (no code)"


def loads_magics(source: str) -> bool:
    """Whether a cell loads our magics (a line of its own, as people write it)."""
    return any(line.strip() in _LOADS for line in source.split("\n"))


def magics_loader(source: str, tags: Sequence[str]) -> bool:
    """Whether a cell is a `skip` cell that only loads our magics (comments aside): the cell a
    conversion to magics adds, which belongs to no step."""
    ours = [t.strip() for t in tags if is_our_tag(t)]
    lines = [ln.strip() for ln in source.split("\n") if ln.strip()]
    code = [ln for ln in lines if not ln.startswith("#")]
    return ours == ["skip"] and bool(code) and all(ln in _LOADS for ln in code)


def is_magics_loader(cell: Cell) -> bool:
    return cell.kind == "code" and magics_loader(cell.source, cell.tags)
