"""The history's SQLite connection: opening, migrating, transactions, and damage reports.

Kept apart from the queries (history.py) because these are the guarantees every query relies on
and none should repeat: WAL mode lets readers (`runs list`, the widget) work while runners write;
every write is a short IMMEDIATE transaction, and a busy timeout makes concurrent runners wait
for each other instead of failing; a damaged file is reported as HistoryDamagedError, which names
the file and what to do, for every front end alike.

A history this process cannot write (a store on a read-only disk, or another user's) is opened
read-only, as it is: nothing is migrated, repaired or created, and a write says plainly that the
store cannot be written here. A database of another application is refused before anything in it
changes (not even its journal mode).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..errors import KfpJupyterError, UsageError
from .schema import MIGRATIONS, Migration

BUSY_TIMEOUT_S = 60.0

_T = TypeVar("_T")


class HistoryDamagedError(KfpJupyterError):
    """The history database is not a readable SQLite database any more."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        aside = path.with_name(path.name + ".damaged")
        super().__init__(
            f"the run history {path} is damaged ({detail}). Move it aside "
            f"(mv {path} {aside}, and {path.name}-wal and {path.name}-shm if present) and run "
            "again: a new history is started, and every finished run is indexed again from its "
            f"record in {path.parent / 'runs'} (its tasks, artifacts, metrics and cache); "
            "artifacts, programs and logs remain in the store"
        )


_DAMAGE = ("malformed", "not a database", "disk image", "corrupt", "database disk")


def _is_damage(e: sqlite3.DatabaseError) -> bool:
    """Damage, as opposed to a lock, a full disk or a bug in our SQL."""
    return any(word in str(e).lower() for word in _DAMAGE)


def _writable(path: Path) -> bool:
    """Whether this process may write the history (and make its -wal and -shm files beside it).
    Root may write where permissions forbid it, but never on a read-only file system: access()
    knows both."""
    if path.exists():
        return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK | os.X_OK)


def _cannot_write(e: sqlite3.OperationalError) -> bool:
    return any(w in str(e) for w in ("readonly", "read-only", "unable to open database file"))


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if not read_only:
        return sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    uri = path.absolute().as_uri() + "?mode=ro"
    db = _connect_uri(uri)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        # A WAL database is read through its -shm file, which a reader makes when it is not
        # there; where it cannot, nobody is writing the file (a writer would have made it), so
        # it is read as immutable.
        db.close()
    return _connect_uri(uri + "&immutable=1")


def _connect_uri(uri: str) -> sqlite3.Connection:
    return sqlite3.connect(
        uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )


def _newer(path: Path, current: int, latest: int) -> UsageError:
    return UsageError(
        f"the run history {path} was written by a newer kfp-jupyter "
        f"(schema {current}, this one knows {latest}); upgrade kfp-jupyter"
    )


def _retry_locked(fn: Callable[[], _T], attempts: int = 50) -> _T | None:
    # Switching a new database to WAL needs a moment of exclusive access; several runners
    # opening a new store at once may see "locked" even with a busy timeout.
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or i == attempts - 1:
                raise
            time.sleep(0.05 + 0.01 * i)
    return None


def ensure_named(db: sqlite3.Connection, table: str, name: str) -> int:
    """The id of the experiment or pipeline `name`, made if it is new."""
    db.execute(f"INSERT OR IGNORE INTO {table} (name, created) VALUES (?, ?)", (name, time.time()))
    row = db.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
    return int(row[0])


def ensure_version(
    db: sqlite3.Connection, pipeline_id: int, digest: str, spec: str, created: float
) -> int:
    """The id of a pipeline's version with this digest, made if it is new."""
    db.execute(
        "INSERT OR IGNORE INTO pipeline_versions (pipeline_id, digest, spec, created) "
        "VALUES (?, ?, ?, ?)",
        (pipeline_id, digest, spec, created),
    )
    row = db.execute(
        "SELECT id FROM pipeline_versions WHERE pipeline_id = ? AND digest = ?",
        (pipeline_id, digest),
    ).fetchone()
    return int(row[0])


