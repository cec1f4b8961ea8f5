"""Typed pipeline parameters: from notebook literals, and from text given on a command line."""

from __future__ import annotations

import ast
import json
from typing import cast

from .model import PARAM_TYPES, ParamType


def type_of_literal(value: object) -> ParamType | None:
    """The parameter type of a Python literal, or None when it has no pipeline equivalent."""
    if isinstance(value, bool):
        return "bool"
    for py, name in ((int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict")):
        if isinstance(value, py):
            return cast(ParamType, name)
    return None


def json_problem(value: object, where: str = "the value") -> str | None:
    """Why `value` would not survive the trip through a pipeline (JSON), or None if it would."""
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return f"{where} is {value!r}, which JSON cannot hold"
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            why = json_problem(item, f"{where}[{i}]")
            if why:
                return why
        return None
    if isinstance(value, dict):
        for k, item in value.items():
            if not isinstance(k, str):
                return f"{where} has the key {k!r}; keys must be strings"
            why = json_problem(item, f"{where}[{k!r}]")
            if why:
                return why
        return None
    return f"{where} holds a {type(value).__name__} ({value!r})"


def parse_value(type_: ParamType, text: str) -> object:
    """Parse `text` as a value of `type_`; raise ValueError with a readable reason."""
    if type_ not in PARAM_TYPES:
        raise ValueError(f"unknown parameter type {type_!r}")
    if type_ == "str":
        return text
    if type_ == "bool":
        low = text.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{text!r} is not a bool (use true or false)")
    if type_ == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not an int") from None
    if type_ == "float":
        try:
            return float(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a float") from None
    # list / dict: JSON first (what other tools send), then a Python literal (what users type).
    value: object
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            example = "[1, 2]" if type_ == "list" else '{"a": 1}'
            raise ValueError(f"{text!r} is not a {type_} (give JSON, e.g. {example})") from None
    expected = list if type_ == "list" else dict
    if not isinstance(value, expected):
        raise ValueError(f"{text!r} is not a {type_}")
    return value
