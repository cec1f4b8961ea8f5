"""The cell-magic grammar (`%%step train --after load --gpu 1`), read and written.

The magic spelling of the annotation grammar: parsed with argparse so that a bad line gets the
magic's usage line, both here (the compiler) and in the IPython magics, which use this parser too.
"""

from __future__ import annotations

import argparse
import difflib
import shlex
from dataclasses import dataclass
from typing import NoReturn

from ..model import GPU_RESOURCE
from .limits import check_limit
from .pod_metadata import refusals
from .roles import MAGIC_OF_ROLE, RESOURCE_ACTIONS, ROLE_MAGICS, Role
from .step_settings import (
    SettingsConflict,
    StepSettings,
    merge_packages,
    split_packages,
    unique_secrets,
)
from .tags import swapped
from .volumes import VolumeRef, parse_volume


class MagicUsageError(ValueError):
    """A bad magic line: one line saying what is wrong, and the magic's usage line to fix it
    (or, when there is more to say than the usage line does, the fix). `also`: more options of
    the line wrong the same way, so that all are told at once."""

    def __init__(
        self,
        message: str,
        usage: str | None = None,
        fix: str | None = None,
        also: tuple[MagicUsageError, ...] = (),
    ) -> None:
        self.message = message
        self.usage = usage
        self.fix = fix
        self.also = also
        super().__init__(message + (f"\nusage: {usage}" if usage else ""))


class _Parser(argparse.ArgumentParser):
    def usage_line(self) -> str:
        return " ".join(self.format_usage().split()).removeprefix("usage: ")

    def error(self, message: str) -> NoReturn:
        raise MagicUsageError(message, self.usage_line())

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise MagicUsageError((message or "invalid arguments").strip(), self.usage_line())


def _kv(text: str, *, empty_value: bool = False) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not (value or empty_value):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _metadata_kv(text: str) -> tuple[str, str]:
    """A label or annotation: Kubernetes (and the `label:KEY:` tag) take an empty value."""
    return _kv(text, empty_value=True)


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
        p.add_argument("--outputs", action="extend", type=_names, default=[], metavar="a,b")
    if magic == "resource":
        p.add_argument("--action", action="append", required=True, choices=RESOURCE_ACTIONS)
    # repeatable ones add up, as the tags do (prev:a prev:b); one-value ones (_ONE_VALUE) too,
    # to be refused when they differ
    p.add_argument("--after", action="extend", nargs="+", default=[], metavar="STEP")
    p.add_argument("--image", action="append")
    p.add_argument("--packages", action="append", default=[], metavar="a,b==1.2")
    p.add_argument("--gpu", action="append", metavar="N")
    p.add_argument("--cpu", action="append", metavar="N")
    p.add_argument("--memory", action="append", metavar="4Gi")
    p.add_argument("--limit", action="append", type=_kv, default=[], metavar="RESOURCE=VALUE")
    p.add_argument("--label", action="append", type=_metadata_kv, default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--annotation", action="append", type=_metadata_kv, default=[], metavar="KEY=VALUE"
    )
    p.add_argument("--secret", action="append", type=_secret, default=[], metavar="SECRET:KEY:ENV")
    p.add_argument("--retries", action="append", type=_nonneg, metavar="N")
    p.add_argument("--timeout", action="append", type=_nonneg, metavar="SECONDS")
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


#: our magic names, for a near miss to be told against
_MAGICS = tuple(ROLE_MAGICS)


def near_miss_magic(line: str) -> str | None:
    """The magic line of ours that `line`, a cell magic that is not ours, was probably meant to
    be (`%%stepp three` -> `%%step three`), or None. Such a line annotates nothing, so the cell
    would join the step above without a word (its body left out as not Python). Only close
    misspellings count (another case, difflib's ratio of 0.85 or more, two neighbouring letters
    swapped): IPython's own cell magics and those of other extensions (`%%time`, `%%script`,
    `%%sql`) are no near miss of ours."""
    name = magic_name(line)
    if not name or name in ROLE_MAGICS:
        return None
    low = name.lower()
    close = [low] if low in ROLE_MAGICS else difflib.get_close_matches(low, _MAGICS, 1, 0.85)
    meant = close or swapped(low, _MAGICS)
    return "%%" + meant[0] + line.strip()[2 + len(name) :] if meant else None


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
    a = _one_each(parser.parse_args(words[1:]), parser.usage_line())
    if a.timeout == 0:
        raise MagicUsageError("--timeout must be at least 1 second", parser.usage_line())
    return MagicLine(Role.STEP, a.name, _step_settings(words[0], a, parser.usage_line()))


