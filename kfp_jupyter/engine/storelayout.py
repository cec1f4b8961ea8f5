"""Where things are inside a store, and what an artifact's manifest says: the part of the store's
format that every kind of store (store.py, remotestore.py) and every reader of run records
shares, so none of them needs a store's machinery to name an artifact or a program.

Artifacts are content-addressed: `artifacts/<hh>/<hex>/` holds one variable's folder and
`artifacts/<hh>/<hex>.json` (its manifest, which names the digest with its algorithm) is written
last, so an artifact exists exactly when its manifest does. Step programs and the pipeline
versions that list them live at `programs/<sha256>.py` and `programs/<sha256>.json`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import KfpJupyterError
from .digest import (
    ALGORITHM,
    FolderDigest,
    StatRecord,
    digest_folder,
    read_step_digests,
    split_digest,
    step_digests_path,
)


@dataclass(frozen=True)
class ArtifactRef:
    """One stored artifact: a variable's folder, by content."""

    digest: str
    size: int
    uri: str
    type: str  # the file format the runtime chose: npy, parquet, joblib, pt, json, pkl

    @property
    def hex(self) -> str:
        return split_digest(self.digest)[1]


class ArtifactChangedError(KfpJupyterError):
    """A stored artifact's bytes no longer match its digest (edited or damaged in the store)."""


def artifact_type(files: tuple[tuple[str, int], ...], variable: str | None) -> str:
    """The format of a saved variable (npy, parquet, ...), or "file" for a component's file."""
    for rel, _ in files:
        name = rel.rsplit("/", 1)[-1]
        if variable is not None and name == variable:
            return "file"
        if variable is None or name.startswith(variable + "."):
            return name.rsplit(".", 1)[-1] if "." in name else "file"
    return ""


def artifact_rel(digest: str) -> str:
    """Where an artifact lives, by its hex digest (or its digest with the algorithm)."""
    hex_digest = split_digest(digest)[1]
    return f"artifacts/{hex_digest[:2]}/{hex_digest}"


def manifest_digest(text: str) -> str | None:
    """The digest ("algorithm:hex") a manifest names, or None if it names none."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    digest = data.get("digest") if isinstance(data, dict) else None
    return digest if isinstance(digest, str) and ":" in digest else None


def manifest_json(d: FolderDigest, variable: str | None) -> str:
    """The manifest of a new artifact: written last, it is what makes the artifact exist."""
    return json.dumps(
        {
            "digest": d.digest,
            "size": d.size,
            "type": artifact_type(d.files, variable),
            "files": [{"path": p, "size": s} for p, s in d.files],
        },
        indent=1,
    )


def step_digested(folder: Path) -> FolderDigest:
    """An output folder's digest, from the digests its step computed as it wrote the files
    (checked against each file's stat; what does not match is hashed here)."""
    d = digest_folder(folder, ALGORITHM, read_step_digests(folder))
    step_digests_path(folder).unlink(missing_ok=True)
    return d


def freeze(folder: Path) -> None:
    """Make a stored artifact's files read-only: steps read their inputs in place, and content
    that others share by digest must not change under them."""
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), 0o444)


def read_stat_record(path: Path) -> StatRecord | None:
    """An artifact's files as they were stored (`<hex>.stat.json`), or None if unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


#: the suffix of a pipeline version's spec among the programs (`programs/<sha256>.json`)
SPEC_SUFFIX = ".json"


def text_digest(text: str) -> str:
    """The hex sha256 of a program's (or a version spec's) UTF-8 text: its name in `programs/`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def program_rel(hex_digest: str, suffix: str = ".py") -> str:
    """Where a program (`.py`) or a pipeline version's spec (`.json`) is kept in the store."""
    return f"programs/{hex_digest}{suffix}"


def lengthen_record(record: dict[str, Any], local_root: Path) -> None:
    """Undo `storebase.shorten_record` for the store whose local folder is `local_root`."""
    for artifact in record.get("artifacts", ()):
        if "uri" not in artifact:
            artifact["uri"] = (
                f"{record['store']}/{artifact_rel(artifact['digest'].split(':', 1)[1])}"
            )
    for task in record.get("tasks", ()):
        log = task.get("log")
        if isinstance(log, str) and not Path(log).is_absolute():
            task["log"] = str(local_root / log)
