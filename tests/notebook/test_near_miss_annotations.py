"""A near miss of an annotation, a tag or a cell magic, is told, naming the cell and what was
meant: left as it is, it annotates nothing and the cell silently joins the step above. Tags and
magics of other tools and of the notebook's author that only look a little like ours stay
silent. And a file that is no notebook at all (a compiled pipeline, a script), given where a
notebook goes, is named for what it is, with the command that takes it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from engine_support import kfpj
from IPython.core.interactiveshell import InteractiveShell
from nbutil import code, make_notebook

from kfp_jupyter import load_notebook


def warnings_of(tmp_path: Path, second: object) -> list[str]:
    """The warnings of a notebook whose second cell is `second`, after a step 'one'."""
    nb = make_notebook(tmp_path / "nb.ipynb", [code("x = 1", "step:one"), second])
    return [str(w) for w in load_notebook(nb).warnings]


# --- tags ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("setp:two", "step:two"),  # two neighbouring letters swapped
        ("stpe:two", "step:two"),
        ("perv:one", "prev:one"),
        ("step four", "step:four"),  # a space for the ':'
        ("Step four", "step:four"),
        ("prev one", "prev:one"),
        ("timeout 30", "timeout:30"),
        ("steps:three", "step:three"),  # told before, still told
        ("Step:five", "step:five"),
    ],
)
def test_a_near_miss_of_a_tag_is_a_warning_naming_the_cell(
    tmp_path: Path, typo: str, meant: str
) -> None:
    (warning,) = warnings_of(tmp_path, code("y = x + 1", typo))
    assert warning.startswith(f"cell 2: tag {typo!r} is not a kfp-jupyter tag, so it is ignored")
    assert f"did you mean {meant!r}?" in warning


@pytest.mark.parametrize(
    "tag",
    [
        "setup",
        "stepwise",
        "setup:db",
        "stepwise:yes",
        "sept:15",  # not a swap of neighbours
        "pets:cat",
        "stop",
        "step-1",
        "block 1",  # a step name starts with a letter
        "step 1 of 3",  # a step name has no spaces
        "note see below",
        "time 5min",
        "image of a cat",
        "skip this",
        "hide-input",
        "remove-cell",
        "injected-parameters",
    ],
)
def test_a_tag_only_loosely_like_ours_stays_silent(tmp_path: Path, tag: str) -> None:
    assert warnings_of(tmp_path, code("y = x + 1", tag)) == []


def test_the_misspelt_step_still_folds_into_the_step_above_as_the_warning_says(
    tmp_path: Path,
) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb", [code("x = 1", "step:one"), code("y = x", "setp:two")]
    )
    pipeline = load_notebook(nb)
    assert [s.name for s in pipeline.steps] == ["one"]
    assert len(pipeline.warnings) == 1


# --- cell magics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "meant"),
    [
        ("%%stepp three", "%%step three"),
        ("%%setp three --after one", "%%step three --after one"),
        ("%%Step four", "%%step four"),
        ("%%import", "%%imports"),
        ("%%functon", "%%functions"),
        ("%%pipeline-parameters", "%%pipeline_parameters"),
        ("%%containr two --image busybox", "%%container two --image busybox"),
    ],
)
def test_a_near_miss_of_a_magic_is_a_warning_naming_the_cell(
    tmp_path: Path, first: str, meant: str
) -> None:
    warnings = warnings_of(tmp_path, code(f"{first}\ny = x + 1"))
    magic = first.split()[0]
    near = [w for w in warnings if "did you mean" in w]
    assert near == [
        f"cell 2, line 1: cell magic {magic} is not a kfp-jupyter magic, so it annotates "
        "nothing, and the cell's code is left out of the pipeline as not Python; "
        f"did you mean {meant!r}?\n  fix: write the cell's first line as {meant!r} (if "
        f"{magic} is a magic of another extension, leave it)"
    ]


def test_a_misspelt_magic_below_blank_lines_is_told_at_its_line(tmp_path: Path) -> None:
    (near, *_) = warnings_of(tmp_path, code("\n\n%%stepp three\ny = x + 1"))
    assert near.startswith("cell 2, line 3: cell magic %%stepp is not a kfp-jupyter magic")


def test_the_compile_command_shows_the_warning(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("x = 1", "step:one"), code("%%stepp three\ny = x + 1"), code("z = 1", "step:four")],
    )
    r = kfpj("compile", str(nb), "-o", str(tmp_path / "out.yaml"))
    assert r.returncode == 0, r.stderr
    assert "warning: cell 2, line 1: cell magic %%stepp is not a kfp-jupyter magic" in r.stderr
    assert "did you mean '%%step three'?" in r.stderr


def _ipython_cell_magics() -> list[str]:
    """Every cell magic IPython itself has (`%%time`, `%%script`, `%%writefile`, ...)."""
    shell = InteractiveShell.instance()
    return sorted(m for m in shell.magics_manager.magics["cell"] if m.isidentifier())


@pytest.mark.parametrize(
    "magic",
    [
        *_ipython_cell_magics(),
        # other extensions' (ipython-sql, sparkmagic, Cython, memory_profiler, jupyter-ai)
        "sql",
        "spark",
        "local",
        "configure",
        "cython",
        "memit",
        "ai",
        "stop",
        "setup",
        "stepwise",
        "psource",
    ],
)
def test_ipythons_and_other_extensions_magics_stay_silent(tmp_path: Path, magic: str) -> None:
    warnings = warnings_of(tmp_path, code(f"%%{magic}\nprint(1)"))
    assert not [w for w in warnings if "did you mean" in w], warnings


def test_ipython_has_the_cell_magics_the_silent_test_names() -> None:
    """The list above comes from IPython: it must hold its well-known cell magics."""
    assert {"time", "timeit", "capture", "script", "writefile", "bash"} <= set(
        _ipython_cell_magics()
    )


# --- a file that is not a notebook -----------------------------------------------------------


def _compiled(tmp_path: Path) -> Path:
    nb = make_notebook(tmp_path / "good.ipynb", [code("x = 1", "step:one")])
    out = tmp_path / "good.yaml"
    r = kfpj("compile", str(nb), "-t", "kfp", "-o", str(out))
    assert r.returncode == 0, r.stderr
    return out


def _refused(r: subprocess.CompletedProcess[str], message: str, fix: str) -> None:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert message in r.stderr
    assert f"fix: {fix}" in r.stderr
    assert "re-save" not in r.stderr


@pytest.mark.parametrize("command", ["run", "compile", "inspect"])
def test_a_compiled_pipeline_is_named_with_the_command_that_takes_it(
    tmp_path: Path, command: str
) -> None:
    path = _compiled(tmp_path)
    _refused(
        kfpj(command, str(path)),
        f"{path} is a compiled pipeline (KFP IR YAML), not a notebook: kfp-jupyter takes a "
        "notebook (.ipynb) here",
        f"give the notebook it was compiled from; to run this pipeline on a cluster, send it "
        f"with 'kfp-jupyter submit {path}'",
    )


def test_an_argo_workflow_is_named_with_the_submit_line_for_argo(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "good.ipynb", [code("x = 1", "step:one")])
    out = tmp_path / "wf.yaml"
    assert kfpj("compile", str(nb), "-t", "argo", "-o", str(out)).returncode == 0
    _refused(
        kfpj("compile", str(out)),
        f"{out} is an Argo Workflow, not a notebook",
        f"give the notebook it was compiled from; to run this pipeline on a cluster, send it "
        f"with 'kfp-jupyter submit {out} --engine argo'",
    )


def test_a_script_is_named_as_one(tmp_path: Path) -> None:
    script = tmp_path / "mk2.py"
    script.write_text("print('hello')\n")
    _refused(
        kfpj("compile", str(script)),
        f"{script} is a Python script, not a notebook: kfp-jupyter takes a notebook (.ipynb) here",
        "give the path of an .ipynb file\n",
    )
    dsl = tmp_path / "pipeline.py"
    dsl.write_text("from kfp import dsl\n")
    _refused(
        kfpj("compile", str(dsl)),
        f"{dsl} is a Python script, not a notebook",
        f"give the path of an .ipynb file (a KFP DSL script is sent to a cluster with "
        f"'kfp-jupyter submit {dsl}')",
    )


@pytest.mark.parametrize(("name", "what"), [("other.yaml", "a YAML file, "), ("data.csv", "")])
def test_another_file_is_no_notebook(tmp_path: Path, name: str, what: str) -> None:
    path = tmp_path / name
    path.write_text("a: 1\n")
    _refused(
        kfpj("compile", str(path)),
        f"{path} is {what}not a notebook: kfp-jupyter takes a notebook (.ipynb) here",
        "give the path of an .ipynb file",
    )


def test_a_broken_notebook_is_still_told_to_be_saved_again(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text("{ this is not json")
    r = kfpj("compile", str(path))
    assert r.returncode == 2 and "not a valid notebook: not JSON" in r.stderr
    assert "fix: open and re-save it in Jupyter" in r.stderr


def _with_format(tmp_path: Path, version: object) -> Path:
    nb = make_notebook(tmp_path / "nb.ipynb", [code("x = 1", "step:one")])
    data = json.loads(nb.read_text())
    data["nbformat"] = version
    nb.write_text(json.dumps(data))
    return nb


def test_a_newer_notebook_format_reads_well(tmp_path: Path) -> None:
    nb = _with_format(tmp_path, 5)
    r = kfpj("compile", str(nb))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert (
        f"{nb} is in notebook format 5, which kfp-jupyter cannot read yet (it reads format 4, "
        "what Jupyter writes, and the older ones)"
    ) in r.stderr
    assert "--nbformat 4" in r.stderr
    assert "(format 5): 5" not in r.stderr


@pytest.mark.parametrize(
    ("version", "said"),
    [("4", "its 'nbformat' is the text '4', not a number"), (0, "not a format number (1 to 4)")],
)
def test_a_format_number_that_is_none_is_named(tmp_path: Path, version: object, said: str) -> None:
    r = kfpj("compile", str(_with_format(tmp_path, version)))
    assert (
        r.returncode == 2 and said in r.stderr and "fix: set 'nbformat' to the number 4" in r.stderr
    )
