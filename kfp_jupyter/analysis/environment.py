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
import re
import sys
from dataclasses import dataclass
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


class _Dist:
    """One installed distribution, read from its metadata folder as text. importlib.metadata would
    do the same, but importing it (and the email package it parses headers with) costs more than
    the rest of a small compile's analysis; a wheel's `.dist-info` and an egg's `.egg-info` are
    plain files with a specified layout."""

    def __init__(self, folder: Path, info: Path) -> None:
        self.folder = folder  # the sys.path folder the distribution is installed in
        self.info = info

    @functools.cached_property
    def tops(self) -> frozenset[str] | None:
        """The top-level names it installs (top_level.txt), None when it does not list them:
        read once, as every module's lookup may ask every distribution of the folder."""
        text = self.read_text("top_level.txt")
        return None if text is None else frozenset(text.split())

    def read_text(self, name: str) -> str | None:
        try:
            return (self.info / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def headers(self) -> dict[str, str]:
        """The core metadata's fields by lower-case name, first of each (RFC 822 headers: the
        first blank line ends them)."""
        text = self.read_text("METADATA") or self.read_text("PKG-INFO") or ""
        found: dict[str, str] = {}
        for line in text.splitlines():
            if not line.strip():
                break
            field, sep, value = line.partition(":")
            if sep:
                found.setdefault(field.strip().lower(), value.strip())
        return found

    def lists(self, rel: str) -> bool:
        """Whether the distribution's list of installed files names `rel`. A wheel's RECORD is
        CSV (quoted paths); an egg lists its files in installed-files.txt, relative to the
        .egg-info folder, or else in SOURCES.txt, relative to the project."""
        record = self.read_text("RECORD")
        if record is not None:
            return rel in record and any(
                row and row[0] == rel for row in csv.reader(record.splitlines())
            )
        installed = self.read_text("installed-files.txt")
        if installed is not None:
            base = self.info.resolve()
            return any(
                os.path.normpath(base / line.strip()) == str(self.folder / rel)
                for line in installed.splitlines()
                if line.strip()
            )
        sources = self.read_text("SOURCES.txt") or ""
        return any(line.strip() == rel for line in sources.splitlines())


def _normal(name: str) -> str:
    """A distribution name as its metadata folder spells it (PEP 503 normalisation, `_` for `-`)."""
    return re.sub(r"[-_.]+", "_", name).lower()


@functools.lru_cache(maxsize=64)
def _distributions(folder: Path, stamp: tuple[int, ...]) -> dict[str, list[_Dist]]:
    """The distributions installed in `folder` by normalised name, in a stable order (read again
    when `stamp` says the environment changed)."""
    found: dict[str, list[_Dist]] = {}
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return found
    for entry in entries:
        if entry.endswith((".dist-info", ".egg-info")) and (folder / entry).is_dir():
            name = entry.rsplit(".", 1)[0].split("-")[0]
            found.setdefault(_normal(name), []).append(_Dist(folder, folder / entry))
    return found


def _holds(dist: _Dist, rel: str) -> bool:
    """Whether `dist` has the file `rel`: by its top-level names where it lists them and `rel` is
    in an ordinary package, else by its list of installed files."""
    top = rel.split("/")[0].removesuffix(".py")
    tops = dist.tops
    if tops is not None and ("/" not in rel or (dist.folder / top / "__init__.py").is_file()):
        return top in tops
    return dist.lists(rel)


def _origin(dist: _Dist) -> str | None:
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
    dists = _distributions(folder, stamp)
    for name in names:
        for dist in dists.get(_normal(name), ()):
            if _holds(dist, rel):
                return _describe(dist)
    for dist in (d for same in dists.values() for d in same):
        tops = dist.tops
        if (tops is None or top in tops) and _holds(dist, rel):
            return _describe(dist)
    return None


def _describe(dist: _Dist) -> Installed:
    fields = dist.headers()
    return Installed(fields.get("name", ""), fields.get("version", ""), _origin(dist))
