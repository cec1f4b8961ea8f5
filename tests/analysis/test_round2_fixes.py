"""Fixes of a review of the last round, each through what a user runs:

1. the look for notebook steps that lead back reads only regular notebooks of a bounded size,
   each once, a bounded depth: a FIFO, /dev/zero or a huge file named by a child is no hang;
2. a %%notebook cell run in a kernel refuses the kernel's own notebook and one running already,
   with the pipeline's message, instead of running it until a RecursionError;
3. a step named after a name IPython adds to the builtins (`display`) compiles to the same bytes
   from `%kfp compile` as from the CLI;
4. storage limits on a magic line are not counted as accelerators: the KFP targets name the limit
   they cannot set, Argo sets it, and the tag that says it is dropped with a warning.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from engine_support import ipython, kfpj
from nbutil import code, make_notebook

from kfp_jupyter import load_notebook
from kfp_jupyter.analysis import notebookstep
from kfp_jupyter.analysis.notebookstep import MAX_NOTEBOOK_DEPTH
from kfp_jupyter.notebook.reader import MAX_NOTEBOOK_BYTES

#: a command that must not hang: it fails the test (TimeoutExpired) instead
QUICK = 60


def refused(got: subprocess.CompletedProcess[str], *says: str) -> None:
    assert got.returncode == 2, (got.returncode, got.stdout, got.stderr)
    assert "Traceback" not in got.stderr and "internal error" not in got.stderr
    for words in says:
        assert words in got.stderr, got.stderr


def runs(path: Path, step: str, child: str) -> Path:
    """A notebook with one notebook step running `child`."""
    return make_notebook(path, [code("y = 2", "step:first"), code(f"%%notebook {step} {child}\n")])


# --- 1. what the look for a loop reads ----------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_named_by_a_child_notebook_is_not_read(tmp_path: Path) -> None:
    """The review's case: the child is fine, the notebook it runs is a FIFO nobody writes."""
    os.mkfifo(tmp_path / "fifo.ipynb")
    runs(tmp_path / "child.ipynb", "inner", "fifo.ipynb")
    top = runs(tmp_path / "a.ipynb", "child", "child.ipynb")
    got = kfpj("inspect", top, "--json", timeout=QUICK)
    assert got.returncode == 0, got.stderr
    # named directly, it is an error saying what it is, not a hang either
    direct = runs(tmp_path / "b.ipynb", "go", "fifo.ipynb")
    refused(
        kfpj("inspect", direct, timeout=QUICK),
        "cell 2 / step 'go': 'fifo.ipynb' is not a file but a device, pipe or socket",
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_named_by_a_child_notebook_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "zero.ipynb").symlink_to("/dev/zero")
    runs(tmp_path / "child.ipynb", "inner", "zero.ipynb")
    top = runs(tmp_path / "a.ipynb", "child", "child.ipynb")
    got = kfpj("inspect", top, "--json", timeout=QUICK)
    assert got.returncode == 0, got.stderr


def test_a_notebook_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    """A sparse file: as large as the limit says, without writing it (nor reading it)."""
    with (tmp_path / "huge.ipynb").open("wb") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 1)
    runs(tmp_path / "child.ipynb", "inner", "huge.ipynb")
    top = runs(tmp_path / "a.ipynb", "child", "child.ipynb")
    assert kfpj("inspect", top, "--json", timeout=QUICK).returncode == 0
    direct = runs(tmp_path / "b.ipynb", "go", "huge.ipynb")
    refused(
        kfpj("inspect", direct, timeout=QUICK),
        "cell 2 / step 'go': in notebook 'huge.ipynb': ",
        f"is larger than {MAX_NOTEBOOK_BYTES // (1024 * 1024)} MB",
        "fix: check the path",
    )


def test_each_notebook_on_the_way_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """a runs b and c, both run d, d runs e: five notebooks, five reads (the step's own
    notebook, a, was read twice before: by the walk, then for the step)."""
    make_notebook(
        tmp_path / "a.ipynb", [code("%%notebook b b.ipynb\n"), code("%%notebook c c.ipynb\n")]
    )
    runs(tmp_path / "b.ipynb", "d", "d.ipynb")
    runs(tmp_path / "c.ipynb", "d", "d.ipynb")
    runs(tmp_path / "d.ipynb", "e", "e.ipynb")
    make_notebook(tmp_path / "e.ipynb", [code("z = 1")])
    top = runs(tmp_path / "top.ipynb", "go", "a.ipynb")
    read: list[str] = []
    real = notebookstep.read_bounded

    def counted(path: Path) -> Any:
        read.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(notebookstep, "read_bounded", counted)
    load_notebook(top)
    assert sorted(read) == ["a.ipynb", "b.ipynb", "c.ipynb", "d.ipynb", "e.ipynb"]


