"""What KFP calls things: task, component and executor names, and the IR's type names.

The pipeline IR names every task after its component, made fit for Kubernetes (lowercase letters,
digits and '-'), and numbers repeats (`a-b`, `a-b-2`). The same rules give the same names as the
kfp SDK gives to the `dsl` script's tasks, so both targets name a step's task alike.
"""

from __future__ import annotations

import re

#: pipeline parameter types and value inputs/outputs -> the IR's parameterType
PARAMETER_TYPE: dict[str, str] = {
    "int": "NUMBER_INTEGER",
    "float": "NUMBER_DOUBLE",
    "str": "STRING",
    "bool": "BOOLEAN",
    "list": "LIST",
    "dict": "STRUCT",
}

#: v1 component type names (lowercased) that are one of KFP's artifact classes
ARTIFACT_SCHEMAS = {
    "artifact": "system.Artifact",
    "dataset": "system.Dataset",
    "model": "system.Model",
    "metrics": "system.Metrics",
    "classificationmetrics": "system.ClassificationMetrics",
    "slicedclassificationmetrics": "system.SlicedClassificationMetrics",
    "html": "system.HTML",
    "markdown": "system.Markdown",
}
SCHEMA_VERSION = "0.0.1"


def k8s_name(name: str) -> str:
    """A name as Kubernetes allows it: `Train_Model 2` -> `train-model-2`."""
    return re.sub("-+", "-", re.sub("[^-0-9a-z]+", "-", name.lower())).strip("-")


def unique(name: str, taken: set[str]) -> str:
    """`name`, or the first of `name-2`, `name-3`, ... not yet taken (which it then takes)."""
    name = name or "task"
    candidate, index = name, 2
    while candidate in taken:
        candidate = f"{name}-{index}"
        index += 1
    taken.add(candidate)
    return candidate


def artifact_type(schema_title: str) -> dict[str, object]:
    return {"artifactType": {"schemaTitle": schema_title, "schemaVersion": SCHEMA_VERSION}}


def artifact_schema(type_name: str | None) -> str:
    """The schema title of an artifact input or output: a v2 spec names it (`system.Dataset`), a
    v1 spec names a type that may be one of KFP's artifact classes (`Model`); others are plain."""
    if not type_name:
        return "system.Artifact"
    if "." in type_name:
        return type_name.split("@")[0]
    return ARTIFACT_SCHEMAS.get(type_name.lower(), "system.Artifact")


def io_definitions(
    inputs: dict[str, dict[str, object]], outputs: dict[str, dict[str, object]]
) -> dict[str, object]:
    """A component's `inputDefinitions` and `outputDefinitions`, each only when not empty."""
    out: dict[str, object] = {}
    if inputs:
        out["inputDefinitions"] = inputs
    if outputs:
        out["outputDefinitions"] = outputs
    return out


def struct_value(value: object) -> object:
    """A value as the IR holds it (protobuf's Value: every number is a double)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple):
        return [struct_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): struct_value(v) for k, v in value.items()}
    return str(value)
