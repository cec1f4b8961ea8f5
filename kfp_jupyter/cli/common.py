"""What every command shares: turning our errors into one clear message and an exit status.

Exit status: 0 success, 1 a failure while doing the work (a step failed, an internal error),
2 invalid input (a notebook that cannot become a pipeline, bad arguments).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import KfpJupyterError, NotebookError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class _Ending:
    #: the process is the `kfp-jupyter` command itself (main()), not a caller of its functions
    process = False
    quick = False


def ends_with_nothing_open() -> None:
    """Said by a short command that starts no thread or process and closes every file it opens:
    its process may end without the interpreter's teardown (see exit_now).

    In the command's own process, the cyclic garbage collector stays off until then: a compile
    builds a large graph of objects (kfp's pipeline) that the collector would walk again and
    again, and collect at the end, only for the process to end right after (a tenth of a second
    at 500 steps; see compile.gc_paused, which does the same for one compile in any process)."""
    _Ending.quick = True
    if _Ending.process:
        gc.disable()


def this_process_is_the_command() -> None:
    _Ending.process = True


def exit_now(code: object) -> None:
    """End the process after a command that said ends_with_nothing_open, skipping the teardown.

    Freeing what compiling a large notebook builds (kfp's pipeline objects, protobuf messages, the
    IR as dicts) takes the interpreter a tenth of a second at exit, for nothing: the exit handlers
    still run and the output is flushed, then the process ends. Does nothing otherwise."""
    if not _Ending.quick or threading.active_count() != 1:
        return
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(status)


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


def parse_param_options(values: tuple[str, ...]) -> dict[str, str]:
    """`-p NAME=VALUE` options to a dict of raw strings (typed later against the pipeline)."""
    out: dict[str, str] = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {v!r}", param_hint="-p/--param")
        out[name.strip()] = value
    return out
