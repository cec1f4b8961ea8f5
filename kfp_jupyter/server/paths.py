"""Turn a path a browser sent into a file of the server's root directory, or refuse it.

The server may serve a user's home or a shared folder: a request must not make it read (or write
a compiled pipeline to) anything outside the directory the user opened JupyterLab on.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import KfpJupyterError


class PathRefused(KfpJupyterError):
    """The path is absolute, empty or leads outside the server's root directory."""


def resolve_inside(root_dir: str | Path, relative: str) -> Path:
    """The absolute path of `relative` (an API path, '/'-separated) inside `root_dir`."""
    if not relative or not relative.strip("/"):
        raise PathRefused("no notebook path given")
    if "\x00" in relative:
        raise PathRefused("the path holds a NUL character")
    root = Path(root_dir).resolve()
    candidate = (root / relative.lstrip("/")).resolve()
    if candidate != root and root not in candidate.parents:
        raise PathRefused(f"{relative!r} is outside the server's root directory")
    return candidate


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
