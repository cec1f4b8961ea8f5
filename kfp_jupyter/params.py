"""Typed pipeline parameters: from notebook literals, and from text given on a command line."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol, cast

#: the types a pipeline parameter can have (those KFP's IR has for values)
ParamType = Literal["int", "float", "str", "bool", "list", "dict"]
PARAM_TYPES: tuple[ParamType, ...] = ("int", "float", "str", "bool", "list", "dict")


def type_of_literal(value: object) -> ParamType | None:
    """The parameter type of a Python literal, or None when it has no pipeline equivalent."""
    if isinstance(value, bool):
        return "bool"
    for py, name in ((int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict")):
        if isinstance(value, py):
            return cast(ParamType, name)
    return None


#: the parameter type to write instead of a literal of another type
_INSTEAD: dict[type, str] = {
    tuple: "a list instead of a tuple",
    set: "a list instead of a set",
    bytes: "a str",
}


def type_fix(name: str, value: object) -> str:
    """What to write instead of a literal no parameter type holds, for that value: None has no
    type of its own, so it takes a stand-in of the type the step expects."""
    if value is None:
        local = name.lower() if name.lower() != name else f"{name}_or_none"
        return (
            f"give {name} a value of the type the step expects that stands for 'not set' "
            f"(e.g. {name} = 0 or {name} = ''), and turn it back into None in the step: "
            f"{local} = {name} or None"
        )
    return f"use one of those types ({_INSTEAD.get(type(value), 'e.g. a list instead of a tuple')})"


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


def value_text(value: object) -> str:
    """A value as text on a command line or in an Argo parameter, which the step program (and
    `parse_value`) reads back: true/false, numbers and strings as they are, lists and dicts as
    JSON where that is exact, else as a Python literal (a tuple inside, int keys, ...)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        if json.loads(text) == value:
            return text
    except (TypeError, ValueError):
        pass
    return repr(value)


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


class ParameterError(ValueError):
    """A run's parameter values do not fit the pipeline (unknown name, wrong type).

    `problems` says what is wrong with each named value, so that a form can show each message
    at its field; the text is every message, one per line."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("\n".join(self.problems.values()))


class _Declared(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def default(self) -> object: ...


_CHECKS: dict[str, Callable[[object], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
}


def resolve_values(
    parameters: Iterable[_Declared], given: Mapping[str, object] | None
) -> dict[str, Any]:
    """Every parameter's value for a run (local or on a cluster): its default, or the value given
    (a typed value, or text as typed after `-p NAME=`), checked before anything runs or is sent."""
    declared = list(parameters)
    values: dict[str, Any] = {p.name: p.default for p in declared}
    known = {p.name: p for p in declared}
    problems: dict[str, str] = {}
    for name, value in (given or {}).items():
        try:
            values[name] = _checked(known, name, value)
        except ValueError as e:
            problems[name] = str(e)
    if problems:
        raise ParameterError(problems)
    return values


def _checked(known: Mapping[str, _Declared], name: str, value: object) -> object:
    """`value` as parameter `name` holds it; ValueError (the message) if it does not fit."""
    if name not in known:
        names = ", ".join(f"{p.name} ({p.type})" for p in known.values()) or "none"
        raise ValueError(f"unknown parameter {name!r}; the pipeline's parameters: {names}")
    p = known[name]
    if isinstance(value, str) and p.type != "str":
        try:
            value = parse_value(cast(ParamType, p.type), value)
        except ValueError as e:
            raise ValueError(f"parameter {name!r} ({p.type}): {e}") from None
    check = _CHECKS.get(p.type)
    if check is None or not check(value):
        raise ValueError(
            f"parameter {name!r} must be a {p.type}, not {type(value).__name__} ({value!r})"
        )
    why = json_problem(value, f"parameter {name!r}")
    if why:
        raise ValueError(why)
    return float(cast(float, value)) if p.type == "float" else value
