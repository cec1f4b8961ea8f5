"""A `%%step` option given twice: a repeatable one adds up, as the tags do (`prev:a` `prev:b`), and
a one-value one given two values is an error naming both. Before, the last one won silently:
`--after a --after b` dropped the dependency on a, `--packages x --packages y` dropped x."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from nbutil import code, make_notebook

from kfp_jupyter import load_notebook
from kfp_jupyter.errors import NotebookError

if TYPE_CHECKING:
    from kfp_jupyter.model import Pipeline


def pipeline_of(tmp_path: Path, line: str) -> Pipeline:
    nb = make_notebook(
        tmp_path / "o.ipynb",
        [
            code("x = 1", "step:a"),
            code("y = 2", "step:b"),
            code(f"{line}\nz = x + y"),
        ],
    )
    return load_notebook(nb)


def test_repeatable_options_add_up(tmp_path: Path) -> None:
    p = pipeline_of(
        tmp_path, "%%step c --after a --after b --packages numpy --packages 'pandas>=2,<3'"
    )
    c = p.step("c")
    assert set(c.after) >= {"a", "b"}
    assert "pandas>=2,<3" in c.packages and any(r.startswith("numpy") for r in c.packages)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ("--image x:1 --image y:2", "--image is given twice, as 'x:1' and 'y:2'"),
        ("--cpu 1 --cpu 2", "--cpu is given twice, as '1' and '2'"),
        ("--memory 1Gi --memory 2Gi", "--memory is given twice"),
        ("--gpu 1 --gpu 2", "--gpu is given twice"),
        ("--retries 1 --retries 2", "--retries is given twice, as 1 and 2"),
        ("--timeout 5 --timeout 6", "--timeout is given twice"),
    ],
)
def test_a_one_value_option_given_two_values_is_refused(
    tmp_path: Path, options: str, said: str
) -> None:
    with pytest.raises(NotebookError) as e:
        pipeline_of(tmp_path, f"%%step c --after a b {options}")
    assert said in str(e.value)


def test_the_same_value_twice_is_one(tmp_path: Path) -> None:
    p = pipeline_of(tmp_path, "%%step c --after a b --image x:1 --image x:1")
    assert p.step("c").image == "x:1"


@pytest.mark.parametrize(
    "cell",
    [
        code("%%step c --secret s1:k:TOKEN --secret s2:k:TOKEN\nz = 1"),
        code("z = 1", "step:c", "secret:s1:k:TOKEN", "secret:s2:k:TOKEN"),
        code("z = 1", "step:c", "secret:s1:k:TOKEN", "secret:s1:other:TOKEN"),
    ],
)
def test_one_variable_from_two_secrets_is_refused(tmp_path: Path, cell: object) -> None:
    """Kubernetes keeps the last of two env entries of one name: which was meant is the user's."""
    nb = make_notebook(tmp_path / "s.ipynb", [cell])
    with pytest.raises(NotebookError) as e:
        load_notebook(nb)
    assert "environment variable 'TOKEN' is given from secret s1:" in str(e.value)


def test_the_same_secret_twice_is_one(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "s.ipynb",
        [code("z = 1", "step:c", "secret:s1:k:TOKEN"), code("y = z", "secret:s1:k:TOKEN")],
    )
    [step] = load_notebook(nb).steps
    assert [(s.secret, s.key, s.env) for s in step.secrets] == [("s1", "k", "TOKEN")]
