"""Content digests of artifact folders.

An artifact is a folder (the step runtime writes `<folder>/<variable>.<ext>`). Its digest covers
every file's relative path and bytes, so the same data under the same name always has the same
digest, on any machine and in any store: that is what makes artifacts content-addressed and lets
a cache key depend on what a step received rather than on who produced it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FolderDigest:
    digest: str  # "sha256:<hex>"
    size: int
    files: tuple[tuple[str, int], ...]  # (relative posix path, size)

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def folder_files(folder: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in files:
            p = Path(root) / name
            out.append((p.relative_to(folder).as_posix(), p))
    out.sort()
    return out


def digest_folder(folder: Path) -> FolderDigest:
    """The sha256 of a folder: a hash over (path, size, sha256 of content) of each file, sorted."""
    h = hashlib.sha256()
    total = 0
    listing: list[tuple[str, int]] = []
    for rel, path in folder_files(folder):
        size = path.stat().st_size
        h.update(f"{rel}\0{size}\0{file_sha256(path)}\n".encode())
        total += size
        listing.append((rel, size))
    return FolderDigest("sha256:" + h.hexdigest(), total, tuple(listing))


#: per file: [size, mtime_ns], as recorded when an artifact was stored
StatRecord = dict[str, list[int]]


def stat_folder(folder: Path) -> StatRecord:
    """Cheap facts about each file of a folder: enough to tell that nothing was edited since
    they were recorded, without reading the files."""
    out: StatRecord = {}
    for rel, path in folder_files(folder):
        st = path.stat()
        out[rel] = [st.st_size, st.st_mtime_ns]
    return out


def content_changed(folder: Path, hex_digest: str) -> str | None:
    """Why `folder` no longer holds the content `hex_digest` names (hashing it again), or None."""
    if not folder.is_dir():
        return "its folder is missing"
    now = digest_folder(folder)
    if now.hex == hex_digest:
        return None
    return f"its files were changed after it was stored (their digest is now {now.digest[:19]}...)"
