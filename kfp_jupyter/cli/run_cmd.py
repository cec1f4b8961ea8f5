"""run: a notebook's pipeline on this machine (the commands that read the runs are in runs_cmd.py
and artifacts_cmd.py).

Exit status of `run` and `runs resume`: 0 the run succeeded, 1 a step failed (also when the run
was cancelled after that), 2 invalid input (nothing was run), 130 the run was cancelled (Ctrl-C or
SIGTERM) with no step failed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..frontends.options import RUN_OPTIONS, api_keywords, run_warnings
from .common import click_options, handle_errors, parse_param_options, warn
from .local_common import follow_run


@click.command("run")
@click.argument("notebook", type=click.Path(dir_okay=False, path_type=Path))
@click_options(RUN_OPTIONS)
@handle_errors
def run_cmd(
    notebook: Path, params: tuple[str, ...], pin_packages: bool | None, **options: Any
) -> None:
    """Run NOTEBOOK's pipeline on this machine: each step in its own process, independent
    steps in parallel, unchanged steps reused from earlier runs."""
    from ..engine import run_local
    from ..loader import load_notebook

    values = parse_param_options(params)
    pipeline = load_notebook(notebook, pin_packages=pin_packages)
    for w in run_warnings(pipeline):
        warn(w)
    handle = run_local(pipeline, values, **api_keywords(RUN_OPTIONS, options))
    sys.exit(follow_run(handle))
