"""Where runs keep their artifacts, logs and history: a local folder or any fsspec URL.

Artifacts are content-addressed: `artifacts/<hh>/<sha256>/` holds one variable's folder and
`artifacts/<hh>/<sha256>.json` (its manifest) is written last, so an artifact exists exactly when
its manifest does; a runner killed half-way through an upload leaves no artifact that looks
complete. Identical outputs of different runs are stored once.

Stored bytes can still be edited by hand (or damaged). Next to each artifact's folder on this
machine, `<sha256>.stat.json` records each file's size and mtime when it was stored; before an
artifact is reused or handed to a step (`verify_artifact`) its files are compared with that
record, and only files that differ are hashed again. An artifact that no longer matches its
digest is never reused: it is discarded, and the step that made it runs again.

SQLite needs a local file system with working locks, so the history database (and the scratch
folders of running steps, and a read cache of artifacts) always lives in a local folder: the store
folder itself for a local store, and `<cache dir>/stores/<hash of the URL>/` for a remote one.
A remote store also receives each run's logs, its record and a `run.json` summary, so it
describes itself without the database.

Step programs (each embeds the step runtime, so they run alone) and the pipeline versions that
list them are content-addressed as well: `programs/<sha256>.py` and `programs/<sha256>.json`,
written once, by the first run that needs them. A run refers to them by digest, so a run whose
steps are all cached writes nothing but its record.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import KfpJupyterError, UsageError, install_extra
from ..fileio import write_atomically
from .digest import FolderDigest, StatRecord, content_changed, digest_folder, stat_folder

STORE_ENV = "KFP_JUPYTER_STORE"
CACHE_ENV = "KFP_JUPYTER_CACHE_DIR"
STORE_DIRNAME = ".kfp-jupyter"


@dataclass(frozen=True)
class ArtifactRef:
    """One stored artifact: a variable's folder, by content."""

    digest: str
    size: int
    uri: str
    type: str  # the file format the runtime chose: npy, parquet, joblib, pt, json, pkl

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]


def artifact_type(files: tuple[tuple[str, int], ...], variable: str | None) -> str:
    """The format of a saved variable (npy, parquet, ...), or "file" for a component's file."""
    for rel, _ in files:
        name = rel.rsplit("/", 1)[-1]
        if variable is not None and name == variable:
            return "file"
        if variable is None or name.startswith(variable + "."):
            return name.rsplit(".", 1)[-1] if "." in name else "file"
    return ""


def _rel(hex_digest: str) -> str:
    return f"artifacts/{hex_digest[:2]}/{hex_digest}"


#: the suffix of a pipeline version's spec among the programs (`programs/<sha256>.json`)
SPEC_SUFFIX = ".json"


def text_digest(text: str) -> str:
    """The hex sha256 of a program's (or a version spec's) UTF-8 text: its name in `programs/`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def program_rel(hex_digest: str, suffix: str = ".py") -> str:
    """Where a program (`.py`) or a pipeline version's spec (`.json`) is kept in the store."""
    return f"programs/{hex_digest}{suffix}"


def shorten_record(record: dict[str, Any], store: Store) -> None:
    """Leave out of a run's record (history.export_run) what the store implies: an artifact's
    URI when it is the store's own (`lengthen_record` puts it back from `record["store"]`), a
    log's path up to the store's folder. A cached run then writes a few KB, not its paths."""
    record["store"] = store.url
    for artifact in record.get("artifacts", ()):
        digest = str(artifact.get("digest", ""))
        if ":" in digest and artifact.get("uri") == f"{store.url}/{_rel(digest.split(':', 1)[1])}":
            del artifact["uri"]
    root = str(store.local_root) + os.sep
    for task in record.get("tasks", ()):
        log = task.get("log")
        if isinstance(log, str) and log.startswith(root):
            task["log"] = log[len(root) :]


