"""Kale's notebook settings (metadata.kubeflow_notebook) as ours, or warned about.

Kale notebooks carry their pipeline's settings in the notebook, written by Kale's JupyterLab
panel in several versions; each setting Kale accepts is read the same way here or said to be
ignored, with the reason, so a Kale notebook compiles unchanged and its user knows what differs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import Problem
from ..model import volume_env
from .roles import Role
from .step_settings import StepSettings
from .tags import TagError, parse_tags
from .volumes import VolumeRef, parse_volume

_SILENCE = "remove it from the notebook metadata 'kubeflow_notebook' to silence this"

#: Kale's notebook settings that have no counterpart here, and why each is ignored.
_IGNORED = {
    "katib_run": "kfp-jupyter does not start Katib hyperparameter tuning; the pipeline runs once "
    "with its parameters",
    "katib_metadata": "kfp-jupyter does not start Katib hyperparameter tuning",
    "snapshot_volumes": "volume snapshots need Arrikto Rok, which kfp-jupyter does not use",
    "autosnapshot": "step snapshots need Arrikto Rok, which kfp-jupyter does not use",
    "abs_working_dir": "steps run in their own working folder here",
    "marshal_volume": "kfp-jupyter hands data between steps as pipeline artifacts, not on a volume",
    "marshal_path": "kfp-jupyter hands data between steps as pipeline artifacts, not on a volume",
    "kfp_host": "the cluster to submit to is chosen with `kfpj submit` or the target settings",
    "timeout": "kfp-jupyter sets a time limit per step: tag the steps 'timeout:SECONDS'",
    "security_context": "kfp-jupyter sets no pod security context; the cluster's defaults apply",
    "output_path": "the compiled file goes where `kfp-jupyter compile -o` says",
}

#: Kale's access modes of a volume (its panel's short names) as Kubernetes names them.
_ACCESS_MODES = {"rom": "ReadOnlyMany", "rwo": "ReadWriteOnce", "rwm": "ReadWriteMany"}


def warn_ignored(kale: dict[str, Any], warnings: list[Problem]) -> None:
    """A warning for each of Kale's settings that is set and has no counterpart here."""
    for key, why in _IGNORED.items():
        if kale.get(key):
            warnings.append(
                Problem(
                    f"Kale's notebook setting 'kubeflow_notebook.{key}' is ignored: {why}",
                    fix=_SILENCE,
                )
            )


def _volume_defaults(kale: dict[str, Any]) -> tuple[str | None, str | None]:
    """The storage class and access mode Kale gives every volume that names none."""
    sc, mode = kale.get("storage_class_name"), kale.get("volume_access_mode")
    return (sc if isinstance(sc, str) and sc else None), (
        mode if isinstance(mode, str) and mode else None
    )


def _kale_volume(
    item: object, i: int, defaults: tuple[str | None, str | None], warnings: list[Problem]
) -> VolumeRef | None:
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
    _warn_volume_extras(item, where, kind, name, warnings)
    try:
        if kind == "pvc":
            return parse_volume(f"pvc/{name}:{path}")
        if kind == "new_pvc":
            return _new_volume(item, name, path, defaults, skip)
    except ValueError as e:
        skip(str(e))
        return None
    skip(f"volume type {kind!r} is not one kfp-jupyter can mount (it mounts 'pvc' and 'new_pvc')")
    return None


def _new_volume(
    item: dict[str, Any],
    name: str,
    path: str,
    defaults: tuple[str | None, str | None],
    skip: Any,
) -> VolumeRef | None:
    """A 'new_pvc' volume: its size, and the storage class and access mode it or the notebook
    names (ValueError if one is not a valid value)."""
    size = item.get("size")
    if size in (None, ""):
        skip("a new volume needs a 'size'")
        return None
    sc = item.get("storage_class_name") or defaults[0] or ""
    mode = item.get("volume_access_mode") or defaults[1] or ""
    if mode and str(mode).lower() not in _ACCESS_MODES:
        raise ValueError(f"access mode {mode!r} is not one of Kale's 'rom', 'rwo', 'rwm'")
    parts = [name, path, f"{size}{item.get('size_type') or 'Gi'}", str(sc)]
    parts.append(_ACCESS_MODES[str(mode).lower()] if mode else "")
    while parts[-1] == "":
        parts.pop()
    return parse_volume(":".join(parts))


def _warn_volume_extras(
    item: dict[str, Any], where: str, kind: object, name: str, warnings: list[Problem]
) -> None:
    """Warnings for the parts of a Kale volume that have no counterpart here."""
    if item.get("snapshot"):
        warnings.append(
            Problem(
                f"notebook metadata '{where}': its 'snapshot' setting needs Arrikto Rok, which "
                "kfp-jupyter does not use; ignored",
                fix=_SILENCE,
            )
        )
    if item.get("expose_as_env_var") and kind in ("pvc", "new_pvc"):
        kale_env = "KALE_VOLUME_" + volume_env(name).removeprefix("KFPJ_VOLUME_")
        warnings.append(
            Problem(
                f"notebook metadata '{where}.expose_as_env_var': the mount path is in the "
                f"environment variable {volume_env(name)} here, in every step mounting it, not "
                f"in {kale_env}",
                fix=f"read os.environ[{volume_env(name)!r}] in the steps",
            )
        )


