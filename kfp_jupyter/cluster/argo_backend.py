"""Argo Workflows: create the compiled Workflow through the Kubernetes API and follow its
status.nodes with a watch; all through the official `kubernetes` client (CustomObjectsApi).

The Workflow is exactly what `kfp-jupyter compile -t argo` writes (compile/argo.py), with the
run's parameter values, the namespace and, with --run-name, the `generateName` prefix filled in.
Kubernetes picks the final name. With --schedule it becomes a CronWorkflow (Argo 3.6 or newer:
`spec.schedules`), which starts a Workflow at each time of the schedule.

Following uses a watch on the one Workflow (fieldSelector metadata.name), resumed from the last
resourceVersion when the server ends the stream, re-read when that version is too old (410 Gone),
and retried a few times when the connection drops: a long run survives API server restarts.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import gzip
import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import yaml

from ..compile.argo import argo_name, compile_argo, parameter_value
from ..engine import states
from ..model import Parameter, Pipeline
from ._deps import kubernetes
from .compiled import CompiledPipeline
from .config import KubeConnection
from .errors import (
    AuthError,
    ClusterError,
    FollowError,
    InvalidSubmission,
    NotFoundError,
    RejectedError,
    RequestTimeout,
    UnreachableError,
    not_the_api,
    server_reason,
)
from .handle import SubmitHandle, SubmitInfo
from .net import is_network_error, is_timeout, network_reason, quiet, seconds_text, within
from .steplogs import PodLogs, StepFailure, argo_pod_names, fetch_failure
from .tracker import RunSnapshot, TaskSnapshot

T = TypeVar("T")

GROUP, VERSION = "argoproj.io", "v1alpha1"
WORKFLOWS, CRON_WORKFLOWS = "workflows", "cronworkflows"
ANNOTATION_EXPERIMENT = "kfp-jupyter/experiment"
#: seconds a watch request stays open before it is renewed
DEFAULT_WATCH_SECONDS = 60
MAX_FOLLOW_FAILURES = 5


def k8s_name(text: str, limit: int) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:limit].rstrip("-")


# --- the documents


def workflow_for(
    pipeline: Pipeline,
    arguments: dict[str, Any],
    *,
    namespace: str,
    run_name: str | None = None,
    experiment: str | None = None,
) -> dict[str, Any]:
    """The compiled Workflow with this run's parameter values, namespace and name prefix."""
    doc: dict[str, Any] = yaml.safe_load(compile_argo(pipeline))
    types = {p.name: p.type for p in pipeline.parameters}
    values = {
        name: parameter_value(Parameter(name, types[name], value))
        for name, value in arguments.items()
        if name in types
    }
    return _for_run(doc, values, namespace=namespace, run_name=run_name, experiment=experiment)


def workflow_from_file(
    pipeline: CompiledPipeline,
    arguments: dict[str, Any],
    *,
    namespace: str,
    run_name: str | None = None,
    experiment: str | None = None,
) -> dict[str, Any]:
    """A Workflow read from a file (compiled.py), with this run's parameter values (text, as
    Argo's are), namespace, name prefix and experiment; everything else as the file has it."""
    doc = copy.deepcopy(dict(pipeline.document))
    doc.setdefault("metadata", {})
    values = {k: str(v) for k, v in arguments.items()}
    return _for_run(doc, values, namespace=namespace, run_name=run_name, experiment=experiment)


def _for_run(
    doc: dict[str, Any],
    values: dict[str, str],
    *,
    namespace: str,
    run_name: str | None,
    experiment: str | None,
) -> dict[str, Any]:
    for p in doc["spec"].get("arguments", {}).get("parameters", []):
        if p["name"] in values:
            p["value"] = values[p["name"]]
    meta = doc["metadata"]
    meta["namespace"] = namespace
    if run_name:
        prefix = k8s_name(run_name, 57)
        if not prefix:
            raise InvalidSubmission(
                f"--run-name {run_name!r} has no letter or digit to make a Kubernetes name from"
            )
        meta.pop("name", None)
        meta["generateName"] = prefix + "-"
    if experiment:
        meta.setdefault("annotations", {})[ANNOTATION_EXPERIMENT] = experiment
    return doc


