"""Outputs are named by BLAKE3 digests their steps compute as they write them: the runner never
reads an output again to hash it, yet never lets a wrong digest name stored content; artifacts of
stores written with sha256 still resolve, verify and load; and a step reads a large array mapped
copy-on-write, so changing its input in place leaves the stored artifact as it was."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from engine_support import kfpj, show, tasks
from nbutil import code, make_notebook

import kfp_jupyter
from kfp_jupyter.engine import run_local
from kfp_jupyter.engine.digest import (
    content_changed,
    digest_folder,
    read_step_digests,
    step_digests_path,
)
from kfp_jupyter.engine.history import ArtifactRow, History
from kfp_jupyter.engine.remotestore import FsspecStore
from kfp_jupyter.engine.store import LocalStore
from kfp_jupyter.engine.storelayout import ArtifactChangedError
from kfp_jupyter.packaging.runtime_text import inner_runtime


@pytest.fixture()
def rt(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The runtime as the local engine runs it: asked for digests."""
    monkeypatch.setenv("KFPJ_DIGESTS", "blake3")
    ns: dict[str, Any] = {}
    exec(compile(inner_runtime(), "<runtime>", "exec"), ns)
    return ns


VALUES: dict[str, Any] = {
    "array": np.random.default_rng(0).random((300, 700)),
    "fortran": np.asfortranarray(np.arange(600.0).reshape(20, 30)),
    "strided": np.arange(100)[::3],
    "record": np.zeros(4, dtype=[("x", "f4"), ("y", "i8")]),
    "empty": np.zeros((0, 3)),
    "frame": pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}),
    "series": pd.Series([1.5, 2.5], name="s"),
    "json": {"a": [1, 2.5, None, "é"]},
    "pickle": (1, {2, 3}),
}


