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
from .spec import Part, PartVisitor

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
    filled = _Render(fill)
    return [s for p in parts for s in filled.visit(p)]


def render_one(part: Part, fill: Filler) -> str:
    return "".join(_Render(fill).visit(part))


@dataclass(frozen=True)
class _Render(PartVisitor[list[str]]):
    """A placeholder as the arguments it fills in to: an `if present`, those of the branch that
    applies, so the other may use an input that has no value."""

    fill: Filler

    def text(self, text: str) -> list[str]:
        return [text]

    def input_value(self, key: str) -> list[str]:
        v = self.fill.value(key)
        if v is None:
            raise RenderError(
                f"input {key!r} has no value (it is optional, but the command uses it "
                "outside an 'if present' condition)"
            )
        return [v]

    def input_path(self, key: str) -> list[str]:
        path = self.fill.input_path(key)
        if path is None:
            raise RenderError(f"input {key!r} has no file (it is optional and not given)")
        return [path]

    def output_path(self, key: str) -> list[str]:
        return [self.fill.output_path(key)]

    def concat(self, parts: list[list[str]]) -> list[str]:
        return ["".join(s for part in parts for s in part)]

    def if_present(
        self, key: str, then: tuple[Part, ...], otherwise: tuple[Part, ...]
    ) -> list[str]:
        present = self.fill.value(key) is not None or self.fill.input_path(key) is not None
        return render(then if present else otherwise, self.fill)

    def unsupported(self, text: str) -> list[str]:
        raise RenderError(f"the placeholder {text} cannot be used here: {self.fill.unsupported}")
