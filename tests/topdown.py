"""Run a notebook top to bottom with nbclient and read variables back: the reference results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat


def run_top_to_bottom(path: Path, names: list[str], timeout: int = 300) -> dict[str, Any]:
    """Execute every code cell in order in one kernel; return `names` as floats (metrics)."""
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    pairs = ", ".join(f"{n!r}: float({n})" for n in names)
    probe = f"import json as _j\nprint('@@METRICS@@' + _j.dumps({{{pairs}}}))"
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    for out in nb.cells[-1].get("outputs", []):
        text = out.get("text", "")
        if "@@METRICS@@" in text:
            return dict(json.loads(text.split("@@METRICS@@", 1)[1].strip()))
    raise AssertionError(f"no metrics printed: {nb.cells[-1].get('outputs')}")
