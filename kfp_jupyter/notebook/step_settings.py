"""What a cell says about its step (`StepSettings`), and how the settings of several cells combine.

Tags and magics both produce these, so nothing downstream knows which style a cell used; merging
lives here so that two cells of one step, or a step and the notebook's defaults, combine the same
way whichever style said them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .volumes import VolumeRef


@dataclass(frozen=True)
class StepSettings:
    """Per-step settings. None (or empty) means "not said here", so cells of one step can be merged."""

    prev: tuple[str, ...] = ()
    image: str | None = None
    packages: tuple[str, ...] = ()
    limits: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    secrets: tuple[tuple[str, str, str], ...] = ()
    cache: bool | None = None
    retries: int | None = None
    timeout: int | None = None
    #: a component step: the component spec's path (relative to the notebook) or URL
    component: str | None = None
    #: a container step (its image is `image`)
    container: bool | None = None
    #: a resource step: create, apply or delete
    resource: str | None = None
    volumes: tuple[VolumeRef, ...] = ()
    #: a notebook step: the path of the notebook it executes (relative to this notebook)
    notebook: str | None = None
    #: a notebook step: the variables of its notebook handed on to later steps
    outputs: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """python, component, container, resource or notebook (the first said, if a cell says
        several)."""
        if self.component is not None:
            return "component"
        if self.container:
            return "container"
        if self.resource is not None:
            return "resource"
        if self.notebook is not None:
            return "notebook"
        return "python"

    def is_empty(self) -> bool:
        return self == StepSettings()


class SettingsConflict(ValueError):
    pass


def unique_secrets(secrets: Iterable[tuple[str, str, str]]) -> tuple[tuple[str, str, str], ...]:
    """(secret, key, variable) once each, in order: one environment variable from two secrets
    (or keys) is a conflict, never the last one silently (Kubernetes keeps the last)."""
    out: dict[str, tuple[str, str, str]] = {}
    for s in secrets:
        old = out.setdefault(s[2], s)
        if old != s:
            raise SettingsConflict(
                f"environment variable {s[2]!r} is given from secret {old[0]}:{old[1]} and from "
                f"{s[0]}:{s[1]}"
            )
    return tuple(out.values())


def merge_settings(a: StepSettings, b: StepSettings) -> StepSettings:
    """Combine the settings of two cells of one step; a scalar said twice differently is an error."""
    limits = _merge_pairs("limit", a.limits, b.limits)
    annotations = _merge_pairs("annotation", a.annotations, b.annotations)
    labels = _merge_pairs("label", a.labels, b.labels)
    return StepSettings(
        prev=tuple(dict.fromkeys((*a.prev, *b.prev))),
        image=_merge_scalar("image", a.image, b.image),
        packages=merge_packages(a.packages, b.packages),
        limits=limits,
        annotations=annotations,
        labels=labels,
        secrets=unique_secrets((*a.secrets, *b.secrets)),
        cache=_merge_scalar("cache", a.cache, b.cache),
        retries=_merge_scalar("retries", a.retries, b.retries),
        timeout=_merge_scalar("timeout", a.timeout, b.timeout),
        component=_merge_scalar("component", a.component, b.component),
        container=_merge_scalar("container", a.container, b.container),
        resource=_merge_scalar("resource action", a.resource, b.resource),
        volumes=tuple(dict.fromkeys((*a.volumes, *b.volumes))),
        notebook=_merge_scalar("notebook", a.notebook, b.notebook),
        outputs=tuple(dict.fromkeys((*a.outputs, *b.outputs))),
    )


def apply_defaults(defaults: StepSettings, own: StepSettings) -> StepSettings:
    """A step's settings over notebook-wide defaults: what the step says wins, lists add up."""
    return StepSettings(
        prev=own.prev,
        image=own.image if own.image is not None else defaults.image,
        packages=merge_packages(defaults.packages, own.packages, override=True),
        limits=tuple(sorted({**dict(defaults.limits), **dict(own.limits)}.items())),
        annotations=tuple(sorted({**dict(defaults.annotations), **dict(own.annotations)}.items())),
        labels=tuple(sorted({**dict(defaults.labels), **dict(own.labels)}.items())),
        # the step's own secret for a variable wins, as its own limits and labels do
        secrets=tuple(
            {**{d[2]: d for d in defaults.secrets}, **{o[2]: o for o in own.secrets}}.values()
        ),
        cache=own.cache if own.cache is not None else defaults.cache,
        retries=own.retries if own.retries is not None else defaults.retries,
        timeout=own.timeout if own.timeout is not None else defaults.timeout,
        component=own.component,
        container=own.container,
        resource=own.resource,
        volumes=tuple(dict.fromkeys((*defaults.volumes, *own.volumes))),
        notebook=own.notebook,
        outputs=own.outputs,
    )


T = TypeVar("T")


def _merge_scalar(what: str, a: T | None, b: T | None) -> T | None:
    if a is not None and b is not None and a != b:
        raise SettingsConflict(f"{what} is set to {show_setting(a)} and to {show_setting(b)}")
    return a if b is None else b


def show_setting(value: object) -> str:
    """A setting as messages quote it: a flag as the word the tags use, anything else as repr."""
    if isinstance(value, bool):
        return "enabled" if value else "disabled"
    return repr(value)


def _merge_pairs(
    what: str, a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    merged = dict(a)
    for k, v in b:
        if k in merged and merged[k] != v:
            raise SettingsConflict(f"{what} {k!r} is set to {merged[k]!r} and to {v!r}")
        merged[k] = v
    return tuple(sorted(merged.items()))


def bare_version(req: str) -> str | None:
    """Why `req` is no requirement, when it is a version without its package (`<3`, from a
    range split apart): pip would refuse it on the cluster ("Invalid requirement")."""
    if req.lstrip()[:1] not in ("<", ">", "=", "!", "~"):
        return None
    return (
        f"package {req!r} is a version without its package: write it after the package's name, "
        f"in one requirement (NAME{req.strip()})"
    )


def merge_packages(
    a: tuple[str, ...], b: tuple[str, ...], *, override: bool = False
) -> tuple[str, ...]:
    """Requirements of both; one distribution pinned two different ways is a conflict."""
    merged: dict[str, str] = {}
    for req in (*a, *b):
        bare = bare_version(req)
        if bare:
            raise SettingsConflict(bare)
        key = requirement_key(req)
        if key in merged and merged[key] != req and not override:
            raise SettingsConflict(f"package {key!r} is required as {merged[key]!r} and as {req!r}")
        merged[key] = req
    return tuple(merged.values())


def split_packages(text: str) -> tuple[str, ...]:
    """The requirements of a comma-separated list, as --packages or a settings list writes them.
    A piece that starts with a version operator goes on the requirement before it, so that a
    range stays one requirement: `pandas>=2,<3,numpy` is `pandas>=2,<3` and `numpy`."""
    out: list[str] = []
    for piece in text.split(","):
        p = piece.strip()
        if p and out and p[0] in "<>=!~":
            out[-1] += "," + p
        elif p:
            out.append(p)
    return tuple(out)


def requirement_key(req: str) -> str:
    """The normalised distribution name of a requirement (`Scikit_Learn>=1.3` -> `scikit-learn`),
    so that two spellings of one distribution meet: in a step's own requirements, and where the
    analysis matches explicit pins to the packages it detects."""
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    return re.sub(r"[-_.]+", "-", (m.group(1) if m else req)).lower()
