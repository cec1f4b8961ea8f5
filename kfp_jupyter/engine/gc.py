"""Removing old runs (`kfp-jupyter runs gc`): their records, their files, and the artifacts that
no kept run refers to.

Artifacts are stored once by content and shared: a run taken from the cache refers to the very
artifacts of the run it came from. So an artifact is removed only when no kept run refers to it;
removing a run never takes from another what it shows or what a resume needs. A run that is still
going (PENDING or RUNNING) is never removed.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .history import History, RunRow
from .plan import Plan
from .states import ACTIVE
from .storebase import Store
from .storelayout import SPEC_SUFFIX, text_digest


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


def _programs_of(history: History, runs: list[RunRow]) -> set[str]:
    """The names under `programs/` that `runs` refer to: their versions' specs and programs."""
    names: set[str] = set()
    for version in {r.version_id for r in runs}:
        spec = history.version_spec(version)
        names.add(text_digest(spec) + SPEC_SUFFIX)
        try:
            names |= {text_digest(s.program) + ".py" for s in Plan.from_json(spec).steps}
        except (ValueError, KeyError):  # a version of another format: keep what is there
            return set()
    return names


def plan_gc(
    history: History,
    *,
    keep: int | None = None,
    before: float | None = None,
    store: Store | None = None,
) -> GcPlan:
    """Which runs go: beyond the newest `keep` of each notebook and (when `before` is given)
    created before that time; both conditions hold for a removed run when both are given."""
    runs = history.list_runs()
    seen: dict[str, int] = defaultdict(int)
    remove, kept = [], []
    for run in runs:  # newest first
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
    still_used = set(history.artifact_sizes([r.id for r in kept])) if kept else set()
    gone = history.artifact_sizes([r.id for r in remove])
    artifacts = {d: n for d, n in gone.items() if d not in still_used}
    programs: list[str] = []
    if store is not None and remove:
        used = _programs_of(history, kept)
        if used or not kept:
            programs = sorted(store.program_names() - used)
    return GcPlan(remove, kept, artifacts, programs)


def run_gc(store: Store, history: History, plan: GcPlan) -> None:
    """Remove what `plan` says: the records first (from then on nothing refers to the files),
    then the runs' files and the artifacts' bytes."""
    history.delete_runs([r.id for r in plan.remove])
    for run in plan.remove:
        store.remove_run_files(run.id)
    # asked again now: a run that started meanwhile may have taken one from the cache
    used = set(history.artifact_sizes())
    for digest in plan.artifacts:
        if digest not in used:
            store.remove_artifact(digest.split(":", 1)[-1])
    still = _programs_of(history, history.list_runs())
    for name in plan.programs:
        if name not in still:
            store.remove_program(name)


def store_size(store: Store, history: History) -> tuple[int, int]:
    """(bytes of the artifacts the runs refer to, bytes of the history and the runs' files)."""
    artifacts = sum(history.artifact_sizes().values())
    own = 0
    for base in (store.db_path.parent / "runs", *store.db_path.parent.glob("history.db*")):
        paths = [base] if base.is_file() else (p for p in Path(base).rglob("*") if p.is_file())
        for p in paths:
            try:
                own += p.stat().st_size
            except OSError:
                continue
    return artifacts, own
