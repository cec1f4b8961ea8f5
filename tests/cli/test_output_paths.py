"""An output the user names that cannot be written, in every front end that writes one: `convert -o`
and `compile -o` through the real command, `compile_pipeline(..., path)` and the widget's
`compile()` and Compile button. Each says so in one message naming the path as given (never a
temporary file's name) and the fix, the command exits 2 with no traceback, and nothing is left
behind, whole or partial."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from engine_support import CLI, kfpj
from nbutil import small_notebook

from kfp_jupyter import UsageError, compile_pipeline, load_notebook

if TYPE_CHECKING:
    from kfp_jupyter import Pipeline

#: a file name no file system takes (the limit is 255 bytes): the write itself fails
TOO_LONG = "x" * 300


@pytest.fixture
def nb(tmp_path: Path) -> Path:
    return small_notebook(tmp_path)


@pytest.fixture
def pipeline(nb: Path) -> Pipeline:
    return load_notebook(nb)


def files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes, temporary files included."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def refused(result: subprocess.CompletedProcess[str], *says: str) -> None:
    """Bad input: exit 2 and one message naming it, not an internal error."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert ".tmp" not in result.stderr, result.stderr
    assert result.stderr.count("error:") == 1, result.stderr
    for words in says:
        assert words in result.stderr, result.stderr


# --- convert -o --------------------------------------------------------------------------------


