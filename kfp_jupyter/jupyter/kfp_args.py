"""The options of `%kfp`, apart from the magics that act on them: the same names as the CLI's
commands (tests compare the two), and each subcommand's options in a function of its own. Those of
`run` and `submit` are built from the tables every front end shares (frontends/options.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from IPython.core.error import UsageError as IPythonUsageError

from ..cluster.engines import ENGINES
from ..frontends.options import (
    CONNECTION_OPTIONS,
    KFP_RUNTIME,
    MAGIC,
    NO_PIN,
    RUN_OPTIONS,
    SUBMIT_OPTIONS,
    Option,
    parse_pairs,
)


class HelpPrinted(Exception):
    """`%kfp [COMMAND] --help` printed the usage: the magic is done, and did not fail (as a
    command's --help exits 0)."""


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        # --help prints the usage (argparse's own action), left out of the usage line, which
        # lists the options the command line's --help lists (tests compare the two)
        self.add_argument("-h", "--help", action="help", help=argparse.SUPPRESS)

    def error(self, message: str) -> NoReturn:
        raise IPythonUsageError(
            f"{self.prog}: {message} (usage: {self.format_usage().strip()[7:]})"
        )

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            raise IPythonUsageError(message.strip())
        raise HelpPrinted()  # only --help exits without a message: error() is ours


def param_values(values: list[str]) -> dict[str, str]:
    """`-p NAME=VALUE` options as the run takes them; a malformed one is a usage error of the
    magic (the cell fails with one line), not a traceback."""
    try:
        return parse_pairs(values)
    except ValueError as e:
        raise IPythonUsageError(f"%kfp: -p {e}") from None


def kfp_parser() -> argparse.ArgumentParser:
    """`%kfp`'s options, the same names as the CLI's commands."""
    p = _Parser(prog="%kfp", description="Act on the current notebook (or NOTEBOOK).")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    sub.required = True
    _show_options(sub.add_parser("show", help="display the pipeline widget"))
    _compile_options(sub.add_parser("compile", help="compile the pipeline"))
    _run_options(sub.add_parser("run", help="run the pipeline on this machine"))
    _inputs_options(sub.add_parser("inputs", help="load a step's inputs into the kernel"))
    _submit_options(sub.add_parser("submit", help="send the pipeline to a cluster"))
    sub.metavar = "|".join(sub.choices)  # the usage line names every command
    return p


def _help(option: Option) -> str:
    return option.help.replace("%", "%%")  # argparse formats help with %


def add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    """`option` as argparse declares it, with the CLI's names; its default means "not given"."""
    names, dest, helped = option.names, option.dest, _help(option)
    if not option.applies_to(MAGIC):
        parser.add_argument(
            *names,
            nargs=0,
            action=_Checked,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
            check=lambda _, given: f"{given} is not an option here: {option.not_for[MAGIC]}",
        )
    elif option.kind == "flag":
        parser.add_argument(*names, dest=dest, action="store_true", help=helped)
    elif option.kind == "off":
        parser.add_argument(*names, dest=dest, action="store_const", const=False, help=helped)
    elif option.kind == "pairs":
        parser.add_argument(
            *names, dest=dest, action="append", default=[], metavar=option.metavar, help=helped
        )
    else:
        kind: Any = {"int": int, "float": float}.get(option.kind, str)
        checked: dict[str, Any] = {}
        if option.positive:
            checked = {"action": _Checked, "check": lambda given, _: option.number_problem(given)}
        parser.add_argument(
            *names,
            dest=dest,
            type=kind,
            choices=option.choices or None,
            metavar=option.metavar,
            help=helped,
            **checked,
        )


class _Checked(argparse.Action):
    """An option `check` may refuse, in its own words: a number the table checks
    (frontends/options.py), or an option of another front end, with the reason it is not one of
    `%kfp`'s."""

    def __init__(self, *args: Any, check: Callable[[Any, str | None], str | None], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.check = check

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        problem = self.check(values, option_string)
        if problem:
            raise IPythonUsageError(f"{parser.prog}: {problem}")
        setattr(namespace, self.dest, values)


def _show_options(show: argparse.ArgumentParser) -> None:
    show.add_argument("notebook", nargs="?")
    show.add_argument("--run", metavar="RUN_ID", help="re-attach to a run by id")
    show.add_argument("--store", help="the local store of --run")
    show.add_argument(
        "--engine",
        choices=["local", *ENGINES],
        help="where the --run ran (default: the --target's engine, else local)",
    )
    for option in CONNECTION_OPTIONS:
        add_option(show, option)


def _compile_options(comp: argparse.ArgumentParser) -> None:
    comp.add_argument("notebook", nargs="?")
    comp.add_argument("-t", "--target", choices=["kfp", "argo", "dsl"], default="kfp")
    comp.add_argument("-o", "--output")
    add_option(comp, KFP_RUNTIME)
    add_option(comp, NO_PIN)


def _run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("notebook", nargs="?")
    for option in RUN_OPTIONS:
        add_option(run, option)


def _inputs_options(inputs: argparse.ArgumentParser) -> None:
    inputs.add_argument("step")
    inputs.add_argument("notebook", nargs="?")
    inputs.add_argument("--run", metavar="RUN_ID")
    inputs.add_argument("--store")


def _submit_options(subm: argparse.ArgumentParser) -> None:
    subm.add_argument("notebook", nargs="?")
    for option in SUBMIT_OPTIONS:
        add_option(subm, option)
