"""Checked access to the fields of a parsed component spec, shared by the v1 and v2 readers.

A spec is usually someone else's file, so every mistake is reported with the field it is in
(`inputs[1].name`, `implementation.container.args[2]`); both formats' readers raise `Invalid`
through these helpers, and loader.py turns it into the user's error.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from .spec import ComponentSpec, OutputPath, walk


class Invalid(Exception):
    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


def kind(value: object) -> str:
    return {
        dict: "mapping",
        list: "list",
        str: "string",
        int: "number",
        float: "number",
        bool: "boolean",
    }.get(type(value), type(value).__name__)


def mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(where, f"must be a mapping, not a {kind(value)}")
    return value


def listing(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise Invalid(where, f"must be a list, not a {kind(value)}")
    return value


def text(doc: Mapping[str, Any], key: str, where: str, required: bool = False) -> str | None:
    value = doc.get(key)
    at = f"{where}.{key}" if where else key
    if value is None:
        if required:
            raise Invalid(at, "is missing")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise Invalid(at, f"must be a non-empty string, not {value!r}")
    return value


def required_text(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = text(doc, key, where, required=True)
    assert value is not None
    return value


def known(doc: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in doc:
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(keys)}"
            at = f"{where}.{key}" if where else str(key)
            raise Invalid(at, f"unknown field ({hint})")


def choices(names: Mapping[str, object]) -> str:
    return (
        f" (the names are: {', '.join(repr(n) for n in names)})" if names else " (there are none)"
    )


def check_uses(spec: ComponentSpec, where: str) -> None:
    """Every output must be handed to the program, or it could never be written."""
    if spec.unsupported():
        return  # e.g. `{{$}}`: KFP's executor gets every path from its input, not the command line
    written = {p.output for p in walk(spec.parts) if isinstance(p, OutputPath)}
    for o in spec.outputs:
        if o.key not in written:
            raise Invalid(
                where,
                f"output {o.name!r} is never given to the program: no {{outputPath: {o.name}}} "
                "in its command, args or env",
            )
