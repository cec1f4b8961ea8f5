"""The store, the history database and cache keys, piece by piece."""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from kfp_jupyter import UsageError
from kfp_jupyter.engine import states
from kfp_jupyter.engine.cache import cache_key
from kfp_jupyter.engine.digest import digest_folder
from kfp_jupyter.engine.history import History
from kfp_jupyter.engine.plan import Plan, PlanStep, plan_from_pipeline
from kfp_jupyter.engine.procinfo import RunnerId
from kfp_jupyter.engine.remotestore import FsspecStore
from kfp_jupyter.engine.schema import MIGRATIONS
from kfp_jupyter.engine.store import (
    LocalStore,
    default_store_location,
    open_store,
)


def _folder(path: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def test_digest_depends_on_names_and_bytes_only(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a", {"x.npy": b"123", "sub/y.json": b"[1]"})
    b = _folder(tmp_path / "b", {"sub/y.json": b"[1]", "x.npy": b"123"})
    assert digest_folder(a) == digest_folder(b)
    assert digest_folder(a).size == 6 and digest_folder(a).digest.startswith("blake3:")
    c = _folder(tmp_path / "c", {"x.npy": b"124", "sub/y.json": b"[1]"})
    d = _folder(tmp_path / "d", {"z.npy": b"123", "sub/y.json": b"[1]"})
    assert len({digest_folder(p).digest for p in (a, c, d)}) == 3


def test_local_store_is_content_addressed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    ref = store.commit_artifact(_folder(tmp_path / "o1", {"m.json": b"[1, 2]"}), "m")
    assert ref.type == "json" and ref.size == 6
    assert store.has_artifact(ref.hex)
    stored = store.artifact_path(ref.hex) / "m.json"
    assert stored.read_bytes() == b"[1, 2]"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o444  # shared by digest: never changed
    assert not (tmp_path / "o1").exists()  # moved, not copied
    manifest = json.loads(Path(ref.uri + ".json").read_text())
    assert manifest["digest"] == ref.digest and manifest["files"] == [{"path": "m.json", "size": 6}]
    again = store.commit_artifact(_folder(tmp_path / "o2", {"m.json": b"[1, 2]"}), "m")
    assert again == ref  # the same content is stored once
    assert not store.has_artifact("0" * 64)


def test_concurrent_commits_of_the_same_content(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    folders = [_folder(tmp_path / f"o{i}", {"v.pkl": b"x" * 1000}) for i in range(8)]
    refs = []
    threads = [
        threading.Thread(target=lambda f=f: refs.append(store.commit_artifact(f, "v")))
        for f in folders
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.digest for r in refs}) == 1 and len(refs) == 8
    assert (store.artifact_path(refs[0].hex) / "v.pkl").read_bytes() == b"x" * 1000


def test_fsspec_store_round_trip(tmp_path: Path) -> None:
    store = FsspecStore("memory://kfpj-test/prefix", cache_root=tmp_path / "cache")
    ref = store.commit_artifact(_folder(tmp_path / "o", {"a.npy": b"abc"}), "a")
    assert ref.uri.startswith("memory://kfpj-test/prefix/artifacts/")
    assert store.has_artifact(ref.hex)
    # the local read cache can be dropped: the bytes come back from the remote store
    import shutil

    shutil.rmtree(store.local_root / "artifacts")
    assert (store.artifact_path(ref.hex) / "a.npy").read_bytes() == b"abc"
    assert store.db_path.parent == store.local_root
    assert "memory://kfpj-test/prefix" in (store.local_root / "store-url.txt").read_text()


def test_default_store_location(tmp_path: Path) -> None:
    assert default_store_location(tmp_path) == tmp_path / ".kfp-jupyter"
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "a" / "b").mkdir(parents=True)
    assert default_store_location(repo / "a" / "b") == repo / ".kfp-jupyter"
    (repo / "a" / ".kfp-jupyter").mkdir()
    assert default_store_location(repo / "a" / "b") == repo / "a" / ".kfp-jupyter"


def test_open_store_for_reading_needs_a_history(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no run history"):
        open_store(tmp_path / "none", create=False)
    assert not (tmp_path / "none").exists()


def _new_run(h: History, steps: list[str], runner: RunnerId | None = None) -> str:
    return h.create_run(
        experiment="e",
        pipeline="p",
        digest="sha256:1",
        spec="{}",
        notebook=None,
        parameters={"a": 1},
        options={},
        steps=steps,
        runner=runner or RunnerId.current(),
    )


def test_history_schema_is_versioned_and_in_wal_mode(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    assert h.schema_version() == len(MIGRATIONS)
    db = sqlite3.connect(tmp_path / "h.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "schema_version",
        "experiments",
        "pipelines",
        "pipeline_versions",
        "runs",
        "tasks",
        "artifacts",
        "metrics",
    } <= tables


def test_migrations_apply_in_order_once(tmp_path: Path) -> None:
    calls: list[int] = []

    def v2(db: sqlite3.Connection) -> None:
        calls.append(2)
        db.execute("ALTER TABLE runs ADD COLUMN note TEXT")

    path = tmp_path / "h.db"
    old = History(path)  # at version 1
    rid = _new_run(old, ["a"])
    old.close()
    new = History(path, migrations=(*MIGRATIONS, v2))
    assert new.schema_version() == len(MIGRATIONS) + 1 and calls == [2]
    assert new.get_run(rid).id == rid  # old data is kept
    new.close()
    History(path, migrations=(*MIGRATIONS, v2)).close()
    assert calls == [2]
    # an older kfp-jupyter refuses a newer database instead of damaging it
    with pytest.raises(UsageError, match="newer kfp-jupyter"):
        History(path)


def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE extra (x INTEGER)")
        raise RuntimeError("boom")

    path = tmp_path / "h.db"
    History(path).close()
    with pytest.raises(RuntimeError):
        History(path, migrations=(*MIGRATIONS, broken))
    db = sqlite3.connect(path)
    assert not db.execute("SELECT 1 FROM sqlite_master WHERE name='extra'").fetchone()
    assert History(path).schema_version() == len(MIGRATIONS)


def test_run_ids_resolve_by_prefix_and_latest(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    ids = [_new_run(h, ["a"]) for _ in range(3)]
    assert h.resolve_run_id("latest") == ids[-1]
    for rid in ids:
        assert h.resolve_run_id(rid[:6]) == rid
    with pytest.raises(UsageError, match="no run"):
        h.resolve_run_id("zzzz")


def test_interrupted_runs_are_repaired_by_readers(tmp_path: Path) -> None:
    h = History(tmp_path / "h.db")
    me = RunnerId.current()
    dead = RunnerId(me.host, 2**22 + 4321, None)
    alive = _new_run(h, ["a", "b"])
    gone = _new_run(h, ["a", "b"], runner=dead)
    task = h.task(gone, "a")
    h.update_task(task.id, state=states.RUNNING, started=1.0)
    runs = {r.id: r.state for r in h.list_runs()}
    assert runs == {alive: "RUNNING", gone: "INTERRUPTED"}
    assert {t.name: t.state for t in h.tasks(gone)} == {"a": "INTERRUPTED", "b": "PENDING"}
    # a recycled pid does not pass for the dead runner
    recycled = RunnerId(me.host, me.pid, "not-the-same-start-time")
    if me.token is not None:
        assert recycled.alive() is False


def _step(**kw: object) -> PlanStep:
    base = PlanStep(
        name="s",
        program="# cell 3\nx = a + 1\n",
        after=(),
        inputs=(("a", "up"),),
        outputs=("x",),
        parameters=("k",),
        metrics=(),
        packages=("numpy",),
        image="python:3.11",
        cache=True,
        retries=0,
        timeout=None,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_cache_key_covers_what_decides_the_outputs() -> None:
    params, inputs = {"k": 1, "other": 5}, {"a": "sha256:aa"}
    key = cache_key(_step(), params, inputs)
    assert key == cache_key(_step(), params, inputs)
    assert key == cache_key(_step(), {"k": 1, "other": 6}, inputs)  # a parameter it does not use
    assert key == cache_key(_step(program="# cell 9\nx = a + 1\n"), params, inputs)  # renumbered
    for changed in (
        cache_key(_step(program="# cell 3\nx = a + 2\n"), params, inputs),
        cache_key(_step(), {"k": 2}, inputs),
        cache_key(_step(), params, {"a": "sha256:bb"}),
        cache_key(_step(packages=("numpy", "pandas")), params, inputs),
        cache_key(_step(image="python:3.12"), params, inputs),
    ):
        assert changed != key


def test_plan_round_trips_through_json(tmp_path: Path) -> None:
    from nbutil import code, make_notebook

    from kfp_jupyter import load_notebook

    nb = make_notebook(
        tmp_path / "p.ipynb",
        [
            code("import math", "imports"),
            code("n = 2", "pipeline-parameters"),
            code("a = math.sqrt(n)", "step:one", "retries:2", "timeout:30"),
            code("b = a * 2", "step:two", "cache:disabled"),
        ],
    )
    plan = plan_from_pipeline(load_notebook(nb))
    again = Plan.from_json(plan.to_json())
    assert again == plan and again.digest == plan.digest
    assert plan.step("one").retries == 2 and plan.step("one").timeout == 30
    assert plan.step("two").cache is False and plan.step("two").inputs == (("a", "one"),)
    assert "import math" in plan.imports
    moved = replace(plan, notebook="/elsewhere/p.ipynb")
    assert moved.digest == plan.digest  # the version is the content, not the path
