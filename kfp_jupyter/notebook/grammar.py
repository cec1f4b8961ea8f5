"""The annotation grammar, shared by cell tags, cell magics, the IPython magics and `convert`.

Both styles produce the same `StepSettings`, so nothing downstream knows which style a cell used.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass, field, fields, replace
from enum import Enum

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
}
MAGIC_OF_ROLE: dict[Role, str] = {v: k for k, v in ROLE_MAGICS.items()}
TAG_OF_ROLE: dict[Role, str] = {
    Role.IMPORTS: "imports",
    Role.FUNCTIONS: "functions",
    Role.PARAMETERS: "pipeline-parameters",
    Role.METRICS: "pipeline-metrics",
    Role.SKIP: "skip",
}

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

    def is_empty(self) -> bool:
        return self == StepSettings()


class SettingsConflict(ValueError):
    pass


def merge_settings(a: StepSettings, b: StepSettings) -> StepSettings:
    """Combine the settings of two cells of one step; a scalar said twice differently is an error."""
    out = a
    for f in fields(StepSettings):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if f.name in ("limits", "annotations", "labels"):
            merged = dict(va)
            for k, v in vb:
                if k in merged and merged[k] != v:
                    raise SettingsConflict(f"{f.name[:-1]} {k!r} is set to {merged[k]!r} and to {v!r}")
                merged[k] = v
            out = replace(out, **{f.name: tuple(sorted(merged.items()))})
        elif isinstance(va, tuple):
            out = replace(out, **{f.name: tuple(dict.fromkeys((*va, *vb)))})
        elif vb is not None:
            if va is not None and va != vb:
                raise SettingsConflict(f"{f.name} is set to {va!r} and to {vb!r}")
            out = replace(out, **{f.name: vb})
    return out


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


def parse_tags(tags: tuple[str, ...] | list[str]) -> ParsedTags:
    """Parse Kale-style cell tags. Unknown tags are kept aside, never an error (cells carry others' tags too)."""
    out = ParsedTags()
    s: dict[str, object] = {
        "prev": [], "packages": [], "limits": {}, "annotations": {}, "labels": {}, "secrets": [],
    }

    def set_role(role: Role, step: str | None = None) -> None:
        if out.role is not None and (out.role, out.step) != (role, step):
            was = f"step:{out.step}" if out.role == Role.STEP else out.role.value
            now = f"step:{step}" if role == Role.STEP else role.value
            raise TagError(f"the cell has two roles, {was!r} and {now!r}; keep one")
        out.role, out.step = role, step

    for raw in tags:
        tag = raw.strip()
        if tag in ROLE_TAGS:
            set_role(ROLE_TAGS[tag])
            continue
        head, sep, rest = tag.partition(":")
        if not sep:
            if head in ("step", "block", "prev", "image", "limit", "annotation", "label", "secret",
                        "cache", "retries", "timeout", "packages"):
                raise TagError(f"tag {tag!r} needs a value, e.g. '{head}:...'")
            out.other.append(raw)
            continue
        if head in ("step", "block"):
            if not rest:
                raise TagError(f"tag {tag!r} needs a step name")
            set_role(Role.STEP, rest)
        elif head == "prev":
            if not rest:
                raise TagError("tag 'prev:' needs a step name")
            s["prev"].append(rest)  # type: ignore[attr-defined]
        elif head == "image":
            if not rest:
                raise TagError("tag 'image:' needs an image reference")
            s["image"] = rest
        elif head in ("limit", "annotation", "label"):
            key, sep2, value = rest.partition(":")
            if not sep2 or not key or not value:
                raise TagError(f"tag {tag!r} must be '{head}:KEY:VALUE'")
            s[head + "s"][key] = value  # type: ignore[index]
        elif head == "secret":
            parts = rest.split(":")
            if len(parts) != 3 or not all(parts):
                raise TagError(f"tag {tag!r} must be 'secret:SECRET:KEY:ENV_VAR'")
            s["secrets"].append(tuple(parts))  # type: ignore[attr-defined]
        elif head == "cache":
            if rest not in ("enabled", "disabled"):
                raise TagError(f"tag {tag!r} must be 'cache:enabled' or 'cache:disabled'")
            s["cache"] = rest == "enabled"
        elif head == "retries":
            s["retries"] = _int(rest, "retries")
        elif head == "timeout":
            n = _int(rest, "timeout")
            if n == 0:
                raise TagError("timeout must be at least 1 second")
            s["timeout"] = n
        elif head == "packages":
            s["packages"].extend(_split_packages(rest))  # type: ignore[attr-defined]
        else:
            out.other.append(raw)
    out.settings = StepSettings(
        prev=tuple(dict.fromkeys(s["prev"])),  # type: ignore[call-overload]
        image=s.get("image"),  # type: ignore[arg-type]
        packages=tuple(dict.fromkeys(s["packages"])),  # type: ignore[call-overload]
        limits=tuple(sorted(s["limits"].items())),  # type: ignore[attr-defined]
        annotations=tuple(sorted(s["annotations"].items())),  # type: ignore[attr-defined]
        labels=tuple(sorted(s["labels"].items())),  # type: ignore[attr-defined]
        secrets=tuple(s["secrets"]),  # type: ignore[call-overload]
        cache=s.get("cache"),  # type: ignore[arg-type]
        retries=s.get("retries"),  # type: ignore[arg-type]
        timeout=s.get("timeout"),  # type: ignore[arg-type]
    )
    return out


def settings_to_tags(settings: StepSettings) -> list[str]:
    tags = [f"prev:{p}" for p in settings.prev]
    if settings.image:
        tags.append(f"image:{settings.image}")
    if settings.packages:
        tags.append("packages:" + ",".join(settings.packages))
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
    return tags


# ---------------------------------------------------------------------------------------------
# Magics


class MagicUsageError(ValueError):
    """A bad magic line; the message is one usage line, as the IPython magic prints it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise MagicUsageError(f"{message}\nusage: {self.format_usage().strip().removeprefix('usage: ')}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise MagicUsageError(message or self.format_usage().strip())


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


def _step_parser() -> _Parser:
    p = _Parser(prog="%%step", add_help=False, allow_abbrev=False)
    p.add_argument("name")
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
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--no-cache", dest="cache", action="store_false", default=None)
    cache.add_argument("--cache", dest="cache", action="store_true", default=None)
    return p


@dataclass(frozen=True)
class MagicLine:
    role: Role
    step: str | None
    settings: StepSettings


def is_magic_line(line: str) -> bool:
    if not line.startswith("%%"):
        return False
    name = line[2:].split(None, 1)[0] if line[2:].strip() else ""
    return name in ROLE_MAGICS


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
            raise MagicUsageError(f"%%{words[0]} takes no arguments\nusage: %%{words[0]}")
        return MagicLine(role, None, StepSettings())
    a = _step_parser().parse_args(words[1:])
    if a.timeout == 0:
        raise MagicUsageError("--timeout must be at least 1 second")
    limits = dict(a.limit)
    for key, value in (("cpu", a.cpu), ("memory", a.memory), (GPU_RESOURCE, a.gpu)):
        if value is not None:
            limits[key] = str(value)
    settings = StepSettings(
        prev=tuple(dict.fromkeys(a.after)),
        image=a.image,
        packages=_split_packages(a.packages) if a.packages else (),
        limits=tuple(sorted(limits.items())),
        annotations=tuple(sorted(dict(a.annotation).items())),
        labels=tuple(sorted(dict(a.label).items())),
        secrets=tuple(a.secret),
        cache=a.cache,
        retries=a.retries,
        timeout=a.timeout,
    )
    return MagicLine(Role.STEP, a.name, settings)


def settings_to_magic_args(settings: StepSettings) -> list[str]:
    args: list[str] = []
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
    if settings.cache is not None:
        args.append("--cache" if settings.cache else "--no-cache")
    return args


def format_magic_line(role: Role, step: str | None, settings: StepSettings) -> str:
    if role == Role.STEP:
        assert step is not None
        return "%%step " + shlex.join([step, *settings_to_magic_args(settings)])
    return "%%" + MAGIC_OF_ROLE[role]
