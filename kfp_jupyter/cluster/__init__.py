"""Send a notebook's pipeline to a cluster: Kubeflow Pipelines (kfp.Client) or Argo Workflows (the
Kubernetes API), and follow it with the same events as a local run. A pipeline compiled already
(KFP IR YAML, Argo Workflow YAML, KFP DSL script: compiled.py) is submitted the same way.

`submit(...)` checks everything it can on this machine first (the notebook, the parameter names
and values, the schedule, where to connect and with which credentials) and compiles the pipeline,
so that an invalid submission sends nothing. Then it creates the run and returns a SubmitHandle.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..model import Pipeline
from .arguments import resolve_arguments
from .attach import UnknownRun, attach
from .compiled import CompiledPipeline, Kind, kind_of, load_compiled, resolve_compiled_arguments
from .errors import (
    AuthError,
    ClusterError,
    ConfigError,
    FollowError,
    InvalidSubmission,
    NotFoundError,
    RejectedError,
    RequestTimeout,
    UnexpectedAnswer,
    UnreachableError,
)
from .handle import SubmitHandle, SubmitInfo
from .schedule import check_cron
from .targets import ENGINES, Target, get_target, load_targets, remember_last, with_target

__all__ = [
    "ENGINES",
    "AuthError",
    "ClusterError",
    "CompiledPipeline",
    "ConfigError",
    "FollowError",
    "InvalidSubmission",
    "NotFoundError",
    "RejectedError",
    "RequestTimeout",
    "SubmitHandle",
    "SubmitInfo",
    "Target",
    "UnexpectedAnswer",
    "UnknownRun",
    "UnreachableError",
    "attach",
    "get_target",
    "load_targets",
    "submit",
    "submittable",
]


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
    compiled: CompiledPipeline | None = None
    kind: Kind = "notebook"
    if not isinstance(pipeline_or_path, Pipeline):
        path = Path(os.fspath(pipeline_or_path))
        kind = kind_of(path)
        if kind == "argo" and engine is None and not target:
            engine = "argo"  # a Workflow runs on Argo only: no need to say so
    engine, given = with_target(
        target,
        engine,
        {
            "host": host,
            "namespace": namespace,
            "experiment": experiment,
            "ui_url": ui_url,
            "token_env": token_env,
        },
    )
    host, namespace, experiment = given["host"], given["namespace"], given["experiment"]
    ui_url, token_env = given["ui_url"], given["token_env"]
    if engine not in ENGINES:
        raise InvalidSubmission(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if isinstance(pipeline_or_path, Pipeline):
        pipeline: Pipeline | CompiledPipeline = pipeline_or_path
    elif kind == "notebook":
        from ..loader import load_notebook

        pipeline = load_notebook(path)
    else:
        _check_engine(path, kind, engine, target)
        if kfp_runtime is not None:
            raise InvalidSubmission(
                f"--kfp-runtime sets what a notebook's steps install; {path} is already compiled",
                fix="drop --kfp-runtime, or compile the notebook again with "
                "`kfp-jupyter compile -t kfp --kfp-runtime VERSION`",
            )
        pipeline = compiled = load_compiled(path, kind)
    if compiled is not None:
        arguments = resolve_compiled_arguments(compiled, params)
    else:
        assert isinstance(pipeline, Pipeline)
        arguments = resolve_arguments(pipeline, params)
    cron = check_cron(schedule, engine) if schedule is not None else None
    if engine == "kfp":
        from .config import resolve_kfp, resolve_kube
        from .kfp_backend import submit_kfp
        from .steplogs import PodLogs

        kfp_conn = resolve_kfp(
            host,
            namespace=namespace,
            token=token,
            token_env=token_env,
            ui_url=ui_url,
            environ=environ,
            request_timeout=request_timeout,
        )
        if isinstance(pipeline, Pipeline):
            ir_text = pipeline.compile("kfp", kfp_runtime=kfp_runtime)
        else:
            ir_text = pipeline.text  # uploaded as it is: the server gets the file's spec
        # KFP's API serves no logs: a failed step's log comes from the Kubernetes API, with the
        # kubeconfig (or the pod's service account), when there is one
        logs = PodLogs(
            lambda: resolve_kube(
                None,
                kubeconfig=kubeconfig,
                context=context,
                environ=environ,
                request_timeout=request_timeout,
            )
        )
        handle = submit_kfp(
            pipeline,
            ir_text,
            kfp_conn,
            arguments=arguments,
            experiment=experiment,
            run_name=run_name,
            schedule=cron,
            poll_interval=poll_interval,
            logs=logs,
        )
        return _remembered(handle, target)
    from .argo_backend import submit_argo, workflow_for, workflow_from_file
    from .config import resolve_kube

    kube = resolve_kube(
        host,
        namespace=namespace,
        token=token,
        token_env=token_env,
        kubeconfig=kubeconfig,
        context=context,
        ui_url=ui_url,
        environ=environ,
        request_timeout=request_timeout,
    )
    if isinstance(pipeline, Pipeline):
        workflow = workflow_for(
            pipeline,
            arguments,
            namespace=kube.namespace,
            run_name=run_name,
            experiment=experiment or pipeline.experiment,
        )
    else:
        workflow = workflow_from_file(
            pipeline,
            arguments,
            namespace=kube.namespace,
            run_name=run_name,
            experiment=experiment,
        )
    handle = submit_argo(
        pipeline,
        workflow,
        kube,
        schedule=cron,
        experiment=experiment or pipeline.experiment,
        arguments=arguments,
        watch_seconds=max(1, round(poll_interval)) if poll_interval else None,
    )
    return _remembered(handle, target)


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