def cron_workflow_for(workflow: dict[str, Any], schedule: str) -> dict[str, Any]:
    """A CronWorkflow that starts `workflow` on `schedule` (at most one at a time, like KFP's
    recurring runs with max_concurrency 1)."""
    meta = workflow["metadata"]
    wf_meta = {k: copy.deepcopy(meta[k]) for k in ("labels", "annotations") if meta.get(k)}
    spec: dict[str, Any] = {
        "schedules": [schedule],
        "concurrencyPolicy": "Forbid",
        "workflowSpec": copy.deepcopy(workflow["spec"]),
    }
    if wf_meta:
        spec["workflowMetadata"] = wf_meta
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CronWorkflow",
        "metadata": {
            "generateName": meta.get("generateName") or f"{meta['name']}-",
            "namespace": meta["namespace"],
            **copy.deepcopy(wf_meta),
        },
        "spec": spec,
    }


# --- errors


def _translate(e: BaseException, conn: KubeConnection, action: str, ns: str) -> ClusterError | None:
    """One clear ClusterError for what the API server or the network did; None for a bug."""
    ApiException = kubernetes("client.exceptions").ApiException
    if isinstance(e, ClusterError):
        return e
    if is_timeout(e):
        return RequestTimeout(
            f"the Kubernetes API at {conn.host} did not answer within "
            f"{seconds_text(conn.request_timeout)} s while {action}; check --host (or the "
            "kubeconfig's server), or raise --request-timeout"
        )
    if not isinstance(e, ApiException):
        if not is_network_error(e):
            return None
        return UnreachableError(
            f"cannot reach the Kubernetes API at {conn.describe()} while {action}: "
            f"{network_reason(e)}",
            fix="check the kubeconfig's server address and that the cluster is reachable",
        )
    status = int(e.status or 0)
    body: Any = e.body
    try:
        data = json.loads(body) if isinstance(body, (str, bytes)) and body else {}
    except ValueError:
        data = {}
    reason = server_reason(data or body, fallback=str(e.reason or ""))
    said = f": {reason}" if reason else ""
    details = data.get("details") if isinstance(data, dict) else None
    kind = details.get("kind") if isinstance(details, dict) else None
    if status == 0:
        return UnreachableError(f"cannot reach the Kubernetes API at {conn.describe()}{said}")
    if status == 401:
        return AuthError(
            f"the Kubernetes API at {conn.host} refused the credentials (401 Unauthorized) while "
            f"{action}{said}",
            status=401,
            fix="log in again (an expired token?) or give --token-env VAR (the name of an "
            f"environment variable holding a valid token); credentials came from {conn.source}",
        )
    if status == 403:
        return AuthError(
            f"the Kubernetes API denied permission (403 Forbidden) while {action}{said}",
            status=403,
            fix=f"ask for a Role allowing create/get/watch on workflows.argoproj.io in "
            f"namespace '{ns}', or choose another --namespace",
        )
    if status == 404 and kind == "namespaces":
        return NotFoundError(
            f"the namespace '{ns}' does not exist in the cluster{said}",
            fix="give --namespace with an existing namespace (kubectl get namespaces)",
        )
    if status == 404 and action.startswith("creating"):
        return NotFoundError(
            f"the cluster has no Argo Workflows API (argoproj.io/v1alpha1) at {conn.host}{said}",
            fix="install Argo Workflows in the cluster, or use --engine kfp for Kubeflow Pipelines",
        )
    if status == 404:
        return NotFoundError(f"not found while {action}{said}")
    if 400 <= status < 500:
        return RejectedError(
            f"the cluster rejected the request while {action} ({status}){said}", reason=reason
        )
    return ClusterError(f"the Kubernetes API failed while {action} ({status}){said}")


