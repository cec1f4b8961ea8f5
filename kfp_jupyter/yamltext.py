"""YAML text that is readable (code as literal blocks) and exact (it always loads back the same)."""

from __future__ import annotations

import re
from typing import Any

import yaml

#: libyaml's writer where PyYAML has it, PyYAML's own where not. They write the same text, but the
#: pure-Python one is slow on long literal blocks: a step's script is checked character by
#: character, several times over.
SAFE_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


#: Characters YAML turns into a plain line break inside a block scalar, or cannot show in one.
_NOT_IN_BLOCK = re.compile("[\r\x85\u2028\u2029\ufeff\t]| \n| $")


def _literal_ok(text: str) -> bool:
    """A literal block keeps text exactly, except trailing blanks on a line and odd line breaks."""
    return "\n" in text and not _NOT_IN_BLOCK.search(text)


#: Line breaks that PyYAML's plain and single-quoted styles do not keep.
_ODD_BREAKS = re.compile("[\r\x85\u2028\u2029]")


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style: str | None = None
    if _literal_ok(data):
        style = "|"
    elif "\n" in data or _ODD_BREAKS.search(data):
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _dumper(base: type[yaml.SafeDumper]) -> type[yaml.SafeDumper]:
    class Dumper(base):  # type: ignore[valid-type,misc]
        pass

    Dumper.add_representer(str, _represent_str)
    return Dumper


def dump_yaml(doc: Any, base: type[yaml.SafeDumper] = SAFE_DUMPER) -> str:
    """YAML text for `doc`, keys in insertion order; multi-line text as `|` blocks where exact.
    `base` is the writer (tests compare libyaml's with PyYAML's own)."""
    return yaml.dump(
        doc,
        Dumper=_dumper(base),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 16,
    )
