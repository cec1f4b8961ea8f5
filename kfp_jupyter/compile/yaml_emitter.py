"""A faster PyYAML emitter that writes exactly the bytes of PyYAML's own pure-Python emitter.

The kfp SDK writes the pipeline IR with `yaml.dump_all(..., sort_keys=True)`, PyYAML's pure-Python
emitter. A pipeline's IR embeds every step's source as one long double-quoted string, and that
emitter looks at those strings one character at a time (twice: to choose a style, then to write
it): most of the time of compiling a large notebook. libyaml's C emitter would be fast but folds
long strings differently, so its output is not what the kfp SDK (and the `dsl` target's script,
run with `python`) writes. This module keeps PyYAML's algorithm and only skips the characters
where that algorithm provably does nothing; tests/test_yaml_emitter.py compares it with PyYAML's
emitter on real pipelines and on random strings full of the characters that matter.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.emitter import ScalarAnalysis

from . import forked

#: what PyYAML's analysis treats specially: outside printable ASCII and newline, use PyYAML's code
_NOT_SIMPLE = re.compile(r"[^\n\x20-\x7e]")
_FLOW_INSIDE = re.compile(r"[,?\[\]{}:]")
_BLOCK_COLON = re.compile(r":(?:[ \n]|$)")
_COMMENT = re.compile(r"[ \n]#")
#: characters PyYAML escapes with more than two characters (\xXX, \uXXXX, \UXXXXXXXX)
_LONG_ESCAPE = re.compile(r"[^\x20-\x7e\0\a\b\t\n\v\f\r\x1b\x85\xa0\u2028\u2029]")
_RARE_ESCAPES = re.compile(r"[\0\a\b\t\v\f\r\x1b\x85\xa0\u2028\u2029]")
_RARE_ESCAPE_TABLE = {
    ord(c): "\\" + r
    for c, r in yaml.emitter.Emitter.ESCAPE_REPLACEMENTS.items()
    if c not in '\\"\n'
}


def _escape_from(out: str, pos: int) -> int:
    """Where the first escape at or after `pos` starts in escaped text, or -1. Every escape is
    two characters starting with a backslash, so in a run of backslashes the escapes start at the
    run's even offsets."""
    while True:
        q = out.find("\\", pos)
        if q <= 0:
            return q
        run = q
        while run > 0 and out[run - 1] == "\\":
            run -= 1
        if (q - run) % 2 == 0:
            return q
        pos = q + 1  # the second half of an escaped backslash


#: what makes PyYAML's plain writer do more than write the text
_PLAIN_BREAKS = re.compile("[ \n\x85\u2028\u2029]")


