"""`kfp-jupyter convert`: rewrite a notebook's annotations as cell tags or as cell magics.

Only our annotations change: code, outputs, markdown, notebook metadata and other tools' tags stay
as they are, and the converted notebook gives the same pipeline as the original. Cells that carry
no annotation (they continue the cell above) are left alone, so the grouping does not change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

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
    # the layout Jupyter writes, so that a converted notebook diffs cleanly
    write_atomically(
        dst, json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", keep_mode=True
    )
    return count
