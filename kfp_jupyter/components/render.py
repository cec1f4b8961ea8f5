"""Fill in a component's placeholders: its command line for Argo (as Argo expressions) and for a
local run (as values and paths on this machine).

Values are written as KFP passes them on a command line: strings as they are, booleans as
true/false, numbers as Python writes them, lists and dicts as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .spec import (
    Concat,
    IfPresent,
    InputPath,
    InputValue,
    OutputPath,
    Part,
    Unsupported,
)


class RenderError(ValueError):
    pass


@dataclass(frozen=True)
class Filler:
    """How to fill each placeholder; `value` and `input_path` give None for an absent input."""

    value: Callable[[str], str | None]
    input_path: Callable[[str], str | None]
    output_path: Callable[[str], str]
    #: what to say where a placeholder only KFP understands is met
    unsupported: str = "only KFP can fill it in"


def render(parts: tuple[Part, ...], fill: Filler) -> list[str]:
    out: list[str] = []
    for p in parts:
        out += _render(p, fill)
    return out


def render_one(part: Part, fill: Filler) -> str:
    return "".join(_render(part, fill))


def _present(key: str, fill: Filler) -> bool:
    return fill.value(key) is not None or fill.input_path(key) is not None


def _render(p: Part, fill: Filler) -> list[str]:
    if isinstance(p, str):
        return [p]
    if isinstance(p, InputValue):
        v = fill.value(p.input)
        if v is None:
            raise RenderError(
                f"input {p.input!r} has no value (it is optional, but the command uses it "
                "outside an 'if present' condition)"
            )
        return [v]
    if isinstance(p, InputPath):
        path = fill.input_path(p.input)
        if path is None:
            raise RenderError(f"input {p.input!r} has no file (it is optional and not given)")
        return [path]
    if isinstance(p, OutputPath):
        return [fill.output_path(p.output)]
    if isinstance(p, Concat):
        return ["".join(s for q in p.parts for s in _render(q, fill))]
    if isinstance(p, IfPresent):
        chosen = p.then if _present(p.input, fill) else p.otherwise
        return [s for q in chosen for s in _render(q, fill)]
    assert isinstance(p, Unsupported)
    raise RenderError(f"the placeholder {p.text} cannot be used here: {fill.unsupported}")
