"""Notebook-level settings: ours under metadata.kfp_jupyter, Kale's under metadata.kubeflow_notebook.

Ours win over Kale's, key by key, so a Kale notebook keeps working and can be moved over gradually.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..model import DEFAULT_IMAGE, DEFAULT_KFP_RUNTIME, kfp_runtime_problem
from .kale_metadata import kale_step_defaults, warn_ignored, with_kale_volumes
from .step_settings import StepSettings, bare_version, split_packages
from .volumes import ACCESS_MODES, VolumeRef, parse_volume

PIPELINE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")

#: Keys we read under metadata.kfp_jupyter (others are reported as probable typos).
OUR_KEYS = (
    "name",
    "pipeline_name",
    "description",
    "experiment",
    "image",
    "default_image",
    "packages",
    "pipeline_root",
    "volumes",
    "kfp_runtime",
    "pin_packages",
)


def suggest_pipeline_name(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (s or "pipeline")[:128].rstrip("-")


@dataclass(frozen=True)
class NotebookSettings:
    name: str
    description: str = ""
    experiment: str | None = None
    image: str = DEFAULT_IMAGE
    packages: tuple[str, ...] = ()
    pipeline_root: str | None = None
    #: settings every step starts from (Kale's `steps_defaults`); a step's own settings win
    step_defaults: StepSettings = field(default_factory=StepSettings)
    #: volumes mounted in every step that runs a container (kfp_jupyter.volumes)
    volumes: tuple[VolumeRef, ...] = ()
    #: the kfp runtime Python steps install on KFP (see model.DEFAULT_KFP_RUNTIME)
    kfp_runtime: str = DEFAULT_KFP_RUNTIME
    #: pin each step's detected packages to the versions installed here (see analysis/packages.py)
    pin_packages: bool = True
    #: Kale mounts volumes (kubeflow_notebook.volumes) and runs each step in the notebook's folder
    #: on them, so its notebooks use relative paths that here name the image's working folder
    kale_workspace: bool = False


_VOLUME_FIX = (
    'write each volume as "NAME:MOUNT_PATH[:SIZE[:STORAGE_CLASS[:ACCESS_MODE]]]", '
    '"pvc/CLAIM:MOUNT_PATH", or {"name": ..., "mount_path": ..., "size": ..., '
    '"storage_class": ..., "access_mode": ...} / {"claim": ..., "mount_path": ...}'
)
_VOLUME_KEYS = ("name", "claim", "mount_path", "size", "storage_class", "access_mode")


def _volumes(value: object, problems: list[Problem]) -> tuple[VolumeRef, ...]:
    """kfp_jupyter.volumes: a list of volume strings (the tag syntax) or objects."""
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.append(
            Problem("notebook metadata 'kfp_jupyter.volumes' must be a list", fix=_VOLUME_FIX)
        )
        return ()
    out: list[VolumeRef] = []
    for i, item in enumerate(value):
        where = f"kfp_jupyter.volumes[{i}]"
        try:
            out.append(parse_volume(_volume_text(item, where)))
        except ValueError as e:
            problems.append(Problem(f"notebook metadata '{where}': {e}", fix=_VOLUME_FIX))
    return tuple(dict.fromkeys(out))


def _volume_text(item: object, where: str) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        raise ValueError("a volume is a string or an object")
    for key in item:
        if key not in _VOLUME_KEYS:
            close = difflib.get_close_matches(str(key), _VOLUME_KEYS, n=1)
            raise ValueError(
                f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
            )
    values = {k: v for k, v in item.items() if v is not None}
    if not all(isinstance(v, str) for v in values.values()):
        raise ValueError("the values of a volume are strings")
    path = values.get("mount_path")
    if not path:
        raise ValueError("'mount_path' is missing")
    if "claim" in values:
        if set(values) - {"claim", "mount_path"}:
            raise ValueError("an existing claim takes only 'claim' and 'mount_path'")
        return f"pvc/{values['claim']}:{path}"
    if "name" not in values:
        raise ValueError("give 'name' (a new volume) or 'claim' (an existing one)")
    mode = values.get("access_mode", "")
    if mode and mode.lower() not in ACCESS_MODES:
        raise ValueError(f"access mode {mode!r} is not one of ReadWriteOnce, ReadOnlyMany, ...")
    parts = [
        values["name"],
        path,
        values.get("size", ""),
        values.get("storage_class", ""),
        mode,
    ]
    while parts[-1] == "":
        parts.pop()
    return ":".join(parts)


def _text(d: dict[str, Any], key: str, where: str, problems: list[Problem]) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        problems.append(
            Problem(
                f"notebook metadata '{where}.{key}' must be a string, not {type(v).__name__}",
                fix="edit the notebook metadata (in Jupyter: Edit > Edit Notebook Metadata)",
            )
        )
        return None
    return v.strip() or None


def _first(*values: str | None) -> str | None:
    for v in values:
        if v:
            return v
    return None


_PACKAGES_EXAMPLE = 'write it like ["pandas>=2,<3", "scikit-learn==1.5.2"]'


def _packages(value: object, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return _requirements(split_packages(value), problems)
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        problems.append(
            Problem(
                "notebook metadata 'kfp_jupyter.packages' must be a list of strings",
                fix=_PACKAGES_EXAMPLE,
            )
        )
        return ()
    return _requirements(tuple(p.strip() for p in value if p.strip()), problems)


def _requirements(reqs: tuple[str, ...], problems: list[Problem]) -> tuple[str, ...]:
    """`reqs` without a version given without its package, each told as a problem."""
    said = {r: bare_version(r) for r in reqs}
    for bare in filter(None, said.values()):
        problems.append(
            Problem(f"notebook metadata 'kfp_jupyter.packages': {bare}", fix=_PACKAGES_EXAMPLE)
        )
    return tuple(r for r, bare in said.items() if not bare)


def _flag(ours: dict[str, Any], key: str, default: bool, problems: list[Problem]) -> bool:
    value = ours.get(key, default)
    if isinstance(value, bool):
        return value
    problems.append(
        Problem(
            f"notebook metadata 'kfp_jupyter.{key}' must be true or false, not {value!r}",
            fix=f'write it like "{key}": false',
        )
    )
    return default


def _kfp_runtime(value: str | None, problems: list[Problem]) -> str:
    if value is None:
        return DEFAULT_KFP_RUNTIME
    problem = kfp_runtime_problem(value.strip())
    if problem is not None:
        what, _, fix = problem.partition(": ")
        problems.append(Problem(f"notebook metadata 'kfp_jupyter.kfp_runtime': {what}", fix=fix))
        return DEFAULT_KFP_RUNTIME
    return value.strip()


def _language(metadata: dict[str, Any]) -> str | None:
    """The notebook's programming language, if its metadata says (lowercase)."""
    for key, field_ in (("language_info", "name"), ("kernelspec", "language")):
        d = metadata.get(key)
        if isinstance(d, dict) and isinstance(d.get(field_), str) and d[field_].strip():
            lang = str(d[field_]).strip().lower()
            return "python" if lang.startswith("python") else lang
    return None


