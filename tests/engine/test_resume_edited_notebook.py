"""`runs resume` runs the code the run started with: when the notebook was edited since, it says
so before running, rather than leave the user puzzling over a traceback of the old code."""

from __future__ import annotations

from pathlib import Path

from engine_support import kfpj, show
from nbutil import code, make_notebook

CHANGED = "the notebook changed since run {} started: resuming runs the code it started with"


def _notebook(path: Path, second: str) -> Path:
    return make_notebook(
        path,
        [
            code("x = 10", "step:first"),
            code(second, "step:second"),
            code("y", "pipeline-metrics"),
        ],
    )


def test_resume_says_when_the_notebook_changed_since_the_run_started(tmp_path: Path) -> None:
    nb = _notebook(tmp_path / "nb.ipynb", "y = x / 0")
    store = tmp_path / "store"
    assert kfpj("run", nb, store=store).returncode == 1
    run = show(store)["id"]

    # unchanged: nothing to say
    same = kfpj("runs", "resume", run, store=store)
    assert same.returncode == 1, same.stdout + same.stderr
    assert "notebook changed" not in same.stdout + same.stderr

    # edited: said, before the old code fails again
    _notebook(nb, "y = x / 2")
    edited = kfpj("runs", "resume", run, store=store)
    out = edited.stdout + edited.stderr
    assert edited.returncode == 1, out
    assert CHANGED.format(run) in edited.stderr
    assert "to run the edited notebook, run it again" in edited.stderr
    assert "ZeroDivisionError" in out

    # gone: the resume does not need it, and says nothing about it
    nb.unlink()
    gone = kfpj("runs", "resume", run, store=store)
    assert gone.returncode == 1, gone.stdout + gone.stderr
    assert "notebook changed" not in gone.stdout + gone.stderr
    assert "ZeroDivisionError" in gone.stdout + gone.stderr
