"""Whole-file writes: a reader sees the old file or the new one, never half of either, and a
failure leaves no temporary file behind."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A fresh temporary path beside `path`, renamed over `path` when the block ends well and
    removed when it does not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, text: str, *, mode: int = 0o666, keep_mode: bool = False) -> None:
    """Write `text` to a fresh file beside `path`, then rename it over `path`.

    The file is created with `mode` and the process's umask, as `open` would create it (no umask
    juggling, which would race with other threads creating files). `keep_mode` keeps an existing
    file's permissions, for files the user owns and may have restricted (a notebook).
    """
    with _replacing(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        if keep_mode and path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)


def copy_atomically(source: Path, path: Path) -> None:
    """Copy `source` to a fresh file beside `path`, then rename it over `path`."""
    with _replacing(path) as tmp:
        shutil.copyfile(source, tmp)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (symlinks and other spellings included): an output must
    never be written over one of the inputs it is made from."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False
