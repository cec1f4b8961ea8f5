"""What every command shares: turning our errors into one clear message and an exit status.

Exit status: 0 success, 1 a failure while doing the work (a step failed, an internal error),
2 invalid input (a notebook that cannot become a pipeline, bad arguments).
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import KfpJupyterError, NotebookError
from ..frontends.options import CLI, KFP_RUNTIME, NO_PIN, Option, parse_pairs

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def error(message: str) -> None:
    click.echo(click.style("error: ", fg="red", bold=True) + message, err=True)


def warn(message: str) -> None:
    click.echo(click.style("warning: ", fg="yellow") + message, err=True)


def handle_errors(func: F) -> F:
    """Run a command; user errors -> message + exit 2; bugs -> short message + exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NotebookError as e:
            n = len(e.problems)
            error(f"the notebook cannot become a pipeline ({n} problem{'s' if n != 1 else ''}):")
            click.echo(str(e), err=True)
            sys.exit(EXIT_INVALID)
        except KfpJupyterError as e:
            error(str(e))
            sys.exit(EXIT_INVALID)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            error("interrupted")
            sys.exit(130)
        except Exception as e:  # an internal failure: say so, keep the details out of the way
            error(f"internal error: {type(e).__name__}: {e}")
            if "--debug" in sys.argv or _debug():
                traceback.print_exc()
            else:
                click.echo(
                    "  (set KFP_JUPYTER_DEBUG=1 to see the traceback; please report it)", err=True
                )
            sys.exit(EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


def _debug() -> bool:
    import os

    return os.environ.get("KFP_JUPYTER_DEBUG", "") not in ("", "0")


def click_option(option: Option) -> Callable[[F], F]:
    """`option` as click declares it; its default means "not given" (see frontends/options.py)."""
    names = (*option.names, option.dest)
    if option.kind == "flag":
        return click.option(*names, is_flag=True, help=option.help)
    if option.kind == "off":
        return click.option(*names, flag_value=False, default=None, help=option.help)
    if option.kind == "pairs":
        return click.option(*names, multiple=True, metavar=option.metavar, help=option.help)
    kind: Any = {"int": int, "float": float}.get(option.kind)
    if option.choices:
        kind = click.Choice(list(option.choices))
    return click.option(
        *names,
        type=kind,
        default=None,
        metavar=option.metavar,
        help=option.help,
        callback=_checked(option) if option.positive else None,
    )


def _checked(option: Option) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """The table's check of a number, refused in its words as a usage error (exit 2)."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        problem = None if value is None else option.number_problem(value)
        if problem:
            raise click.UsageError(problem, ctx)
        return value

    return check


def _refused(option: Option) -> Callable[[F], F]:
    """An option of another front end, hidden from --help, that says why it is not one here."""

    def refuse(ctx: click.Context, param: click.Parameter, value: object) -> None:
        if value:
            reason = option.not_for[CLI]
            raise click.UsageError(
                f"{option.flag} is not an option of {ctx.command_path}: {reason}"
            )

    return click.option(
        option.flag,
        f"refused_{option.dest}",
        is_flag=True,
        hidden=True,
        expose_value=False,
        callback=refuse,
    )


def click_options(table: tuple[Option, ...]) -> Callable[[F], F]:
    """Every option of `table` on a command, in the table's order (as --help lists them)."""

    def apply(func: F) -> F:
        for option in reversed(table):
            func = (click_option if option.applies_to(CLI) else _refused)(option)(func)
        return func

    return apply


def kfp_runtime_option(func: F) -> F:
    """`--kfp-runtime`: the same option, with the same help, on every command that writes KFP IR."""
    return click_option(KFP_RUNTIME)(func)


def no_pin_option(func: F) -> F:
    """`--no-pin`: the same option on every command that reads a notebook's steps' packages."""
    return click_option(NO_PIN)(func)


def parse_param_options(values: tuple[str, ...]) -> dict[str, str]:
    """`-p NAME=VALUE` options to a dict of raw strings (typed later against the pipeline)."""
    try:
        return parse_pairs(values)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="-p/--param") from None
