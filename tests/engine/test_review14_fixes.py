"""Findings of the review of this session's engine and output changes, each through real
processes: a forked child of a killed runner does not keep its run looking alive; `-o -` into a
pipe the reader closes early ends quietly; a string that names no module is no package; a link
into a folder that does not exist makes none; a read-only file is refused, root or not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine_support import CLI, kfpj
from nbutil import code, make_notebook

from kfp_jupyter import load_notebook

ROOT = Path(__file__).resolve().parents[2]

_KILLED_RUNNER = """
import os, signal, sys, time
from kfp_jupyter.engine import run_local
h = run_local(sys.argv[1], store=sys.argv[2], launcher="subprocess")
while not os.path.exists(sys.argv[3]):  # the step has started
    time.sleep(0.05)
if os.fork() == 0:  # a child of the runner's process that outlives it
    time.sleep(30)
    os._exit(0)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_forked_child_does_not_keep_a_killed_runners_run_alive(tmp_path: Path) -> None:
    started = tmp_path / "started"
    nb = make_notebook(
        tmp_path / "w.ipynb",
        [
            code(
                f"import time, pathlib\npathlib.Path({str(started)!r}).touch()\ntime.sleep(30)",
                "step:a",
            )
        ],
    )
    store = tmp_path / "store"
    script = tmp_path / "runner.py"
    script.write_text(_KILLED_RUNNER)
    runner = subprocess.run(
        [sys.executable, str(script), str(nb), str(store), str(started)], timeout=120
    )
    assert runner.returncode == -9
    listed = kfpj("runs", "list", "--json", store=store)
    assert [r["state"] for r in json.loads(listed.stdout)] == ["INTERRUPTED"]


def test_o_dash_into_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "b.ipynb",
        [code("x = list(range(300000))", "step:make"), code("n = len(x)", "step:use")],
    )
    store = tmp_path / "store"
    assert kfpj("run", nb, store=store).returncode == 0
    get = subprocess.Popen(
        [*CLI, "artifacts", "get", "latest", "make", "x", "-o", "-", "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert get.stdout is not None and get.stderr is not None
    head = get.stdout.read(10)
    get.stdout.close()  # as `| head -c 10` does
    err = get.stderr.read().decode()
    assert get.wait(timeout=60) == 0, err
    assert head.startswith(b"[0, 1") and err == ""


def test_a_string_that_names_no_module_is_no_package(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "p.ipynb",
        [
            code(
                "import importlib\ntry:\n    m = importlib.import_module('not a module')\n"
                "except Exception:\n    m = None\nx = 1",
                "step:one",
            )
        ],
    )
    [step] = load_notebook(nb).steps
    assert not [p for p in step.packages if "not a module" in p]


def test_a_link_into_a_missing_folder_makes_none_and_a_read_only_file_is_kept(
    tmp_path: Path,
) -> None:
    nb = make_notebook(tmp_path / "c.ipynb", [code("x = 1", "step:a")])
    link = tmp_path / "dangling.yaml"
    link.symlink_to("nodir/target.yaml")
    out = subprocess.run(
        [*CLI, "compile", str(nb), "-o", str(link)], capture_output=True, text=True
    )
    assert out.returncode == 2, out.stderr
    assert "the link's target folder does not exist" in out.stderr
    assert not (tmp_path / "nodir").exists()
    kept = tmp_path / "kept.yaml"
    kept.write_text("kept\n")
    kept.chmod(0o444)
    out = subprocess.run(
        [*CLI, "compile", str(nb), "-o", str(kept)], capture_output=True, text=True
    )
    assert out.returncode == 2 and "the file is read-only" in out.stderr, out.stderr
    assert kept.read_text() == "kept\n" and kept.stat().st_mode & 0o777 == 0o444


def test_one_volume_at_one_folder_written_two_ways_is_one_mount(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "v.ipynb",
        [code("x = 1", "step:a", "volume:data:/d:1Gi:standard", "volume:data:/d/")],
    )
    [step] = load_notebook(nb).steps
    assert [(m.volume, m.path) for m in step.mounts] == [("data", "/d")]
