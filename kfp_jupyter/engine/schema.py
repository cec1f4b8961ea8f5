"""The history database's schema, as an ordered list of migrations.

`schema_version` holds the version a database is at; opening it applies every later migration in
one transaction, so a database is never half-migrated, and two processes opening a new store at
once do not both create it. To change the schema, append a migration: never edit a shipped one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


def _statements(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, and a migration must be one transaction.
    for stmt in script.split(";"):
        if stmt.strip():
            db.execute(stmt)


#: what runs are grouped by: experiments, pipelines, and each pipeline's versions
_V1_NAMES = """
        CREATE TABLE experiments (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created REAL NOT NULL
        );
        CREATE TABLE pipelines (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created REAL NOT NULL
        );
        -- A version is the content hash of the executable spec (step programs and graph).
        CREATE TABLE pipeline_versions (
            id INTEGER PRIMARY KEY,
            pipeline_id INTEGER NOT NULL REFERENCES pipelines(id),
            digest TEXT NOT NULL,
            spec TEXT NOT NULL,
            created REAL NOT NULL,
            UNIQUE (pipeline_id, digest)
        );
"""

#: runs, with the runner that owns one while it is active
_V1_RUNS = """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            experiment_id INTEGER NOT NULL REFERENCES experiments(id),
            version_id INTEGER NOT NULL REFERENCES pipeline_versions(id),
            notebook TEXT,
            parameters TEXT NOT NULL,
            options TEXT NOT NULL,
            state TEXT NOT NULL,
            message TEXT,
            created REAL NOT NULL,
            started REAL,
            finished REAL,
            runner_host TEXT,
            runner_pid INTEGER,
            runner_token TEXT
        );
        CREATE INDEX runs_by_created ON runs (created);
        CREATE INDEX runs_by_experiment ON runs (experiment_id, created);
"""

#: a run's tasks, one per step, with what the cache looks up
_V1_TASKS = """
        CREATE TABLE tasks (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id),
            name TEXT NOT NULL,
            position INTEGER NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            started REAL,
            finished REAL,
            exit_code INTEGER,
            cached INTEGER NOT NULL DEFAULT 0,
            cache_key TEXT,
            cached_from INTEGER REFERENCES tasks(id),
            log TEXT,
            message TEXT,
            UNIQUE (run_id, name)
        );
        CREATE INDEX tasks_by_cache_key ON tasks (cache_key, state);
"""

#: what tasks made: artifacts (by digest; their bytes are in the store) and metrics
_V1_OUTPUTS = """
        CREATE TABLE artifacts (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id),
            task_id INTEGER NOT NULL REFERENCES tasks(id),
            step TEXT NOT NULL,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            size INTEGER NOT NULL,
            digest TEXT NOT NULL,
            uri TEXT NOT NULL,
            UNIQUE (task_id, name)
        );
        CREATE INDEX artifacts_by_run ON artifacts (run_id, step, name);
        CREATE TABLE metrics (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs(id),
            task_id INTEGER NOT NULL REFERENCES tasks(id),
            step TEXT NOT NULL,
            name TEXT NOT NULL,
            value REAL NOT NULL,
            UNIQUE (task_id, name)
        );
        CREATE INDEX metrics_by_run ON metrics (run_id);
"""


def _v1(db: sqlite3.Connection) -> None:
    for script in (_V1_NAMES, _V1_RUNS, _V1_TASKS, _V1_OUTPUTS):
        _statements(db, script)


#: where a cached task's outputs were made, and how long a resumed run was running
_V2_COLUMNS = """
        -- the run whose task made a cached task's outputs (a name: it outlives that run's rows)
        ALTER TABLE tasks ADD COLUMN cached_run TEXT;
        -- a run's attempts (1 + times resumed), when it was last resumed, and the seconds it
        -- was running before that: its running time leaves out the wait for a resume
        ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
        ALTER TABLE runs ADD COLUMN resumed REAL;
        ALTER TABLE runs ADD COLUMN ran_before REAL NOT NULL DEFAULT 0
"""

_V1_REUSED = "reused from run "


def _v2_origin(tasks: dict[int, sqlite3.Row], row: sqlite3.Row) -> tuple[int | None, str]:
    """The task that made a cached task's outputs (None if its row is gone) and its run: v1
    pointed a cached task at the task it was taken from, itself perhaps taken from another."""
    seen: set[int] = set()
    while row["cached"] and row["cached_from"] in tasks and row["id"] not in seen:
        seen.add(row["id"])
        row = tasks[row["cached_from"]]
    if not row["cached"]:
        return int(row["id"]), str(row["run_id"])
    # its source was removed (runs gc): v1's message still names the run it was taken from
    message = str(row["message"] or "")
    named = message[len(_V1_REUSED) :] if message.startswith(_V1_REUSED) else ""
    return None, named or str(row["run_id"])


def _v2(db: sqlite3.Connection) -> None:
    _statements(db, _V2_COLUMNS)
    tasks = {
        int(r["id"]): r
        for r in db.execute(
            "SELECT id, run_id, cached, cached_from, message FROM tasks WHERE cached = 1 "
            "OR id IN (SELECT cached_from FROM tasks WHERE cached = 1)"
        ).fetchall()
    }
    for row in tasks.values():
        if not row["cached"]:
            continue
        task, run = _v2_origin(tasks, row)
        db.execute(
            "UPDATE tasks SET cached_from = COALESCE(?, cached_from), cached_run = ?, "
            "message = CASE WHEN message LIKE ? THEN ? ELSE message END WHERE id = ?",
            (task, run, _V1_REUSED + "%", _V1_REUSED + run, row["id"]),
        )


#: migrations[i] takes a database from version i to version i + 1.
MIGRATIONS: tuple[Migration, ...] = (_v1, _v2)

LATEST = len(MIGRATIONS)
