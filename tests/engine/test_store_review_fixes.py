"""A store shared by several machines, and stores on file systems with real folders.

`runs gc` on one machine keeps what the runs of the others still refer to (their records in the
bucket), and removes what nobody refers to; a run sends a program again when the bucket lost it.
Two machines are two cache folders (each with its own history) on one bucket URL, on a real
S3-compatible server (moto's server mode) on 127.0.0.1. A `local://` store (a folder through
fsspec) runs from its first run.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import kfpj, s3_server, show
from nbutil import code, make_notebook

BUCKET = "kfpj-shared-bucket"


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    with s3_server(BUCKET) as env:
        yield env


def _s3(env: dict[str, str]) -> Any:
    import s3fs

    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": env["AWS_ENDPOINT_URL"]}
    )
    fs.invalidate_cache()
    return fs


def _notebook(path: Path, a: str, b: str = "y = x + z") -> Path:
    """`a` makes x and z (both handed on to b)."""
    return make_notebook(
        path, [code("n = 1", "pipeline-parameters"), code(a, "step:a"), code(b, "step:b")]
    )


def _machine(tmp_path: Path, name: str, env: dict[str, str], url: str) -> dict[str, str]:
    """A machine: its own cache folder, so its own history, on the shared store."""
    return {**env, "KFP_JUPYTER_CACHE_DIR": str(tmp_path / name), "KFP_JUPYTER_STORE": url}


def _run(nb: Path, env: dict[str, str], *args: str) -> str:
    p = kfpj("run", nb, *args, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    return str(show(env["KFP_JUPYTER_STORE"], env=env)["id"])


def _programs_of(fs: Any, prefix: str, run_id: str) -> set[str]:
    """The objects under programs/ a run's record names: its version's spec and its steps'."""
    record = json.loads(fs.cat(f"{prefix}/runs/{run_id}/record.json"))
    spec = f"{prefix}/programs/{record['version']['spec_sha256']}.json"
    steps = json.loads(fs.cat(spec))["steps"]
    digests = (hashlib.sha256(s["program"].encode()).hexdigest() for s in steps)
    return {spec} | {f"{prefix}/programs/{d}.py" for d in digests}


def _programs(fs: Any, prefix: str) -> set[str]:
    fs.invalidate_cache()
    return set(fs.glob(f"{prefix}/programs/*"))


def _digests(fs: Any, prefix: str) -> set[str]:
    fs.invalidate_cache()
    return {m.rsplit("/", 1)[1][: -len(".json")] for m in fs.glob(f"{prefix}/artifacts/*/*.json")}


def _artifact(env: dict[str, str], run_id: str, step: str, name: str, out: Path) -> Any:
    got = kfpj("artifacts", "get", run_id, step, name, "-o", out, env=env)
    assert got.returncode == 0, got.stdout + got.stderr
    return json.loads(out.read_text())


