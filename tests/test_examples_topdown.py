"""Run All: every notebook in examples/ runs top to bottom in a `python3` kernel, component and
container cells included (run in the kernel as a local run runs them, their outputs bound for later
cells), and the examples open in JupyterLab without being marked changed."""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from nbutil import code, make_notebook

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))

#: What each example prints in a later cell from what earlier cells (or components) produced.
SEEN_LATER = {
    "iris_classifier": ["105 training rows, 45 test rows", "best is "],
    "magics_pipeline": ["y = 3.0"],
    "components_pipeline": [
        "train_stats: set train_summary (a file), train_count = 105",
        "test_stats: set test_summary (a file), test_count = 45",
        "150 rows; the largest shift of a mean is",
    ],
    # %%notebook cells run their notebooks in the kernel: train gets prepare's frame
    "compose_pipeline": [
        "prepared 150 rows, 5 features",
        "105 training rows, 5 features: accuracy",
    ],
}
#: A last cell that shows what the kernel holds after Run All.
PROBES = {
    "components_pipeline": "print('@@probe', type(train_count).__name__, "
    "open(train_summary).read().lstrip()[:1], rows)",
}


def run_all(path: Path, cwd: Path, probe: str | None = None) -> tuple[str, list[str]]:
    """Execute every cell in order in the `python3` kernel, as Run All does.

    Returns what the cells printed, and the errors they raised (nbclient stops at the first)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    book = nbformat.read(str(path), as_version=4)
    book.cells.append(nbformat.v4.new_code_cell("import sys\nprint('@@prefix', sys.prefix)"))
    if probe:
        book.cells.append(nbformat.v4.new_code_cell(probe))
    client = NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    with contextlib.suppress(CellExecutionError):  # the error is in the cell's outputs
        client.execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    if not errors:
        assert f"@@prefix {sys.prefix}" in printed, (
            "the python3 kernel is not this environment's; install it with "
            "`python -m ipykernel install --sys-prefix`"
        )
    return printed, errors


@pytest.mark.slow
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_example_runs_top_to_bottom(nb: Path) -> None:
    printed, errors = run_all(nb, nb.parent, PROBES.get(nb.stem))
    assert errors == []
    for text in SEEN_LATER[nb.stem]:
        assert text in printed
    if nb.stem == "components_pipeline":
        # the value output is an int, the file output a path to the component's JSON
        assert "@@probe int { 150" in printed
        assert "image python:3.11-slim ignored" in printed


def test_every_example_is_checked_here() -> None:
    assert sorted(SEEN_LATER) == sorted(p.stem for p in NOTEBOOKS)


@pytest.mark.slow
def test_container_and_resource_cells_run_all(tmp_path: Path) -> None:
    """A container cell reads a DataFrame as CSV and sets a typed value and a file; a resource
    cell says it is not applied, and Run All goes on."""
    nb = make_notebook(
        tmp_path / "cells.ipynb",
        [
            code("%load_ext kfp_jupyter", "skip"),
            code("%%step make\nimport pandas as pd\nframe = pd.DataFrame({'a': [1, 2, 3]})"),
            code(
                "%%container count --image busybox:1.36 --after make\n"
                'command: [sh, -c, \'wc -l < "$0" | tr -d " " > "$1"; head -1 "$0" > "$2"\','
                " {inputPath: frame}, {outputPath: lines}, {outputPath: header}]\n"
                "outputs: {lines: Integer}"
            ),
            code(
                "%%resource settings --action apply\n"
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n"
            ),
            code("%%step report\nprint('@@', lines + 1, open(header).read().strip())"),
        ],
    )
    printed, errors = run_all(nb, tmp_path)
    assert errors == []
    assert "step 'count': running its command on this machine (image busybox:1.36 ignored)" in (
        printed
    )
    assert "@@ 5 a" in printed  # 4 lines of CSV (header and 3 rows), as an int
    assert (
        "%%resource settings: not applied from the notebook; the pipeline runs "
        "kubectl apply ConfigMap/settings on its cluster"
    ) in printed


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("kfp_jupyter")
    yield shell
    shell.reset(new_session=False)


def test_without_docker_or_host_exec_the_cell_says_what_it_needs(
    ip: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KFPJ_HOST_EXEC", "0")
    monkeypatch.setenv("KFPJ_CONTAINER_RUNTIME", "none")
    ip.run_cell("name = 'x'")
    result = ip.run_cell(
        "%%container hello --image alpine:3\n"
        'command: [sh, -c, \'echo "$0" > "$1"\', {inputValue: name}, {outputPath: said}]'
    )
    assert isinstance(result.error_in_exec, UsageError)
    message = str(result.error_in_exec)
    assert "needs Docker or Podman" in message and "%env KFPJ_HOST_EXEC=1" in message
    assert "said" not in ip.user_ns


def test_a_component_input_the_kernel_lacks_is_one_line(ip: Any, tmp_path: Path) -> None:
    (tmp_path / "components").mkdir()
    spec = (EXAMPLES / "components" / "column_stats.yaml").read_text(encoding="utf-8")
    (tmp_path / "components" / "column_stats.yaml").write_text(spec, encoding="utf-8")
    result = ip.run_cell(
        "%%component stats components/column_stats.yaml\ntable = not_run_yet\ndigits = 2"
    )
    assert isinstance(result.error_in_exec, UsageError)
    assert str(result.error_in_exec).startswith("%%component stats: cannot run here: ")
    assert "not_run_yet" in str(result.error_in_exec)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_examples_open_in_jupyterlab_unchanged(nb: Path) -> None:
    """JupyterLab rewrites kernelspec and language_info from the running kernel; the examples
    already hold what the standard python3 kernel (ipykernel) gives, so opening them changes
    nothing."""
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    meta = nbformat.read(str(nb), as_version=4).metadata
    assert meta["kernelspec"] == {
        "display_name": spec.display_name,
        "language": spec.language,
        "name": "python3",
    }
    info = dict(IPythonKernel.language_info)
    written = dict(meta["language_info"])
    assert re.fullmatch(r"3\.\d+\.\d+", written.pop("version"))
    info.pop("version")
    assert written == info
