"""Turn a cell's IPython source into plain Python that runs in a step program.

Line magics and shell escapes (`%matplotlib inline`, `!pip install x`) have no meaning outside a
kernel, so they are kept as comments (line numbers stay the same, so errors still point at the
right line of the cell). Cell magics whose body is Python (`%%time`) lose their first line; other
cell magics (`%%bash`, `%%writefile`) leave the whole cell out of the step, with a warning.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

PYTHON_BODY_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}


@dataclass(frozen=True)
class PythonSource:
    code: str
    #: human-readable notes about what was left out
    notes: tuple[str, ...] = ()


def _comment(line: str) -> str:
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    return f"{indent}# (IPython, left out) {stripped}"


def to_python(source: str) -> PythonSource:
    lines = source.split("\n")
    first = lines[0].lstrip() if lines else ""
    notes: list[str] = []
    if first.startswith("%%"):
        magic = first[2:].split(None, 1)[0] if first[2:].strip() else ""
        if magic in PYTHON_BODY_CELL_MAGICS:
            lines[0] = _comment(lines[0])
            notes.append(f"cell magic %%{magic} left out; its Python body runs as is")
        else:
            notes.append(f"cell magic %%{magic} is not Python; the cell is left out of the step")
            return PythonSource("\n".join(_comment(ln) if ln.strip() else ln for ln in lines), tuple(notes))
    code = "\n".join(lines)
    try:
        ast.parse(code)
        return PythonSource(code, tuple(notes))
    except SyntaxError:
        pass
    changed = False
    for i, line in enumerate(lines):
        s = line.lstrip()
        if s.startswith(("%", "!")) or (s.endswith("?") and not s.startswith("#") and s[:-1].strip().replace(".", "").isidentifier()):
            lines[i] = _comment(line)
            changed = True
        elif "= !" in s or "=!" in s:
            lines[i] = _comment(line)
            changed = True
    if changed:
        notes.append("IPython magics and shell commands left out (they only work in a kernel)")
    return PythonSource("\n".join(lines), tuple(notes))
