"""Two KFP IRs compared as parsed data: kfp-jupyter's and the kfp SDK's (the oracle's judgement).

Set aside: `sdkVersion` (who wrote it); in kfp-kubernetes' CreatePVC component, the texts of
documentation that kfp-kubernetes copies from its docstrings (they change from release to release)
and the optional inputs one release has and another not (`data_source`), neither of which
kfp-jupyter sets; and a secret's `optional: false`, which older kfp-kubernetes releases leave
unwritten (false is the field's default, so both mean the same). Everything else must be equal.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _create_pvc(component: dict[str, Any]) -> bool:
    return component.get("executorLabel", "").startswith("exec-createpvc")


def _comparable(documents: list[dict[str, Any]], optional: set[str]) -> list[dict[str, Any]]:
    spec = documents[0]
    spec.pop("sdkVersion", None)
    for platform in documents[1:]:
        for executor in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values():
            for secret in executor.get("secretAsEnv", ()):
                if secret.get("optional") is False:
                    del secret["optional"]
    for component in spec.get("components", {}).values():
        if _create_pvc(component):
            params = component["inputDefinitions"]["parameters"]
            for name in list(params):
                params[name].pop("description", None)
                if name in optional:
                    del params[name]
    return documents


def _missing_optional(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> set[str]:
    """Optional CreatePVC inputs that one side's kfp-kubernetes release has and the other not."""
    names: list[set[str]] = []
    for docs in (a, b):
        for component in docs[0].get("components", {}).values():
            if _create_pvc(component):
                names.append(set(component["inputDefinitions"]["parameters"]))
                break
    if len(names) < 2:
        return set()
    return names[0] ^ names[1]


def assert_same_ir(ours: list[dict[str, Any]] | str, theirs: list[dict[str, Any]] | str) -> None:
    a = docs(ours) if isinstance(ours, str) else copy.deepcopy(ours)
    b = docs(theirs) if isinstance(theirs, str) else copy.deepcopy(theirs)
    optional = _missing_optional(a, b)
    assert optional <= {"data_source"}, optional
    assert _comparable(a, optional) == _comparable(b, optional)


def ir_from_dsl_script(script: Path, out: Path) -> str:
    """The IR the kfp SDK's own compiler writes when the `dsl` script is run with `python`."""
    r = subprocess.run(
        [sys.executable, str(script), str(out)],
        capture_output=True,
        text=True,
        cwd=out.parent,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return out.read_text(encoding="utf-8")


_KFP_LOCAL = (
    "import json, sys\nfrom kfp import local, components\n"
    "local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2])\n"
    "components.load_component_from_file(sys.argv[1])(**json.loads(sys.argv[3]))\n"
)


def kfp_local_metrics(ir: Path, root: Path, **arguments: Any) -> dict[str, float]:
    """Run the IR at `ir` with `kfp.local` (Python steps as subprocesses of this venv, outputs
    under `root`) and return the metrics its steps logged: kfp's own runner judges the IR."""
    r = subprocess.run(
        [sys.executable, "-c", _KFP_LOCAL, str(ir), str(root), json.dumps(arguments)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=root.parent,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    found: dict[str, float] = {}
    for f in root.rglob("executor_output.json"):
        for out in json.loads(f.read_text()).get("artifacts", {}).values():
            for a in out["artifacts"]:
                if a["name"] == "metrics":
                    found.update(a.get("metadata") or {})
    return found
