"""`--workers N` is how many steps may run at once, not a number of threads made up front: a huge
N (a typo, or the server's `workers` field) made N threads before the first step and took the
process's memory (the JupyterLab server's, for `POST runs`)."""

from __future__ import annotations

import threading
from pathlib import Path

from nbutil import code, make_notebook

from kfp_jupyter.engine import run_local


def test_a_large_workers_runs_the_steps_with_a_thread_each_at_most(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "w.ipynb",
        [
            code("a = 1", "step:one"),
            code("b = a + 1", "step:two", "prev:one"),
            code("c = a + 2", "step:three", "prev:one"),
            code("d = b + c", "step:four", "prev:two", "prev:three"),
        ],
    )
    seen: set[str] = set()
    handle = run_local(nb, workers=5000, store=str(tmp_path / "store"), launcher="subprocess")
    for _ in handle.events():
        seen |= {t.name for t in threading.enumerate() if t.name.startswith("kfpj-task-")}
    assert handle.wait() == "SUCCEEDED"
    # two steps can run at once here (two and three): never more threads than that
    assert 1 <= len(seen) <= 2, seen
