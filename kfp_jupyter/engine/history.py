"""The run history: one SQLite database per store, safe for several runners at once.

WAL mode lets readers (`runs list`, the widget) work while runners write; every write is a short
IMMEDIATE transaction, and a busy timeout makes concurrent runners wait for each other instead
of failing. All state changes of a run go through here, so the database alone tells what
happened, even after a runner was killed: readers repair runs whose runner is gone
(see `repair_interrupted`).

A damaged database (truncated, overwritten) is reported as HistoryDamagedError, which names the
file and what to do, for every front end alike. The history cannot be rebuilt from the store:
its runs/ folders keep each run's programs, logs and summary, and the artifacts stay where they
are, but which step made which artifact (and so the cache) lives only in the database.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import KfpJupyterError, UsageError
from . import states
from .procinfo import RunnerId
from .schema import MIGRATIONS, Migration
from .store import SPEC_SUFFIX, ArtifactRef, lengthen_record, program_rel

BUSY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RunRow:
    id: str
    experiment: str
    pipeline: str
    version_id: int
    version_digest: str
    notebook: str | None
    parameters: dict[str, Any]
    options: dict[str, Any]
    state: str
    message: str | None
    created: float
    started: float | None
    finished: float | None
    runner: RunnerId | None


@dataclass(frozen=True)
class TaskRow:
    id: int
    run_id: str
    name: str
    position: int
    state: str
    attempts: int
    started: float | None
    finished: float | None
    exit_code: int | None
    cached: bool
    cache_key: str | None
    cached_from: int | None
    log: str | None
    message: str | None


@dataclass(frozen=True)
class ArtifactRow:
    run_id: str
    task_id: int
    step: str
    name: str
    type: str
    size: int
    digest: str
    uri: str

    def ref(self) -> ArtifactRef:
        return ArtifactRef(self.digest, self.size, self.uri, self.type)


@dataclass(frozen=True)
class CacheHit:
    task: TaskRow
    artifacts: dict[str, ArtifactRow]
    metrics: dict[str, float]


@dataclass(frozen=True)
class ExperimentRow:
    name: str
    created: float
    runs: int
    last_run: float | None


_TASK_COLUMNS = frozenset(
    {
        "state",
        "attempts",
        "started",
        "finished",
        "exit_code",
        "cached",
        "cache_key",
        "cached_from",
        "log",
        "message",
    }
)


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


#: the columns of a task, artifact or metric kept in a run's record (row ids are not: they are
#: made again when the record is imported; `cached_from` points into other runs, and is dropped)
_RECORD_TASK_COLUMNS = ("name", "position", *sorted(_TASK_COLUMNS - {"cached_from"}))
_RECORD_ARTIFACT_COLUMNS = ("step", "name", "type", "size", "digest", "uri")
_RECORD_METRIC_COLUMNS = ("step", "name", "value")


def new_run_id() -> str:
    return secrets.token_hex(4)


class History:
    """A connection to a store's history database (thread-safe: calls are serialised)."""

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        self._lock = threading.RLock()
        self.db = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self.db.row_factory = sqlite3.Row
        try:
            with self._guard():
                self._retry_locked(lambda: self.db.execute("PRAGMA journal_mode=WAL").fetchone())
                self.db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute("PRAGMA foreign_keys=ON")
                self._migrate(migrations)
            if fresh:
                self._reindex(path.parent / "runs")
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

    @staticmethod
    def _retry_locked(fn: Any, attempts: int = 50) -> Any:
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

    # --- a run's record: the history of one run as a file, to index it again ------------------

    def export_run(self, run_id: str) -> dict[str, Any]:
        """Everything the history holds about a run, by name instead of row ids: written next
        to the run's logs when it ends (runs/ID/record.json), so that a new history (after the
        old one was lost or damaged) can index the run again (import_run)."""
        run = self._read(
            "SELECT r.*, e.name AS experiment, p.name AS pipeline, v.digest AS version_digest, "
            "v.spec AS spec FROM runs r JOIN experiments e ON e.id = r.experiment_id "
            "JOIN pipeline_versions v ON v.id = r.version_id JOIN pipelines p ON p.id = "
            "v.pipeline_id WHERE r.id = ?",
            (run_id,),
        )[0]
        columns = ("notebook", "parameters", "options", "state", "message", "created")
        record: dict[str, Any] = {k: run[k] for k in ("id", "experiment", "pipeline", *columns)}
        record.update(started=run["started"], finished=run["finished"])
        record["version"] = {"digest": run["version_digest"], "spec": run["spec"]}
        record["tasks"] = [
            {k: t[k] for k in _RECORD_TASK_COLUMNS}
            for t in self._read("SELECT * FROM tasks WHERE run_id = ? ORDER BY position", (run_id,))
        ]
        for table, columns_of in (
            ("artifacts", _RECORD_ARTIFACT_COLUMNS),
            ("metrics", _RECORD_METRIC_COLUMNS),
        ):
            record[table] = [
                {"task": r["task"], **{k: r[k] for k in columns_of}}
                for r in self._read(
                    f"SELECT x.*, t.name AS task FROM {table} x JOIN tasks t ON t.id = x.task_id "
                    "WHERE x.run_id = ? ORDER BY x.id",
                    (run_id,),
                )
            ]
        return record

    def import_run(self, record: dict[str, Any]) -> bool:
        """Index a run again from its record (export_run); False if the history has it."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM runs WHERE id = ?", (record["id"],)).fetchone():
                return False
            exp = self._ensure(db, "experiments", record["experiment"])
            pid = self._ensure(db, "pipelines", record["pipeline"])
            version = record["version"]
            db.execute(
                "INSERT OR IGNORE INTO pipeline_versions (pipeline_id, digest, spec, created) "
                "VALUES (?, ?, ?, ?)",
                (pid, version["digest"], version["spec"], record["created"]),
            )
            vid = db.execute(
                "SELECT id FROM pipeline_versions WHERE pipeline_id = ? AND digest = ?",
                (pid, version["digest"]),
            ).fetchone()[0]
            run_columns = ("notebook", "parameters", "options", "state", "message", "created")
            db.execute(
                "INSERT INTO runs (id, experiment_id, version_id, "
                + ", ".join(run_columns)
                + ", started, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record["id"],
                    exp,
                    vid,
                    *(record[k] for k in run_columns),
                    record["started"],
                    record["finished"],
                ),
            )
            task_ids: dict[str, int] = {}
            for t in record["tasks"]:
                cursor = db.execute(
                    f"INSERT INTO tasks (run_id, {', '.join(_RECORD_TASK_COLUMNS)}) "
                    f"VALUES (?, {', '.join('?' * len(_RECORD_TASK_COLUMNS))})",
                    (record["id"], *(t[k] for k in _RECORD_TASK_COLUMNS)),
                )
                task_ids[t["name"]] = int(cursor.lastrowid or 0)
            for table, columns in (
                ("artifacts", _RECORD_ARTIFACT_COLUMNS),
                ("metrics", _RECORD_METRIC_COLUMNS),
            ):
                db.executemany(
                    f"INSERT INTO {table} (run_id, task_id, {', '.join(columns)}) "
                    f"VALUES (?, ?, {', '.join('?' * len(columns))})",
                    [
                        (record["id"], task_ids[r["task"]], *(r[k] for k in columns))
                        for r in record[table]
                    ],
                )
        return True

    def _reindex(self, runs: Path) -> None:
        """A new history in a store that has runs: index again each run that left a record.
        A record that cannot be read is passed over (its run stays out of the history)."""
        for path in sorted(runs.glob("*/record.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                version = record["version"]
                if "spec" not in version:  # kept once by content, named by its digest
                    spec = runs.parent / program_rel(version["spec_sha256"], SPEC_SUFFIX)
                    version["spec"] = spec.read_text(encoding="utf-8")
                lengthen_record(record, runs.parent)
                self.import_run(record)
            except (OSError, ValueError, KeyError, TypeError, sqlite3.IntegrityError):
                continue

    # --- writing a run ------------------------------------------------------------------------

    def _ensure(self, db: sqlite3.Connection, table: str, name: str) -> int:
        db.execute(
            f"INSERT OR IGNORE INTO {table} (name, created) VALUES (?, ?)", (name, time.time())
        )
        row = db.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def create_run(
        self,
        *,
        experiment: str,
        pipeline: str,
        digest: str,
        spec: str,
        notebook: str | None,
        parameters: dict[str, Any],
        options: dict[str, Any],
        steps: Sequence[str],
        runner: RunnerId,
    ) -> str:
        """Record a new run (RUNNING, owned by `runner`) and its PENDING tasks; return its id."""
        now = time.time()
        with self._tx() as db:
            exp = self._ensure(db, "experiments", experiment)
            pid = self._ensure(db, "pipelines", pipeline)
            db.execute(
                "INSERT OR IGNORE INTO pipeline_versions (pipeline_id, digest, spec, created) "
                "VALUES (?, ?, ?, ?)",
                (pid, digest, spec, now),
            )
            version = int(
                db.execute(
                    "SELECT id FROM pipeline_versions WHERE pipeline_id = ? AND digest = ?",
                    (pid, digest),
                ).fetchone()[0]
            )
            while True:
                run_id = new_run_id()
                if not db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                    break
            db.execute(
                "INSERT INTO runs (id, experiment_id, version_id, notebook, parameters, options, "
                "state, created, started, runner_host, runner_pid, runner_token) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    exp,
                    version,
                    notebook,
                    json.dumps(parameters),
                    json.dumps(options),
                    states.RUNNING,
                    now,
                    now,
                    runner.host,
                    runner.pid,
                    runner.token,
                ),
            )
            db.executemany(
                "INSERT INTO tasks (run_id, name, position, state) VALUES (?, ?, ?, ?)",
                [(run_id, s, i, states.PENDING) for i, s in enumerate(steps)],
            )
        return run_id

    def claim_for_resume(self, run_id: str, runner: RunnerId, options: dict[str, Any]) -> None:
        """Take over an ended run: it becomes RUNNING again, its unfinished tasks PENDING."""
        self.repair_interrupted()
        with self._tx() as db:
            row = db.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise UsageError(f"no run {run_id!r}")
            if row[0] in states.ACTIVE:
                raise UsageError(f"run {run_id} is still running; it cannot be resumed twice")
            db.execute(
                "UPDATE runs SET state = ?, message = NULL, finished = NULL, options = ?, "
                "runner_host = ?, runner_pid = ?, runner_token = ? WHERE id = ?",
                (
                    states.RUNNING,
                    json.dumps(options),
                    runner.host,
                    runner.pid,
                    runner.token,
                    run_id,
                ),
            )
            ok = tuple(states.DONE_OK)
            db.execute(
                "DELETE FROM artifacts WHERE task_id IN (SELECT id FROM tasks WHERE run_id = ? "
                f"AND state NOT IN ({','.join('?' * len(ok))}))",
                (run_id, *ok),
            )
            db.execute(
                "DELETE FROM metrics WHERE task_id IN (SELECT id FROM tasks WHERE run_id = ? "
                f"AND state NOT IN ({','.join('?' * len(ok))}))",
                (run_id, *ok),
            )
            db.execute(
                "UPDATE tasks SET state = ?, attempts = 0, started = NULL, finished = NULL, "
                "exit_code = NULL, message = NULL, cached = 0, cached_from = NULL "
                f"WHERE run_id = ? AND state NOT IN ({','.join('?' * len(ok))})",
                (states.PENDING, run_id, *ok),
            )

    def set_run_state(
        self, run_id: str, state: str, *, message: str | None = None, finished: float | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET state = ?, message = ?, finished = ? WHERE id = ?",
                (state, message, finished, run_id),
            )

    def update_task(self, task_id: int, **fields: Any) -> None:
        bad = set(fields) - _TASK_COLUMNS
        if bad:
            raise ValueError(f"unknown task columns {sorted(bad)}")
        if not fields:
            return
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE tasks SET {cols} WHERE id = ?", (*fields.values(), task_id))

    def finish_task(
        self,
        task: TaskRow,
        fields: dict[str, Any],
        artifacts: dict[str, ArtifactRef],
        metrics: dict[str, float],
    ) -> None:
        """Record a task's end with its outputs in one transaction: a reader never sees a
        SUCCEEDED task without its artifacts."""
        bad = set(fields) - _TASK_COLUMNS
        if bad:
            raise ValueError(f"unknown task columns {sorted(bad)}")
        with self._tx() as db:
            db.execute("DELETE FROM artifacts WHERE task_id = ?", (task.id,))
            db.execute("DELETE FROM metrics WHERE task_id = ?", (task.id,))
            db.executemany(
                "INSERT INTO artifacts (run_id, task_id, step, name, type, size, digest, uri) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (task.run_id, task.id, task.name, n, a.type, a.size, a.digest, a.uri)
                    for n, a in artifacts.items()
                ],
            )
            db.executemany(
                "INSERT INTO metrics (run_id, task_id, step, name, value) VALUES (?, ?, ?, ?, ?)",
                [(task.run_id, task.id, task.name, n, float(v)) for n, v in metrics.items()],
            )
            if fields:
                cols = ", ".join(f"{k} = ?" for k in fields)
                db.execute(f"UPDATE tasks SET {cols} WHERE id = ?", (*fields.values(), task.id))

    # --- the cache ----------------------------------------------------------------------------

    def find_cached(self, cache_key: str, exclude_run: str | None = None) -> CacheHit | None:
        """The most recent successful task with this cache key, with its outputs and metrics."""
        rows = self._read(
            "SELECT * FROM tasks WHERE cache_key = ? AND state IN (?, ?) AND run_id != ? "
            "ORDER BY finished DESC LIMIT 5",
            (cache_key, states.SUCCEEDED, states.CACHED, exclude_run or ""),
        )
        for row in rows:
            task = _task(row)
            arts = {
                a.name: a
                for a in (
                    _artifact(r)
                    for r in self._read("SELECT * FROM artifacts WHERE task_id = ?", (task.id,))
                )
            }
            mets = {
                str(r["name"]): float(r["value"])
                for r in self._read("SELECT name, value FROM metrics WHERE task_id = ?", (task.id,))
            }
            return CacheHit(task, arts, mets)
        return None

    # --- reading ------------------------------------------------------------------------------

    _RUN_SELECT = (
        "SELECT r.*, e.name AS experiment, p.name AS pipeline, v.digest AS version_digest "
        "FROM runs r JOIN experiments e ON e.id = r.experiment_id "
        "JOIN pipeline_versions v ON v.id = r.version_id JOIN pipelines p ON p.id = v.pipeline_id "
    )

    def repair_interrupted(self) -> list[str]:
        """Mark runs whose runner died (on this host) INTERRUPTED, with their running tasks.

        Called by every reader: the store is consistent for whoever looks next, whatever
        killed the runner.
        """
        active = tuple(states.ACTIVE)
        rows = self._read(
            "SELECT id, runner_host, runner_pid, runner_token FROM runs "
            f"WHERE state IN ({','.join('?' * len(active))})",
            active,
        )
        repaired: list[str] = []
        for row in rows:
            runner = RunnerId(
                row["runner_host"] or "", int(row["runner_pid"] or 0), row["runner_token"]
            )
            if runner.alive() is not False:
                continue
            now = time.time()
            message = f"the runner (pid {runner.pid} on {runner.host}) stopped before the run ended"
            with self._tx() as db:
                cur = db.execute(
                    "UPDATE runs SET state = ?, message = ?, finished = ? WHERE id = ? AND "
                    f"state IN ({','.join('?' * len(active))}) AND runner_pid = ? AND runner_host = ?",
                    (states.INTERRUPTED, message, now, row["id"], *active, runner.pid, runner.host),
                )
                if cur.rowcount:
                    db.execute(
                        "UPDATE tasks SET state = ?, finished = ?, message = ? "
                        "WHERE run_id = ? AND state = ?",
                        (
                            states.INTERRUPTED,
                            now,
                            "interrupted with its runner",
                            row["id"],
                            states.RUNNING,
                        ),
                    )
                    repaired.append(str(row["id"]))
        return repaired

    def resolve_run_id(self, ref: str) -> str:
        """A run id from 'latest', a full id or a unique prefix of one."""
        ref = ref.strip()
        if ref in ("latest", "last"):
            rows = self._read("SELECT id FROM runs ORDER BY created DESC LIMIT 1")
            if not rows:
                raise UsageError("there are no runs in this store yet")
            return str(rows[0][0])
        rows = self._read(
            "SELECT id FROM runs WHERE id LIKE ? ORDER BY created DESC",
            (ref.replace("%", "").replace("_", "") + "%",),
        )
        ids = [str(r[0]) for r in rows]
        if ref in ids:
            return ref
        if not ids:
            raise UsageError(f"no run {ref!r} in this store (see: kfp-jupyter runs list)")
        if len(ids) > 1:
            raise UsageError(f"{ref!r} matches several runs: {', '.join(ids[:5])}")
        return ids[0]

    def get_run(self, ref: str, repair: bool = True) -> RunRow:
        if repair:
            self.repair_interrupted()
        run_id = self.resolve_run_id(ref)
        rows = self._read(self._RUN_SELECT + "WHERE r.id = ?", (run_id,))
        return _run(rows[0])

    @staticmethod
    def _where(experiment: str | None, states: Sequence[str]) -> tuple[str, list[Any]]:
        clauses, args = [], []
        if experiment is not None:
            clauses.append("e.name = ?")
            args.append(experiment)
        if states:
            clauses.append(f"r.state IN ({', '.join('?' * len(states))})")
            args += list(states)
        return ("WHERE " + " AND ".join(clauses) + " " if clauses else ""), args

    def list_runs(
        self, experiment: str | None = None, limit: int | None = None, states: Sequence[str] = ()
    ) -> list[RunRow]:
        """Runs, newest first; only those of `experiment` and in one of `states` when given."""
        self.repair_interrupted()
        where, args = self._where(experiment, states)
        sql = self._RUN_SELECT + where + "ORDER BY r.created DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_run(r) for r in self._read(sql, args)]

    def count_runs(self, experiment: str | None = None, states: Sequence[str] = ()) -> int:
        where, args = self._where(experiment, states)
        sql = "SELECT COUNT(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id " + where
        return int(self._read(sql, args)[0][0])

    def task_counts(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """{run: {state: number of its tasks}} for many runs in one query (a listing of a
        thousand runs must not cost a thousand queries)."""
        out: dict[str, dict[str, int]] = {r: {} for r in run_ids}
        for chunk in (run_ids[i : i + 500] for i in range(0, len(run_ids), 500)):
            rows = self._read(
                "SELECT run_id, state, COUNT(*) AS n FROM tasks "
                f"WHERE run_id IN ({', '.join('?' * len(chunk))}) GROUP BY run_id, state",
                list(chunk),
            )
            for r in rows:
                out[str(r["run_id"])][str(r["state"])] = int(r["n"])
        return out

    def artifact_sizes(self, run_ids: Sequence[str] | None = None) -> dict[str, int]:
        """{digest: size} of the artifacts the runs (default: all runs) refer to."""
        sql, args = "SELECT digest, MAX(size) AS size FROM artifacts ", []
        if run_ids is not None:
            if not run_ids:
                return {}
            sql += f"WHERE run_id IN ({', '.join('?' * len(run_ids))}) "
            args = list(run_ids)
        rows = self._read(sql + "GROUP BY digest", args)
        return {str(r["digest"]): int(r["size"]) for r in rows}

    def delete_runs(self, run_ids: Sequence[str]) -> None:
        """Forget runs with their tasks, artifacts and metrics (not the artifacts' bytes: other
        runs may share them). Kept tasks that were taken from a removed task's cache keep their
        own artifacts; only the link to where they came from goes."""
        if not run_ids:
            return
        marks = ", ".join("?" * len(run_ids))
        ids = list(run_ids)
        with self._tx() as db:
            db.execute(
                f"UPDATE tasks SET cached_from = NULL WHERE run_id NOT IN ({marks}) AND "
                f"cached_from IN (SELECT id FROM tasks WHERE run_id IN ({marks}))",
                ids + ids,
            )
            for table in ("metrics", "artifacts", "tasks", "runs"):
                column = "id" if table == "runs" else "run_id"
                db.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", ids)

    def tasks(self, run_id: str) -> list[TaskRow]:
        return [
            _task(r)
            for r in self._read("SELECT * FROM tasks WHERE run_id = ? ORDER BY position", (run_id,))
        ]

    def task(self, run_id: str, name: str) -> TaskRow:
        rows = self._read("SELECT * FROM tasks WHERE run_id = ? AND name = ?", (run_id, name))
        if not rows:
            names = [t.name for t in self.tasks(run_id)]
            raise UsageError(f"run {run_id} has no step {name!r} (steps: {', '.join(names)})")
        return _task(rows[0])

    def task_by_id(self, task_id: int) -> TaskRow | None:
        rows = self._read("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return _task(rows[0]) if rows else None

    def artifacts(self, run_id: str, step: str | None = None) -> list[ArtifactRow]:
        sql, args = "SELECT * FROM artifacts WHERE run_id = ?", [run_id]
        if step is not None:
            sql += " AND step = ?"
            args.append(step)
        return [_artifact(r) for r in self._read(sql + " ORDER BY id", args)]

    def metrics(self, run_id: str) -> dict[str, float]:
        rows = self._read(
            "SELECT m.name, m.value FROM metrics m JOIN tasks t ON t.id = m.task_id "
            "WHERE m.run_id = ? ORDER BY t.position, m.id",
            (run_id,),
        )
        return {str(r["name"]): float(r["value"]) for r in rows}

    def version_spec(self, version_id: int) -> str:
        rows = self._read("SELECT spec FROM pipeline_versions WHERE id = ?", (version_id,))
        return str(rows[0][0])

    def experiments(self) -> list[ExperimentRow]:
        rows = self._read(
            "SELECT e.name, e.created, COUNT(r.id) AS runs, MAX(r.created) AS last_run "
            "FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.id "
            "GROUP BY e.id ORDER BY e.name"
        )
        return [
            ExperimentRow(
                str(r["name"]),
                float(r["created"]),
                int(r["runs"]),
                float(r["last_run"]) if r["last_run"] is not None else None,
            )
            for r in rows
        ]


def _run(r: sqlite3.Row) -> RunRow:
    runner = None
    if r["runner_pid"] is not None:
        runner = RunnerId(r["runner_host"] or "", int(r["runner_pid"]), r["runner_token"])
    return RunRow(
        id=str(r["id"]),
        experiment=str(r["experiment"]),
        pipeline=str(r["pipeline"]),
        version_id=int(r["version_id"]),
        version_digest=str(r["version_digest"]),
        notebook=r["notebook"],
        parameters=json.loads(r["parameters"]),
        options=json.loads(r["options"]),
        state=str(r["state"]),
        message=r["message"],
        created=float(r["created"]),
        started=r["started"],
        finished=r["finished"],
        runner=runner,
    )


def _task(r: sqlite3.Row) -> TaskRow:
    return TaskRow(
        id=int(r["id"]),
        run_id=str(r["run_id"]),
        name=str(r["name"]),
        position=int(r["position"]),
        state=str(r["state"]),
        attempts=int(r["attempts"]),
        started=r["started"],
        finished=r["finished"],
        exit_code=r["exit_code"],
        cached=bool(r["cached"]),
        cache_key=r["cache_key"],
        cached_from=r["cached_from"],
        log=r["log"],
        message=r["message"],
    )


def _artifact(r: sqlite3.Row) -> ArtifactRow:
    return ArtifactRow(
        run_id=str(r["run_id"]),
        task_id=int(r["task_id"]),
        step=str(r["step"]),
        name=str(r["name"]),
        type=str(r["type"]),
        size=int(r["size"]),
        digest=str(r["digest"]),
        uri=str(r["uri"]),
    )
