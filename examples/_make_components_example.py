"""Write examples/components_pipeline.ipynb (run `python examples/_make_components_example.py`).

Like _make_examples.py (whose notebook helpers it uses), the notebook is generated so that it stays
small, output-free and reviewable as code. _make_examples.py can import `components_pipeline` from
here to write it along with the other examples.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def components_pipeline() -> Any:
    """Python steps around one reusable component (components/column_stats.yaml), used twice."""
    sys.path.insert(0, str(HERE))
    from _make_examples import code, md, notebook

    return notebook(
        [
            md("""
# A pipeline that reuses a component

The steps here are of two kinds: Python cells, as in the other examples, and **component cells**
that run a reusable KFP component, `components/column_stats.yaml` (a KFP v1-style component spec,
the kind people publish and share). The same component runs twice, on the training rows and on the
test rows. A component cell starts with `%%component NAME PATH_OR_URL` (or is tagged `step:NAME`
and `component:PATH_OR_URL`); its body gives the component's inputs, by their names in snake_case
(`table = train_rows`), and may give its outputs new names (`train_summary = stats`), which later
cells then read: a file output as its path, a value output (here the Integer `row_count`) as the
value itself.

Run All works here as in any notebook: run in the kernel, a component cell runs the component on
the kernel's variables (in its image with Docker or Podman, else its command on this machine) and
sets its outputs. Run it as a pipeline with `kfp-jupyter run components_pipeline.ipynb --host-exec`
(or, with Docker/Podman installed, without `--host-exec`), or compile it with
`kfp-jupyter compile`.
"""),
            code("%load_ext kfp_jupyter", "skip"),
            code(
                """
import json

import pandas as pd
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
""",
                "imports",
            ),
            code(
                """
test_size = 0.3
seed = 7
digits = 3
""",
                "pipeline-parameters",
            ),
            code(
                """
frame = load_iris(as_frame=True).frame
train_rows, test_rows = train_test_split(
    frame, test_size=test_size, random_state=seed, stratify=frame["target"]
)
print(len(train_rows), "training rows,", len(test_rows), "test rows")
""",
                "step:split",
            ),
            md("## One component, two steps"),
            code("""
%%component train_stats components/column_stats.yaml --cpu 1 --memory 256Mi
table = train_rows
digits = digits
train_summary = stats
train_count = row_count
"""),
            code("""
%%component test_stats components/column_stats.yaml
table = test_rows
digits = digits
test_summary = stats
test_count = row_count
"""),
            md("## Compare the two"),
            code(
                """
with open(train_summary) as f:
    train = json.load(f)
with open(test_summary) as f:
    test = json.load(f)
features = [c for c in train if c != "target"]
mean_shift = max(abs(train[c]["mean"] - test[c]["mean"]) for c in features)
rows = train_count + test_count
print(pd.DataFrame({"train": {c: train[c]["mean"] for c in features},
                    "test": {c: test[c]["mean"] for c in features}}))
print(f"{rows} rows; the largest shift of a mean is {mean_shift}")
""",
                "step:compare",
            ),
            code(
                """
mean_shift
rows
""",
                "pipeline-metrics",
            ),
        ],
        name="components-pipeline",
        description="A reusable KFP component run twice between Python steps",
        experiment="examples",
    )


def main(argv: list[str]) -> int:
    import nbformat

    out = Path(argv[1]) if len(argv) > 1 else HERE
    out.mkdir(parents=True, exist_ok=True)
    nb = components_pipeline()
    nbformat.validate(nb)
    nbformat.write(nb, str(out / "components_pipeline.ipynb"))
    print(f"wrote {out / 'components_pipeline.ipynb'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
