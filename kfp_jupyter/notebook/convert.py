"""`kfp-jupyter convert`: rewrite a notebook's annotations as cell tags or as cell magics.

Only our annotations change: code, outputs, markdown, notebook metadata and other tools' tags stay
as they are, and the converted notebook gives the same pipeline as the original. Cells that carry
no annotation (they continue the cell above) are left alone, so the grouping does not change.
Magics exist only once the extension is loaded, so a conversion that writes them makes sure a
cell loads it first (a `skip` cell at the top, added if none does): "Run All" then works.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from ..errors import NotebookError, Problem
from ..fileio import write_atomically
from .annotations import Annotation, annotate, magic_line_index
from .magic_lines import format_magic_line
from .reader import from_nbformat, notebook_json, read_text
from .roles import ROLE_TAGS, Role
from .tags import is_our_tag, parse_tags, role_tags, settings_to_tags

Style = Literal["tags", "magics"]

#: Role tags other tools also read (papermill's `parameters`): kept when converting to magics.
SHARED_TAGS = frozenset({"parameters"})

#: The line that registers our cell magics; a cell of magics above it fails ("Cell magic not
#: found"), so a notebook converted to magics starts with a `skip` cell holding it.
LOAD_MAGICS = "%load_ext kfp_jupyter"
_LOADS = frozenset({LOAD_MAGICS, "%reload_ext kfp_jupyter"})


def _source(cell: dict[str, Any]) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def loads_magics(source: str) -> bool:
    """Whether a cell loads our magics (a line of its own, as people write it)."""
    return any(line.strip() in _LOADS for line in source.split("\n"))


def _loaded_in_time(cells: list[dict[str, Any]]) -> bool:
    """Whether a code cell loads the magics before the first cell that starts with one."""
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        text = _source(cell)
        if magic_line_index(text) is not None:
            return False
        if loads_magics(text):
            return True
    return True  # no magic cell at all


def _loader_cell(nb: dict[str, Any]) -> dict[str, Any]:
    """The `skip` cell that loads the magics, in the notebook's own layout (a cell id where the
    format has them, one no other cell has, the same on every conversion)."""
    cells = nb["cells"]
    as_list = any(isinstance(c.get("source"), list) for c in cells)
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": ["skip"]},
        "outputs": [],
        "source": [LOAD_MAGICS] if as_list else LOAD_MAGICS,
    }
    if nb.get("nbformat_minor", 0) >= 5:  # nbformat 4.5: every cell has an id
        taken = {c.get("id") for c in cells}
        names = (f"load-kfp-jupyter{n or ''}" for n in range(len(cells) + 1))
        cell["id"] = next(name for name in names if name not in taken)
    return cell


def _lines_after_magic(source: str) -> str:
    at = magic_line_index(source)
    if at is None:
        return source
    return "\n".join(source.split("\n")[at + 1 :])


def _to_magics(a: Annotation, tags: list[str]) -> tuple[str, list[str]]:
    role = Role.STEP if a.role in (Role.STEP, Role.CONTINUE) else a.role
    kept = [t for t in tags if not is_our_tag(t) or t.strip() in SHARED_TAGS]
    if role != Role.STEP:
        # a non-step cell's settings have no magic form; keep them so nothing is lost
        kept += settings_to_tags(a.settings)
    line = format_magic_line(role, a.step, a.settings)
    body = _lines_after_magic(a.cell.source)
    return (line + "\n" + body if body else line), kept


def _to_tags(a: Annotation, tags: list[str]) -> tuple[str, list[str]]:
    kept = [t for t in tags if not is_our_tag(t) or t.strip() in SHARED_TAGS]
    role = a.role
    has_role = any(ROLE_TAGS.get(t.strip()) == role for t in kept)
    ours = [] if has_role else role_tags(role, a.step)
    return _lines_after_magic(a.cell.source), kept + ours + settings_to_tags(a.settings)


def convert_notebook(src: Path, style: str, dst: Path) -> int:
    """Write `src` with its annotations in `style` to `dst`; return how many cells are annotated.

    Raises NotebookError (and writes nothing) if `src` is not a valid notebook or its
    annotations cannot be read.
    """
    if style not in ("tags", "magics"):
        raise NotebookError(
            Problem(f"unknown annotation style {style!r}", fix="use 'tags' or 'magics'")
        )
    src, dst = Path(src), Path(dst)
    nb = notebook_json(read_text(src), src)
    nbfile = from_nbformat(nb, src)
    annotations, problems, _ = annotate(nbfile.cells)
    if problems:
        raise NotebookError(problems)
    by_index = {a.cell.index: a for a in annotations if a.style != "none"}
    count = 0
    wrote_magics = False
    for i, cell in enumerate(nb["cells"], start=1):
        a = by_index.get(i)
        if a is None:
            continue
        count += 1
        metadata = cell.setdefault("metadata", {})
        tags = [str(t) for t in metadata.get("tags", [])]
        has_magic = magic_line_index(a.cell.source) is not None
        has_our_tags = any(is_our_tag(t) and t.strip() not in SHARED_TAGS for t in tags)
        if style == "tags" and not has_magic:
            continue  # already tags
        if style == "magics" and has_magic and not has_our_tags:
            continue  # already a magic
        if style == "magics" and not has_magic and loads_magics(a.cell.source):
            continue  # a magic line would stop it loading the magics: its tags stay
        wrote_magics = wrote_magics or style == "magics"
        source, new_tags = (_to_tags if style == "tags" else _to_magics)(a, tags)
        parse_tags(new_tags)  # what we write must read back
        # keep the file's way of storing text: one string, or a list of lines
        cell["source"] = (
            source.splitlines(keepends=True) if isinstance(cell["source"], list) else source
        )
        if new_tags:
            metadata["tags"] = new_tags
        else:
            metadata.pop("tags", None)
    if wrote_magics and not _loaded_in_time(nb["cells"]):
        nb["cells"].insert(0, _loader_cell(nb))
    # the layout Jupyter writes, so that a converted notebook diffs cleanly
    write_atomically(
        dst, json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", keep_mode=True
    )
    return count
