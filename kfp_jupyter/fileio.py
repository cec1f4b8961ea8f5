"""Whole-file writes: a reader sees the old file or the new one, never half of either, and a
failure leaves no temporary file behind."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomically(path: Path, text: str, *, mode: int = 0o666, keep_mode: bool = False) -> None:
    """Write `text` to a fresh file beside `path`, then rename it over `path`.

    The file is created with `mode` and the process's umask, as `open` would create it (no umask
    juggling, which would race with other threads creating files). `keep_mode` keeps an existing
    file's permissions, for files the user owns and may have restricted (a notebook).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        if keep_mode and path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
