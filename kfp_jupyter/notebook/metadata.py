"""Notebook-level settings: ours under metadata.kfp_jupyter, Kale's under metadata.kubeflow_notebook.

Ours win over Kale's; the CLI only fills in what neither says (never the other way round).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..model import DEFAULT_IMAGE

PIPELINE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")


def suggest_pipeline_name(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (s or "pipeline")[:128].rstrip("-")


@dataclass(frozen=True)
class NotebookSettings:
    name: str
    description: str = ""
    experiment: str | None = None
    image: str = DEFAULT_IMAGE
    packages: tuple[str, ...] = ()
    pipeline_root: str | None = None


def _str(d: dict[str, Any], *keys: str) -> str | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def read_settings(metadata: dict[str, Any], path: Path | None) -> tuple[NotebookSettings, list[Problem]]:
    problems: list[Problem] = []
    ours = metadata.get("kfp_jupyter") or {}
    kale = metadata.get("kubeflow_notebook") or {}
    if not isinstance(ours, dict):
        problems.append(Problem("notebook metadata 'kfp_jupyter' must be an object", fix="edit the notebook metadata"))
        ours = {}
    if not isinstance(kale, dict):
        kale = {}
    kale_exp = kale.get("experiment")
    kale_exp_name = kale_exp.get("name") if isinstance(kale_exp, dict) else None

    name = _str(ours, "name", "pipeline_name") or _str(kale, "pipeline_name")
    if name is None:
        name = suggest_pipeline_name(path.stem if path else "pipeline")
    elif not PIPELINE_NAME_RE.match(name):
        problems.append(
            Problem(
                f"invalid pipeline name {name!r} in the notebook metadata",
                fix=f"use lowercase letters, digits and '-', e.g. {suggest_pipeline_name(name)!r}",
            )
        )
    packages = ours.get("packages", [])
    if isinstance(packages, str):
        packages = [p.strip() for p in packages.split(",") if p.strip()]
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
        problems.append(Problem("notebook metadata 'kfp_jupyter.packages' must be a list of strings"))
        packages = []
    settings = NotebookSettings(
        name=name,
        description=_str(ours, "description") or _str(kale, "pipeline_description") or "",
        experiment=_str(ours, "experiment") or _str(kale, "experiment_name")
        or (kale_exp_name if isinstance(kale_exp_name, str) and kale_exp_name else None),
        image=_str(ours, "image", "default_image") or _str(kale, "docker_image") or DEFAULT_IMAGE,
        packages=tuple(packages),
        pipeline_root=_str(ours, "pipeline_root"),
    )
    return settings, problems
