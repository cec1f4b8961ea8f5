"""A step's inputs back in the kernel: `kfp_jupyter.step_inputs` and `%kfp inputs` give the values
a step received in a run (its data inputs and parameters), so its cell can be run by hand to
reproduce a failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbutil import code, make_notebook

import kfp_jupyter
from kfp_jupyter import UsageError


def notebook(tmp_path: Path) -> Path:
    return make_notebook(
        tmp_path / "fails.ipynb",
        [
            code("import pandas as pd", "imports"),
            code("rows = 5\nbreak_load = False", "pipeline-parameters"),
            code(
                "if break_load:\n    raise RuntimeError('no data today')\n"
                "df = pd.DataFrame({'x': range(rows)})\nlabels = [f'r{i}' for i in range(rows)]",
                "step:load",
            ),
            code("assert len(df) > 10, f'only {len(df)} rows'\nmodel = len(labels)", "step:train"),
        ],
    )


def run(nb: Path, store: Path, *params: str) -> subprocess.CompletedProcess[str]:
    args = [a for p in params for a in ("-p", p)]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "kfp_jupyter.cli.main",
            "run",
            str(nb),
            "--store",
            str(store),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=nb.parent,
    )


def test_the_inputs_of_a_failed_step_come_back_as_the_step_received_them(tmp_path: Path) -> None:
    nb, store = notebook(tmp_path), tmp_path / "store"
    assert run(nb, store, "rows=7").returncode != 0  # train fails: 7 rows are too few
    got = kfp_jupyter.step_inputs(nb, "train", store=store)
    assert set(got) == {"df", "labels"}
    pd.testing.assert_frame_equal(got["df"], pd.DataFrame({"x": range(7)}))
    assert got["labels"] == [f"r{i}" for i in range(7)]
    # a later run that never reached train does not hide the one that did
    assert run(nb, store, "break_load=true").returncode != 0
    again = kfp_jupyter.step_inputs(nb, "train", store=store)
    assert len(again["df"]) == 7
    # parameters a step uses are among its inputs, with the run's value
    load = kfp_jupyter.step_inputs(nb, "load", store=store)
    assert load == {"break_load": True, "rows": 5}


def test_a_step_no_run_reached_or_an_unknown_step_is_a_clear_error(tmp_path: Path) -> None:
    nb, store = notebook(tmp_path), tmp_path / "store"
    run(nb, store, "break_load=true")
    with pytest.raises(
        UsageError, match=r"no run of fails\.ipynb in this store reached step 'train'"
    ):
        kfp_jupyter.step_inputs(nb, "train", store=store)
    run(nb, store)
    with pytest.raises(UsageError, match=r"\) has no step 'nope'; its steps: load, train"):
        kfp_jupyter.step_inputs(nb, "nope", store=store)
    # an empty run ID (an unset variable, say) is refused, not read as "the newest run"
    with pytest.raises(UsageError, match="the run id is empty"):
        kfp_jupyter.step_inputs(nb, "train", run="", store=store)


@pytest.mark.slow
def test_kfp_inputs_loads_them_into_a_real_kernel_to_run_the_cell_by_hand(tmp_path: Path) -> None:
    from nbclient import NotebookClient

    nb_path, store = notebook(tmp_path), tmp_path / "store"
    assert run(nb_path, store, "rows=3").returncode != 0
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext kfp_jupyter"),
        nbformat.v4.new_code_cell(f"%kfp inputs train {nb_path.name} --store {store}"),
        nbformat.v4.new_code_cell("print(len(df), labels)"),
        # the step's own cell, by hand: the same failure as in the pipeline
        nbformat.v4.new_code_cell("assert len(df) > 10, f'only {len(df)} rows'"),
    ]
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    def text(i: int) -> str:
        return "".join(o.get("text", "") for o in nb.cells[i].outputs)

    assert "step 'train' of run" in text(1) and "df: DataFrame 3×1, from 'load'" in text(1)
    assert "labels: list of 3, from 'load'" in text(1)
    assert text(2).strip() == "3 ['r0', 'r1', 'r2']"
    (error,) = [o for o in nb.cells[3].outputs if o.output_type == "error"]
    assert error.ename == "AssertionError" and error.evalue == "only 3 rows"


def test_the_widget_loads_a_failed_steps_inputs_into_the_kernel(tmp_path: Path) -> None:
    pytest.importorskip("anywidget")
    from IPython.core.interactiveshell import InteractiveShell

    from kfp_jupyter.jupyter.widget import PipelineWidget

    nb, store = notebook(tmp_path), tmp_path / "store"
    assert run(nb, store, "rows=4").returncode != 0
    shell = InteractiveShell.instance()
    try:
        w = PipelineWidget(str(nb), store=str(store))
        w.attach(stored_runs(store)[0], store=str(store))
        w.wait(timeout=60)
        w.selected = "train"
        assert w.details["inputs_loadable"] and w.details["run_id"]
        # the front end's button sends this message
        w._on_msg(w, {"action": "load_inputs", "step": "train", "run": w.details["run_id"]}, [])
        assert not w.error, w.error
        assert len(shell.user_ns["df"]) == 4 and shell.user_ns["labels"][-1] == "r3"
        assert "df: DataFrame 4×1, from 'load'" in w.status
    finally:
        shell.reset(new_session=False)
        InteractiveShell.clear_instance()


def stored_runs(store: Path) -> list[str]:
    from kfp_jupyter.engine.history import History
    from kfp_jupyter.engine.store import open_store

    with History(open_store(store, create=False).db_path) as history:
        return [r.id for r in history.list_runs()]
