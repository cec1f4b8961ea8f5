"""Every volume a step mounts has a variable of its own for its mount path.

The variable is the volume's name in capitals with '.' and '-' as '_', so claims `data.v1` and
`data-v1` would share KFPJ_VOLUME_DATA_V1, and a step mounting both would find one path there
and lose the other without a word. Of two such volumes in one step, the name that sorts first
keeps the variable (a volume made for each run, which has only '-', always does) and the other
gets KFPJ_VOLUME_..._2, in every step and on every target, with a warning naming both, the cell
and the variable to read. Volumes that no step mounts together keep their variables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from engine_support import kfpj
from nbutil import code, make_notebook

from kfp_jupyter import compile_pipeline, load_notebook


def argo_env(nb: Path) -> dict[str, dict[str, str]]:
    """Each step's volume variables in the Argo workflow: {step: {variable: mount path}}."""
    workflow = yaml.safe_load(compile_pipeline(load_notebook(nb), "argo"))
    out: dict[str, dict[str, str]] = {}
    for t in workflow["spec"]["templates"]:
        if "script" in t:
            env = [e for e in t["script"].get("env", []) if e["name"].startswith("KFPJ_VOLUME_")]
            assert len({e["name"] for e in env}) == len(env), env  # none hides another
            out[t["name"]] = {e["name"]: e["value"] for e in env}
    return out


def kfp_env(nb: Path) -> dict[str, dict[str, str]]:
    """Each step's volume variables in the KFP IR: {executor: {variable: mount path}}."""
    spec = next(yaml.safe_load_all(compile_pipeline(load_notebook(nb), "kfp")))
    out: dict[str, dict[str, str]] = {}
    for name, executor in spec["deploymentSpec"]["executors"].items():
        env: list[dict[str, Any]] = executor.get("container", {}).get("env") or []
        out[name] = {e["name"]: e["value"] for e in env if e["name"].startswith("KFPJ_VOLUME_")}
    return out


def claims_notebook(tmp_path: Path, *volumes: str) -> Path:
    return make_notebook(
        tmp_path / "claims.ipynb",
        [
            code("x = 1", "step:write", *volumes),
            code("y = x", "step:read", "volume:pvc/data.v1:/a"),
        ],
    )


def test_two_claims_alike_get_a_variable_each_on_every_target(tmp_path: Path) -> None:
    nb = claims_notebook(tmp_path, "volume:pvc/data.v1:/a", "volume:pvc/data-v1:/b")
    both = {"KFPJ_VOLUME_DATA_V1": "/b", "KFPJ_VOLUME_DATA_V1_2": "/a"}
    # the same variable in every step that mounts the volume, not only where the two meet
    assert argo_env(nb) == {"write": both, "read": {"KFPJ_VOLUME_DATA_V1_2": "/a"}}
    assert kfp_env(nb) == {"exec-write": both, "exec-read": {"KFPJ_VOLUME_DATA_V1_2": "/a"}}
    (warning,) = [str(w) for w in load_notebook(nb).warnings]
    assert warning == (
        "cell 1 / step 'write': volumes 'data-v1' and 'data.v1' would both put their mount path "
        "in KFPJ_VOLUME_DATA_V1 (a volume's name in capitals, '.' and '-' as '_'), and step "
        "'write' mounts both: 'data-v1' keeps that variable, and the mount path of 'data.v1' is "
        "in KFPJ_VOLUME_DATA_V1_2 in every step that mounts it\n"
        "  fix: read the path of 'data.v1' from os.environ['KFPJ_VOLUME_DATA_V1_2'] (or use its "
        "mount path), or mount the two in different steps"
    )


def test_which_keeps_the_variable_does_not_depend_on_the_order_written(tmp_path: Path) -> None:
    one = claims_notebook(tmp_path / "1", "volume:pvc/data.v1:/a", "volume:pvc/data-v1:/b")
    other = claims_notebook(tmp_path / "2", "volume:pvc/data-v1:/b", "volume:pvc/data.v1:/a")
    assert argo_env(one)["write"] == argo_env(other)["write"]


def test_a_volume_made_for_the_run_keeps_its_name_and_variable(tmp_path: Path) -> None:
    nb = claims_notebook(tmp_path, "volume:pvc/team.claim:/d", "volume:team-claim:/c:1Gi:standard")
    workflow = yaml.safe_load(compile_pipeline(load_notebook(nb), "argo"))
    assert [t["metadata"]["name"] for t in workflow["spec"]["volumeClaimTemplates"]] == [
        "team-claim"
    ]
    assert argo_env(nb)["write"] == {
        "KFPJ_VOLUME_TEAM_CLAIM": "/c",
        "KFPJ_VOLUME_TEAM_CLAIM_2": "/d",
    }


def test_the_next_free_number_is_taken(tmp_path: Path) -> None:
    nb = claims_notebook(
        tmp_path,
        "volume:pvc/data.v1:/a",
        "volume:pvc/data-v1:/b",
        "volume:pvc/data-v1-2:/c",
    )
    assert argo_env(nb)["write"] == {
        "KFPJ_VOLUME_DATA_V1": "/b",
        "KFPJ_VOLUME_DATA_V1_2": "/c",
        "KFPJ_VOLUME_DATA_V1_3": "/a",
    }


def test_volumes_no_step_mounts_together_keep_their_variables(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "apart.ipynb",
        [
            code("x = 1", "step:write", "volume:pvc/data.v1:/a"),
            code("y = x", "step:read", "volume:pvc/data-v1:/b"),
        ],
    )
    assert argo_env(nb) == {
        "write": {"KFPJ_VOLUME_DATA_V1": "/a"},
        "read": {"KFPJ_VOLUME_DATA_V1": "/b"},
    }
    assert load_notebook(nb).warnings == ()


def test_a_local_run_writes_each_claim_through_its_own_variable(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "claims.ipynb",
        [
            code(
                "import os\n"
                "for var in ('KFPJ_VOLUME_DATA_V1', 'KFPJ_VOLUME_DATA_V1_2'):\n"
                "    with open(os.path.join(os.environ[var], 'who.txt'), 'w') as f:\n"
                "        f.write(var)\n"
                "done = 1",
                "step:write",
                "volume:pvc/data.v1:/a",
                "volume:pvc/data-v1:/b",
            )
        ],
    )
    store = tmp_path / "store"
    r = kfpj("run", nb, store=store)
    assert r.returncode == 0, r.stderr
    assert "KFPJ_VOLUME_DATA_V1_2" in r.stderr
    claims = store / "claims"
    assert (claims / "data-v1" / "who.txt").read_text() == "KFPJ_VOLUME_DATA_V1"
    assert (claims / "data.v1" / "who.txt").read_text() == "KFPJ_VOLUME_DATA_V1_2"


def test_compile_shows_the_warning_and_writes_the_pipeline(tmp_path: Path) -> None:
    nb = claims_notebook(tmp_path, "volume:pvc/data.v1:/a", "volume:pvc/data-v1:/b")
    out = tmp_path / "out.yaml"
    r = subprocess.run(
        [sys.executable, "-m", "kfp_jupyter.cli.main", "compile", str(nb), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "warning: cell 1 / step 'write': volumes 'data-v1' and 'data.v1'" in r.stderr
    assert out.exists()
