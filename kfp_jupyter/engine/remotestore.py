"""A store on any fsspec file system (s3://, gs://, memory://, ...): its bytes live there, and
this machine keeps a read cache of them (and the history database) in a local folder, since
SQLite needs a local file system with working locks.

A remote store also receives each run's logs, its record and a `run.json` summary, so it
describes itself without the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..errors import UsageError, install_extra
from ..fileio import write_atomically
from .digest import ALGORITHM, FileHasher, combine, split_digest, stat_folder
from .storebase import Store
from .storelayout import (
    ArtifactChangedError,
    ArtifactRef,
    artifact_rel,
    artifact_type,
    freeze,
    manifest_digest,
    manifest_json,
    program_rel,
    step_digested,
    text_digest,
)

CACHE_ENV = "KFP_JUPYTER_CACHE_DIR"


#: how much of a remote file is read at a time when it is fetched
_DOWNLOAD_CHUNK = 1 << 23

#: file systems of keys rather than folders: a write needs no parent folder, and their makedirs
#: could create a bucket (for a misspelt one, say) instead of failing
_OBJECT_STORES = frozenset(
    {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "memory"}
)


class FsspecStore(Store):
    """Any fsspec file system (s3://, gs://, memory://, ...), with a local read cache.

    Credentials and endpoints come from the file system's own configuration, e.g. for S3 the
    standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for an
    S3-compatible server) or fsspec's FSSPEC_S3_* variables.
    """

    remote = True

    def __init__(self, url: str, cache_root: Path | None = None, make_local: bool = True) -> None:
        """`make_local=False` makes nothing on this machine yet (see `make_local`): a command
        that only reads, or a URL that turns out to name no store, must leave no folder."""
        if importlib.util.find_spec("fsspec") is None:
            raise UsageError(
                f"the store {url!r} needs fsspec (and s3fs for s3://): {install_extra('s3')}"
            )
        self.url = url.rstrip("/")
        key = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self.local_root = (cache_root or cache_dir()) / "stores" / key
        self._fs: Any = None
        self.base = ""
        if make_local:
            self.make_local()

    def make_local(self) -> None:
        """Make this machine's folder of the store (its history and read cache), named by a
        hash of the URL: `store-url.txt` in it says which store it belongs to."""
        self.local_root.mkdir(parents=True, exist_ok=True)
        (self.local_root / "store-url.txt").write_text(self.url + "\n", encoding="utf-8")

    @property
    def fs(self) -> Any:
        """The file system, opened on first use: reading the history needs none of it (and
        importing s3fs takes a second)."""
        if self._fs is None:
            import fsspec  # type: ignore[import-untyped]

            try:
                fs, path = fsspec.core.url_to_fs(self.url)
            except (ImportError, ValueError) as e:
                raise UsageError(f"cannot open the store {self.url!r}: {e}") from None
            self.base = str(path).rstrip("/")
            self._fs = fs
        return self._fs

    def check(self) -> None:
        self.fs  # noqa: B018  (opening it is the check)

    def _remote(self, rel: str) -> str:
        self.fs  # noqa: B018  (sets self.base)
        return f"{self.base}/{rel}"

    def _parent_for(self, rel: str) -> str:
        """The path of `rel` in the store, its parent folder made first where the file system
        has real folders (local://, sftp://, ...), which a write does not create."""
        remote = self._remote(rel)
        protocol = self.fs.protocol
        if not ({protocol} if isinstance(protocol, str) else set(protocol)) & _OBJECT_STORES:
            self.fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
        return remote

    def _put(self, local: Path, rel: str) -> None:
        self.fs.put_file(str(local), self._parent_for(rel))

    def artifact_uri(self, hex_digest: str) -> str:
        return f"{self.url}/{artifact_rel(hex_digest)}"

    def has_artifact(self, hex_digest: str) -> bool:
        path = self._remote(artifact_rel(hex_digest) + ".json")
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    def commit_artifact(self, folder: Path, variable: str | None = None) -> ArtifactRef:
        d = step_digested(folder)
        rel = artifact_rel(d.hex)
        if not self.has_artifact(d.hex):
            for file_rel, _ in d.files:
                self._put(folder / file_rel, f"{rel}/{file_rel}")
            with self.fs.open(self._parent_for(rel + ".json"), "w") as f:
                f.write(manifest_json(d, variable))
        # Keep the bytes in the local read cache: the next step on this machine reads them there.
        cached = self.local_root / rel
        if not cached.is_dir():
            cached.parent.mkdir(parents=True, exist_ok=True)
            freeze(folder)
            with contextlib.suppress(OSError):
                os.rename(folder, cached)
                self._record_stat(d.hex, d.stat)
                write_atomically(
                    cached.with_name(cached.name + ".json"), manifest_json(d, variable)
                )
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        return ArtifactRef(
            d.digest, d.size, self.artifact_uri(d.hex), artifact_type(d.files, variable)
        )

    def artifact_path(self, hex_digest: str) -> Path:
        rel = artifact_rel(hex_digest)
        cached = self.local_root / rel
        if cached.is_dir():
            return cached
        with self.fs.open(self._remote(rel + ".json"), "r") as f:
            text = f.read()
        manifest = json.loads(text)
        named = manifest_digest(text) or self.full_digest(hex_digest)
        algorithm = split_digest(named)[0] or ALGORITHM
        tmp = self.staging_dir() / f"fetch-{uuid.uuid4().hex}"
        tmp.mkdir(parents=True, exist_ok=True)
        entries = []
        for entry in manifest["files"]:
            dest = tmp / entry["path"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            # hashed as it arrives: the bytes are read once, from the store
            file_hex, size = self._download(f"{rel}/{entry['path']}", dest, algorithm)
            entries.append((str(entry["path"]), size, file_hex))
        now = combine(entries, algorithm)
        if split_digest(now)[1] != split_digest(hex_digest)[1]:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ArtifactChangedError(
                f"the artifact {self.artifact_uri(hex_digest)} in the store: its files were "
                f"changed after it was stored (their digest is now {now[:19]}...); "
                "run the step that produced it again (e.g. kfp-jupyter run --no-cache)"
            )
        record = stat_folder(tmp)
        freeze(tmp)
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, cached)
            self._record_stat(hex_digest, record)
            write_atomically(cached.with_name(cached.name + ".json"), text)
        except OSError:  # fetched by another task at the same time
            shutil.rmtree(tmp, ignore_errors=True)
        return cached

    def _download(self, rel: str, dest: Path, algorithm: str) -> tuple[str, int]:
        """Copy a file of the store here, hashing it on the way: (hex digest, size)."""
        hasher = FileHasher(algorithm)
        with self.fs.open(self._remote(rel), "rb") as src, open(dest, "wb") as out:
            while chunk := src.read(_DOWNLOAD_CHUNK):
                hasher.update(chunk)
                out.write(chunk)
        return hasher.hexdigest(), hasher.size

    def _manifest_text(self, hex_digest: str) -> str | None:
        local = self.local_root / (artifact_rel(hex_digest) + ".json")
        if local.is_file():  # kept with the read cache's copy
            return local.read_text(encoding="utf-8")
        try:
            with self.fs.open(self._remote(artifact_rel(hex_digest) + ".json"), "r") as f:
                return str(f.read())
        except FileNotFoundError:
            return None

    def _local_copy(self, hex_digest: str) -> Path | None:
        cached = self.local_root / artifact_rel(hex_digest)
        return cached if cached.is_dir() else None

    def _forget(self, hex_digest: str) -> None:
        # only this machine's copy of the manifest: the store's own stays (discard_artifact)
        with contextlib.suppress(OSError):
            (self.local_root / (artifact_rel(hex_digest) + ".json")).unlink()

    def publish(self, local: Path, rel: str) -> None:
        if local.is_file():
            self._put(local, rel)

    def program_names(self) -> set[str]:
        remote = {p.rsplit("/", 1)[-1] for p in self.fs.glob(self._remote("programs/*"))}
        return super().program_names() | remote

    def remove_program(self, name: str) -> None:
        super().remove_program(name)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._remote(f"programs/{name}"))

    def keep_program(self, text: str, suffix: str = ".py") -> Path:
        # The local copy is only a cache: the store's own may be gone (removed by a `runs gc`
        # elsewhere while no record named it), and a run must leave what it needs in the store.
        path = self.program_path(text_digest(text), suffix)
        if not path.is_file():
            write_atomically(path, text)
        rel = program_rel(path.stem, suffix)
        self.fs.invalidate_cache(self._remote(rel))
        if not self.fs.exists(self._remote(rel)):
            self._put(path, rel)
        return path

    def shared_records(self, skip: Collection[str] = ()) -> dict[str, dict[str, Any] | None]:
        self.fs.invalidate_cache()  # runs' folders listed before (records come at their end)
        found = self.fs.glob(self._remote("runs/*/record.json"))
        paths = [p for p in found if p.rsplit("/", 2)[-2] not in skip]
        if not paths:
            return {}
        texts = self.fs.cat(paths, on_error="return")
        records: dict[str, dict[str, Any] | None] = {}
        for path, data in texts.items():
            if isinstance(data, FileNotFoundError):  # its run was removed meanwhile
                continue
            records[path.rsplit("/", 2)[-2]] = _parse_record(data)
        return records

    def read_text(self, rel: str) -> str | None:
        local = super().read_text(rel)
        if local is not None:
            return local
        try:
            with self.fs.open(self._remote(rel), "r", encoding="utf-8", errors="replace") as f:
                return str(f.read())
        except FileNotFoundError:
            return None

    def remove_artifact(self, hex_digest: str) -> None:
        super().remove_artifact(hex_digest)
        rel = artifact_rel(hex_digest)
        for remote, recursive in ((self._remote(rel + ".json"), False), (self._remote(rel), True)):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(remote, recursive=recursive)

    def remove_run_files(self, run_id: str) -> None:
        super().remove_run_files(run_id)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._remote(f"runs/{run_id}"), recursive=True)

    def describe(self) -> str:
        return f"{self.url} (history: {self.db_path})"


def _parse_record(data: object) -> dict[str, Any] | None:
    """A run's record as `fs.cat` returned it (its bytes, or the error reading it), or None."""
    if not isinstance(data, bytes):
        return None
    try:
        record = json.loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kfp-jupyter"