def read_settings(
    metadata: dict[str, Any], path: Path | None
) -> tuple[NotebookSettings, list[Problem], list[Problem]]:
    """The notebook's settings, the problems with them, and warnings (unknown keys)."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    language = _language(metadata)
    if language is not None and language != "python":
        problems.append(
            Problem(
                f"the notebook's kernel runs {language}; kfp-jupyter turns Python notebooks into "
                "pipelines",
                fix="use a Python kernel",
            )
        )
    ours, kale = _sections(metadata, problems)
    _warn_ignored(ours, kale, warnings)
    settings = _settings(ours, kale, path, problems, warnings)
    return settings, problems, warnings


def _sections(
    metadata: dict[str, Any], problems: list[Problem]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Our metadata and Kale's, each an object (empty when absent or, for Kale's, unreadable)."""
    ours = metadata.get("kfp_jupyter")
    kale = metadata.get("kubeflow_notebook")
    if ours is None:
        ours = {}
    elif not isinstance(ours, dict):
        problems.append(
            Problem(
                "notebook metadata 'kfp_jupyter' must be an object",
                fix="edit the notebook metadata",
            )
        )
        ours = {}
    if not isinstance(kale, dict):
        kale = {}
    return ours, kale


def _warn_ignored(ours: dict[str, Any], kale: dict[str, Any], warnings: list[Problem]) -> None:
    """Kale settings with no counterpart here, and our keys that are probably typos."""
    warn_ignored(kale, warnings)
    for key in ours:
        if key not in OUR_KEYS:
            close = difflib.get_close_matches(key, OUR_KEYS, n=1)
            warnings.append(
                Problem(
                    f"notebook metadata 'kfp_jupyter.{key}' is not a setting kfp-jupyter knows; ignored",
                    fix=(
                        f"did you mean {close[0]!r}?"
                        if close
                        else f"known keys: {', '.join(OUR_KEYS)}"
                    ),
                )
            )


def _settings(
    ours: dict[str, Any],
    kale: dict[str, Any],
    path: Path | None,
    problems: list[Problem],
    warnings: list[Problem],
) -> NotebookSettings:
    """Each setting from our metadata, else from Kale's, else its default."""

    def mine(key: str) -> str | None:
        return _text(ours, key, "kfp_jupyter", problems)

    def kales(key: str) -> str | None:
        return _text(kale, key, "kubeflow_notebook", problems)

    kale_exp = kale.get("experiment")
    kale_exp_name = kale_exp.get("name") if isinstance(kale_exp, dict) else None
    name = _first(mine("name"), mine("pipeline_name"), kales("pipeline_name"))
    return NotebookSettings(
        name=_pipeline_name(name, path, problems),
        description=_first(mine("description"), kales("pipeline_description")) or "",
        experiment=_first(
            mine("experiment"),
            kales("experiment_name"),
            kale_exp_name.strip() if isinstance(kale_exp_name, str) else None,
        ),
        image=_first(
            mine("image"), mine("default_image"), kales("base_image"), kales("docker_image")
        )
        or DEFAULT_IMAGE,
        packages=_packages(ours.get("packages"), problems),
        pipeline_root=mine("pipeline_root"),
        step_defaults=kale_step_defaults(kale, problems, warnings),
        volumes=with_kale_volumes(
            _volumes(ours.get("volumes"), problems), kale, problems, warnings
        ),
        kfp_runtime=_kfp_runtime(mine("kfp_runtime"), problems),
        pin_packages=_flag(ours, "pin_packages", True, problems),
        kale_workspace=isinstance(kale.get("volumes"), list) and bool(kale["volumes"]),
    )


def _pipeline_name(name: str | None, path: Path | None, problems: list[Problem]) -> str:
    """The name the metadata gives, checked; else one made from the notebook's file name."""
    if name is None:
        return suggest_pipeline_name(path.stem if path else "pipeline")
    if not PIPELINE_NAME_RE.match(name):
        problems.append(
            Problem(
                f"invalid pipeline name {name!r} in the notebook metadata",
                fix=f"use lowercase letters, digits and '-', e.g. {suggest_pipeline_name(name)!r}",
            )
        )
    return name
