"""Errors a user can act on.

Every problem found in a notebook is reported with where it is (cell, step) and what to do about it,
because the person reading it is in a notebook, not in our source code. Front ends turn these into
one message and exit status 2; anything else that escapes is an internal failure (exit 1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a notebook, located and with a suggested fix."""

    message: str
    cell: int | None = None
    step: str | None = None
    line: int | None = None
    fix: str | None = None

    def __str__(self) -> str:
        where = []
        if self.cell is not None:
            where.append(f"cell {self.cell}" + (f", line {self.line}" if self.line else ""))
        if self.step is not None:
            where.append(f"step '{self.step}'")
        text = (f"{' / '.join(where)}: " if where else "") + self.message
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def install_extra(extra: str) -> str:
    """How to add an optional part, in every message that needs one: kfp-jupyter is installed
    from a checkout (it is on no package index yet), so the extra goes on the checkout."""
    return f"pip install -e '.[{extra}]' in your kfp-jupyter checkout (the '{extra}' extra)"


class KfpJupyterError(Exception):
    """Base of errors caused by the user's input rather than by a bug in kfp-jupyter."""


class NotebookError(KfpJupyterError):
    """The notebook cannot become a pipeline; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        shown = self.problems[:10]
        lines = [str(p) for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"... and {len(self.problems) - len(shown)} more problems")
        return "\n".join(lines)


class UsageError(KfpJupyterError):
    """Invalid arguments from a front end (a bad target, a bad parameter value, ...).

    `fields`: the message for each named value that is wrong (e.g. each bad parameter), for
    front ends that show a message at its field; the error's text says it all as well."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})
