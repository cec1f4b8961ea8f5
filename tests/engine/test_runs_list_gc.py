"""`runs list` (the newest 20 by default, --limit/--all, filters, --summary) and `runs gc`
(old runs go with the artifacts only they used; what kept runs use stays; a run still going
is never removed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from nbutil import code, make_notebook

import kfp_jupyter
from kfp_jupyter.cli.main import cli as group
from kfp_jupyter.engine import run_local
from kfp_jupyter.engine.history import History
from kfp_jupyter.engine.procinfo import RunnerId
from kfp_jupyter.engine.store import open_store


def notebook(path: Path, fail: bool = False) -> Path:
    body = "frame = []\nraise ValueError('no')" if fail else "frame = list(range(rows))"
    return make_notebook(
        path,
        [
            code("rows = 3", "pipeline-parameters"),
            code(body, "step:make"),
            code("total = sum(frame)", "step:use"),
        ],
    )


def kfpj(store: Path, *args: str) -> Any:
    result = CliRunner().invoke(group, [*args, "--store", str(store)], catch_exceptions=False)
    return result


def run(nb: Path, store: Path, **params: object) -> str:
    handle = run_local(nb, params, store=str(store), launcher="subprocess")
    handle.wait()
    return str(handle.run_id)


def listed(store: Path, *args: str) -> list[dict[str, Any]]:
    result = kfpj(store, "runs", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def test_list_shows_the_newest_20_unless_told_and_filters(tmp_path: Path) -> None:
    store = tmp_path / "store"
    a, b = notebook(tmp_path / "a.ipynb"), notebook(tmp_path / "b.ipynb", fail=True)
    ids = [run(a, store, rows=i) for i in range(21)] + [run(b, store)]
    assert [r["id"] for r in listed(store)] == ids[::-1][:20]
    assert len(listed(store, "--all")) == 22
    assert [r["id"] for r in listed(store, "--limit", "3")] == ids[::-1][:3]
    assert [r["id"] for r in listed(store, "--state", "failed")] == [ids[-1]]
    assert {r["notebook"] for r in listed(store, "--notebook", str(b))} == {str(b.absolute())}
    table = kfpj(store, "runs", "list", "--summary")
    assert "the newest 20 of 22 runs; --limit N or --all for more" in table.output
    assert "22 runs in" in table.output and "artifacts" in table.output
    # each row counts its steps (from one query for all rows): b failed, a succeeded 19 times
    assert table.output.count("0/2") == 1 and table.output.count("2/2") == 19
    both = kfpj(store, "runs", "list", "--limit", "2", "--all")
    assert both.exit_code == 2 and "not both" in both.output
    # --json says what it left out too, on stderr (standard output stays one JSON array)
    cut = kfpj(store, "runs", "list", "--json")
    assert len(json.loads(cut.stdout)) == 20
    assert cut.stderr.strip() == "the newest 20 of 22 runs; --limit N or --all for more"
    assert kfpj(store, "runs", "list", "--json", "--all").stderr == ""
    assert kfpj(store, "runs", "list", "--json", "--summary").exit_code == 2


def test_names_in_the_tables_are_shown_as_written(tmp_path: Path) -> None:
    """An experiment (or pipeline) name with brackets is text, not rich markup: `[/x]` broke
    every listing of the store, `baseline [old]` was shown as `baseline`."""
    store = tmp_path / "store"
    nb = notebook(tmp_path / "a.ipynb")
    for name in ("[/oops]", "baseline [old]"):
        run_local(nb, store=str(store), experiment=name, launcher="subprocess").wait()
    runs = kfpj(store, "runs", "list")
    assert runs.exit_code == 0, runs.output
    assert "[/oops]" in runs.output and "baseline [old]" in runs.output
    experiments = kfpj(store, "experiments", "list")
    assert experiments.exit_code == 0, experiments.output
    assert "[/oops]" in experiments.output and "baseline [old]" in experiments.output


def test_gc_keeps_what_kept_runs_use_and_removes_the_rest(tmp_path: Path) -> None:
    store = tmp_path / "store"
    a, b = notebook(tmp_path / "a.ipynb"), notebook(tmp_path / "b.ipynb")
    old = [run(a, store, rows=1), run(a, store, rows=2), run(a, store, rows=5)]
    newest = run(a, store, rows=5)  # taken from the cache: the artifacts of old[2]
    other = run(b, store, rows=7)
    st = open_store(str(store), create=False)
    with History(st.db_path) as history:
        digests = {r: {x.digest for x in history.artifacts(r)} for r in [*old, newest, other]}
        going = RunnerId.current()  # a run in progress, owned by this (live) process
        live = history.create_run(
            experiment="Default",
            pipeline="a",
            digest="sha256:0",
            spec="{}",
            notebook=str(a.absolute()),
            parameters={},
            options={},
            steps=["make"],
            runner=going,
        )
    assert digests[newest] == digests[old[2]]

    dry = kfpj(store, "runs", "gc", "--keep", "1", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would remove 3 run(s) and 2 artifact(s)" in dry.output
    assert len(listed(store, "--all")) == 6  # nothing removed

    done = kfpj(store, "runs", "gc", "--keep", "1")
    assert done.exit_code == 0, done.output
    assert "removed 3 run(s) and 2 artifact(s)" in done.output
    # kept: the newest of a (and its cached artifacts), b's only run, the run still going
    assert {r["id"] for r in listed(store, "--all")} == {newest, other, live}
    for r in old:
        assert not st.run_dir(r).exists()
    for d in digests[old[0]] | digests[old[1]]:
        assert not st.has_artifact(d.split(":", 1)[1])
    for d in digests[newest] | digests[other]:
        assert st.has_artifact(d.split(":", 1)[1])
    # and what the kept run shows still loads
    assert kfp_jupyter.step_inputs(a, "use", run=newest, store=store)["frame"] == [0, 1, 2, 3, 4]


def test_gc_says_what_it_needs(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run(notebook(tmp_path / "a.ipynb"), store)
    nothing = kfpj(store, "runs", "gc")
    assert nothing.exit_code == 2 and "--keep N, --older-than AGE|DATE" in nothing.output
    bad = kfpj(store, "runs", "gc", "--older-than", "soon")
    assert bad.exit_code == 2 and "neither an age" in bad.output
    young = kfpj(store, "runs", "gc", "--older-than", "1d")
    assert "removed 0 run(s)" in young.output
    future = kfpj(store, "runs", "gc", "--older-than", "2999-01-01")
    assert "removed 1 run(s)" in future.output


@pytest.fixture(autouse=True)
def _own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_gc_removes_the_programs_only_removed_runs_used(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = notebook(tmp_path / "a.ipynb")
    run(nb, store)
    make_notebook(  # the notebook changes: new programs for both steps
        nb, [code("rows = 3", "pipeline-parameters"), code("frame = [rows]", "step:make"),
             code("total = sum(frame) + 1", "step:use")],
    )  # fmt: skip
    newest = run(nb, store)
    programs = store / "programs"
    before = {p.name for p in programs.iterdir()}
    gc = kfpj(store, "runs", "gc", "--keep", "1")
    assert gc.exit_code == 0, gc.output
    after = {p.name for p in programs.iterdir()}
    # the old make and use programs, and the old version's spec
    assert after < before and "3 program file(s)" in gc.output
    # what the kept run needs is all there: resuming it or reading its logs still works
    logs = kfpj(store, "runs", "logs", newest, "use")
    assert logs.exit_code == 0, logs.output
    assert kfp_jupyter.step_inputs(nb, "use", store=store)["frame"] == [3]
