"""Cache keys: a task may reuse an earlier task's outputs when nothing that decides them changed.

Like KFP's cache, the key covers the step's program, the content of its inputs, its parameter
values and its packages and image. Two differences, both in the user's favour:
- the program is compared without its `# cell N` markers, so adding a cell above a step (which
  renumbers the cells below) does not invalidate it, but any change of its code does;
- inputs are compared by content digest, not by the upstream task's identity, so a step whose
  edit leaves its outputs unchanged does not force its downstream to re-run.
The installed version of each declared package is part of the key: upgrading scikit-learn on
this machine re-runs the steps that use it. So is the content of each module beside the notebook
that the step imports (`from features import add_features` with features.py there): editing it
re-runs the step. It is taken when the run is planned; a step that finds it changed once it has
succeeded (an edit during the run, or before `runs resume`) is not recorded under the key
(runner.py). Data files a step opens by path are not in the key: it cannot know what they are.
A dict parameter's key order, which a step sees, is kept although the key's JSON sorts keys.

Keys are BLAKE3 digests of their JSON (format 2). A key of format 1 (sha256, inputs named by
their sha256) is never computed again: such a step runs once more, then is cached under the new
key.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from collections.abc import Sequence
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
    several folders, searched in order as on the step's sys.path. Taken when the run is planned
    and kept in the plan, so a resumed run keeps its keys."""
    from ..analysis.packages import imported_modules

    memo = {} if memo is None else memo
    folders = (folder,) if isinstance(folder, Path) else tuple(dict.fromkeys(folder))
    found: dict[str, str] = {}
    pending = [program] if isinstance(program, str) else list(program)
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
        "program": program_fingerprint(step.program),
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
