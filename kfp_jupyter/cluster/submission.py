"""`submit`: check everything on this machine, compile, create the run, return its handle.

Kept apart from the package's `__init__` so that importing `kfp_jupyter.cluster` (as every front
end does, for its names and errors) does not load the clients and the compilers; they load on the
first submit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..compile import compile_pipeline
from ..model import Pipeline
from .arguments import resolve_arguments
from .compiled import CompiledPipeline, Kind, kind_of, load_compiled, resolve_compiled_arguments
from .config import ConnectionSettings, kfp_connection, kube_connection
from .errors import (
    InvalidSubmission,
)
from .schedule import check_cron
from .steplogs import PodLogs
from .targets import check_engine, remember_last, with_target

if TYPE_CHECKING:
    from .handle import SubmitHandle


def submittable(path: Path, pin_packages: bool | None = None) -> Pipeline | Path:
    """What `submit` is given for the file at `path`, from any front end: a notebook's pipeline
    (loaded first, so that its warnings can be shown before anything is sent), or the compiled
    file itself. `pin_packages` (--no-pin) only means something for a notebook."""
    if kind_of(path) == "notebook":
        from ..loader import load_notebook

        return load_notebook(path, pin_packages=pin_packages)
    if pin_packages is not None:
        raise InvalidSubmission(
            f"--no-pin applies when a notebook is compiled; {path} is compiled already",
            fix="drop --no-pin",
        )
    return path


def submit(
    pipeline_or_path: Pipeline | str | os.PathLike[str],
    engine: str | None = None,
    *,
    target: str | None = None,
    host: str | None = None,
    namespace: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    params: Mapping[str, object] | None = None,
    schedule: str | None = None,
    token: str | None = None,
    token_env: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    ui_url: str | None = None,
    poll_interval: float | None = None,
    environ: Mapping[str, str] | None = None,
    kfp_runtime: str | None = None,
    request_timeout: float | None = None,
) -> SubmitHandle:
    """Submit a pipeline (or the file at a path) to a cluster and return its handle.

    pipeline_or_path: a Pipeline, or the path of a notebook, a KFP IR YAML (`compile -t kfp`,
      kfp's compiler), an Argo Workflow YAML (engine argo; inferred when neither engine nor
      target is given), or a KFP DSL script (compiled by kfp in another process). The kind is
      read from the content; a file of another engine's kind raises InvalidSubmission.

    engine: "kfp" (Kubeflow Pipelines 2.x) or "argo" (Argo Workflows through the Kubernetes API);
      default: the target's, else "kfp".
    target: the name of a saved target (`kfp-jupyter targets add`): its engine, host, namespace,
      experiment, UI address and token variable are used where the call gives none; the
      notebook's experiment only when neither does. Remembered as the target used last.
    host: the KFP API address (kfp) or the Kubernetes API server (argo, overriding kubeconfig);
      unset, it is resolved as kfp and kubectl do (see kfp_jupyter/cluster/config.py).
    params: parameter values, typed or as text; unknown names and bad values raise
      InvalidSubmission before anything is sent. For a compiled file they are checked against
      the file's own parameters (KFP IR types; Argo's are text, and its `enum` when it has one).
    schedule: a cron expression; creates a recurring run (KFP: 6 fields with seconds first)
      or a CronWorkflow (Argo: 5 fields) instead of a run.
    token / token_env: a bearer token, or the name of the environment variable holding it.
    poll_interval: seconds between reads of a KFP run while following it (default 5); for Argo,
      how long one watch request stays open.
    kfp_runtime: kfp: the kfp runtime each Python step installs (default: the notebook's pin).
    request_timeout: seconds each request to the server may take in all, retries included
      (default 30): a host that accepts the connection and never answers, or answers a byte at a
      time, raises RequestTimeout instead of hanging.

    Raises ClusterError subclasses (ConfigError, InvalidSubmission: nothing was sent;
    UnreachableError, RequestTimeout, AuthError, RejectedError, NotFoundError, UnexpectedAnswer:
    what the server or the network did).
    """
    kind = _kind(pipeline_or_path)
    if kind == "argo" and engine is None and not target:
        engine = "argo"  # a Workflow runs on Argo only: no need to say so
    settings = {
        "host": host,
        "namespace": namespace,
        "experiment": experiment,
        "ui_url": ui_url,
        "token_env": token_env,
    }
    engine, given = with_target(target, engine, settings)
    check_engine(engine)
    pipeline = _load(pipeline_or_path, kind, engine, target, kfp_runtime)
    arguments = _arguments(pipeline, params, engine)
    cron = check_cron(schedule, engine) if schedule is not None else None
    connect = ConnectionSettings(
        host=given["host"],
        namespace=given["namespace"],
        token=token,
        token_env=given["token_env"],
        kubeconfig=kubeconfig,
        context=context,
        ui_url=given["ui_url"],
        environ=environ,
        request_timeout=request_timeout,
    )
    run = _Run(arguments, cron, given["experiment"], run_name, poll_interval)
    if engine == "kfp":
        handle = _to_kfp(pipeline, connect, run, kfp_runtime)
    else:
        handle = _to_argo(pipeline, connect, run)
    handle.connection = connect
    return _remembered(handle, target)


@dataclass(frozen=True)
class _Run:
    """What the run is to be, checked already: its values, schedule, experiment and name."""

    arguments: dict[str, object]
    cron: str | None
    experiment: str | None
    name: str | None
    poll_interval: float | None


def _kind(given: Pipeline | str | os.PathLike[str]) -> Kind:
    """A notebook's pipeline, or what the file is (read from its content)."""
    return "notebook" if isinstance(given, Pipeline) else kind_of(Path(os.fspath(given)))


def _arguments(
    pipeline: Pipeline | CompiledPipeline, params: Mapping[str, object] | None, engine: str
) -> dict[str, object]:
    """The run's parameter values, checked against the notebook's parameters, or against the
    compiled file's own, and against what the engine can hold."""
    if isinstance(pipeline, CompiledPipeline):
        values = resolve_compiled_arguments(pipeline, params)
    else:
        values = resolve_arguments(pipeline, params)
    if engine == "kfp":
        _refuse_unkept_values(values, params)
    return values


def _refuse_unkept_values(
    arguments: Mapping[str, object], given: Mapping[str, object] | None
) -> None:
    """A value given for a KFP run that KFP would change: its run's parameters are protobuf
    Values (doubles), as its IR's are, so an int beyond 2**53 in size may reach the steps as
    another int while a local run and Argo keep it. The defaults are not for here: compiling
    refuses a notebook's, at their line, and a compiled file's are what its server runs."""
    from ..compile.kfp_shared import unkept_number

    problems: dict[str, str] = {}
    for name in given or {}:
        found = unkept_number(arguments.get(name), f"parameter {name!r}")
        if found is not None:
            problems[name] = str(found)
    if problems:
        raise InvalidSubmission(
            "\n".join(problems.values()),
            fix="submit the notebook with --engine argo, which keeps it; or make the parameter "
            "a str in the notebook's parameters cell and convert it with int() in the step, so "
            "that KFP passes it on as text",
            fields=problems,
        )


def _load(
    given: Pipeline | str | os.PathLike[str],
    kind: Kind,
    engine: str,
    target: str | None,
    kfp_runtime: str | None,
) -> Pipeline | CompiledPipeline:
    """The pipeline given, the notebook's, or the compiled file when it is for `engine`."""
    if isinstance(given, Pipeline):
        return given
    path = Path(os.fspath(given))
    if kind == "notebook":
        from ..loader import load_notebook

        return load_notebook(path)
    _check_engine(path, kind, engine, target)
    if kfp_runtime is not None:
        raise InvalidSubmission(
            f"--kfp-runtime sets what a notebook's steps install; {path} is already compiled",
            fix="drop --kfp-runtime, or compile the notebook again with "
            "`kfp-jupyter compile -t kfp --kfp-runtime VERSION`",
        )
    return load_compiled(path, kind)


def _to_kfp(
    pipeline: Pipeline | CompiledPipeline,
    connect: ConnectionSettings,
    run: _Run,
    kfp_runtime: str | None,
) -> SubmitHandle:
    from .kfp_backend import submit_kfp

    conn = kfp_connection(connect)
    if isinstance(pipeline, Pipeline):
        ir_text = compile_pipeline(pipeline, "kfp", kfp_runtime=kfp_runtime)
    else:
        ir_text = pipeline.text  # uploaded as it is: the server gets the file's spec
    # KFP's API serves no logs: a failed step's log comes from the Kubernetes API, with the
    # kubeconfig (or the pod's service account), when there is one
    return submit_kfp(
        pipeline,
        ir_text,
        conn,
        arguments=run.arguments,
        experiment=run.experiment,
        run_name=run.name,
        schedule=run.cron,
        poll_interval=run.poll_interval,
        logs=PodLogs(connect.pod_logs),
    )


def _to_argo(
    pipeline: Pipeline | CompiledPipeline, connect: ConnectionSettings, run: _Run
) -> SubmitHandle:
    from .argo_backend import submit_argo, workflow_for

    kube = kube_connection(connect)
    experiment = run.experiment or pipeline.experiment
    workflow = workflow_for(
        pipeline,
        run.arguments,
        namespace=kube.namespace,
        run_name=run.name,
        experiment=experiment,
    )
    return submit_argo(
        pipeline,
        workflow,
        kube,
        schedule=run.cron,
        experiment=experiment,
        arguments=run.arguments,
        watch_seconds=max(1, round(run.poll_interval)) if run.poll_interval else None,
    )


def _check_engine(path: Path, kind: Kind, engine: str, target: str | None) -> None:
    """A compiled pipeline runs on the engine it was compiled for only: say which, before a
    KFP server is sent a Workflow (or Argo an IR) and answers with something obscure."""
    via = f" (the engine of the target {target!r})" if target else ""
    if kind == "argo" and engine != "argo":
        raise InvalidSubmission(
            f"{path}: this is an Argo Workflow; submit it with --engine argo, not {engine}{via}",
            fix="submit the notebook itself to send it to Kubeflow Pipelines",
        )
    if kind in ("kfp", "dsl") and engine != "kfp":
        what = "a KFP DSL script" if kind == "dsl" else "a KFP pipeline (IR YAML)"
        raise InvalidSubmission(
            f"{path}: this is {what}; submit it with --engine kfp, not {engine}{via}",
            fix="Argo runs the YAML of `kfp-jupyter compile -t argo`, or the notebook itself "
            "with --engine argo",
        )


def _remembered(handle: SubmitHandle, target: str | None) -> SubmitHandle:
    """Remember the target a run went to, so the widget opens with the target used last."""
    if target:
        remember_last(target)
    return handle
