"""A tag that looks like a misspelt one of ours is warned about only when its value is one the
meant tag takes: users' own tags share heads with ours (`time:5min`, `note:see below`, `repo:x`)
and stay silent, while the true near misses (`timout:30`, `retry:3`) are still told."""

from __future__ import annotations

from pathlib import Path

import pytest
from nbutil import code, make_notebook

from kfp_jupyter import load_notebook


def warnings_of(tmp_path: Path, tag: str) -> list[str]:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("import math", "imports"), code("a = 1", "step:a"), code("b = a + 1", "step:b", tag)],
    )
    return [w.message for w in load_notebook(nb).warnings]


@pytest.mark.parametrize(
    "tag",
    [
        "time:5min",  # not a number of seconds: no timeout
        "note:see below",
        "notes:x",
        "notes:see a.ipynb first",
        "compare:x",
        "comp:x",
        "repo:x",
        "secretary:x",
        "resources:cpu:1",  # no resource action
        "time:30",  # four letters of `timeout`, but far shorter
        "cached:false",  # `cache:` takes enabled or disabled
        "steps:two words",
        "labels:plain",  # a label is KEY:VALUE
    ],
)
def test_a_tag_of_ones_own_with_a_head_like_ours_stays_silent(tmp_path: Path, tag: str) -> None:
    assert warnings_of(tmp_path, tag) == []


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("timout:30", "timeout:30"),
        ("retry:3", "retries:3"),
        ("package:numpy", "packages:numpy"),
        ("limits:cpu:2", "limit:cpu:2"),
        ("Step:b", "step:b"),
        ("notebooks:child.ipynb", "notebook:child.ipynb"),
        ("resources:apply", "resource:apply"),
        ("components:spec.yaml", "component:spec.yaml"),
        ("secrets:creds:token:TOKEN", "secret:creds:token:TOKEN"),
        ("Timeout:60", "timeout:60"),
    ],
)
def test_a_near_miss_with_a_value_the_tag_takes_is_still_warned(
    tmp_path: Path, typo: str, meant: str
) -> None:
    (warning,) = warnings_of(tmp_path, typo)
    assert f"tag {typo!r} is not a kfp-jupyter tag, so it is ignored" in warning
    assert f"did you mean {meant!r}?" in warning
