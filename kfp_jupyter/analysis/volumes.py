"""Volumes: the PVCs a pipeline creates or mounts, from the notebook metadata and the steps' tags.

A new volume is named once with its size (in any step's tag, or in the notebook metadata) and may be
mentioned by name and mount path alone elsewhere, so steps that share data share one claim.
Notebook-level volumes are mounted in every step that runs a container (not in resource steps).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..errors import Problem
from ..model import Mount, Volume, volume_env

if TYPE_CHECKING:
    from ..notebook.volumes import VolumeRef


@dataclass(frozen=True)
class StepVolumes:
    name: str
    cell: int
    kind: str
    refs: tuple[VolumeRef, ...]


def resolve_volumes(
    notebook: tuple[VolumeRef, ...],
    steps: list[StepVolumes],
    problems: list[Problem],
    warnings: list[Problem],
) -> tuple[tuple[Volume, ...], dict[str, tuple[Mount, ...]]]:
    defs = _Definitions(problems)
    for ref in notebook:
        defs.define(ref, "in the notebook metadata", None, None)
    for s in steps:
        for ref in s.refs:
            defs.define(ref, f"in step {s.name!r}", s.cell, s.name)
    _check_sizes(defs.volumes, steps, problems, warnings)
    mounts = {s.name: _mounts(notebook, s, problems) for s in steps}
    renamed = _distinct_variables(tuple(defs.volumes), mounts, steps, warnings)
    volumes = tuple(replace(v, name=renamed.get(v.name, v.name)) for v in defs.volumes.values())
    return volumes, {
        step: tuple(replace(m, volume=renamed.get(m.volume, m.volume)) for m in ms)
        for step, ms in mounts.items()
    }


class _Definitions:
    """The volumes defined so far, and where each was said, to tell a mention from a clash."""

    def __init__(self, problems: list[Problem]) -> None:
        self.volumes: dict[str, Volume] = {}
        self.said_at: dict[str, str] = {}
        self.problems = problems

    def define(self, ref: VolumeRef, where: str, cell: int | None, step: str | None) -> None:
        old = self.volumes.get(ref.volume)
        if ref.claim:
            new = Volume(ref.volume, claim=ref.volume)
        else:
            new = Volume(
                ref.volume,
                size=ref.size,
                storage_class=ref.storage_class,
                access_mode=ref.access_mode or "ReadWriteOnce",
            )
        if old is None:
            self.volumes[ref.volume] = new
            self.said_at[ref.volume] = where
            return
        if (old.claim is None) != (new.claim is None):
            self.problems.append(
                Problem(
                    f"volume {ref.volume!r} is both an existing claim (pvc/{ref.volume}) and a new "
                    "volume",
                    cell=cell,
                    step=step,
                    fix="give the new volume another name",
                )
            )
            return
        if new.claim is not None or ref.size is None:
            return  # a mention by name
        if old.size is None:
            self.volumes[ref.volume] = new
            self.said_at[ref.volume] = where
        elif (old.size, old.storage_class, old.access_mode) != (
            new.size,
            new.storage_class,
            new.access_mode,
        ):
            self.problems.append(
                Problem(
                    f"volume {ref.volume!r} is defined twice differently "
                    f"({self.said_at[ref.volume]} and here)",
                    cell=cell,
                    step=step,
                    fix="give its size, storage class and access mode once; elsewhere write "
                    f"just volume:{ref.volume}:MOUNT_PATH",
                )
            )


def _check_sizes(
    defs: dict[str, Volume],
    steps: list[StepVolumes],
    problems: list[Problem],
    warnings: list[Problem],
) -> None:
    for v in defs.values():
        if v.claim is None and v.size is None:
            problems.append(
                Problem(
                    f"volume {v.name!r} has no size",
                    cell=next(
                        (s.cell for s in steps if any(r.volume == v.name for r in s.refs)), None
                    ),
                    fix=f"give its size once, e.g. volume:{v.name}:/data:1Gi (or pvc/CLAIM:PATH "
                    "for an existing claim)",
                )
            )
        elif v.claim is None and v.storage_class is None:
            warnings.append(
                Problem(
                    f"volume {v.name!r} names no storage class: Argo asks for the cluster's "
                    "default one, but KFP's CreatePVC then asks for storage class '' (a volume "
                    "an administrator made beforehand)",
                    fix=f"name the class for KFP, e.g. volume:{v.name}:PATH:{v.size}:standard",
                )
            )


def _mounts(
    notebook: tuple[VolumeRef, ...], s: StepVolumes, problems: list[Problem]
) -> tuple[Mount, ...]:
    """Notebook-level volumes are mounted in every step that runs a container. A volume is
    mounted once per step: its one path is what the step finds in KFPJ_VOLUME_<NAME>."""
    refs = (*notebook, *s.refs) if s.kind != "resource" else s.refs
    by_path: dict[str, str] = {}
    by_volume: dict[str, VolumeRef] = {}
    out: list[Mount] = []
    for ref in refs:
        first = by_volume.setdefault(ref.volume, ref)
        if first is not ref and _same_path(first.path, ref.path):
            continue  # mounted there already (`/data` and `/data/` are one folder)
        if first.path != ref.path and first.claim == ref.claim:  # a claim and a new volume:
            problems.append(  # told as such by _Definitions
                Problem(
                    f"volume {ref.volume!r} is mounted twice, at {first.path} and at {ref.path}",
                    cell=s.cell,
                    step=s.name,
                    fix="mount it at one path (its path is in $"
                    f"{volume_env(ref.volume)} for the step's code)",
                )
            )
            continue
        if by_path.get(ref.path, ref.volume) != ref.volume:
            problems.append(
                Problem(
                    f"volumes {by_path[ref.path]!r} and {ref.volume!r} are both mounted at "
                    f"{ref.path}",
                    cell=s.cell,
                    step=s.name,
                    fix="mount them at different paths",
                )
            )
            continue
        m = Mount(ref.volume, ref.path)
        if m not in out:
            by_path[ref.path] = ref.volume
            out.append(m)
    return tuple(out)


def _same_path(a: str, b: str) -> bool:
    """Whether two mount paths name one folder (`/data` and `/data/`)."""
    return posixpath.normpath(a) == posixpath.normpath(b)


def _distinct_variables(
    names: tuple[str, ...],
    mounts: dict[str, tuple[Mount, ...]],
    steps: list[StepVolumes],
    warnings: list[Problem],
) -> dict[str, str]:
    """New names for the volumes whose mount-path variable another volume of the same step has.

    A volume's variable is its name in capitals with '.' and '-' as '_', so claims `data.v1`
    and `data-v1` both make KFPJ_VOLUME_DATA_V1, and a step mounting both would find one path
    there and lose the other. Of such volumes the name that sorts first keeps the variable (a
    volume made for each run has only '-' in its name, so it is that one, and the name of the
    claim made for it does not change); each other one, an existing claim, is named `NAME-2`
    (or the next number free), so its variable is KFPJ_VOLUME_..._2, with a warning saying so.
    No target names an existing claim's pod volume or claim after this name, so only the
    variable changes; and volumes that no step mounts together keep their names, so a notebook
    without such a clash compiles as before."""
    sharing: dict[str, set[str]] = {}
    first_step: dict[str, StepVolumes] = {}
    for s in steps:
        by_env: dict[str, set[str]] = {}
        for m in mounts[s.name]:
            by_env.setdefault(volume_env(m.volume), set()).add(m.volume)
        for env, group in by_env.items():
            if len(group) > 1:
                sharing.setdefault(env, set()).update(group)
                first_step.setdefault(env, s)
    taken = {volume_env(n) for n in names}
    renamed: dict[str, str] = {}
    for env in sorted(sharing):
        keep, *others = sorted(sharing[env])
        for name in others:
            renamed[name] = _numbered(name, taken)
            warnings.append(_renamed_warning(keep, name, renamed[name], first_step[env]))
    return renamed


def _numbered(name: str, taken: set[str]) -> str:
    """`name-2` (or -3, ...): the first whose variable no volume has; taken for it."""
    n = 2
    while volume_env(f"{name}-{n}") in taken:
        n += 1
    taken.add(volume_env(f"{name}-{n}"))
    return f"{name}-{n}"


def _renamed_warning(keep: str, name: str, new: str, s: StepVolumes) -> Problem:
    return Problem(
        f"volumes {keep!r} and {name!r} would both put their mount path in "
        f"{volume_env(keep)} (a volume's name in capitals, '.' and '-' as '_'), and step "
        f"{s.name!r} mounts both: {keep!r} keeps that variable, and the mount path of {name!r} "
        f"is in {volume_env(new)} in every step that mounts it",
        cell=s.cell,
        step=s.name,
        fix=f"read the path of {name!r} from os.environ[{volume_env(new)!r}] (or use its mount "
        "path), or mount the two in different steps",
    )