def test_gc_keeps_what_other_machines_runs_use(tmp_path: Path, s3_env: dict[str, str]) -> None:
    prefix = f"{BUCKET}/gc-shared"
    url = f"s3://{prefix}"
    a_env, b_env = (_machine(tmp_path, m, s3_env, url) for m in ("machine-a", "machine-b"))
    fs = _s3(s3_env)

    # B runs version 1 of a notebook: x = 3, z = 10
    v1 = "x = 3\nz = n * 10"
    b_run = _run(_notebook(tmp_path / "b" / "nb.ipynb", v1), b_env, "-p", "n=1")
    # A runs version 0 (only A ever uses it), then the same version 1 as B with another n
    # (x = 3 as B's, z = 20 nobody else's), then version 2, the one it keeps
    nb = tmp_path / "a" / "nb.ipynb"
    a_v0 = _run(_notebook(nb, v1, "y = x * z"), a_env, "-p", "n=7")
    a_v1 = _run(_notebook(nb, v1), a_env, "-p", "n=2")
    _notebook(nb, "x = 4\nz = n * 100")
    a_v2 = _run(nb, a_env, "-p", "n=2")
    old = _programs_of(fs, prefix, a_v0) | _programs_of(fs, prefix, a_v1)
    kept = _programs_of(fs, prefix, a_v2)
    b_programs = _programs_of(fs, prefix, b_run)
    assert old & b_programs - kept  # what only B's run still uses of A's old runs' programs
    before = _digests(fs, prefix)

    gc = kfpj("runs", "gc", "--keep", "1", env=a_env)
    assert gc.returncode == 0, gc.stdout + gc.stderr
    # z = 70 and z = 20 used by nobody go; x = 3 stays (B's run uses it); so with programs
    removed = len(old - b_programs - kept)
    assert re.search(
        rf"removed 2 run\(s\) and 2 artifact\(s\).*, {removed} program file", gc.stdout
    ), gc.stdout
    assert len(before - _digests(fs, prefix)) == 2
    left = _programs(fs, prefix)
    assert b_programs | kept <= left and not (old - b_programs - kept) & left

    # B still shows its run and gets its outputs, with nothing of them on this machine any more
    shutil.rmtree(next((tmp_path / "machine-b" / "stores").iterdir()) / "artifacts")
    shown = show(url, b_run, env=b_env)
    assert shown["state"] == "SUCCEEDED"
    assert _artifact(b_env, b_run, "a", "x", tmp_path / "x.json") == 3
    assert _artifact(b_env, b_run, "a", "z", tmp_path / "z.json") == 10


def test_gc_removes_no_artifact_when_a_record_cannot_be_read(
    tmp_path: Path, s3_env: dict[str, str]
) -> None:
    prefix = f"{BUCKET}/gc-unreadable"
    url = f"s3://{prefix}"
    env = _machine(tmp_path, "machine-a", s3_env, url)
    nb = _notebook(tmp_path / "nb.ipynb", "x = n\nz = n * 10")
    _run(nb, env, "-p", "n=1")
    _run(nb, env, "-p", "n=2")
    fs = _s3(s3_env)
    fs.pipe(f"{prefix}/runs/elsewhere/record.json", b"{not json")  # another machine's, damaged
    before = _digests(fs, prefix)

    gc = kfpj("runs", "gc", "--keep", "1", env=env)
    assert gc.returncode == 0, gc.stdout + gc.stderr
    assert "removed 1 run(s) and 0 artifact(s)" in gc.stdout, gc.stdout
    assert _digests(fs, prefix) == before


def test_a_run_sends_a_program_again_when_the_bucket_lost_it(
    tmp_path: Path, s3_env: dict[str, str]
) -> None:
    prefix = f"{BUCKET}/resend"
    env = _machine(tmp_path, "machine-a", s3_env, f"s3://{prefix}")
    nb = _notebook(tmp_path / "nb.ipynb", "x = n\nz = n * 10")
    _run(nb, env)
    fs = _s3(s3_env)
    sent = set(fs.glob(f"{prefix}/programs/*"))
    assert len(sent) == 3  # two steps' programs and the version's spec
    fs.rm(sorted(sent))  # removed elsewhere; this machine still has its copies

    _run(nb, env)  # taken from the cache
    fs.invalidate_cache()
    assert set(fs.glob(f"{prefix}/programs/*")) == sent


def test_a_local_url_store_works_from_its_first_run(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    url = f"local://{folder}"
    env = {"KFP_JUPYTER_CACHE_DIR": str(tmp_path / "cache"), "KFP_JUPYTER_STORE": url}
    nb = _notebook(tmp_path / "nb.ipynb", "x = n\nz = n * 10")

    run_id = _run(nb, env, "-p", "n=2")
    shown = show(url, run_id, env=env)
    assert shown["state"] == "SUCCEEDED" and len(shown["tasks"]) == 2
    assert (folder / "runs" / run_id / "record.json").is_file()
    assert len(list((folder / "programs").iterdir())) == 3
    shutil.rmtree(next((tmp_path / "cache" / "stores").iterdir()) / "artifacts")
    assert _artifact(env, run_id, "a", "z", tmp_path / "z.json") == 20
