"""The manual cannot drift from the commands: docs/cli.md names every command and every option,
and every `kfp-jupyter ...` line of the manual and the README parses as the command line would.

Command lines are read from fenced code blocks (a synopsis may go on over indented `[...]` lines or
after a trailing backslash) and from inline code spans that start with `kfp-jupyter `. Each is
checked against click's own command tree (`get_command`, and the options `get_params` declares):
values and missing arguments are not checked, an unknown command or option is, so a renamed
option breaks this test, not a reader.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from kfp_jupyter.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
CLI_PAGE = ROOT / "docs" / "cli.md"

#: tokens that end the command in a shell line (a pipe is `| jq`, not `[--limit N | --all]`)
_SHELL_ENDS = {"|", "||", "&&", ";", ">", ">>", "2>", "2>&1"}
_INLINE = re.compile(r"`(kfp-jupyter(?: [^`]*)?)`")


def command_tree() -> dict[tuple[str, ...], click.Command]:
    """Every command and subcommand of `kfp-jupyter`, by its words: () is the group itself."""
    found: dict[tuple[str, ...], click.Command] = {}

    def walk(path: tuple[str, ...], command: click.Command) -> None:
        found[path] = command
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk((*path, name), sub)

    walk((), cli)
    return found


def command_lines(text: str) -> list[str]:
    """The `kfp-jupyter ...` command lines written in a Markdown page."""
    lines: list[str] = []
    fenced = False
    going_on = False  # the last fenced line was a command line that may go on
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("```"):
            fenced, going_on = not fenced, False
            continue
        if not fenced:
            lines.extend(m.group(1) for m in _INLINE.finditer(raw))
            continue
        if going_on and (lines[-1].endswith("\\") or (raw[:1].isspace() and stripped[:1] == "[")):
            lines[-1] = lines[-1].removesuffix("\\") + " " + stripped
            continue
        stripped = stripped.removeprefix("$ ")
        going_on = stripped == "kfp-jupyter" or stripped.startswith("kfp-jupyter ")
        if going_on:
            lines.append(stripped)
    return lines


def words(line: str) -> list[str]:
    """A command line's words after `kfp-jupyter`, without a synopsis' brackets and ellipses."""
    out: list[str] = []
    tokens = shlex.split(line, comments=True)[1:]
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token == "|" and following.lstrip("[").startswith("-"):
            continue  # `[--limit N | --all]`: one or the other
        if token in _SHELL_ENDS:
            break
        token = token.strip("[]")
        if token and token != "...":
            out.append(token)
    return out


def options_of(command: click.Command) -> set[str]:
    """The option names `command` accepts (its --help included), as click declares them."""
    params = command.get_params(click.Context(command))
    return {n for p in params for n in (*p.opts, *p.secondary_opts) if n.startswith("-")}


def _options(command: click.Command, given: list[str]) -> list[str]:
    """The options among `given` words; click's NoSuchOption for one `command` does not take."""
    found = [w.split("=", 1)[0] for w in given if len(w) > 1 and w.startswith("-")]
    accepted = options_of(command)
    for option in found:
        if option not in accepted:
            raise click.NoSuchOption(option, possibilities=sorted(accepted))
    return found


def parse(line: str) -> tuple[tuple[str, ...], list[str]]:
    """The command a line names and the options it gives; click's UsageError if it names a
    command that does not exist or an option that command does not take."""
    command: click.Command = cli
    path: tuple[str, ...] = ()
    rest = words(line)
    while isinstance(command, click.Group):
        leading = []
        while rest and rest[0].startswith("-"):
            leading.append(rest.pop(0))
        options = _options(command, leading)
        if not rest:
            return path, options
        sub = command.get_command(click.Context(command), rest[0])
        if sub is None:
            raise click.UsageError(f"no command {' '.join((*path, rest[0]))!r}")
        path, command = (*path, rest.pop(0)), sub
    return path, _options(command, rest)


def documented_lines() -> list[tuple[str, str]]:
    return [
        (page.relative_to(ROOT).as_posix(), line)
        for page in DOCS
        for line in command_lines(page.read_text(encoding="utf-8"))
    ]


@pytest.mark.parametrize(("page", "line"), documented_lines())
def test_every_command_line_in_the_docs_names_a_command_and_options_it_takes(
    page: str, line: str
) -> None:
    try:
        parse(line)
    except click.UsageError as e:
        pytest.fail(f"{page}: `{line}`: {e.format_message()}")


def test_the_cli_page_names_every_command_and_every_option_of_each() -> None:
    mentioned: dict[tuple[str, ...], set[str]] = {}
    for line in command_lines(CLI_PAGE.read_text(encoding="utf-8")):
        path, options = parse(line)
        for n in range(len(path) + 1):
            mentioned.setdefault(path[:n], set())
        mentioned[path].update(options)
    missing = []
    for path, command in command_tree().items():
        name = " ".join(("kfp-jupyter", *path))
        if path not in mentioned:
            missing.append(name)
            continue
        for p in command.params:
            if not isinstance(p, click.Option):
                continue
            for names in (p.opts, p.secondary_opts):
                if names and not set(names) & mentioned[path]:
                    missing.append(f"{name} {'/'.join(names)}")
    assert not missing, "docs/cli.md does not show: " + ", ".join(missing)


def test_the_check_refuses_what_the_cli_refuses() -> None:
    assert parse("kfp-jupyter runs list [--limit N | --all] --json | jq .") == (
        ("runs", "list"),
        ["--limit", "--all", "--json"],
    )
    with pytest.raises(click.UsageError, match="no command 'runs lsit'"):
        parse("kfp-jupyter runs lsit")
    with pytest.raises(click.NoSuchOption):
        parse("kfp-jupyter run nb.ipynb --no-such-option")
    with pytest.raises(click.NoSuchOption):
        parse("kfp-jupyter --verbose run nb.ipynb")
    page = "```\nkfp-jupyter submit NB [--wait]\n    [--json]\n```\nthen `kfp-jupyter runs gc`\n"
    assert command_lines(page) == ["kfp-jupyter submit NB [--wait] [--json]", "kfp-jupyter runs gc"]
