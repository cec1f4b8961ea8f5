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
re-runs the step. Data files a step opens by path are not: the key cannot know what it reads.

Keys are BLAKE3 digests of their JSON (format 2). A key of format 1 (sha256, inputs named by
their sha256) is never computed again: such a step runs once more, then is cached under the new
key.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
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


#: what a plan has learnt of the notebook's folder: each top-level module name, and its digest
#: and sources when it is a local module (None when it is not), so that the steps of one plan,
#: which all carry the imports cell, look at and read each file once
ModuleMemo = dict[str, "tuple[str, list[str]] | None"]


def local_module_digests(
    program: str, folder: Path, memo: ModuleMemo | None = None
) -> tuple[tuple[str, str], ...]:
    """(module, digest) of each module in `folder` that `program` imports, and of the ones those
    import: editing such a file changes what a step computes while its program stays the same.
    Taken when the run is planned and kept in the plan, so a resumed run keeps its keys."""
    from ..analysis.packages import imported_modules

    memo = {} if memo is None else memo
    found: dict[str, str] = {}
    pending = [program]
    while pending:
        for module in imported_modules(pending.pop()):
            top = module.split(".")[0]
            if top in found:
                continue
            if top not in memo:
                files = _module_files(folder, top)
                memo[top] = _files_digest(folder, files) if files else None
            local = memo[top]
            if local is not None:
                found[top] = local[0]
                pending += local[1]
    return tuple(sorted(found.items()))


def _module_files(folder: Path, top: str) -> tuple[Path, ...]:
    """The files Python would import `top` from, with the notebook's folder first on sys.path:
    `top.py`, or every .py file of the package `top/`."""
    single = folder / f"{top}.py"
    package = folder / top
    files = [single] if single.is_file() else []
    if (package / "__init__.py").is_file():
        files += sorted(p for p in package.rglob("*.py") if p.is_file())
    return tuple(files)


def _files_digest(folder: Path, files: tuple[Path, ...]) -> tuple[str, list[str]]:
    """The digest of the files' relative paths and contents, and their text (to follow their
    own imports). A file that cannot be read counts as such, not as a failure of the run."""
    hasher = new_hasher(ALGORITHM)
    sources = []
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as e:
            data = f"unreadable: {e.strerror}".encode()
        hasher.update(f"{f.relative_to(folder).as_posix()}\0{len(data)}\0".encode() + data)
        sources.append(data.decode("utf-8", "replace"))
    return f"{ALGORITHM}:{hasher.hexdigest()}", sources


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
        "parameters": {p: parameters[p] for p in step.parameters},
        "packages": {p: installed_version(p) for p in sorted(step.packages)},
        "image": step.image,
        **({"modules": dict(step.modules)} if step.modules else {}),
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        **({"how": how} if how else {}),
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=repr)
    hasher = new_hasher(ALGORITHM)
    hasher.update(text.encode())
    return f"{ALGORITHM}:{hasher.hexdigest()}"
