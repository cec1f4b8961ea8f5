"""Build notebooks for tests: a list of cells, each code (with tags) or markdown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat


def code(source: str, *tags: str) -> Any:
    c = nbformat.v4.new_code_cell(source)
    if tags:
        c.metadata["tags"] = list(tags)
    return c


def md(source: str) -> Any:
    return nbformat.v4.new_markdown_cell(source)


def make_notebook(path: Path, cells: list[Any], metadata: dict[str, Any] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    if metadata:
        nb.metadata.update(metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def inspect_json(nb: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """What `kfp-jupyter inspect --json NB` says, as a user's process gets it (its stderr under
    "stderr"); the command must succeed."""
    out = subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "inspect", "--json", str(nb), *args],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    data: dict[str, Any] = json.loads(out.stdout)
    data["stderr"] = out.stderr
    return data


def small_notebook(folder: Path) -> Path:
    """`folder/small.ipynb`: two steps, one value between them, pipeline name `small`."""
    return make_notebook(
        folder / "small.ipynb",
        [code("values = [1, 2]", "step:make"), code("total = sum(values)", "step:total")],
        metadata={"kfp_jupyter": {"name": "small"}},
    )