def _call(
    conn: KubeConnection,
    action: str,
    ns: str,
    fn: Callable[[], T],
    warnings_too: bool = True,
    api: Any = None,
) -> T:
    """Run one client call within the connection's deadline; any failure becomes one
    ClusterError. With `api` (the CustomObjectsApi that made the call), the answer must be a
    JSON object, as the Kubernetes API's always is: the client hands back the raw text of
    anything else (a web page, broken JSON), which would fail later as a TypeError."""
    try:
        with quiet(warnings_too):
            result = within(conn.request_timeout, fn)
    except Exception as e:
        error = _translate(e, conn, action, ns)
        if error is None:
            raise
        raise error from None
    if api is not None and not isinstance(result, dict):
        raise not_the_api(conn.host, "a Kubernetes API", action, _last_text(api, result))
    return result


def _last_text(api: Any, result: Any) -> str:
    """The text of the last answer `api` received (its ApiClient's public `last_response`)."""
    data = getattr(getattr(getattr(api, "api_client", None), "last_response", None), "data", None)
    if data is None:
        data = result
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data if isinstance(data, str) else repr(data)


def custom_objects(conn: KubeConnection) -> Any:
    client = kubernetes("client")
    return client.CustomObjectsApi(client.ApiClient(conn.configuration))


# --- submission


def submit_argo(
    pipeline: Pipeline | CompiledPipeline,
    workflow: dict[str, Any],
    conn: KubeConnection,
    *,
    schedule: str | None = None,
    experiment: str | None = None,
    arguments: dict[str, Any] | None = None,
    watch_seconds: int | None = None,
) -> SubmitHandle:
    api = custom_objects(conn)
    ns = conn.namespace
    ui = conn.ui_url
    info = SubmitInfo(
        engine="argo",
        kind="recurring" if schedule else "run",
        run_id="",
        name="",
        url=None,
        host=conn.host,
        namespace=ns,
        pipeline=pipeline.name,
        experiment=experiment,
        schedule=schedule,
        parameters=dict(arguments or {}),
    )
    if schedule:
        body = cron_workflow_for(workflow, schedule)
        created = _call(
            conn,
            "creating the CronWorkflow",
            ns,
            lambda: api.create_namespaced_custom_object(
                GROUP,
                VERSION,
                ns,
                CRON_WORKFLOWS,
                body,
                field_validation="Strict",
                _request_timeout=conn.timeouts,
            ),
            api=api,
        )
        name = str(created["metadata"]["name"])
        info.run_id = info.name = name
        info.url = (
            f"{ui}/cron-workflows/{ns}/{name}"
            if ui
            else f"{conn.host}/apis/{GROUP}/{VERSION}/namespaces/{ns}/{CRON_WORKFLOWS}/{name}"
        )
        info.notes.append(f"created CronWorkflow '{name}' ({schedule}) in namespace '{ns}'")
        return SubmitHandle(info, [s.name for s in pipeline.steps], None)
    created = _call(
        conn,
        "creating the workflow",
        ns,
        lambda: api.create_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            WORKFLOWS,
            workflow,
            field_validation="Strict",
            _request_timeout=conn.timeouts,
        ),
        api=api,
    )
    name = str(created["metadata"]["name"])
    info.run_id = info.name = name
    info.url = (
        f"{ui}/workflows/{ns}/{name}"
        if ui
        else f"{conn.host}/apis/{GROUP}/{VERSION}/namespaces/{ns}/{WORKFLOWS}/{name}"
    )
    info.notes.append(f"created workflow '{name}' in namespace '{ns}'")
    if isinstance(pipeline, CompiledPipeline):  # its steps are the Workflow's own task names
        steps = {s.name: s.name for s in pipeline.steps}
    else:
        steps = {argo_name(s.name): s.name for s in pipeline.steps}
    follower = ArgoFollower(
        api, conn, ns, name, steps, set(pipeline.metrics), watch_seconds or DEFAULT_WATCH_SECONDS
    )
    follower.last = created
    return SubmitHandle(info, [s.name for s in pipeline.steps], follower)


# --- following a workflow

_NODE_STATES = {
    "Pending": states.PENDING,
    "Running": states.RUNNING,
    "Succeeded": states.SUCCEEDED,
    "Failed": states.FAILED,
    "Error": states.FAILED,
    "Skipped": states.SKIPPED,
    "Omitted": states.SKIPPED,
}


