"""Turn a cell's IPython source into plain Python that runs in a step program.

Line magics and shell escapes (`%matplotlib inline`, `!pip install x`) have no meaning outside a
kernel, so they are kept as comments (line numbers stay the same, so errors still point at the
right line of the cell). `%time STATEMENT` keeps its statement, because the notebook ran it.
Cell magics whose body is Python (`%%time`) lose their first line; other cell magics (`%%bash`,
`%%writefile`) leave the whole cell out of the step, with a warning: every line becomes a plain
comment, as their body is not Python (its indentation means nothing to Python).

The analysis reads two kinds of left-out lines back (`pip_lines`, `written_file`): a pip install
states the step's requirements, and `%%writefile helper.py` writes a module steps may import.

Only lines that start a statement are IPython syntax: a line starting with `%` or `!` inside a
multi-line string or inside brackets is data and stays as it is.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass

PYTHON_BODY_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
#: line magics whose argument is a statement the notebook executed (in the user's namespace)
STATEMENT_LINE_MAGICS = frozenset({"time", "prun"})

#: a line IPython reads differently has one of these (a magic, a shell escape, help); most cells
#: have none, and then are returned as they are without parsing them
_MAYBE_IPYTHON = re.compile(r"[%!?]")
_HELP_RE = re.compile(r"^\??[A-Za-z_][\w.]*\?{1,2}$")
_SHELL_ASSIGN_RE = re.compile(r"^[A-Za-z_][\w]*(\s*,\s*[A-Za-z_]\w*)*\s*=\s*[!%]")


@dataclass(frozen=True)
class PythonSource:
    code: str
    #: human-readable notes about what was left out
    notes: tuple[str, ...] = ()


#: what an IPython line left out of the code becomes: `# (IPython, left out) !pip install x`
LEFT_OUT = "# (IPython, left out) "
_LEFT_OUT_RE = re.compile(r"^\s*(?:pass  )?" + re.escape(LEFT_OUT) + r"(.*)$")
#: the line of a non-Python cell magic left out: `# (%%writefile, left out) %%writefile helper.py`
_CELL_LEFT_OUT_RE = re.compile(r"^# \(%%(\w*), left out\) (.*)$")

#: how a notebook runs pip: `!pip install`, `%pip install`, `!python -m pip install`,
#: `!{sys.executable} -m pip install`; then pip's own options, then its command
_PIP_RE = re.compile(
    r"^(?:[!%]\s*pip[\d.]*|!\s*(?:python[\d.]*|\{sys\.executable\}|\"\{sys\.executable\}\")"
    r"\s+-m\s+pip)\s+(.*)$"
)
#: pip's general options that take a value (`!pip --timeout 60 install x`)
_PIP_GENERAL_VALUED = frozenset({"--proxy", "--retries", "--timeout", "--cache-dir", "--log"})
#: a shell operator ends the pip command (`!pip install x && echo done`, `x; import x`, `2>&1`)
_SHELL_OPS = frozenset(";|&<>")


def _comment(line: str) -> str:
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    # Inside a block a comment alone would leave the block empty; `pass` keeps it valid.
    return f"{indent}{'pass  ' if indent else ''}{LEFT_OUT}{stripped}"


def _cell_comment(magic: str, line: str) -> str:
    """A line of a cell whose magic makes it not Python, as a comment that starts the line:
    `pass` or an indent would make Python read it, and refuse an indented shell line."""
    return f"# (%%{magic}, left out) {line}" if line.strip() else line


def pip_install_args(line: str) -> list[str] | None:
    """What follows `install` on a pip line as IPython runs it (`!pip install -q x==1` ->
    ['-q', 'x==1']), up to a shell operator; None for a line that runs no `pip install`."""
    m = _PIP_RE.match(line.strip())
    if m is None:
        return None
    text = re.sub(r"(^|\s)#.*$", "", m.group(1))  # a comment; `x.git#egg=x` is no comment
    text = _before_shell_operator(text)
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in _PIP_GENERAL_VALUED else 1
    if i >= len(words) or words[i] != "install":
        return None
    return words[i + 1 :]


def _before_shell_operator(text: str) -> str:
    """`text` up to its first shell operator outside quotes, glued to a word or not: the shell
    ends the pip command there (`numpy; import numpy`, `x>=1` is `x` written to a file `=1`); a
    redirection's file descriptor (`2>&1`) goes with it."""
    quote = ""
    escaped = False
    for at, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _SHELL_OPS:
            fd = re.search(r"(?:^|(?<=\s))\d+$", text[:at]) if char in "<>" else None
            return text[: fd.start() if fd else at]
    return text


