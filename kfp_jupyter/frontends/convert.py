"""`kfp-jupyter convert`: rewrite a notebook's annotations as cell tags or as cell magics.

Only our annotations change: code, outputs, markdown, notebook metadata and other tools' tags stay
as they are, and the converted notebook gives the same pipeline as the original. Cells that carry
no annotation (they continue the cell above) are left alone, so the grouping does not change.
Magics exist only once the extension is loaded, so a conversion that writes them makes sure a
cell loads it first (a `skip` cell, added if none does): "Run All" then works.

Nothing is written on trust: the converted notebook is read in memory the way every command reads
a notebook, and each cell must keep its role, step and settings, and the pipeline its steps. A
cell one style cannot say (a tag holds no comma, a magic line no line break, a tag drops a limit
the magic keeps) stays in the style it has, with a warning; any other difference refuses the
conversion. A plain notebook (run whole as one step) has nothing to convert to magics: its
parameters and metrics cells keep the tags papermill reads. Paths relative to the notebook
(`component:`, `notebook:`, Kale's `notebook_path`) are rewritten for the output's folder.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..errors import NotebookError, Problem
from ..fileio import same_file, write_atomically
from ..loader import runs_whole
from ..notebook.annotations import Annotation, annotate, kale_reference, magic_line_index
from ..notebook.magic_lines import format_magic_line
from ..notebook.magics_loader import LOAD_MAGICS, empty_body, loads_magics, magics_loader
from ..notebook.reader import (
    NotebookFile,
    from_nbformat,
    notebook_json,
    read_text,
)
from ..notebook.roles import ROLE_TAGS, Role
from ..notebook.tags import is_our_tag, role_tags, settings_to_tags
from .convert_readback import Found, Move, Reading, differences, read_original

Style = Literal["tags", "magics"]

#: Role tags other tools also read (papermill's `parameters`): kept when converting to magics.
SHARED_TAGS = frozenset({"parameters"})


def _source(cell: dict[str, Any]) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def _tags(cell: dict[str, Any]) -> list[str]:
    return [str(t) for t in (cell.get("metadata") or {}).get("tags", [])]


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


def _loader_at(cells: list[dict[str, Any]]) -> int:
    """Where the cell loading the magics goes: first, unless the first code cell is one without
    an annotation of its own, which would continue the `skip` cell and leave the pipeline; then
    just above the first cell of magics, whose annotation ends the skipped cells."""
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        if magic_line_index(_source(cell)) is not None or any(map(is_our_tag, _tags(cell))):
            return 0  # (a reference to a notebook, as Kale writes it, holds no code)
        if not _source(cell).strip():
            continue
        break
    return next(
        i
        for i, c in enumerate(cells)
        if c.get("cell_type") == "code" and magic_line_index(_source(c)) is not None
    )


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
    return line + "\n" + (body if body.strip() else empty_body(a.settings)), kept


def _to_tags(a: Annotation, tags: list[str]) -> tuple[str, list[str]]:
    kept = [t for t in tags if not is_our_tag(t) or t.strip() in SHARED_TAGS]
    role = a.role
    has_role = any(ROLE_TAGS.get(t.strip()) == role for t in kept)
    ours = [] if has_role else role_tags(role, a.step)
    return _lines_after_magic(a.cell.source), kept + ours + settings_to_tags(a.settings)


# --- the conversion -------------------------------------------------------------------------------


def _own_style(a: Annotation) -> Style:
    return "magics" if magic_line_index(a.cell.source) is not None else "tags"


def _conversion(
    a: Annotation, tags: list[str], style: Style, move: Move | None
) -> tuple[str, list[str]] | None:
    """The cell's new source and tags in `style`, or None if it stays as it is."""
    has_magic = magic_line_index(a.cell.source) is not None
    has_our_tags = any(is_our_tag(t) and t.strip() not in SHARED_TAGS for t in tags)
    settings = move.settings(a.settings) if move is not None else a.settings
    moved = settings != a.settings
    if style == "magics" and not has_magic and loads_magics(a.cell.source):
        style = "tags"  # a magic line would stop it loading the magics: its tags stay
    if not moved and style == "tags" and not has_magic:
        return None  # already tags
    if not moved and style == "magics" and has_magic and not has_our_tags:
        return None  # already a magic
    return (_to_tags if style == "tags" else _to_magics)(replace(a, settings=settings), tags)


