"""Turn a path a browser sent into a file of the server's root directory, or refuse it.

The server may serve a user's home or a shared folder: a request must not make it read (or write
a compiled pipeline to) anything outside the directory the user opened JupyterLab on.
"""

from __future__ import annotations

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