def with_kale_volumes(
    ours: tuple[VolumeRef, ...], kale: dict[str, Any], warnings: list[Problem]
) -> tuple[VolumeRef, ...]:
    """Our volumes plus Kale's, which Kale mounts in every step too; ours win at a mount path."""
    items = kale.get("volumes")
    if not isinstance(items, list):
        return ours
    defaults = _volume_defaults(kale)
    taken = {v.path for v in ours}
    out = list(ours)
    for i, item in enumerate(items):
        v = _kale_volume(item, i, defaults, warnings)
        if v is not None and v.path not in taken:
            taken.add(v.path)
            out.append(v)
    return tuple(out)


#: The keys of Kale's parsed steps_defaults object, and the tag each stands for.
_DEFAULTS_GROUPS = (("annotations", "annotation"), ("labels", "label"), ("limits", "limit"))


def _defaults_dict_tags(
    raw: dict[str, Any], problems: list[Problem], warnings: list[Problem]
) -> list[str]:
    """Kale's other form of steps_defaults, the object its parser makes of the tag list
    ({"annotations": {k: v}, "labels": ..., "limits": ..., "secrets": {ENV: {...}},
    "base_image": ..., "enable_caching": ...}), as the tags it stands for."""
    where = "kubeflow_notebook.steps_defaults"
    tags: list[str] = []
    for key, head in _DEFAULTS_GROUPS:
        group = raw.get(key)
        if group is None:
            continue
        if not isinstance(group, dict):
            problems.append(
                Problem(
                    f"notebook metadata '{where}.{key}' must be an object",
                    fix='write it like {"KEY": "VALUE"}',
                )
            )
            continue
        tags += [f"{head}:{k}:{v}" for k, v in group.items()]
    tags += _defaults_dict_secrets(raw.get("secrets"), where, problems)
    if isinstance(raw.get("base_image"), str) and raw["base_image"].strip():
        tags.append(f"image:{raw['base_image'].strip()}")
    if isinstance(raw.get("enable_caching"), bool):
        tags.append("cache:" + ("enabled" if raw["enable_caching"] else "disabled"))
    if raw.get("generate_html_report") is not None:
        warnings.append(
            Problem(
                f"notebook metadata '{where}.generate_html_report' is ignored: kfp-jupyter "
                "writes no per-step HTML report; the step's output is in its logs",
                fix=_SILENCE,
            )
        )
    known = {k for k, _ in _DEFAULTS_GROUPS} | {
        "secrets",
        "base_image",
        "enable_caching",
        "generate_html_report",
    }
    other = sorted(str(k) for k in raw if k not in known)
    if other:
        warnings.append(
            Problem(
                f"notebook metadata '{where}' keys {', '.join(map(repr, other))} are not step "
                "settings Kale knows; ignored",
                fix="remove them from steps_defaults to silence this",
            )
        )
    return tags


def _defaults_dict_secrets(value: object, where: str, problems: list[Problem]) -> list[str]:
    """Kale's parsed secrets, {ENV_VAR: {"secret_name": S, "secret_key": K}}, as secret tags."""
    if value is None:
        return []
    fix = 'write it like {"ENV_VAR": {"secret_name": "NAME", "secret_key": "KEY"}}'
    if not isinstance(value, dict):
        problems.append(Problem(f"notebook metadata '{where}.secrets' must be an object", fix=fix))
        return []
    tags: list[str] = []
    for env, ref in value.items():
        if not isinstance(ref, dict) or not {"secret_name", "secret_key"} <= set(ref):
            problems.append(
                Problem(
                    f"notebook metadata '{where}.secrets.{env}' must name 'secret_name' and "
                    "'secret_key'",
                    fix=fix,
                )
            )
            continue
        tags.append(f"secret:{ref['secret_name']}:{ref['secret_key']}:{env}")
    return tags


def kale_step_defaults(
    kale: dict[str, Any], problems: list[Problem], warnings: list[Problem]
) -> StepSettings:
    """Kale's steps_defaults (a list of tags, or Kale's parsed object of them) for every step,
    with Kale's pipeline-wide `enable_caching: false` as every step's default cache setting."""
    settings = _steps_defaults(kale, problems, warnings)
    caching = kale.get("enable_caching")
    if caching is not None and not isinstance(caching, bool):
        problems.append(
            Problem(
                f"notebook metadata 'kubeflow_notebook.enable_caching' must be true or false, "
                f"not {caching!r}",
                fix='write it like "enable_caching": false',
            )
        )
    elif caching is False and settings.cache is None:
        # Kale turns caching off for each step that does not turn it on itself
        settings = replace(settings, cache=False)
    return settings


def _steps_defaults(
    kale: dict[str, Any], problems: list[Problem], warnings: list[Problem]
) -> StepSettings:
    raw = kale.get("steps_defaults")
    if raw is None:
        return StepSettings()
    if isinstance(raw, dict):
        raw = _defaults_dict_tags(raw, problems, warnings)
    where = "kubeflow_notebook.steps_defaults"
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        problems.append(
            Problem(
                f"notebook metadata '{where}' must be a list of tags",
                fix='write it like ["label:team:ml", "limit:cpu:1"]',
            )
        )
        return StepSettings()
    try:
        parsed = parse_tags(raw)
    except TagError as e:
        problems.append(Problem(f"notebook metadata '{where}': {e}", fix="correct the tag"))
        return StepSettings()
    for note, fix in parsed.notes:
        warnings.append(Problem(f"notebook metadata '{where}': {note}", fix=fix))
    if (parsed.role is not None and parsed.role != Role.STEP) or parsed.settings.prev:
        problems.append(
            Problem(
                f"notebook metadata '{where}' may hold only step settings (image, limit, label, "
                "annotation, ...), not roles or prev",
                fix="remove those tags from steps_defaults",
            )
        )
    return parsed.settings
