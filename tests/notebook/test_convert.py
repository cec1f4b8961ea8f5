"""`kfp-jupyter convert`: one annotation style to the other, losing nothing and meaning the same."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbutil import code, make_notebook, md

from kfp_jupyter import NotebookError, load_notebook
from kfp_jupyter.frontends.convert import convert_notebook

LOAD = "%load_ext kfp_jupyter"


def meaning(path: Path) -> dict[str, Any]:
    """What the notebook means as a pipeline, wherever it is; without the cell that converting
    to magics puts first to load them (a skipped cell: it only moves the others down one)."""
    nb = nbformat.read(str(path), as_version=4)
    if nb.cells and nb.cells[0].source == LOAD and nb.cells[0].metadata.get("tags") == ["skip"]:
        nb.cells = nb.cells[1:]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / path.name
            nbformat.write(nb, str(path))
            out = load_notebook(path).to_json()
    else:
        out = load_notebook(path).to_json()
    out.pop("notebook")
    return out


def cells_of(path: Path) -> list[Any]:
    return list(nbformat.read(str(path), as_version=4).cells)


def with_output(cell: Any, text: str) -> Any:
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    cell.execution_count = 7
    return cell


def tagged_notebook(path: Path) -> Path:
    cells = [
        md("# Title\n`%%step not-a-step` in markdown stays"),
        code("import math", "imports", "hide-input"),
        code("def f(x):\n    return x + 1", "functions"),
        code("n = 3\nrate = 0.5", "parameters"),  # papermill's tag
        with_output(
            code("xs = list(range(n))\nprint(xs)", "block:load", "remove-output"), "[0, 1, 2]\n"
        ),
        code("ys = [f(x) for x in xs]"),  # continues load
        code("more = 1", "limit:cpu:1"),  # settings-only continuation of load
        code(
            "%%time\ntotal = sum(ys) * rate",
            "step:train",
            "prev:load",
            "image:python:3.12",
            "packages:numpy==2.0.0",
            "packages:rich",
            "limit:nvidia.com/gpu:1",
            "limit:memory:4Gi",
            "limit:amd.com/gpu:2",
            "label:team:ml",
            "annotation:note:a:b",
            "secret:creds:key:ENV_KEY",
            "cache:disabled",
            "retries:2",
            "timeout:60",
        ),
        code("# exploration\nprint(total)", "skip"),
        code("score = math.sqrt(total)\nmore2 = more", "step:evaluate"),
        code("score", "pipeline-metrics"),
    ]
    nb_path = make_notebook(path, cells, {"kfp_jupyter": {"name": "conv", "packages": ["tqdm"]}})
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[4].metadata["collapsed"] = True
    nbformat.write(nb, str(nb_path))
    return nb_path


def magic_notebook(path: Path) -> Path:
    return make_notebook(
        path,
        [
            code("%%imports\nimport math"),
            code("%%pipeline_parameters\nn = 3"),
            code("%%step load --cpu 1 --label a=b\nxs = list(range(n))"),
            code("ys = xs"),
            code("%%step train --after load --gpu 1 --no-cache --retries 1\ntotal = sum(ys)"),
            code("%%skip\nprint(total)"),
            code("%%step evaluate\nscore = math.sqrt(total)", "hide-input"),
            code("%%pipeline_metrics\nscore"),
        ],
        {"kfp_jupyter": {"name": "conv-magics"}},  # else the name comes from the file name
    )


def test_tags_to_magics(tmp_path: Path) -> None:
    src = tagged_notebook(tmp_path / "tags.ipynb")
    out = tmp_path / "magics.ipynb"
    n = convert_notebook(src, "magics", out)
    assert n == 9  # every annotated code cell; continuations and markdown are not annotated
    before, (loader, *after) = cells_of(src), cells_of(out)
    assert loader.source == LOAD and loader.metadata["tags"] == ["skip"]  # so Run All works
    assert len(before) == len(after)
    sources = [c.source for c in after]
    assert sources[0] == before[0].source  # markdown untouched
    assert sources[1] == "%%imports\nimport math"
    assert sources[3].startswith("%%pipeline_parameters\n")
    assert sources[4].startswith("%%step load\n")
    assert sources[5] == before[5].source  # a continuation stays a continuation
    assert sources[6] == "%%step load --cpu 1\nmore = 1"
    train = sources[7].split("\n")
    assert train[0].startswith("%%step train --after load --image python:3.12")
    assert "--gpu 1" in train[0] and "--no-cache" in train[0] and "--timeout 60" in train[0]
    assert train[1:] == ["%%time", "total = sum(ys) * rate"]
    assert sources[8].startswith("%%skip\n")
    # our tags are gone, other tools' tags (and papermill's 'parameters') stay
    assert after[1].metadata.get("tags") == ["hide-input"]
    assert after[3].metadata.get("tags") == ["parameters"]
    assert after[4].metadata.get("tags") == ["remove-output"]
    assert "tags" not in after[7].metadata
    # outputs, execution counts, other cell metadata and notebook metadata untouched
    assert after[4].outputs == before[4].outputs and after[4].execution_count == 7
    assert after[4].metadata["collapsed"] is True
    assert (
        nbformat.read(str(out), as_version=4).metadata
        == nbformat.read(str(src), as_version=4).metadata
    )
    assert meaning(out) == meaning(src)


def test_magics_to_tags(tmp_path: Path) -> None:
    src = magic_notebook(tmp_path / "magics.ipynb")
    out = tmp_path / "tags.ipynb"
    assert convert_notebook(src, "tags", out) == 7
    after = cells_of(out)
    assert [c.source for c in after[:3]] == ["import math", "n = 3", "xs = list(range(n))"]
    assert after[0].metadata["tags"] == ["imports"]
    assert after[1].metadata["tags"] == ["pipeline-parameters"]
    assert after[2].metadata["tags"] == ["step:load", "limit:cpu:1", "label:a:b"]
    assert "tags" not in after[3].metadata
    assert after[4].metadata["tags"] == [
        "step:train",
        "prev:load",
        "limit:nvidia.com/gpu:1",
        "cache:disabled",
        "retries:1",
    ]
    assert after[5].metadata["tags"] == ["skip"]
    assert after[6].metadata["tags"] == ["hide-input", "step:evaluate"]
    assert meaning(out) == meaning(src)


@pytest.mark.parametrize("first", ["magics", "tags"])
def test_round_trip_gives_the_same_pipeline(tmp_path: Path, first: str) -> None:
    src = (
        tagged_notebook(tmp_path / "src.ipynb")
        if first == "magics"
        else magic_notebook(tmp_path / "src.ipynb")
    )
    other = "tags" if first == "magics" else "magics"
    mid, back = tmp_path / "mid.ipynb", tmp_path / "back.ipynb"
    convert_notebook(src, first, mid)
    convert_notebook(mid, other, back)
    assert meaning(src) == meaning(mid) == meaning(back)
    # and the code of every cell is what it was
    assert [c.source for c in cells_of(back) if c.cell_type == "markdown"] == [
        c.source for c in cells_of(src) if c.cell_type == "markdown"
    ]


def test_converting_to_the_style_it_has_changes_nothing(tmp_path: Path) -> None:
    # byte for byte: the file is written the way Jupyter writes it, so it diffs cleanly
    src = tagged_notebook(tmp_path / "tags.ipynb")
    out = tmp_path / "same.ipynb"
    convert_notebook(src, "tags", out)
    assert out.read_bytes() == src.read_bytes()
    m = magic_notebook(tmp_path / "m.ipynb")
    convert_notebook(m, "magics", out)
    assert out.read_bytes() == m.read_bytes()


def test_cell_with_both_styles_becomes_one(tmp_path: Path) -> None:
    src = make_notebook(
        tmp_path / "both.ipynb", [code("%%step a --cpu 1\nx = 1", "step:a", "retries:3")]
    )
    out = tmp_path / "out.ipynb"
    convert_notebook(src, "magics", out)
    loader, cell = cells_of(out)
    assert loader.source == LOAD
    assert cell.source == "%%step a --cpu 1 --retries 3\nx = 1" and "tags" not in cell.metadata
    convert_notebook(src, "tags", out)
    (cell,) = cells_of(out)
    assert cell.source == "x = 1" and cell.metadata["tags"] == [
        "step:a",
        "limit:cpu:1",
        "retries:3",
    ]


def test_convert_in_place(tmp_path: Path) -> None:
    src = tagged_notebook(tmp_path / "nb.ipynb")
    expected = meaning(src)
    convert_notebook(src, "magics", src)
    assert cells_of(src)[2].source.startswith("%%imports")  # below the cell loading the magics
    assert meaning(src) == expected
    assert not [p.name for p in tmp_path.iterdir() if p.name != "nb.ipynb"]  # no temporary left


@pytest.mark.parametrize(
    "content",
    [
        "not a notebook",
        '{"cells": 3}',
        None,  # a notebook whose annotations cannot be read
    ],
)
def test_invalid_notebook_writes_nothing(tmp_path: Path, content: str | None) -> None:
    src = tmp_path / "bad.ipynb"
    if content is None:
        make_notebook(src, [code("%%step a --gpu\nx = 1")])
    else:
        src.write_text(content)
    out = tmp_path / "out.ipynb"
    with pytest.raises(NotebookError):
        convert_notebook(src, "tags", out)
    assert not out.exists()
    out.write_text("previous")
    with pytest.raises(NotebookError):
        convert_notebook(src, "magics", out)
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ipynb", "out.ipynb"]


def test_missing_notebook(tmp_path: Path) -> None:
    with pytest.raises(NotebookError) as e:
        convert_notebook(tmp_path / "nope.ipynb", "tags", tmp_path / "out.ipynb")
    assert "does not exist" in str(e.value)
    assert not (tmp_path / "out.ipynb").exists()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", *args], capture_output=True, text=True
    )


def test_cli_convert(tmp_path: Path) -> None:
    src = tagged_notebook(tmp_path / "tags.ipynb")
    out = tmp_path / "sub" / "magics.ipynb"
    r = run_cli("convert", str(src), "--to", "magics", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "9 cells" in r.stderr and str(out) in r.stderr
    assert meaning(out) == meaning(src)
    json.loads(out.read_text())  # a plain notebook file
    back = tmp_path / "back.ipynb"
    assert run_cli("convert", str(out), "--to", "tags", "-o", str(back)).returncode == 0
    assert meaning(back) == meaning(src)


def test_cli_convert_invalid_notebook(tmp_path: Path) -> None:
    src = make_notebook(tmp_path / "bad.ipynb", [code("x = 1", "step:a", "retries:lots")])
    out = tmp_path / "out.ipynb"
    r = run_cli("convert", str(src), "--to", "magics", "-o", str(out))
    assert r.returncode == 2
    assert "cell 1" in r.stderr and "retries" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_cli_convert_needs_a_style(tmp_path: Path) -> None:
    src = magic_notebook(tmp_path / "m.ipynb")
    r = run_cli("convert", str(src), "--to", "yaml", "-o", str(tmp_path / "o.ipynb"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
