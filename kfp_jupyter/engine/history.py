"""The run history: one SQLite database per store, safe for several runners at once.

All state changes of a run go through here, so the database alone tells what happened, even
after a runner was killed: readers repair runs whose runner is gone (see `repair_interrupted`).
The connection's guarantees (WAL, short IMMEDIATE transactions, a busy timeout, damage reported
as HistoryDamagedError) are history_db.py's; the rows it hands out are history_rows.py's; a
run's record, from which a new history indexes the run again, is history_record.py's.

The history cannot be rebuilt from the store: its runs/ folders keep each run's programs, logs
and summary, and the artifacts stay where they are, but which step made which artifact (and so
the cache) lives only in the database.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from . import history_record, states
from .history_db import HistoryDamagedError, HistoryDatabase, ensure_named, ensure_version
from .history_rows import (
    TASK_COLUMNS,
    ArtifactRow,
    CacheHit,
    ExperimentRow,
    RunRow,
    TaskRow,
    artifact_row,
    experiment_row,
    run_row,
    task_row,
)
from .procinfo import RUNNER_LOCK, RunnerId
from .schema import MIGRATIONS, Migration

if TYPE_CHECKING:
    from .storelayout import ArtifactRef

__all__ = [
    "ArtifactRow",
    "CacheHit",
    "ExperimentRow",
    "History",
    "HistoryDamagedError",
    "RunRow",
    "TaskRow",
    "new_run_id",
]


#: what a run id (or a prefix of one) is made of: `new_run_id`'s hex digits
_RUN_ID = re.compile(r"[0-9a-fA-F]+")


def new_run_id() -> str:
    return secrets.token_hex(4)


def _check_columns(fields: dict[str, Any]) -> None:
    bad = set(fields) - TASK_COLUMNS
    if bad:
        raise ValueError(f"unknown task columns {sorted(bad)}")


def _last_seen(db: sqlite3.Connection, run_id: str) -> float:
    """The last moment a run whose runner died was seen working: the latest start or end of
    its tasks, the last write to the log of a step that was running (a step runs long between
    its start and its end), or the start of its last attempt if none is later (now, if nothing
    is known)."""
    logs = db.execute(
        "SELECT log FROM tasks WHERE run_id = ? AND state = ? AND log IS NOT NULL",
        (run_id, states.RUNNING),
    ).fetchall()
    written = 0.0
    for (log,) in logs:
        try:  # a local file; a log kept elsewhere (a bucket) tells nothing here
            written = max(written, os.stat(str(log)).st_mtime)
        except (OSError, ValueError):
            continue
    row = db.execute(
        "SELECT MAX(COALESCE(r.resumed, r.started, 0), COALESCE((SELECT MAX(MAX("
        "COALESCE(t.started, 0), COALESCE(t.finished, 0))) FROM tasks t WHERE t.run_id = r.id), "
        "0)) FROM runs r WHERE r.id = ?",
        (run_id,),
    ).fetchone()
    now = time.time()
    seen = max(float(row[0]) if row and row[0] else 0.0, written)
    return min(seen, now) if seen > 0 else now


#: what reading a damaged or foreign record raises (history_record.py reads it as it was written)
_UNREADABLE = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    sqlite3.IntegrityError,
)


def _why_unreadable(e: BaseException) -> str:
    """Why a run's record could not be read, in the words of its problem, not Python's."""
    if isinstance(e, json.JSONDecodeError):
        return f"not JSON: {e.msg} at line {e.lineno}, column {e.colno}"
    if isinstance(e, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(e, KeyError):
        return f"it has no {e.args[0]!r}" if e.args else "a field is missing"
    if isinstance(e, OSError):
        where = f" {e.filename}" if e.filename else ""
        return f"{e.strerror or type(e).__name__}{where}"
    if isinstance(e, sqlite3.IntegrityError):
        return f"it contradicts the history: {e}"
    return f"a field of the wrong kind: {type(e).__name__}: {e}"


class History(HistoryDatabase):
    """A connection to a store's history database (thread-safe: calls are serialised)."""

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        fresh = not path.exists()
        super().__init__(path, migrations)
        if not fresh:
            return
        try:
            self._reindex(path.parent / "runs")
        except BaseException:
            self.db.close()
            raise

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- a run's record: the history of one run as a file, to index it again ------------------

    def export_run(self, run_id: str) -> dict[str, Any]:
        """Everything the history holds about a run, by name instead of row ids: written next
        to the run's logs when it ends (runs/ID/record.json), so that a new history (after the
        old one was lost or damaged) can index the run again (import_run)."""
        with self._lock, self._guard():
            return history_record.export_run(self.db, run_id)

    def import_run(self, record: dict[str, Any]) -> bool:
        """Index a run again from its record (export_run); False if the history has it."""
        with self._tx() as db:
            return history_record.import_run(db, record)

    def _reindex(self, runs: Path) -> None:
        """A new history in a store that has runs: index again each run that left a record.
        A record that cannot be read is passed over, the others are indexed all the same; its
        run stays out of the history, which the user hears on stderr (from every front end), or
        a run would vanish from `runs list` without a word."""
        for path in sorted(runs.glob("*/record.json")):
            try:
                self.import_run(history_record.read_record(path, runs.parent))
            except _UNREADABLE as e:
                warning = (
                    f"run {path.parent.name} is left out of the history: its record {path} "
                    f"cannot be read ({_why_unreadable(e)}); its logs stay in {path.parent}"
                )
                print(f"warning: {warning}", file=sys.stderr)

    # --- writing a run ------------------------------------------------------------------------

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
            exp = ensure_named(db, "experiments", experiment)
            pid = ensure_named(db, "pipelines", pipeline)
            version = ensure_version(db, pid, digest, spec, now)
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
        """Take over an ended run: it becomes RUNNING again, its unfinished tasks PENDING. The
        time it ran so far is kept aside (`ran_before`), so that its running time leaves out
        the wait between its end and this resume."""
        self.repair_interrupted()
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT state FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise UsageError(f"no run {run_id!r}")
            if row[0] in states.ACTIVE:
                raise UsageError(f"run {run_id} is still running; it cannot be resumed twice")
            db.execute(
                "UPDATE runs SET state = ?, message = NULL, finished = NULL, options = ?, "
                "ran_before = ran_before + "
                "MAX(0, COALESCE(finished - COALESCE(resumed, started), 0)), "
                "attempts = attempts + 1, resumed = ?, "
                "runner_host = ?, runner_pid = ?, runner_token = ? WHERE id = ?",
                (
                    states.RUNNING,
                    json.dumps(options),
                    now,
                    runner.host,
                    runner.pid,
                    runner.token,
                    run_id,
                ),
            )
            ok = tuple(states.DONE_OK)
            for table in ("artifacts", "metrics"):
                db.execute(
                    f"DELETE FROM {table} WHERE task_id IN (SELECT id FROM tasks WHERE run_id = ? "
                    f"AND state NOT IN ({','.join('?' * len(ok))}))",
                    (run_id, *ok),
                )
            db.execute(
                "UPDATE tasks SET state = ?, attempts = 0, started = NULL, finished = NULL, "
                "exit_code = NULL, message = NULL, cached = 0, cached_from = NULL, cached_run = NULL "
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
        _check_columns(fields)
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
        _check_columns(fields)
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

    def has_run(self, run_id: str) -> bool:
        """Whether the history still holds the run (`runs gc` removes runs)."""
        return bool(self._read("SELECT 1 FROM runs WHERE id = ?", (run_id,)))

    def notebook_of(self, run_id: str) -> str | None:
        """The notebook a run was made from (None: not recorded, or the run was removed)."""
        rows = self._read("SELECT notebook FROM runs WHERE id = ?", (run_id,))
        return str(rows[0]["notebook"]) if rows and rows[0]["notebook"] else None

    def find_cached(self, cache_key: str, exclude_run: str | None = None) -> CacheHit | None:
        """The most recent successful task with this cache key, with its outputs and metrics."""
        rows = self._read(
            "SELECT * FROM tasks WHERE cache_key = ? AND state IN (?, ?) AND run_id != ? "
            "ORDER BY finished DESC LIMIT 5",
            (cache_key, states.SUCCEEDED, states.CACHED, exclude_run or ""),
        )
        for row in rows:
            task = task_row(row)
            arts = {
                a.name: a
                for a in (
                    artifact_row(r)
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
        killed the runner. A runner that holds its run's lock is alive, whatever its pid says
        (procinfo.py). A history read where it cannot be written is shown as it is.
        """
        if self.read_only:
            return []
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
            lock = self.path.parent / "runs" / str(row["id"]) / RUNNER_LOCK
            if runner.alive(lock) is False and self._interrupt(str(row["id"]), runner):
                repaired.append(str(row["id"]))
        return repaired

    def _interrupt(self, run_id: str, runner: RunnerId) -> bool:
        """Mark a run INTERRUPTED, with its running tasks, if `runner` still owns it (another
        reader may have repaired it, or a runner resumed it, since it was read).

        It ended when it was last seen working, not when a reader noticed: the time up to the
        repair (or a resume) is a wait, and must not count as running time."""
        active = tuple(states.ACTIVE)
        message = f"the runner (pid {runner.pid} on {runner.host}) stopped before the run ended"
        with self._tx() as db:
            ended = _last_seen(db, run_id)
            cur = db.execute(
                "UPDATE runs SET state = ?, message = ?, finished = ? WHERE id = ? AND "
                f"state IN ({','.join('?' * len(active))}) AND runner_pid = ? AND runner_host = ?",
                (states.INTERRUPTED, message, ended, run_id, *active, runner.pid, runner.host),
            )
            if not cur.rowcount:
                return False
            db.execute(
                "UPDATE tasks SET state = ?, finished = ?, message = ? "
                "WHERE run_id = ? AND state = ?",
                (states.INTERRUPTED, ended, "interrupted with its runner", run_id, states.RUNNING),
            )
        return True

    def resolve_run_id(self, ref: str) -> str:
        """A run id from 'latest', a full id or a unique prefix of one. Every command and the
        Python API resolve run ids here: an empty id would be a prefix of every run."""
        ref = ref.strip()
        if not ref:
            raise UsageError(
                "the run id is empty: give a run id (or a unique prefix of one) or `latest` "
                "(see: kfp-jupyter runs list)"
            )
        if ref in ("latest", "last"):
            rows = self._read("SELECT id FROM runs ORDER BY created DESC LIMIT 1")
            if not rows:
                raise UsageError("there are no runs in this store yet")
            return str(rows[0][0])
        if not _RUN_ID.fullmatch(ref):
            if self._read("SELECT 1 FROM runs WHERE id = ?", (ref,)):
                return ref  # an id of another form, from a record written elsewhere
            raise UsageError(
                f"no run {ref!r}: a run id is hex digits (such as 3f9a2c1b, or a unique prefix "
                "of one) or `latest` (see: kfp-jupyter runs list)"
            )
        # a prefix compared as text: LIKE would read `_` and `%` in it as wildcards
        rows = self._read(
            "SELECT id FROM runs WHERE lower(substr(id, 1, ?)) = ? ORDER BY created DESC",
            (len(ref), ref.lower()),
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
        return run_row(rows[0])

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
        return [run_row(r) for r in self._read(sql, args)]

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
            task_row(r)
            for r in self._read("SELECT * FROM tasks WHERE run_id = ? ORDER BY position", (run_id,))
        ]

    def task(self, run_id: str, name: str) -> TaskRow:
        rows = self._read("SELECT * FROM tasks WHERE run_id = ? AND name = ?", (run_id, name))
        if not rows:
            names = [t.name for t in self.tasks(run_id)]
            raise UsageError(f"run {run_id} has no step {name!r} (steps: {', '.join(names)})")
        return task_row(rows[0])

    def task_by_id(self, task_id: int) -> TaskRow | None:
        rows = self._read("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return task_row(rows[0]) if rows else None

    def artifacts(self, run_id: str, step: str | None = None) -> list[ArtifactRow]:
        sql, args = "SELECT * FROM artifacts WHERE run_id = ?", [run_id]
        if step is not None:
            sql += " AND step = ?"
            args.append(step)
        return [artifact_row(r) for r in self._read(sql + " ORDER BY id", args)]

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
        return [experiment_row(r) for r in rows]