def lengthen_record(record: dict[str, Any], local_root: Path) -> None:
    """Undo `shorten_record` for the store whose local folder is `local_root`."""
    for artifact in record.get("artifacts", ()):
        if "uri" not in artifact:
            artifact["uri"] = f"{record['store']}/{_rel(artifact['digest'].split(':', 1)[1])}"
    for task in record.get("tasks", ()):
        log = task.get("log")
        if isinstance(log, str) and not Path(log).is_absolute():
            task["log"] = str(local_root / log)


class ArtifactChangedError(KfpJupyterError):
    """A stored artifact's bytes no longer match its digest (edited or damaged in the store)."""


def _read_record(path: Path) -> StatRecord | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
        return self.local_root / (_rel(hex_digest) + ".stat.json")

    def _record_stat(self, hex_digest: str, folder: Path) -> None:
        """Remember the files of an artifact as stored, for the cheap check of verify_artifact."""
        with contextlib.suppress(OSError):
            write_atomically(self._stat_path(hex_digest), json.dumps(stat_folder(folder)))

    def verify_artifact(self, hex_digest: str) -> str | None:
        """Why the artifact's bytes here no longer match its digest, or None if they do (or if
        there is no copy here: a fetched copy is checked as it arrives).

        Files with the size and mtime recorded at store time are trusted without reading them.
        """
        folder = self._local_copy(hex_digest)
        if folder is None:
            return None
        current = stat_folder(folder)
        if current and _read_record(self._stat_path(hex_digest)) == current:
            return None
        problem = content_changed(folder, hex_digest)
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
            aside = self.staging_dir() / f"discarded-{hex_digest[:12]}-{uuid.uuid4().hex[:6]}"
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


def _manifest(d: FolderDigest, variable: str | None) -> str:
    return json.dumps(
        {
            "digest": d.digest,
            "size": d.size,
            "type": artifact_type(d.files, variable),
            "files": [{"path": p, "size": s} for p, s in d.files],
        },
        indent=1,
    )


def _freeze(folder: Path) -> None:
    """Make a stored artifact's files read-only: steps read their inputs in place, and content
    that others share by digest must not change under them."""
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(root, name), 0o444)


class LocalStore(Store):
    """A folder on this machine; artifacts are committed by one atomic rename."""

    def __init__(self, root: Path) -> None:
        self.local_root = root.absolute()
        self.url = str(self.local_root)
        self.local_root.mkdir(parents=True, exist_ok=True)

    def artifact_uri(self, hex_digest: str) -> str:
        return str(self.local_root / _rel(hex_digest))

    def has_artifact(self, hex_digest: str) -> bool:
        return (self.local_root / (_rel(hex_digest) + ".json")).is_file()

    def commit_artifact(self, folder: Path, variable: str | None = None) -> ArtifactRef:
        d = digest_folder(folder)
        target = self.local_root / _rel(d.hex)
        manifest = target.with_name(target.name + ".json")
        if not manifest.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.is_dir():
                _freeze(folder)
                try:
                    os.rename(folder, target)
                except OSError:
                    # Another runner committed the same content first: theirs is complete (a
                    # rename is atomic), so ours is redundant.
                    if not target.is_dir():
                        raise
            self._record_stat(d.hex, target)
            write_atomically(manifest, _manifest(d, variable))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        return ArtifactRef(
            d.digest, d.size, self.artifact_uri(d.hex), artifact_type(d.files, variable)
        )

    def artifact_path(self, hex_digest: str) -> Path:
        return self.local_root / _rel(hex_digest)

    def _local_copy(self, hex_digest: str) -> Path | None:
        return self.local_root / _rel(hex_digest) if self.has_artifact(hex_digest) else None

    def _forget(self, hex_digest: str) -> None:
        # The manifest first: from then on the artifact does not exist for anyone.
        with contextlib.suppress(OSError):
            (self.local_root / (_rel(hex_digest) + ".json")).unlink()


