"""The step runtime as text: read from the files whose code is copied into every step program
(stepruntime.py, stepmain.py, stepfailure.py, notebookrun.py), and indented into a function body
without changing what its strings hold. program.py assembles a step from these pieces.
"""

from __future__ import annotations

import ast
import io
import tokenize
from functools import cache, lru_cache
from pathlib import Path

from ..model import PYTHON_BUILTINS

INDENT = "    "
#: the folder of the runtime files (plain files of this package, as installed)
_HERE = Path(__file__).parent

#: the runtime's names that the generated code calls (the others are the runtime's own helpers)
_ENTRIES = frozenset(
    {
        *("_KfpjError", "_kfpj_as_main", "_kfpj_save", "_kfpj_load", "_kfpj_export"),
        *("_kfpj_like", "_kfpj_metric", "_kfpj_run_notebook"),
    }
)
#: builtins that every Python a step may run on has (not those of a newer Python, `site`'s or a
#: kernel's): what a step program may import from `builtins`
SURE_BUILTINS = frozenset(n for n in PYTHON_BUILTINS if not n.startswith("_")) - {
    *("True", "False", "None", "aiter", "anext", "EncodingWarning", "ExceptionGroup"),
    *("BaseExceptionGroup", "PythonFinalizationError", "copyright", "credits", "exit"),
    *("help", "license", "quit", "display", "get_ipython"),
}


@cache
def _runtime_section(name: str, file: str = "stepruntime.py") -> str:
    text = _HERE.joinpath(file).read_text(encoding="utf-8")
    start = text.index(f"# --- {name}: start")
    start = text.index("\n", start) + 1
    end = text.index(f"# --- {name}: end")
    return text[start:end].strip("\n") + "\n"


@cache
def notebook_runtime() -> str:
    """The code that executes a notebook step's notebook (notebookrun.py, between its markers)."""
    text = _HERE.joinpath("notebookrun.py").read_text(encoding="utf-8")
    start = text.index("\n", text.index("# --- notebook: start")) + 1
    return text[start : text.index("# --- notebook: end")].strip("\n") + "\n"


@cache
def _runtime_parts() -> dict[str, str]:
    parts: dict[str, str] = {}
    for chunk in _runtime_section("inner").split("# --- part: ")[1:]:
        name, _, code = chunk.partition("\n")
        parts[name.strip()] = code.strip("\n") + "\n"
    return parts


def inner_parts(*parts: str) -> tuple[str, ...]:
    """The runtime parts a step needs (all of them when none are named), in the file's order."""
    available = _runtime_parts()
    names = ["error", *(p for p in available if p != "error" and (not parts or p in parts))]
    return tuple(available[n] for n in names)


def inner_runtime(*parts: str) -> str:
    """The runtime parts a step needs, as one text."""
    return "\n\n".join(inner_parts(*parts))


@cache
def _names_of(piece: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The functions and classes a piece of the runtime defines, in order, and the builtins it
    uses. Each piece is parsed once per process, whichever pieces a step combines it with."""
    tree = ast.parse(piece)
    defined = tuple(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} & SURE_BUILTINS
    return defined, frozenset(used)


@cache
def shielded_runtime(*pieces: str) -> str:
    """Runtime pieces (joined by a blank line) as the body of a function of their own that
    imports the builtins they use, then the names the generated code calls bound from it. Defined
    right in a step's function, the runtime's functions would find the step's variables where
    they mean builtins (`type = kind.upper()` hides `type` from every function nested in the
    step's); the step's code may name its variables as a notebook may."""
    code = "\n\n".join(pieces)
    names_of = [_names_of(p) for p in pieces]
    used = set().union(*(u for _, u in names_of))
    entries = [n for defined, _ in names_of for n in defined if n in _ENTRIES]
    head = "def _kfpj_runtime():\n"
    if used:
        head += indent_code(from_builtins(sorted(used)))
    names = ", ".join(entries)
    call = "_kfpj_runtime()"
    if len(names) + len(call) + 3 > 90:
        names = "(\n" + "".join(f"{INDENT}{n},\n" for n in entries) + ")"
    body = indent_code(code.rstrip() + f"\n\nreturn {names}")
    return f"{head}\n{body}\n\n\n{names} = {call}\n"


def from_builtins(names: list[str]) -> str:
    """`from builtins import NAMES`, wrapped to lines that fit."""
    one = f"from builtins import {', '.join(names)}\n"
    if len(one) <= 90:
        return one
    lines, line = [], ""
    for name in names:
        if line and len(line) + len(name) + 2 > 86:
            lines.append(line.rstrip())
            line = ""
        line += name + ", "
    lines.append(line.rstrip())
    return "from builtins import (\n" + "".join(f"{INDENT}{ln}\n" for ln in lines) + ")\n"


def outer_runtime() -> str:
    """The main of a plain step program, then its error reporting: always both, in this order,
    so each program stands alone and the same notebook compiles to the same bytes."""
    return (
        _runtime_section("outer", "stepmain.py")
        + "\n\n"
        + _runtime_section("failure", "stepfailure.py")
    )


def _string_continuation_lines(code: str) -> set[int]:
    """1-based numbers of lines that lie inside a multi-line string (indenting them would change it)."""
    rows: set[int] = set()
    # no string can span lines: skip tokenizing (much of packaging a large notebook)
    if '"""' not in code and "'''" not in code and "\\\n" not in code:
        return rows
    kinds = {tokenize.STRING} | {
        getattr(tokenize, "FSTRING_MIDDLE", -1),
        getattr(tokenize, "TSTRING_MIDDLE", -1),
    }
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in kinds and tok.end[0] > tok.start[0]:
                rows.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return rows


@lru_cache(maxsize=4096)
def indent_code(code: str) -> str:
    """Indent code into a function body without changing the value of multi-line strings."""
    keep = _string_continuation_lines(code)
    out = []
    for i, line in enumerate(code.split("\n"), start=1):
        out.append(line if (i in keep or not line.strip()) else INDENT + line)
    return "\n".join(out)
