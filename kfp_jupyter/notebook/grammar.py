"""The annotation grammar, shared by cell tags, cell magics, the IPython magics and `convert`.

Both styles produce the same `StepSettings`, so nothing downstream knows which style a cell used.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass, field
from enum import Enum
from typing import NoReturn, TypeVar

from ..model import GPU_RESOURCE


class Role(str, Enum):
    STEP = "step"
    IMPORTS = "imports"
    FUNCTIONS = "functions"
    PARAMETERS = "pipeline-parameters"
    METRICS = "pipeline-metrics"
    SKIP = "skip"
    CONTINUE = "continue"


#: Tags that name a role with no argument, and their magic names.
ROLE_TAGS: dict[str, Role] = {
    "imports": Role.IMPORTS,
    "functions": Role.FUNCTIONS,
    "pipeline-parameters": Role.PARAMETERS,
    "pipeline-metrics": Role.METRICS,
    "skip": Role.SKIP,
    # papermill's tag means the same thing as ours, so papermill notebooks work unchanged.
    "parameters": Role.PARAMETERS,
}
ROLE_MAGICS: dict[str, Role] = {
    "step": Role.STEP,
    "imports": Role.IMPORTS,
    "functions": Role.FUNCTIONS,
    "pipeline_parameters": Role.PARAMETERS,
    "pipeline_metrics": Role.METRICS,
    "skip": Role.SKIP,
    # steps that are not Python: a reusable component, a container, a Kubernetes resource
    "component": Role.STEP,
    "container": Role.STEP,
    "resource": Role.STEP,
    # a step that executes a whole notebook
    "notebook": Role.STEP,
}
#: The magics of steps that are not Python code, by step kind.
KIND_MAGICS = ("component", "container", "resource", "notebook")
MAGIC_OF_ROLE: dict[Role, str] = {v: k for k, v in ROLE_MAGICS.items() if k not in KIND_MAGICS}
TAG_OF_ROLE: dict[Role, str] = {
    Role.IMPORTS: "imports",
    Role.FUNCTIONS: "functions",
    Role.PARAMETERS: "pipeline-parameters",
    Role.METRICS: "pipeline-metrics",
    Role.SKIP: "skip",
}

#: Kubernetes access modes of a volume, and the short forms kubectl prints.
ACCESS_MODES = {
    "readwriteonce": "ReadWriteOnce",
    "rwo": "ReadWriteOnce",
    "readonlymany": "ReadOnlyMany",
    "rox": "ReadOnlyMany",
    "readwritemany": "ReadWriteMany",
    "rwx": "ReadWriteMany",
    "readwriteoncepod": "ReadWriteOncePod",
    "rwop": "ReadWriteOncePod",
}
RESOURCE_ACTIONS = ("create", "apply", "delete")

STEP_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


def suggest_step_name(name: str) -> str:
    s = re.sub(r"[^a-z0-9_-]+", "-", name.strip().lower()).strip("-_")
    if not s or not s[0].isalpha():
        s = "step-" + s
    return s[:63].rstrip("-_") or "step"


def step_name_problem(name: str) -> str | None:
    """Why `name` cannot be a step name (it must work as a KFP task, an Argo template and a Python name)."""
    if STEP_NAME_RE.match(name) and not name.endswith(("-", "_")):
        return None
    return (
        f"invalid step name {name!r}: use lowercase letters, digits, '-' and '_', starting with a letter "
        f"(at most 63 characters), e.g. {suggest_step_name(name)!r}"
    )


@dataclass(frozen=True)
class VolumeRef:
    """A volume a step mounts, as one tag or --volume option says it.

    `NAME:MOUNT_PATH[:SIZE[:STORAGE_CLASS[:ACCESS_MODE]]]` names a volume the pipeline creates for
    each run (its size said once, in any step or in the notebook metadata); `pvc/CLAIM:MOUNT_PATH`
    mounts an existing PersistentVolumeClaim.
    """

    volume: str
    path: str
    size: str | None = None
    storage_class: str | None = None
    access_mode: str | None = None
    claim: bool = False

    def text(self) -> str:
        if self.claim:
            return f"pvc/{self.volume}:{self.path}"
        parts = [self.volume, self.path, self.size or "", self.storage_class or ""]
        parts.append(self.access_mode or "")
        while parts[-1] == "":
            parts.pop()
        return ":".join(parts)


_VOLUME_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_K8S_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_VOLUME_USAGE = (
    "NAME:MOUNT_PATH[:SIZE[:STORAGE_CLASS[:ACCESS_MODE]]] or pvc/CLAIM:MOUNT_PATH "
    "(e.g. data:/data:5Gi or pvc/shared:/shared)"
)


def parse_volume(text: str) -> VolumeRef:
    """Parse a volume mention (after 'volume:' or --volume); ValueError with the usage if bad."""
    parts = text.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"volume {text!r} must be {_VOLUME_USAGE}")
    head, path = parts[0], parts[1]
    if not path.startswith("/") or path == "/":
        raise ValueError(
            f"volume {text!r}: the mount path {path!r} must be an absolute folder path"
        )
    if head.startswith("pvc/"):
        claim = head[4:]
        if len(parts) > 2:
            raise ValueError(
                f"volume {text!r}: an existing claim takes no size, storage class or access mode"
            )
        if not _K8S_NAME_RE.match(claim) or len(claim) > 253:
            raise ValueError(f"volume {text!r}: {claim!r} is not a PersistentVolumeClaim name")
        return VolumeRef(claim, path, claim=True)
    if len(parts) > 5:
        raise ValueError(f"volume {text!r} has too many ':' parts; it must be {_VOLUME_USAGE}")
    if not _VOLUME_NAME_RE.match(head) or len(head) > 63:
        raise ValueError(
            f"volume name {head!r} must be lowercase letters, digits and '-' (at most 63), "
            "starting and ending with a letter or digit"
        )
    size = parts[2] if len(parts) > 2 and parts[2] else None
    if size is not None and not _MEMORY_RE.match(size):
        raise ValueError(f"volume {text!r}: size {size!r} is not an amount such as 1Gi or 500Mi")
    sc = parts[3] if len(parts) > 3 and parts[3] else None
    if sc is not None and not _K8S_NAME_RE.match(sc):
        raise ValueError(f"volume {text!r}: {sc!r} is not a storage class name")
    mode = parts[4] if len(parts) > 4 and parts[4] else None
    if mode is not None:
        if mode.lower() not in ACCESS_MODES:
            raise ValueError(
                f"volume {text!r}: access mode {mode!r} is not one of ReadWriteOnce, "
                "ReadOnlyMany, ReadWriteMany, ReadWriteOncePod"
            )
        mode = ACCESS_MODES[mode.lower()]
    if (sc or mode) and size is None:
        raise ValueError(f"volume {text!r}: give the size before the storage class and access mode")
    return VolumeRef(head, path, size, sc, mode)


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


def merge_settings(a: StepSettings, b: StepSettings) -> StepSettings:
    """Combine the settings of two cells of one step; a scalar said twice differently is an error."""
    limits = _merge_pairs("limit", a.limits, b.limits)
    annotations = _merge_pairs("annotation", a.annotations, b.annotations)
    labels = _merge_pairs("label", a.labels, b.labels)
    return StepSettings(
        prev=tuple(dict.fromkeys((*a.prev, *b.prev))),
        image=_merge_scalar("image", a.image, b.image),
        packages=_merge_packages(a.packages, b.packages),
        limits=limits,
        annotations=annotations,
        labels=labels,
        secrets=tuple(dict.fromkeys((*a.secrets, *b.secrets))),
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
        packages=_merge_packages(defaults.packages, own.packages, override=True),
        limits=tuple(sorted({**dict(defaults.limits), **dict(own.limits)}.items())),
        annotations=tuple(sorted({**dict(defaults.annotations), **dict(own.annotations)}.items())),
        labels=tuple(sorted({**dict(defaults.labels), **dict(own.labels)}.items())),
        secrets=tuple(dict.fromkeys((*defaults.secrets, *own.secrets))),
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
        raise SettingsConflict(f"{what} is set to {_show(a)} and to {_show(b)}")
    return a if b is None else b


def _show(value: object) -> str:
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


def _merge_packages(
    a: tuple[str, ...], b: tuple[str, ...], *, override: bool = False
) -> tuple[str, ...]:
    """Requirements of both; one distribution pinned two different ways is a conflict."""
    merged: dict[str, str] = {}
    for req in (*a, *b):
        key = requirement_key(req)
        if key in merged and merged[key] != req and not override:
            raise SettingsConflict(f"package {key!r} is required as {merged[key]!r} and as {req!r}")
        merged[key] = req
    return tuple(merged.values())


def requirement_key(req: str) -> str:
    """The normalised distribution name of a requirement (`Scikit_Learn>=1.3` -> `scikit-learn`)."""
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    return re.sub(r"[-_.]+", "-", (m.group(1) if m else req)).lower()


# ---------------------------------------------------------------------------------------------
# Resource limits: checked here, so that a typo is a notebook error and not a compiler crash.

#: Other names people use for a GPU limit.
GPU_ALIASES = frozenset({"gpu", "gpus", "nvidia.com/gpu"})
_CPU_RE = re.compile(r"^([0-9]*[.])?[0-9]+m?$")
_MEMORY_RE = re.compile(r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$")
_COUNT_RE = re.compile(r"^[0-9]+$")


_SMALLER_UNIT = {
    "Ei": ("Pi", 1024),
    "Pi": ("Ti", 1024),
    "Ti": ("Gi", 1024),
    "Gi": ("Mi", 1024),
    "Mi": ("Ki", 1024),
    "Ki": ("", 1024),
    "E": ("P", 1000),
    "P": ("T", 1000),
    "T": ("G", 1000),
    "G": ("M", 1000),
    "M": ("K", 1000),
    "K": ("", 1000),
}


def _whole_memory(value: str) -> str:
    """`1.5Gi` -> `1536Mi`: the same amount in whole units, since the KFP SDK accepts only whole
    numbers and Kale notebooks write decimals; an amount no unit makes whole (`1.3Gi`) becomes
    whole bytes, rounded up, as Kubernetes rounds it."""
    m = re.match(r"^([0-9]+)[.]([0-9]+)([A-Za-z]*)$", value)
    if not m or (m.group(3) and m.group(3) not in _SMALLER_UNIT):
        return value
    digits, unit = m.group(1) + m.group(2), m.group(3)
    numerator, denominator = int(digits), 10 ** len(m.group(2))
    while unit:
        if numerator % denominator == 0:
            break
        unit, factor = _SMALLER_UNIT[unit]
        numerator *= factor
    return f"{-(-numerator // denominator)}{unit}"


def check_limit(resource: str, value: str) -> tuple[str, str]:
    """The limit as the model stores it (GPU aliases -> nvidia.com/gpu); ValueError if invalid."""
    key = GPU_RESOURCE if resource.lower() in GPU_ALIASES else resource
    if key == "cpu":
        if not _CPU_RE.match(value):
            raise ValueError(f"cpu limit {value!r} is not a CPU amount (e.g. 2, 0.5 or 500m)")
    elif key == "memory":
        value = _whole_memory(value)
        if not _MEMORY_RE.match(value):
            raise ValueError(
                f"memory limit {value!r} is not a memory amount (a whole number with an "
                "optional unit K, M, G, T, Ki, Mi, Gi, Ti, e.g. 4Gi or 512Mi, or a decimal such as "
                "1.5Gi)"
            )
    elif not _COUNT_RE.match(value):
        raise ValueError(
            f"limit {key!r} = {value!r}: accelerator limits are whole numbers of devices "
            "(only 'cpu' and 'memory' take other amounts)"
        )
    return key, value


# ---------------------------------------------------------------------------------------------
# Tags


class TagError(ValueError):
    pass


@dataclass
class ParsedTags:
    role: Role | None = None
    step: str | None = None
    settings: StepSettings = field(default_factory=StepSettings)
    #: tags we do not know; kept so conversion does not lose them
    other: list[str] = field(default_factory=list)
    #: a step tag with no name (`block:`), which Kale reads as if it were absent; kept so the
    #: caller can warn about it
    empty_step: str | None = None


def _split_packages(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _int(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise TagError(f"{what} must be a whole number, not {text!r}") from None
    if n < 0:
        raise TagError(f"{what} must not be negative")
    return n


#: Tag heads that take a value after ':'.
VALUE_TAGS = frozenset(
    {
        "step",
        "block",
        "prev",
        "image",
        "limit",
        "annotation",
        "label",
        "secret",
        "cache",
        "retries",
        "timeout",
        "packages",
        "component",
        "resource",
        "volume",
        "notebook",
        "outputs",
    }
)
#: Tags without a value that set what kind of step a cell is (`container` + `image:REF`).
KIND_TAGS = frozenset({"container"})


def is_our_tag(tag: str) -> bool:
    """Whether `tag` belongs to our grammar (conversion replaces these and keeps all others)."""
    tag = tag.strip()
    return tag in ROLE_TAGS or tag in KIND_TAGS or tag.partition(":")[0] in VALUE_TAGS


def parse_tags(tags: tuple[str, ...] | list[str]) -> ParsedTags:
    """Parse Kale-style cell tags. Unknown tags are kept aside, never an error (cells carry others' tags too)."""
    out = ParsedTags()
    prev: list[str] = []
    packages: list[str] = []
    limits: dict[str, str] = {}
    pairs: dict[str, dict[str, str]] = {"annotation": {}, "label": {}}
    secrets: list[tuple[str, str, str]] = []
    image: str | None = None
    cache: bool | None = None
    retries: int | None = None
    timeout: int | None = None
    component: str | None = None
    container: bool | None = None
    resource: str | None = None
    volumes: list[VolumeRef] = []
    notebook: str | None = None
    outputs: list[str] = []

    def set_role(role: Role, step: str | None = None) -> None:
        if out.role is not None and (out.role, out.step) != (role, step):
            was = f"step:{out.step}" if out.role == Role.STEP else out.role.value
            now = f"step:{step}" if role == Role.STEP else role.value
            raise TagError(f"the cell has two roles, {was!r} and {now!r}; keep one")
        out.role, out.step = role, step

    def once(what: str, old: T | None, new: T) -> T:
        if old is not None and old != new:
            raise TagError(f"{what} is set twice, to {_show(old)} and to {_show(new)}")
        return new

    for raw in tags:
        tag = raw.strip()
        if tag in ROLE_TAGS:
            set_role(ROLE_TAGS[tag])
            continue
        if tag == "container":
            container = True
            continue
        head, sep, rest = tag.partition(":")
        if not sep:
            if head in VALUE_TAGS:
                raise TagError(f"tag {tag!r} needs a value, e.g. '{head}:...'")
            out.other.append(raw)
            continue
        if head in ("step", "block"):
            if not rest:
                # Kale's extension leaves a bare 'block:' behind and Kale reads it as no tag, so
                # the cell continues the step above; reading it the same way keeps such notebooks
                # compiling.
                out.empty_step = tag
                continue
            set_role(Role.STEP, rest)
        elif head == "prev":
            if not rest:
                raise TagError("tag 'prev:' needs a step name")
            prev.append(rest)
        elif head == "image":
            if not rest:
                raise TagError("tag 'image:' needs an image reference")
            image = once("image", image, rest)
        elif head in ("limit", "annotation", "label"):
            key, sep2, value = rest.partition(":")
            # Kubernetes (and Kale) allow an empty annotation or label value; a limit needs one.
            if not sep2 or not key or (not value and head == "limit"):
                raise TagError(f"tag {tag!r} must be '{head}:KEY:VALUE'")
            if head == "limit":
                try:
                    key, value = check_limit(key, value)
                except ValueError as e:
                    raise TagError(f"tag {tag!r}: {e}") from None
                target = limits
            else:
                target = pairs[head]
            if key in target and target[key] != value:
                raise TagError(f"{head} {key!r} is set twice, to {target[key]!r} and to {value!r}")
            target[key] = value
        elif head == "secret":
            parts = rest.split(":")
            if len(parts) != 3 or not all(parts):
                raise TagError(f"tag {tag!r} must be 'secret:SECRET:KEY:ENV_VAR'")
            secrets.append((parts[0], parts[1], parts[2]))
        elif head == "cache":
            if rest not in ("enabled", "disabled"):
                raise TagError(f"tag {tag!r} must be 'cache:enabled' or 'cache:disabled'")
            cache = once("cache", cache, rest == "enabled")
        elif head == "retries":
            retries = once("retries", retries, _int(rest, "retries"))
        elif head == "timeout":
            n = _int(rest, "timeout")
            if n == 0:
                raise TagError("timeout must be at least 1 second")
            timeout = once("timeout", timeout, n)
        elif head == "packages":
            packages.extend(_split_packages(rest))
        elif head == "component":
            if not rest.strip():
                raise TagError("tag 'component:' needs the path or URL of a component spec")
            component = once("component", component, rest.strip())
        elif head == "resource":
            if rest not in RESOURCE_ACTIONS:
                raise TagError(
                    f"tag {tag!r} must be 'resource:ACTION' with ACTION one of "
                    + ", ".join(RESOURCE_ACTIONS)
                )
            resource = once("resource action", resource, rest)
        elif head == "volume":
            try:
                volumes.append(parse_volume(rest))
            except ValueError as e:
                raise TagError(f"tag {tag!r}: {e}") from None
        elif head == "notebook":
            if not rest.strip():
                raise TagError("tag 'notebook:' needs the path of a notebook")
            notebook = once("notebook", notebook, rest.strip())
        elif head == "outputs":
            names = _split_packages(rest)
            bad = [n for n in names if not n.isidentifier()]
            if not names or bad:
                raise TagError(f"tag {tag!r} must be 'outputs:NAME' with NAME a Python variable")
            outputs.extend(names)
        else:
            out.other.append(raw)
    try:
        merged_packages = _merge_packages((), tuple(packages))
    except SettingsConflict as e:
        raise TagError(str(e)) from None
    out.settings = StepSettings(
        prev=tuple(dict.fromkeys(prev)),
        image=image,
        packages=merged_packages,
        limits=tuple(sorted(limits.items())),
        annotations=tuple(sorted(pairs["annotation"].items())),
        labels=tuple(sorted(pairs["label"].items())),
        secrets=tuple(dict.fromkeys(secrets)),
        cache=cache,
        retries=retries,
        timeout=timeout,
        component=component,
        container=container,
        resource=resource,
        volumes=tuple(dict.fromkeys(volumes)),
        notebook=notebook,
        outputs=tuple(dict.fromkeys(outputs)),
    )
    return out


def role_tags(role: Role, step: str | None) -> list[str]:
    """The tags that give a cell `role`."""
    if role in (Role.STEP, Role.CONTINUE):
        assert step is not None
        return [f"step:{step}"]
    return [TAG_OF_ROLE[role]]


def settings_to_tags(settings: StepSettings) -> list[str]:
    tags: list[str] = []
    if settings.component is not None:
        tags.append(f"component:{settings.component}")
    if settings.container:
        tags.append("container")
    if settings.resource is not None:
        tags.append(f"resource:{settings.resource}")
    if settings.notebook is not None:
        tags.append(f"notebook:{settings.notebook}")
    tags += [f"outputs:{o}" for o in settings.outputs]
    tags += [f"prev:{p}" for p in settings.prev]
    if settings.image:
        tags.append(f"image:{settings.image}")
    # one tag per package: the notebook format forbids commas in tags
    tags += [f"packages:{p}" for p in settings.packages]
    tags += [f"limit:{k}:{v}" for k, v in settings.limits]
    tags += [f"annotation:{k}:{v}" for k, v in settings.annotations]
    tags += [f"label:{k}:{v}" for k, v in settings.labels]
    tags += [f"secret:{a}:{b}:{c}" for a, b, c in settings.secrets]
    if settings.cache is not None:
        tags.append("cache:" + ("enabled" if settings.cache else "disabled"))
    if settings.retries is not None:
        tags.append(f"retries:{settings.retries}")
    if settings.timeout is not None:
        tags.append(f"timeout:{settings.timeout}")
    tags += [f"volume:{v.text()}" for v in settings.volumes]
    return tags


# ---------------------------------------------------------------------------------------------
# Magics


class MagicUsageError(ValueError):
    """A bad magic line: one line saying what is wrong, and the magic's usage line to fix it."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        self.message = message
        self.usage = usage
        super().__init__(message + (f"\nusage: {usage}" if usage else ""))


class _Parser(argparse.ArgumentParser):
    def usage_line(self) -> str:
        return " ".join(self.format_usage().split()).removeprefix("usage: ")

    def error(self, message: str) -> NoReturn:
        raise MagicUsageError(message, self.usage_line())

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise MagicUsageError((message or "invalid arguments").strip(), self.usage_line())


def _kv(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _secret(text: str) -> tuple[str, str, str]:
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected SECRET:KEY:ENV_VAR, got {text!r}")
    return parts[0], parts[1], parts[2]


def _nonneg(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return n


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if not n.isidentifier()]
    if not names or bad:
        raise argparse.ArgumentTypeError(
            f"expected Python variable names separated by ',', got {text!r}"
        )
    return names


def _volume(text: str) -> VolumeRef:
    try:
        return parse_volume(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _step_parser(magic: str = "step") -> _Parser:
    p = _Parser(prog=f"%%{magic}", add_help=False, allow_abbrev=False)
    p.add_argument("name")
    if magic == "component":
        p.add_argument("source", metavar="PATH_OR_URL")
    if magic == "notebook":
        p.add_argument("notebook", metavar="PATH")
        p.add_argument("--outputs", type=_names, default=[], metavar="a,b")
    if magic == "resource":
        p.add_argument("--action", required=True, choices=RESOURCE_ACTIONS)
    p.add_argument("--after", nargs="+", default=[], metavar="STEP")
    p.add_argument("--image")
    p.add_argument("--packages", metavar="a,b==1.2")
    p.add_argument("--gpu", metavar="N")
    p.add_argument("--cpu", metavar="N")
    p.add_argument("--memory", metavar="4Gi")
    p.add_argument("--limit", action="append", type=_kv, default=[], metavar="RESOURCE=VALUE")
    p.add_argument("--label", action="append", type=_kv, default=[], metavar="KEY=VALUE")
    p.add_argument("--annotation", action="append", type=_kv, default=[], metavar="KEY=VALUE")
    p.add_argument("--secret", action="append", type=_secret, default=[], metavar="SECRET:KEY:ENV")
    p.add_argument("--retries", type=_nonneg, metavar="N")
    p.add_argument("--timeout", type=_nonneg, metavar="SECONDS")
    p.add_argument(
        "--volume", action="append", type=_volume, default=[], metavar="NAME:PATH[:SIZE]"
    )
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--no-cache", dest="cache", action="store_false", default=None)
    cache.add_argument("--cache", dest="cache", action="store_true", default=None)
    return p


def step_usage(magic: str = "step") -> str:
    """The usage line of %%step, %%component, %%container or %%resource (also printed by the
    IPython magic)."""
    return _step_parser(magic).usage_line()


@dataclass(frozen=True)
class MagicLine:
    role: Role
    step: str | None
    settings: StepSettings


def magic_name(line: str) -> str | None:
    """The cell magic a line starts, e.g. 'step' for '%%step train', or None."""
    text = line.strip()
    if not text.startswith("%%"):
        return None
    words = text[2:].split(None, 1)
    return words[0] if words else ""


def is_magic_line(line: str) -> bool:
    """Whether `line` starts one of our cell magics (other cell magics, like %%time, are not ours)."""
    return magic_name(line) in ROLE_MAGICS


def parse_magic_line(line: str) -> MagicLine:
    """Parse the first line of a cell (`%%step train --after load`); raise MagicUsageError if bad."""
    body = line.strip()[2:]
    try:
        words = shlex.split(body)
    except ValueError as e:
        raise MagicUsageError(f"cannot split the magic line: {e}") from None
    if not words or words[0] not in ROLE_MAGICS:
        raise MagicUsageError(f"unknown magic %%{words[0] if words else ''}")
    role = ROLE_MAGICS[words[0]]
    if role != Role.STEP:
        if len(words) > 1:
            raise MagicUsageError(f"%%{words[0]} takes no arguments", f"%%{words[0]}")
        return MagicLine(role, None, StepSettings())
    parser = _step_parser(words[0])
    a = parser.parse_args(words[1:])
    if a.timeout == 0:
        raise MagicUsageError("--timeout must be at least 1 second", parser.usage_line())
    limits: dict[str, str] = {}
    given = [
        *a.limit,
        *[(k, v) for k, v in (("cpu", a.cpu), ("memory", a.memory)) if v is not None],
    ]
    if a.gpu is not None:
        given.append((GPU_RESOURCE, a.gpu))
    for key, value in given:
        try:
            key, value = check_limit(key, str(value))
        except ValueError as e:
            raise MagicUsageError(str(e), parser.usage_line()) from None
        if key in limits and limits[key] != value:
            raise MagicUsageError(
                f"limit {key!r} is given twice, as {limits[key]!r} and {value!r}",
                parser.usage_line(),
            )
        limits[key] = value
    try:
        packages = _merge_packages((), _split_packages(a.packages) if a.packages else ())
    except SettingsConflict as e:
        raise MagicUsageError(str(e), parser.usage_line()) from None
    settings = StepSettings(
        prev=tuple(dict.fromkeys(a.after)),
        image=a.image,
        packages=packages,
        limits=tuple(sorted(limits.items())),
        annotations=tuple(sorted(dict(a.annotation).items())),
        labels=tuple(sorted(dict(a.label).items())),
        secrets=tuple(dict.fromkeys(a.secret)),
        cache=a.cache,
        retries=a.retries,
        timeout=a.timeout,
        component=getattr(a, "source", None),
        container=True if words[0] == "container" else None,
        resource=getattr(a, "action", None),
        volumes=tuple(dict.fromkeys(a.volume)),
        notebook=getattr(a, "notebook", None),
        outputs=tuple(dict.fromkeys(getattr(a, "outputs", []))),
    )
    return MagicLine(Role.STEP, a.name, settings)


def settings_to_magic_args(settings: StepSettings) -> list[str]:
    args: list[str] = []
    if settings.outputs:
        args += ["--outputs", ",".join(settings.outputs)]
    if settings.prev:
        args += ["--after", *settings.prev]
    if settings.image:
        args += ["--image", settings.image]
    if settings.packages:
        args += ["--packages", ",".join(settings.packages)]
    for k, v in settings.limits:
        if k == GPU_RESOURCE:
            args += ["--gpu", v]
        elif k in ("cpu", "memory"):
            args += [f"--{k}", v]
        else:
            args += ["--limit", f"{k}={v}"]
    for k, v in settings.labels:
        args += ["--label", f"{k}={v}"]
    for k, v in settings.annotations:
        args += ["--annotation", f"{k}={v}"]
    for a, b, c in settings.secrets:
        args += ["--secret", f"{a}:{b}:{c}"]
    if settings.retries is not None:
        args += ["--retries", str(settings.retries)]
    if settings.timeout is not None:
        args += ["--timeout", str(settings.timeout)]
    for vol in settings.volumes:
        args += ["--volume", vol.text()]
    if settings.cache is not None:
        args.append("--cache" if settings.cache else "--no-cache")
    return args


def format_magic_line(role: Role, step: str | None, settings: StepSettings) -> str:
    if role == Role.STEP:
        assert step is not None
        kind = settings.kind
        head = [step]
        if kind == "component":
            assert settings.component is not None
            head.append(settings.component)
        elif kind == "resource":
            assert settings.resource is not None
            head += ["--action", settings.resource]
        elif kind == "notebook":
            assert settings.notebook is not None
            head.append(settings.notebook)
        magic = "step" if kind == "python" else kind
        return f"%%{magic} " + shlex.join([*head, *settings_to_magic_args(settings)])
    return "%%" + MAGIC_OF_ROLE[role]