class FastDumper(yaml.Dumper):
    """yaml.Dumper with the two per-character loops rewritten; same output, byte for byte."""

    def analyze_scalar(self, scalar: str) -> Any:
        if not scalar or _NOT_SIMPLE.search(scalar):
            return super().analyze_scalar(scalar)
        n = len(scalar)
        first = scalar[0]
        followed = n == 1 or scalar[1] in " \n"
        flow = block = scalar.startswith(("---", "..."))
        if first in "#,[]{}&*!|>'\"%@`":
            flow = block = True
        if first in "?:":
            flow = True
            block = block or followed
        if first == "-" and followed:
            flow = block = True
        if _FLOW_INSIDE.search(scalar, 1):
            flow = True
        if _BLOCK_COLON.search(scalar, 1):
            block = True
        # '#' after whitespace, from the second character on (the match starts at the whitespace)
        if _COMMENT.search(scalar):
            flow = block = True
        line_breaks = "\n" in scalar
        leading = first in " \n"
        trailing_space = scalar[-1] == " "
        trailing = trailing_space or scalar[-1] == "\n"
        break_space = "\n " in scalar
        space_break = " \n" in scalar
        flow_plain = block_plain = single = block_style = True
        if leading or trailing:
            flow_plain = block_plain = False
        if trailing_space:
            block_style = False
        if break_space:
            flow_plain = block_plain = single = False
        if space_break:
            flow_plain = block_plain = single = block_style = False
        if line_breaks:
            flow_plain = block_plain = False
        if flow:
            flow_plain = False
        if block:
            block_plain = False
        return ScalarAnalysis(
            scalar=scalar,
            empty=False,
            multiline=line_breaks,
            allow_flow_plain=flow_plain,
            allow_block_plain=block_plain,
            allow_single_quoted=single,
            allow_double_quoted=True,
            allow_block=block_style,
        )

    def write_plain(self, text: str, split: bool = True) -> None:
        """Without spaces or line breaks PyYAML's loop writes the text in one piece."""
        if not text or self.encoding or _PLAIN_BREAKS.search(text):
            super().write_plain(text, split)
            return
        if self.root_context:
            self.open_ended = True
        if not self.whitespace:
            self.column += 1
            self.stream.write(" ")
        self.whitespace = False
        self.indention = False
        self.column += len(text)
        self.stream.write(text)

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        """Line by line: the text is escaped in one go, and each output line ends at the first
        place where PyYAML's rules break it. PyYAML breaks a line (when `split`) at a space that
        would stand past the width, neither first nor last in the text; after an escape, not of
        the first or last character, that ends past the width plus one; and before the character
        after an escape, neither escaped nor last, that starts past the width."""
        if (
            self.allow_unicode
            or self.encoding
            or (self.indent or 0) + 2 >= self.best_width
            or _LONG_ESCAPE.search(text)
            or "\\" * 16 in text
        ):
            super().write_double_quoted(text, split)  # PyYAML's own, for what is rare in the IR
            return
        self.write_indicator('"', True)
        out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        if _RARE_ESCAPES.search(out):
            out = out.translate(_RARE_ESCAPE_TABLE)
        write = self.stream.write
        if split:
            size = len(out)
            last_space = size - 1 if text.endswith(" ") else -1
            line = 0  # where in `out` the current output line's text begins
            low = 0  # the first position of `out` not yet looked at
            while True:
                limit = line + self.best_width - self.column  # a character past it is too far
                space = out.find(" ", max(limit + 1, low, 1))
                if space == last_space:
                    space = -1
                hit = -1
                q = _escape_from(out, max(limit - 1, low))
                while q >= 0 and (space < 0 or q < space):
                    after = q + 2  # the character after the escape
                    after_escaped = after < size and out[after] == "\\"
                    if (q > 0 and after < size and q + 1 > limit) or (
                        not after_escaped and after < size - 1 and q + 2 > limit
                    ):
                        hit = q
                        break
                    q = _escape_from(out, after)
                if hit >= 0:
                    end = hit + 2
                    carried = out[end] == " "
                    low = end if out[end] == "\\" else end + 1
                elif space >= 0:
                    end, carried, low = space, True, space + 1
                else:
                    break
                self.column += end - line + 1
                write(out[line:end] + "\\")
                self.write_indent()
                self.whitespace = False
                self.indention = False
                if carried:
                    self.column += 1
                    write("\\")
                line = end
            out = out[line:]
        self.column += len(out)
        write(out)
        self.write_indicator('"', False)


#: what a writer remembers: (text, tag) -> analysis; (text, style, split, state) -> text, state
_Known = dict[tuple[str, str], tuple[ScalarAnalysis, bool]]
_Written = dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]]


@dataclass
class Ahead:
    """Long texts another process has written already, as a writer will meet them (write_ahead)."""

    known: _Known
    written: _Written

    def packed(self, texts: Sequence[str]) -> tuple[list[Any], list[Any]]:
        """What a process that has the same `texts` needs to rebuild this: each text is sent as
        its index (half of what there is to send, pickle and unpickle)."""
        index = {t: i for i, t in enumerate(texts)}
        known = [
            (index[t], tag, [getattr(a, f) for f in _ANALYSIS_FIELDS], plain)
            for (t, tag), (a, plain) in self.known.items()
            if t in index
        ]
        written = [(index[k[0]], k[1:], v) for k, v in self.written.items() if k[0] in index]
        return known, written

    @classmethod
    def unpacked(cls, texts: Sequence[str], packed: tuple[list[Any], list[Any]]) -> Ahead:
        known, written = packed
        return cls(
            {
                (texts[i], tag): (ScalarAnalysis(texts[i], *fields), plain)
                for i, tag, fields, plain in known
            },
            {(texts[i], *rest): value for i, rest, value in written},
        )


#: ScalarAnalysis's fields after `scalar`, in the order its constructor takes them
_ANALYSIS_FIELDS = (
    "empty",
    "multiline",
    "allow_flow_plain",
    "allow_block_plain",
    "allow_single_quoted",
    "allow_double_quoted",
    "allow_block",
)


class _Unsupported(Exception):
    """The documents hold something the direct writer does not do the way PyYAML would."""


