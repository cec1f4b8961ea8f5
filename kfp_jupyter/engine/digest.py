"""Content digests of artifact folders.

An artifact is a folder (the step runtime writes `<folder>/<variable>.<ext>`). Its digest covers
every file's relative path, size and content digest, so the same data under the same name always
has the same digest, on any machine and in any store: that is what makes artifacts
content-addressed and lets a cache key depend on what a step received rather than on who produced
it.

Digests are BLAKE3 (`blake3:<hex>`), a hash made for content addressing that runs at the speed
of the disk. Stores written before it name their artifacts by sha256 (`sha256:<hex>`); both are
understood wherever a digest is checked, so those stores keep working.

The step runtime hashes each file it writes while the bytes go out, and leaves the digests in
`<folder>.kfpj-digests.json` next to the folder, with the file's size, mtime and inode when it
was hashed. The runner uses a digest from there only for a file that still has those facts: a
file changed after it was hashed (or one the runtime did not write) is hashed here instead, so a
wrong digest never names stored content.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import blake3

#: the algorithm of new digests
ALGORITHM = "blake3"
#: the algorithm of stores written before BLAKE3 (still read and verified)
LEGACY = "sha256"
ALGORITHMS = (ALGORITHM, LEGACY)
#: the step runtime's record of what it hashed, next to each output folder (stepruntime.py
#: writes the same name: it cannot import this module)
STEP_DIGESTS_SUFFIX = ".kfpj-digests.json"

_CHUNK = 1 << 22


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str = ALGORITHM) -> Hasher:
    if algorithm == ALGORITHM:
        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    if algorithm == LEGACY:
        return hashlib.sha256()
    raise ValueError(f"unknown digest algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")


def split_digest(digest: str) -> tuple[str | None, str]:
    """(algorithm, hex) of `blake3:<hex>` or `sha256:<hex>`; (None, hex) of a bare hex."""
    algorithm, sep, hex_digest = digest.partition(":")
    return (algorithm, hex_digest) if sep else (None, digest)


@dataclass(frozen=True)
class FolderDigest:
    digest: str  # "blake3:<hex>" (or "sha256:<hex>" when asked for)
    size: int
    files: tuple[tuple[str, int], ...]  # (relative posix path, size)
    #: each file's [size, mtime_ns] when it was hashed: the store's record (verify_artifact)
    stat: dict[str, list[int]] = field(default_factory=dict, compare=False)
    #: bytes read here to hash them (0 when every file's digest came from the step)
    hashed: int = field(default=0, compare=False)

    @property
    def hex(self) -> str:
        return split_digest(self.digest)[1]


class FileHasher:
    """Hashes a stream of bytes as it passes (a download, a copy) and says what it saw."""

    def __init__(self, algorithm: str = ALGORITHM) -> None:
        self._hasher = new_hasher(algorithm)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hasher.update(data)
        self.size += memoryview(data).nbytes

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


def file_digest(path: Path, algorithm: str = ALGORITHM) -> str:
    """The hex digest of a file's bytes, read once."""
    h = new_hasher(algorithm)
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def combine(entries: list[tuple[str, int, str]], algorithm: str = ALGORITHM) -> str:
    """The folder digest ("algorithm:hex") of (relative path, size, hex digest of the file),
    whatever order they come in."""
    h = new_hasher(algorithm)
    for rel, size, file_hex in sorted(entries):
        h.update(f"{rel}\0{size}\0{file_hex}\n".encode())
    return f"{algorithm}:{h.hexdigest()}"


def folder_files(folder: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in files:
            p = Path(root) / name
            out.append((p.relative_to(folder).as_posix(), p))
    out.sort()
    return out


#: relative path -> (hex digest, size, mtime_ns, inode) as the step runtime hashed the file
StepDigests = dict[str, tuple[str, int, int, int]]


def step_digests_path(folder: Path) -> Path:
    return folder.with_name(folder.name + STEP_DIGESTS_SUFFIX)


def read_step_digests(folder: Path, algorithm: str = ALGORITHM) -> StepDigests:
    """What the step runtime hashed in `folder` with `algorithm` (nothing if it hashed nothing,
    or its record is unreadable: then the files are hashed here)."""
    try:
        data = json.loads(step_digests_path(folder).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("algorithm") != algorithm:
        return {}
    out: StepDigests = {}
    files = data.get("files")
    for rel, entry in (files if isinstance(files, dict) else {}).items():
        if (
            isinstance(entry, list)
            and len(entry) == 4
            and isinstance(entry[0], str)
            and all(type(v) is int for v in entry[1:])
        ):
            out[str(rel)] = (entry[0], entry[1], entry[2], entry[3])
    return out


def digest_folder(
    folder: Path, algorithm: str = ALGORITHM, known: StepDigests | None = None
) -> FolderDigest:
    """The digest of a folder: a hash over (path, size, digest of content) of each file, sorted.

    `known`: digests the step computed as it wrote the files (`read_step_digests`); each is used
    only if its file's size, mtime and inode are still those it was hashed with.
    """
    known = known or {}
    entries: list[tuple[str, int, str]] = []
    stat: dict[str, list[int]] = {}
    hashed = 0
    for rel, path in folder_files(folder):
        st = path.stat()
        step = known.get(rel)
        if step is not None and step[1:] == (st.st_size, st.st_mtime_ns, st.st_ino):
            file_hex = step[0]
        else:
            file_hex = file_digest(path, algorithm)
            hashed += st.st_size
            st = path.stat()  # as it was hashed
        entries.append((rel, st.st_size, file_hex))
        stat[rel] = [st.st_size, st.st_mtime_ns]
    return FolderDigest(
        combine(entries, algorithm),
        sum(size for _, size, _ in entries),
        tuple((rel, size) for rel, size, _ in entries),
        stat,
        hashed,
    )


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


def content_changed(folder: Path, digest: str) -> str | None:
    """Why `folder` no longer holds the content `digest` ("algorithm:hex") names (hashing it
    again), or None."""
    if not folder.is_dir():
        return "its folder is missing"
    algorithm, hex_digest = split_digest(digest)
    now = digest_folder(folder, algorithm or ALGORITHM)
    if now.hex == hex_digest:
        return None
    return f"its files were changed after it was stored (their digest is now {now.digest[:19]}...)"
