"""Write the example notebooks of this folder (run `python examples/_make_examples.py`).

The notebooks are generated rather than edited by hand so that they stay small, output-free and
reviewable as code; edit this script and run it again to change them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nbformat

HERE = Path(__file__).resolve().parent

#: The metadata JupyterLab writes for the standard `python3` kernel (ipykernel's kernelspec and
#: kernel_info reply). Written as JupyterLab would, so opening an example does not mark it changed;
#: `version` is the Python of binder/runtime.txt and of the development environment.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
    "version": "3.11.7",
}


def code(source: str, *tags: str) -> Any:
    cell = nbformat.v4.new_code_cell(source.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def md(source: str) -> Any:
    return nbformat.v4.new_markdown_cell(source.strip("\n"))


def notebook(cells: list[Any], name: str, description: str, experiment: str) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    nb.metadata["kfp_jupyter"] = {
        "name": name,
        "description": description,
        "experiment": experiment,
    }
    # Cell ids are random by default; fixed ids keep regenerated notebooks byte-identical.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i + 1:02d}"
    return nb


def iris_classifier() -> Any:
    """Kale-style tags: load -> split -> two models in parallel -> evaluate, with metrics."""
    return notebook(
        [
            md("""
# Iris classifier

Two classifiers trained side by side on the iris data set that ships with scikit-learn.
Each cell is tagged in Kale's tag language: `imports`, `functions`, `pipeline-parameters`,
`step:NAME` with `prev:NAME`, and `pipeline-metrics`. Run it top to bottom in Jupyter, or turn it
into a pipeline with `kfp-jupyter compile iris_classifier.ipynb -t kfp`.
"""),
            code(
                """
import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
""",
                "imports",
            ),
            code(
                """
def macro_f1(model, features, labels):
    return float(f1_score(labels, model.predict(features), average="macro"))
""",
                "functions",
            ),
            code(
                """
test_size = 0.3
n_estimators = 50
seed = 7
solver = "lbfgs"
""",
                "pipeline-parameters",
            ),
            md("## Load the data"),
            code(
                """
iris = load_iris(as_frame=True)
data = iris.frame
print(data.shape)
""",
                "step:load_data",
            ),
            code(
                """
data.describe()
"""
            ),
            md("## Split into training and test sets"),
            code(
                """
features = data.drop(columns=["target"])
labels = np.asarray(data["target"])
x_train, x_test, y_train, y_test = train_test_split(
    features.to_numpy(), labels, test_size=test_size, random_state=seed, stratify=labels
)
print(len(x_train), "training rows,", len(x_test), "test rows")
""",
                "step:split",
                "prev:load_data",
            ),
            md("## Two models, trained in parallel"),
            code(
                """
forest = RandomForestClassifier(n_estimators=n_estimators, random_state=seed)
forest.fit(x_train, y_train)
""",
                "step:train_forest",
                "prev:split",
                "limit:cpu:1",
                "limit:memory:1Gi",
            ),
            code(
                """
logreg = LogisticRegression(solver=solver, max_iter=500)
logreg.fit(x_train, y_train)
""",
                "step:train_logreg",
                "prev:split",
            ),
            md("## Evaluate both on the test set"),
            code(
                """
forest_accuracy = float(accuracy_score(y_test, forest.predict(x_test)))
logreg_accuracy = float(accuracy_score(y_test, logreg.predict(x_test)))
forest_f1 = macro_f1(forest, x_test, y_test)
logreg_f1 = macro_f1(logreg, x_test, y_test)
scores = pd.DataFrame(
    {"accuracy": [forest_accuracy, logreg_accuracy], "f1": [forest_f1, logreg_f1]},
    index=["forest", "logreg"],
)
best = scores["accuracy"].idxmax()
print(scores)
print(f"best is {best}")
""",
                "step:evaluate",
                "prev:train_forest",
                "prev:train_logreg",
            ),
            code(
                """
print(forest_accuracy)
print(logreg_accuracy)
print(forest_f1)
print(logreg_f1)
""",
                "pipeline-metrics",
            ),
        ],
        name="iris-classifier",
        description="Random forest and logistic regression on iris, trained in parallel",
        experiment="examples",
    )


def magics_pipeline() -> Any:
    """%%step magics with no --after at all: every edge comes from the data each step reads."""
    return notebook(
        [
            md("""
# A pipeline from `%%step` magics

The same annotations as cell tags, written as cell magics instead. No step says which step it comes
after: kfp-jupyter works that out from the variables each step reads. The first cell loads the
magics into the kernel (it is tagged `skip`, so it is not part of the pipeline).
"""),
            code("%load_ext kfp_jupyter", "skip"),
            code("""
%%imports
import numpy as np
import pandas as pd
"""),
            code("""
%%pipeline_parameters
n_rows = 1000
noise = 0.1
seed = 0
"""),
            code("""
%%step make_data
rng = np.random.default_rng(seed)
x = rng.uniform(0, 10, size=n_rows)
y = 3.0 * x + 2.0 + rng.normal(0, noise, size=n_rows)
frame = pd.DataFrame({"x": x, "y": y})
"""),
            code("""