class FsspecStore(Store):
    """Any fsspec file system (s3://, gs://, memory://, ...), with a local read cache.

    Credentials and endpoints come from the file system's own configuration, e.g. for S3 the
    standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for an
    S3-compatible server) or fsspec's FSSPEC_S3_* variables.
    """

    remote = True

    def __init__(self, url: str, cache_root: Path | None = None) -> None:
        if importlib.util.find_spec("fsspec") is None:
            raise UsageError(
                f"the store {url!r} needs fsspec (and s3fs for s3://): {install_extra('s3')}"
            )
        self.url = url.rstrip("/")
        key = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self.local_root = (cache_root or cache_dir()) / "stores" / key
        self.local_root.mkdir(parents=True, exist_ok=True)
        (self.local_root / "store-url.txt").write_text(self.url + "\n", encoding="utf-8")
        self._fs: Any = None
        self.base = ""

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

    def artifact_uri(self, hex_digest: str) -> str:
        return f"{self.url}/{_rel(hex_digest)}"

    def has_artifact(self, hex_digest: str) -> bool:
        path = self._remote(_rel(hex_digest) + ".json")
        self.fs.invalidate_cache(path)
        return bool(self.fs.exists(path))

    def commit_artifact(self, folder: Path, variable: str | None = None) -> ArtifactRef:
        d = digest_folder(folder)
        rel = _rel(d.hex)
        if not self.has_artifact(d.hex):
            for file_rel, _ in d.files:
                self.fs.put_file(str(folder / file_rel), self._remote(f"{rel}/{file_rel}"))
            with self.fs.open(self._remote(rel + ".json"), "w") as f:
                f.write(_manifest(d, variable))
        # Keep the bytes in the local read cache: the next step on this machine reads them there.
        cached = self.local_root / rel
        if not cached.is_dir():
            cached.parent.mkdir(parents=True, exist_ok=True)
            _freeze(folder)
            with contextlib.suppress(OSError):
                os.rename(folder, cached)
                self._record_stat(d.hex, cached)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        return ArtifactRef(
            d.digest, d.size, self.artifact_uri(d.hex), artifact_type(d.files, variable)
        )

    def artifact_path(self, hex_digest: str) -> Path:
        rel = _rel(hex_digest)
        cached = self.local_root / rel
        if cached.is_dir():
            return cached
        with self.fs.open(self._remote(rel + ".json"), "r") as f:
            manifest = json.load(f)
        tmp = self.staging_dir() / f"fetch-{uuid.uuid4().hex}"
        for entry in manifest["files"]:
            dest = tmp / entry["path"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(self._remote(f"{rel}/{entry['path']}"), str(dest))
        tmp.mkdir(parents=True, exist_ok=True)
        problem = content_changed(tmp, hex_digest)  # the bytes were read anyway: hash them
        if problem is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ArtifactChangedError(
                f"the artifact {self.artifact_uri(hex_digest)} in the store: {problem}; "
                "run the step that produced it again (e.g. kfp-jupyter run --no-cache)"
            )
        _freeze(tmp)
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, cached)
            self._record_stat(hex_digest, cached)
        except OSError:  # fetched by another task at the same time
            shutil.rmtree(tmp, ignore_errors=True)
        return cached

    def _local_copy(self, hex_digest: str) -> Path | None:
        cached = self.local_root / _rel(hex_digest)
        return cached if cached.is_dir() else None

    def publish(self, local: Path, rel: str) -> None:
        if local.is_file():
            self.fs.put_file(str(local), self._remote(rel))

    def program_names(self) -> set[str]:
        remote = {p.rsplit("/", 1)[-1] for p in self.fs.glob(self._remote("programs/*"))}
        return super().program_names() | remote

    def remove_program(self, name: str) -> None:
        super().remove_program(name)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._remote(f"programs/{name}"))

    def keep_program(self, text: str, suffix: str = ".py") -> Path:
        # The local copy is a cache here: a program another machine kept is not sent again.
        path = self.program_path(text_digest(text), suffix)
        if not path.is_file():
            write_atomically(path, text)
            remote = self._remote(program_rel(path.stem, suffix))
            if not self.fs.exists(remote):
                self.fs.put_file(str(path), remote)
        return path

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
        rel = _rel(hex_digest)
        for remote, recursive in ((self._remote(rel + ".json"), False), (self._remote(rel), True)):
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(remote, recursive=recursive)

    def remove_run_files(self, run_id: str) -> None:
        super().remove_run_files(run_id)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._remote(f"runs/{run_id}"), recursive=True)

    def describe(self) -> str:
        return f"{self.url} (history: {self.db_path})"


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kfp-jupyter"


