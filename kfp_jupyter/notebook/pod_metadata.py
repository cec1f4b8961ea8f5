"""Pod labels and annotations as a step states them, checked against Kubernetes' own rules.

The API server refuses a pod whose label or annotation breaks them, so without this check a typo
(`label:team:ML Team`) compiles and fails only on the cluster, after the upload. One check for
every place a step says them (tags, `%%step` options, Kale's steps_defaults), so they all refuse
the same things with the same words; each grammar then says the fix in its own spelling.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

#: a label value, or the name part of a key: Kubernetes' "qualified name" (the value may be empty)
_NAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
#: the prefix of a key: a DNS-1123 subdomain
_PREFIX_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME_MAX = 63
_PREFIX_MAX = 253
_NAME_RULE = (
    "at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
)
_KEY_RULE = (
    f"a name ({_NAME_RULE}), optionally after a lowercase DNS subdomain and '/' "
    "(e.g. 'example.com/team')"
)


class PodMetadataError(ValueError):
    """A label or annotation Kubernetes would refuse: what is wrong, and what to write instead,
    which each grammar spells its own way (`fix`)."""

    def __init__(
        self,
        message: str,
        kind: str,
        given: tuple[str, str],
        instead: tuple[str, str] | None,
        *,
        as_annotation: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: 'label' or 'annotation'
        self.kind = kind
        #: the key and value as written
        self.given = given
        #: a key and value Kubernetes takes, close to those written; None if none can be made
        self.instead = instead
        #: a label value that is free text: an annotation would take it as it is
        self.as_annotation = as_annotation

    def fix(self, spell: Callable[[str, str, str], str]) -> str:
        """The fix, each setting written as `spell(kind, key, value)` writes it (a tag, a magic
        option)."""
        ways = []
        if self.instead is not None:
            ways.append(f"write it as {spell(self.kind, *self.instead)!r}")
        if self.as_annotation:
            ways.append(
                "to keep the text as it is, make it an annotation: "
                f"{spell('annotation', *self.given)!r}"
            )
        return "; or, ".join(ways) or f"give the {self.kind} a key Kubernetes takes"


def refusals(
    labels: Iterable[tuple[str, str]], annotations: Iterable[tuple[str, str]]
) -> list[PodMetadataError]:
    """Every label and annotation of a step that Kubernetes would refuse, labels first: the front
    ends tell them all at once, in this order, each in its own words (a tag, a magic option)."""
    found: list[PodMetadataError] = []
    for check, pairs in ((check_label, labels), (check_annotation, annotations)):
        for key, value in pairs:
            try:
                check(key, value)
            except PodMetadataError as e:
                found.append(e)
    return found


def check_label(key: str, value: str) -> None:
    """Raise PodMetadataError if Kubernetes refuses the pod label `key`=`value`."""
    fault = _name_fault(value) if value else None
    # what to write instead mends the value too, so that following the fix does not fail again
    value_instead = value if fault is None else _as_name(value)
    _check_key("label", key, value, key, value_instead)
    if fault is not None:
        raise PodMetadataError(
            f"label {key!r} has the value {value!r}, which Kubernetes refuses ({fault}): a label "
            f"value is {_NAME_RULE}, or empty",
            "label",
            (key, value),
            (key, value_instead) if value_instead is not None else None,
            as_annotation=True,
        )


def check_annotation(key: str, value: str) -> None:
    """Raise PodMetadataError if Kubernetes refuses `key` as a pod annotation's key (its value
    is free text). Kubernetes checks an annotation's key in lowercase, so a prefix in capitals
    passes here as it does there."""
    _check_key("annotation", key, value, key.lower(), value)


def _check_key(kind: str, key: str, value: str, checked: str, value_instead: str | None) -> None:
    prefix, slash, name = checked.rpartition("/")
    problem = _key_problem(prefix, bool(slash), name)
    if problem is None:
        return
    key_instead = _suggest_key(key)
    article = "an" if kind == "annotation" else "a"
    raise PodMetadataError(
        f"{kind} key {key!r} is not one Kubernetes takes ({problem}): {article} {kind} key is "
        f"{_KEY_RULE}",
        kind,
        (key, value),
        (key_instead, value_instead)
        if key_instead is not None and value_instead is not None
        else None,
    )


def _key_problem(prefix: str, slashed: bool, name: str) -> str | None:
    """What is wrong with a key split at its last '/', in a few words; None if nothing is."""
    if not name:
        return "its name is empty"
    fault = _name_fault(name)
    if fault is not None:
        return fault
    if slashed and "/" in prefix:
        return "it has more than one '/'"
    if slashed and not prefix:
        return "its prefix before '/' is empty"
    if len(prefix) > _PREFIX_MAX:
        return f"its prefix has {len(prefix)} characters"
    if slashed and not _PREFIX_RE.fullmatch(prefix):
        return f"its prefix {prefix!r} is not a DNS subdomain"
    return None


def _name_fault(name: str) -> str | None:
    """What makes `name` (not empty) no name Kubernetes takes, in a few words; None if nothing."""
    if len(name) > _NAME_MAX:
        return f"{len(name)} characters long"
    bad = re.search(r"[^-A-Za-z0-9_.]", name)
    if bad is not None:
        return f"{bad.group()!r} in {name!r}"
    if not _NAME_RE.fullmatch(name):
        return f"{name!r} starts or ends with {name[0] if not name[0].isalnum() else name[-1]!r}"
    return None


def _as_name(text: str) -> str | None:
    """`text` as the nearest name Kubernetes takes (`ML Team` -> `ML-Team`), or None if nothing
    of it is left."""
    name = re.sub(r"[^-A-Za-z0-9_.]+", "-", text)[:_NAME_MAX]
    name = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", name)
    return name or None


def _suggest_key(key: str) -> str | None:
    """A key Kubernetes takes that is close to `key`: its prefix as a DNS subdomain, its name as
    a name; None if nothing of it is left."""
    prefix, _, name = key.rpartition("/")
    fixed_name = _as_name(name)
    if fixed_name is None:
        return None
    labels = [_dns_label(p) for p in prefix.replace("/", ".").lower().split(".")]
    fixed_prefix = ".".join(p for p in labels if p)[:_PREFIX_MAX].strip(".-")
    return f"{fixed_prefix}/{fixed_name}" if fixed_prefix else fixed_name


def _dns_label(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text).strip("-")
