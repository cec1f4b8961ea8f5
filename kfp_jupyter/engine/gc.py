"""Removing old runs (`kfp-jupyter runs gc`): their records, their files, and the artifacts that
no kept run refers to.

Artifacts are stored once by content and shared: a run taken from the cache refers to the very
artifacts of the run it came from. So an artifact is removed only when no kept run refers to it;
removing a run never takes from another what it shows or what a resume needs. A run that is still
going (PENDING or RUNNING) is never removed.

A remote store may be shared by several machines, each with its own history, and this history
knows only its own runs. The others are known by the records their runs left in the store
(`runs/ID/record.json`): nothing any of them refers to is removed, and when a record cannot be
read, no artifact (or program) is removed at all.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .digest import split_digest
from .history_record import record_digests, record_spec
from .plan import Plan
from .states import ACTIVE
from .storelayout import SPEC_SUFFIX, program_rel, text_digest

if TYPE_CHECKING:
    from .history import History, RunRow
    from .storebase import Store


@dataclass(frozen=True)
class GcPlan:
    remove: list[RunRow]
    keep: list[RunRow]
    #: digest -> size of the artifacts only removed runs refer to
    artifacts: dict[str, int] = field(default_factory=dict)
    #: the kept programs and specs (`programs/NAME`) no kept run refers to
    programs: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(self.artifacts.values())


def _group(run: RunRow) -> str:
    """Runs are kept per notebook (runs of a pipeline without one, per pipeline)."""
    if run.notebook:
        return "nb:" + os.path.realpath(run.notebook)
    return "pipeline:" + run.pipeline


def _spec_names(spec: str | None) -> set[str] | None:
    """The names under `programs/` a version's spec refers to (itself and its steps' programs),
    or None if they cannot be told (no spec, or one of another format): then all are kept."""
    if spec is None:
        return None
    try:
        steps = Plan.from_json(spec).steps
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return {text_digest(spec) + SPEC_SUFFIX} | {text_digest(s.program) + ".py" for s in steps}


def _programs_of(history: History, runs: list[RunRow]) -> set[str] | None:
    """The names under `programs/` that `runs` refer to (None: see `_spec_names`)."""
    names: set[str] = set()
    for version in {r.version_id for r in runs}:
        found = _spec_names(history.version_spec(version))
        if found is None:
            return None
        names |= found
    return names


def _union(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    return None if a is None or b is None else a | b


@dataclass
class _SharedUses:
    """What the runs recorded in the store refer to, beyond this history: artifacts by hex
    digest, programs by name; None for a kind when some record could not be read."""

    artifacts: set[str] | None = field(default_factory=set)
    programs: set[str] | None = field(default_factory=set)

    def frees_artifact(self, digest: str) -> bool:
        return self.artifacts is not None and split_digest(digest)[1] not in self.artifacts

    def frees_program(self, name: str) -> bool:
        return self.programs is not None and name not in self.programs


def _record_artifacts(record: dict[str, Any] | None) -> set[str] | None:
    digests = record_digests(record) if record is not None else None
    return None if digests is None else {split_digest(d)[1] for d in digests}


def _record_programs(
    store: Store, record: dict[str, Any] | None, specs: dict[str, set[str] | None]
) -> set[str] | None:
    """The programs a record's version refers to; `specs` remembers each spec read."""
    spec = record_spec(record) if record is not None else None
    if spec is None:
        return None
    if spec.text is not None:  # a record that holds its spec
        return _spec_names(spec.text)
    if spec.sha256 not in specs:
        specs[spec.sha256] = _spec_names(store.read_text(program_rel(spec.sha256, SPEC_SUFFIX)))
    return specs[spec.sha256]


def _shared_uses(store: Store | None, skip: Collection[str]) -> _SharedUses:
    """What the runs recorded in the store (but those in `skip`) refer to."""
    uses = _SharedUses()
    if store is None:
        return uses
    specs: dict[str, set[str] | None] = {}
    for record in store.shared_records(skip).values():
        uses.artifacts = _union(uses.artifacts, _record_artifacts(record))
        uses.programs = _union(uses.programs, _record_programs(store, record, specs))
    return uses