class HistoryDatabase:
    """An open history database at the latest schema (thread-safe: calls are serialised)."""

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = path
        self._lock = threading.RLock()
        #: opened as it is, for reading only: this process cannot write the store
        self.read_only = not _writable(path)
        try:
            self._open(migrations)
        except sqlite3.OperationalError as e:
            # permissions may promise a write that the file system then refuses (root on a
            # network file system, say): read what can be read
            if self.read_only or not _cannot_write(e) or not path.is_file():
                raise
            self.read_only = True
            self._open(migrations)

    def _open(self, migrations: Sequence[Migration]) -> None:
        if self.read_only and not self.path.is_file():
            raise UsageError(
                f"there is no run history {self.path} yet, and {self.path.parent} cannot be "
                "written here to start one: run a command that writes the store (a run, or "
                "`kfp-jupyter runs list`) once where it can be written"
            )
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._guard():  # a damaged file fails its first read (read-only: on opening)
            self.db: sqlite3.Connection = _connect(self.path, self.read_only)
        self.db.row_factory = sqlite3.Row
        try:
            with self._guard():
                self._check_ours()
                if self.read_only:
                    self._check_current(len(migrations))
                    return
                _retry_locked(lambda: self.db.execute("PRAGMA journal_mode=WAL").fetchone())
                self.db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute("PRAGMA foreign_keys=ON")
                self._migrate(migrations)
        except BaseException:
            self.db.close()
            raise

    def _check_ours(self) -> None:
        """Refuse another application's database (one with tables, none of them ours) before
        anything in it changes."""
        tables = {
            str(r[0])
            for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not str(r[0]).startswith("sqlite_")
        }
        if tables and "schema_version" not in tables:
            raise UsageError(
                f"{self.path} is not a kfp-jupyter store's run history (its tables "
                f"{', '.join(sorted(tables)[:5])} are another application's): point --store "
                "(or KFP_JUPYTER_STORE) at a kfp-jupyter store, or at a new folder"
            )

    def _check_current(self, latest: int) -> None:
        """A history read as it is must be at the schema this version reads."""
        exists = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
        ).fetchone()
        current = self.schema_version() if exists else 0
        if current > latest:
            raise _newer(self.path, current, latest)
        if current < latest:
            raise UsageError(
                f"the run history {self.path} was written by an older kfp-jupyter (schema "
                f"{current}, this one reads {latest}) and must be upgraded, which cannot be done "
                "here, where it is read-only: run `kfp-jupyter runs list --store "
                f"{self.path.parent}` once as a user who can write it, then read it here"
            )

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite's word for a damaged file into one a user can act on."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            if _is_damage(e):
                raise HistoryDamagedError(self.path, str(e)) from None
            raise

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise UsageError(
                f"the store {self.path.parent} cannot be written here (read-only), and this "
                "command changes its run history: run it where the store can be written, or "
                "point --store (or KFP_JUPYTER_STORE) at a store you can write"
            )
        with self._lock, self._guard():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock, self._guard():
            return list(self.db.execute(sql, args).fetchall())

    def schema_version(self) -> int:
        row = self._read("SELECT version FROM schema_version")
        return int(row[0][0]) if row else 0

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        latest = len(migrations)
        with self._lock:
            exists = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
            ).fetchone()
            if exists and self.schema_version() == latest:
                return
            with self._tx() as db:
                db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = db.execute("SELECT version FROM schema_version").fetchone()
                current = int(row[0]) if row else 0
                if current > latest:
                    raise _newer(self.path, current, latest)
                for migration in migrations[current:]:
                    migration(db)
                if row is None:
                    db.execute("INSERT INTO schema_version (version) VALUES (?)", (latest,))
                else:
                    db.execute("UPDATE schema_version SET version = ?", (latest,))