_STR_TAG = "tag:yaml.org,2002:str"
_SCALAR_TYPES = {
    bool: "tag:yaml.org,2002:bool",
    int: "tag:yaml.org,2002:int",
    float: "tag:yaml.org,2002:float",
    type(None): "tag:yaml.org,2002:null",
}


class _DataWriter(FastDumper):
    """Writes plain data (dicts with str keys, lists, str, int, float, bool, None) as PyYAML's
    `dump_all(documents, sort_keys=True)` does, walking the data directly instead of through
    PyYAML's representer, serializer and event state machine (their per-node cost is most of what
    is left of dumping a large pipeline once the scalar writers are fast). The code below follows
    PyYAML's emitter states for block style one to one and uses its writers; anything else in the
    data (a tag, an alias, another type) raises _Unsupported and PyYAML writes the documents."""

    #: remember every text's analysis, not only short ones (when writing ahead)
    _ahead = False

    def write_documents(
        self, documents: list[Any], parallel: bool = False, ahead: Ahead | None = None
    ) -> None:
        """`parallel`: a large document is written by two processes (see _Split). `ahead`: long
        texts written already (see write_ahead)."""
        self._seen: set[int] = set()
        self._known: _Known = dict(ahead.known) if ahead else {}
        self._written: _Written = dict(ahead.written) if ahead else {}
        self._split: _Split | None = None
        self._on_path: int | None = None
        self._words: dict[Any, str | None] = {}
        self._key_words: dict[str, bool] = {}
        for i, doc in enumerate(documents):
            if not isinstance(doc, (dict, list)):
                raise _Unsupported
            if i:
                self.write_indent()
                self.write_indicator("---", True)
            # what the writer has written once is replayed, nearly free: the split weighs it so
            split = _Split.plan(doc, {key[0] for key in self._written}) if parallel else None
            if split is None or not split.write(self, doc):
                self._document(doc)
            self._seen.clear()

    def _document(self, doc: Any) -> None:
        self._node(doc, root=True)
        self.write_indent()  # document end

    def _node(
        self, data: Any, root: bool = False, mapping: bool = False, simple_key: bool = False
    ) -> None:
        self.root_context = root
        self.mapping_context = mapping
        self.simple_key_context = simple_key
        kind = type(data)
        if kind is dict or kind is list:
            if id(data) in self._seen:  # PyYAML would write an anchor and an alias
                raise _Unsupported
            self._seen.add(id(data))
            if not data:
                self._empty("{" if kind is dict else "[", "}" if kind is dict else "]")
            elif kind is dict:
                self._mapping(data)
            else:
                self._sequence(data)
        else:
            self._scalar(data)

    def _empty(self, opening: str, closing: str) -> None:
        """An empty collection is written in flow style (`{}`, `[]`), like PyYAML does."""
        self.write_indicator(opening, True, whitespace=True)
        self.write_indicator(closing, False)

    def _mapping(self, data: dict[Any, Any]) -> None:
        if any(type(k) is not str for k in data):
            raise _Unsupported
        self.increase_indent(flow=False)
        keys = sorted(data)
        depth, self._on_path = self._on_path, None
        if depth is None:
            self._entries(data, keys)
        else:
            assert self._split is not None
            self._split.entries(self, data, keys, depth)
        self.indent = self.indents.pop()

    def _entries(self, data: dict[str, Any], keys: list[str], path: int | None = None) -> None:
        """`path`: the values are on _Split's path, at this depth.

        Most entries of the IR are a plain key and a plain value without spaces; for those, what
        PyYAML's writers do after the indent comes down to writing `key: value` (see _word)."""
        key_words = self._key_words
        for key in keys:
            self.write_indent()  # leaves `whitespace` set: nothing goes before the key
            simple = key_words.get(key)
            if simple is None:
                simple = key_words[key] = self._key_word(key)
            value = data[key]
            word = None if path is not None else self._word(value)
            if simple:
                text = f"{key}: {word}" if word is not None else key + ":"
                self.stream.write(text)
                self.column += len(text)
                self.whitespace = self.indention = self.open_ended = False
                if word is not None:  # the flags as writing the value node leaves them
                    self.root_context = self.simple_key_context = False
                    self.mapping_context = True
                    continue
            else:
                analysis = self._analysed(key, _STR_TAG)[0]
                if len(key) + len("!!str") < 128 and not analysis.multiline and key:
                    self._node(key, mapping=True, simple_key=True)
                    self.write_indicator(":", False)
                else:
                    self.write_indicator("?", True, indention=True)
                    self._node(key, mapping=True)
                    self.write_indent()
                    self.write_indicator(":", True, indention=True)
            self._on_path = path
            self._node(value, mapping=True)

    def _sequence(self, data: list[Any]) -> None:
        self.increase_indent(flow=False, indentless=self.mapping_context and not self.indention)
        for item in data:
            self.write_indent()
            word = self._word(item)
            if word is not None:  # "-" right at the indent, then " " and the word
                self.stream.write("- " + word)
                self.column += 2 + len(word)
                self.whitespace = self.indention = self.open_ended = False
                self.root_context = self.mapping_context = self.simple_key_context = False
                continue
            self.write_indicator("-", True, indention=True)
            self._node(item)
        self.indent = self.indents.pop()

    def _word(self, data: Any) -> str | None:
        """The text of a scalar value (not a key) that PyYAML writes plain and in one piece: no
        spaces or line breaks to fold at. After the indicator before it (`:` or `-`, which leave
        no whitespace) its writer then only writes " " and the text. None for anything else."""
        kind = type(data)
        if kind is not str and kind not in _SCALAR_TYPES:
            return None  # a container, or what only PyYAML writes
        key = data if kind is str else (kind, data)
        known = self._words.get(key, "")  # "" is never a word: not yet looked at
        if known == "":
            value = data if kind is str else self._scalar_text(data)
            a, plain_implicit = self._analysed(
                value, _STR_TAG if kind is str else _SCALAR_TYPES[kind]
            )
            plain = plain_implicit and a.allow_block_plain and not self.flow_level
            known = value if plain and self._in_one_piece(value) else None
            self._words[key] = known
        return known

    def _key_word(self, key: str) -> bool:
        """Whether a mapping key is written as a simple key, plain and in one piece."""
        a, plain_implicit = self._analysed(key, _STR_TAG)
        simple = len(key) + len("!!str") < 128 and not a.multiline
        plain = plain_implicit and a.allow_block_plain and not self.flow_level
        return simple and plain and self._in_one_piece(key)

    def _in_one_piece(self, text: str) -> bool:
        """write_plain writes `text` whole (see FastDumper.write_plain)."""
        return bool(text) and not self.encoding and not _PLAIN_BREAKS.search(text)

    def _scalar(self, data: Any) -> None:
        kind = type(data)
        if kind is str:
            value, tag = data, _STR_TAG
        elif kind in _SCALAR_TYPES:
            value, tag = self._scalar_text(data), _SCALAR_TYPES[kind]
        else:
            raise _Unsupported
        analysis, plain_implicit = self._analysed(value, tag)
        style = self._style(analysis, plain_implicit)
        if kind is not str and style != "":  # PyYAML would write a tag
            raise _Unsupported
        self.increase_indent(flow=True)
        split = not self.simple_key_context
        if style and len(value) >= 64:
            self._write_quoted_remembered(value, style, split)
        elif style == '"':
            self.write_double_quoted(value, split)
        elif style == "'":
            self.write_single_quoted(value, split)
        else:
            self.write_plain(value, split)
        self.indent = self.indents.pop()

    def _write_quoted_remembered(self, value: str, style: str, split: bool) -> None:
        """Every component of the IR carries the same few long scripts (kfp's pip install and
        launcher lines): what a quoted writer writes depends only on the text and the writer's
        state, so write each (text, state) once and replay it."""
        state = (self.column, self.indent, self.whitespace, self.indention)
        key = (value, style, split, state)
        known = self._written.get(key)
        if known is None:
            stream = self.stream
            self.stream = io.StringIO()
            try:
                if style == '"':
                    self.write_double_quoted(value, split)
                else:
                    self.write_single_quoted(value, split)
                text = self.stream.getvalue()
            finally:
                self.stream = stream
            known = (text, (self.column, self.indent, self.whitespace, self.indention))
            self._written[key] = known
        text, (self.column, self.indent, self.whitespace, self.indention) = known
        self.open_ended = False  # as the opening quote leaves it
        self.stream.write(text)

    def _analysed(self, value: str, tag: str) -> tuple[ScalarAnalysis, bool]:
        """The scalar's analysis, and whether it would read back as `tag` when written plain.
        Both depend on the text alone, and the IR repeats the same short texts (its keys, types,
        names) thousands of times: remember them."""
        known = self._known.get((value, tag))
        if known is None:
            plain = self.resolve(yaml.ScalarNode, value, (True, False)) == tag  # type: ignore[no-untyped-call]
            known = (self.analyze_scalar(value), plain)
            if len(value) < 200 or self._ahead:
                self._known[(value, tag)] = known
        return known

    def _scalar_text(self, data: Any) -> str:
        node = self.represent_data(data)
        self.represented_objects = {}
        text: str = node.value
        return text

    def _style(self, a: ScalarAnalysis, plain_implicit: bool) -> str:
        """PyYAML's choose_scalar_style, for a value without an explicit style."""
        if (
            plain_implicit
            and not (self.simple_key_context and (a.empty or a.multiline))
            and (
                (self.flow_level and a.allow_flow_plain)
                or (not self.flow_level and a.allow_block_plain)
            )
        ):
            return ""
        if a.allow_single_quoted and not (self.simple_key_context and a.multiline):
            return "'"
        return '"'


