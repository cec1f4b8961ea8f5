"""load_notebook: read, annotate, group, analyse, and return the Pipeline (or every problem at once)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from .analysis.blocks import group_blocks
from .analysis.dataflow import build
from .analysis.notebookstep import is_plain, plain_pipeline
from .errors import NotebookError, Problem
from .notebook.kale_compose import annotate_notebook, composes
from .notebook.metadata import read_settings
from .notebook.reader import NotebookFile, read_notebook

if TYPE_CHECKING:
    from .model import Pipeline


def runs_whole(nb: NotebookFile) -> bool:
    """Whether every command runs `nb` whole as one step: a plain notebook (no step
    annotations), unless it composes others by Kale's references."""
    return is_plain(nb) and not composes(nb)


def pipeline_from_notebook(nb: NotebookFile, *, pin_packages: bool | None = None) -> Pipeline:
    """`pin_packages`, when given, overrides the notebook's own setting (`pin_packages` in its
    metadata; default on); None leaves it to the notebook."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    settings, p, w = read_settings(nb.metadata, nb.path)
    if pin_packages is not None:
        settings = dataclasses.replace(settings, pin_packages=pin_packages)
    problems += p
    warnings += w
    if not problems and runs_whole(nb):
        # no step annotations at all: the whole notebook is the pipeline's one step
        plain = plain_pipeline(nb, settings, problems, warnings)
        if problems or plain is None:
            raise NotebookError(problems or [Problem("the notebook could not be analysed")])
        return plain
    # Kale's notebook references splice other notebooks in; `where` locates their cells
    annotations, p, w, where = annotate_notebook(nb)
    problems += p
    warnings += w
    blocks = group_blocks(annotations, problems, warnings)
    for sb in blocks.steps:  # a referenced notebook's steps take its metadata's settings
        sb.defaults = where.step_defaults(sb.first_cell, sb.settings.kind)
    pipeline = build(blocks, settings, str(nb.path) if nb.path else None, problems, warnings)
    if problems or pipeline is None:
        located = where.locate(problems)
        raise NotebookError(located or [Problem("the notebook could not be analysed")])
    return where.finish(pipeline)


def load_notebook(path: str | Path, *, pin_packages: bool | None = None) -> Pipeline:
    """The pipeline of the notebook at `path`. Raises NotebookError listing every problem found."""
    return pipeline_from_notebook(read_notebook(path), pin_packages=pin_packages)
