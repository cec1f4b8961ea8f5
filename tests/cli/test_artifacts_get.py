"""`kfp-jupyter artifacts get`, through the real command on real runs: every kind of output
(a Python step's saved value, a container step's file, a value exported for a component) is
copied byte for byte, `-o` takes a file or a folder, and an output deleted from the store is one
clear error."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest
from engine_support import kfpj, show
from nbutil import code, make_notebook

#: the container doubles its input: its output's bytes are known from the export's
CONTAINER = (
    "%%container count --image busybox:1.36\n"
    'command: [sh, -c, \'cat "$0" "$0" > "$1"\', {inputPath: frame}, {outputPath: lines}]'
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of: a Python step `make` (its `frame` is saved as frame.json, and exported for the
    container as the file frame__auto), a container step `count` (run with --host-exec) writing
    the file `lines`, and a step reading both."""
    folder = tmp_path_factory.mktemp("container-run")
    nb = make_notebook(
        folder / "cont.ipynb",
        [
            code("%%imports\nimport os"),
            code("%%step make\nframe = [1, 2, 3]"),
            code(CONTAINER),
            code("%%step show\nprint(open(lines).read(), len(frame))"),
        ],
    )
    st = folder / "store"
    ran = kfpj("run", nb, "--host-exec", store=st)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return st


def get(store: Path, *args: str | Path, cwd: Path | None = None) -> bytes:
    """`artifacts get latest ARGS`, which must succeed; the bytes of the file it says it wrote."""
    p = kfpj("artifacts", "get", "latest", *args, store=store, cwd=cwd)
    assert p.returncode == 0, p.stderr
    wrote = p.stderr.split("wrote ", 1)[1].split(" (", 1)[0]
    return (cwd or Path.cwd()).joinpath(wrote).read_bytes()


def test_container_and_exported_outputs_are_copied(store: Path, tmp_path: Path) -> None:
    exported = get(store, "make", "frame__auto", "-o", tmp_path / "frame.txt")
    assert json.loads(exported) == [1, 2, 3]
    assert (tmp_path / "frame.txt").read_bytes() == exported
    assert get(store, "count", "lines", "-o", tmp_path / "lines.txt") == exported * 2
    # without -o: the file as the container wrote it, named after the output, here
    here = tmp_path / "here"
    here.mkdir()
    assert get(store, "count", "lines", cwd=here) == exported * 2
    assert [p.name for p in here.iterdir()] == ["lines"]
    # a Python step's value is still its saved file
    assert json.loads(get(store, "make", "frame", "-o", tmp_path / "f.json")) == [1, 2, 3]


@pytest.mark.parametrize(
    ("output", "made_first"),
    [("existing", True), ("newdir/", False), ("new/deeper/", False)],
)
def test_o_a_folder_writes_into_it(
    store: Path, tmp_path: Path, output: str, made_first: bool
) -> None:
    folder = tmp_path / output.rstrip("/")
    if made_first:
        folder.mkdir()
    get(store, "make", "frame", "-o", output, cwd=tmp_path)
    assert folder.is_dir()
    assert json.loads((folder / "frame.json").read_text()) == [1, 2, 3]
    get(store, "count", "lines", "-o", output, cwd=tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["frame.json", "lines"]


def test_o_a_new_name_without_a_slash_is_the_file(store: Path, tmp_path: Path) -> None:
    get(store, "make", "frame", "-o", "plain", cwd=tmp_path)
    assert json.loads((tmp_path / "plain").read_text()) == [1, 2, 3]


def _remove_tree(path: Path) -> None:
    """Remove stored files, which are read-only."""
    for root, dirs, _ in os.walk(path):
        for d in dirs:
            (Path(root) / d).chmod(0o755)
    path.chmod(0o755)
    shutil.rmtree(path)


@pytest.mark.parametrize("what", ["its folder", "its folder and manifest"])
def test_an_output_deleted_from_the_store_is_one_clear_error(tmp_path: Path, what: str) -> None:
    nb = make_notebook(
        tmp_path / "two.ipynb", [code("%%step a\nx = [1, 2]"), code("%%step b\ny = len(x)")]
    )
    st = tmp_path / "store"
    ran = kfpj("run", nb, store=st)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run_id = show(st)["id"]
    (manifest,) = [m for m in st.glob("artifacts/*/*.json") if not m.name.endswith(".stat.json")]
    _remove_tree(manifest.with_suffix(""))
    if what == "its folder and manifest":
        manifest.unlink()
    out = tmp_path / "x.json"
    p = kfpj("artifacts", "get", "latest", "a", "x", "-o", out, store=st)
    assert p.returncode == 2, p.stderr
    assert f"the output 'x' of step 'a' in run {run_id} is no longer in the store" in p.stderr
    assert "Run the notebook again" in p.stderr
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr
    assert not out.exists()
    # as promised: a new run computes it again, and it can be copied
    assert kfpj("run", nb, store=st).returncode == 0
    assert json.loads(get(st, "a", "x", "-o", out)) == [1, 2]


def test_o_dash_writes_the_bytes_to_standard_output(store: Path, tmp_path: Path) -> None:
    p = kfpj("artifacts", "get", "latest", "make", "frame", "-o", "-", store=store, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [1, 2, 3]
    assert not (tmp_path / "-").exists()


def test_o_a_symlink_writes_its_file_and_keeps_the_link(store: Path, tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to("real.json")
    get(store, "make", "frame", "-o", link)
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert json.loads((tmp_path / "real.json").read_text()) == [1, 2, 3]


def test_o_a_fifo_is_written_into_not_replaced(store: Path, tmp_path: Path) -> None:
    """As /dev/null or /dev/stdout would be: a special file is no file to rename over (as root,
    a rename would have put a regular file where the device was)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    p = kfpj("artifacts", "get", "latest", "make", "frame", "-o", fifo, store=store)
    reader.join(timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(got[0]) == [1, 2, 3]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [x.name for x in tmp_path.iterdir()] == ["pipe"]  # no temporary file left
