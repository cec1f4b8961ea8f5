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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import yaml

from ..compile.argo import (
    argo_name,
    argo_text,
    compile_argo,
    compiled_here,
    decodes_parameters,
    unencodable,
)
from ..compile.shared import k8s_name
from ..engine import states
from ..params import value_text
from ._deps import kubernetes
from .argo_client import (
    CRON_WORKFLOWS,
    GROUP,
    VERSION,
    WORKFLOWS,
    call,
    custom_objects,
    object_url,
    translate_error,
)
from .compiled import CompiledPipeline
from .errors import (
    ClusterError,
    FollowError,
    InvalidSubmission,
    NotFoundError,
    UnreachableError,
    not_the_api,
)
from .handle import SubmitHandle, SubmitInfo
from .net import is_network_error, network_reason, quiet
from .steplogs import PodLogs, StepFailure, argo_pod_names, fetch_failure
from .tracker import RunSnapshot, TaskSnapshot

if TYPE_CHECKING:
    from ..model import Pipeline
    from .config import KubeConnection

ANNOTATION_EXPERIMENT = "kfp-jupyter/experiment"
#: seconds a watch request stays open before it is renewed
DEFAULT_WATCH_SECONDS = 60
MAX_FOLLOW_FAILURES = 5


# --- the documents


def workflow_for(
    pipeline: Pipeline | CompiledPipeline,
    arguments: dict[str, Any],
    *,
    namespace: str,
    run_name: str | None = None,
    experiment: str | None = None,
) -> dict[str, Any]:
    """The Workflow of this run: the notebook's pipeline compiled, or the one read from a file
    (compiled.py) with everything but the run's settings as the file has it; with this run's
    parameter values, namespace, name prefix and experiment."""
    if isinstance(pipeline, CompiledPipeline):
        doc = copy.deepcopy(dict(pipeline.document))
        doc.setdefault("metadata", {})
        values = {k: str(v) for k, v in arguments.items()}  # Argo's values are text
    else:
        doc = yaml.safe_load(compile_argo(pipeline))
        names = {p.name for p in pipeline.parameters}
        values = {name: value_text(value) for name, value in arguments.items() if name in names}
    values = _argo_values(doc, values)
    return _for_run(doc, values, namespace=namespace, run_name=run_name, experiment=experiment)


