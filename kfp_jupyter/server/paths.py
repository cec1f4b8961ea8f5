"""Turn a path a browser sent into a file of the server's root directory, or refuse it.

The server may serve a user's home or a shared folder: a request must not make it read (or write
a compiled pipeline to) anything outside the directory the user opened JupyterLab on.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from ..errors import KfpJupyterError

#: how much of a path a message repeats: a name of thousands of characters is not read anyway
SHOWN = 80


class PathRefused(KfpJupyterError):
    """The path leads outside the server's root directory (403)."""


class PathMissing(KfpJupyterError):
    """A request names no path where it needs one: bad input (400), not a refusal."""


class PathUnusable(KfpJupyterError):
    """The path cannot name a file here: a name longer than the file system takes, a loop of
    symbolic links. Said as bad input (400), not left to fail as a server error."""


def shown(path: str) -> str:
    """`path` quoted for a message, cut short when it is very long."""
    return repr(path if len(path) <= SHOWN else path[:SHOWN] + "...")


def resolve_inside(root_dir: str | Path, relative: str, what: str = "notebook") -> Path:
    """The absolute path of `relative` (an API path, '/'-separated) inside `root_dir`; `what`
    names the field in messages."""
    if not relative or not relative.strip("/"):
        raise PathMissing(
            f"no {what} path given; name the {what} by its path from the server's root directory"
        )
    if "\x00" in relative:
        raise PathRefused(f"the {what} path holds a NUL character")
    root = Path(root_dir).resolve()
    candidate = real_path(root / relative.lstrip("/"), relative)
    if not is_inside(root, candidate):
        raise PathRefused(f"{what} {shown(relative)} is outside the server's root directory")
    return candidate


def is_inside(root: Path, resolved: Path) -> bool:
    """Whether `resolved` (symbolic links followed) is `root` (resolved) or inside it."""
    return resolved == root or root in resolved.parents


def real_path(path: Path, said: str) -> Path:
    """`path` with symbolic links followed; a loop of links is PathUnusable naming `said`."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: Python's "Symlink loop"
        raise PathUnusable(f"{shown(said)} cannot be used: {_reason(e)}") from None


def stat_of(path: Path, said: str) -> os.stat_result | None:
    """`path`'s status, None if nothing is there; a path the system cannot look up (a name too
    long, a loop of links) is PathUnusable naming `said` (what the caller wrote)."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise PathUnusable(f"{shown(said)} cannot be used: {_reason(e)}") from None


def _reason(error: BaseException) -> str:
    if isinstance(error, RuntimeError) or getattr(error, "errno", None) == errno.ELOOP:
        return "it is a loop of symbolic links"
    return str(getattr(error, "strerror", None) or error)


def relative_to_root(root_dir: str | Path, path: Path) -> str:
    """The API path ('/'-separated, relative to the root) of a file inside the root."""
    return path.resolve().relative_to(Path(root_dir).resolve()).as_posix()


def hide_root(data: object, root_dir: str | Path) -> object:
    """`data` (a JSON answer) with the root directory's absolute path taken out of its texts.

    Error messages name files as the analysis saw them (absolute); a caller needs only the part
    inside the root, and where the server keeps its files is none of its business."""
    roots = sorted({str(Path(root_dir)), str(Path(root_dir).resolve())}, key=len, reverse=True)
    # the root itself, not a longer name that starts like it (/home/ann in /home/anna); a root
    # of "/" is left alone: every path would match
    patterns = [re.escape(r) + r"(/|(?![\w.-]))" for r in roots if r != "/"]
    if not patterns:
        return data
    found = re.compile("|".join(patterns))

    def clean(value: object) -> object:
        if isinstance(value, str):
            return found.sub(lambda m: "" if m.group(0).endswith("/") else ".", value)
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    return clean(data)
