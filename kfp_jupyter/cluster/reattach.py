"""Follow a run that already exists on a cluster, by its id: a KFP run or an Argo Workflow.

A new kernel (or another machine) has no SubmitHandle of the run it started earlier, nor
necessarily the notebook. What the steps are called is read back from the run itself: each
Python step's program carries a `# --- step NAME` section (packaging/program.py), in the KFP
pipeline spec the run refers to and in the Workflow's templates. A step without one (a component,
a resource, a pipeline not made by kfp-jupyter) keeps the server's task name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from ..compile.kfp_ir.platform import CREATE_PVC_IMAGE
from .config import (
    ConnectionSettings,
    KfpConnection,
    KubeConnection,
    kfp_connection,
    kube_connection,
)
from .errors import ClusterError, InvalidSubmission, NotFoundError
from .handle import SubmitHandle, SubmitInfo
from .kfp_client import call, make_client
from .kfp_follow import DEFAULT_POLL, KfpFollower
from .steplogs import KFP_NAMESPACE, PodLogs
from .targets import check_engine, with_target

#: the section title each step program puts before the notebook's code of the step
_STEP_SECTION = re.compile(r"^[ \t]*# --- step (.+?)[ \t]*$", re.MULTILINE)
#: pages of pipeline versions read at most to find the one a KFP run refers to
_MAX_VERSION_PAGES = 20


class UnknownRun(NotFoundError):
    """No run with that id (KFP) or no Workflow with that name in the namespace (Argo)."""


def attach(
    run_id: str,
    engine: str | None = None,
    *,
    target: str | None = None,
    host: str | None = None,
    namespace: str | None = None,
    token: str | None = None,
    token_env: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    ui_url: str | None = None,
    poll_interval: float | None = None,
    environ: Mapping[str, str] | None = None,
    request_timeout: float | None = None,
) -> SubmitHandle:
    """A SubmitHandle following an existing run: a KFP run id, or an Argo Workflow's name.

    Connection settings resolve as for `submit`, a saved `target` included (its engine, host,
    namespace, UI address and token variable, each overridden by the keyword given). The run is
    read once here, so an unknown id fails at once (UnknownRun) rather than in the follower; a
    run that already ended gives its final events on the first read.
    """
    run_id = (run_id or "").strip()
    if not run_id:
        raise InvalidSubmission("give the id of the run to follow")
    given = {"host": host, "namespace": namespace, "ui_url": ui_url, "token_env": token_env}
    engine, given = with_target(target, engine, given)
    check_engine(engine)
    settings = ConnectionSettings(
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
    if engine == "kfp":
        conn = kfp_connection(settings)
        logs = PodLogs(settings.pod_logs, namespace=conn.namespace or KFP_NAMESPACE)
        return _attach_kfp(run_id, conn, poll_interval, logs)
    kube = kube_connection(settings)
    watch = max(1, round(poll_interval)) if poll_interval else None
    return _attach_argo(run_id, kube, watch)


def _namespace_missing(e: NotFoundError) -> bool:
    """Whether a 404 was about the namespace (said as such) rather than the run."""
    return bool(e.fix) and "--namespace" in str(e.fix)


def step_name(program: str, fallback: str) -> str:
    """The notebook's name of the step whose program text this is, else `fallback`."""
    found = _STEP_SECTION.search(program)
    return found.group(1) if found else fallback


def _ordered(names: list[str], after: Mapping[str, Iterable[str]]) -> list[str]:
    """`names` with each after the ones it depends on, otherwise in the given order."""
    out: list[str] = []
    left = list(names)
    while left:
        ready = [n for n in left if all(d in out or d not in names for d in after.get(n, ()))]
        pick = ready[0] if ready else left[0]  # a cycle cannot come from a compiler: keep going
        out.append(pick)
        left.remove(pick)
    return out


# --- Kubeflow Pipelines


def kfp_steps(spec: Mapping[str, Any]) -> dict[str, str]:
    """KFP task display name -> step name, in the order the steps run, from a pipeline spec."""
    tasks = (spec.get("root") or {}).get("dag", {}).get("tasks", {}) or {}
    components = spec.get("components") or {}
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    shown: dict[str, tuple[str, str]] = {}  # task key -> (display name, step name)
    after: dict[str, list[str]] = {}
    for key, task in tasks.items():
        task = task or {}
        display = str((task.get("taskInfo") or {}).get("name") or key)
        component = components.get((task.get("componentRef") or {}).get("name", "")) or {}
        container = (executors.get(component.get("executorLabel", "")) or {}).get("container") or {}
        if container.get("image") == CREATE_PVC_IMAGE:  # a volume made for the run: no step
            continue
        program = "\n".join(
            str(part) for part in [*container.get("command", []), *container.get("args", [])]
        )
        shown[key] = (display, step_name(program, display))
        after[key] = [str(d) for d in task.get("dependentTasks") or []]
    return dict(shown[k] for k in _ordered(list(shown), after))


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else {}


