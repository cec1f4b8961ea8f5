"""Where runs keep their artifacts, logs and history: a local folder or any fsspec URL. This
module finds and opens a store (`open_store`), and is the local one (`LocalStore`); the interface
all stores share is storebase.py, the remote one remotestore.py, the layout storelayout.py.

Artifacts are content-addressed (storelayout.py), so identical outputs of different runs are
stored once. `<hex>` is the BLAKE3 digest of the folder (digest.py), or its sha256 in stores
written before BLAKE3: the store's methods take either the bare hex or the digest with its
algorithm, and find the algorithm of a bare hex in the manifest when they need it. A runner killed
half-way through storing an artifact leaves no artifact that looks complete: its manifest is
written last.

The digest of a new artifact comes from the step that wrote it (hashed as the bytes went out), so
storing it reads none of its bytes again; the files the step did not hash (or that changed since
it hashed them) are hashed here, once. Stored bytes that were edited or damaged since are found
before they are reused (storebase.py, `verify_artifact`).

SQLite needs a local file system with working locks, so the history database (and the scratch
folders of running steps, and a read cache of artifacts) always lives in a local folder: the store
folder itself for a local store, and `<cache dir>/stores/<hash of the URL>/` for a remote one,
made by the first command that writes (a run): one that only reads makes nothing.

Step programs (each embeds the step runtime, so they run alone) and the pipeline versions that
list them are content-addressed as well, written once, by the first run that needs them. A run
refers to them by digest, so a run whose steps are all cached writes nothing but its record.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import UsageError
from ..fileio import write_atomically
from .digest import stat_folder
from .remotestore import FsspecStore
from .storebase import Store
from .storelayout import (
    ArtifactRef,
    artifact_rel,
    artifact_type,
    freeze,
    manifest_json,
    step_digested,
)

STORE_ENV = "KFP_JUPYTER_STORE"
STORE_DIRNAME = ".kfp-jupyter"


class LocalStore(Store):
    """A folder on this machine; artifacts are committed by one atomic rename."""

    def __init__(self, root: Path) -> None:
        self.local_root = root.absolute()
        self.url = str(self.local_root)
        self.local_root.mkdir(parents=True, exist_ok=True)

    def artifact_uri(self, hex_digest: str) -> str:
        return str(self.local_root / artifact_rel(hex_digest))

    def has_artifact(self, hex_digest: str) -> bool:
        return (self.local_root / (artifact_rel(hex_digest) + ".json")).is_file()

    def commit_artifact(self, folder: Path, variable: str | None = None) -> ArtifactRef:
        d = step_digested(folder)
        target = self.local_root / artifact_rel(d.hex)
        manifest = target.with_name(target.name + ".json")
        if not manifest.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            ours = False
            if not target.is_dir():
                freeze(folder)
                try:
                    os.rename(folder, target)
                    ours = True
                except OSError:
                    # Another runner committed the same content first: theirs is complete (a
                    # rename is atomic), so ours is redundant.
                    if not target.is_dir():
                        raise
            # ours as it was hashed; a copy another runner committed first as it is
            self._record_stat(d.hex, d.stat if ours else stat_folder(target))
            write_atomically(manifest, manifest_json(d, variable))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        return ArtifactRef(
            d.digest, d.size, self.artifact_uri(d.hex), artifact_type(d.files, variable)
        )

    def artifact_path(self, hex_digest: str) -> Path:
        return self.local_root / artifact_rel(hex_digest)

    def _local_copy(self, hex_digest: str) -> Path | None:
        return self.local_root / artifact_rel(hex_digest) if self.has_artifact(hex_digest) else None

    def _forget(self, hex_digest: str) -> None:
        # The manifest first: from then on the artifact does not exist for anyone.
        with contextlib.suppress(OSError):
            (self.local_root / (artifact_rel(hex_digest) + ".json")).unlink()


def is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def default_store_location(cwd: Path | None = None) -> Path:
    """Inside a git repository: the nearest existing `.kfp-jupyter` folder from cwd up to the top
    of the repository, else one at its top; outside a repository: the one in cwd.

    So the CLI at a repository's root and a kernel whose cwd is a notebook's folder below it
    share one history. Outside a repository nothing marks where a project ends: a walk up (even
    one that stops below $HOME) would let a stray `.kfp-jupyter` in a shared parent folder
    silently collect unrelated projects' runs, so only cwd is looked at.
    """
    here = (cwd or Path.cwd()).absolute()
    top = _repository_top(here)
    if top is None:
        return here / STORE_DIRNAME
    for d in (here, *here.parents):
        if (d / STORE_DIRNAME).is_dir() or d == top:
            return d / STORE_DIRNAME
    return top / STORE_DIRNAME


def _repository_top(here: Path) -> Path | None:
    """The nearest folder from `here` up that holds `.git` (a folder, or a worktree's file)."""
    return next((d for d in (here, *here.parents) if (d / ".git").exists()), None)


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


def check_local_root(root: Path, write: bool = True) -> None:
    """Refuse a store folder that cannot be one: a file, a folder under a missing or non-folder
    parent, a folder that cannot be written (`write`: a command that only reads may read a
    store it cannot write). A store's folder is created, but never its parents: a typo must not
    make a new tree somewhere."""
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
    if not write:
        return
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

    With create=False a store without a history is an error (for commands that only read), and
    a store that cannot be written is read as it is (history_db.py).
    """
    if isinstance(store, Store):
        return store
    url = resolve_store_url(store)
    if url.startswith("file://"):
        url = url[len("file://") :]
    if is_url(url):
        check_url(url)
        remote = FsspecStore(url, make_local=False)
        if create:  # a URL fsspec cannot open (`bogus://x`) leaves no folder behind
            remote.check()
            remote.make_local()
        st: Store = remote
    else:
        root = Path(url).expanduser().absolute()
        if not create and not (root / "history.db").is_file() and not _has_records(root):
            raise UsageError(
                f"there is no run history in {root} (run a notebook with `kfp-jupyter run` "
                "first, or point --store / KFP_JUPYTER_STORE at another store)"
            )
        check_local_root(root, write=create)
        st = LocalStore(root)
    if not create and not st.db_path.is_file() and not _has_records(st.local_root):
        st.check()  # a URL that cannot name a store (`bogus://x`) says that first
        raise UsageError(f"there is no run history for {st.url} on this machine ({st.db_path})")
    return st


def _has_records(root: Path) -> bool:
    """Whether runs left records a new history indexes again (its old one moved aside)."""
    return next(root.glob("runs/*/record.json"), None) is not None
