"""The widget shows a resumed run's elapsed time as the time it was running, like `runs show`'s
"took": the hours between a failure and its resume are not counted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine_support import kfpj, show
from nbutil import code, make_notebook

from kfp_jupyter.jupyter.widget import PipelineWidget

WAITED_S = 3600.0


def test_a_resumed_run_attached_from_the_store_shows_its_running_time(tmp_path: Path) -> None:
    store, marker = tmp_path / "store", tmp_path / "flaky"
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import os", "imports"),
            code("rows = [1, 2]", "step:make"),
            code(f"assert not os.path.exists({str(marker)!r}), 'flaky'\nn = len(rows)", "step:use"),
        ],
    )
    marker.touch()
    assert kfpj("run", nb, store=store).returncode == 1
    with sqlite3.connect(store / "history.db") as db:  # it failed an hour ago
        db.execute(
            "UPDATE runs SET started = started - ?, finished = finished - ?", (WAITED_S,) * 2
        )
    marker.unlink()
    assert kfpj("runs", "resume", "latest", store=store).returncode == 0
    run_id = show(store)["id"]

    w = PipelineWidget(str(nb), store=store)
    w.attach(run_id)
    run = w.wait(60)
    assert run["state"] == "SUCCEEDED"
    took = run["finished"] - run["started"]
    listed = kfpj("runs", "list", "--json", store=store).stdout
    assert 0 <= took < WAITED_S / 2, (took, listed)