def _time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _nodes(status: dict[str, Any]) -> dict[str, Any]:
    nodes = status.get("nodes")
    if isinstance(nodes, dict):
        return nodes
    packed = status.get("compressedNodes")
    if isinstance(packed, str) and packed:  # older Argo: gzip + base64 of the nodes' JSON
        try:
            data = json.loads(gzip.decompress(base64.b64decode(packed)))
            return data if isinstance(data, dict) else {}
        except (ValueError, OSError):
            return {}
    return {}


def _exit_code(node: dict[str, Any]) -> int | None:
    code = (node.get("outputs") or {}).get("exitCode")
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def workflow_snapshot(
    obj: dict[str, Any], steps: dict[str, str], metrics: set[str], cancelled: bool = False
) -> RunSnapshot:
    """Our picture of a Workflow object: its phase and the node of each step."""
    status = obj.get("status") or {}
    nodes = _nodes(status)
    tasks: dict[str, TaskSnapshot] = {}
    values: dict[str, float] = {}
    for node in nodes.values():
        step = steps.get(str(node.get("displayName", "")))
        if step is None or node.get("type") not in ("Pod", "Retry", "Skipped"):
            continue
        state = _NODE_STATES.get(str(node.get("phase", "")), states.PENDING)
        children = [nodes[c] for c in node.get("children") or [] if c in nodes]
        attempt = len(children) if node.get("type") == "Retry" else 1
        last = children[-1] if node.get("type") == "Retry" and children else node
        exit_code = _exit_code(last)
        message = node.get("message") or last.get("message") or None
        if state == states.FAILED and not message and exit_code:
            message = f"exit code {exit_code}"
        tasks[step] = TaskSnapshot(
            state=state,
            attempt=0 if state == states.PENDING and attempt <= 1 else max(attempt, 1),
            started=_time(node.get("startedAt")),
            finished=_time(node.get("finishedAt")) if state in states.TERMINAL else None,
            exit_code=exit_code,
            message=message,
        )
        if state == states.SUCCEEDED:
            for p in (node.get("outputs") or {}).get("parameters") or []:
                if p.get("name") in metrics:
                    with contextlib.suppress(TypeError, ValueError):
                        values[str(p["name"])] = float(p.get("value"))
    phase = str(status.get("phase") or "")
    message = status.get("message") or None
    if phase == "Succeeded":
        state = states.SUCCEEDED
    elif phase in ("Failed", "Error"):
        stopped = "stopped with strategy" in str(message or "").lower()
        state = states.CANCELLED if (cancelled or stopped) else states.FAILED
    else:
        state = states.RUNNING
        if status.get("offloadNodeStatusVersion") and not nodes:
            message = "this cluster keeps node states in Argo's database: task states are not shown"
    return RunSnapshot(state, tasks, message, values)


