"""A local run computes what the notebook computes when run top to bottom in Jupyter."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from engine_support import kfpj, show, states
from nbutil import code, make_notebook
from topdown import run_top_to_bottom

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iris_classifier.ipynb"


def _dataframes_and_models(path: Path) -> Path:
    """pandas, numpy and a fitted scikit-learn model cross step boundaries; two metrics."""
    return make_notebook(
        path,
        [
            code(
                "import numpy as np\nimport pandas as pd\n"
                "from sklearn.datasets import load_wine\n"
                "from sklearn.linear_model import LogisticRegression\n"
                "from sklearn.model_selection import train_test_split",
                "imports",
            ),
            code("seed = 3\nC = 0.5", "pipeline-parameters"),
            code("wine = load_wine(as_frame=True)\nframe = wine.frame", "step:load"),
            code(
                "frame['ratio'] = frame['alcohol'] / frame['ash']\n"
                "x = frame.drop(columns=['target']).to_numpy()\n"
                "y = frame['target'].to_numpy()\n"
                "x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=seed)",
                "step:features",
            ),
            code(
                "model = LogisticRegression(C=C, max_iter=5000)\nmodel.fit(x_train, y_train)",
                "step:train",
            ),
            code(
                "accuracy = float(model.score(x_test, y_test))\n"
                "ratio_mean = float(frame['ratio'].mean())",
                "step:score",
            ),
            code("accuracy\nratio_mean", "pipeline-metrics"),
        ],
    )


@pytest.mark.slow
def test_local_metrics_equal_the_top_to_bottom_run(tmp_path: Path) -> None:
    nb = _dataframes_and_models(tmp_path / "wine.ipynb")
    store = tmp_path / "store"
    p = kfpj("run", nb, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    local = show(store)["metrics"]
    reference = run_top_to_bottom(nb, ["accuracy", "ratio_mean"])
    assert local == reference
    assert 0.5 < local["accuracy"] <= 1.0


@pytest.mark.slow
@pytest.mark.skipif(not EXAMPLE.exists(), reason="the example notebook is not there")
def test_the_example_notebook_runs_locally_like_top_to_bottom(tmp_path: Path) -> None:
    nb = tmp_path / EXAMPLE.name
    shutil.copy(EXAMPLE, nb)
    store = tmp_path / "store"
    p = kfpj("run", nb, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    summary = show(store)
    assert set(states(summary).values()) == {"SUCCEEDED"}
    reference = run_top_to_bottom(nb, list(summary["metrics"]))
    assert summary["metrics"] == reference
    assert len(reference) == 4
