"""Cache keys: a task may reuse an earlier task's outputs when nothing that decides them changed.

Like KFP's cache, the key covers the step's program, the content of its inputs, its parameter
values and its packages and image. Three differences, all in the user's favour:
- the program is compared without its `# cell N` markers, so adding a cell above a step (which
  renumbers the cells below) does not invalidate it, but any change of its code does;
- inputs are compared by content digest, not by the upstream task's identity, so a step whose
  edit leaves its outputs unchanged does not force its downstream to re-run;
- the program is compared without the bodies of the functions cell's helpers the step cannot
  call (`functions_in_key`), so editing a helper re-runs only the steps that use it.
The installed version of each declared package is part of the key: upgrading scikit-learn on
this machine re-runs the steps that use it. So is the content of each module beside the notebook
that the step imports (`from features import add_features` with features.py there, or in a
folder a literal `sys.path.insert(0, "src")` names): editing it re-runs the step. It is taken
when the run is planned; a step that finds it changed once it has succeeded (an edit during the
run, or before `runs resume`) is not recorded under the key
(runner.py). Data files a step opens by path are not in the key: it cannot know what they are.
A dict parameter's key order, which a step sees, is kept although the key's JSON sorts keys.

Keys are BLAKE3 digests of their JSON (format 2). A key of format 1 (sha256, inputs named by
their sha256) is never computed again: such a step runs once more, then is cached under the new
key.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .digest import ALGORITHM, new_hasher

if TYPE_CHECKING:
    from .plan import PlanStep

KEY_FORMAT = 2


_CELL_MARKER = re.compile(r"^[ \t]*# cell \d+(, line \d+)?( of .+)?[ \t]*$", re.MULTILINE)


@lru_cache(maxsize=1024)
def program_fingerprint(program: str) -> str:
    return hashlib.sha256(_CELL_MARKER.sub("", program).encode()).hexdigest()


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@lru_cache(maxsize=512)
def installed_version(requirement: str) -> str | None:
    m = _REQ_NAME.match(requirement)
    if not m:
        return None
    try:
        return metadata.version(m.group(1))
    except metadata.PackageNotFoundError:
        return None


#: what a plan has learnt of the folders its steps import from: for each (folders searched, in
#: order; top-level module name), the module's digest and sources when it is a local module (None
#: when it is not), so that the steps of one plan, which all carry the imports cell, look at and
#: read each file once
ModuleMemo = dict[tuple[tuple[Path, ...], str], "tuple[str, list[str]] | None"]


def local_module_digests(
    program: str | Sequence[str],
    folder: Path | Sequence[Path],
    memo: ModuleMemo | None = None,
) -> tuple[tuple[str, str], ...]:
    """(module, digest) of each module in `folder` that `program` imports, and of the ones those
    import: editing such a file changes what a step computes while its program stays the same.
    `program` may be several pieces of code (a notebook's cells, each parsed alone); `folder`
    several folders, searched in order as on the step's sys.path, with the folders the code
    puts on sys.path (`sys.path.insert(0, "src")`, relative to the first folder). Taken when the
    run is planned and kept in the plan, so a resumed run keeps its keys."""
    from ..analysis.packages import imported_modules

    memo = {} if memo is None else memo
    pending = [program] if isinstance(program, str) else list(program)
    folders = (folder,) if isinstance(folder, Path) else tuple(folder)
    if folders:
        front, back = _sys_path_folders(pending, folders[0])
        folders = tuple(dict.fromkeys((*front, *folders, *back)))
    found: dict[str, str] = {}
    while pending:
        for module in imported_modules(pending.pop()):
            top = module.split(".")[0]
            if top in found:
                continue
            if (folders, top) not in memo:
                memo[folders, top] = _module_digest(folders, top)
            local = memo[folders, top]
            if local is not None:
                found[top] = local[0]
                pending += local[1]
    return tuple(sorted(found.items()))


#: what a `sys.path.insert`/`append` call names, however it is spaced or continued
_SYS_PATH = re.compile(r"\bsys[\s\\]*\.[\s\\]*path\b")


@lru_cache(maxsize=64)
def names_sys_path(code: str) -> bool:
    """Whether the code names sys.path. Cached: the step runtime every program of a plan carries
    is the same text, looked at once."""
    return _SYS_PATH.search(code) is not None


def _sys_path_folders(code: Sequence[str], base: Path) -> tuple[list[Path], list[Path]]:
    """The existing folders the code puts on sys.path by a literal `sys.path.insert(i, "dir")`
    (before the others, the last first) or `sys.path.append("dir")` (after them), relative to
    `base` (where the step runs). A path computed at run time cannot be known here."""
    front: list[Path] = []
    back: list[Path] = []
    for piece in code:
        if not names_sys_path(piece):  # most code never names it: no need to parse it
            continue
        try:
            tree = ast.parse(piece)
        except (SyntaxError, ValueError):
            continue
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
            added = _sys_path_call(call)
            if added is None:
                continue
            path = Path(os.path.normpath(base / added[1]))
            if not path.is_dir():
                continue
            if added[0] == "insert":
                front.insert(0, path)
            else:
                back.append(path)
    return front, back


def _sys_path_call(call: ast.Call) -> tuple[str, str] | None:
    """("insert" or "append", the folder) of a `sys.path.insert(i, "dir")` or
    `sys.path.append("dir")` call with a string literal."""
    func = call.func
    if not (
        isinstance(func, ast.Attribute)
        and func.attr in ("insert", "append")
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "path"
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == "sys"
        and len(call.args) == (2 if func.attr == "insert" else 1)
        and not call.keywords
    ):
        return None
    arg = call.args[-1]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return func.attr, arg.value
    return None


def _module_digest(folders: tuple[Path, ...], top: str) -> tuple[str, list[str]] | None:
    """What Python imports as `top` with `folders` first on sys.path: a module or package of the
    first folder that has one; else the namespace package their folders named `top` make up,
    unless an installed module of that name comes first (a `numpy/` folder without
    `__init__.py` does not hide numpy)."""
    for folder in folders:
        files = _module_files(folder, top)
        if files:
            return _files_digest([(folder, f) for f in files])
    portions = [
        (folder, f)
        for folder in folders
        if (folder / top).is_dir()
        for f in sorted(p for p in (folder / top).rglob("*.py") if p.is_file())
    ]
    if portions and _namespace_is_local(top):
        return _files_digest(portions)
    return None


def _module_files(folder: Path, top: str) -> tuple[Path, ...]:
    """The files of a module or regular package `top` in `folder`: `top.py`, or every .py file
    of the package `top/` (the one with an `__init__.py`)."""
    single = folder / f"{top}.py"
    package = folder / top
    files = [single] if single.is_file() else []
    if (package / "__init__.py").is_file():
        files += sorted(p for p in package.rglob("*.py") if p.is_file())
    return tuple(files)


def _namespace_is_local(top: str) -> bool:
    """Whether nothing installed named `top` (a module, a regular package, a built-in) takes
    precedence over a namespace package: only then does the import find the folder's files."""
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return True  # cannot tell: hashing the folder at worst re-runs the step once
    if spec is None:
        return True
    return spec.submodule_search_locations is not None and spec.origin in (None, "namespace")


def _files_digest(files: list[tuple[Path, Path]]) -> tuple[str, list[str]]:
    """The digest of the (folder, file) files' paths relative to their folder and contents, and
    their text (to follow their own imports). A file that cannot be read counts as such, not as
    a failure of the run."""
    hasher = new_hasher(ALGORITHM)
    sources = []
    for folder, f in files:
        try:
            data = f.read_bytes()
        except OSError as e:
            data = f"unreadable: {e.strerror}".encode()
        hasher.update(f"{f.relative_to(folder).as_posix()}\0{len(data)}\0".encode() + data)
        sources.append(data.decode("utf-8", "replace"))
    return f"{ALGORITHM}:{hasher.hexdigest()}", sources


_COMPACT = (",", ":")
#: the key of the stand-in for a parameter value whose dicts' key order the key must keep
_KEY_ORDER = "kfp-jupyter:key-order"


def _parameter_value(value: Any) -> Any:
    """The value as the key holds it. The key's JSON sorts dict keys, but a step sees a dict
    parameter's keys in the order they were given (`list(weights)`): a value whose order sorting
    would lose is held as its own JSON text. Any other value is held as before, so its key does
    not change."""
    text = json.dumps(value, separators=_COMPACT, default=repr)
    if text == json.dumps(value, sort_keys=True, separators=_COMPACT, default=repr) and not (
        isinstance(value, dict) and _KEY_ORDER in value
    ):
        return value
    return {_KEY_ORDER: text}


def cache_key(
    step: PlanStep,
    parameters: dict[str, Any],
    input_digests: dict[str, str],
    how: dict[str, Any] | None = None,
) -> str:
    """`how`: settings that change what a step computes beyond its code and inputs (e.g. running
    a container step's command on the host instead of in its image)."""
    data = {
        "format": KEY_FORMAT,
        "program": step.program_key or program_fingerprint(step.program),
        "inputs": {v: input_digests[v] for v, _ in step.inputs},
        "parameters": {p: _parameter_value(parameters[p]) for p in step.parameters},
        "packages": {p: installed_version(p) for p in sorted(step.packages)},
        "image": step.image,
        **({"modules": dict(step.modules)} if step.modules else {}),
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        **({"how": how} if how else {}),
    }
    text = json.dumps(data, sort_keys=True, separators=_COMPACT, default=repr)
    hasher = new_hasher(ALGORITHM)
    hasher.update(text.encode())
    return f"{ALGORITHM}:{hasher.hexdigest()}"


# --- the functions cell as a step's key holds it ------------------------------------------------

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OTHER_LINE_BREAKS = re.compile("[\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
#: names through which code may find a function without naming it (its frame's or a module's
#: namespace, or code built at run time)
_DYNAMIC_NAMES = frozenset(
    {"globals", "locals", "vars", "eval", "exec", "__import__", "__builtins__", "__main__"}
)
_DYNAMIC_ATTRIBUTES = frozenset(
    {"__dict__", "f_locals", "f_globals", "_getframe", "currentframe", "import_module"}
)
_DYNAMIC_IMPORTS = _DYNAMIC_NAMES | _DYNAMIC_ATTRIBUTES | {"modules"}
#: modules `getattr` may find a name in, besides the names code imports
_MODULE_LIKE = frozenset({"sys", "builtins", "__builtins__", "__main__", "importlib", "inspect"})


def functions_in_key(functions: str, code: Sequence[str], also: Sequence[str] = ()) -> str:
    """The functions cell as a step's cache key holds it: without the bodies of its plain
    top-level functions that the step cannot call, so that editing a helper re-runs only the
    steps that use it (the step's program still runs the whole cell). `code` is the rest of the
    code the step runs (its own, the imports); `also`, further text of its program (its
    generated code and the runtime it carries), whose words count as uses without being parsed.

    A function is reached when its name occurs in `code`, in `also`, in the cell outside the
    plain functions, or in a reached function; an unreached one keeps its signature (its
    defaults and annotations run when it is defined), only its body goes. Decorated functions,
    classes and every other statement are kept. The cell comes back whole when anything does
    not parse or when the code looks names up at run time (`globals()`, `eval`, ...)."""
    cell = _functions_cell(functions)
    if cell is None:
        return functions
    used = _words(*code).union(cell.words, *map(_generated_words, also))
    reached: set[_Helper] = set()
    while grown := [h for h in cell.helpers if h not in reached and h.name in used]:
        reached.update(grown)
        used |= _words(*(h.text for h in grown))
    if len(reached) == len(cell.helpers):
        return functions
    kept = _replace_lines(cell.lines, [h for h in cell.helpers if h not in reached])
    if any(_looks_up_names_in(c) for c in (*code, kept)):
        return functions  # (or something does not parse)
    return kept


@dataclass(frozen=True)
class _Helper:
    """A plain top-level function of the functions cell."""

    name: str
    #: its lines in the cell
    text: str
    #: the function as it is defined, without its body (which runs only when it is called)
    stub: str
    #: its lines' indexes in the cell: [first, end)
    first: int
    end: int


@dataclass(frozen=True)
class _FunctionsCell:
    lines: tuple[str, ...]
    helpers: tuple[_Helper, ...]
    #: the words every step's use of the cell starts from: those of the cell outside its plain
    #: functions, and of their signatures (a signature naming its own function is no use of it)
    words: frozenset[str]


@lru_cache(maxsize=8)
def _functions_cell(functions: str) -> _FunctionsCell | None:
    """The functions cell's plain functions and the words around them; None when it does not
    parse, or when it breaks lines where str.splitlines would count them otherwise than the
    parser. Cached: every step of a plan reads the same cell."""
    try:
        tree = ast.parse(functions)
    except (SyntaxError, ValueError):
        return None
    if _OTHER_LINE_BREAKS.search(functions):
        return None
    lines = tuple(functions.splitlines(keepends=True))
    plain = [
        node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.decorator_list
    ]
    helpers = tuple(
        _Helper(
            node.name,
            "".join(lines[node.lineno - 1 : node.end_lineno]),
            _signature(node),
            node.lineno - 1,
            node.end_lineno or node.lineno,
        )
        for node in plain
    )
    others = ["".join(lines[n.lineno - 1 : n.end_lineno]) for n in tree.body if n not in plain]
    words = _words(*others).union(*(_words(h.stub) - {h.name} for h in helpers))
    return _FunctionsCell(lines, helpers, frozenset(words))


def _words(*texts: str) -> set[str]:
    """Every identifier-like word of the texts, in code, strings and comments alike: a name
    a step could use a function by, erring on the side of too many."""
    return {w for text in texts for w in _WORD.findall(text)}


@lru_cache(maxsize=64)
def _generated_words(text: str) -> frozenset[str]:
    """The words of generated program text. Cached: the runtime each step's program carries is
    the same text in every step, its words are found once."""
    return frozenset(_WORD.findall(text))


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The function as it is defined, without its body (which runs only when it is called)."""
    stub = copy.copy(node)
    stub.body = [ast.Expr(ast.Constant(...))]
    return ast.unparse(stub) + "\n"


def _replace_lines(lines: Sequence[str], helpers: Sequence[_Helper]) -> str:
    """The cell with the lines of each of the helpers replaced by its signature."""
    out = list(lines)
    for h in sorted(helpers, key=lambda h: -h.first):
        out[h.first : h.end] = [h.stub]
    return "".join(out)


@lru_cache(maxsize=64)
def _looks_up_names_in(code: str) -> bool:
    """Whether the code may reach a function other than by its name (`_looks_up_names`), or
    does not parse: either way a step's key keeps the whole functions cell. Cached: the imports
    cell, and the functions cell as most steps' keys keep it, are the same text in every step."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return True
    return _looks_up_names(tree)


def _looks_up_names(tree: ast.AST) -> bool:
    """Whether the code may reach a function other than by its name: through a namespace
    (`globals()`, `locals()`, `vars()`, `__dict__`, a frame's locals, `sys.modules`), code built
    at run time (`eval`, `exec`, `import_module`) or `getattr` on a module."""
    modules = set(_MODULE_LIKE)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules |= {(a.asname or a.name).split(".")[0] for a in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in _DYNAMIC_NAMES:
            return True
        if isinstance(node, ast.Attribute) and (
            node.attr in _DYNAMIC_ATTRIBUTES
            or (node.attr == "modules" and _root(node.value) == "sys")
            or (node.attr in _DYNAMIC_NAMES and _root(node.value) in modules)
        ):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            a.name.split(".")[-1] in _DYNAMIC_IMPORTS for a in node.names
        ):
            return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and (
                not node.args
                or isinstance(node.args[0], ast.Starred)
                or _root(node.args[0]) in modules
            )
        ):
            return True
    return False


def _root(node: ast.expr) -> str | None:
    """The name an expression such as `a.b[0].c()` starts from."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None