def _line_break(a: Annotation) -> str | None:
    """A setting with a line break, which no magic line holds (its first line ends the line)."""
    s = a.settings
    pairs = [*s.limits, *s.annotations, *s.labels, *((k, f"{n}:{v}") for k, n, v in s.secrets)]
    for key, value in pairs:
        if "\n" in value or "\n" in key:
            return f"the value of {key!r} holds a line break, and a magic line cannot"
    return None


@dataclass
class _Job:
    """One conversion: the original notebook and how it is read, the style to write, and the
    move of its relative paths (None: they stay as they are)."""

    nb: dict[str, Any]
    original: NotebookFile
    before: Reading
    style: Style
    move: Move | None
    plain: bool
    #: the cells annotated in the file itself (not those only Kale's reading gives a step), with
    #: their settings as the cells say them: the `prev:` Kale's reading adds for its references
    #: (naming the spliced notebook's steps) would tie the output to that notebook's step names
    annotated: dict[int, Annotation] = field(init=False)

    def __post_init__(self) -> None:
        cells = self.original.cells
        in_pipeline = {
            a.cell.index
            for a in self.before.annotations
            if a.cell.index <= len(cells)
            and a.style != "none"
            and a.cell.tags == cells[a.cell.index - 1].tags
        }
        own, _, _ = annotate(cells)
        self.annotated = {a.cell.index: a for a in own if a.cell.index in in_pipeline}

    def build(
        self, kept: Collection[int]
    ) -> tuple[dict[str, Any], dict[int, int | None], set[int]]:
        """The converted notebook with the cells `kept` in their own style; where each cell of
        the original went (None: left out); the cells written in the new style."""
        out = copy.deepcopy(self.nb)
        converted: set[int] = set()
        annotated = self.annotated
        for i, cell in enumerate(out["cells"], start=1):
            if self.move is not None and kale_reference(self.original.cells[i - 1]) is not None:
                meta = cell["metadata"]
                meta["notebook_path"] = self.move.kale_path(str(meta["notebook_path"]))
            a = annotated.get(i)
            if a is None:
                continue
            style = _own_style(a) if i in kept else self.style
            change = _conversion(a, _tags(cell), style, self.move)
            if change is None:
                continue
            if i not in kept:
                converted.add(i)
            source, tags = change
            # keep the file's way of storing text: one string, or a list of lines
            as_list = isinstance(cell["source"], list)
            cell["source"] = source.splitlines(keepends=True) if as_list else source
            metadata = cell.setdefault("metadata", {})
            if tags:
                metadata["tags"] = tags
            else:
                metadata.pop("tags", None)
        placed = self._loader(out, converted)
        return out, placed, converted

    def _loader(self, out: dict[str, Any], converted: set[int]) -> dict[int, int | None]:
        """Add the cell loading the magics where a conversion to them needs one; leave out a
        plain notebook's, which no magic needs once it has tags (and a cluster's kernel, which
        runs every cell of a plain notebook, has no kfp_jupyter to load). Returns where each
        cell of the original went."""
        cells: list[tuple[int | None, dict[str, Any]]] = list(enumerate(out["cells"], start=1))
        codes = [c for _, c in cells if c.get("cell_type") == "code"]
        if self.plain and not any(magic_line_index(_source(c)) is not None for c in codes):
            cells = [(i, c) for i, c in cells if not magics_loader(_source(c), _tags(c))]
        wrote_magics = self.style == "magics" and bool(converted)
        if wrote_magics and not _loaded_in_time([c for _, c in cells]):
            at = _loader_at([c for _, c in cells])
            cells.insert(at, (None, _loader_cell(out)))
        out["cells"] = [c for _, c in cells]
        where: dict[int, int | None] = dict.fromkeys(range(1, len(self.nb["cells"]) + 1))
        where.update({old: new for new, (old, _) in enumerate(cells, start=1) if old is not None})
        return where

    def first_kept(self) -> dict[int, Problem]:
        """The cells known to stay in their own style before any is converted."""
        if self.style != "magics":
            return {}
        found = {i: _line_break(a) for i, a in self.annotated.items()}
        return {i: Problem(why, cell=i) for i, why in found.items() if why is not None}

    def kept_note(self, cell: int, why: Problem) -> Problem:
        """The warning for a cell left in its own style."""
        a = self.annotated[cell]
        own = "a magic" if _own_style(a) == "magics" else "tags"
        target = "a magic" if self.style == "magics" else "tags"
        fix = "nothing to do: the cell means what it meant"
        if why.fix:
            fix += f"; to have it as {target}: {why.fix}"
        return Problem(
            f"left as {own}: as {target} it would not read back the same ({why.message})",
            cell=cell,
            fix=fix,
        )


