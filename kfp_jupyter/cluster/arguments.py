"""A run's parameter values, typed and checked against the pipeline before anything is sent.

A cluster would accept a misspelt parameter name and ignore it, or fail the run an hour later on a
value of the wrong type; so both are refused here, on this machine, with the pipeline's own
parameter list in the message. Values may be typed Python values (the API) or text (`-p NAME=VALUE`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import Pipeline
from ..params import json_problem, parse_value
from .errors import InvalidSubmission


def _is(type_: str, value: object) -> bool:
    if type_ == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_ == "bool":
        return isinstance(value, bool)
    if type_ == "str":
        return isinstance(value, str)
    if type_ == "list":
        return isinstance(value, list)
    if type_ == "dict":
        return isinstance(value, dict)
    return False


def resolve_arguments(pipeline: Pipeline, given: Mapping[str, object] | None) -> dict[str, Any]:
    """Every parameter's value for the run: its default, or the value given, typed."""
    values: dict[str, Any] = {p.name: p.default for p in pipeline.parameters}
    known = {p.name: p for p in pipeline.parameters}
    for name, value in (given or {}).items():
        if name not in known:
            names = ", ".join(f"{p.name} ({p.type})" for p in pipeline.parameters) or "none"
            raise InvalidSubmission(
                f"unknown parameter {name!r}; the pipeline's parameters: {names}"
            )
        p = known[name]
        if isinstance(value, str) and p.type != "str":
            try:
                value = parse_value(p.type, value)
            except ValueError as e:
                raise InvalidSubmission(f"parameter {name!r} ({p.type}): {e}") from None
        if not _is(p.type, value):
            raise InvalidSubmission(
                f"parameter {name!r} must be a {p.type}, not {type(value).__name__} ({value!r})"
            )
        why = json_problem(value, f"parameter {name!r}")
        if why:
            raise InvalidSubmission(why)
        values[name] = float(value) if p.type == "float" else value  # type: ignore[arg-type]
    return values
