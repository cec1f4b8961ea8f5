"""What a notebook may make the server read when a browser asks it to analyse the notebook.

The command line reads whatever a notebook points at: the user runs it on their own files.
Through the server, the caller is a browser page, and the server may serve a shared folder: a
notebook must not make it read files outside its root directory, nor make every refresh of the
panel fetch a URL (inspect runs on each save). A notebook points at other files in three ways,
and the server checks all of them here, before the analysis reads any:

- a step's `component:` tag: a spec file, or an http(s) URL (allowed only when the settings allow
  URLs; inspect, which must not fetch, gets an outline instead);
- a `notebook:` step: the notebook it executes, and the notebooks of that notebook's own
  `notebook:` steps, and so on (the analysis reads them all, to find a step that runs itself);
- Kale's notebook reference (a `notebook:NAME` cell with the path in its metadata
  'notebook_path'), whose notebook's steps, with their own components and notebook steps, join
  the pipeline.

Paths resolve as the analysis resolves them (relative to the opened notebook's folder, also for
the steps a Kale reference splices in; a notebook step of a notebook run as a step, relative to
that notebook's folder; `~` expanded for tags), symbolic links followed, so a link inside the root
cannot lead out of it. A name that is neither a file nor a folder (a FIFO, a device) is refused
too: reading it would hold a thread of the server for good.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import KfpJupyterError, NotebookError, Problem
from .paths import PathUnusable, is_inside, real_path, stat_of

if TYPE_CHECKING:
    from ..analysis.blocks import StepBlock
    from ..model import Parameter
    from ..notebook.kale_compose import Composition
    from ..notebook.reader import Cell, NotebookFile


class ComponentRefused(KfpJupyterError):
    """A notebook names a file or URL this server does not read for a browser."""


@dataclass(frozen=True)
class Reference:
    """One file or URL a notebook makes the analysis read: `kind` "component" (a step's spec),
    "notebook" (a `notebook:` step's notebook) or "kale" (a notebook Kale's reference splices
    in); the cell that says it, and `within`, the referenced notebook that cell is in (None: the
    opened notebook). `base`: the notebook it is resolved from, when not the opened one (a
    notebook step of a notebook run as a step: from that notebook's folder)."""

    kind: str
    step: str | None
    cell: int
    source: str
    within: str | None = None
    base: Path | None = None

    @property
    def is_url(self) -> bool:
        return self.kind == "component" and self.source.lower().startswith(("http://", "https://"))

    def describe(self) -> str:
        if self.kind == "kale":
            said = f"Kale's reference to notebook {self.source!r} (cell {self.cell})"
        else:
            said = f"tag '{self.kind}:{self.source}' of step {self.step!r} (cell {self.cell})"
        return said + (f" in {self.within}" if self.within else "")

    def path(self, notebook: Path) -> Path:
        """The file it names, as the analysis finds it from `notebook` (the opened one)."""
        if self.kind == "kale":  # kale_compose: normalised, relative to the notebook's folder
            return Path(os.path.normpath(notebook.resolve().parent / self.source))
        path = Path(self.source).expanduser()
        return path if path.is_absolute() else (self.base or notebook).parent / path


def references(notebook: Path, root: Path, allow_urls: bool) -> list[Reference]:
    """Everything the analysis of `notebook` would read, each checked: files inside `root`, URLs
    only when `allow_urls`; the first that is not is ComponentRefused (400). A notebook that
    cannot be read raises NotebookError, as the analysis would; its other problems are left to
    the analysis. Blocking (it reads notebooks)."""
    from ..notebook.reader import read_notebook

    nb = read_notebook(notebook)
    refs = _own_references(nb)
    _check(root, notebook, refs, allow_urls)
    for ref in [r for r in refs if r.kind == "kale"]:
        inner = _spliced_references(ref, ref.path(notebook))
        _check(root, notebook, inner, allow_urls)
        refs += inner
    return refs + _nested_notebooks(notebook, root, [r for r in refs if r.kind == "notebook"])


def _nested_notebooks(notebook: Path, root: Path, steps: list[Reference]) -> list[Reference]:
    """The notebook steps of the notebooks `steps` run, theirs in turn, and so on: the analysis
    reads them all to find a notebook step that leads back to a running notebook. Each is
    resolved from its own notebook's folder (notebookstep.resolve_child_path) and checked
    before it is read; each notebook is read once, so a loop of notebook steps ends the walk."""
    from ..analysis.notebookstep import resolve_child_path

    seen = {notebook.resolve()}
    waiting = [real_path(r.path(notebook), r.source) for r in steps]
    found: list[Reference] = []
    while waiting:
        at = waiting.pop()
        if at in seen:
            continue
        seen.add(at)
        inner = [
            replace(r, within=_shown_in(at, root), base=at)
            for r in _step_references(_cells_of(at))
            if r.kind == "notebook"
        ]
        _check(root, notebook, inner, allow_urls=False)
        found += inner
        waiting += [real_path(resolve_child_path(r.source, str(at)), r.source) for r in inner]
    return found


def _cells_of(path: Path) -> tuple[Cell, ...]:
    """The cells of the notebook at `path`; none when it is not a file that can be read as one
    (the analysis says why, where it meets it)."""
    from ..notebook.reader import read_notebook

    found = stat_of(path, str(path))
    if found is None or not stat.S_ISREG(found.st_mode):
        return ()
    try:
        return read_notebook(path).cells
    except (NotebookError, OSError):
        return ()


def _shown_in(path: Path, root: Path) -> str:
    """A notebook inside the root as messages name it: its path from the root."""
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def _own_references(nb: NotebookFile) -> list[Reference]:
    """The notebook's step tags that name files or URLs, and its Kale references."""
    from ..notebook.annotations import kale_reference

    kale = [
        Reference("kale", None, c.index, (c.notebook_path or "").strip())
        for c in nb.cells
        if kale_reference(c) is not None and (c.notebook_path or "").strip()
    ]
    return _step_references(nb.cells) + kale


def _step_references(cells: tuple[Cell, ...]) -> list[Reference]:
    """The `component:` and `notebook:` tags (or magic options) of the cells' steps."""
    from ..notebook.annotations import annotate

    annotations, _, _ = annotate(cells)
    out: list[Reference] = []
    for a in annotations:
        for kind, source in (
            ("component", a.settings.component),
            ("notebook", a.settings.notebook),
        ):
            if source is not None:
                out.append(Reference(kind, a.step, a.cell.index, source))
    return out


def _spliced_references(ref: Reference, path: Path) -> list[Reference]:
    """The references of the steps a Kale reference splices in (its notebook was checked to be
    inside the root); none if it cannot be read: the analysis says why."""
    return [replace(r, within=ref.source) for r in _step_references(_cells_of(path))]


def _check(root: Path, notebook: Path, refs: list[Reference], allow_urls: bool) -> None:
    real_root = root.resolve()
    for ref in refs:
        if ref.is_url:
            if not allow_urls:
                raise ComponentRefused(
                    f"{ref.describe()}: this server does not fetch components from URLs "
                    "(c.KfpJupyterServer.component_urls is False); save the spec next to "
                    "the notebook and name its file"
                )
            continue
        if "\x00" in ref.source:
            raise ComponentRefused(f"{ref.describe()}: the path holds a NUL character")
        try:
            resolved = real_path(ref.path(notebook), ref.source)
            found = stat_of(resolved, ref.source)  # a name too long: said here, not later
        except PathUnusable as e:
            raise ComponentRefused(f"{ref.describe()}: {e}") from None
        if not is_inside(real_root, resolved):
            raise ComponentRefused(
                f"{ref.describe()}: the file is outside the server's root directory; copy it "
                "into the notebook's folder"
            )
        # neither a file nor a folder (a FIFO, a socket, a device): reading it would hold a
        # thread of the server, or never end; nothing there, or a folder, the analysis tells
        if found is not None and not (stat.S_ISREG(found.st_mode) or stat.S_ISDIR(found.st_mode)):
            raise ComponentRefused(
                f"{ref.describe()}: it is not a file; name a notebook or spec file"
            )


@dataclass
class Sketch:
    """The notebook as its cells say it, without the analysis: what the server shows when the
    whole pipeline cannot be (a URL not fetched on inspect, a problem in another step)."""

    #: each step's name, kind, cells, `after` (and `component` when it names one)
    steps: list[dict[str, object]]
    #: the parameters cell's names, defaults and types, as the analysis reads them
    parameters: list[Parameter]
    metrics: list[str]
    #: some cell's annotation could not be read (a bad tag, a half-typed magic line): that cell
    #: is in no step, so a step it names is missing here
    unread: bool
    #: what the cells say wrong, as the analysis says it (located in a spliced notebook)
    problems: list[Problem]

    def to_json(self) -> dict[str, object]:
        """The fields the full pipeline (`inspect --json`) has in the same shape."""
        return {
            "parameters": {p.name: p.default for p in self.parameters},
            "parameter_types": {p.name: p.type for p in self.parameters},
            "metrics": list(self.metrics),
            "steps": self.steps,
        }


def sketch(notebook: Path | NotebookFile, refs: list[Reference]) -> Sketch:
    """The notebook's steps, parameters and metrics as its cells say them; steps a Kale
    reference splices in are listed too. Reads no component and fetches nothing."""
    from ..analysis.blocks import group_blocks
    from ..notebook.kale_compose import annotate_notebook
    from ..notebook.reader import read_notebook

    nb = read_notebook(notebook) if isinstance(notebook, Path) else notebook
    annotations, problems, _, where = annotate_notebook(nb)
    sources = _component_cells(refs, where)
    grouped: list[Problem] = []
    blocks = group_blocks(annotations, grouped, [])
    steps = [_sketch_step(sb, sources, where) for sb in blocks.steps]
    return Sketch(
        steps,
        list(blocks.parameters),
        list(blocks.metrics),
        unread=bool(problems),
        problems=where.locate(problems + grouped),
    )


def _sketch_step(sb: StepBlock, sources: dict[int, str], where: Composition) -> dict[str, object]:
    cells = {cell for cell, _, _ in sb.code.parts} or {sb.first_cell}
    step: dict[str, object] = {
        "name": sb.name,
        "kind": sb.settings.kind,
        "cells": sorted(c for c in cells if c not in where.origins),
        "after": list(sb.settings.prev),
    }
    source = next((sources[c] for c in sorted(cells | {sb.first_cell}) if c in sources), None)
    if source is not None:
        step["component"] = {"source": source, "fetched": False}
    return step


def _component_cells(refs: list[Reference], where: Composition) -> dict[int, str]:
    """The cell (as the composed pipeline numbers it) of each `component:` tag -> its source. By
    cell, not by step name: a step Kale splices in is renamed when the composing notebook has a
    step of its name, and the spec belongs to the spliced step, under its new name."""
    spliced: dict[tuple[str, int], list[int]] = {}
    for index, origin in where.origins.items():
        spliced.setdefault((origin.notebook, origin.cell), []).append(index)
    out: dict[int, str] = {}
    for r in refs:
        if r.kind != "component":
            continue
        if r.within is None:
            out[r.cell] = r.source
            continue
        shown = Path(os.path.normpath(r.within)).as_posix()
        for index in spliced.get((shown, r.cell), []):
            out[index] = r.source
    return out


def outline(notebook: Path, refs: list[Reference], root: Path) -> dict[str, object]:
    """The pipeline's steps without their wiring: what inspect answers when showing the whole
    pipeline would mean fetching component URLs. Compile, run or submit fetches them.

    A cell whose tags or magic line cannot be read is in no step, so an outline would hide a
    step and its problem: that raises NotebookError with what the cells say wrong (422, as for
    a notebook naming no URL), and a step's details answer it too."""
    from ..notebook.metadata import read_settings
    from ..notebook.reader import read_notebook

    nb = read_notebook(notebook)
    settings, problems, _ = read_settings(nb.metadata, nb.path)
    sketched = sketch(nb, refs)  # the file read once
    if sketched.unread:
        raise NotebookError(problems + sketched.problems)
    urls = sorted({r.source for r in refs if r.is_url})
    return {
        "name": settings.name,
        "description": settings.description,
        "experiment": settings.experiment,
        **sketched.to_json(),
        "outline": True,
        "message": f"{len(urls)} component URL(s) not fetched on inspect: compile, run or "
        "submit fetches them and checks the whole pipeline",
        "unfetched": urls,
        "notebook": notebook.resolve().relative_to(root.resolve()).as_posix(),
    }