def _split(
    runs: list[RunRow], keep: int | None, before: float | None
) -> tuple[list[RunRow], list[RunRow]]:
    """(removed, kept) of `runs` (newest first), by the rule `plan_gc` states."""
    seen: dict[str, int] = defaultdict(int)
    remove, kept = [], []
    for run in runs:
        if run.state in ACTIVE:  # kept, and not counted: --keep N keeps N runs that ended
            kept.append(run)
            continue
        rank = seen[_group(run)]
        seen[_group(run)] += 1
        old = before is None or run.created < before
        if old and (keep is None or rank >= keep):
            remove.append(run)
        else:
            kept.append(run)
    return remove, kept


def plan_gc(
    history: History,
    *,
    keep: int | None = None,
    before: float | None = None,
    store: Store | None = None,
) -> GcPlan:
    """Which runs go: beyond the newest `keep` of each notebook and (when `before` is given)
    created before that time; both conditions hold for a removed run when both are given.
    With a `store`, what the runs recorded in it refer to stays too."""
    remove, kept = _split(history.list_runs(), keep, before)
    if not remove:
        return GcPlan(remove, kept)
    shared = _shared_uses(store, {r.id for r in remove})
    still_used = set(history.artifact_sizes([r.id for r in kept])) if kept else set()
    gone = history.artifact_sizes([r.id for r in remove])
    artifacts = {d: n for d, n in gone.items() if d not in still_used and shared.frees_artifact(d)}
    programs: list[str] = []
    used = _programs_of(history, kept)
    if store is not None and used is not None:
        programs = sorted(n for n in store.program_names() - used if shared.frees_program(n))
    return GcPlan(remove, kept, artifacts, programs)


def run_gc(store: Store, history: History, plan: GcPlan) -> None:
    """Remove what `plan` says: the records first (from then on nothing refers to the files),
    then the runs' files and the artifacts' bytes."""
    history.delete_runs([r.id for r in plan.remove])
    for run in plan.remove:
        store.remove_run_files(run.id)
    if not plan.artifacts and not plan.programs:
        return
    # asked again now: a run that started meanwhile (here or elsewhere) may have taken one
    shared = _shared_uses(store, {r.id for r in plan.remove})
    used = set(history.artifact_sizes())
    for digest in plan.artifacts:
        if digest not in used and shared.frees_artifact(digest):
            store.remove_artifact(digest.split(":", 1)[-1])
    still = _programs_of(history, history.list_runs())
    for name in plan.programs:
        if still is not None and name not in still and shared.frees_program(name):
            store.remove_program(name)


@dataclass(frozen=True)
class StoreSize:
    """What a store holds on this machine's disk, in bytes (`runs list --summary`)."""

    #: the artifacts folder on disk, every artifact in it, whether a run refers to it or not;
    #: for a remote store, the bytes its runs refer to (the bucket is not walked)
    artifacts: int
    #: the kept step programs and pipeline specs (`programs/`)
    programs: int
    #: the history database, the runs' folders (logs, records) and running steps' scratch
    history: int

    @property
    def total(self) -> int:
        return self.artifacts + self.programs + self.history


def _disk_usage(st: os.stat_result) -> int:
    blocks = getattr(st, "st_blocks", None)  # not on Windows: there, the size
    return int(blocks) * 512 if blocks is not None else st.st_size


def _bytes_under(path: Path) -> int:
    """The disk space of `path` and everything under it, as `du` counts it: blocks in use, by
    files and folders, each file once however many links it has, links not followed."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += _disk_usage(st)
    try:
        return total + _disk_usage(os.lstat(path))
    except OSError:
        return total


def store_size(store: Store, history: History) -> StoreSize:
    """The store's size on disk, as `du` adds it up (`runs list --summary`)."""
    root = store.local_root
    if store.remote:
        artifacts = sum(history.artifact_sizes().values())
    else:
        artifacts = _bytes_under(root / "artifacts")
    own = sum(_bytes_under(p) for p in (root / "runs", root / "tmp", *root.glob("history.db*")))
    return StoreSize(artifacts, _bytes_under(root / "programs"), own)