@dataclass(frozen=True)
class Converted:
    """A conversion's result: the notebook's text, how many of its cells were written in the
    new style (not those already in it, nor those left in their own), the cells left in their
    own style (warnings), and whether it is a plain notebook left as it is."""

    text: str
    cells: int
    kept: tuple[Problem, ...] = ()
    plain: bool = False


def _check_style(style: str) -> Style:
    if style == "tags":
        return "tags"
    if style == "magics":
        return "magics"
    raise NotebookError(
        Problem(f"unknown annotation style {style!r}", fix="use 'tags' or 'magics'")
    )


def _refusal(found: Found) -> NotebookError:
    said = "the converted notebook would not read back as this one"
    problems = [*found.general, *(p for _, p in sorted(found.at.items()))]
    return NotebookError([replace(p, message=f"{said}: {p.message}") for p in problems])


def _dumped(nb: dict[str, Any]) -> str:
    """The layout Jupyter writes, so that a converted notebook diffs cleanly."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _settle(job: _Job, at: Path) -> dict[int, Problem]:
    """The cells to keep in their own style (and why) for the converted notebook, read as the
    file `at`, to read back as the original; NotebookError if keeping cells does not do."""
    kept = job.first_kept()
    for _ in range(len(job.nb["cells"]) + 1):  # each round keeps one more cell, or ends
        out, where, converted = job.build(kept)
        found = differences(_dumped(out), at, job.before, where)
        if not found.at and not found.general:
            return kept
        if found.general or any(i not in converted for i in found.at):
            raise _refusal(found)
        kept.update(found.at)
    raise NotebookError(Problem("the conversion did not settle"))  # each round keeps a cell


def convert(src: Path, style: str, dst: Path | None) -> Converted:
    """`src` with its annotations in `style`, as written to `dst` (None: standard output, its
    relative paths as they are). Nothing is written here.

    Raises NotebookError if `src` is not a valid notebook, its annotations cannot be read, or
    its conversion would not read back as it (every cell's role, step and settings, and the
    pipeline's steps): a cell that cannot be said in `style` stays in its own (`kept`).
    """
    target = _check_style(style)
    src = Path(src)
    text = read_text(src)
    nb = notebook_json(text, src)
    original = from_nbformat(nb, src)
    plain = runs_whole(original)
    if plain and target == "magics":
        return Converted(text, 0, plain=True)
    before = read_original(original)
    move = Move(src, Path(dst)) if dst is not None else None
    # a folder the output goes into is made when it is written, and no path through a folder
    # not made yet can be read: the notebook is then checked as the file it will be, its paths
    # absolute (as compose does), so that what is read from its folder (the paths inside a
    # notebook Kale's reference splices in) is checked there too
    there = move is None or Path(os.path.abspath(move.dst)).parent.is_dir()
    checked = move if there or move is None else replace(move, absolute=True)
    job = _Job(nb, original, before, target, checked, plain)
    kept = _settle(job, move.dst if move is not None else src)
    job = replace(job, move=move)
    out, _, converted = job.build(kept)
    notes = tuple(job.kept_note(i, kept[i]) for i in sorted(kept))
    return Converted(_dumped(out), len(converted), notes)


def write_converted(done: Converted, src: Path, dst: Path) -> None:
    """Write a conversion (the layout Jupyter writes, so that it diffs cleanly), at once; a plain
    notebook left as it is is not written over itself."""
    if done.plain and same_file(Path(dst), Path(src)):
        return
    write_atomically(Path(dst), done.text, keep_mode=True)


def convert_notebook(src: Path, style: str, dst: Path) -> int:
    """Write `src` with its annotations in `style` to `dst`; return how many cells it converted.

    Raises NotebookError (and writes nothing) if `src` is not a valid notebook, its
    annotations cannot be read, or the conversion would not read back as it.
    """
    done = convert(src, style, Path(dst))
    write_converted(done, Path(src), Path(dst))
    return done.cells