def pip_lines(code: str) -> list[tuple[str, list[str]]]:
    """The pip installs that `to_python` left out of `code`: (the line as written, the
    arguments of its `install`)."""
    if LEFT_OUT not in code:
        return []
    out: list[tuple[str, list[str]]] = []
    for line in code.split("\n"):
        m = _LEFT_OUT_RE.match(line)
        args = pip_install_args(m.group(1)) if m else None
        if m and args is not None:
            out.append((m.group(1).strip(), args))
    return out


def written_file(code: str) -> str | None:
    """The path a `%%writefile PATH` cell writes, from the code `to_python` made of it."""
    if "%%writefile" not in code and "%%file" not in code:
        return None
    first = next((ln for ln in code.split("\n") if ln.strip()), "")
    m = _CELL_LEFT_OUT_RE.match(first)
    if m is None or m.group(1) not in ("writefile", "file"):
        return None
    try:
        words = shlex.split(m.group(2))[1:]
    except ValueError:
        return None
    paths = [w for w in words if not w.startswith("-")]
    return paths[0] if paths else None


def statement_starts(lines: list[str]) -> list[bool]:
    """For each line: does a new statement start on it (not inside a string, brackets or `\\`)?

    A small scanner rather than `tokenize`, because the text is not Python yet: tokenize stops at
    the first IPython line it cannot read (`!echo it's done`).
    """
    starts: list[bool] = []
    depth = 0
    quote: str | None = None  # the open string's quote, while inside a multi-line string
    continued = False
    for line in lines:
        starts.append(quote is None and depth == 0 and not continued)
        s = line.lstrip()
        if starts[-1] and s.startswith(("%", "!")):
            continued = False  # IPython's own line; its text is not Python
            continue
        continued = False
        i, n = 0, len(line)
        while i < n:
            c = line[i]
            if quote is not None:
                if c == "\\":
                    i += 2
                    continue
                if line.startswith(quote, i):
                    i += len(quote)
                    quote = None
                    continue
                i += 1
                continue
            if c == "#":
                break
            if c in "\"'":
                q = c * 3 if line.startswith(c * 3, i) else c
                quote = q
                i += len(q)
                continue
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth = max(0, depth - 1)
            elif c == "\\" and i == n - 1:
                continued = True
            i += 1
        if quote is not None and len(quote) == 1:
            quote = None  # an unterminated one-line string ends with its line
    return starts


def _ipython_line(stripped: str) -> bool:
    if stripped.startswith(("%", "!")):
        return True
    if _SHELL_ASSIGN_RE.match(stripped):
        return True
    return bool(_HELP_RE.match(stripped)) and not stripped.startswith("#")


def _replacement(line: str) -> str:
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith("%") and not stripped.startswith("%%"):
        name, _, rest = stripped[1:].partition(" ")
        if name in STATEMENT_LINE_MAGICS and rest.strip():
            try:
                ast.parse(rest.strip())
            except SyntaxError:
                return _comment(line)
            return f"{indent}{rest.strip()}  # (IPython %{name} left out)"
    return _comment(line)


def to_python(source: str) -> PythonSource:
    lines = source.split("\n")
    notes: list[str] = []
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].lstrip()[2:].split(None, 1)
        magic = words[0] if words else ""
        if magic in PYTHON_BODY_CELL_MAGICS:
            lines[first] = _comment(lines[first])
            notes.append(f"cell magic %%{magic} left out; its Python body runs as is")
        else:
            notes.append(f"cell magic %%{magic} is not Python; the cell is left out of the step")
            return PythonSource("\n".join(_cell_comment(magic, ln) for ln in lines), tuple(notes))
    code = "\n".join(lines)
    if not _MAYBE_IPYTHON.search(code):  # what every IPython line needs: nothing to change
        return PythonSource(code, tuple(notes))
    try:
        ast.parse(code)
        return PythonSource(code, tuple(notes))
    except SyntaxError:
        pass
    changed = False
    for i, starts in enumerate(statement_starts(lines)):
        if starts and _ipython_line(lines[i].lstrip()):
            # a pip install is left out too, but read back as requirements (with its own note)
            changed = changed or pip_install_args(lines[i]) is None
            lines[i] = _replacement(lines[i])
    if changed:
        notes.append("IPython magics and shell commands left out (they only work in a kernel)")
    return PythonSource("\n".join(lines), tuple(notes))
