"""Validate an Argo Workflow strictly against Argo's official JSON schema (tests/data/argo/schema.json).

The published schema lets any unknown field through, so a misspelt `retryStratgy` would pass. Here every
object definition that lists its properties forbids the others, and the two Kubernetes types the
schema calls strings (IntOrString, Quantity) also take numbers, as the API server does.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).parent / "data" / "argo" / "schema.json"
WORKFLOW = "io.argoproj.workflow.v1alpha1.Workflow"
API_VERSION = "argoproj.io/v1alpha1"

_NUMBER_TOO = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["string", "integer"]},
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["string", "number"]},
}


class WorkflowSchemaError(ValueError):
    """The document is not a valid Workflow; the message lists each problem with its path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid Argo Workflow:\n" + "\n".join(f"  {p}" for p in problems))


def _forbid_unknown(node: Any) -> None:
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _forbid_unknown(value)
    elif isinstance(node, list):
        for value in node:
            _forbid_unknown(value)


def strict_schema() -> dict[str, Any]:
    """The official schema made strict, with a Workflow at its root."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    definitions = schema["definitions"]
    _forbid_unknown(definitions)
    for name, replacement in _NUMBER_TOO.items():
        description = definitions[name].get("description")
        definitions[name] = dict(
            replacement, **({"description": description} if description else {})
        )
    schema.pop("oneOf", None)
    schema["$ref"] = f"#/definitions/{WORKFLOW}"
    return schema


@cache
def _validator() -> Draft202012Validator:
    schema = strict_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


def validate_workflow(doc: dict[str, Any]) -> None:
    """Raise WorkflowSchemaError (with the path of each problem) unless `doc` is a valid Workflow."""
    problems = []
    for error in sorted(
        _validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]
    ):
        problems.append(f"{_path(error.absolute_path)}: {error.message}")
    if isinstance(doc, dict):
        if doc.get("apiVersion") != API_VERSION:
            problems.append(f"apiVersion: {doc.get('apiVersion')!r} is not {API_VERSION!r}")
        if doc.get("kind") != "Workflow":
            problems.append(f"kind: {doc.get('kind')!r} is not 'Workflow'")
    if problems:
        raise WorkflowSchemaError(problems)