class _Handover(Exception):
    """This process has written its part of the document: the rest is the other process's."""


#: the state a writer is left in, handed from the child process back to the parent
_STATE = [
    "column",
    "whitespace",
    "indention",
    "open_ended",
    "indent",
    "indents",
    "root_context",
    "mapping_context",
    "simple_key_context",
]


class _Split:
    """Writes a large document with two processes: this one up to a point in the middle, a forked
    child from that point to the end, at the same time.

    Every entry of a block mapping but the first starts on a new line at the mapping's indent,
    whatever came before it (the writer's column is then always past that indent), and what
    follows a mapping starts on a new line as well: so, split before any entry but a first one,
    the entries of the mappings on the path to the split point can be written by either process
    and the two texts concatenated into the bytes that one process writes. The child inherits
    the writer and the data by forking, skips the entries before the split point without walking
    them, and sends back its text, the containers it walked (a container reached from both parts,
    which PyYAML would write as an anchor and an alias, is still noticed) and the writer's state
    at the end."""

    #: below this weight (about a microsecond of writing per unit) one process is quicker
    least = 40_000
    #: the part of the estimated work this process writes: more than half, as the child's text
    #: still has to be sent back (measured at 500 steps: 0.6 is a little quicker than 0.5)
    share = 0.6

    def __init__(self, path: list[int], path_ids: set[int], total: float) -> None:
        self.path = path  # per mapping on the way down: the index (in sorted keys) taken
        self.path_ids = path_ids  # the mappings on the way, which both processes walk
        self.child = False
        # seconds the child may take before this process writes its part too (in the estimate's
        # units, about a microsecond each, with room for a busy machine)
        self.patience = 2.0 + total * 4e-6

    @classmethod
    def plan(cls, doc: Any, written: set[str] | None = None) -> _Split | None:
        """The point that halves the writing time, as a path of mapping entries. `written`: long
        texts the writer has written before, which it replays."""
        if type(doc) is not dict:
            return None
        weights: dict[int, int] = {}
        total = _weight(doc, set(written or ()), weights)
        target = total * cls.share
        if target < cls.least:
            return None
        path: list[int] = []
        path_ids: set[int] = set()
        node = doc
        while True:
            if any(type(k) is not str for k in node):
                return None  # the writer leaves such documents to PyYAML
            path_ids.add(id(node))
            keys = sorted(node)
            before = 0.0
            i = 0
            while True:
                if i == len(keys):
                    return None
                value = node[keys[i]]
                w = weights.get(id(value), 8) + 6  # and the key
                if before + w > target:
                    break
                before += w
                i += 1
            target -= before
            if type(value) is dict and value and w > total / 20:
                path.append(i)  # the middle is inside a large mapping: go down into it
                node = value
                continue
            # not before a mapping's first entry: that one begins on the line of its key when the
            # key is complex ("? key" / ": first: entry"), so only the parent knows where
            j = max(1, i if target < w / 2 else i + 1)
            if not path and j == len(keys):
                return None
            path.append(j)
            return cls(path, path_ids, total)

    def entries(
        self, writer: _DataWriter, data: dict[str, Any], keys: list[str], depth: int
    ) -> None:
        """The entries of a mapping on the path: each process writes its own."""
        k = self.path[depth]
        last = depth == len(self.path) - 1
        if not self.child:
            writer._entries(data, keys[:k])
            if last:
                raise _Handover
            writer._entries(data, keys[k : k + 1], depth + 1)  # ends in _Handover
        elif last:
            writer.column = (writer.indent or 0) + 1  # as after an entry, which the parent writes
            writer._entries(data, keys[k:])
        else:
            # the parent writes entry k's key; the child goes into its value, whose entries begin
            # on a new line at an indent that does not depend on the key
            writer._on_path = depth + 1
            writer._node(data[keys[k]], mapping=True)
            writer._entries(data, keys[k + 1 :])

    def write(self, writer: _DataWriter, doc: Any) -> bool:
        """Write the document with the child's help; False if no child could be started."""
        with forked.Forked(lambda: self._second_part(writer, doc)) as child:
            if not child.started:
                return False
            writer._split = self
            writer._on_path = 0  # the document's mapping is the first on the path
            try:
                writer._document(doc)
            except _Handover:
                text, seen, state = child.result(timeout=self.patience)
            else:  # the split point never came: this process wrote it all
                return True
            finally:
                writer._split = None
        if (seen - self.path_ids) & writer._seen:
            raise _Unsupported
        writer._seen |= seen
        writer.stream.write(text)
        for name, value in zip(_STATE, state, strict=True):
            setattr(writer, name, value)
        return True

    def _second_part(self, writer: _DataWriter, doc: Any) -> tuple[str, set[int], list[Any]]:
        """In the child: the text from the split point to the end, the containers walked, and the
        writer's state at the end."""
        self.child = True
        writer._split = self
        writer._on_path = 0
        writer.stream = buffer = io.StringIO()
        writer._document(doc)
        return buffer.getvalue(), writer._seen, [getattr(writer, name) for name in _STATE]


