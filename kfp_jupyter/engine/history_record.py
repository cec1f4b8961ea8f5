"""A run's record: everything the history holds about one run, as a file, to index it again.

The history cannot be rebuilt from the store alone: which step made which artifact (and so the
cache) lives only in the database. So each run, when it ends, leaves runs/ID/record.json, by
name instead of row ids; a new history (after the old one was lost or damaged) imports every
record it finds. Kept apart from the queries (history.py) because it is the one place that knows
the record's shape, both ways.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .history_db import ensure_named, ensure_version
from .history_rows import TASK_COLUMNS
from .storelayout import SPEC_SUFFIX, lengthen_record, program_rel

#: the columns of a task, artifact or metric kept in a run's record (row ids are not: they are
#: made again when the record is imported; `cached_from` points into other runs, and is dropped,
#: while `cached_run` names the run that made a cached task's outputs, and is kept)
_RECORD_TASK_COLUMNS = ("name", "position", *sorted(TASK_COLUMNS - {"cached_from"}))
#: what a record written before a column existed holds for it (older records lack these)
_RECORD_TASK_DEFAULTS: dict[str, Any] = {"cached_run": None}
_RECORD_RUN_DEFAULTS: dict[str, Any] = {"attempts": 1, "resumed": None, "ran_before": 0.0}
_RECORD_ARTIFACT_COLUMNS = ("step", "name", "type", "size", "digest", "uri")
_RECORD_METRIC_COLUMNS = ("step", "name", "value")
_RECORD_RUN_COLUMNS = ("notebook", "parameters", "options", "state", "message", "created")
#: the tables of a task's outputs, with the columns a record keeps of them
_OUTPUT_TABLES = (("artifacts", _RECORD_ARTIFACT_COLUMNS), ("metrics", _RECORD_METRIC_COLUMNS))


def export_run(db: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """The record of a run (see import_run)."""
    run = db.execute(
        "SELECT r.*, e.name AS experiment, p.name AS pipeline, v.digest AS version_digest, "
        "v.spec AS spec FROM runs r JOIN experiments e ON e.id = r.experiment_id "
        "JOIN pipeline_versions v ON v.id = r.version_id JOIN pipelines p ON p.id = "
        "v.pipeline_id WHERE r.id = ?",
        (run_id,),
    ).fetchall()[0]
    record: dict[str, Any] = {
        k: run[k] for k in ("id", "experiment", "pipeline", *_RECORD_RUN_COLUMNS)
    }
    record.update(started=run["started"], finished=run["finished"])
    record.update({k: run[k] for k in _RECORD_RUN_DEFAULTS})
    record["version"] = {"digest": run["version_digest"], "spec": run["spec"]}
    record["tasks"] = [
        {k: t[k] for k in _RECORD_TASK_COLUMNS}
        for t in db.execute(
            "SELECT * FROM tasks WHERE run_id = ? ORDER BY position", (run_id,)
        ).fetchall()
    ]
    for table, columns_of in _OUTPUT_TABLES:
        record[table] = [
            {"task": r["task"], **{k: r[k] for k in columns_of}}
            for r in db.execute(
                f"SELECT x.*, t.name AS task FROM {table} x JOIN tasks t ON t.id = x.task_id "
                "WHERE x.run_id = ? ORDER BY x.id",
                (run_id,),
            ).fetchall()
        ]
    return record


def import_run(db: sqlite3.Connection, record: dict[str, Any]) -> bool:
    """Index a run again from its record (export_run), in the caller's transaction; False if
    the history has it."""
    if db.execute("SELECT 1 FROM runs WHERE id = ?", (record["id"],)).fetchone():
        return False
    exp = ensure_named(db, "experiments", record["experiment"])
    pid = ensure_named(db, "pipelines", record["pipeline"])
    version = record["version"]
    vid = ensure_version(db, pid, version["digest"], version["spec"], record["created"])
    db.execute(
        "INSERT INTO runs (id, experiment_id, version_id, "
        + ", ".join(_RECORD_RUN_COLUMNS)
        + ", started, finished, "
        + ", ".join(_RECORD_RUN_DEFAULTS)
        + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record["id"],
            exp,
            vid,
            *(record[k] for k in _RECORD_RUN_COLUMNS),
            record["started"],
            record["finished"],
            *(record.get(k, v) for k, v in _RECORD_RUN_DEFAULTS.items()),
        ),
    )
    task_ids: dict[str, int] = {}
    for t in record["tasks"]:
        cursor = db.execute(
            f"INSERT INTO tasks (run_id, {', '.join(_RECORD_TASK_COLUMNS)}) "
            f"VALUES (?, {', '.join('?' * len(_RECORD_TASK_COLUMNS))})",
            (record["id"], *(_task_value(t, k) for k in _RECORD_TASK_COLUMNS)),
        )
        task_ids[t["name"]] = int(cursor.lastrowid or 0)
    for table, columns in _OUTPUT_TABLES:
        db.executemany(
            f"INSERT INTO {table} (run_id, task_id, {', '.join(columns)}) "
            f"VALUES (?, ?, {', '.join('?' * len(columns))})",
            [(record["id"], task_ids[r["task"]], *(r[k] for k in columns)) for r in record[table]],
        )
    return True


def _task_value(task: dict[str, Any], column: str) -> Any:
    if column in task or column not in _RECORD_TASK_DEFAULTS:
        return task[column]
    if column == "cached_run" and task.get("cached"):
        # an older record: a cached task's message named the run it was taken from
        message = str(task.get("message") or "")
        prefix = "reused from run "
        if message.startswith(prefix):
            return message[len(prefix) :] or None
        return None
    return _RECORD_TASK_DEFAULTS[column]


def read_record(path: Path, store_root: Path) -> dict[str, Any]:
    """A run's record as written to `path`, with what it keeps elsewhere in the store put back
    (its version's spec is kept once by content, named by its digest)."""
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    version = record["version"]
    if "spec" not in version:
        spec = store_root / program_rel(version["spec_sha256"], SPEC_SUFFIX)
        version["spec"] = spec.read_text(encoding="utf-8")
    lengthen_record(record, store_root)
    return record


@dataclass(frozen=True)
class SpecRef:
    """Where a record's version spec is: in the record (`text`), or kept once in the store by
    content (`sha256`)."""

    text: str | None = None
    sha256: str = ""


def record_spec(record: dict[str, Any]) -> SpecRef | None:
    """Where the spec of a record's version is (None: a record this cannot tell of), without
    reading the store: what `runs gc` needs to know of another machine's run."""
    version = record.get("version")
    if not isinstance(version, dict):
        return None
    if isinstance(version.get("spec"), str):
        return SpecRef(text=version["spec"])
    sha = version.get("spec_sha256")
    return SpecRef(sha256=sha) if isinstance(sha, str) else None


def record_digests(record: dict[str, Any]) -> set[str] | None:
    """The digests of the artifacts a record refers to (None: a record this cannot tell of)."""
    try:
        return {str(a["digest"]) for a in record["artifacts"]}
    except (TypeError, KeyError):
        return None
