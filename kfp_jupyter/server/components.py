"""What a notebook may make the server read when a browser asks it to analyse the notebook.

The command line reads whatever a notebook points at: the user runs it on their own files.
Through the server, the caller is a browser page, and the server may serve a shared folder: a
notebook must not make it read files outside its root directory, nor make every refresh of the
panel fetch a URL (inspect runs on each save). A notebook points at other files in three ways,
and the server checks all of them here, before the analysis reads any:

- a step's `component:` tag: a spec file, or an http(s) URL (allowed only when the settings allow
  URLs; inspect, which must not fetch, gets an outline instead);
- a `notebook:` step: the notebook it executes;
- Kale's notebook reference (a `notebook:NAME` cell with the path in its metadata
  'notebook_path'), whose notebook's steps, with their own components and notebook steps, join
  the pipeline.

Paths resolve as the analysis resolves them (relative to the opened notebook's folder, also for
the steps a Kale reference splices in; `~` expanded for tags), symbolic links followed, so a
link inside the root cannot lead out of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import KfpJupyterError, NotebookError
from .paths import PathUnusable, is_inside, real_path, stat_of

if TYPE_CHECKING:
    from ..notebook.reader import Cell, NotebookFile


class ComponentRefused(KfpJupyterError):
    """A notebook names a file or URL this server does not read for a browser."""


@dataclass(frozen=True)
class Reference:
    """One file or URL a notebook makes the analysis read: `kind` "component" (a step's spec),
    "notebook" (a `notebook:` step's notebook) or "kale" (a notebook Kale's reference splices
    in); the cell that says it, and `within`, the referenced notebook that cell is in (None: the
    opened notebook)."""

    kind: str
    step: str | None
    cell: int
    source: str
    within: str | None = None

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
        return path if path.is_absolute() else notebook.parent / path


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
    return refs


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
    from ..notebook.reader import read_notebook

    try:
        child = read_notebook(path)
    except (NotebookError, OSError):
        return []
    return [replace(r, within=ref.source) for r in _step_references(child.cells)]


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
            stat_of(resolved, ref.source)  # a name too long: said here, not an OSError later
        except PathUnusable as e:
            raise ComponentRefused(f"{ref.describe()}: {e}") from None
        if not is_inside(real_root, resolved):
            raise ComponentRefused(
                f"{ref.describe()}: the file is outside the server's root directory; copy it "
                "into the notebook's folder"
            )


def outline_steps(notebook: Path, refs: list[Reference]) -> list[dict[str, object]]:
    """The notebook's steps as its cells say them (name, kind, cells, `after`), without the
    analysis: what the server shows when the whole pipeline cannot be (a URL not fetched on
    inspect, a problem in another step). Steps a Kale reference splices in are listed too."""
    from ..analysis.blocks import group_blocks
    from ..notebook.kale_compose import annotate_notebook
    from ..notebook.reader import read_notebook

    annotations, _, _, where = annotate_notebook(read_notebook(notebook))
    sources = {r.step: r.source for r in refs if r.kind == "component"}
    steps: list[dict[str, object]] = []
    for sb in group_blocks(annotations, [], []).steps:
        cells = {cell for cell, _, _ in sb.code.parts} or {sb.first_cell}
        step: dict[str, object] = {
            "name": sb.name,
            "kind": sb.settings.kind,
            "cells": sorted(c for c in cells if c not in where.origins),
            "after": list(sb.settings.prev),
        }
        if sb.name in sources:
            step["component"] = {"source": sources[sb.name], "fetched": False}
        steps.append(step)
    return steps


def outline(notebook: Path, refs: list[Reference], root: Path) -> dict[str, object]:
    """The pipeline's steps without their wiring: what inspect answers when showing the whole
    pipeline would mean fetching component URLs. Compile, run or submit fetches them."""
    from ..notebook.metadata import read_settings
    from ..notebook.reader import read_notebook

    nb = read_notebook(notebook)
    settings, _, _ = read_settings(nb.metadata, nb.path)
    urls = sorted({r.source for r in refs if r.is_url})
    return {
        "name": settings.name,
        "description": settings.description,
        "steps": outline_steps(notebook, refs),
        "outline": True,
        "message": f"{len(urls)} component URL(s) not fetched on inspect: compile, run or "
        "submit fetches them and checks the whole pipeline",
        "unfetched": urls,
        "notebook": notebook.resolve().relative_to(root.resolve()).as_posix(),
    }
