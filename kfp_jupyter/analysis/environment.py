"""Which installed distribution provides a module, at which version, and from where.

A step's packages are pinned to the versions of the environment the notebook is compiled in, so
that the cluster installs what the notebook ran with here. Nothing is imported to find out: the
module's file is located with the import system's own path finder (namespace packages such as
`google.cloud` followed down to the sub-package that has files), and matched against the files
that an installed distribution's RECORD lists. Likely distribution names are tried first; only
when none of them holds the file are all distributions of that folder looked at.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import sys
from dataclasses import dataclass
from importlib import metadata
from importlib.machinery import PathFinder, all_suffixes
from pathlib import Path

SUFFIXES = tuple(all_suffixes())


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    #: where it was installed from when not from a package index (a local folder, a VCS URL)
    origin: str | None = None


def _origin_file(module: str) -> str | None:
    """The file `module` (or its first package below namespace packages) is loaded from, found
    without running any package's code; None when it is not installed or is built in."""
    parts = module.split(".")
    try:
        spec = PathFinder.find_spec(parts[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin not in (None, "namespace"):
        return spec.origin
    # a namespace package (google, azure, ...): the files are in a sub-package
    locations = [Path(p) for p in spec.submodule_search_locations or ()]
    for part in parts[1:]:
        for base in (loc / part for loc in locations):
            for candidate in (base / "__init__.py", *(base.with_name(part + s) for s in SUFFIXES)):
                if candidate.is_file():
                    return str(candidate)
        locations = [loc / part for loc in locations if (loc / part).is_dir()]
    return None


def _module_file(module: str) -> tuple[Path, str] | None:
    """(the sys.path folder that holds `module`, its file relative to that folder)."""
    origin = _origin_file(module)
    if origin is None:
        return None
    file = Path(origin).resolve()
    # the innermost entry: the working folder ('') may hold a virtual environment
    folders = [f for f in (Path(e or ".").resolve() for e in sys.path) if f in file.parents]
    if not folders:
        return None
    folder = max(folders, key=lambda f: len(f.parts))
    return folder, file.relative_to(folder).as_posix()


def _holds(dist: metadata.Distribution, folder: Path, rel: str) -> bool:
    """Whether `dist`, installed in `folder`, has the file `rel`: by its top-level names where
    it lists them and `rel` is in an ordinary package, else by its RECORD."""
    if Path(str(dist.locate_file(""))).resolve() != folder:
        return False
    top = rel.split("/")[0].removesuffix(".py")
    tops = dist.read_text("top_level.txt")
    if tops is not None and ("/" not in rel or (folder / top / "__init__.py").is_file()):
        return top in tops.split()
    return _lists(dist, rel)


def _lists(dist: metadata.Distribution, rel: str) -> bool:
    """Whether the distribution's list of installed files names `rel`. A wheel's RECORD is read
    as text, not through `dist.files`, which makes an object per file: large distributions list
    thousands, and the CLI pays for them on every compile."""
    record = dist.read_text("RECORD")
    if record is None:  # an egg or an older installer: SOURCES.txt / installed-files.txt
        files = dist.files
        return files is not None and any(f.as_posix() == rel for f in files)
    return rel in record and any(row and row[0] == rel for row in csv.reader(record.splitlines()))


def _origin(dist: metadata.Distribution) -> str | None:
    """Where a distribution came from when pip cannot fetch that version by name (PEP 610)."""
    try:
        data = json.loads(dist.read_text("direct_url.json") or "null")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    url = str(data.get("url", ""))
    vcs = data.get("vcs_info")
    if isinstance(vcs, dict):
        return f"{vcs.get('vcs', 'vcs')}+{url}"
    if "dir_info" in data or url.startswith("file:"):
        return url.removeprefix("file://") or url
    return None


def environment_stamp() -> tuple[int, ...]:
    """Changes when a package is installed or removed (the folders' modification times)."""
    out = []
    for entry in sys.path:
        try:
            out.append(os.stat(entry or ".").st_mtime_ns)
        except OSError:
            out.append(0)
    return tuple(out)


def installed(
    module: str, guesses: tuple[str, ...] = (), stamp: tuple[int, ...] | None = None
) -> Installed | None:
    """The installed distribution that provides `module` (dotted), or None when it is not
    installed here (or is part of Python). `guesses` are distribution names to try first;
    `stamp` (from `environment_stamp`) saves reading the folders again for each module."""
    return _installed(module, guesses, tuple(sys.path), stamp or environment_stamp())


@functools.lru_cache(maxsize=1024)
def _installed(
    module: str, guesses: tuple[str, ...], path: tuple[str, ...], stamp: tuple[int, ...]
) -> Installed | None:
    found = _module_file(module)
    if found is None:
        return None
    folder, rel = found
    top = rel.split("/")[0].removesuffix(".py")
    names = dict.fromkeys((*guesses, top, top.replace("_", "-"), f"python-{top}", f"{top}-python"))
    for name in names:
        try:
            dist = metadata.distribution(name)
        except (metadata.PackageNotFoundError, ValueError):
            continue
        if _holds(dist, folder, rel):
            return _describe(dist)
    for dist in metadata.distributions(path=[str(folder)]):
        tops = dist.read_text("top_level.txt")
        if (tops is None or top in tops.split()) and _holds(dist, folder, rel):
            return _describe(dist)
    return None


def _describe(dist: metadata.Distribution) -> Installed:
    return Installed(dist.metadata["Name"], dist.version, _origin(dist))
