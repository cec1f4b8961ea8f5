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


def kfp_runtime_option(func: F) -> F:
    """`--kfp-runtime`: the same option, with the same help, on every command that writes KFP IR."""
    return click.option(
        "--kfp-runtime",
        metavar="VERSION",
        default=None,
        help="The kfp runtime each Python step installs on KFP: a version ('2.15.0') or a pip "
        "requirement. Default: the notebook's kfp_runtime setting, else kfp-jupyter's pin.",
    )(func)


def no_pin_option(func: F) -> F:
    """`--no-pin`: the same option on every command that reads a notebook's steps' packages."""
    return click.option(
        "--no-pin",
        "pin_packages",
        flag_value=False,
        default=None,
        help="Do not pin the packages found from the steps' imports to the versions installed "
        "here. Default: the notebook's pin_packages setting, else pinned.",
    )(func)


def parse_param_options(values: tuple[str, ...]) -> dict[str, str]:
    """`-p NAME=VALUE` options to a dict of raw strings (typed later against the pipeline)."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {v!r}", param_hint="-p/--param")
        out[name.strip()] = value
    return out
