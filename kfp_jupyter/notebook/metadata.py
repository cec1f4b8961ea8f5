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
from .roles import Role
from .step_settings import StepSettings
from .tags import TagError, parse_tags
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


#: Kale's notebook settings that have no counterpart here, and why each is ignored.
_KALE_IGNORED = {
    "katib_run": "kfp-jupyter does not start Katib hyperparameter tuning; the pipeline runs once "
    "with its parameters",
    "katib_metadata": "kfp-jupyter does not start Katib hyperparameter tuning",
    "snapshot_volumes": "volume snapshots need Arrikto Rok, which kfp-jupyter does not use",
    "autosnapshot": "step snapshots need Arrikto Rok, which kfp-jupyter does not use",
    "abs_working_dir": "steps run in their own working folder here",
    "marshal_volume": "kfp-jupyter hands data between steps as pipeline artifacts, not on a volume",
    "marshal_path": "kfp-jupyter hands data between steps as pipeline artifacts, not on a volume",
    "kfp_host": "the cluster to submit to is chosen with `kfpj submit` or the target settings",
    "storage_class_name": "set a volume's storage class in the volume itself",
    "volume_access_mode": "set a volume's access mode in the volume itself",
}


def _kale_volume(item: object, i: int, warnings: list[Problem]) -> VolumeRef | None:
    """One of Kale's volumes as ours: 'pvc' mounts an existing claim, 'new_pvc' creates one per
    run. Others (Rok snapshots, 'pv') cannot be expressed, so they are warned about and dropped."""
    where = f"kubeflow_notebook.volumes[{i}]"

    def skip(why: str) -> None:
        warnings.append(
            Problem(
                f"notebook metadata '{where}' is ignored: {why}",
                fix="mount the volume with a 'volume:' tag or 'kfp_jupyter.volumes' instead",
            )
        )

    if not isinstance(item, dict):
        skip("a Kale volume is an object")
        return None
    kind, name, path = item.get("type"), item.get("name"), item.get("mount_point")
    if not isinstance(name, str) or not isinstance(path, str) or not name or not path:
        skip("it needs a 'name' and a 'mount_point'")
        return None
    if item.get("snapshot"):
        skip_snapshot = "its 'snapshot' setting needs Arrikto Rok, which kfp-jupyter does not use"
        warnings.append(Problem(f"notebook metadata '{where}': {skip_snapshot}; ignored"))
    size = item.get("size")
    size_type = item.get("size_type") or "Gi"
    try:
        if kind == "pvc":
            return parse_volume(f"pvc/{name}:{path}")
        if kind == "new_pvc":
            if size in (None, ""):
                skip("a new volume needs a 'size'")
                return None
            return parse_volume(f"{name}:{path}:{size}{size_type}")
    except ValueError as e:
        skip(str(e))
        return None
    skip(f"volume type {kind!r} is not one kfp-jupyter can mount (it mounts 'pvc' and 'new_pvc')")
    return None


def _with_kale_volumes(
    ours: tuple[VolumeRef, ...], kale: object, warnings: list[Problem]
) -> tuple[VolumeRef, ...]:
    """Our volumes plus Kale's, which Kale mounts in every step too; ours win at a mount path."""
    if not isinstance(kale, list):
        return ours
    taken = {v.path for v in ours}
    out = list(ours)
    for i, item in enumerate(kale):
        v = _kale_volume(item, i, warnings)
        if v is not None and v.path not in taken:
            taken.add(v.path)
            out.append(v)
    return tuple(out)


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


def _packages(value: object, problems: list[Problem]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [p for p in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        problems.append(
            Problem(
                "notebook metadata 'kfp_jupyter.packages' must be a list of strings",
                fix='write it like ["pandas", "scikit-learn==1.5.2"]',
            )
        )
        return ()
    return tuple(p.strip() for p in value if p.strip())


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


def _kale_defaults_dict(raw: dict[str, Any], problems: list[Problem]) -> list[str]:
    """Kale's other form of steps_defaults, {"annotations": {k: v}, "labels": ..., "limits": ...},
    as the tags it stands for."""
    tags: list[str] = []
    for key, head in (("annotations", "annotation"), ("labels", "label"), ("limits", "limit")):
        group = raw.get(key)
        if group is None:
            continue
        if not isinstance(group, dict):
            problems.append(
                Problem(
                    f"notebook metadata 'kubeflow_notebook.steps_defaults.{key}' must be an object",
                    fix='write it like {"KEY": "VALUE"}',
                )
            )
            continue
        tags += [f"{head}:{k}:{v}" for k, v in group.items()]
    return tags


def _kale_defaults(
    kale: dict[str, Any], problems: list[Problem], warnings: list[Problem]
) -> StepSettings:
    """Kale's steps_defaults: a list of tags (or Kale's parsed dict of them) for every step."""
    raw = kale.get("steps_defaults")
    if raw is None:
        return StepSettings()
    if isinstance(raw, dict):
        other = sorted(str(k) for k in raw if k not in ("annotations", "labels", "limits"))
        if other:
            warnings.append(
                Problem(
                    "notebook metadata 'kubeflow_notebook.steps_defaults' keys "
                    f"{', '.join(map(repr, other))} are not annotations, labels or limits, the "
                    "only step defaults Kale applies; ignored",
                    fix="remove them from steps_defaults to silence this",
                )
            )
        raw = _kale_defaults_dict(raw, problems)
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        problems.append(
            Problem("notebook metadata 'kubeflow_notebook.steps_defaults' must be a list of tags")
        )
        return StepSettings()
    try:
        parsed = parse_tags(raw)
    except TagError as e:
        problems.append(
            Problem(
                f"notebook metadata 'kubeflow_notebook.steps_defaults': {e}", fix="correct the tag"
            )
        )
        return StepSettings()
    if (parsed.role is not None and parsed.role != Role.STEP) or parsed.settings.prev:
        problems.append(
            Problem(
                "notebook metadata 'kubeflow_notebook.steps_defaults' may hold only step settings "
                "(image, limit, label, annotation, ...), not roles or prev",
                fix="remove those tags from steps_defaults",
            )
        )
    return parsed.settings


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
    for key, why in _KALE_IGNORED.items():
        if kale.get(key):
            warnings.append(
                Problem(
                    f"Kale's notebook setting 'kubeflow_notebook.{key}' is ignored: {why}",
                    fix="remove it from the notebook metadata 'kubeflow_notebook' to silence this",
                )
            )
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
        step_defaults=_kale_defaults(kale, problems, warnings),
        volumes=_with_kale_volumes(
            _volumes(ours.get("volumes"), problems), kale.get("volumes"), warnings
        ),
        kfp_runtime=_kfp_runtime(mine("kfp_runtime"), problems),
        pin_packages=_flag(ours, "pin_packages", True, problems),
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
