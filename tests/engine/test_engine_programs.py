"""Step programs are kept by content (`programs/<sha256>.py`, the version spec beside them as
`.json`), once per store: runs of one notebook share them, a fully cached run writes only its
record, and everything that reads a run's programs (resume, `runs logs`, mapped tracebacks, a new
history indexing old runs, a remote store) still finds them."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from engine_support import kfpj, show, tasks
from nbutil import code, make_notebook

from kfp_jupyter.engine import run_local

#: the history database is SQLite's to write (pages and a write-ahead log); the benchmark
#: reports its bytes on their own. This is everything else a run leaves in the store.
DATABASE = ("history.db", "history.db-wal", "history.db-shm")


def chain(path: Path, steps: int = 5, scale: int = 1) -> Path:
    cells = [code("import math", "imports"), code(f"x0 = {scale}", "step:s0")]
    for i in range(1, steps):
        cells.append(code(f"x{i} = math.sqrt(x{i - 1}) + {i}", f"step:s{i}", f"prev:s{i - 1}"))
    return make_notebook(path, cells)


def files(store: Path) -> dict[str, str]:
    """Every file of the store but the database, by its content's digest."""
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in store.rglob("*")
        if p.is_file() and p.name not in DATABASE
    }


def written(store: Path, before: dict[str, str]) -> int:
    """Bytes of the files a run created or changed (the database aside)."""
    after = files(store)
    return sum((store / k).stat().st_size for k, v in after.items() if before.get(k) != v)


def programs(store: Path, suffix: str = ".py") -> list[Path]:
    return sorted((store / "programs").glob(f"*{suffix}"))


def local_run(nb: Path, store: Path, cache: bool = True, **params: object) -> str:
    handle = run_local(nb, params, store=str(store), cache=cache, launcher="subprocess")
    assert handle.wait() == "SUCCEEDED"
    return str(handle.run_id)


def test_two_runs_of_a_notebook_keep_one_copy_of_each_program(tmp_path: Path) -> None:
    nb, store = chain(tmp_path / "c.ipynb"), tmp_path / "store"
    first = local_run(nb, store)
    kept = {p.name: p.read_text(encoding="utf-8") for p in programs(store)}
    assert len(kept) == 5  # one program per step
    second = local_run(nb, store, cache=False)  # every step runs again, from the same programs
    assert {p.name: p.read_text(encoding="utf-8") for p in programs(store)} == kept
    assert len(programs(store, ".json")) == 1  # the pipeline version, also once
    for run in (first, second):
        assert not (store / "runs" / run / "programs").exists()
    # a program is named by its content
    for name, text in kept.items():
        assert name == hashlib.sha256(text.encode()).hexdigest() + ".py"
    # a changed step is a new program beside the old ones
    local_run(chain(nb, scale=2), store)
    assert len(programs(store)) == 6


def test_a_fully_cached_run_writes_only_its_small_record(tmp_path: Path) -> None:
    nb, store = chain(tmp_path / "c.ipynb"), tmp_path / "store"
    local_run(nb, store)
    before = files(store)
    run = local_run(nb, store)
    changed = {k for k, v in files(store).items() if before.get(k) != v}
    assert changed == {f"runs/{run}/record.json"}
    assert written(store, before) < 4096
    assert {t["state"] for t in tasks(show(store, run)).values()} == {"CACHED"}


def test_resume_runs_the_kept_programs_even_when_their_copies_are_gone(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "f.ipynb",
        [code("x = 1", "step:a"), code("raise RuntimeError('not yet')", "step:b", "prev:a")],
    )
    assert kfpj("run", nb, store=store).returncode == 1
    failed = show(store)
    make_notebook(nb, [code("x = 1", "step:a"), code("y = x + 1", "step:b", "prev:a")])
    shutil.rmtree(store / "programs")  # the run's spec in the history still has them
    p = kfpj("runs", "resume", failed["id"], store=store)
    assert p.returncode == 1 and "not yet" in p.stdout
    assert tasks(show(store, failed["id"]))["a"]["attempts"] == 1
    assert len(programs(store)) == 2


def test_a_failing_step_is_mapped_to_its_cell_in_run_and_runs_logs(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "f.ipynb",
        [
            code("def ratio(a, b):\n    return a / b", "functions"),
            code("print('dividing')\nz = ratio(1, 0)", "step:div"),
        ],
    )
    for launcher in ("fork", "subprocess"):
        p = kfpj("run", nb, "--launcher", launcher, store=store)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "ZeroDivisionError: division by zero" in p.stdout
        assert "cell 2, line 2, in step div" in p.stdout
        assert "cell 1, line 2, in ratio" in p.stdout
        logs = kfpj("runs", "logs", "latest", "div", store=store)
        assert logs.returncode == 0, logs.stderr
        assert logs.stdout.splitlines()[0] == "ZeroDivisionError: division by zero"
        assert "cell 1, line 2, in ratio" in logs.stdout and "dividing" in logs.stdout
        for out in (p.stdout, logs.stdout):
            assert "programs/" not in out and '.py"' not in out


def test_a_new_history_indexes_runs_whose_spec_is_kept_by_digest(tmp_path: Path) -> None:
    nb, store = chain(tmp_path / "c.ipynb", steps=2), tmp_path / "store"
    run = local_run(nb, store)
    record = json.loads((store / "runs" / run / "record.json").read_text(encoding="utf-8"))
    assert "spec" not in record["version"]
    assert (store / "programs" / f"{record['version']['spec_sha256']}.json").is_file()
    shown = show(store, run)
    for name in DATABASE:
        (store / name).unlink(missing_ok=True)
    assert show(store, run) == shown
    again = local_run(nb, store)  # and its cache entries came back with it
    assert {t["state"] for t in tasks(show(store, again)).values()} == {"CACHED"}


def test_a_remote_store_receives_each_program_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fsspec  # type: ignore[import-untyped]

    monkeypatch.setenv("KFP_JUPYTER_CACHE_DIR", str(tmp_path / "cache"))
    url = f"memory://kfpj-{tmp_path.name}/store"
    nb = chain(tmp_path / "c.ipynb", steps=3)
    first = run_local(nb, {}, store=url, launcher="subprocess")
    assert first.wait() == "SUCCEEDED"
    fs = fsspec.filesystem("memory")
    root = url[len("memory://") :]
    remote = sorted(p.rsplit("/", 1)[1] for p in fs.glob(f"{root}/programs/*.py"))
    assert len(remote) == 3
    local = Path(tmp_path / "cache").glob("stores/*/programs/*.py")
    assert sorted(p.name for p in local) == remote
    assert json.loads(fs.cat(f"{root}/runs/{first.run_id}/run.json"))["state"] == "SUCCEEDED"
    second = run_local(nb, {}, store=url, launcher="subprocess", cache=False)
    assert second.wait() == "SUCCEEDED"
    assert len(fs.glob(f"{root}/programs/*.py")) == 3
