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
from .limits import bytes_amount
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
    """A warning for each of Kale's settings that is set and has no counterpart here. Kale's
    panel writes `katib_metadata` on every save, so it says something only with `katib_run`."""
    for key, why in _IGNORED.items():
        if key == "katib_metadata" and not kale.get("katib_run"):
            continue
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


_VOLUME_FIX = (
    "correct it in the notebook metadata 'kubeflow_notebook.volumes' (Kale's Volumes panel), or "
    "remove it there and mount the volume with a 'volume:' tag or 'kfp_jupyter.volumes'"
)


def _kale_volume(
    item: object,
    i: int,
    defaults: tuple[str | None, str | None],
    problems: list[Problem],
    warnings: list[Problem],
) -> VolumeRef | None:
    """One of Kale's volumes as ours: 'pvc' mounts an existing claim, 'new_pvc' creates one per
    run. Others (Rok snapshots, 'pv') cannot be expressed, so they are warned about and dropped;
    a 'pvc' or 'new_pvc' that cannot be mounted is an error, as its steps would write to a folder
    of their own container and the data would be lost without a word."""
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
    if kind not in ("pvc", "new_pvc"):
        skip(
            f"volume type {kind!r} is not one kfp-jupyter can mount (it mounts 'pvc' and 'new_pvc')"
        )
        return None
    try:
        if not isinstance(name, str) or not isinstance(path, str) or not name or not path:
            raise ValueError("it needs a 'name' and a 'mount_point'")
        _warn_volume_extras(item, where, kind, name, warnings)
        if kind == "pvc":
            return parse_volume(f"pvc/{name}:{path}")
        return _new_volume(item, name, path, defaults)
    except ValueError as e:
        named = f" (volume {name!r})" if isinstance(name, str) and name else ""
        problems.append(
            Problem(
                f"notebook metadata '{where}'{named} cannot be mounted: {e}; its steps "
                "would write to a folder of their own container, and the data would be lost",
                fix=_VOLUME_FIX,
            )
        )
        return None


def _kale_size(item: dict[str, Any]) -> str:
    """The size of a 'new_pvc' volume as one amount: Kale's panel writes a number and a unit
    (`size: 0.5, size_type: "Gi"`); a size written with its unit (`"5Gi"`) keeps it. An empty
    `size_type` is Kale's bytes, as Kubernetes reads a number without a unit; no `size_type`
    at all, Gi."""
    size, unit = item.get("size"), item.get("size_type") or ""
    if isinstance(size, bool) or not isinstance(size, (int, float, str)) or not str(size).strip():
        raise ValueError("a new volume needs a 'size' (a number, with its unit in 'size_type')")
    text = str(size).strip()
    if not text[-1].isalpha():
        return bytes_amount(text) if item.get("size_type") == "" else f"{text}{unit or 'Gi'}"
    if unit and not text.endswith(str(unit)):
        raise ValueError(f"size {text!r} has a unit and 'size_type' {unit!r} another")
    return text


def _new_volume(
    item: dict[str, Any], name: str, path: str, defaults: tuple[str | None, str | None]
) -> VolumeRef:
    """A 'new_pvc' volume: its size, and the storage class and access mode it or the notebook
    names (ValueError if one is not a valid value)."""
    size = _kale_size(item)
    sc = item.get("storage_class_name") or defaults[0] or ""
    mode = item.get("volume_access_mode") or defaults[1] or ""
    if mode and str(mode).lower() not in _ACCESS_MODES:
        raise ValueError(f"access mode {mode!r} is not one of Kale's 'rom', 'rwo', 'rwm'")
    parts = [name, path, size, str(sc)]
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
    if kind == "new_pvc" and item.get("annotations"):
        warnings.append(
            Problem(
                f"notebook metadata '{where}.annotations' is ignored: kfp-jupyter creates the "
                f"volume {name!r} without annotations",
                fix="remove them from the volume (Kale's Volumes panel) to silence this",
            )
        )
    if item.get("expose_as_env_var"):
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
    ours: tuple[VolumeRef, ...],
    kale: dict[str, Any],
    problems: list[Problem],
    warnings: list[Problem],
) -> tuple[VolumeRef, ...]:
    """Our volumes plus Kale's, which Kale mounts in every step too; ours win at a mount path."""
    items = kale.get("volumes")
    if items is None:
        return ours
    if not isinstance(items, list):
        problems.append(
            Problem(
                "notebook metadata 'kubeflow_notebook.volumes' must be a list of volumes",
                fix='write it like [{"type": "pvc", "name": "CLAIM", "mount_point": "/data"}]',
            )
        )
        return ours
    defaults = _volume_defaults(kale)
    at = {v.path: v for v in ours}
    kales: set[str] = set()
    out = list(ours)
    for i, item in enumerate(items):
        v = _kale_volume(item, i, defaults, problems, warnings)
        if v is not None and _mountable(v, i, at, kales, problems, warnings):
            at[v.path] = v
            kales.add(v.path)
            out.append(v)
    return tuple(out)


def _mountable(
    v: VolumeRef,
    i: int,
    at: dict[str, VolumeRef],
    kales: set[str],
    problems: list[Problem],
    warnings: list[Problem],
) -> bool:
    """Whether Kale's volume `v` goes in: two volumes at one path in a pod Kubernetes refuses,
    so two of Kale's is an error; one of ours there wins, with a warning unless it is the same."""
    there = at.get(v.path)
    if there is None:
        return True
    where = f"notebook metadata 'kubeflow_notebook.volumes[{i}]' (volume {v.volume!r})"
    if v.path in kales:
        problems.append(
            Problem(
                f"{where} mounts at {v.path!r}, where Kale's volume {there.volume!r} is mounted "
                "already; a pod mounts one volume at a path",
                fix="give one of them another 'mount_point', or remove one",
            )
        )
    elif there != v:
        warnings.append(
            Problem(
                f"{where} is not mounted: 'kfp_jupyter.volumes' mounts {there.text()!r} at "
                f"{v.path!r}, and ours win at a mount path",
                fix="remove one of them, or give one another mount path",
            )
        )
    return False


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
        problems.extend(
            Problem(f"notebook metadata '{where}': {err}", fix=err.fix or "correct the tag")
            for err in (e, *e.also)
        )
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