def is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def default_store_location(cwd: Path | None = None) -> Path:
    """The nearest existing `.kfp-jupyter` folder from cwd up to the top of its git repository;
    else one at the top of the repository; else one in cwd.

    So the CLI at a repository's root and a kernel whose cwd is a notebook's folder below it
    share one history.
    """
    here = (cwd or Path.cwd()).absolute()
    for d in (here, *here.parents):
        if (d / STORE_DIRNAME).is_dir():
            return d / STORE_DIRNAME
        if (d / ".git").exists():
            return d / STORE_DIRNAME
    return here / STORE_DIRNAME


def resolve_store_url(store: str | os.PathLike[str] | None) -> str:
    if store is not None and str(store):
        return str(store)
    env = os.environ.get(STORE_ENV)
    if env:
        return env
    return str(default_store_location())


_FIX = "point --store (or KFP_JUPYTER_STORE) at a folder you can write, or at an fsspec URL"


def check_url(url: str) -> None:
    """Refuse a store URL that names no place (`s3://`, `foo://`): otherwise the runs would go
    somewhere nobody asked for, such as a folder called `s3:` next to the notebook."""
    scheme, _, rest = url.partition("://")
    if not scheme or not rest.strip("/"):
        raise UsageError(
            f"the store URL {url!r} names no bucket or folder: write it as "
            f"{scheme or 'SCHEME'}://BUCKET/PREFIX ({_FIX})"
        )


def check_local_root(root: Path) -> None:
    """Refuse a store folder that cannot be one: a file, a folder under a missing or non-folder
    parent, a folder that cannot be written. A store's folder is created, but never its
    parents: a typo must not make a new tree somewhere."""
    if root.exists():
        if not root.is_dir():
            raise UsageError(f"the store {root} is a file, not a folder: {_FIX}")
        where = root
    else:
        where = root.parent
        if not where.exists():
            raise UsageError(f"the store {root} is under {where}, which does not exist: {_FIX}")
        if not where.is_dir():
            raise UsageError(f"the store {root} is under {where}, which is a file: {_FIX}")
    if not os.access(where, os.W_OK | os.X_OK):
        raise UsageError(f"the store {root} cannot be written here ({where} is read-only): {_FIX}")
    _probe(root)


def _probe(root: Path) -> None:
    """Make the store's folder and write in it once: permissions alone do not say (root may
    write where they forbid it, and may not write on a read-only or special file system)."""
    try:
        root.mkdir(exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as e:
        raise UsageError(
            f"the store {root} cannot be written ({e.strerror or type(e).__name__}): {_FIX}"
        ) from None


def open_store(store: str | os.PathLike[str] | Store | None = None, create: bool = True) -> Store:
    """The store at a path or URL; None means KFP_JUPYTER_STORE, else the default folder.

    With create=False a store without a history is an error (for commands that only read).
    """
    if isinstance(store, Store):
        return store
    url = resolve_store_url(store)
    if url.startswith("file://"):
        url = url[len("file://") :]
    if is_url(url):
        check_url(url)
        st: Store = FsspecStore(url)
    else:
        root = Path(url).expanduser().absolute()
        if not create and not (root / "history.db").is_file() and not _has_records(root):
            raise UsageError(
                f"there is no run history in {root} (run a notebook with `kfp-jupyter run` "
                "first, or point --store / KFP_JUPYTER_STORE at another store)"
            )
        check_local_root(root)
        st = LocalStore(root)
    if not create and not st.db_path.is_file() and not _has_records(st.local_root):
        raise UsageError(f"there is no run history for {st.url} on this machine ({st.db_path})")
    return st


def _has_records(root: Path) -> bool:
    """Whether runs left records a new history indexes again (its old one moved aside)."""
    return next(root.glob("runs/*/record.json"), None) is not None