def test_convert_under_a_file_says_which_file_and_writes_nothing(nb: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("kept")
    before = files(tmp_path)
    got = kfpj("convert", nb.name, "--to", "magics", "-o", "afile/x.ipynb", cwd=tmp_path)
    refused(
        got,
        "cannot write 'afile/x.ipynb': 'afile' is a file, not a folder",
        "give -o a file in a folder you can write",
    )
    assert files(tmp_path) == before


def test_convert_to_a_name_the_file_system_refuses_names_it_not_a_temporary_file(
    nb: Path, tmp_path: Path
) -> None:
    before = files(tmp_path)
    got = kfpj("convert", nb.name, "--to", "magics", "-o", f"{TOO_LONG}.ipynb", cwd=tmp_path)
    refused(got, f"cannot write '{TOO_LONG}.ipynb': File name too long", "give -o a file")
    assert files(tmp_path) == before


@pytest.mark.parametrize(
    ("output", "says"),
    [
        ("", "-o '' names no file: give a file name"),
        ("out/", "-o 'out/' is a folder; name a file in it, such as 'out/small.ipynb'"),
        ("out", "-o 'out' is a folder; name a file in it"),
        (".", "-o '.' is a folder"),
    ],
)
def test_convert_to_nothing_or_to_a_folder_is_refused(
    nb: Path, tmp_path: Path, output: str, says: str
) -> None:
    (tmp_path / "out").mkdir()
    before = files(tmp_path)
    refused(kfpj("convert", nb.name, "--to", "magics", "-o", output, cwd=tmp_path), says)
    assert files(tmp_path) == before


def test_convert_to_a_new_folders_file_and_over_the_notebook_still_writes(
    nb: Path, tmp_path: Path
) -> None:
    got = kfpj("convert", nb, "--to", "magics", "-o", tmp_path / "new" / "magics.ipynb")
    assert got.returncode == 0, got.stderr
    assert "%%step make" in (tmp_path / "new" / "magics.ipynb").read_text()
    got = kfpj("convert", nb, "--to", "magics", "-o", nb)
    assert got.returncode == 0, got.stderr
    assert "%%step make" in nb.read_text()


# --- compile -o: the same words, and standard output as the other choice ------------------------


def test_compile_to_a_name_the_file_system_refuses_names_it_not_a_temporary_file(
    nb: Path, tmp_path: Path
) -> None:
    before = files(tmp_path)
    got = kfpj("compile", nb.name, "-o", f"{TOO_LONG}.yaml", cwd=tmp_path)
    refused(
        got,
        f"cannot write '{TOO_LONG}.yaml': File name too long",
        "give -o a file in a folder you can write (or -o - for standard output)",
    )
    assert files(tmp_path) == before


# --- the Python API ------------------------------------------------------------------------------


def test_compile_pipeline_under_a_file_is_a_usage_error_naming_it(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("kept")
    before = files(tmp_path)
    out = tmp_path / "afile" / "x.yaml"
    with pytest.raises(UsageError) as e:
        compile_pipeline(pipeline, "kfp", out)
    said = str(e.value)
    assert said.startswith(f"cannot write '{out}': '{tmp_path / 'afile'}' is a file, not a folder")
    assert "give a file in a folder you can write" in said
    # still an OSError for code that catches those, with the system's words and the path given
    assert isinstance(e.value, OSError) and e.value.strerror and e.value.filename == str(out)
    assert files(tmp_path) == before


def test_compile_pipeline_to_a_name_the_file_system_refuses_leaves_nothing(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    before = files(tmp_path)
    with pytest.raises(UsageError, match="File name too long") as e:
        compile_pipeline(pipeline, "argo", tmp_path / f"{TOO_LONG}.yaml")
    assert ".tmp" not in str(e.value)
    assert files(tmp_path) == before


def test_a_name_near_the_file_system_limit_is_written(pipeline: Pipeline, tmp_path: Path) -> None:
    """255 bytes is a valid name: the temporary file beside it must fit too."""
    out = tmp_path / ("n" * 250 + ".yaml")
    compile_pipeline(pipeline, "argo", out)
    assert out.read_text().startswith("apiVersion")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("", "the output path '' names no file: give a file name"),
        (".", "the output path '.' is a folder; name a file in it, such as 'small.yaml'"),
        ("small.ipynb", "refusing to write the compiled pipeline to 'small.ipynb'"),
        ("other.ipynb", "it is a notebook (.ipynb)"),
    ],
)
def test_compile_pipeline_to_nothing_a_folder_or_a_notebook_is_refused_before_compiling(
    pipeline: Pipeline,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    before = files(tmp_path)
    with pytest.raises(UsageError) as e:
        compile_pipeline(pipeline, "kfp", path)
    assert says in str(e.value)
    assert files(tmp_path) == before


def test_compile_pipeline_to_an_unknown_target_is_a_usage_error(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="unknown target 'bogus'; choose one of: kfp, argo, dsl"):
        compile_pipeline(pipeline, "bogus", tmp_path / "x.yaml")
    assert not (tmp_path / "x.yaml").exists()


# --- the widget ----------------------------------------------------------------------------------


@pytest.fixture
def widget_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("anywidget")
    monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("KFP_JUPYTER_STORE", str(tmp_path / "store"))


@pytest.mark.usefixtures("widget_env")
def test_widget_compile_to_an_unknown_target_or_under_a_file_is_a_usage_error(
    nb: Path, tmp_path: Path
) -> None:
    from kfp_jupyter.jupyter.widget import PipelineWidget

    w = PipelineWidget(nb)
    with pytest.raises(UsageError, match="unknown target 'bogus'"):
        w.compile(target="bogus")
    (tmp_path / "afile").write_text("kept")
    with pytest.raises(UsageError, match="/afile' is a file, not a folder"):
        w.compile(path=tmp_path / "afile" / "x.yaml")
    assert not (tmp_path / "small.yaml").exists()


@pytest.mark.usefixtures("widget_env")
def test_widget_compile_button_says_when_its_output_is_a_folder(nb: Path, tmp_path: Path) -> None:
    from kfp_jupyter.jupyter.widget import PipelineWidget

    (tmp_path / "small.yaml").mkdir()  # where the Compile button writes
    w = PipelineWidget(nb)
    w._on_msg(w, {"action": "compile"}, [])  # what the front end sends
    for t in threading.enumerate():
        if t.name == "kfpj-widget-compile":
            t.join(timeout=60)
    assert w.error.startswith(f"the output path '{tmp_path / 'small.yaml'}' is a folder"), w.error
    assert "internal error" not in w.error
    assert list((tmp_path / "small.yaml").iterdir()) == []


def test_a_read_only_output_file_is_refused_and_kept(nb: Path, tmp_path: Path) -> None:
    """A file its owner made read-only is not renamed over (its folder may be writable): `cp`
    refuses it too. Root may write any file, so as root the command drops that power."""
    out = tmp_path / "out.yaml"
    out.write_text("kept\n")
    out.chmod(0o444)
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root writes any file, and there is no setpriv to drop that")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    result = subprocess.run(
        [*prefix, *CLI, "compile", str(nb), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    refused(result, f"cannot write {str(out)!r}: the file is read-only")
    assert out.read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.yaml", nb.name])
