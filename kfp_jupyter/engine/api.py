"""The Python API of the local engine: `run_local(...)` and `resume_local(...)` return a RunHandle.

The run executes in a background thread of the caller's process (the steps, of course, in their
own processes), so a notebook kernel or a widget can start a run, draw its events as they happen
and stay responsive. Everything that can be wrong with the input (the notebook, a parameter name
or value) is checked before anything is recorded or run, and raised as a KfpJupyterError.
"""

from __future__ import annotations

import os
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import KfpJupyterError, UsageError
from ..model import Pipeline
from ..params import ParameterError, resolve_values
from . import states
from .events import Event, EventBus
from .forkserver import LAUNCHER_ENV, choose_launcher
from .history import History
from .plan import Plan, plan_from_pipeline
from .procinfo import RunnerId
from .report import run_summary
from .runner import Runner, RunOptions
from .store import open_store

if TYPE_CHECKING:
    from .storebase import Store

DEFAULT_EXPERIMENT = "Default"


class RunHandle:
    """A run in progress (or finished): wait for it, follow its events, cancel it."""

    def __init__(self, runner: Runner, history: History, store: Store) -> None:
        self._runner = runner
        self._history = history
        self.store = store
        self.run_id = runner.run_id
        self.error: BaseException | None = None
        #: what to tell the user before following the run (a resume of an edited notebook)
        self.notices: list[str] = []
        self._thread = threading.Thread(
            target=self._main, name=f"kfpj-run-{self.run_id}", daemon=True
        )

    def _start(self) -> RunHandle:
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            self._runner.execute()
        except BaseException as e:
            self.error = e

    @property
    def state(self) -> str:
        """The run's state now: RUNNING until it ends, then SUCCEEDED, FAILED or CANCELLED."""
        return self._runner.state

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> str:
        """Wait for the run to end (or `timeout` seconds) and return its state.

        An internal error of the engine (not a failing step: that is state FAILED) is re-raised.
        Interrupting the wait (Ctrl-C, or a notebook's interrupt button) cancels the run.
        """
        try:
            self._thread.join(timeout)
        except KeyboardInterrupt:
            self.cancel()
            self._thread.join()
            raise
        if self.error is not None and not self._thread.is_alive():
            raise self.error
        return self.state

    def events(self) -> Iterator[Event]:
        """Every event of the run from its start, as it happens; ends when the run ends."""
        return self._runner.bus.subscribe()

    def cancel(self) -> None:
        """Stop the running steps and record the run as CANCELLED."""
        self._runner.cancel()

    @property
    def metrics(self) -> dict[str, float]:
        return self._history.metrics(self.run_id)

    @property
    def notes(self) -> list[str]:
        """Things worth telling the user about how the run was executed (e.g. a fallback)."""
        return list(self._runner.notes)

    def summary(self) -> dict[str, Any]:
        """The run as `kfp-jupyter runs show --json` prints it."""
        return run_summary(self._history, self.run_id)

    def __repr__(self) -> str:
        return f"<RunHandle {self.run_id} {self.state}>"


def resolve_parameters(plan: Plan, given: Mapping[str, object] | None) -> dict[str, Any]:
    """The run's parameter values: defaults, overridden by `given` (typed values or text)."""
    try:
        return resolve_values(plan.parameters, given)
    except ParameterError as e:
        raise UsageError(str(e), fields=e.problems) from None


def _options(
    workers: int | None,
    cache: bool,
    keep_going: bool,
    launcher: str | None,
    python: str | None,
    host_exec: bool = False,
    apply_resources: bool = False,
) -> RunOptions:
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    try:
        kind = choose_launcher(launcher)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return RunOptions(
        workers=workers or os.cpu_count() or 1,
        cache=cache,
        keep_going=keep_going,
        launcher=kind,
        python=python,
        host_exec=host_exec,
        apply_resources=apply_resources,
    )


#: characters that would break the one line an experiment takes in a table or a listing
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})


def _experiment(given: str | None, notebooks: str | None) -> str:
    """The run's experiment: the one given, else the notebook's, else Default. Its name is one
    line of visible text, since `experiments list` and `runs list --experiment` show and find
    it by name (a newline would split its row, a blank name shows as nothing)."""
    if given is not None:
        _check_experiment(
            given,
            "the experiment name",
            "give a name on one line (e.g. --experiment my-experiment), or leave the option out "
            "for the notebook's (else Default)",
        )
        return given
    if notebooks:
        _check_experiment(
            notebooks,
            "the experiment name in the notebook's metadata",
            "give one on one line there, or give the run one (e.g. --experiment my-experiment)",
        )
        return notebooks
    return DEFAULT_EXPERIMENT


def _check_experiment(name: str, what: str, fix: str) -> None:
    if not name.strip():
        raise UsageError(f"{what} is blank: {fix}")
    bad = next((c for c in name if unicodedata.category(c) in _LINE_BREAKING), None)
    if bad is not None:
        raise UsageError(f"{what} {name!r} has a control character ({bad!r}): {fix}")


def _workdir(notebook: str | None) -> Path:
    if notebook:
        parent = Path(notebook).absolute().parent
        if parent.is_dir():
            return parent
    return Path.cwd()


