"""What a notebook's `component:` tags may reach when a browser asks the server to read it.

The command line reads a component wherever the tag points: the user runs it on their own files.
Through the server, the caller is a browser page, and the server may serve a shared folder: a
tag must not make it read files outside its root directory (`component:../../etc/x.yaml`), nor
make every refresh of the panel fetch a URL (inspect runs on each save). So the server looks at
the tags before the analysis reads them: files must resolve inside the root, URLs are allowed
only when the settings allow them, and inspect, which must not fetch, gets an outline instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import KfpJupyterError


class ComponentRefused(KfpJupyterError):
    """A `component:` tag names something this server does not read for a browser."""


@dataclass(frozen=True)
class ComponentRef:
    """One component step's tag: its step, first cell, and the path or URL it names."""

    step: str
    cell: int
    source: str

    @property
    def is_url(self) -> bool:
        return self.source.lower().startswith(("http://", "https://"))

    def describe(self) -> str:
        return f"tag 'component:{self.source}' of step {self.step!r} (cell {self.cell})"


def component_refs(notebook: Path) -> list[ComponentRef]:
    """The component tags of the notebook, read without loading any component.

    A notebook that cannot be read raises NotebookError, as the analysis would; other problems
    are left for the analysis to report."""
    from ..analysis.blocks import group_blocks
    from ..notebook.annotations import annotate
    from ..notebook.reader import read_notebook

    annotations, _, _ = annotate(read_notebook(notebook).cells)
    blocks = group_blocks(annotations, [], [])
    return [
        ComponentRef(sb.name, sb.first_cell, sb.settings.component)
        for sb in blocks.steps
        if sb.settings.component is not None
    ]


def check_refs(root: Path, notebook: Path, refs: list[ComponentRef], allow_urls: bool) -> None:
    """Refuse a component file outside `root`, and any URL when `allow_urls` is False.

    Files resolve as the analysis resolves them (relative to the notebook's folder, `~`
    expanded), symbolic links followed, so a link inside the root cannot lead out of it."""
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
        path = Path(ref.source).expanduser()
        if not path.is_absolute():
            path = notebook.parent / path
        resolved = path.resolve()
        if resolved != real_root and real_root not in resolved.parents:
            raise ComponentRefused(
                f"{ref.describe()}: the file is outside the server's root directory; copy the "
                "spec into the notebook's folder"
            )


def outline(notebook: Path, refs: list[ComponentRef], root: Path) -> dict[str, object]:
    """The pipeline's steps without their wiring: what inspect answers when showing the whole
    pipeline would mean fetching component URLs. Compile, run or submit fetches them."""
    from ..analysis.blocks import group_blocks
    from ..notebook.annotations import annotate
    from ..notebook.metadata import read_settings
    from ..notebook.reader import read_notebook

    nb = read_notebook(notebook)
    settings, _, _ = read_settings(nb.metadata, nb.path)
    annotations, _, _ = annotate(nb.cells)
    sources = {r.step: r.source for r in refs}
    steps: list[dict[str, object]] = []
    for sb in group_blocks(annotations, [], []).steps:
        step: dict[str, object] = {
            "name": sb.name,
            "kind": sb.settings.kind,
            "cells": sorted({cell for cell, _, _ in sb.code.parts} or {sb.first_cell}),
            "after": list(sb.settings.prev),
        }
        if sb.name in sources:
            step["component"] = {"source": sources[sb.name], "fetched": False}
        steps.append(step)
    urls = sorted({r.source for r in refs if r.is_url})
    return {
        "name": settings.name,
        "description": settings.description,
        "steps": steps,
        "outline": True,
        "message": f"{len(urls)} component URL(s) not fetched on inspect: compile, run or "
        "submit fetches them and checks the whole pipeline",
        "unfetched": urls,
        "notebook": notebook.resolve().relative_to(root.resolve()).as_posix(),
    }
