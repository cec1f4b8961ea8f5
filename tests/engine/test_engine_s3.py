"""An S3 store, against a real S3-compatible server (moto's server mode) on 127.0.0.1.

The endpoint reaches the engine the way it reaches any AWS tool: AWS_ENDPOINT_URL and the usual
credential variables, which s3fs (through botocore) reads itself.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import fan_out_notebook, kfpj, s3_server, show, states

moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")

BUCKET = "kfpj-test-bucket"


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    with s3_server(BUCKET) as env:
        yield env


def _s3(env: dict[str, str]):  # type: ignore[no-untyped-def]
    import s3fs

    return s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": env["AWS_ENDPOINT_URL"]}
    )


def test_runs_with_an_s3_store(tmp_path: Path, s3_env: dict[str, str]) -> None:
    url = f"s3://{BUCKET}/team/project"
    env = {**s3_env, "KFP_JUPYTER_CACHE_DIR": str(tmp_path / "cache"), "KFP_JUPYTER_STORE": url}
    nb = fan_out_notebook(tmp_path / "fan.ipynb", sleep=0.2)

    first = kfpj("run", nb, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert url in first.stdout  # where the results are
    s = show(url, env=env)
    assert s["state"] == "SUCCEEDED" and s["metrics"] == {"total": 12.0}

    fs = _s3(s3_env)
    manifests = fs.glob(f"{BUCKET}/team/project/artifacts/*/*.json")
    assert len(manifests) == 3  # base, left and right: the variables steps hand on
    for m in manifests:
        meta = json.loads(fs.cat(m))
        assert meta["digest"].split(":")[1] == m.rsplit("/", 1)[1][: -len(".json")]
        for f in meta["files"]:
            assert fs.size(f"{m[: -len('.json')]}/{f['path']}") == f["size"]
    run_prefix = f"{BUCKET}/team/project/runs/{s['id']}"
    assert json.loads(fs.cat(f"{run_prefix}/run.json"))["state"] == "SUCCEEDED"
    assert fs.exists(f"{run_prefix}/logs/left.log")
    assert len(fs.glob(f"{BUCKET}/team/project/programs/*.py")) == 4  # one per step, by content

    # a second run reuses everything
    second = kfpj("run", nb, env=env)
    assert second.returncode == 0
    assert set(states(show(url, env=env)).values()) == {"CACHED"}

    # without the local copies, artifacts and logs come from the bucket
    local = Path(env["KFP_JUPYTER_CACHE_DIR"]) / "stores"
    (root,) = list(local.iterdir())
    shutil.rmtree(root / "artifacts")
    shutil.rmtree(root / "runs")
    out = tmp_path / "left.json"
    got = kfpj("artifacts", "get", s["id"], "left", "left", "-o", out, env=env)
    assert got.returncode == 0, got.stderr
    assert json.loads(out.read_text()) == [0.0, 2.0, 4.0]
    logs = kfpj("runs", "logs", s["id"], "left", env=env)
    assert logs.returncode == 0, logs.stderr

    # and a step that needs an input no longer cached locally fetches it
    third = kfpj("run", nb, "-p", "scale=3", env=env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert show(url, env=env)["metrics"] == {"total": 3.0 * 3 + 6}
    again = kfpj("run", nb, "-p", "scale=3", env=env)  # what the kept run made is all there
    assert again.returncode == 0 and set(states(show(url, env=env)).values()) == {"CACHED"}

    # gc: the two older runs go, in the bucket too, with the artifacts only they used
    def digests() -> set[str]:
        found = fs.glob(f"{BUCKET}/team/project/artifacts/*/*.json")
        return {m.rsplit("/", 1)[1][: -len(".json")] for m in found}

    fs.invalidate_cache()
    before = digests()
    gc = kfpj("runs", "gc", "--keep", "1", env=env)
    assert gc.returncode == 0, gc.stdout + gc.stderr
    m = re.search(r"removed \d+ run\(s\) and (\d+) artifact\(s\).*; 1 run\(s\) kept", gc.stdout)
    assert m and int(m.group(1)) >= 1, gc.stdout  # what only the older runs made
    fs.invalidate_cache()
    after = digests()
    assert after < before and len(before - after) == int(m.group(1))
    assert not fs.exists(run_prefix)
    assert show(url, env=env)["metrics"] == {"total": 3.0 * 3 + 6}
    again = kfpj("run", nb, "-p", "scale=3", env=env)  # what the kept run made is all there
    assert again.returncode == 0 and set(states(show(url, env=env)).values()) == {"CACHED"}
