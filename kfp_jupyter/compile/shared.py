"""What the targets read off the pipeline model alike, so that they cannot drift apart.

All three targets group secrets and pod metadata alike; each target then only spells the result in
its own language. What only the two KFP targets share is in kfp_shared.py.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from typing import TYPE_CHECKING, TypeVar

from ..analysis.blocks import name_assignment
from ..errors import KfpJupyterError, Problem
from ..notebook.kale_compose import annotate_notebook
from ..notebook.reader import read_notebook
from ..notebook.roles import Role
from ..notebook.source import to_python

if TYPE_CHECKING:
    from ..model import Pipeline, Step

_T = TypeVar("_T")


def compact(d: dict[str, _T]) -> dict[str, _T]:
    """`d` without its empty values: the targets leave out a field that would be empty."""
    return {k: v for k, v in d.items() if v}


def k8s_name(text: str, limit: int | None = None) -> str:
    """`text` as Kubernetes allows a name (`Train_Model 2` -> `train-model-2`), cut to `limit`
    characters; "" if it has no letter or digit. The kfp SDK's rule, so that the `kfp` and `dsl`
    targets name tasks alike; Argo's names follow it too."""
    name = re.sub("-+", "-", re.sub("[^-0-9a-z]+", "-", text.lower())).strip("-")
    return name[:limit].rstrip("-") if limit is not None else name


def unique_name(name: str, taken: set[str], sep: str = "-", limit: int = 0) -> str:
    """`name`, or the first of `name-2`, `name-3`, ... not taken (which it then takes); with a
    `limit`, `name` is cut so that each numbered name fits in it."""
    candidate, n = name, 2
    while candidate in taken:
        suffix = f"{sep}{n}"
        base = name[: limit - len(suffix)].rstrip("-") if limit else name
        candidate, n = base + suffix, n + 1
    taken.add(candidate)
    return candidate


def is_python(step: Step) -> bool:
    """A step whose code is Python (a notebook step is a Python function too: one that executes
    the embedded notebook); the others run a component's container."""
    return step.kind in ("python", "notebook")


def pod_metadata(step: Step) -> dict[str, dict[str, str]]:
    return compact(
        {
            "annotations": dict(sorted(step.annotations.items())),
            "labels": dict(sorted(step.labels.items())),
        }
    )


def secrets_by_name(step: Step) -> list[tuple[str, dict[str, str]]]:
    by_secret: dict[str, dict[str, str]] = {}
    for s in step.secrets:
        by_secret.setdefault(s.secret, {})[s.key] = s.env
    return [(secret, dict(sorted(keys.items()))) for secret, keys in sorted(by_secret.items())]


def at_parameter_lines(pipeline: Pipeline, problems: list[tuple[str, Problem]]) -> list[Problem]:
    """`problems` (by parameter) at the line of the notebook's parameters cell that sets each.
    The model keeps no line of a parameter and only a refusal needs one, so the notebook is
    read again here; a pipeline without its notebook file keeps them where they are."""
    try:
        nb = read_notebook(pipeline.notebook) if pipeline.notebook else None
    except KfpJupyterError:
        nb = None
    if nb is None:
        return [p for _, p in problems]
    annotations, _, _, where = annotate_notebook(nb)
    places: dict[str, tuple[int, int]] = {}
    for a in annotations:
        if a.role != Role.PARAMETERS:
            continue
        try:
            tree = ast.parse(to_python(a.body).code)
        except SyntaxError:
            continue
        for node in tree.body:  # a later line (or cell) sets it again, as the analysis reads it
            target, _ = name_assignment(node)
            if target is not None:
                places[target.id] = (a.cell.index, node.lineno + a.offset)
    placed = [
        dataclasses.replace(p, cell=places[name][0], line=places[name][1]) if name in places else p
        for name, p in problems
    ]
    return where.locate(placed)
