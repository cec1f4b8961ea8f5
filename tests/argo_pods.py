"""Running a compiled Argo Workflow here, task by task, as Argo would run its pods.

The Argo controller cannot run on this machine; these helpers stand in for it so that tests can
run the generated scripts (the Argo target's tests, and notebook steps compiled to Argo).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any


def templates_by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in doc["spec"]["templates"]}


def tasks_by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    dag = templates_by_name(doc)[doc["spec"]["entrypoint"]]
    return {t["name"]: t for t in dag["dag"]["tasks"]}


def _substitute(text: str, values: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        assert m.group(1) in values, f"unresolved {m.group(0)}"
        return values[m.group(1)]

    return re.sub(r"\{\{(.*?)\}\}", one, text)


def _in_pod(root: Path, path: str) -> str:
    """Where a fixed /tmp/kfpj path of the pod lies in this test's stand-in for the pod."""
    return str(root) + path.removeprefix("/tmp/kfpj")


def artifact_from(ref: str) -> tuple[str, str]:
    m = re.fullmatch(r"\{\{tasks\.(.+)\.outputs\.artifacts\.(.+)\}\}", ref)
    assert m is not None, ref
    return m.group(1), m.group(2)


def run_like_argo(
    doc: dict[str, Any], work: Path, secrets: Mapping[tuple[str, str], str] | None = None
) -> dict[str, dict[str, float]]:
    """Run each task in a fresh process, in DAG order, with what Argo would give its pod: the template's
    env with parameters substituted, input artifacts copied to the input paths (a separate
    root per task stands for a separate pod), the script source run with `python3 FILE`."""
    templates, tasks = templates_by_name(doc), tasks_by_name(doc)
    workflow_args = {
        f"workflow.parameters.{p['name']}": p["value"]
        for p in doc["spec"]["arguments"]["parameters"]
    }
    order = TopologicalSorter(
        {n: t.get("dependencies", []) for n, t in tasks.items()}
    ).static_order()
    roots: dict[str, Path] = {}
    metrics: dict[str, dict[str, float]] = {}
    for name in order:
        task, template = tasks[name], templates[tasks[name]["template"]]
        root = roots[name] = work / name / "kfpj"
        inputs = {
            f"inputs.parameters.{p['name']}": _substitute(p["value"], workflow_args)
            for p in task.get("arguments", {}).get("parameters", [])
        }
        for art in task.get("arguments", {}).get("artifacts", []):
            producer, var = artifact_from(art["from"])
            src_path = next(
                o["path"] for o in templates[producer]["outputs"]["artifacts"] if o["name"] == var
            )
            dst_path = next(
                i["path"] for i in template["inputs"]["artifacts"] if i["name"] == art["name"]
            )
            shutil.copytree(_in_pod(roots[producer], src_path), _in_pod(root, dst_path))
        env = dict(os.environ, KFPJ_SKIP_PIP="1", KFPJ_ROOT=str(root))
        env.pop("KFPJ_METRICS_DIR", None)
        for e in template["script"].get("env", []):
            if "value" in e:
                value = _substitute(e["value"], inputs)
                env[e["name"]] = _in_pod(root, value) if value.startswith("/tmp/kfpj") else value
            else:
                ref = e["valueFrom"]["secretKeyRef"]
                env[e["name"]] = (secrets or {})[(ref["name"], ref["key"])]
        script = work / name / "script"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(template["script"]["source"], encoding="utf-8")
        r = subprocess.run(
            [sys.executable, str(script)],
            env=env,
            cwd=work / name,
            capture_output=True,
            text=True,
            timeout=int(template.get("activeDeadlineSeconds", 300)),
        )
        assert r.returncode == 0, f"task {name} failed:\n{r.stderr}"
        for o in template.get("outputs", {}).get("artifacts", []):
            assert Path(_in_pod(root, o["path"])).exists(), f"task {name} did not write {o['path']}"
        for p in template.get("outputs", {}).get("parameters", []):
            text = Path(_in_pod(root, p["valueFrom"]["path"])).read_text(encoding="utf-8")
            metrics.setdefault(name, {})[p["name"]] = float(text)
        if template.get("outputs", {}).get("parameters"):
            logged = json.loads(Path(_in_pod(root, "/tmp/kfpj/outputs/metrics.json")).read_text())
            assert logged == metrics[name]
    return metrics
