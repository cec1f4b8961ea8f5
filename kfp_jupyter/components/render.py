"""Fill in a component's placeholders: its command line for Argo (as Argo expressions) and for a
local run (as values and paths on this machine).

Values are written as KFP passes them on a command line: strings as they are, booleans as
true/false, numbers as Python writes them, lists and dicts as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..params import value_text
from .spec import (
    Concat,
    IfPresent,
    InputPath,
    InputValue,
    OutputPath,
    Part,
    Unsupported,
)

if TYPE_CHECKING:
    from ..model import Argument, ComponentCall


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


def call_filler(
    call: ComponentCall,
    passed: Callable[[Argument], str],
    input_path: Callable[[Argument], str],
    output_path: Callable[[str], str],
    unsupported: str,
) -> Filler:
    """How to fill a component call's placeholders, wherever it runs: literals and defaults as
    their text; `passed` gives the text of an input fed by a parameter or an earlier step,
    `input_path` the file of an input fed a file, `output_path` the file of an output variable."""
    args = {a.input: a for a in call.arguments}

    def value(key: str) -> str | None:
        a = args.get(key)
        if a is None:
            i = call.spec.input(key)
            return value_text(i.default) if i.has_default and i.default is not None else None
        return value_text(a.value) if a.kind == "literal" else passed(a)

    def path(key: str) -> str | None:
        a = args.get(key)
        return input_path(a) if a is not None and a.kind == "artifact" else None

    return Filler(value, path, lambda key: output_path(call.variable(key)), unsupported)


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
