"""A version without its package (`<3`: a range `pandas>=2,<3` split apart, as a tag editor may
write it) is refused where it is written: it compiled, ran here (a local run installs nothing),
and failed on the cluster with pip's "Invalid requirement"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nbutil import code, make_notebook

from kfp_jupyter import load_notebook
from kfp_jupyter.errors import NotebookError


def problems(nb: Path) -> list[str]:
    with pytest.raises(NotebookError) as e:
        load_notebook(nb)
    return [str(p) for p in e.value.problems]


@pytest.mark.parametrize(
    ("cell", "metadata", "bare"),
    [
        (code("x = 1", "step:a", "packages:pandas>=2", "packages:<3"), None, "<3"),
        (code("x = 1", "step:a", "packages:>="), None, ">="),
        (code("%%step a --packages '<3'\nx = 1"), None, "<3"),
        (code("%%step a --packages '~=1.3,numpy'\nx = 1"), None, "~=1.3"),
        (code("x = 1", "step:a"), {"kfp_jupyter": {"packages": ["numpy", "==1.0"]}}, "==1.0"),
        (code("x = 1", "step:a"), {"kfp_jupyter": {"packages": "!=2,numpy"}}, "!=2"),
    ],
)
def test_a_version_without_its_package_is_refused(
    tmp_path: Path, cell: Any, metadata: dict[str, Any] | None, bare: str
) -> None:
    nb = make_notebook(tmp_path / "p.ipynb", [cell], metadata=metadata)
    [message] = problems(nb)
    assert f"package {bare!r} is a version without its package" in message
    assert f"(NAME{bare})" in message


def test_a_range_with_its_package_is_one_requirement(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "p.ipynb",
        [code("%%step a --packages 'pandas>=2,<3,numpy'\nx = 1")],
        metadata={"kfp_jupyter": {"packages": ["scikit-learn>=1.3,<2"]}},
    )
    [step] = load_notebook(nb).steps
    assert "pandas>=2,<3" in step.packages