def _argo_values(doc: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """The values as the Workflow carries them: in a Workflow kfp-jupyter compiled, a value
    holding '{{' encoded for the step programs that read it (`argo_text`: Argo would replace
    what it takes for its expressions), refused when a reader cannot decode it (a component's
    or container step's command line, a program an older kfp-jupyter compiled). Another
    Workflow's values are passed as they are: Argo's `{{...}}` in them is meant for Argo."""
    if not compiled_here(doc):
        return values
    out = dict(values)
    for name, text in values.items():
        encoded = argo_text(text)
        if encoded == text:
            continue
        blocked = _undecoding_readers(doc, name)
        if not blocked:
            out[name] = encoded
        elif "{{" in text:
            raise _unencodable_value(name, *blocked[0])
    return out


def _unencodable_value(name: str, where: str, earlier: bool) -> InvalidSubmission:
    """Why parameter `name`'s value cannot reach the step (or template) `where`."""
    if earlier:
        message = (
            f"step '{where}': parameter {name!r}: its value contains '{{{{', which Argo takes "
            "for the start of one of its own expressions and replaces; this step's program was "
            "compiled by an earlier kfp-jupyter, which reads the value as Argo passes it"
        )
        fix = "compile the notebook again with `kfp-jupyter compile -t argo` (its steps then "
        fix += f"take any value), or give {name!r} a value without '{{{{'"
        return InvalidSubmission(message, fix=fix, fields={name: message})
    problem = unencodable(name, where, "its value")
    message = f"step '{where}': {problem.message}" if where else problem.message
    return InvalidSubmission(message, fix=problem.fix, fields={name: message})


def _undecoding_readers(doc: dict[str, Any], name: str) -> list[tuple[str, bool]]:
    """The tasks (or templates) that get parameter `name` other than through a step program
    that decodes it, each with whether it is a step program an earlier kfp-jupyter compiled
    ("" for the Workflow's spec itself). A DAG task's argument that is exactly the parameter,
    passed to a script template that reads it into a KFPJ_PARAM_ variable only, is decoded;
    anything else is not."""
    ref = re.compile(r"\{\{[^{}]*workflow\.parameters(\." + re.escape(name) + r"(?![-\w])|\s*\}\})")
    spec = doc.get("spec") or {}
    templates = {t.get("name"): t for t in spec.get("templates") or [] if isinstance(t, dict)}
    blocked: list[tuple[str, bool]] = []
    for t in templates.values():
        counted = 0
        for task in (t.get("dag") or {}).get("tasks") or []:
            for arg in (task.get("arguments") or {}).get("parameters") or []:
                value = str(arg.get("value", ""))
                found = len(ref.findall(value))
                if not found:
                    continue
                counted += found
                target = templates.get(task.get("template")) or {}
                exact = value == "{{workflow.parameters." + name + "}}"
                if not exact or not _read_by_program(target, str(arg.get("name"))):
                    earlier = exact and "script" in target and not decodes_parameters(target)
                    blocked.append((str(task.get("name")), earlier))
        if len(ref.findall(json.dumps(t))) > counted:
            blocked.append((str(t.get("name")), False))
    rest = {k: v for k, v in spec.items() if k not in ("templates", "arguments")}
    if ref.search(json.dumps(rest)):
        blocked.append(("", False))
    return blocked


def _read_by_program(template: dict[str, Any], key: str) -> bool:
    """Whether `template` hands its input parameter `key` to a step program that decodes it,
    and to nothing else."""
    if not decodes_parameters(template):
        return False
    exact = "{{inputs.parameters." + key + "}}"
    env = (template.get("script") or {}).get("env") or []
    reads = sum(
        1
        for e in env
        if str(e.get("name", "")).startswith("KFPJ_PARAM_") and e.get("value") == exact
    )
    uses = re.findall(
        r"\{\{[^{}]*inputs\.parameters\." + re.escape(key) + r"(?![-\w])", json.dumps(template)
    )
    return reads > 0 and reads == len(uses)


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
    """Create the Workflow (or, with a schedule, a CronWorkflow starting it) and return a handle
    that follows the Workflow."""
    api = custom_objects(conn)
    ns = conn.namespace
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
    steps = [s.name for s in pipeline.steps]
    if schedule:
        _create(api, conn, CRON_WORKFLOWS, cron_workflow_for(workflow, schedule), info)
        info.notes.append(f"created CronWorkflow '{info.name}' ({schedule}) in namespace '{ns}'")
        return SubmitHandle(info, steps, None)
    created = _create(api, conn, WORKFLOWS, workflow, info)
    info.notes.append(f"created workflow '{info.name}' in namespace '{ns}'")
    if isinstance(pipeline, CompiledPipeline):  # its steps are the Workflow's own task names
        names = {s.name: s.name for s in pipeline.steps}
    else:
        names = {argo_name(s.name): s.name for s in pipeline.steps}
    follower = ArgoFollower(
        api,
        conn,
        ns,
        info.name,
        names,
        set(pipeline.metrics),
        watch_seconds or DEFAULT_WATCH_SECONDS,
    )
    follower.last = created
    return SubmitHandle(info, steps, follower)


def _create(
    api: Any, conn: KubeConnection, plural: str, body: dict[str, Any], info: SubmitInfo
) -> dict[str, Any]:
    """Create a Workflow or CronWorkflow (fields the schema does not know are refused, not
    dropped); Kubernetes picks its name, which `info` gets, with the address to see it at."""
    ns = conn.namespace
    what = "CronWorkflow" if plural == CRON_WORKFLOWS else "workflow"
    created: dict[str, Any] = call(
        conn,
        f"creating the {what}",
        ns,
        lambda: api.create_namespaced_custom_object(
            GROUP,
            VERSION,
            ns,
            plural,
            body,
            field_validation="Strict",
            _request_timeout=conn.timeouts,
        ),
        api=api,
    )
    info.run_id = info.name = str(created["metadata"]["name"])
    info.url = object_url(conn, plural, ns, info.name)
    return created


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


#: the phases of a Workflow that failed (or was stopped)
_FAILED_PHASES = ("Failed", "Error")


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
    elif phase in _FAILED_PHASES:
        stopped = "stopped with strategy" in str(message or "").lower()
        state = states.CANCELLED if (cancelled or stopped) else states.FAILED
    else:
        state = states.RUNNING
        if status.get("offloadNodeStatusVersion") and not nodes:
            message = "this cluster keeps node states in Argo's database: task states are not shown"
    return RunSnapshot(state, tasks, message, values)


@dataclass(eq=False)
class ArgoFollower:
    """Watches one Workflow until its phase is final."""

    api: Any
    conn: KubeConnection
    namespace: str
    name: str
    steps: dict[str, str]
    metrics: set[str]
    watch_seconds: int
    cancelled: bool = field(default=False, init=False)
    #: the Workflow as last read
    last: dict[str, Any] | None = field(default=None, init=False)
    #: the resourceVersion the next watch starts from
    version: str = field(default="", init=False)
    logs: PodLogs = field(init=False)

    def __post_init__(self) -> None:
        self.logs = PodLogs(lambda: self.conn, self.namespace)

    def _quiet_warnings(self) -> bool:
        return threading.current_thread() is threading.main_thread()

    def _get(self) -> dict[str, Any]:
        obj: dict[str, Any] = call(
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

    def _resume(self, obj: dict[str, Any]) -> RunSnapshot:
        """The snapshot of a fresh read, the watch going on from its resourceVersion."""
        self.version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        return self._snap(obj)

    def snapshots(self, stop: threading.Event) -> Iterator[RunSnapshot]:
        ApiException = kubernetes("client.exceptions").ApiException
        failures = gone = 0
        # Start from the object as created: the watch then replays every change since, so a
        # follower that starts late still sees each state (the API server keeps some minutes
        # of history; if ours is older, the 410 below falls back to a fresh read).
        yield self._resume(self.last if self.last is not None else self._first_read())
        while not stop.is_set():
            try:
                for snap in self._watch(stop):
                    failures = gone = 0
                    if snap is not None:
                        yield snap
            except ApiException as e:
                if e.status != 410:
                    error = translate_error(e, self.conn, "watching the workflow", self.namespace)
                    raise (error or e) from None
                gone += 1  # our resourceVersion is too old: read the object again
                stop.wait(min(5.0, 0.2 * gone))
                yield self._resume(self._get())
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
                    raise self._lost(e) from None
                stop.wait(min(30.0, 0.5 * 2**failures))
                try:
                    obj = self._get()
                except UnreachableError:
                    continue
                yield self._resume(obj)

    def _first_read(self) -> dict[str, Any]:
        try:
            return self._get()
        except NotFoundError:
            raise FollowError(f"the workflow '{self.name}' was deleted") from None

    def _watch(self, stop: threading.Event) -> Iterator[RunSnapshot | None]:
        """One watch request from `self.version`: a snapshot for each change of the workflow,
        None for any other event (each one shows the connection is alive)."""
        w = kubernetes("watch").Watch()
        with quiet(self._quiet_warnings()):
            stream = w.stream(
                self.api.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                WORKFLOWS,
                field_selector=f"metadata.name={self.name}",
                resource_version=self.version,
                timeout_seconds=self.watch_seconds,
                _request_timeout=(self.conn.timeouts[0], self.watch_seconds + 30),
            )
            for event in stream:
                kind = event.get("type")
                raw = event.get("raw_object") or {}
                meta = raw.get("metadata") or {}
                self.version = str(meta.get("resourceVersion") or self.version)
                if kind == "DELETED":
                    raise FollowError(f"the workflow '{self.name}' was deleted before it ended")
                mine = kind in ("ADDED", "MODIFIED") and meta.get("name") == self.name
                yield self._snap(raw) if mine else None
                if stop.is_set():
                    w.stop()
                    return

    def _lost(self, e: Exception) -> FollowError:
        return FollowError(
            f"lost the connection while following workflow '{self.name}': {network_reason(e)}",
            fix="the workflow goes on in the cluster; follow it with "
            f"`kubectl -n {self.namespace} get workflow {self.name} -w`",
        )

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
        # a workflow seen ended already failed (or succeeded) on its own: not cancelled by us
        phase = str(((self.last or {}).get("status") or {}).get("phase") or "")
        self.cancelled = phase != "Succeeded" and phase not in _FAILED_PHASES
        call(
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