def _pipeline_part(served: Any) -> dict[str, Any]:
    """KFP serves the pipeline spec alone, or {pipeline_spec, platform_spec} (see
    kfp_backend.served_spec)."""
    spec = _as_dict(served)
    inner = spec.get("pipeline_spec")
    return inner if isinstance(inner, dict) else spec


def _run_spec(client: Any, conn: KfpConnection, run: Any) -> dict[str, Any] | None:
    """The pipeline spec a run ran: its own, or that of the pipeline version it refers to."""
    spec = _pipeline_part(getattr(run, "pipeline_spec", None))
    if spec:
        return spec
    ref = getattr(run, "pipeline_version_reference", None)
    pid = getattr(ref, "pipeline_id", None)
    vid = getattr(ref, "pipeline_version_id", None)
    if not pid or not vid:
        return None
    token: str | None = None
    for _ in range(_MAX_VERSION_PAGES):
        kwargs: dict[str, Any] = {"pipeline_id": pid, "page_size": 100}
        if token:
            kwargs["page_token"] = token
        try:
            page = call(
                conn,
                "reading the run's pipeline",
                functools.partial(
                    client.pipelines.pipeline_service_list_pipeline_versions,
                    _request_timeout=conn.timeouts,
                    **kwargs,
                ),
                api=client,
            )
        except ClusterError:
            return None  # deleted, or not ours to read: follow with the server's task names
        for version in page.pipeline_versions or []:
            if version.pipeline_version_id == vid:
                return _pipeline_part(version.pipeline_spec) or None
        token = page.next_page_token or None
        if not token:
            return None
    return None


def _task_names_seen(run: Any) -> dict[str, str]:
    """Without the pipeline spec: the run's own task names. KFP lists the root DAG (no parent),
    under it each task and its driver (`NAME-driver`), and under each task its executor pod;
    the tasks are the root's children that are not drivers."""
    details = getattr(getattr(run, "run_details", None), "task_details", None) or []
    roots = {str(td.task_id) for td in details if not td.parent_task_id}
    out: dict[str, str] = {}
    for td in details:
        name = str(td.display_name or "")
        if name and str(td.parent_task_id or "") in roots and not name.endswith("-driver"):
            out[name] = name
    return out


class _DiscoveringFollower(KfpFollower):
    """Without the spec, tasks are known only once the server shows them: each new one becomes
    a step of the handle, its first event being the state it is first seen in."""

    handle: SubmitHandle | None = None

    def _get(self) -> Any:
        run = super()._get()
        for name in _task_names_seen(run):
            if name not in self.tasks_by_name:
                self.tasks_by_name[name] = name
                if self.handle is not None:
                    self.handle.steps.append(name)
                    self.handle._tracker.steps.append(name)
        return run


def _attach_kfp(
    run_id: str, conn: KfpConnection, poll_interval: float | None, logs: PodLogs | None = None
) -> SubmitHandle:
    client = make_client(conn)
    try:
        run = call(
            conn,
            "reading the run",
            lambda: client.runs.run_service_get_run(run_id=run_id, _request_timeout=conn.timeouts),
            api=client,
        )
    except NotFoundError as e:
        if _namespace_missing(e):
            raise
        raise UnknownRun(
            f"the KFP server at {conn.host} has no run with id '{run_id}'",
            fix="copy the run id from the run's page in the KFP UI (runs/details/RUN_ID) or from "
            "`kfp-jupyter submit --json`; check --host",
        ) from None
    spec = _run_spec(client, conn, run)
    names = kfp_steps(spec) if spec else {}
    discover = not names
    if discover:
        names = _task_names_seen(run)
    pipeline = str(((spec or {}).get("pipelineInfo") or {}).get("name") or "")
    runtime = getattr(run, "runtime_config", None)
    info = SubmitInfo(
        engine="kfp",
        kind="run",
        run_id=str(run.run_id or run_id),
        name=str(run.display_name or run_id),
        url=f"{conn.ui_url}/#/runs/details/{run.run_id or run_id}",
        host=conn.host,
        namespace=conn.namespace,
        pipeline=pipeline,
        experiment_id=str(run.experiment_id) if run.experiment_id else None,
        pipeline_id=getattr(run.pipeline_version_reference, "pipeline_id", None),
        version_id=getattr(run.pipeline_version_reference, "pipeline_version_id", None),
        parameters=dict(getattr(runtime, "parameters", None) or {}),
    )
    info.notes.append(f"following run '{info.name}' ({info.run_id})")
    interval = poll_interval or DEFAULT_POLL
    if not discover:
        # the spec carries each component's source: a failed step's traceback maps to cells
        ir_text = yaml.safe_dump(spec) if spec else None
        follower = KfpFollower(
            client, conn, info.run_id, names, interval, ir_text=ir_text, logs=logs
        )
        return SubmitHandle(info, list(dict.fromkeys(names.values())), follower)
    found = _DiscoveringFollower(client, conn, info.run_id, names, interval, logs=logs)
    handle = SubmitHandle(info, list(names.values()), found)
    found.handle = handle
    return handle


