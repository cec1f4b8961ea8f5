"""`kfp-jupyter convert` and `compose` write notebooks every command then reads as meant, through the
real commands: a plain notebook is left as it is; a cell one style cannot say stays in its own;
relative paths follow the output into another folder; a cell magic never has an empty body; a
Kale-composing notebook converts; `-o -` is standard output; and `compose` refuses (writing
nothing) a pipeline notebook every command would refuse, or one binding a parameter wrongly."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path
from typing import Any

import nbformat
import pytest
from engine_support import kfpj
from nbutil import code, make_notebook, md

LOAD = "%load_ext kfp_jupyter"

#: a component spec, small enough to read here: it echoes its one input
ECHO = """name: Echo
inputs:
- {name: Text, type: String}
implementation:
  container:
    image: busybox:1.36
    command: [echo, {inputValue: Text}]
"""


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def refused(result: subprocess.CompletedProcess[str], *says: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for words in says:
        assert words in result.stderr, result.stderr


def inspected(path: Path) -> dict[str, Any]:
    """What `inspect --json` says of the notebook; it must read."""
    got: dict[str, Any] = json.loads(ok(kfpj("inspect", "--json", path)).stdout)
    return got


def steps(path: Path) -> list[tuple[Any, ...]]:
    """The pipeline's steps as a converted notebook must keep them (cell numbers aside: a cell
    loading the magics may come first)."""
    return [
        (s["name"], s["after"], s["kind"], s["resources"], s["annotations"], s["packages"])
        for s in inspected(path)["steps"]
    ]


def cells(path: Path) -> list[Any]:
    book = nbformat.read(str(path), as_version=4)
    nbformat.validate(book)
    return list(book.cells)


def sources(path: Path) -> list[str]:
    return [c.source for c in cells(path)]


# --- 1. a plain notebook is left as it is ---------------------------------------------------------


def plain(path: Path) -> Path:
    return make_notebook(
        path,
        [
            code("n = 2", "parameters"),
            code("total = n * 10"),
            code("total", "pipeline-metrics"),
        ],
    )


def test_a_plain_notebook_is_left_as_it_is_when_converted_to_magics(tmp_path: Path) -> None:
    src = plain(tmp_path / "child.ipynb")
    out = tmp_path / "out.ipynb"
    got = ok(kfpj("convert", src, "--to", "magics", "-o", out))
    assert "plain notebook" in got.stderr and "nothing to convert" in got.stderr
    assert out.read_bytes() == src.read_bytes()
    seen = inspected(out)
    assert [s["kind"] for s in seen["steps"]] == ["notebook"]
    assert list(seen["parameters"]) == ["n"] and seen["metrics"] == ["total"]
    before = src.read_bytes()
    ok(kfpj("convert", src, "--to", "magics", "-o", src))  # in place: nothing to write
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.ipynb", "out.ipynb"]


def test_the_cell_loading_the_magics_leaves_a_plain_notebook_plain(tmp_path: Path) -> None:
    # as `convert --to magics` wrote a plain notebook before: it was then refused everywhere
    src = make_notebook(
        tmp_path / "child.ipynb",
        [
            code(LOAD, "skip"),
            code("%%pipeline_parameters\nn = 2"),
            code("total = n * 10"),
            code("%%pipeline_metrics\ntotal"),
        ],
    )
    seen = inspected(src)
    assert [s["kind"] for s in seen["steps"]] == ["notebook"]
    assert list(seen["parameters"]) == ["n"] and seen["metrics"] == ["total"]
    # back to tags: nothing needs the magics any more, and a cluster's kernel, which runs every
    # cell of a plain notebook, could not load them
    back = tmp_path / "back.ipynb"
    ok(kfpj("convert", src, "--to", "tags", "-o", back))
    assert sources(back) == ["n = 2", "total = n * 10", "total"]
    assert [c.metadata.get("tags") for c in cells(back)] == [
        ["pipeline-parameters"],
        None,
        ["pipeline-metrics"],
    ]
    assert inspected(back)["parameters"] == seen["parameters"]


# --- 2. a cell one style cannot say stays in its own ----------------------------------------------


def test_settings_no_tag_can_hold_keep_their_magic(tmp_path: Path) -> None:
    src = make_notebook(
        tmp_path / "m.ipynb",
        [
            code(LOAD, "skip"),
            code(
                "%%step a --packages 'pandas>=2,<3' --limit ephemeral-storage=10Gi --cpu 1\nx = 1"
            ),
            code("%%step b --annotation 'note=first, second'\ny = x + 1"),
            code("%%step c --after b\nz = y"),
        ],
    )
    out = tmp_path / "t.ipynb"
    got = ok(kfpj("convert", src, "--to", "tags", "-o", out))
    assert "cell 2: left as a magic" in got.stderr and "cell 3: left as a magic" in got.stderr
    assert "contains ','" in got.stderr
    after = cells(out)
    assert after[1].source == src_cell(src, 1) and after[2].source == src_cell(src, 2)
    assert after[3].source == "z = y" and after[3].metadata["tags"] == ["step:c", "prev:b"]
    assert steps(out) == steps(src)
    assert inspected(out)["steps"][0]["resources"]["ephemeral-storage"] == "10Gi"


def test_a_limit_the_tags_drop_keeps_its_magic(tmp_path: Path) -> None:
    src = make_notebook(
        tmp_path / "m.ipynb",
        [code(LOAD, "skip"), code("%%step a --limit ephemeral-storage=10Gi\nx = 1")],
    )
    out = tmp_path / "t.ipynb"
    got = ok(kfpj("convert", src, "--to", "tags", "-o", out))
    assert "cell 2: left as a magic" in got.stderr and "ephemeral-storage" in got.stderr
    assert steps(out) == steps(src)


def src_cell(path: Path, i: int) -> str:
    return str(cells(path)[i].source)


def test_a_tag_with_a_line_break_keeps_its_tag(tmp_path: Path) -> None:
    src = make_notebook(
        tmp_path / "t.ipynb",
        [
            code("x = 1", "step:a", 'annotation:example.com/cfg:{"a": 1}\n{"b": 2}'),
            code("y = x", "step:b"),
        ],
    )
    out = tmp_path / "m.ipynb"
    got = ok(kfpj("convert", src, "--to", "magics", "-o", out))
    assert "cell 1: left as tags" in got.stderr and "line break" in got.stderr
    loader, first, second = cells(out)
    assert loader.source == LOAD
    assert first.source == "x = 1" and first.metadata["tags"] == cells(src)[0].metadata["tags"]
    assert second.source == "%%step b\ny = x"
    assert steps(out) == steps(src)


def test_an_annotation_value_with_a_comma_is_told_a_fix_that_works(tmp_path: Path) -> None:
    src = make_notebook(
        tmp_path / "t.ipynb", [code("x = 1", "step:a", "annotation:note:first, second")]
    )
    got = kfpj("inspect", src)
    refused(got, "contains ','", "%%step NAME --annotation 'note=first, second'")
    assert "'annotation:second'" not in got.stderr
    # two annotations in one tag are still two tags
    two = make_notebook(tmp_path / "two.ipynb", [code("x = 1", "step:a", "annotation:a:1,b:2")])
    refused(kfpj("inspect", two), "'annotation:a:1' and 'annotation:b:2'")


def test_an_untagged_first_cell_stays_in_the_pipeline(tmp_path: Path) -> None:
    # the skipped cell loading the magics goes below it: above, it would take the cell in
    src = make_notebook(
        tmp_path / "t.ipynb",
        [code("import math"), code("x = math.pi", "step:a"), code("y = x", "step:b")],
    )
    out = tmp_path / "m.ipynb"
    ok(kfpj("convert", src, "--to", "magics", "-o", out))
    assert sources(out) == ["import math", LOAD, "%%step a\nx = math.pi", "%%step b\ny = x"]
    assert steps(out) == steps(src)


# --- 3. relative paths follow the output ----------------------------------------------------------


def with_paths(folder: Path) -> Path:
    (folder / "echo.yaml").write_text(ECHO)
    make_notebook(folder / "child.ipynb", [code("n = 1", "parameters"), code("y = n * 2")])
    return make_notebook(
        folder / "nb.ipynb",
        [
            code("n = 3", "step:run", "notebook:child.ipynb", "outputs:y"),
            code("text = 'hi'", "step:echo", "component:echo.yaml"),
        ],
    )


@pytest.mark.parametrize("where", ["sub/out.ipynb", "new/deeper/out.ipynb"])
@pytest.mark.parametrize("style", ["magics", "tags"])
def test_relative_paths_are_rewritten_for_the_outputs_folder(
    tmp_path: Path, where: str, style: str
) -> None:
    src = with_paths(tmp_path)
    (tmp_path / "sub").mkdir()
    out = tmp_path / where
    ok(kfpj("convert", src, "--to", style, "-o", out))
    up = "../" * (where.count("/"))
    text = out.read_text()
    assert f"{up}child.ipynb" in text and f"{up}echo.yaml" in text
    assert steps(out) == steps(src)


def test_kales_notebook_path_follows_the_output(tmp_path: Path) -> None:
    src = kale_composing(tmp_path)
    out = tmp_path / "sub" / "m.ipynb"
    ok(kfpj("convert", src, "--to", "magics", "-o", out))
    (ref,) = [c for c in cells(out) if "notebook_path" in c.metadata]
    assert ref.metadata["notebook_path"] == "../prep.ipynb"
    assert steps(out) == steps(src)


# --- 4. a cell magic never has an empty body ------------------------------------------------------


def test_cell_magics_without_code_get_a_comment(tmp_path: Path) -> None:
    make_notebook(tmp_path / "child.ipynb", [code("frame = [1, 2]")])
    src = make_notebook(
        tmp_path / "t.ipynb",
        [
            code("x = 1", "step:a"),
            code("", "skip"),
            code("", "step:child", "notebook:child.ipynb", "outputs:frame"),
        ],
    )
    out = tmp_path / "m.ipynb"
    ok(kfpj("convert", src, "--to", "magics", "-o", out))
    assert sources(out)[2:] == [
        "%%skip\n# (no code)",
        "%%notebook child child.ipynb --outputs frame\n# the notebook's own parameter values",
    ]
    assert steps(out) == steps(src)


@pytest.mark.slow
def test_run_all_runs_the_cell_magics_without_code(tmp_path: Path) -> None:
    from nbclient import NotebookClient

    src = make_notebook(
        tmp_path / "t.ipynb",
        [code("x = 1", "step:a"), code("", "skip"), code("y = x + 1", "step:b")],
    )
    out = tmp_path / "m.ipynb"
    ok(kfpj("convert", src, "--to", "magics", "-o", out))
    nb = nbformat.read(str(out), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print('y is', y)"))
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    results = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in results if o.get("output_type") == "error"], results
    assert nb.cells[-1].outputs[0]["text"] == "y is 2\n"


# --- 6. a notebook composing others as Kale does converts -----------------------------------------


def kale_composing(folder: Path) -> Path:
    make_notebook(
        folder / "prep.ipynb", [code("import math", "imports"), code("base = 4", "step:load")]
    )
    ref = code("", "notebook:prep")
    ref.metadata["notebook_path"] = "./prep.ipynb"
    # the untagged cell after the reference belongs to the next step, as in Kale
    return make_notebook(
        folder / "main.ipynb",
        [ref, code("y = base * 2"), code("z = y + 1", "step:train")],
    )


@pytest.mark.parametrize("style", ["magics", "tags"])
def test_a_kale_composing_notebook_converts(tmp_path: Path, style: str) -> None:
    src = kale_composing(tmp_path)
    out = tmp_path / "out.ipynb"
    ok(kfpj("convert", src, "--to", style, "-o", out))
    assert steps(out) == steps(src)
    assert [s["name"] for s in inspected(out)["steps"]] == ["load", "train"]
    assert "y = base * 2" in sources(out)  # the cell stays without an annotation of its own


# --- -o - is standard output ----------------------------------------------------------------------


def test_convert_to_standard_output(tmp_path: Path) -> None:
    src = make_notebook(tmp_path / "t.ipynb", [md("# t"), code("x = 1", "step:a")])
    got = ok(kfpj("convert", src.name, "--to", "magics", "-o", "-", cwd=tmp_path))
    printed = nbformat.reads(got.stdout, as_version=4)
    assert [c.source for c in printed.cells] == [LOAD, "# t", "%%step a\nx = 1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.ipynb"]


# --- 5. compose -------------------------------------------------------------------------------------


def composed_cells(path: Path) -> tuple[dict[str, object], dict[str, dict[str, str]]]:
    """The pipeline notebook's parameters (name: default), and each step's bindings."""
    params: dict[str, object] = {}
    bindings: dict[str, dict[str, str]] = {}
    for c in cells(path):
        if "pipeline-parameters" in c.metadata.get("tags", []):
            for node in ast.parse(c.source).body:
                assert isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                params[node.targets[0].id] = ast.literal_eval(node.value)
        elif c.source.startswith("%%notebook"):
            line, _, body = c.source.partition("\n")
            pairs = [ln.split(" = ") for ln in body.split("\n") if " = " in ln]
            bindings[line.split()[1]] = {k: v for k, v in pairs}
    return params, bindings


def test_compose_gives_each_parameter_its_own_value(tmp_path: Path) -> None:
    a = make_notebook(tmp_path / "a.ipynb", [code("x = 1", "parameters"), code("y = x * 2")])
    b = make_notebook(
        tmp_path / "b.ipynb", [code("b_x = 5\nx = 2", "parameters"), code("z = x + b_x")]
    )
    out = tmp_path / "p.ipynb"
    ok(kfpj("compose", a, b, "-o", out))
    params, bindings = composed_cells(out)
    assert params[bindings["a"]["x"]] == 1
    assert params[bindings["b"]["x"]] == 2 and params[bindings["b"]["b_x"]] == 5
    inspected(out)


def test_compose_names_no_step_after_a_parameter(tmp_path: Path) -> None:
    lr = make_notebook(tmp_path / "lr.ipynb", [code("lr = 0.1", "parameters"), code("y = lr")])
    other = make_notebook(tmp_path / "b.ipynb", [code("z = 1")])
    out = tmp_path / "p.ipynb"
    got = ok(kfpj("compose", lr, other, "-o", out))
    assert "wrote" in got.stderr
    seen = inspected(out)
    assert [s["name"] for s in seen["steps"]] == ["lr-notebook", "b"]
    assert list(seen["parameters"]) == ["lr"]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--after", "a:c"], "dependency cycle"),
        (["--name", "My Pipeline"], "invalid pipeline name 'My Pipeline'"),
        (["--outputs", "a:x"], "--outputs a:x: 'x' is a parameter of the pipeline"),
    ],
)
def test_compose_writes_nothing_every_command_would_refuse(
    tmp_path: Path, options: list[str], says: str
) -> None:
    a = make_notebook(tmp_path / "a.ipynb", [code("x = 1", "parameters"), code("y = x")])
    b = make_notebook(tmp_path / "b.ipynb", [code("x = 0", "parameters"), code("z = x")])
    c = make_notebook(tmp_path / "c.ipynb", [code("w = 1")])
    before = sorted(p.name for p in tmp_path.iterdir())
    refused(kfpj("compose", a, b, c, *options, "-o", tmp_path / "out" / "p.ipynb"), says)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# --- the cells keep their own settings, not those Kale's reading adds -----------------------------


def kale_parent(folder: Path) -> Path:
    """A notebook splicing in `spliced.ipynb` (steps sp1, sp2) by Kale's reference, with a step
    after it running a notebook of its own and one running after the reference by name."""
    make_notebook(
        folder / "spliced.ipynb", [code("q = 1", "step:sp1"), code("r = q + 1", "step:sp2")]
    )
    make_notebook(folder / "child.ipynb", [code("n = 2", "parameters"), code("print(n)")])
    ref = code("", "notebook:spliced")
    ref.metadata["notebook_path"] = "./spliced.ipynb"
    return make_notebook(
        folder / "parent.ipynb",
        [
            code("x = 1", "step:first"),
            ref,
            code("n = 3", "step:runchild", "notebook:child.ipynb"),
            code("y = x", "step:last", "prev:spliced"),
        ],
    )


@pytest.mark.parametrize(
    ("style", "said"),
    [
        (
            "magics",
            [
                "%%notebook runchild ../child.ipynb\nn = 3",
                "%%step last --after spliced\ny = x",
            ],
        ),
        ("tags", [["step:runchild", "notebook:../child.ipynb"], ["step:last", "prev:spliced"]]),
    ],
)
def test_the_edges_kales_reading_adds_are_not_written(
    tmp_path: Path, style: str, said: list[Any]
) -> None:
    src = kale_parent(tmp_path)
    (tmp_path / "sub").mkdir()
    out = tmp_path / "sub" / "out.ipynb"
    ok(kfpj("convert", src, "--to", style, "-o", out))
    last_two = cells(out)[-2:]
    if style == "magics":
        assert [c.source for c in last_two] == said
    else:
        assert [c.metadata["tags"] for c in last_two] == said
    assert steps(out) == steps(src)
    # the spliced notebook's steps are its own business: renamed, both notebooks still read
    spliced = tmp_path / "spliced.ipynb"
    spliced.write_text(spliced.read_text().replace("step:sp1", "step:load"))
    after = {s["name"]: s["after"] for s in inspected(out)["steps"]}
    assert after == {s["name"]: s["after"] for s in inspected(src)["steps"]}
    assert after["runchild"] == ["first", "load", "sp2"]


# --- into a folder not made yet, the notebook is checked as it will be there ----------------------


def kale_with_component(folder: Path) -> Path:
    """A notebook splicing in one whose step names a component spec by a relative path, which
    is read from the folder of the notebook opened (the splicing one)."""
    (folder / "comp.yaml").write_text(ECHO)
    make_notebook(
        folder / "spliced2.ipynb",
        [code("q = 'hi'", "step:sp1"), code("text = q", "step:echo", "component:comp.yaml")],
    )
    ref = code("", "notebook:spliced2")
    ref.metadata["notebook_path"] = "./spliced2.ipynb"
    return make_notebook(folder / "parent2.ipynb", [code("x = 1", "step:first"), ref])


@pytest.mark.parametrize("made", [True, False])
def test_a_spliced_path_that_would_not_resolve_there_is_refused(tmp_path: Path, made: bool) -> None:
    src = kale_with_component(tmp_path)
    inspected(src)
    if made:
        (tmp_path / "new").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    got = kfpj("convert", src, "--to", "magics", "-o", tmp_path / "new" / "p.ipynb")
    refused(got, "would not read back", "comp.yaml' does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (tmp_path / "new" / "p.ipynb").exists()


def test_a_kale_notebook_converts_into_a_folder_not_made_yet(tmp_path: Path) -> None:
    src = kale_parent(tmp_path)
    out = tmp_path / "new" / "deeper" / "p.ipynb"
    ok(kfpj("convert", src, "--to", "magics", "-o", out))
    (ref,) = [c for c in cells(out) if "notebook_path" in c.metadata]
    assert ref.metadata["notebook_path"] == "../../spliced.ipynb"
    assert "%%notebook runchild ../../child.ipynb\nn = 3" in sources(out)
    assert steps(out) == steps(src)


# --- the summary counts the cells converted ----------------------------------------------------


def test_the_summary_counts_only_the_cells_converted(tmp_path: Path) -> None:
    src = make_notebook(
        tmp_path / "m.ipynb",
        [
            code(LOAD, "skip"),
            code("%%step a --annotation 'note=first, second'\nx = 1"),
            code("%%step b --packages 'pandas>=2,<3'\ny = x"),
            code("%%step c --annotation 'note=third, fourth'\nz = y"),
        ],
    )
    out = tmp_path / "t.ipynb"
    got = ok(kfpj("convert", src, "--to", "tags", "-o", out))
    assert got.stderr.count("left as a magic") == 3
    assert f"wrote {out} (0 cells converted to tags)" in got.stderr
    # the cells already in tags are not converted again; the others are
    mixed = make_notebook(
        tmp_path / "mixed.ipynb",
        [code("x = 1", "step:a"), code("%%step b\ny = x"), code("%%step c\nz = y")],
    )
    got = ok(kfpj("convert", mixed, "--to", "tags", "-o", out))
    assert f"wrote {out} (2 cells converted to tags)" in got.stderr
    got = ok(kfpj("convert", out, "--to", "magics", "-o", tmp_path / "m2.ipynb"))
    assert "(3 cells converted to magics)" in got.stderr
