"""YAML text that is readable (code as literal blocks) and exact (it always loads back the same)."""

from __future__ import annotations

import re
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    pass


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


_Dumper.add_representer(str, _represent_str)


def dump_yaml(doc: Any) -> str:
    """YAML text for `doc`, keys in insertion order; multi-line text as `|` blocks where exact."""
    return yaml.dump(
        doc,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 16,
    )
