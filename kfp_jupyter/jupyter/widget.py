"""The notebook widget: the pipeline as a DAG with live task states, a toolbar to compile, run and
submit, and the details of a clicked step.

Built on anywidget (one ES module, `static/widget.js`, built from `js/src`), so it works in
JupyterLab 4, Notebook 7 and VS Code. The model is a handful of traits (graph, states, run,
params, target, selected, details, error, status, busy); the front end only draws them and sends
button clicks. Everything slow (loading the notebook, compiling, submitting) runs in a worker
thread and every run is followed in background threads (follow.py), so the kernel stays free:
the user keeps working in the notebook while the pipeline runs.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..cluster.submitted import record
from ..errors import KfpJupyterError, install_extra
from ..fileio import same_file
from ..model import Pipeline
from . import settings
from .details import step_details
from .follow import TERMINAL_RUN, Follower, live_handle, remember

STATIC = Path(__file__).parent / "static"

_BUSY_WORDS = {"compile": "compiling", "run": "starting the run", "submit": "submitting"}


def describe_error(e: BaseException) -> str:
    """An error in words for the widget: the message for ours, type and message for others.

    A cluster error's advice names the widget's fields, not the command line's options (the
    message is written once; cluster/advice.py words it for where it is shown)."""
    if isinstance(e, KfpJupyterError):
        try:
            from ..cluster.advice import error_text
        except ImportError:  # pragma: no cover - an installation without the cluster part
            return str(e)
        return error_text(e, "widget")
    if isinstance(e, ImportError):
        return f"{e} (is the optional part installed? e.g. {install_extra('all')})"
    return f"internal error: {type(e).__name__}: {e}"


class PipelineWidget(anywidget.AnyWidget):
    """A pipeline's DAG with live progress, a parameter form and Compile / Run / Submit."""

    _esm = STATIC / "widget.js"

    #: `Pipeline.to_json()` (what `kfp-jupyter inspect --json` prints); {} if the notebook is invalid
    graph = traitlets.Dict().tag(sync=True)
    #: step -> {state, started, finished, attempt, cached, exit_code, message}
    states = traitlets.Dict().tag(sync=True)
    #: the followed run: {id, engine, state, message, url, metrics, started, finished, clock}
    run = traitlets.Dict().tag(sync=True)
    #: parameter values for the next run (the form)
    params = traitlets.Dict().tag(sync=True)
    #: {engine: local|kfp|argo, host, namespace, experiment, token_env (a variable's NAME),
    #: target (the name of a saved target, "" for none)}
    target = traitlets.Dict().tag(sync=True)
    #: the names of the saved targets (`kfp-jupyter targets add`), for the front end's choice
    targets = traitlets.List(traitlets.Unicode()).tag(sync=True)
    #: the engines the target menu offers, in order
    engines = traitlets.List(traitlets.Unicode(), default_value=list(settings.ENGINES)).tag(
        sync=True
    )
    selected = traitlets.Unicode("").tag(sync=True)
    details = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Unicode("").tag(sync=True)
    notebook = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        source: Pipeline | str | os.PathLike[str] | None = None,
        *,
        store: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.pipeline: Pipeline | None = None
        self._path: Path | None = None
        self._handle: Any = None
        self._history: Any = None
        self._history_root: Path | None = None
        self._lock = threading.Lock()
        self._follower = Follower(self._report)
        self._quiet_target = False
        #: the notebook's parameter defaults when it was last read: what the form started from
        self._defaults: dict[str, Any] = {}
        self.targets = _saved_names()
        last = _last_target()
        self.target = {
            "token_env": "",
            "target": "",
            **settings.load_target(),
            **_saved_fields(last),
        }
        self.on_msg(self._on_msg)
        self.observe(self._on_selected, names="selected")
        self.observe(self._on_target, names="target")
        if source is not None:
            self.load(source, raise_errors=False)

    # --- the pipeline ------------------------------------------------------------------------

    def load(self, source: Pipeline | str | os.PathLike[str], raise_errors: bool = True) -> None:
        """Show `source`: a notebook's path (read again before each action, so saved edits count)
        or a Pipeline (used as it is)."""
        if isinstance(source, Pipeline):
            self._path = None
            self._set_pipeline(source)
            return
        self._path = Path(source).absolute()
        self.notebook = str(source)
        try:
            self.reload()
        except Exception as e:
            self.graph = {}
            self.error = describe_error(e)
            if raise_errors:
                raise

    def reload(self) -> Pipeline:
        """Read the notebook again (it may have been edited and saved) and redraw."""
        if self._path is None or self._path.suffix != ".ipynb":
            if self.pipeline is None:
                raise KfpJupyterError("this widget has no pipeline")
            return self.pipeline
        from ..loader import load_notebook

        pipeline = load_notebook(self._path)
        self._set_pipeline(pipeline)
        return pipeline

    def _set_pipeline(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        graph = pipeline.to_json()
        if graph != self.graph:
            self.graph = graph
        self.notebook = pipeline.notebook or self.notebook
        defaults = {p.name: p.default for p in pipeline.parameters}
        self.params = _form_values(dict(self.params), self._defaults, defaults)
        self._defaults = defaults
        chosen = _saved_fields(str(self.target.get("target") or "")).get("experiment")
        if (
            pipeline.experiment
            and self.target.get("experiment") != pipeline.experiment
            and not chosen
        ):
            # the notebook's own experiment wins over a remembered one (not over a saved target's),
            # but is not remembered as the user's choice
            self._quiet_target = True
            try:
                self.target = {**self.target, "experiment": pipeline.experiment}
            finally:
                self._quiet_target = False
        self.error = ""

    def _steps(self) -> list[str]:
        return [str(s["name"]) for s in self.graph.get("steps", [])]

    # --- actions (Python API; the buttons call the same) ---------------------------------------

    def compile(
        self, target: str | None = None, path: str | os.PathLike[str] | None = None
    ) -> Path:
        """Compile to `target` (default: Argo YAML for an Argo target, else KFP IR) next to the
        notebook (or at `path`) and return where it was written. A bad target or path is a
        UsageError saying so, as at the command line."""
        from ..compile import compile_pipeline, default_output

        pipeline = self.reload()
        kind = target or ("argo" if self.target.get("engine") == "argo" else "kfp")
        out = default_output(pipeline.notebook, pipeline, kind) if path is None else path
        compile_pipeline(pipeline, kind, out)  # `path` as given: '' names no file, not '.'
        self.status = f"wrote {out} ({kind})"
        return Path(out)

    def run_local(self, params: Mapping[str, object] | None = None, **options: Any) -> Any:
        """Run the pipeline on this machine (the local engine) and follow it; returns the handle.

        `options` go to `kfp_jupyter.engine.run_local` (workers, cache, keep_going, ...).
        """
        from ..engine.api import run_local

        pipeline = self.reload()
        values = dict(self.params if params is None else params)
        options.setdefault("experiment", self.target.get("experiment") or None)
        options.setdefault("store", self.store)
        handle = run_local(pipeline, values, **options)
        self.store = handle.store
        self.follow(handle)
        return handle

    def submit(
        self, engine: str | None = None, params: Mapping[str, object] | None = None, **options: Any
    ) -> Any:
        """Compile and send the pipeline to a cluster (the target's engine), then follow it.

        The form's fields (host, namespace, experiment, token_env) and its saved target go to
        `kfp_jupyter.cluster.submit` as the CLI's options do; `options` override them.
        """
        from ..cluster import submit

        engine = engine or self.target.get("engine") or "kfp"
        if engine == "local":
            raise KfpJupyterError(
                "choose Kubeflow Pipelines or Argo Workflows as the target to submit to "
                "(Run runs the pipeline on this machine)"
            )
        pipeline = self.reload()
        for key in ("host", "namespace", "experiment", "token_env", "target"):
            options.setdefault(key, self.target.get(key) or None)
        settings.save_target({**self.target, "engine": engine})
        values = dict(self.params if params is None else params)
        handle = submit(pipeline, engine, params=values, **options)
        if self._path is not None:  # for the JupyterLab panel of the notebook
            record(self._path, handle)
        self.targets = _saved_names()
        notes = list(getattr(handle, "notes", []) or [])
        url = getattr(handle, "url", None)
        self.status = "; ".join([f"submitted run {handle.run_id}", *notes] + ([url] if url else []))
        if getattr(getattr(handle, "info", None), "kind", "run") == "run":
            self.follow(handle, engine=engine)
        return handle

    def follow(self, handle: Any, engine: str | None = None) -> None:
        """Draw the progress of a run started elsewhere (another cell, `kfp_jupyter.run_local`,
        `kfp_jupyter.submit`) from its start; the kernel is not blocked."""
        self._handle = handle
        remember(handle)
        engine = engine or getattr(handle, "engine", None) or "local"
        store = getattr(handle, "store", None)
        if store is not None:
            self.store = store
        self.error = ""
        self._follower.follow_handle(handle, self._steps(), engine)

    def attach(
        self, run_id: str, store: Any = None, engine: str | None = "local", **cluster: Any
    ) -> None:
        """Re-attach to a run by id: a live run of this kernel, else a run in the local store
        (engine "local"), else a cluster run (engine "kfp" or "argo", or None for a saved
        target's; `cluster` holds target, host, namespace, ... as for `kfp_jupyter.attach`)."""
        handle = live_handle(run_id)
        if handle is None and engine != "local":
            from ..cluster import attach

            handle = attach(run_id, engine, **cluster)
        if handle is not None:
            self.follow(handle)
            self._say_mismatch(handle.run_id, *_run_of(handle))
            return
        if store is not None:
            self.store = store
        self._handle = None
        row, steps = self._follower.follow_store(run_id, self.store)
        self._say_mismatch(row.id, row.notebook, steps)

    def _say_mismatch(self, run_id: str, notebook: str | None, steps: list[str] | None) -> None:
        """An error the user sees when the states drawn are not the run's own (an error the
        notebook has, which leaves nothing drawn, stays)."""
        mismatch = self._mismatch(run_id, notebook, steps)
        if mismatch:
            self.error = mismatch

    def _mismatch(self, run_id: str, notebook: str | None, steps: list[str] | None) -> str:
        """What makes the run's states not those of the steps drawn (the notebook as it is now):
        the run was of another notebook, or steps were renamed or removed since; "" if none."""
        if notebook and self._path is not None and not same_file(Path(notebook), Path(self._path)):
            return (
                f"run {run_id} was of notebook {notebook}, not of {self._path}: its states are "
                "drawn on this notebook's steps of the same names"
            )
        drawn = self._steps()
        gone = [s for s in steps or [] if s not in drawn]
        if not gone or not drawn:
            return ""
        were = "step {} of this run is" if len(gone) == 1 else "steps {} of this run are"
        return (
            f"{were.format(', '.join(gone))} not in the notebook now (renamed or removed since "
            f"run {run_id}): their states are not drawn"
        )

    def cancel(self) -> None:
        """Stop the followed run (local: its processes; cluster: asks the cluster)."""
        handle = self._handle
        if handle is None:
            raise KfpJupyterError(self._nothing_to_cancel())
        handle.cancel()
        self.status = f"cancelling run {handle.run_id}"

    def _nothing_to_cancel(self) -> str:
        """Why Cancel cannot stop the run shown: none, one that ended, or one re-attached from
        the store, which the process that started it runs (only it can stop its steps)."""
        run_id, state = self.run.get("id"), self.run.get("state")
        if not run_id:
            return "there is no run of this widget to cancel"
        if state in TERMINAL_RUN:
            return f"run {run_id} has ended ({state}): there is nothing to cancel"
        runner = _runner_of(self._history_for(), str(run_id))
        return (
            f"run {run_id} belongs to another process{runner}, not to this kernel: stop it "
            "there (Ctrl-C where `kfp-jupyter run` runs, or Cancel in the widget of the "
            "notebook that started it)"
        )

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the followed run ended and its last state was drawn; return `run`.

        A button's action still starting (busy) is waited for first: its run is the one meant.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            if self.busy:
                time.sleep(0.05)
                continue
            done = self._follower.done
            ended = not self._follower.started or done.wait(0.1 if left is None else min(0.1, left))
            if ended and done is self._follower.done and not self.busy:
                break
        return dict(self.run)

    # --- the front end's messages ------------------------------------------------------------

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        action = content.get("action")
        if isinstance(content.get("params"), dict):
            self.params = {**self.params, **content["params"]}
        if isinstance(content.get("target"), dict) and content["target"] != self.target:
            self.target = {**self.target, **content["target"]}
        if action == "cancel":
            self._guard(self.cancel)
            return
        if action == "load_inputs":
            self._guard(lambda: self.load_inputs(str(content.get("step")), content.get("run")))
            return
        if action not in _BUSY_WORDS:
            return
        with self._lock:
            if self.busy:
                return
            self.busy = _BUSY_WORDS[action]
        self.error = ""
        threading.Thread(
            target=self._act, args=(action,), name=f"kfpj-widget-{action}", daemon=True
        ).start()

    def load_inputs(self, step: str, run: str | None = None) -> list[str]:
        """Put what `step` received in `run` (default: the newest run that reached it) into
        this kernel's namespace, as `%kfp inputs` does; returns the names set."""
        from IPython import get_ipython

        from ..engine.inputs import load_step_inputs

        shell = get_ipython()
        if shell is None:
            raise KfpJupyterError("loading a step's inputs needs an IPython kernel")
        run_id, loaded = load_step_inputs(self._path, step, run, self.store)
        shell.user_ns.update({i.name: i.value for i in loaded})
        self.status = f"loaded the inputs of {step!r} (run {run_id}) into the kernel: " + (
            "; ".join(i.summary() for i in loaded) or "it received none"
        )
        return [i.name for i in loaded]

    def _act(self, action: str) -> None:
        try:
            self._guard(
                {"compile": self.compile, "run": self.run_local, "submit": self.submit}[action]
            )
        finally:
            self.busy = ""

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except Exception as e:
            self.error = describe_error(e)
            if not isinstance(e, KfpJupyterError):
                self.log.debug("kfp-jupyter widget action failed:\n%s", traceback.format_exc())

    def _on_target(self, change: dict[str, Any]) -> None:
        if self._quiet_target:
            return
        old, new = change["old"] or {}, change["new"] or {}
        merged = _completed_target(old, new)
        if merged != new:
            self.target = merged
            return
        settings.save_target(new)

    # --- progress and details ------------------------------------------------------------------

    def _report(self, states: dict[str, dict[str, Any]], run: dict[str, Any]) -> None:
        changed_selected = self.selected and states.get(self.selected) != self.states.get(
            self.selected
        )
        self.states = states
        self.run = run
        if changed_selected or (
            self.selected and run.get("state") != self.details.get("run_state")
        ):
            self._refresh_details()

    def _on_selected(self, _change: dict[str, Any]) -> None:
        self._refresh_details()

    def _history_for(self) -> Any:
        store = self.store
        root = getattr(store, "local_root", None)
        if root is None:
            if not self.run.get("id") or self.run.get("engine", "local") != "local":
                return None
            from ..engine.store import open_store

            try:
                store = open_store(store, create=False)
            except KfpJupyterError:
                return None
            root = store.local_root
        if self._history is None or self._history_root != Path(root):
            from ..engine.history import History

            self._history = History(Path(root) / "history.db")
            self._history_root = Path(root)
        return self._history

    def _refresh_details(self) -> None:
        name = self.selected
        step = next((s for s in self.graph.get("steps", []) if s.get("name") == name), None)
        if not name or step is None:
            self.details = {}
            return
        try:
            history = self._history_for()
            d = step_details(
                step,
                state=self.states.get(name),
                run=self.run,
                params=self.params,
                extra=self._follower.task_extra.get(name),
                history=history,
            )
        except Exception as e:
            d = {"step": name, "note": describe_error(e)}
        d["run_state"] = self.run.get("state")
        self.details = d


def _form_values(
    form: dict[str, Any], before: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    """The parameter form for the notebook's `defaults` as they are now: a value the user changed
    from the default it had (`before`) is kept; every other one is the default now, so an edit of
    the notebook's parameters cell counts as it does at the command line."""
    return {
        k: form[k] if k in form and (k not in before or form[k] != before[k]) else v
        for k, v in defaults.items()
    }


def _run_of(handle: Any) -> tuple[str | None, list[str] | None]:
    """(the run's notebook, its steps) as far as a handle says: a cluster run knows its steps,
    a local one its notebook and steps through its summary; None where it says nothing."""
    steps = getattr(handle, "steps", None)
    if steps is not None:
        return None, [str(s) for s in steps]
    try:
        summary = handle.summary()
    except Exception:  # a run of the history being written: leave the drawing unexplained
        return None, None
    return summary.get("notebook"), [str(t["name"]) for t in summary.get("tasks") or []]


def _runner_of(history: Any, run_id: str) -> str:
    """Where the process that runs a local run is, as the history has it: " (pid P on HOST)",
    or "" when unknown."""
    try:
        runner = history.get_run(run_id, repair=False).runner if history is not None else None
    except Exception:  # the store went away: the message names no process
        return ""
    return f" (pid {runner.pid} on {runner.host})" if runner is not None else ""


def _completed_target(old: Mapping[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` with what the user's choice implies: a newly chosen saved target fills in its fields;
    a switch to another engine brings back what was used with that engine last time (and leaves
    a saved target of another engine)."""
    name = str(new.get("target") or "")
    if name and name != old.get("target"):
        return {**new, **_saved_fields(name)}
    if old.get("engine") and new.get("engine") != old.get("engine"):
        if name and _saved_fields(name).get("engine") == new.get("engine"):
            return new
        fields = settings.remembered(str(new.get("engine")))
        return {**new, "target": "", **{k: v for k, v in fields.items() if v}}
    return new


def _targets_api() -> Any:
    """kfp_jupyter.cluster.targets, or None where submitting is not part of the installation."""
    try:
        from ..cluster import targets
    except ImportError:
        return None
    return targets


def _saved_names() -> list[str]:
    api = _targets_api()
    try:
        return list(api.load_targets()) if api is not None else []
    except KfpJupyterError:
        return []


def _last_target() -> str:
    api = _targets_api()
    return str(api.last_target() or "") if api is not None else ""


def _saved_fields(name: str) -> dict[str, str]:
    """The form's fields of the saved target `name` ({} if there is no such target)."""
    api = _targets_api()
    if api is None or not name:
        return {}
    try:
        t = api.get_target(name)
    except KfpJupyterError:
        return {}
    keys = ("host", "namespace", "experiment", "token_env")
    return {"target": t.name, "engine": t.engine, **{k: getattr(t, k) or "" for k in keys}}


def show(
    source: Pipeline | str | os.PathLike[str] | None = None,
    *,
    run: Any = None,
    store: Any = None,
) -> PipelineWidget:
    """The widget for a pipeline or notebook (default: the notebook of this kernel).

    run: a handle to follow (from `run_local` / `submit`), or a run id to re-attach to.
    """
    if source is None:
        from .notebook_path import find_notebook

        source = find_notebook(_user_ns())
    w = PipelineWidget(source, store=store)
    if isinstance(run, str):
        w.attach(run, store=store)
    elif run is not None:
        w.follow(run)
    return w


def _user_ns() -> dict[str, Any]:
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    ip = get_ipython()
    return dict(ip.user_ns) if ip is not None else {}
