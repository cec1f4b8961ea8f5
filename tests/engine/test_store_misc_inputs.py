"""Odd input around a store and its runs: a store URL that names nothing, a damaged run record, an
experiment name that is no name, and a resumed run's launcher.

Each test drives the real `kfp-jupyter` command (or the Python API a front end calls) and
checks what a user sees: the message, the exit status, and what is (not) left on disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from engine_support import CLI
from nbutil import code, make_notebook

from kfp_jupyter.engine import run_local
from kfp_jupyter.errors import UsageError


def kfpj(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`kfp-jupyter ARGS` with none of the caller's launcher setting."""
    base = {k: v for k, v in os.environ.items() if k != "KFP_JUPYTER_LAUNCHER"}
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**base, **(env or {})},
    )


def one_line_error(p: subprocess.CompletedProcess[str], *words: str) -> None:
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for word in words:
        assert word in lines[0], p.stderr


def small_notebook(path: Path) -> Path:
    return make_notebook(path, [code("import math", "imports"), code("x = math.pi", "step:one")])


# --- a store URL that names nothing -------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("runs", "list"), ("experiments", "list"), ("runs", "show", "latest")],
    ids=lambda c: " ".join(c),
)
@pytest.mark.parametrize("url", ["bogus://x", "memory://no-such/store"])
def test_a_read_only_command_on_a_bad_or_missing_store_makes_nothing(
    tmp_path: Path, command: tuple[str, ...], url: str
) -> None:
    cache = tmp_path / "cache"
    p = kfpj(*command, "--store", url, env={"KFP_JUPYTER_CACHE_DIR": str(cache)})
    if url.startswith("bogus"):
        one_line_error(p, "cannot open the store 'bogus://x'", "bogus")
    else:
        one_line_error(p, "no run history for memory://no-such/store")
    assert not cache.exists(), sorted(str(f) for f in cache.rglob("*"))


def test_a_run_on_a_store_url_fsspec_cannot_open_makes_nothing(tmp_path: Path) -> None:
    nb = small_notebook(tmp_path / "nb.ipynb")
    cache = tmp_path / "cache"
    p = kfpj("run", nb, "--store", "bogus://x", env={"KFP_JUPYTER_CACHE_DIR": str(cache)})
    one_line_error(p, "cannot open the store 'bogus://x'")
    assert not cache.exists(), sorted(str(f) for f in cache.rglob("*"))


# --- a damaged run record when the history is made anew -----------------------------------------


def test_a_record_that_cannot_be_read_is_named_and_the_other_runs_are_indexed(
    tmp_path: Path,
) -> None:
    nb = small_notebook(tmp_path / "nb.ipynb")
    store = tmp_path / "store"
    for _ in range(3):
        p = kfpj("run", nb, "--store", store)
        assert p.returncode == 0, p.stdout + p.stderr
    good, not_json, no_version = sorted(d.name for d in (store / "runs").iterdir())
    (store / "runs" / not_json / "record.json").write_text('{"version": ', encoding="utf-8")
    (store / "runs" / no_version / "record.json").write_text('{"id": "x"}', encoding="utf-8")
    for f in store.glob("history.db*"):  # lost: a new history indexes the records again
        f.unlink()

    p = kfpj("runs", "list", "--store", store)
    assert p.returncode == 0, p.stderr
    assert good in p.stdout and not_json not in p.stdout and no_version not in p.stdout
    warnings = p.stderr.strip().splitlines()
    assert len(warnings) == 2 and "Traceback" not in p.stderr, p.stderr
    (first,) = (w for w in warnings if not_json in w)
    assert first.startswith(f"warning: run {not_json} is left out of the history")
    assert str(store / "runs" / not_json / "record.json") in first and "not JSON" in first
    (second,) = (w for w in warnings if no_version in w)
    assert "it has no 'version'" in second

    again = kfpj("runs", "list", "--store", store)  # said once, when the history was made
    assert again.returncode == 0 and again.stderr == "", again.stderr


# --- an experiment name that is no name ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("two\nlines", ["'two\\nlines'", "control character", "one line"]),
        ("tab\there", ["'tab\\there'", "control character"]),
        ("", ["blank"]),
        ("   ", ["blank"]),
    ],
    ids=["newline", "tab", "empty", "blank"],
)
def test_an_experiment_name_off_one_line_or_blank_is_refused(
    tmp_path: Path, name: str, words: list[str]
) -> None:
    nb = small_notebook(tmp_path / "nb.ipynb")
    store = tmp_path / "store"
    p = kfpj("run", nb, "--experiment", name, "--store", store)
    one_line_error(p, "the experiment name", *words)
    assert not store.exists()  # nothing recorded


def test_the_python_api_and_the_notebooks_experiment_are_checked_alike(tmp_path: Path) -> None:
    """run_local is the one place every front end (CLI, %kfp, widget, server) goes through."""
    nb = small_notebook(tmp_path / "nb.ipynb")
    store = tmp_path / "store"
    with pytest.raises(UsageError, match="control character"):
        run_local(str(nb), store=store, experiment="a\rb")
    odd = make_notebook(
        tmp_path / "odd.ipynb",
        [code("import math", "imports"), code("x = 1", "step:one")],
        metadata={"kfp_jupyter": {"experiment": "team\nx"}},
    )
    p = kfpj("run", odd, "--store", store)
    one_line_error(p, "the experiment name in the notebook's metadata", "control character")
    assert not store.exists()


# --- a resumed run keeps its launcher -----------------------------------------------------------

#: a step that notes how it was started (its parent: the fork server, or the runner itself),
#: and fails until the file `fixed` exists next to the notebook
LAUNCHER_PROBE = """
import os
with open(f'/proc/{os.getppid()}/cmdline', 'rb') as f:
    parent = f.read()
with open('launchers.txt', 'a') as f:
    f.write(('fork' if b'_forkserver_main' in parent else 'subprocess') + '\\n')
if not os.path.exists('fixed'):
    raise RuntimeError('not fixed yet')
x = 1
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc: Linux")
def test_a_resumed_run_keeps_its_launcher_unless_another_is_asked_for(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb", [code("import os", "imports"), code(LAUNCHER_PROBE, "step:probe")]
    )
    store = tmp_path / "store"
    assert kfpj("run", nb, "--launcher", "subprocess", "--store", store).returncode == 1
    assert kfpj("runs", "resume", "latest", "--store", store).returncode == 1
    assert (tmp_path / "launchers.txt").read_text().split() == ["subprocess", "subprocess"]

    asked = kfpj("runs", "resume", "latest", "--store", store, env={"KFP_JUPYTER_LAUNCHER": "fork"})
    assert asked.returncode == 1
    (tmp_path / "fixed").touch()
    p = kfpj("runs", "resume", "latest", "--launcher", "subprocess", "--store", store)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "launchers.txt").read_text().split() == [
        "subprocess",
        "subprocess",
        "fork",
        "subprocess",
    ]
