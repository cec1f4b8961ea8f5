"""Synthetic notebooks of any number of steps, for benchmarks: the same file for kfp-jupyter and Kale.

The shape is what a long analysis notebook looks like: an imports cell, a functions cell, a
parameters cell, then steps that each read one or two variables of earlier steps (the previous
step, and every third step also an older one, so the graph is a chain with fan-in), define new
ones, use parameters and a shared function, and now and then span two cells. Step names and tags
stay inside Kale's tag language (`step:NAME` with `[_a-z][_a-z0-9]*`, explicit `prev:` edges,
`pipeline-metrics` as `print(name)`), so Kale can compile the very same notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat


def _code(source: str, *tags: str) -> Any:
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def step_name(i: int) -> str:
    return f"step_{i:04d}"


def parents(i: int) -> list[int]:
    """The earlier steps whose variables step `i` reads."""
    if i == 0:
        return []
    out = [i - 1]
    if i % 3 == 0 and i // 2 < i - 1:
        out.append(i // 2)
    return out


def _step_source(i: int, last: bool) -> tuple[str, str | None]:
    """The step's code, and an optional second cell that continues it."""
    v = f"v{i:04d}"
    ps = parents(i)
    if not ps:
        first = f"rng = np.random.default_rng(seed)\n{v} = rng.normal(size=size) * scale"
    elif len(ps) == 1:
        first = f"{v} = np.tanh(v{ps[0]:04d}) * scale + {i % 7}"
    else:
        first = f"{v} = combine(v{ps[0]:04d}, v{ps[1]:04d})"
    first += f"\nsummary_{i:04d} = describe({v}, label)"
    second = None
    if i % 4 == 1:
        second = f"for k in range(repeats):\n    {v} = {v} - {v}.mean() / (k + 1)\nprint(summary_{i:04d})"
    if last:
        second = (second + "\n" if second else "") + f"score = float(np.abs({v}).mean())"
    return first, second


def synthetic_notebook(n_steps: int) -> Any:
    if n_steps < 1:
        raise ValueError("a pipeline needs at least one step")
    cells = [
        nbformat.v4.new_markdown_cell(f"# A synthetic pipeline of {n_steps} steps"),
        _code("import math\n\nimport numpy as np\nimport pandas as pd", "imports"),
        _code(
            """
def combine(a, b):
    n = min(len(a), len(b))
    return (a[:n] + b[:n]) / 2


def describe(values, label):
    return {"label": label, "mean": float(np.mean(values)), "n": int(math.sqrt(len(values)) ** 2)}
""",
            "functions",
        ),
        _code(
            'seed = 42\nsize = 1000\nscale = 1.5\nrepeats = 2\nlabel = "bench"',
            "pipeline-parameters",
        ),
    ]
    for i in range(n_steps):
        if i % 10 == 0:
            cells.append(
                nbformat.v4.new_markdown_cell(f"## Steps {i} to {min(i + 9, n_steps - 1)}")
            )
        first, second = _step_source(i, last=i == n_steps - 1)
        cells.append(
            _code(first, f"step:{step_name(i)}", *(f"prev:{step_name(p)}" for p in parents(i)))
        )
        if second:
            cells.append(_code(second))
    cells.append(_code("print(score)", "pipeline-metrics"))
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    for k, cell in enumerate(nb.cells):
        cell["id"] = f"c{k:05d}"
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    name = f"synthetic-{n_steps}"
    nb.metadata["kfp_jupyter"] = {"name": name, "description": f"{n_steps} synthetic steps"}
    nb.metadata["kubeflow_notebook"] = {
        "pipeline_name": name,
        "pipeline_description": f"{n_steps} synthetic steps",
        "experiment_name": "benchmarks",
        "base_image": "python:3.11",
    }
    return nb


def write_synthetic(n_steps: int, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(synthetic_notebook(n_steps), str(path))
    return path
