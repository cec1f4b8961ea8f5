"""A misspelt settings tag is ignored like any tag that is not ours, so it gets a warning that
names the cell and the tag that was meant; tags that are only loosely alike stay silent."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from nbutil import code, make_notebook

from kfp_jupyter import load_notebook

if TYPE_CHECKING:
    from kfp_jupyter.errors import Problem


def warnings_of(tmp_path: Path, *tags: str) -> list[Problem]:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("import math", "imports"), code("a = 1", "step:a"), code("b = a + 1", *tags)],
    )
    return list(load_notebook(nb).warnings)


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("timout:30", "timeout:30"),
        ("retry:3", "retries:3"),
        ("package:numpy", "packages:numpy"),
        ("limits:cpu:2", "limit:cpu:2"),
        ("Step:b", "step:b"),
        ("lable:team:ml", "label:team:ml"),
        ("Imports", "imports"),
        ("pipeline-metric", "pipeline-metrics"),
        ("Container", "container"),
    ],
)
def test_a_near_miss_is_a_warning_naming_the_cell_and_the_tag(
    tmp_path: Path, typo: str, meant: str
) -> None:
    (warning,) = warnings_of(tmp_path, "step:b", typo)
    assert warning.cell == 3
    assert f"tag {typo!r} is not a kfp-jupyter tag, so it is ignored" in warning.message
    assert f"did you mean {meant!r}?" in warning.message
    assert warning.fix and meant in warning.fix


def test_the_misspelt_setting_is_still_not_applied(tmp_path: Path) -> None:
    """A warning, not a failure: the notebook loads as before, the tag left aside."""
    nb = make_notebook(tmp_path / "nb.ipynb", [code("a = 1", "step:a", "timout:30", "retry:3")])
    pipeline = load_notebook(nb)
    assert pipeline.steps[0].timeout is None
    assert len(pipeline.warnings) == 2


@pytest.mark.parametrize(
    "tag",
    [
        "hide-input",
        "remove-cell",
        "injected-parameters",  # papermill's own
        "imports-only",
        "export",
        "cached",
        "block-1",
        "image-size:big",
        "previous:a",
        "todo",
        "raises-exception",
        "slide:1",
    ],
)
def test_tags_of_ones_own_stay_silent(tmp_path: Path, tag: str) -> None:
    assert warnings_of(tmp_path, "step:b", tag) == []


def test_a_misspelt_step_tag_says_the_cell_joined_the_step_above(tmp_path: Path) -> None:
    """`Step:b` is not read as a step, so the cell stays in step a; the warning says which tag
    was meant, and the pipeline shows the cell where it went."""
    nb = make_notebook(tmp_path / "nb.ipynb", [code("a = 1", "step:a"), code("b = 2", "Step:b")])
    pipeline = load_notebook(nb)
    assert [s.name for s in pipeline.steps] == ["a"]
    (warning,) = pipeline.warnings
    assert warning.cell == 2 and "did you mean 'step:b'?" in warning.message