%%step clean --memory 512Mi
frame = frame[(frame["x"] > 0.5) & (frame["x"] < 9.5)].reset_index(drop=True)
frame["x2"] = frame["x"] ** 2
"""),
            code("""
%%step summary
stats = frame.describe().T
print(stats)
"""),
            code("""
%%step fit --retries 2
design = np.column_stack([frame["x"].to_numpy(), np.ones(len(frame))])
coef, *_ = np.linalg.lstsq(design, frame["y"].to_numpy(), rcond=None)
slope, intercept = float(coef[0]), float(coef[1])
"""),
            code("""
%%step report
residuals = frame["y"].to_numpy() - (slope * frame["x"].to_numpy() + intercept)
rmse = float(np.sqrt(np.mean(residuals**2)))
x_mean = float(stats.loc["x", "mean"])
print(f"y = {slope:.3f} x + {intercept:.3f}  (rmse {rmse:.4f}, mean x {x_mean:.2f})")
"""),
            code("""
%%pipeline_metrics
slope
intercept
rmse
"""),
        ],
        name="magics-pipeline",
        description="A small numpy/pandas pipeline annotated with %%step magics, edges inferred",
        experiment="examples",
    )


def _components_pipeline() -> Any:
    sys.path.insert(0, str(HERE))
    from _make_components_example import components_pipeline

    return components_pipeline()


def plain_notebook(cells: list[Any]) -> Any:
    """A notebook without kfp-jupyter metadata or annotations, as anyone writes one."""
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i + 1:02d}"
    return nb


def compose_prepare() -> Any:
    """A plain notebook (papermill's `parameters` tag only) that prepares the data."""
    return plain_notebook(
        [
            md("""
# Prepare the iris data

A plain notebook: it runs on its own, and `compose_pipeline.ipynb` runs it whole as one step,
handing its `frame` on to the next notebook.
"""),
            code("noise = 0.05\nseed = 0", "parameters"),
            code("""
import numpy as np
from sklearn.datasets import load_iris

frame = load_iris(as_frame=True).frame
rng = np.random.default_rng(seed)
features = frame.columns[:4]
frame[features] = frame[features] + rng.normal(0, noise, size=(len(frame), 4))
frame["petal_ratio"] = frame["petal length (cm)"] / frame["petal width (cm)"]
print(f"prepared {len(frame)} rows, {frame.shape[1] - 1} features")
"""),
        ]
    )


def compose_train() -> Any:
    """A plain notebook that trains on the prepared data (or loads it itself, run alone)."""
    return plain_notebook(
        [
            md("""
# Train a decision tree

Run alone, it loads the iris data itself; as a step of `compose_pipeline.ipynb` it is given
the `frame` the `prepare` notebook made (injected after the parameters cell).
"""),
            code("max_depth = 3\nframe = None", "parameters"),
            code("""
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

if frame is None:
    frame = load_iris(as_frame=True).frame
features = frame.drop(columns="target")
x_train, x_test, y_train, y_test = train_test_split(
    features, frame["target"], test_size=0.3, random_state=0, stratify=frame["target"]
)
model = DecisionTreeClassifier(max_depth=max_depth, random_state=0).fit(x_train, y_train)
accuracy = float(model.score(x_test, y_test))
print(f"{len(x_train)} training rows, {features.shape[1]} features: accuracy {accuracy:.3f}")
"""),
            code("accuracy", "pipeline-metrics"),
        ]
    )


def compose_pipeline(out: Path) -> Any:
    """What `kfp-jupyter compose compose/prepare.ipynb compose/train.ipynb --outputs prepare:frame
    -o compose_pipeline.ipynb` writes, filed under the examples' experiment (the notebooks it
    composes must exist: they are written first)."""
    sys.path.insert(0, str(HERE.parent))
    from kfp_jupyter.frontends.compose import compose

    nb = compose(
        [out / "compose" / "prepare.ipynb", out / "compose" / "train.ipynb"],
        out / "compose_pipeline.ipynb",
        outputs={"prepare": ["frame"]},
    )
    nb["metadata"]["kfp_jupyter"]["experiment"] = "examples"
    return nbformat.from_dict(nb)


EXAMPLES = {
    "iris_classifier.ipynb": iris_classifier,
    "magics_pipeline.ipynb": magics_pipeline,
    "components_pipeline.ipynb": _components_pipeline,
}
#: notebooks that other examples run as steps, in examples/compose/
CHILDREN = {
    "compose/prepare.ipynb": compose_prepare,
    "compose/train.ipynb": compose_train,
}


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else HERE
    (out / "compose").mkdir(parents=True, exist_ok=True)
    builds = {
        **EXAMPLES,
        **CHILDREN,
        "compose_pipeline.ipynb": lambda: compose_pipeline(out),
    }
    for name, build in builds.items():
        nbformat.validate(nb := build())
        nbformat.write(nb, str(out / name))
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