def test_the_walk_goes_a_bounded_depth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chain of notebooks far deeper than anyone writes is followed MAX_NOTEBOOK_DEPTH deep."""
    depth = MAX_NOTEBOOK_DEPTH + 10
    for i in range(depth):
        runs(tmp_path / f"n{i}.ipynb", f"s{i}", f"n{i + 1}.ipynb")
    make_notebook(tmp_path / f"n{depth}.ipynb", [code("z = 1")])
    read: list[str] = []
    real = notebookstep.read_bounded

    def counted(path: Path) -> Any:
        read.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(notebookstep, "read_bounded", counted)
    load_notebook(tmp_path / "n0.ipynb")
    assert len(read) == MAX_NOTEBOOK_DEPTH - 1  # n1 (the step's own) to the last within the depth


def test_a_loop_within_the_depth_is_still_found(tmp_path: Path) -> None:
    for i in range(5):
        runs(tmp_path / f"n{i}.ipynb", f"s{i}", f"n{(i + 1) % 5}.ipynb")
    refused(
        kfpj("inspect", tmp_path / "n0.ipynb", timeout=QUICK),
        "notebook 'n1.ipynb' runs n2.ipynb, which runs n3.ipynb, which runs n4.ipynb, which "
        "runs this notebook: running it would never end",
    )


# --- 2. a %%notebook cell run in a kernel ------------------------------------------------------


def run_in_kernel(path: Path) -> list[str]:
    """Execute the notebook in a real kernel (nbclient), errors allowed: each output's text."""
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import builtins; print('COUNT', builtins.COUNT)"))
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return [
        str(o.get("text") or o.get("evalue") or "") for c in nb.cells for o in c.get("outputs", [])
    ]


COUNT = "import builtins\nbuiltins.COUNT = getattr(builtins, 'COUNT', 0) + 1"


@pytest.mark.slow
def test_a_notebook_cell_running_its_own_notebook_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jupyter tells the kernel its notebook (JPY_SESSION_NAME): the cell runs nothing."""
    pytest.importorskip("nbclient")
    me = make_notebook(
        tmp_path / "me.ipynb",
        [code("%load_ext kfp_jupyter"), code(COUNT), code("%%notebook again me.ipynb\n# me")],
    )
    monkeypatch.setenv("JPY_SESSION_NAME", str(me))
    said = "\n".join(run_in_kernel(me))
    assert (
        "%%notebook again: notebook 'me.ipynb' is this notebook itself: running it would " in said
    )
    assert "never end (fix: run another notebook in this step" in said
    assert "COUNT 1" in said and "RecursionError" not in said
    # the pipeline's own refusal says the same
    refused(kfpj("inspect", me), "notebook 'me.ipynb' is this notebook itself: running it would")


@pytest.mark.slow
def test_a_loop_of_notebook_cells_stops_where_it_comes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel's notebook unknown: top runs a, a runs b, b runs c, c runs a again, which is
    refused there, as `inspect c.ipynb` refuses it (a runs b, which runs c)."""
    pytest.importorskip("nbclient")
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    make_notebook(tmp_path / "a.ipynb", [code(COUNT), code("%%notebook on b.ipynb\n# b")])
    make_notebook(tmp_path / "b.ipynb", [code("%%notebook on c.ipynb\n# c")])
    make_notebook(tmp_path / "c.ipynb", [code("%%notebook back a.ipynb\n# a again")])
    top = make_notebook(
        tmp_path / "top.ipynb", [code("%load_ext kfp_jupyter"), code("%%notebook go a.ipynb\n# a")]
    )
    said = "\n".join(run_in_kernel(top))
    loop = "notebook 'a.ipynb' runs b.ipynb, which runs this notebook: running it would never end"
    assert loop in said and "COUNT 1" in said and "RecursionError" not in said
    refused(kfpj("inspect", tmp_path / "c.ipynb"), loop)


# --- 3. `display` as a step name, in IPython and out ----------------------------------------


