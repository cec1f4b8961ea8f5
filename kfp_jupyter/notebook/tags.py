"""The cell-tag grammar (Kale's style: `step:NAME`, `prev:A`, `limit:cpu:2`, ...), read and written.

Tags and magics are two spellings of one grammar; this is the tag spelling, kept apart from the
magic one because the two fail differently (a bad tag is a notebook error, a bad magic line a
usage message) and are written by different front ends.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from typing import TypeVar

from .limits import UNSETTABLE_LIMITS, check_limit
from .pod_metadata import refusals
from .roles import RESOURCE_ACTIONS, ROLE_TAGS, TAG_OF_ROLE, Role
from .step_settings import (
    SettingsConflict,
    StepSettings,
    merge_packages,
    show_setting,
    split_packages,
    unique_secrets,
)
from .volumes import VolumeRef, parse_volume


class TagError(ValueError):
    """A tag that cannot be read: what is wrong, and, when there is more to say than to correct
    the tag, how. `also`: more tags of the cell wrong the same way, so that all are told at
    once."""

    def __init__(
        self, message: str, fix: str | None = None, also: tuple[TagError, ...] = ()
    ) -> None:
        super().__init__(message)
        self.fix = fix
        self.also = also


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
    #: Kale forms read as Kale reads them, or ignored: (warning, fix) for each
    notes: list[tuple[str, str]] = field(default_factory=list)


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
#: Kale's tags that give a cell its role outright: on a cell with other role or step tags, Kale
#: takes the first of these and ignores every other tag of the cell.
KALE_ROLE_TAGS = ("skip", "pipeline-parameters", "pipeline-metrics", "imports", "functions")
#: Step names Kale reads as the role tag of the same name (`step:imports` is `imports`).
KALE_ROLE_STEP_NAMES = frozenset({"skip", "imports", "functions"})


def is_our_tag(tag: str) -> bool:
    """Whether `tag` belongs to our grammar (conversion replaces these and keeps all others)."""
    tag = tag.strip()
    return tag in ROLE_TAGS or tag in KIND_TAGS or tag.partition(":")[0] in VALUE_TAGS


@dataclass
class _Said:
    """The step settings a cell's tags have said so far: gathered tag by tag (a later tag may
    repeat or contradict an earlier one), frozen into `StepSettings` once all are read. A setting
    a step has one of needs no gathering, so it goes into `single` as its tag is read (once
    `_once` has checked it against an earlier tag); only the lists and pairs are gathered here."""

    #: image, cache, retries, timeout, component, container, resource action and notebook
    single: StepSettings = field(default_factory=StepSettings)
    prev: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    #: limits, annotations and labels, by tag head
    pairs: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"limit": {}, "annotation": {}, "label": {}}
    )
    secrets: list[tuple[str, str, str]] = field(default_factory=list)
    volumes: list[VolumeRef] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def settings(self) -> StepSettings:
        try:
            packages = merge_packages((), tuple(self.packages))
            secrets = unique_secrets(self.secrets)
        except SettingsConflict as e:
            raise TagError(str(e)) from None
        return replace(
            self.single,
            prev=tuple(dict.fromkeys(self.prev)),
            packages=packages,
            limits=tuple(sorted(self.pairs["limit"].items())),
            annotations=tuple(sorted(self.pairs["annotation"].items())),
            labels=tuple(sorted(self.pairs["label"].items())),
            secrets=secrets,
            volumes=tuple(dict.fromkeys(self.volumes)),
            outputs=tuple(dict.fromkeys(self.outputs)),
        )


def parse_tags(tags: tuple[str, ...] | list[str]) -> ParsedTags:
    """Parse Kale-style cell tags. Unknown tags are kept aside, never an error (cells carry others' tags too)."""
    out = ParsedTags()
    kale_role = _kale_role_wins(tags)
    if kale_role is not None:
        return kale_role
    said = _Said()
    for raw in tags:
        _read_tag(raw, out, said)
    _check_pod_metadata(said)
    out.settings = said.settings()
    role = out.role
    if role is not None and role != Role.STEP and not out.settings.is_empty():
        # `imports` with `limit:cpu:1`: Kale takes the role and ignores the rest; so do we
        out.settings = StepSettings()
        out.notes.append(
            (
                f"the step settings of this {role.value!r} cell are ignored, as Kale ignores them",
                "remove them to silence this",
            )
        )
    return out


def _kale_role_wins(tags: tuple[str, ...] | list[str]) -> ParsedTags | None:
    """A cell with one of Kale's role tags and another role or a named step, read as Kale reads
    it: the first role tag alone (Kale stops reading a cell's tags there). None if the cell has
    no such mix, so its tags are read one by one."""
    stripped = [t.strip() for t in tags]
    first = next((t for t in stripped if t in KALE_ROLE_TAGS), None)
    if first is None:
        return None
    rivals = [
        t
        for t in stripped
        if t != first
        and (t in ROLE_TAGS or (t.partition(":")[0] in ("step", "block") and t.partition(":")[2]))
    ]
    if not rivals:
        return None
    ignored = [t for t in stripped if t != first and (is_our_tag(t) or t.startswith("report:"))]
    out = ParsedTags(role=ROLE_TAGS[first])
    out.other = [
        t for t in tags if not is_our_tag(t.strip()) and not t.strip().startswith("report:")
    ]
    out.notes.append(
        (
            f"the cell is tagged {first!r} and {', '.join(map(repr, ignored))}: read as "
            f"{first!r} alone, as Kale reads it (its other tags are ignored)",
            f"keep only the tag {first!r}",
        )
    )
    return out


def _read_tag(raw: str, out: ParsedTags, said: _Said) -> None:
    """One tag: a role, the container kind, a step's name or one of its settings; a tag that is
    not ours is kept in `out.other`."""
    tag = raw.strip()
    if tag in ROLE_TAGS:
        _set_role(out, ROLE_TAGS[tag])
        return
    if tag == "container":
        said.single = replace(said.single, container=True)
        return
    head, sep, rest = tag.partition(":")
    if not sep:
        if head in VALUE_TAGS:
            raise TagError(f"tag {tag!r} needs a value, e.g. '{head}:...'")
        _other(raw, out)
        return
    if head in ("step", "block"):
        _read_step(tag, rest, out)
    elif head == "report":
        # Kale 2's per-step HTML report; kept among the cell's other tags, so a conversion to
        # magics leaves it for Kale
        out.other.append(raw)
        out.notes.append(
            (
                f"tag {tag!r} is ignored: kfp-jupyter writes no per-step HTML report (Kale's "
                "'report:' setting); the step's output is in its logs",
                "remove the tag to silence this",
            )
        )
    elif head in ("limit", "annotation", "label"):
        _read_pair(said, head, rest, tag, out)
    elif not _read_single(said, head, rest, tag) and not _read_many(said, head, rest, tag):
        _other(raw, out)


def _other(raw: str, out: ParsedTags) -> None:
    """A tag that is not ours: kept, with a warning when it looks like a misspelt one of ours
    (`timout:30`, `Step:b`), which would otherwise be ignored without a word."""
    out.other.append(raw)
    meant = near_miss(raw.strip())
    if meant is not None:
        out.notes.append(
            (
                f"tag {raw.strip()!r} is not a kfp-jupyter tag, so it is ignored; did you mean "
                f"{meant!r}?",
                f"write it as {meant!r} (or, if it is a tag of your own, rename it so that it "
                "does not look like one of kfp-jupyter's)",
            )
        )


#: what a tag's head (before ':') may be: ours, and Kale's `report` (read to say it is ignored)
_HEADS = tuple(sorted(VALUE_TAGS | {"report"}))
#: the tags that stand alone
_BARE = tuple(sorted({*ROLE_TAGS, *KIND_TAGS}))


def near_miss(tag: str) -> str | None:
    """The tag of ours that `tag` (not one of ours) was probably meant to be, or None.

    A near miss differs only in case, or is very close (difflib's ratio), or, for a tag with a
    value, has two neighbouring letters of a head swapped (`setp:two`), or shares its first four
    letters with a head of about its length (`retry:3`), or has a space where the ':' goes
    (`step four`, which would otherwise put the cell into the step above without a word). A tag
    with a value is suggested only when the value is one the meant tag takes (`timeout:` a
    number of seconds, `notebook:` an .ipynb path, `resource:` an action): users' own tags look
    like ours (`time:5min`, `note:see below`, `repo:x`). Tags that are only loosely alike
    (`injected-parameters`, `imports-only`, `setup`, `stepwise`) are left alone: cells carry
    tags of other tools and of their authors."""
    head, sep, rest = tag.partition(":")
    if not sep:
        return _near_miss_bare(tag)
    return _near_miss_head(head, rest)


def _near_miss_bare(tag: str) -> str | None:
    """A tag without ':': a misspelt role tag (`Imports`), a value tag's head alone, or a value
    tag written with a space for its ':' (`step four`, which reads as no tag at all)."""
    low = tag.lower()
    if low in _BARE:
        return low
    if low in VALUE_TAGS:
        return f"{low}:..."
    words = tag.split(None, 1)
    spaced = _near_miss_head(words[0], words[1], spaced=True) if len(words) == 2 else None
    if spaced is not None:
        return spaced
    close = difflib.get_close_matches(low, _BARE, n=1, cutoff=0.85)
    return close[0] if close else None


def _near_miss_head(head: str, rest: str, *, spaced: bool = False) -> str | None:
    """`head:rest` (or, `spaced`, `head rest`) as the tag of ours it was meant to be, if its head
    is ours or close to one and its value one that tag takes."""
    low = head.lower()
    if not low or not (low[0].isalpha() and low.replace("-", "").isalnum()):
        return None
    for meant in [low] if low in _HEADS else _close_heads(low):
        if (spaced or meant != head) and _takes(meant, rest):
            return f"{meant}:{rest}"
    return None


def _close_heads(word: str) -> list[str]:
    """Our tag heads `word` may be a misspelling of, the closest first."""
    close = difflib.get_close_matches(word, _HEADS, n=3, cutoff=0.8)
    alike = [
        known
        for known in _HEADS
        if len(word) >= 4 and known.startswith(word[:4]) and abs(len(word) - len(known)) <= 2
    ]
    return list(dict.fromkeys([*close, *swapped(word, _HEADS), *alike]))


def swapped(word: str, known: tuple[str, ...]) -> list[str]:
    """The words of `known` that `word` (four letters or more) is with two neighbouring letters
    swapped (`setp`, `stpe`). difflib scores such a swap low in a short word (0.75 for `setp`
    against `step`, under any cutoff that keeps unrelated words apart), yet it is the commonest
    slip of the fingers; asking for the exact swap keeps words that merely share letters apart."""
    if len(word) < 4:
        return []
    swaps = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    return [k for k in known if k != word and k in swaps]


#: what the value of a tag whose parser takes any text looks like, for a misspelt head to be
#: suggested (`packages:` a requirement, `component:` a spec file or URL, ...)
_LOOKS_TAKEN = {
    # a step name starts with a letter (or, in Kale's, '_'): `block 1` is a tag of one's own
    "step": re.compile(r"[A-Za-z_][\w.-]*"),
    "block": re.compile(r"[A-Za-z_][\w.-]*"),
    "prev": re.compile(r"[A-Za-z_][\w.-]*"),
    "image": re.compile(r"[\w./:@-]+"),
    "packages": re.compile(r"[A-Za-z0-9][\w.\[\]<>=!~,*+-]*"),
    "component": re.compile(r"\S+\.ya?ml|https?://\S+"),
    "notebook": re.compile(r".+\.ipynb"),
    "annotation": re.compile(r"[\w./-]+:.*"),
    "label": re.compile(r"[\w./-]+:.*"),
    "report": re.compile(r"enabled|disabled"),
}


def _takes(head: str, value: str) -> bool:
    """Whether `head:value` is a tag of ours that reads without an error, its value one such a
    tag takes."""
    looks = _LOOKS_TAKEN.get(head)
    if looks is not None and not looks.fullmatch(value):
        return False
    said = _Said()
    try:
        _read_tag(f"{head}:{value}", ParsedTags(), said)
        said.settings()
    except TagError:
        return False
    return True


def _read_step(tag: str, rest: str, out: ParsedTags) -> None:
    """`step:NAME` or `block:NAME`: a step, or, as Kale reads them, no tag or a role tag."""
    if not rest:
        # Kale's extension leaves a bare 'block:' behind and Kale reads it as no tag, so
        # the cell continues the step above; reading it the same way keeps such notebooks
        # compiling.
        out.empty_step = tag
        return
    if rest in KALE_ROLE_STEP_NAMES:
        out.notes.append(
            (
                f"tag {tag!r} is read as the tag {rest!r}, as Kale reads it (Kale's own role "
                "names cannot name a step)",
                f"tag the cell {rest!r} instead",
            )
        )
        _set_role(out, ROLE_TAGS[rest])
        return
    _set_role(out, Role.STEP, rest)


def _set_role(out: ParsedTags, role: Role, step: str | None = None) -> None:
    if out.role is not None and (out.role, out.step) != (role, step):
        was = f"step:{out.step}" if out.role == Role.STEP else out.role.value
        now = f"step:{step}" if role == Role.STEP else role.value
        raise TagError(f"the cell has two roles, {was!r} and {now!r}; keep one")
    out.role, out.step = role, step


_T = TypeVar("_T")


def _once(what: str, old: _T | None, new: _T) -> _T:
    if old is not None and old != new:
        raise TagError(f"{what} is set twice, to {show_setting(old)} and to {show_setting(new)}")
    return new


def _int(text: str, what: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise TagError(f"{what} must be a whole number, not {text!r}") from None
    if n < 0:
        raise TagError(f"{what} must not be negative")
    return n


def _read_pair(said: _Said, head: str, rest: str, tag: str, out: ParsedTags) -> None:
    """`limit:KEY:VALUE`, `annotation:KEY:VALUE` or `label:KEY:VALUE`."""
    key, sep, value = rest.partition(":")
    # Kubernetes (and Kale) allow an empty annotation or label value; a limit needs one.
    if not sep or not key or (not value and head == "limit"):
        raise TagError(f"tag {tag!r} must be '{head}:KEY:VALUE'")
    if head == "limit" and key in UNSETTABLE_LIMITS:
        out.notes.append(
            (
                f"tag {tag!r} is ignored: KFP sets only cpu, memory and accelerator limits on a "
                "step",
                "remove the tag to silence this",
            )
        )
        return
    if head == "limit":
        try:
            key, value = check_limit(key, value)
        except ValueError as e:
            raise TagError(f"tag {tag!r}: {e}") from None
    target = said.pairs[head]
    if key in target and target[key] != value:
        raise TagError(f"{head} {key!r} is set twice, to {target[key]!r} and to {value!r}")
    target[key] = value


def _check_pod_metadata(said: _Said) -> None:
    """Refuse a label or annotation the API server would refuse, as a limit is refused: the
    pipeline would otherwise fail on the cluster, after the upload. Checked here, once a cell's
    tags are read, rather than tag by tag, so that a misspelt `lable:team:ML Team` is still
    told as a near miss of the `label:` tag it is (see `near_miss`)."""
    errors = [
        TagError(f"tag '{_spell_tag(e.kind, *e.given)}': {e}", e.fix(_spell_tag))
        for e in refusals(said.pairs["label"].items(), said.pairs["annotation"].items())
    ]
    if errors:
        first, *more = errors
        raise TagError(str(first), first.fix, tuple(more))


def _spell_tag(kind: str, key: str, value: str) -> str:
    return f"{kind}:{key}:{value}"


def _read_single(said: _Said, head: str, rest: str, tag: str) -> bool:
    """A setting a step has one of (said twice differently, an error); False if `head` is not one."""
    s = said.single
    if head == "image":
        if not rest:
            raise TagError("tag 'image:' needs an image reference")
        s = replace(s, image=_once("image", s.image, rest))
    elif head == "cache":
        if rest not in ("enabled", "disabled"):
            raise TagError(f"tag {tag!r} must be 'cache:enabled' or 'cache:disabled'")
        s = replace(s, cache=_once("cache", s.cache, rest == "enabled"))
    elif head == "retries":
        s = replace(s, retries=_once("retries", s.retries, _int(rest, "retries")))
    elif head == "timeout":
        n = _int(rest, "timeout")
        if n == 0:
            raise TagError("timeout must be at least 1 second")
        s = replace(s, timeout=_once("timeout", s.timeout, n))
    elif head == "component":
        if not rest.strip():
            raise TagError("tag 'component:' needs the path or URL of a component spec")
        s = replace(s, component=_once("component", s.component, rest.strip()))
    elif head == "resource":
        if rest not in RESOURCE_ACTIONS:
            raise TagError(
                f"tag {tag!r} must be 'resource:ACTION' with ACTION one of "
                + ", ".join(RESOURCE_ACTIONS)
            )
        s = replace(s, resource=_once("resource action", s.resource, rest))
    elif head == "notebook":
        if not rest.strip():
            raise TagError("tag 'notebook:' needs the path of a notebook")
        s = replace(s, notebook=_once("notebook", s.notebook, rest.strip()))
    else:
        return False
    said.single = s
    return True


def _read_many(said: _Said, head: str, rest: str, tag: str) -> bool:
    """A setting a step may have several of; False if `head` is not one."""
    if head == "prev":
        if not rest:
            raise TagError("tag 'prev:' needs a step name")
        said.prev.append(rest)
    elif head == "secret":
        parts = rest.split(":")
        if len(parts) != 3 or not all(parts):
            raise TagError(f"tag {tag!r} must be 'secret:SECRET:KEY:ENV_VAR'")
        said.secrets.append((parts[0], parts[1], parts[2]))
    elif head == "packages":
        said.packages.extend(split_packages(rest))
    elif head == "volume":
        try:
            said.volumes.append(parse_volume(rest))
        except ValueError as e:
            raise TagError(f"tag {tag!r}: {e}") from None
    elif head == "outputs":
        names = split_packages(rest)
        bad = [n for n in names if not n.isidentifier()]
        if not names or bad:
            raise TagError(f"tag {tag!r} must be 'outputs:NAME' with NAME a Python variable")
        said.outputs.extend(names)
    else:
        return False
    return True


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