#: the options of one value; the others add up
_ONE_VALUE = ("image", "gpu", "cpu", "memory", "retries", "timeout", "action")


def _one_each(a: argparse.Namespace, usage: str) -> argparse.Namespace:
    """`a` with each one-value option's value: given again with another value, it is an error
    (as a tag set twice is), never the last one silently; given again the same, it is one."""
    for dest in _ONE_VALUE:
        if not hasattr(a, dest):  # an option of another magic (--action: %%resource)
            continue
        given = list(dict.fromkeys(getattr(a, dest) or ()))
        if len(given) > 1:
            raise MagicUsageError(
                f"--{dest} is given twice, as {given[0]!r} and {given[1]!r}", usage
            )
        setattr(a, dest, given[0] if given else None)
    return a


def _step_settings(magic: str, a: argparse.Namespace, usage: str) -> StepSettings:
    """The settings of a step magic's parsed options; what argparse cannot check raises here."""
    limits = _limits(a, usage)
    _check_pod_metadata(a, usage)
    try:
        packages = merge_packages((), tuple(r for text in a.packages for r in split_packages(text)))
        secrets = unique_secrets(a.secret)
    except SettingsConflict as e:
        raise MagicUsageError(str(e), usage) from None
    return StepSettings(
        prev=tuple(dict.fromkeys(a.after)),
        image=a.image,
        packages=packages,
        limits=limits,
        annotations=_once_each("annotation", a.annotation, usage),
        labels=_once_each("label", a.label, usage),
        secrets=secrets,
        cache=a.cache,
        retries=a.retries,
        timeout=a.timeout,
        component=getattr(a, "source", None),
        container=True if magic == "container" else None,
        resource=getattr(a, "action", None),
        volumes=tuple(dict.fromkeys(a.volume)),
        notebook=getattr(a, "notebook", None),
        outputs=tuple(dict.fromkeys(getattr(a, "outputs", []))),
    )


def _limits(a: argparse.Namespace, usage: str) -> tuple[tuple[str, str], ...]:
    """--limit, --cpu, --memory and --gpu as one set of checked limits; one said twice
    differently is an error."""
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
            raise MagicUsageError(str(e), usage) from None
        if key in limits and limits[key] != value:
            raise MagicUsageError(
                f"limit {key!r} is given twice, as {limits[key]!r} and {value!r}", usage
            )
        limits[key] = value
    return tuple(sorted(limits.items()))


def _once_each(what: str, pairs: list[tuple[str, str]], usage: str) -> tuple[tuple[str, str], ...]:
    """--label or --annotation pairs by key, sorted: a key given twice with two values is an
    error (as the tags and --limit say it), never the last one silently."""
    out: dict[str, str] = {}
    for key, value in pairs:
        if out.get(key, value) != value:
            raise MagicUsageError(
                f"{what} {key!r} is given twice, as {out[key]!r} and {value!r}", usage
            )
        out[key] = value
    return tuple(sorted(out.items()))


def _check_pod_metadata(a: argparse.Namespace, usage: str) -> None:
    """--label and --annotation as the tags' are checked: what the API server would refuse is
    refused here, with the option to write instead."""
    errors = [
        MagicUsageError(e.message, usage, e.fix(_spell_option))
        for e in refusals(a.label, a.annotation)
    ]
    if errors:
        first, *more = errors
        raise MagicUsageError(first.message, usage, first.fix, tuple(more))


def _spell_option(kind: str, key: str, value: str) -> str:
    return f"--{kind} {shlex.quote(f'{key}={value}')}"


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
