"""Pipeline graphs for the drawing tests, in the JSON of `kfp-jupyter inspect --json`."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from kfp_jupyter import load_notebook

ROOT = Path(__file__).resolve().parents[2]


def iris() -> dict[str, Any]:
    return load_notebook(ROOT / "examples" / "iris_classifier.ipynb").to_json()


def random_dag(n: int, seed: int = 3, window: int = 25) -> dict[str, Any]:
    """n steps, each reading 1-3 variables of the `window` steps before it: wide and tangled,
    harder to draw than the chains notebooks usually give."""
    rnd = random.Random(seed)
    names = [f"step_{i:03d}" for i in range(n)]
    steps = []
    for i, name in enumerate(names):
        ups = sorted(
            set(rnd.sample(names[max(0, i - window) : i], min(i, rnd.choice([1, 1, 2, 3]))))
        )
        sources = {f"v_{u[-3:]}": u for u in ups}
        resources = {"nvidia.com/gpu": "1"} if i % 17 == 0 else {"cpu": "2"} if i % 5 == 0 else {}
        steps.append(
            {
                "name": name,
                "after": ups,
                "inputs": list(sources),
                "input_sources": sources,
                "outputs": [f"v_{name[-3:]}"],
                "image": "python:3.11",
                "resources": resources,
            }
        )
    return {"name": f"random-{n}", "steps": steps, "parameters": {}, "parameter_types": {}}