def test_a_step_named_display_compiles_alike_in_ipython_and_from_the_cli(tmp_path: Path) -> None:
    """IPython adds `display` and `get_ipython` to the builtins: read from `builtins` at import,
    the step's function was `display_` under `%kfp compile` and `display` from the CLI."""
    nb = make_notebook(
        tmp_path / "display.ipynb",
        [code("rows = [1, 2]", "step:load"), code("shown = len(rows)", "step:display")],
    )
    targets = {"kfp": "yaml", "dsl": "py", "argo": "yaml"}
    lines = ["%load_ext kfp_jupyter"]
    lines += [
        f"%kfp compile {nb} -t {t} -o {tmp_path / f'ipy-{t}.{x}'}" for t, x in targets.items()
    ]
    shell = ipython(tmp_path, *lines)
    assert shell.returncode == 0, shell.stdout + shell.stderr
    for target, ext in targets.items():
        got = kfpj("compile", nb, "-t", target, "-o", tmp_path / f"cli-{target}.{ext}")
        assert got.returncode == 0, got.stderr
        cli = (tmp_path / f"cli-{target}.{ext}").read_bytes()
        assert (tmp_path / f"ipy-{target}.{ext}").read_bytes() == cli, target
    assert b"def display_(" in (tmp_path / "cli-dsl.py").read_bytes()


# --- 4. storage limits are no accelerators -----------------------------------------------------


def test_a_storage_limit_beside_a_gpu_is_named_not_counted(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "acc.ipynb",
        [code("%%step train --gpu 1 --limit ephemeral-storage=10\nx = 1")],
    )
    for target, out in (("kfp", "a.yaml"), ("dsl", "a.py")):
        got = kfpj("compile", nb, "-t", target, "-o", tmp_path / out)
        refused(
            got,
            "cell 1 / step 'train': the step's limit 'ephemeral-storage' cannot be set by KFP",
            "fix: remove --limit ephemeral-storage=10, or compile this notebook with the argo",
        )
        assert "kinds of accelerator" not in got.stderr
        assert not (tmp_path / out).exists()
    got = kfpj("compile", nb, "-t", "argo", "-o", tmp_path / "a.argo.yaml")
    assert got.returncode == 0, got.stderr
    workflow = yaml.safe_load((tmp_path / "a.argo.yaml").read_text(encoding="utf-8"))
    train = next(t for t in workflow["spec"]["templates"] if t["name"] == "train")
    limits = train["script"]["resources"]["limits"]
    assert limits == {"ephemeral-storage": "10", "nvidia.com/gpu": "1"}


def test_the_tag_of_a_storage_limit_is_dropped_with_a_warning(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "acc.ipynb",
        [code("x = 1", "step:train", "limit:gpu:1", "limit:ephemeral-storage:10Gi")],
    )
    got = kfpj("compile", nb, "-o", tmp_path / "a.yaml")
    assert got.returncode == 0, got.stderr
    assert "tag 'limit:ephemeral-storage:10Gi' is ignored" in got.stderr
    ir = yaml.safe_load((tmp_path / "a.yaml").read_text(encoding="utf-8"))
    (executor,) = ir["deploymentSpec"]["executors"].values()
    accelerator = executor["container"]["resources"]["accelerator"]
    assert accelerator["resourceType"] == "nvidia.com/gpu"


def test_a_storage_limit_on_a_magic_line_takes_a_memory_amount(tmp_path: Path) -> None:
    """`--limit ephemeral-storage=10Gi` is an amount of bytes, as Kubernetes writes it (not a
    count of devices): Argo sets it as given; a malformed amount is refused naming the limit."""
    nb = make_notebook(
        tmp_path / "disk.ipynb", [code("%%step train --limit ephemeral-storage=10Gi\nx = 1")]
    )
    got = kfpj("compile", nb, "-t", "argo", "-o", tmp_path / "a.yaml")
    assert got.returncode == 0, got.stderr
    workflow = yaml.safe_load((tmp_path / "a.yaml").read_text(encoding="utf-8"))
    train = next(t for t in workflow["spec"]["templates"] if t["name"] == "train")
    assert train["script"]["resources"]["limits"] == {"ephemeral-storage": "10Gi"}
    bad = make_notebook(
        tmp_path / "bad.ipynb", [code("%%step train --limit ephemeral-storage=lots\nx = 1")]
    )
    got = kfpj("compile", bad, "-t", "argo", "-o", tmp_path / "b.yaml")
    refused(got, "ephemeral-storage limit 'lots' is not a memory amount")
    assert not (tmp_path / "b.yaml").exists()