@pytest.mark.parametrize("kind", list(VALUES))
def test_a_step_hashes_each_output_as_it_writes_it(
    rt: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "out" / "v"
    rt["_kfpj_save"]("s", "v", VALUES[kind], str(folder))
    known = read_step_digests(folder)
    assert set(known) == {p.name for p in folder.iterdir()}
    from_step = digest_folder(folder, known=known)
    assert from_step.hashed == 0  # nothing read again to hash it
    assert from_step == digest_folder(folder)  # and the same digest as hashing the files
    assert from_step.digest.startswith("blake3:")
    store = LocalStore(tmp_path / "store")
    ref = store.commit_artifact(folder, "v")
    assert ref.digest == from_step.digest
    assert not step_digests_path(folder).exists()
    assert content_changed(store.artifact_path(ref.hex), ref.digest) is None


def test_an_array_is_written_as_numpy_save_writes_it(rt: dict[str, Any], tmp_path: Path) -> None:
    for name, value in VALUES.items():
        if isinstance(value, np.ndarray):
            rt["_kfpj_save"]("s", name, value, str(tmp_path / name))
            np.save(tmp_path / f"{name}.npy", value, allow_pickle=False)
            ours = (tmp_path / name / f"{name}.npy").read_bytes()
            assert ours == (tmp_path / f"{name}.npy").read_bytes(), name


def test_without_the_engine_asking_a_step_hashes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KFPJ_DIGESTS", raising=False)
    ns: dict[str, Any] = {}
    exec(compile(inner_runtime(), "<runtime>", "exec"), ns)
    folder = tmp_path / "v"
    ns["_kfpj_save"]("s", "v", VALUES["array"], str(folder))
    assert not step_digests_path(folder).exists()
    d = digest_folder(folder, known=read_step_digests(folder))
    assert d.hashed == d.size  # the engine hashes what nobody hashed for it


def test_a_file_changed_after_its_step_hashed_it_is_hashed_again(
    rt: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "v"
    rt["_kfpj_save"]("s", "v", np.arange(1000.0), str(folder))
    claimed = digest_folder(folder, known=read_step_digests(folder))
    file = folder / "v.npy"
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF  # the same size, other bytes
    file.write_bytes(bytes(data))
    st = file.stat()
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    ref = LocalStore(tmp_path / "store").commit_artifact(folder, "v")
    assert ref.digest != claimed.digest
    kept = tmp_path / "store" / "artifacts" / ref.hex[:2] / ref.hex
    assert (kept / "v.npy").read_bytes() == bytes(data)
    assert ref.digest == digest_folder(kept).digest


def _artifacts(store: Path, run: str) -> list[ArtifactRow]:
    with History(store / "history.db") as history:
        return history.artifacts(run)


def _legacy(root: Path, files: dict[str, bytes]) -> str:
    """An artifact as a store written before BLAKE3 holds it: named by sha256, no stat record."""
    src = root / "src"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    d = digest_folder(src, "sha256")
    target = root / "artifacts" / d.hex[:2] / d.hex
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(target))
    manifest = {
        "digest": d.digest,
        "size": d.size,
        "type": "json",
        "files": [{"path": p, "size": s} for p, s in d.files],
    }
    (target.parent / (d.hex + ".json")).write_text(json.dumps(manifest))
    return d.digest


def test_artifacts_stored_by_sha256_still_resolve_and_verify(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    digest = _legacy(store.local_root, {"m.json": b"[1, 2]"})
    assert digest.startswith("sha256:")
    hex_digest = digest.split(":", 1)[1]
    for name in (hex_digest, digest):  # by its bare hex (as older callers ask) or by digest
        assert store.has_artifact(name)
        assert store.verify_artifact(name) is None
        assert (store.artifact_path(name) / "m.json").read_bytes() == b"[1, 2]"
    (store.artifact_path(digest) / "m.json").write_bytes(b"[1, 3]")
    problem = store.verify_artifact(hex_digest)
    assert problem is not None and "changed after it was stored" in problem
    store.remove_artifact(hex_digest)
    assert not store.has_artifact(digest)


def test_a_remote_store_checks_what_it_fetches_as_it_arrives(tmp_path: Path) -> None:
    import fsspec  # type: ignore[import-untyped]

    url = f"memory://kfpj-digest-{tmp_path.name}"
    fs = fsspec.filesystem("memory")
    base = url[len("memory://") :]
    legacy = _legacy(tmp_path / "remote", {"m.json": b"[1, 2]"})
    for p in (tmp_path / "remote").rglob("*"):
        if p.is_file():
            fs.pipe(f"/{base}/{p.relative_to(tmp_path / 'remote').as_posix()}", p.read_bytes())
    store = FsspecStore(url, cache_root=tmp_path / "cache")
    assert (store.artifact_path(legacy) / "m.json").read_bytes() == b"[1, 2]"
    assert store.verify_artifact(legacy.split(":", 1)[1]) is None
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "a.json").write_bytes(b"[3]")
    ref = store.commit_artifact(folder, "a")
    assert ref.digest.startswith("blake3:")
    shutil.rmtree(store.local_root / "artifacts")  # fetched again from the store
    fs.pipe(f"/{base}/artifacts/{ref.hex[:2]}/{ref.hex}/a.json", b"[4]")
    with pytest.raises(ArtifactChangedError, match="changed after it was stored"):
        store.artifact_path(ref.hex)
    assert not (store.local_root / "artifacts" / ref.hex[:2] / ref.hex).exists()


def test_a_step_changing_its_input_in_place_leaves_the_stored_artifact(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "m.ipynb",
        [
            code("import numpy as np", "imports"),
            code("x = np.arange(500_000.0)", "step:make"),  # 4 MB: read mapped
            code(
                "assert type(x) is np.ndarray and x.flags.writeable\n"
                "np.negative(x, out=x)\n"
                "total = float(x.sum())",
                "step:change",
                "prev:make",
            ),
            code("again = float(x.sum())", "step:read", "prev:change"),
        ],
    )
    store = tmp_path / "store"
    handle = run_local(nb, {}, store=str(store), launcher="subprocess")
    assert handle.wait() == "SUCCEEDED"
    got = kfp_jupyter.step_inputs(nb, "read", store=store)
    assert isinstance(got["x"], np.ndarray) and got["x"][-1] == 499_999.0
    summary = show(store)
    assert {t["state"] for t in tasks(summary).values()} == {"SUCCEEDED"}
    stored = _artifacts(store, summary["id"])
    assert "x" in {a.name for a in stored}
    for art in stored:
        assert art.digest.startswith("blake3:")
        folder = Path(art.uri)
        assert content_changed(folder, art.digest) is None  # the digest names the bytes
        assert not step_digests_path(folder).exists()


def test_a_run_made_before_blake3_still_shows_loads_reruns_and_is_collected(
    tmp_path: Path,
) -> None:
    nb = make_notebook(
        tmp_path / "l.ipynb",
        [code("x = [1, 2, 3]", "step:make"), code("y = sum(x)", "step:use", "prev:make")],
    )
    store = tmp_path / "store"
    assert kfpj("run", nb, store=store).returncode == 0
    old = show(store)["id"]
    # what the previous version left: artifacts named by sha256, cache keys of sha256
    db = sqlite3.connect(store / "history.db")
    for (digest,) in db.execute("SELECT DISTINCT digest FROM artifacts").fetchall():
        hex_digest = digest.split(":", 1)[1]
        folder = store / "artifacts" / hex_digest[:2] / hex_digest
        legacy = digest_folder(folder, "sha256")
        target = store / "artifacts" / legacy.hex[:2] / legacy.hex
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(target)
        manifest = json.loads(folder.with_name(hex_digest + ".json").read_text())
        folder.with_name(hex_digest + ".json").unlink()
        folder.with_name(hex_digest + ".stat.json").unlink()
        manifest["digest"] = legacy.digest
        target.with_name(legacy.hex + ".json").write_text(json.dumps(manifest))
        db.execute(
            "UPDATE artifacts SET digest = ?, uri = ? WHERE digest = ?",
            (legacy.digest, str(target), digest),
        )
    db.execute("UPDATE tasks SET cache_key = 'sha256:' || substr(cache_key, 8)")
    db.commit()
    db.close()

    shown = kfpj("runs", "show", old, store=store)
    assert shown.returncode == 0 and "sha256:" in shown.stdout, shown.stderr
    assert {a.digest[:7] for a in _artifacts(store, old)} == {"sha256:"}
    assert kfp_jupyter.step_inputs(nb, "use", store=store) == {"x": [1, 2, 3]}
    assert kfpj("run", nb, store=store).returncode == 0  # keys of sha256: run once more
    new = show(store)
    assert {t["state"] for t in tasks(new).values()} == {"SUCCEEDED"}
    assert kfpj("run", nb, store=store).returncode == 0
    assert {t["state"] for t in tasks(show(store)).values()} == {"CACHED"}
    gc = kfpj("runs", "gc", "--keep", "2", store=store)
    assert gc.returncode == 0, gc.stderr
    kept = {a.digest for a in _artifacts(store, show(store)["id"])}
    manifests = {
        json.loads(p.read_text())["digest"]
        for p in (store / "artifacts").glob("*/*.json")
        if not p.name.endswith(".stat.json")
    }
    assert manifests == kept and all(d.startswith("blake3:") for d in kept)


@pytest.mark.parametrize(("fmt", "value"), [("csv", VALUES["frame"]), ("npy", VALUES["array"])])
def test_a_file_for_a_component_is_hashed_by_its_step_too(
    rt: dict[str, Any], tmp_path: Path, fmt: str, value: Any
) -> None:
    folder = tmp_path / "table"
    rt["_kfpj_export"]("s", "v", value, fmt, "", str(folder / "table"))
    known = read_step_digests(folder)
    assert set(known) == {"table"}
    from_step = digest_folder(folder, known=known)
    assert from_step.hashed == 0 and from_step == digest_folder(folder)