def run_local(
    pipeline_or_path: Pipeline | str | os.PathLike[str],
    params: Mapping[str, object] | None = None,
    *,
    store: str | os.PathLike[str] | Store | None = None,
    workers: int | None = None,
    cache: bool = True,
    keep_going: bool = False,
    experiment: str | None = None,
    launcher: str | None = None,
    python: str | None = None,
    host_exec: bool = False,
    apply_resources: bool = False,
) -> RunHandle:
    """Start a run of a pipeline (or of the notebook at a path) on this machine.

    Steps run in parallel in their own processes (`workers` at a time, default: one per core),
    with their outputs in `store` (a folder or fsspec URL; default: KFP_JUPYTER_STORE or
    `.kfp-jupyter`). Returns at once; `handle.wait()` waits for the end.

    `launcher`: "fork" (a fork server; the default on Linux) or "subprocess" (a cold interpreter
    per step). `host_exec`: run component and container steps' commands on this machine instead
    of in their images (no Docker or Podman needed). `apply_resources`: apply resource steps with
    kubectl instead of only reporting them.
    """
    if isinstance(pipeline_or_path, Pipeline):
        pipeline = pipeline_or_path
    else:
        from ..loader import load_notebook

        pipeline = load_notebook(Path(pipeline_or_path))
    plan = plan_from_pipeline(pipeline)
    parameters = resolve_parameters(plan, params)
    experiment = _experiment(experiment, plan.experiment)  # checked before the store is opened
    options = _options(workers, cache, keep_going, launcher, python, host_exec, apply_resources)
    st = open_store(store)
    st.check()
    history = History(st.db_path)
    notebook = str(Path(plan.notebook).absolute()) if plan.notebook else None
    run_id = history.create_run(
        experiment=experiment,
        pipeline=plan.name,
        digest=plan.digest,
        spec=plan.to_json(),
        notebook=notebook,
        parameters=parameters,
        options=options.to_json(),
        steps=[s.name for s in plan.steps],
        runner=RunnerId.current(),
    )
    runner = Runner(plan, st, history, run_id, parameters, options, EventBus(), _workdir(notebook))
    return RunHandle(runner, history, st)._start()


def resume_local(
    run_id: str,
    *,
    store: str | os.PathLike[str] | Store | None = None,
    workers: int | None = None,
    cache: bool | None = None,
    keep_going: bool | None = None,
    launcher: str | None = None,
    python: str | None = None,
    host_exec: bool | None = None,
    apply_resources: bool | None = None,
) -> RunHandle:
    """Finish an interrupted, failed or cancelled run, reusing every task that had completed.

    The run executes the programs it was started with (kept in the history), not the notebook
    as it is now. `workers`, `cache`, `keep_going`, `launcher`, `host_exec` and `apply_resources`
    left as None are as the run was started: a run started without the cache is resumed without
    it, so its steps run rather than take an older run's outputs (the launcher: unless
    KFP_JUPYTER_LAUNCHER now names one).
    """
    st = open_store(store)
    st.check()
    history = History(st.db_path)
    run = history.get_run(run_id)
    if run.state == states.SUCCEEDED:
        raise UsageError(f"run {run.id} already succeeded; there is nothing to resume")
    plan = Plan.from_json(history.version_spec(run.version_id))
    old = run.options
    options = _options(
        workers if workers is not None else int(old.get("workers") or 0) or None,
        bool(old.get("cache", True)) if cache is None else cache,
        bool(old.get("keep_going")) if keep_going is None else keep_going,
        _resumed_launcher(launcher, old),
        python,
        bool(old.get("host_exec")) if host_exec is None else host_exec,
        bool(old.get("apply_resources")) if apply_resources is None else apply_resources,
    )
    edited = _edited_notebook(run.notebook, plan)
    history.claim_for_resume(run.id, RunnerId.current(), options.to_json())
    runner = Runner(
        plan, st, history, run.id, run.parameters, options, EventBus(), _workdir(run.notebook)
    )
    handle = RunHandle(runner, history, st)
    if edited:
        handle.notices.append(
            f"the notebook changed since run {run.id} started: resuming runs the code it "
            "started with; to run the edited notebook, run it again (finished steps come from "
            "the cache)"
        )
    return handle._start()


def _resumed_launcher(given: str | None, old: Mapping[str, Any]) -> str | None:
    """The launcher of a resumed run: the one asked for (the option, else KFP_JUPYTER_LAUNCHER,
    which a user sets where fork does not suit their steps), else the one the run was started
    with, so that its steps run the same way as before."""
    if given is not None or os.environ.get(LAUNCHER_ENV):
        return given
    recorded = old.get("launcher")
    return recorded if isinstance(recorded, str) else None


def _notebook_digest(plan: Plan) -> str:
    """The digest of what the notebook alone decides: not the modules beside it (read from disk
    when a step runs, resumed or not), nor the packages' pinned versions (they follow what is
    installed and the run's --pin-packages)."""
    steps = tuple(replace(s, modules=(), packages=()) for s in plan.steps)
    return replace(plan, steps=steps).digest


def _edited_notebook(notebook: str | None, plan: Plan) -> bool:
    """Whether the run's notebook, as it is now, makes another pipeline than the run's `plan`.
    A notebook that is gone or no longer loads is not worth a word: the resume does not read it."""
    if not notebook:
        return False
    from ..loader import load_notebook

    try:
        now = plan_from_pipeline(load_notebook(Path(notebook)))
    except (KfpJupyterError, OSError, ValueError):
        return False
    return _notebook_digest(now) != _notebook_digest(plan)