class ArgoFollower:
    """Watches one Workflow until its phase is final."""

    def __init__(
        self,
        api: Any,
        conn: KubeConnection,
        namespace: str,
        name: str,
        steps: dict[str, str],
        metrics: set[str],
        watch_seconds: int,
    ) -> None:
        self.api = api
        self.conn = conn
        self.namespace = namespace
        self.name = name
        self.steps = steps
        self.metrics = metrics
        self.watch_seconds = watch_seconds
        self.cancelled = False
        self.last: dict[str, Any] | None = None
        self.logs = PodLogs(lambda: conn, namespace)

    def _quiet_warnings(self) -> bool:
        return threading.current_thread() is threading.main_thread()

    def _get(self) -> dict[str, Any]:
        obj: dict[str, Any] = _call(
            self.conn,
            "reading the workflow",
            self.namespace,
            lambda: self.api.get_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                WORKFLOWS,
                self.name,
                _request_timeout=self.conn.timeouts,
            ),
            self._quiet_warnings(),
            api=self.api,
        )
        return obj

    def _snap(self, obj: dict[str, Any]) -> RunSnapshot:
        self.last = obj
        return workflow_snapshot(obj, self.steps, self.metrics, self.cancelled)

    def snapshots(self, stop: threading.Event) -> Iterator[RunSnapshot]:
        watch = kubernetes("watch")
        ApiException = kubernetes("client.exceptions").ApiException

        failures = gone = 0
        # Start from the object as created: the watch then replays every change since, so a
        # follower that starts late still sees each state (the API server keeps some minutes
        # of history; if ours is older, the 410 below falls back to a fresh read).
        obj = self.last
        if obj is None:
            try:
                obj = self._get()
            except NotFoundError:
                raise FollowError(f"the workflow '{self.name}' was deleted") from None
        yield self._snap(obj)
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        while not stop.is_set():
            w = watch.Watch()
            try:
                with quiet(self._quiet_warnings()):
                    stream = w.stream(
                        self.api.list_namespaced_custom_object,
                        GROUP,
                        VERSION,
                        self.namespace,
                        WORKFLOWS,
                        field_selector=f"metadata.name={self.name}",
                        resource_version=version,
                        timeout_seconds=self.watch_seconds,
                        _request_timeout=(self.conn.timeouts[0], self.watch_seconds + 30),
                    )
                    for event in stream:
                        failures = gone = 0
                        kind = event.get("type")
                        raw = event.get("raw_object") or {}
                        meta = raw.get("metadata") or {}
                        version = str(meta.get("resourceVersion") or version)
                        if kind == "DELETED":
                            raise FollowError(
                                f"the workflow '{self.name}' was deleted before it ended"
                            )
                        if kind in ("ADDED", "MODIFIED") and meta.get("name") == self.name:
                            yield self._snap(raw)
                        if stop.is_set():
                            w.stop()
                            return
            except ApiException as e:
                if e.status == 410:  # our resourceVersion is too old: read the object again
                    gone += 1
                    stop.wait(min(5.0, 0.2 * gone))
                    obj = self._get()
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
                    yield self._snap(obj)
                    continue
                error = _translate(e, self.conn, "watching the workflow", self.namespace)
                raise (error or e) from None
            except ClusterError:
                raise
            except json.JSONDecodeError as e:  # a line of the stream that is not a watch event
                raise not_the_api(
                    self.conn.host, "a Kubernetes API", "watching the workflow", e.doc
                ) from None
            except Exception as e:  # the connection dropped: back off, read again, re-watch
                if not is_network_error(e):
                    raise
                failures += 1
                if failures >= MAX_FOLLOW_FAILURES:
                    raise FollowError(
                        f"lost the connection while following workflow '{self.name}': "
                        f"{network_reason(e)}",
                        fix="the workflow goes on in the cluster; follow it with "
                        f"`kubectl -n {self.namespace} get workflow {self.name} -w`",
                    ) from None
                stop.wait(min(30.0, 0.5 * 2**failures))
                try:
                    obj = self._get()
                except UnreachableError:
                    continue
                version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
                yield self._snap(obj)

    def failure(self, step: str) -> StepFailure:
        """What the failed step's pod logged: the pod is named from its node in status.nodes
        (the last attempt's, for a step with retries)."""
        obj = self.last or {}
        nodes = _nodes(obj.get("status") or {})
        node = next(
            (
                n
                for n in nodes.values()
                if self.steps.get(str(n.get("displayName", ""))) == step
                and n.get("type") in ("Pod", "Retry")
            ),
            None,
        )
        if node is not None and node.get("type") == "Retry":
            children = [nodes[c] for c in node.get("children") or [] if c in nodes]
            node = children[-1] if children else None
        pods = argo_pod_names(obj, node) if node is not None else []
        return fetch_failure(step, lambda: self.logs.read(pods))

    def cancel(self) -> None:
        self.cancelled = True
        _call(
            self.conn,
            "stopping the workflow",
            self.namespace,
            lambda: self.api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                WORKFLOWS,
                self.name,
                {"spec": {"shutdown": "Terminate"}},
                _request_timeout=self.conn.timeouts,
            ),
            self._quiet_warnings(),
        )