# --- Argo Workflows


def argo_steps(obj: Mapping[str, Any]) -> tuple[dict[str, str], set[str]]:
    """(task name -> step name in the order the steps run, metric names) from a Workflow."""
    from ..compile.argo import METRICS_DIR

    spec = obj.get("spec") or {}
    if not spec.get("templates"):
        spec = (obj.get("status") or {}).get("storedWorkflowTemplateSpec") or spec
    templates = {str(t.get("name")): t for t in spec.get("templates") or []}
    entry = templates.get(str(spec.get("entrypoint") or "")) or {}
    tasks = (entry.get("dag") or {}).get("tasks") or []
    if not tasks:  # not a DAG: every other template is a step
        tasks = [{"name": n, "template": n} for n in templates if n != entry.get("name")]
    by_name = {str(t.get("name")): t for t in tasks}
    after = {n: [str(d) for d in t.get("dependencies") or []] for n, t in by_name.items()}
    steps: dict[str, str] = {}
    metrics: set[str] = set()
    for name in _ordered(list(by_name), after):
        template = templates.get(str(by_name[name].get("template") or name)) or {}
        script = template.get("script") or {}
        program = str(script.get("source") or "")
        steps[name] = step_name(program, name)
        for p in (template.get("outputs") or {}).get("parameters") or []:
            path = str((p.get("valueFrom") or {}).get("path") or "")
            if path.startswith(METRICS_DIR + "/"):
                metrics.add(str(p.get("name")))
    return steps, metrics


def _attach_argo(name: str, kube: KubeConnection, watch_seconds: int | None) -> SubmitHandle:
    # Argo's modules (and the compiler they use) load only when a workflow is followed
    from .argo_backend import DEFAULT_WATCH_SECONDS, ArgoFollower
    from .argo_client import custom_objects

    api = custom_objects(kube)
    obj = _read_workflow(api, kube, name)
    steps, metrics = argo_steps(obj)
    ns = kube.namespace
    info = _workflow_info(obj, kube, name)
    info.notes.append(f"following workflow '{name}' in namespace '{ns}'")
    follower = ArgoFollower(
        api, kube, ns, name, steps, metrics, watch_seconds or DEFAULT_WATCH_SECONDS
    )
    follower.last = obj
    return SubmitHandle(info, list(dict.fromkeys(steps.values())), follower)


def _read_workflow(api: Any, kube: KubeConnection, name: str) -> dict[str, Any]:
    """The Workflow named `name`, or UnknownRun saying where it was looked for."""
    from .argo_client import GROUP, VERSION, WORKFLOWS, call

    ns = kube.namespace
    try:
        obj: dict[str, Any] = call(
            kube,
            "reading the workflow",
            ns,
            lambda: api.get_namespaced_custom_object(
                GROUP, VERSION, ns, WORKFLOWS, name, _request_timeout=kube.timeouts
            ),
            api=api,
        )
    except NotFoundError as e:
        if _namespace_missing(e):
            raise
        raise UnknownRun(
            f"there is no workflow named '{name}' in namespace '{ns}' "
            f"(namespace from {kube.namespace_source})",
            fix=f"list them with `kubectl -n {ns} get workflows`, or give the namespace it is in "
            "with --namespace",
        ) from None
    return obj


def _workflow_info(obj: dict[str, Any], kube: KubeConnection, name: str) -> SubmitInfo:
    """What the Workflow says of itself: its pipeline and experiment (our annotations), the
    parameter values it runs with."""
    from ..compile.argo import LABEL_PIPELINE
    from .argo_backend import ANNOTATION_EXPERIMENT
    from .argo_client import WORKFLOWS, object_url

    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    arguments = ((obj.get("spec") or {}).get("arguments") or {}).get("parameters") or []
    return SubmitInfo(
        engine="argo",
        kind="run",
        run_id=name,
        name=name,
        url=object_url(kube, WORKFLOWS, kube.namespace, name),
        host=kube.host,
        namespace=kube.namespace,
        pipeline=str(annotations.get(LABEL_PIPELINE) or name),
        experiment=annotations.get(ANNOTATION_EXPERIMENT),
        parameters={str(p.get("name")): p.get("value") for p in arguments},
    )