def _weight(node: dict[Any, Any] | list[Any], long_seen: set[str], weights: dict[int, int]) -> int:
    """About how many microseconds writing `node` takes (a repeated long text is replayed: cheap);
    the weight of every container and long text is kept in `weights` by id."""
    w = 8
    kind = type(node)
    for value in node.values() if kind is dict else node:  # type: ignore[union-attr]
        vkind = type(value)
        if vkind is dict or vkind is list:
            w += _weight(value, long_seen, weights)
        elif vkind is str and len(value) >= 64 and value not in long_seen:
            long_seen.add(value)
            weights[id(value)] = len(value) // 10
            w += len(value) // 10
        else:
            w += 8
    if kind is dict:
        w += 6 * len(node)
    weights[id(node)] = w
    return w


def write_ahead(texts: Iterable[str], path: Sequence[str]) -> Ahead:
    """Write the long ones of `texts` as the items of a block sequence found at `path` (the keys
    from a document's root), for a writer that will meet them in sequences at such a path: what
    a quoted writer writes depends only on the text and the writer's state there, the same for
    every sequence at that depth. Another process can do this while the documents are still
    being built (compile/kfp_ir.py). A text met in another state is simply written again."""
    long = list(dict.fromkeys(t for t in texts if len(t) >= 64))
    doc: Any = long
    for key in reversed(path):
        doc = {key: doc}
    writer = _DataWriter(io.StringIO(), sort_keys=True)
    writer._ahead = True
    try:
        writer.write_documents([doc])
        return Ahead(writer._known, writer._written)
    finally:
        writer.dispose()


def _write_direct(docs: list[Any], parallel: bool, ahead: Ahead | None = None) -> str | None:
    buffer = io.StringIO()
    writer = _DataWriter(buffer, sort_keys=True)
    try:
        writer.write_documents(docs, parallel, ahead)
    except _Unsupported:
        return None
    finally:
        writer.dispose()
    return buffer.getvalue()


def dump_all(
    documents: Any, stream: Any = None, *, ahead: Ahead | None = None, **kwargs: Any
) -> Any:
    """`yaml.dump_all`, with the same output, faster: plain data with only `sort_keys=True` goes
    through _DataWriter, anything else through PyYAML with FastDumper. `ahead`: see write_ahead."""
    if kwargs == {"sort_keys": True}:
        docs = list(documents)
        try:
            text = _write_direct(docs, forked.can_fork(), ahead)
        except forked.ChildFailed:
            text = _write_direct(docs, False, ahead)
        if text is not None:
            if stream is None:
                return text
            stream.write(text)
            return None
        documents = docs
    kwargs.setdefault("Dumper", FastDumper)
    return yaml.dump_all(documents, stream, **kwargs)
