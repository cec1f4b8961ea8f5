"""Component, container and resource steps, and volumes, in local runs of the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from components_util import mixed_notebook
from engine_support import kfpj, show, states, tasks
from nbutil import code, make_notebook

from kfp_jupyter.components.local import detect_runtime


def _expected(factor: float, n_rows: int) -> dict[str, float]:
    b = [x * 0.5 for x in range(n_rows)]
    return {
        "check_total": sum(v * factor for v in b),
        "n": float(n_rows + 1),
        "types_ok": 1.0,
        "total_value": sum(v * factor for v in b),
    }


def test_mixed_pipeline_with_host_exec(tmp_path: Path) -> None:
    nb = mixed_notebook(tmp_path / "nb")
    store = tmp_path / "store"
    p = kfpj("run", nb, "--host-exec", "-p", "factor=2", store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    s = show(store)
    assert s["metrics"] == pytest.approx(_expected(2.0, 5), abs=0, rel=1e-12)
    assert set(states(s).values()) == {"SUCCEEDED"}
    log = kfpj("runs", "logs", "latest", "settings", store=store).stdout
    assert "is not applied from a local run" in log  # a local run touches no cluster
    art = kfpj("runs", "show", "latest", store=store).stdout
    assert "scale/scaled_rows  file" in art  # a component's file output, by content digest

    again = kfpj("run", nb, "--host-exec", "-p", "factor=2", store=store)
    assert again.returncode == 0, again.stdout + again.stderr
    # every step but the resource mounts the notebook's volume, made anew for each run: none
    # of them can be replayed from the cache, and the resource step acts on a cluster
    assert set(states(show(store)).values()) == {"SUCCEEDED"}


@pytest.mark.skipif(detect_runtime() is not None, reason="docker or podman is installed here")
def test_container_steps_need_a_runtime_or_host_exec(tmp_path: Path) -> None:
    nb = mixed_notebook(tmp_path / "nb")
    p = kfpj("run", nb, "--keep-going", store=tmp_path / "store")
    assert p.returncode == 1
    assert "neither docker nor podman is available here" in p.stdout
    assert "--host-exec" in p.stdout
    assert tasks(show(tmp_path / "store"))["make"]["state"] == "SUCCEEDED"


def test_python_steps_share_a_volume(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "vol.ipynb",
        [
            code("import os", "imports"),
            code(
                "root = os.environ['KFPJ_VOLUME_DATA']\n"
                "open(os.path.join(root, 'rows.txt'), 'w').write('1\\n2\\n3\\n')\n"
                "written = True",
                "step:write",
                "volume:data:/data:1Gi",
            ),
            code(
                "assert written\n"
                "lines = len(open(os.path.join(os.environ['KFPJ_VOLUME_DATA'], 'rows.txt')).readlines())",
                "step:read",
                "volume:data:/data",
            ),
            code("lines", "pipeline-metrics"),
        ],
    )
    p = kfpj("run", nb, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    s = show(store)
    assert s["metrics"] == {"lines": 3.0}
    assert (store / "runs" / s["id"] / "volumes" / "data" / "rows.txt").is_file()
    # a new run gets a new volume, so the steps that use it run again
    assert kfpj("run", nb, store=store).returncode == 0
    assert set(states(show(store)).values()) == {"SUCCEEDED"}


def test_steps_on_an_existing_claim_are_cached(tmp_path: Path) -> None:
    store = tmp_path / "store"
    nb = make_notebook(
        tmp_path / "claim.ipynb",
        [
            code("import os", "imports"),
            code(
                "path = os.path.join(os.environ['KFPJ_VOLUME_TEAM'], 'seen.txt')\n"
                "open(path, 'a').write('x')\n"
                "seen = len(open(path).read())",
                "step:touch",
                "volume:pvc/team:/team",
            ),
            code("seen", "pipeline-metrics"),
        ],
    )
    p = kfpj("run", nb, store=store)
    assert p.returncode == 0, p.stdout + p.stderr
    assert show(store)["metrics"] == {"seen": 1.0}
    assert kfpj("run", nb, store=store).returncode == 0
    assert states(show(store)) == {"touch": "CACHED"}  # the claim is kept between runs
    assert kfpj("run", nb, "--no-cache", store=store).returncode == 0
    assert show(store)["metrics"] == {"seen": 2.0}  # and so is what is on it
