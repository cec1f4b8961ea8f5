"""The history's SQLite connection: opening, migrating, transactions, and damage reports.

Kept apart from the queries (history.py) because these are the guarantees every query relies on
and none should repeat: WAL mode lets readers (`runs list`, the widget) work while runners write;
every write is a short IMMEDIATE transaction, and a busy timeout makes concurrent runners wait
for each other instead of failing; a damaged file is reported as HistoryDamagedError, which names
the file and what to do, for every front end alike.
"""

from __future__ import annotations

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
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.db = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self.db.row_factory = sqlite3.Row
        try:
            with self._guard():
                _retry_locked(lambda: self.db.execute("PRAGMA journal_mode=WAL").fetchone())
                self.db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute("PRAGMA foreign_keys=ON")
                self._migrate(migrations)
        except BaseException:
            self.db.close()
            raise

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
                    raise UsageError(
                        f"the run history {self.path} was written by a newer kfp-jupyter "
                        f"(schema {current}, this one knows {latest}); upgrade kfp-jupyter"
                    )
                for migration in migrations[current:]:
                    migration(db)
                if row is None:
                    db.execute("INSERT INTO schema_version (version) VALUES (?)", (latest,))
                else:
                    db.execute("UPDATE schema_version SET version = ?", (latest,))
