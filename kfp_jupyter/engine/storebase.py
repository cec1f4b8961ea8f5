"""What every store does, whatever holds its bytes: the `Store` interface the engine runs
against, with what a local folder and a remote store's read cache share (the history database,
scratch folders, kept programs, and the check of stored bytes against their digests).

Stored bytes can still be edited by hand (or damaged). Next to each artifact's folder on this
machine, `<hex>.stat.json` records each file's size and mtime when it was stored; before an
artifact is reused or handed to a step (`verify_artifact`) its files are compared with that
record, and only files that differ are hashed again. An artifact that no longer matches its
digest is never reused: it is discarded, and the step that made it runs again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..fileio import write_atomically
from .digest import ALGORITHM, StatRecord, content_changed, split_digest, stat_folder
from .storelayout import (
    ArtifactRef,
    artifact_rel,
    manifest_digest,
    program_rel,
    read_stat_record,
    text_digest,
)


class Store(ABC):
    """The operations the engine needs; each store decides where the bytes go."""

    url: str
    #: a local folder for the history database, running steps' scratch folders and caches
    local_root: Path
    #: whether the bytes live elsewhere (then each run also leaves a `run.json` summary there)
    remote: bool = False

    @property
    def db_path(self) -> Path:
        return self.local_root / "history.db"

    def run_dir(self, run_id: str) -> Path:
        return self.local_root / "runs" / run_id

    def staging_dir(self) -> Path:
        d = self.local_root / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return d

    @abstractmethod
    def artifact_uri(self, hex_digest: str) -> str: ...

    @abstractmethod
    def has_artifact(self, hex_digest: str) -> bool: ...

    @abstractmethod
    def commit_artifact(self, folder: Path, variable: str | None = None) -> ArtifactRef:
        """Store a finished output folder (which may be moved away) and return its reference."""

    @abstractmethod
    def artifact_path(self, hex_digest: str) -> Path:
        """A local folder with the artifact's files (fetched first for a remote store)."""

    def publish(self, local: Path, rel: str) -> None:  # noqa: B027  (a no-op for local stores)
        """Copy a file written under local_root (a log, a program) to the store, if remote."""

    def read_text(self, rel: str) -> str | None:
        """A file of the store (a log, a program), or None if there is no such file."""
        path = self.local_root / rel
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None

    def program_path(self, hex_digest: str, suffix: str = ".py") -> Path:
        """The program (or spec) with this digest on this machine (see `keep_program`)."""
        return self.local_root / program_rel(hex_digest, suffix)

    def keep_program(self, text: str, suffix: str = ".py") -> Path:
        """Store a step program (or a version spec) by content, unless it is stored already, and
        return its path here. Runs of the same notebook share one copy; the file is replaced
        atomically, so a reader never sees half of it."""
        path = self.program_path(text_digest(text), suffix)
        if not path.is_file():
            write_atomically(path, text)
            self.publish(path, program_rel(path.stem, suffix))
        return path

    def program_names(self) -> set[str]:
        """The names (`<sha256>.py`, `<sha256>.json`) of the programs and specs kept here."""
        folder = self.local_root / "programs"
        return {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()

    def remove_program(self, name: str) -> None:
        """Delete a kept program or spec that no run refers to any more (`runs gc`)."""
        with contextlib.suppress(OSError):
            (self.local_root / "programs" / name).unlink()

    def shared_records(self, skip: Collection[str] = ()) -> dict[str, dict[str, Any] | None]:
        """The records (`runs/ID/record.json`) in the store of every run not in `skip`, by run id,
        None for one that cannot be read: what other machines' runs refer to, since several
        histories may share a remote store. A local folder has one history, which knows it all."""
        return {}

    def describe(self) -> str:
        return self.url

    def check(self) -> None:  # noqa: B027  (a local folder needs no check)
        """Fail early (before a run starts) if the store cannot be used."""

    @abstractmethod
    def _local_copy(self, hex_digest: str) -> Path | None:
        """The artifact's folder on this machine, if there is one (nothing is fetched)."""

    def _forget(self, hex_digest: str) -> None:  # noqa: B027  (only a local store owns it)
        """Make the store stop listing an artifact that is being discarded."""

    def _stat_path(self, hex_digest: str) -> Path:
        return self.local_root / (artifact_rel(hex_digest) + ".stat.json")

    def _record_stat(self, hex_digest: str, record: StatRecord) -> None:
        """Remember the files of an artifact as stored (as they were when hashed), for the cheap
        check of verify_artifact."""
        with contextlib.suppress(OSError):
            write_atomically(self._stat_path(hex_digest), json.dumps(record))

    def _manifest_text(self, hex_digest: str) -> str | None:
        """The artifact's manifest, if there is one."""
        return self.read_text(artifact_rel(hex_digest) + ".json")

    def full_digest(self, digest: str) -> str:
        """`digest` with its algorithm: as given, else as the artifact's manifest names it (an
        artifact stored before BLAKE3 is named by its sha256)."""
        if split_digest(digest)[0] is not None:
            return digest
        text = self._manifest_text(digest)
        named = manifest_digest(text) if text is not None else None
        return named or f"{ALGORITHM}:{digest}"

    def verify_artifact(self, hex_digest: str) -> str | None:
        """Why the artifact's bytes here no longer match its digest, or None if they do (or if
        there is no copy here: a fetched copy is checked as it arrives). Takes the digest (with
        its algorithm) or its bare hex.

        Files with the size and mtime recorded at store time are trusted without reading them.
        """
        folder = self._local_copy(hex_digest)
        if folder is None:
            return None
        current = stat_folder(folder)
        if current and read_stat_record(self._stat_path(hex_digest)) == current:
            return None
        problem = content_changed(folder, self.full_digest(hex_digest))
        if problem is None:  # touched, or stored before records were kept: remember it now
            with contextlib.suppress(OSError):
                write_atomically(self._stat_path(hex_digest), json.dumps(current))
        return problem

    def discard_artifact(self, hex_digest: str) -> None:
        """Remove this machine's copy of an artifact that no longer matches its digest, so it
        is stored afresh by the next step that produces it."""
        folder = self._local_copy(hex_digest)
        self._forget(hex_digest)
        with contextlib.suppress(OSError):
            self._stat_path(hex_digest).unlink()
        if folder is not None:
            short = split_digest(hex_digest)[1][:12]
            aside = self.staging_dir() / f"discarded-{short}-{uuid.uuid4().hex[:6]}"
            with contextlib.suppress(OSError):
                os.rename(folder, aside)
                shutil.rmtree(aside, ignore_errors=True)

    def remove_artifact(self, hex_digest: str) -> None:
        """Delete an artifact no run refers to any more (`runs gc`): its bytes everywhere."""
        self.discard_artifact(hex_digest)

    def remove_run_files(self, run_id: str) -> None:
        """Delete a run's own files (logs, its record), here and in the store. Its programs stay:
        they are content-addressed, and other runs may share them."""
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)


def shorten_record(record: dict[str, Any], store: Store) -> None:
    """Leave out of a run's record (history.export_run) what the store implies: an artifact's
    URI when it is the store's own (`lengthen_record` puts it back from `record["store"]`), a
    log's path up to the store's folder. A cached run then writes a few KB, not its paths."""
    record["store"] = store.url
    for artifact in record.get("artifacts", ()):
        digest = str(artifact.get("digest", ""))
        if (
            ":" in digest
            and artifact.get("uri") == f"{store.url}/{artifact_rel(digest.split(':', 1)[1])}"
        ):
            del artifact["uri"]
    root = str(store.local_root) + os.sep
    for task in record.get("tasks", ()):
        log = task.get("log")
        if isinstance(log, str) and log.startswith(root):
            task["log"] = log[len(root) :]
