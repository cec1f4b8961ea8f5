"""What KFP calls things: task, component and executor names, and the IR's artifact types.

The type tables themselves (Python, v1 and IR names of each type) live in components/spec.py.

The pipeline IR names every task after its component, made fit for Kubernetes (lowercase letters,
digits and '-'), and numbers repeats (`a-b`, `a-b-2`). The same rules give the same names as the
kfp SDK gives to the `dsl` script's tasks, so both targets name a step's task alike.
"""

from __future__ import annotations

from ..shared import compact, unique_name

SCHEMA_VERSION = "0.0.1"


def unique(name: str, taken: set[str]) -> str:
    """A task's name, numbered when taken; `task` for a step whose name has no letter or digit."""
    return unique_name(name or "task", taken)


def artifact_type(schema_title: str) -> dict[str, object]:
    return {"artifactType": {"schemaTitle": schema_title, "schemaVersion": SCHEMA_VERSION}}


def io_definitions(
    inputs: dict[str, dict[str, object]], outputs: dict[str, dict[str, object]]
) -> dict[str, object]:
    return compact({"inputDefinitions": inputs, "outputDefinitions": outputs})


def struct_value(value: object) -> object:
    """A value as the IR holds it (protobuf's Value: every number is a double). A number it would
    change is refused before (`kfp_shared.check_kfp`) wherever a run would use it."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list | tuple):
        return [struct_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): struct_value(v) for k, v in value.items()}
    return str(value)
