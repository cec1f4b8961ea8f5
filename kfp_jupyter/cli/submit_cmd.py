"""submit: send a notebook's pipeline, or one compiled already (KFP IR YAML, Argo Workflow YAML,
KFP DSL script), to Kubeflow Pipelines or Argo Workflows. attach: follow a run sent earlier, by its
id, as `submit --wait` follows the run it sends. cancel: stop such a run, and follow it to its end.

Exit status: 0 submitted (with --wait, and for attach: the run succeeded; for cancel: the run
ended), 1 the cluster refused or could not be reached (or has no such run), or the followed run
failed, 2 invalid input (nothing was sent), 124 (--timeout) the run had not ended in time, 130
interrupted while following (in both cases the run goes on in the cluster).
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from ..engine import states
from ..frontends.options import (
    ATTACH_OPTIONS,
    SUBMIT_OPTIONS,
    api_keywords,
    check_submit_options,
    notebook_warnings,
)
from .common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    click_options,
    error,
    handle_errors,
    parse_param_options,
    warn,
)

EXIT_INTERRUPTED = 130
#: as timeout(1): the run had not ended when --timeout ran out
EXIT_TIMEOUT = 124


def _until(events: Iterable[Any], deadline: float, expired: threading.Event) -> Iterator[Any]:
    """`events` until time.monotonic() reaches `deadline`, then set `expired` and stop.

    The events are read in a thread: the run's own stream yields nothing while the run is quiet
    (a step running for hours), so only a wait of our own can stop on time."""
    items: queue.SimpleQueue[Any] = queue.SimpleQueue()
    end = object()

    def pump() -> None:
        try:
            for event in events:
                items.put(event)
        finally:
            items.put(end)

    threading.Thread(target=pump, name="kfpj-submit-events", daemon=True).start()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            expired.set()
            return
        try:
            item = items.get(timeout=min(left, 0.2))  # short slices: Ctrl-C stays prompt
        except queue.Empty:
            continue
        if item is end:
            return
        yield item


def _timed_out(handle: Any, timeout: float, as_json: bool, cancelling: bool = False) -> int:
    """Stop following a run that outlived --timeout, and say that it goes on (or is being
    stopped), and where."""
    handle.stop_following()
    if as_json:
        out = handle.info.to_json()
        out.update(state=states.RUNNING, message=None, tasks=handle.tasks, timed_out=True)
        click.echo(json.dumps(out, indent=2))
    left = _left(cancelling)
    error(
        f"the run did not end within {timeout:g} s (--timeout): stopped following; {left}: "
        f"{handle.url}"
    )
    return EXIT_TIMEOUT


def _left(cancelling: bool) -> str:
    """What becomes of a run no longer followed."""
    if cancelling:
        return "the cluster was asked to stop the run, which had not ended yet"
    return "the run is left running in the cluster"


def _follow(
    handle: Any, as_json: bool, timeout: float | None = None, cancelling: bool = False
) -> int:
    """Show the run until it ends, or until `timeout` seconds. Ctrl-C or the timeout stop
    following; the run goes on in the cluster. `cancelling`: the run was asked to stop, so any
    end is what was wanted (one it reached first is said)."""
    from rich.console import Console

    from ..frontends.cluster_text import follow_cluster_run, print_cluster_summary

    began = time.time()
    console = Console(highlight=False, soft_wrap=False, stderr=as_json)
    expired = threading.Event()
    events = handle.events()
    if timeout is not None:
        events = _until(events, time.monotonic() + timeout, expired)
    try:
        view = follow_cluster_run(handle, console, events)
        if expired.is_set():
            return _timed_out(handle, float(timeout or 0), as_json, cancelling)
        state = handle.wait()
    except KeyboardInterrupt:
        handle.stop_following()
        goes_on = _left(cancelling) if cancelling else "the run goes on in the cluster"
        warn(f"stopped following; {goes_on}: {handle.url}")
        return EXIT_INTERRUPTED
    if as_json:
        out = handle.info.to_json()
        out.update(state=state, message=handle.message, tasks=handle.tasks)
        click.echo(json.dumps(out, indent=2))
    else:
        print_cluster_summary(handle, view, began, Console(highlight=False, soft_wrap=True))
    if cancelling:
        if state != states.CANCELLED:
            warn(f"the run had ended {state} before it could be cancelled")
        return EXIT_OK
    return EXIT_OK if state == states.SUCCEEDED else EXIT_FAILED


def _check_timeout(timeout: float | None, wait: bool) -> None:
    """--timeout bounds --wait: alone, or not a positive number of seconds, it is a mistake."""
    if timeout is None:
        return
    if not wait:
        error("--timeout limits how long --wait follows the run: add --wait, or drop --timeout")
        sys.exit(EXIT_INVALID)
    if not 0 < timeout < float("inf"):
        error(f"--timeout {timeout:g}: give a number of seconds more than 0")
        sys.exit(EXIT_INVALID)


@click.command("submit")
@click.argument("path", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path))
@click_options(SUBMIT_OPTIONS)
@handle_errors
def submit_cmd(
    path: Path,
    params: tuple[str, ...],
    wait: bool,
    timeout: float | None,
    as_json: bool,
    pin_packages: bool | None,
    **options: Any,
) -> None:
    """Send a pipeline to a cluster and print the run's URL.

    PATH is a notebook, a KFP IR YAML (`kfp-jupyter compile -t kfp`, or kfp's compiler), an Argo
    Workflow YAML (`compile -t argo`; --engine argo) or a KFP DSL script (compiled by kfp first).

    \b
    kfp-jupyter submit nb.ipynb --host http://localhost:8080 -p epochs=5 --wait
    kfp-jupyter submit nb.ipynb --engine argo --namespace argo --wait
    kfp-jupyter submit nb.ipynb --schedule '0 0 6 * * *'   # every day at 06:00:00
    kfp-jupyter submit nb.ipynb --target prod --experiment tuning
    kfp-jupyter submit pipeline.yaml -p epochs=5     # compiled with -t kfp
    kfp-jupyter submit workflow.yaml --engine argo   # compiled with -t argo
    """
    from ..cluster import submit
    from ..cluster.submitted import record

    _check_options(options["schedule"], wait, timeout)
    what, values = _prepared(path, params, pin_packages)
    with _cluster_errors():
        handle = submit(what, params=values, **api_keywords(SUBMIT_OPTIONS, options))
        if not isinstance(what, Path):  # a notebook's pipeline: for the JupyterLab panel
            record(path, handle)
        _report(handle, wait, as_json, timeout)


def _prepared(path: Path, params: tuple[str, ...], pin_packages: bool | None) -> tuple[Any, Any]:
    """What to send and the parameter values, checked here before anything is sent."""
    from ..cluster import submittable

    values = parse_param_options(params)
    what = submittable(path, pin_packages)
    for w in notebook_warnings(what):
        warn(w)
    return what, values


@contextlib.contextmanager
def _cluster_errors() -> Iterator[None]:
    """A cluster that refused or did not answer: one line, and the exit status of its kind."""
    from ..cluster import ClusterError

    try:
        yield
    except ClusterError as e:
        error(str(e))
        sys.exit(e.exit_code)


def _check_options(schedule: str | None, wait: bool, timeout: float | None) -> None:
    """Options that contradict each other are refused before anything is sent (exit 2); a
    number out of range was refused as the option was read (frontends/options.py)."""
    check_submit_options(schedule, wait)
    _check_timeout(timeout, wait)


def _report(handle: Any, wait: bool, as_json: bool, timeout: float | None) -> None:
    """Say where the run is; with --wait, follow it and exit with the status it gives."""
    for note in handle.notes:
        click.echo(note, err=True)
    if not wait:
        if as_json:
            click.echo(json.dumps(handle.info.to_json(), indent=2))
        else:
            label = "recurring run" if handle.info.kind == "recurring" else "run"
            click.echo(f"{label}: {handle.url}")
        return
    if not as_json:
        click.echo(f"run: {handle.url}")
    sys.exit(_follow(handle, as_json, timeout))


@click.command("attach")
@click.argument("run_id", metavar="RUN_ID")
@click_options(ATTACH_OPTIONS)
@handle_errors
def attach_cmd(run_id: str, timeout: float | None, as_json: bool, **options: Any) -> None:
    """Follow a run sent to a cluster earlier until it ends, as `submit --wait` does.

    RUN_ID is a KFP run id (as `submit` prints it, or from the KFP UI) or, with --engine argo,
    the name of an Argo Workflow. The run can have been sent from anywhere: the step names are
    read back from the run itself.

    \b
    kfp-jupyter attach 5f0c7c4e-28f1-4b5e-a1d3-9a0b6c2d7e11 --host http://localhost:8080
    kfp-jupyter attach demo-pipeline-x7k2p --engine argo --namespace argo
    kfp-jupyter attach 5f0c7c4e-28f1-4b5e-a1d3-9a0b6c2d7e11 --target prod --timeout 3600
    """
    from ..cluster import attach

    _check_timeout(timeout, wait=True)
    with _cluster_errors():
        handle = attach(run_id, **api_keywords(ATTACH_OPTIONS, options))
        _report(handle, True, as_json, timeout)


@click.command("cancel")
@click.argument("run_id", metavar="RUN_ID")
@click_options(ATTACH_OPTIONS)
@handle_errors
def cancel_cmd(run_id: str, timeout: float | None, as_json: bool, **options: Any) -> None:
    """Stop a run on a cluster, and follow it until it has ended.

    RUN_ID and the options are those of `attach` (a KFP run id, or an Argo Workflow's name).
    KFP terminates the run; Argo is told to shut the Workflow down (shutdown=Terminate). Exit 0
    once the run has ended (a run that had already ended is said so); 124 if it has not ended
    within --timeout.

    \b
    kfp-jupyter cancel 5f0c7c4e-28f1-4b5e-a1d3-9a0b6c2d7e11 --target prod
    kfp-jupyter cancel demo-pipeline-x7k2p --engine argo --namespace argo
    """

    _check_timeout(timeout, wait=True)
    from ..cluster import RejectedError, attach

    with _cluster_errors():
        handle = attach(run_id, **api_keywords(ATTACH_OPTIONS, options))
        try:
            asked = handle.cancel_unless_ended()
        except RejectedError as e:  # it ended between the read and the request (KFP: 400)
            warn(f"the cluster did not stop the run: {e}")
            asked = False
        if not as_json:
            click.echo(f"{'cancelling run' if asked else 'run'}: {handle.url}")
        sys.exit(_follow(handle, as_json, timeout, cancelling=True))
