"""The roles a code cell can play and the names tags and magics give them.

Kept apart from the parsers so the tag grammar, the magic grammar and the writers that turn one
into the other agree on one table of names.
"""

from __future__ import annotations

import re
from enum import Enum


class Role(str, Enum):
    STEP = "step"
    IMPORTS = "imports"
    FUNCTIONS = "functions"
    PARAMETERS = "pipeline-parameters"
    METRICS = "pipeline-metrics"
    SKIP = "skip"
    CONTINUE = "continue"


#: Tags that name a role with no argument, and their magic names.
ROLE_TAGS: dict[str, Role] = {
    "imports": Role.IMPORTS,
    "functions": Role.FUNCTIONS,
    "pipeline-parameters": Role.PARAMETERS,
    "pipeline-metrics": Role.METRICS,
    "skip": Role.SKIP,
    # papermill's tag means the same thing as ours, so papermill notebooks work unchanged.
    "parameters": Role.PARAMETERS,
}
ROLE_MAGICS: dict[str, Role] = {
    "step": Role.STEP,
    "imports": Role.IMPORTS,
    "functions": Role.FUNCTIONS,
    "pipeline_parameters": Role.PARAMETERS,
    "pipeline_metrics": Role.METRICS,
    "skip": Role.SKIP,
    # steps that are not Python: a reusable component, a container, a Kubernetes resource
    "component": Role.STEP,
    "container": Role.STEP,
    "resource": Role.STEP,
    # a step that executes a whole notebook
    "notebook": Role.STEP,
}
#: The magics of steps that are not Python code, by step kind.
KIND_MAGICS = ("component", "container", "resource", "notebook")
MAGIC_OF_ROLE: dict[Role, str] = {v: k for k, v in ROLE_MAGICS.items() if k not in KIND_MAGICS}
TAG_OF_ROLE: dict[Role, str] = {
    Role.IMPORTS: "imports",
    Role.FUNCTIONS: "functions",
    Role.PARAMETERS: "pipeline-parameters",
    Role.METRICS: "pipeline-metrics",
    Role.SKIP: "skip",
}

RESOURCE_ACTIONS = ("create", "apply", "delete")

STEP_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def suggest_step_name(name: str) -> str:
    s = re.sub(r"[^a-z0-9_-]+", "-", name.strip().lower()).strip("-_")
    if not s or not s[0].isalpha():
        s = "step-" + s
    return s[:63].rstrip("-_") or "step"


def step_name_problem(name: str) -> str | None:
    """Why `name` cannot be a step name (it must work as a KFP task, an Argo template and a Python name)."""
    if STEP_NAME_RE.match(name) and not name.endswith(("-", "_")):
        return None
    return (
        f"invalid step name {name!r}: use lowercase letters, digits, '-' and '_', starting with a letter "
        f"(at most 63 characters), e.g. {suggest_step_name(name)!r}"
    )
