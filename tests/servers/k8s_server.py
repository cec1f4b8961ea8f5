"""A Kubernetes API server for tests, on 127.0.0.1, serving what the kubernetes client calls to run
Argo Workflows: create, get, list/watch and merge-patch of `workflows`, create and get of
`cronworkflows` (argoproj.io/v1alpha1, namespaced), and a small Argo controller that plays each
Workflow's status.nodes forward.

- Authentication: `Authorization: Bearer TOKEN` must be one of `tokens` (401 otherwise, 403 for
  `forbidden_tokens`), answered with Kubernetes `Status` objects as the API server does.
- `namespaces`: a request into another namespace gets 404 `namespaces "x" not found`.
- Every body created, and every Workflow served back (get and watch events), is validated against
  Argo's JSON schema made strict (tests/argo_schema.py); problems go to `violations` and the
  request is answered 422 Invalid, as a CRD with a structural schema would be.
- The controller advances every `tick` seconds: the workflow goes Running, each DAG task
  Pending -> Running -> Succeeded (Failed for `fail_tasks`; tasks in `flaky_tasks` fail their
  first attempt and, having a retryStrategy, succeed in a second pod), downstream of a failure is
  not started, metrics come back as output parameters (`metric_values`). Every change is a new
  resourceVersion, streamed to watchers as MODIFIED events (chunked, like the real server).
- Pods and their logs (core v1 `readNamespacedPodLog`, GET
  /api/v1/namespaces/{ns}/pods/{name}/log, text/plain): the controller makes a pod for each
  attempt of a task, named as Argo names pods (POD_NAMES v2: `<workflow>-<template>-<fnv32a of
  the node name>`), with containers init, wait and main; its log is `task_logs[task]`. `pods`
  holds every pod's log by (namespace, name): a test adds pods of its own (KFP's executor pods)
  or removes one (gone: 404). `pod_gc` deletes each pod when its node ends (podGC
  OnPodCompletion); `deny_logs` answers 403 Forbidden as RBAC does without get on pods/log.
  A log request must name the container (a pod with several answers 400, as the API server
  does) and may ask for the last `tailLines`.
- Watch knobs for resilience tests: `watch_event_limit` ends each watch stream after N events (the
  client must re-watch from the last resourceVersion), `expire_before` answers an older
  resourceVersion with 410 Gone.
"""

from __future__ import annotations

import copy
import json
import random
import string
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from argo_schema import strict_schema, validate_workflow
from jsonschema import Draft202012Validator

try:
    from .loopback import LoopbackServer
except ImportError:  # run as a script
    from loopback import LoopbackServer  # type: ignore[no-redef]

PREFIX = "/apis/argoproj.io/v1alpha1/namespaces/"
#: the query parameters of readNamespacedPodLog (Kubernetes API reference, core/v1 Pod)
LOG_QUERY = {
    "container",
    "follow",
    "insecureSkipTLSVerifyBackend",
    "limitBytes",
    "pretty",
    "previous",
    "sinceSeconds",
    "sinceTime",
    "stream",
    "tailLines",
    "timestamps",
}
POD_CONTAINERS = ("init", "wait", "main")
KNOWN_QUERY = {
    "pretty",
    "dryRun",
    "fieldManager",
    "fieldValidation",
    "watch",
    "fieldSelector",
    "labelSelector",
    "resourceVersion",
    "resourceVersionMatch",
    "timeoutSeconds",
    "allowWatchBookmarks",
    "limit",
    "continue",
    "force",
}


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_object(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        out["details"] = details
    return out


_CRON_VALIDATOR: Draft202012Validator | None = None


def validate_cron_workflow(doc: dict[str, Any]) -> list[str]:
    global _CRON_VALIDATOR
    if _CRON_VALIDATOR is None:
        schema = strict_schema()
        schema["$ref"] = "#/definitions/io.argoproj.workflow.v1alpha1.CronWorkflow"
        _CRON_VALIDATOR = Draft202012Validator(schema)
    problems = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message}"
        for e in _CRON_VALIDATOR.iter_errors(doc)
    ]
    if doc.get("apiVersion") != "argoproj.io/v1alpha1" or doc.get("kind") != "CronWorkflow":
        problems.append("apiVersion/kind: not argoproj.io/v1alpha1 CronWorkflow")
    return problems


def workflow_problems(doc: dict[str, Any]) -> list[str]:
    try:
        validate_workflow(doc)
    except ValueError as e:
        return list(getattr(e, "problems", [str(e)]))
    return []


@dataclass
class Node:
    task: str
    template: str
    deps: list[str]
    retries: int
    metrics: list[str]
    phase: str = ""  # "" not started
    attempts: int = 0
    started: str | None = None
    finished: str | None = None
    message: str | None = None
    exit_code: str | None = None


@dataclass
class Sim:
    nodes: list[Node]
    cancel: bool = False
    done: bool = False


@dataclass
class K8sState:
    lock: threading.Condition = field(default_factory=threading.Condition)
    tokens: set[str] = field(default_factory=lambda: {"k8s-token"})
    forbidden_tokens: set[str] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=lambda: {"default", "argo", "team-a"})
    crd_installed: bool = True
    fail_tasks: set[str] = field(default_factory=set)
    flaky_tasks: set[str] = field(default_factory=set)
    metric_values: dict[str, str] = field(default_factory=dict)
    tick: float = 0.05
    watch_event_limit: int | None = None
    expire_before: int = 0
    gone_sent: int = 0
    #: task name -> the log its pods write
    task_logs: dict[str, str] = field(default_factory=dict)
    #: (namespace, pod name) -> the pod's log (main container)
    pods: dict[tuple[str, str], str] = field(default_factory=dict)
    deny_logs: bool = False
    #: delete a pod as soon as its node ends (Argo's podGC strategy OnPodCompletion)
    pod_gc: bool = False
    resource_version: int = 100
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    sims: dict[tuple[str, str], Sim] = field(default_factory=dict)
    #: (resourceVersion, event type, kind plural, namespace, object) of every change
    history: list[tuple[int, str, str, str, dict[str, Any]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)

    def next_rv(self) -> str:
        self.resource_version += 1
        return str(self.resource_version)


def _sim_for(wf: dict[str, Any]) -> Sim:
    spec = wf["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    dag = templates[spec["entrypoint"]]["dag"]["tasks"]
    nodes = []
    for t in dag:
        tmpl = templates[t["template"]]
        retries = int((tmpl.get("retryStrategy") or {}).get("limit", 0) or 0)
        metrics = [p["name"] for p in (tmpl.get("outputs") or {}).get("parameters") or []]
        nodes.append(
            Node(t["name"], t["template"], list(t.get("dependencies") or []), retries, metrics)
        )
    return Sim(nodes)


def fnv32a(text: str) -> int:
    """FNV-1a, 32 bits, as Go's hash/fnv New32a (what Argo's controller hashes pod names with)."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def pod_name(wf_name: str, template: str, node_name: str) -> str:
    """The pod of a node, as Argo 3.4+ names it (POD_NAMES v2)."""
    return f"{wf_name}-{template}"[:242] + f"-{fnv32a(node_name)}"


def _node_id(wf_name: str, key: str) -> str:
    return f"{wf_name}-{abs(hash((wf_name, key))) % 10**10}"


def render_status(
    wf: dict[str, Any], sim: Sim, phase: str, message: str | None, metrics: dict[str, str]
) -> dict[str, Any]:
    name = wf["metadata"]["name"]
    nodes: dict[str, Any] = {}
    children = []
    for n in sim.nodes:
        if not n.phase:
            continue
        nid = _node_id(name, n.task)
        children.append(nid)
        node: dict[str, Any] = {
            "id": nid,
            "name": f"{name}.{n.task}",
            "displayName": n.task,
            "type": "Retry" if n.retries else "Pod",
            "templateName": n.template,
            "phase": n.phase,
            "boundaryID": name,
            "startedAt": n.started,
        }
        if n.finished:
            node["finishedAt"] = n.finished
        if n.message:
            node["message"] = n.message
        outputs: dict[str, Any] = {}
        if n.exit_code is not None:
            outputs["exitCode"] = n.exit_code
        if n.phase == "Succeeded" and n.metrics:
            outputs["parameters"] = [{"name": m, "value": metrics.get(m, "0.5")} for m in n.metrics]
        if n.retries:
            kids = []
            for attempt in range(n.attempts):
                cid = _node_id(name, f"{n.task}({attempt})")
                kids.append(cid)
                last = attempt == n.attempts - 1
                child_phase = n.phase if last else "Failed"
                child: dict[str, Any] = {
                    "id": cid,
                    "name": f"{name}.{n.task}({attempt})",
                    "displayName": f"{n.task}({attempt})",
                    "type": "Pod",
                    "templateName": n.template,
                    "phase": child_phase,
                    "boundaryID": name,
                    "startedAt": n.started,
                }
                if child_phase in ("Succeeded", "Failed"):
                    child["finishedAt"] = n.finished or n.started
                    child["outputs"] = {"exitCode": "0" if child_phase == "Succeeded" else "1"}
                if child_phase == "Failed":
                    child["message"] = "Error (exit code 1)"
                nodes[cid] = child
            node["children"] = kids
            if outputs.get("parameters"):
                node["outputs"] = {"parameters": outputs["parameters"]}
        elif outputs:
            node["outputs"] = outputs
        nodes[nid] = node
    nodes[name] = {
        "id": name,
        "name": name,
        "displayName": name,
        "type": "DAG",
        "templateName": wf["spec"]["entrypoint"],
        "phase": phase,
        "startedAt": wf["status"].get("startedAt"),
        "children": children,
    }
    status: dict[str, Any] = {
        "phase": phase,
        "startedAt": wf["status"].get("startedAt"),
        "nodes": nodes,
        "progress": f"{sum(n.phase == 'Succeeded' for n in sim.nodes)}/{len(sim.nodes)}",
    }
    if phase in ("Succeeded", "Failed", "Error"):
        status["finishedAt"] = now_rfc3339()
        nodes[name]["finishedAt"] = status["finishedAt"]
    if message:
        status["message"] = message
    return status


def _pod_of(wf: dict[str, Any], n: Node) -> tuple[str, str]:
    """(namespace, name) of the pod of the node's latest attempt (a Retry node's attempts are
    its children)."""
    name = wf["metadata"]["name"]
    node = f"{name}.{n.task}" + (f"({n.attempts - 1})" if n.retries else "")
    return wf["metadata"]["namespace"], pod_name(name, n.template, node)


def _start_pods(state: K8sState, wf: dict[str, Any], n: Node) -> None:
    state.pods[_pod_of(wf, n)] = state.task_logs.get(n.task, f"{n.task}: started\n")


def advance(state: K8sState, wf: dict[str, Any], sim: Sim) -> bool:
    """One step of the controller for one workflow; True if anything changed."""
    if sim.done:
        return False
    t = now_rfc3339()
    status = wf.setdefault("status", {})
    if not status.get("phase"):
        status.update(phase="Running", startedAt=t)
        wf["status"] = render_status(wf, sim, "Running", None, state.metric_values)
        return True
    if sim.cancel or (wf["spec"].get("shutdown") in ("Terminate", "Stop")):
        for n in sim.nodes:
            if n.phase in ("Pending", "Running"):
                n.phase, n.finished, n.message = "Failed", t, "Stopped with strategy 'Terminate'"
        sim.done = True
        wf["status"] = render_status(
            wf, sim, "Failed", "Stopped with strategy 'Terminate'", state.metric_values
        )
        return True
    by = {n.task: n for n in sim.nodes}
    for n in sim.nodes:
        if n.phase == "Running":
            fail = n.task in state.fail_tasks or (n.task in state.flaky_tasks and n.attempts == 1)
            if fail and n.attempts <= n.retries:
                n.attempts += 1  # the retry strategy starts another pod
                _start_pods(state, wf, n)
                continue
            n.phase = "Failed" if fail else "Succeeded"
            n.finished = t
            if state.pod_gc:
                state.pods.pop(_pod_of(wf, n), None)
            n.exit_code = "1" if fail else "0"
            if fail:
                n.message = "Error (exit code 1)"
        elif n.phase == "Pending":
            n.phase, n.started, n.attempts = "Running", t, 1
            _start_pods(state, wf, n)
        elif not n.phase and all(by[d].phase == "Succeeded" for d in n.deps if d in by):
            n.phase = "Pending"
            n.started = t
            n.message = None
    startable = [
        n
        for n in sim.nodes
        if not n.phase and all(by[d].phase == "Succeeded" for d in n.deps if d in by)
    ]
    active = [n for n in sim.nodes if n.phase in ("Pending", "Running")]
    phase, message = "Running", None
    if not active and not startable:
        failed = [n.task for n in sim.nodes if n.phase == "Failed"]
        phase = "Failed" if failed else "Succeeded"
        if failed:
            message = f"child '{_node_id(wf['metadata']['name'], failed[0])}' failed"
        sim.done = True
    wf["status"] = render_status(wf, sim, phase, message, state.metric_values)
    return True


class _Handler(BaseHTTPRequestHandler):
    server: K8sServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fail(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        self._send(code, status_object(code, reason, message, details))

    def _serve_object(self, obj: dict[str, Any], status: int = 200) -> None:
        st = self.server.state
        if obj.get("kind") == "Workflow":
            problems = workflow_problems(obj)
            if problems:
                with st.lock:
                    st.violations.extend(f"response Workflow: {p}" for p in problems)
        self._send(status, obj)

    def _handle(self) -> None:
        st = self.server.state
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        with st.lock:
            st.requests.append(
                {
                    "method": self.command,
                    "path": url.path,
                    "query": query,
                    "auth": auth,
                    "body": raw,
                }
            )
            log = url.path.startswith("/api/v1/") and url.path.endswith("/log")
            for name in query:
                if name not in (LOG_QUERY if log else KNOWN_QUERY):
                    st.violations.append(
                        f"request {self.command} {url.path}: unknown query {name!r}"
                    )
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        if token in st.forbidden_tokens:
            ns = url.path[len(PREFIX) :].split("/")[0] if url.path.startswith(PREFIX) else ""
            return self._fail(
                403,
                "Forbidden",
                f'workflows.argoproj.io is forbidden: User "system:serviceaccount:{ns}:reader" '
                f'cannot {self.command.lower()} resource "workflows" in API group "argoproj.io" '
                f'in the namespace "{ns}"',
                {"group": "argoproj.io", "kind": "workflows"},
            )
        if token not in st.tokens:
            return self._fail(401, "Unauthorized", "Unauthorized")
        if url.path.startswith("/api/v1/namespaces/") and url.path.endswith("/log"):
            return self._pod_log(url.path, query)
        if not url.path.startswith(PREFIX) or not st.crd_installed:
            return self._fail(404, "NotFound", "the server could not find the requested resource")
        parts = url.path[len(PREFIX) :].split("/")
        ns, plural, name = (
            parts[0],
            parts[1] if len(parts) > 1 else "",
            parts[2] if len(parts) > 2 else None,
        )
        if plural not in ("workflows", "cronworkflows") or len(parts) > 3:
            return self._fail(404, "NotFound", "the server could not find the requested resource")
        if ns not in st.namespaces:
            return self._fail(
                404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"}
            )
        if self.command == "POST" and name is None:
            return self._create(ns, plural, raw)
        if self.command == "GET" and name is None:
            if query.get("watch", [""])[0].lower() in ("true", "1"):
                return self._watch(ns, plural, query)
            return self._list(ns, plural, query)
        if self.command == "GET":
            with st.lock:
                obj = st.objects.get((plural, ns, name))
                obj = copy.deepcopy(obj) if obj else None
            if obj is None:
                return self._fail(
                    404,
                    "NotFound",
                    f'{plural}.argoproj.io "{name}" not found',
                    {"name": name, "group": "argoproj.io", "kind": plural},
                )
            return self._serve_object(obj)
        if self.command == "PATCH" and name is not None:
            return self._patch(ns, plural, name, raw)
        return self._fail(405, "MethodNotAllowed", f"{self.command} is not supported here")

    def _pod_log(self, path: str, query: dict[str, list[str]]) -> None:
        st = self.server.state
        parts = path[len("/api/v1/namespaces/") :].split("/")
        if len(parts) != 4 or parts[1] != "pods" or self.command != "GET":
            return self._fail(404, "NotFound", "the server could not find the requested resource")
        ns, pod = parts[0], parts[2]
        if st.deny_logs:
            return self._fail(
                403,
                "Forbidden",
                f'pods "{pod}" is forbidden: User "system:serviceaccount:{ns}:reader" cannot get '
                f'resource "pods/log" in API group "" in the namespace "{ns}"',
                {"name": pod, "kind": "pods"},
            )
        with st.lock:
            log = st.pods.get((ns, pod))
        if log is None:
            return self._fail(
                404, "NotFound", f'pods "{pod}" not found', {"name": pod, "kind": "pods"}
            )
        container = (query.get("container") or [""])[0]
        if container not in POD_CONTAINERS:
            with st.lock:
                st.violations.append(f"pod log of {pod}: container {container!r}")
            choose = " ".join(POD_CONTAINERS)
            return self._fail(
                400,
                "BadRequest",
                f"a container name must be specified for pod {pod}, choose one of: [{choose}]"
                if not container
                else f"container {container} is not valid for pod {pod}",
            )
        text = log if container == "main" else ""
        tail = (query.get("tailLines") or [""])[0]
        if tail:
            text = "".join(text.splitlines(keepends=True)[-int(tail) :]) if int(tail) else ""
        data = text.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _create(self, ns: str, plural: str, raw: bytes) -> None:
        st = self.server.state
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            with st.lock:
                st.violations.append(
                    f"create {plural}: content type {self.headers.get('Content-Type')!r}"
                )
        try:
            doc = json.loads(raw)
        except ValueError as e:
            return self._fail(400, "BadRequest", f"the body is not JSON: {e}")
        problems = workflow_problems(doc) if plural == "workflows" else validate_cron_workflow(doc)
        meta = doc.get("metadata") or {}
        if meta.get("namespace") not in (None, ns):
            problems.append(
                f"metadata.namespace {meta.get('namespace')!r} differs from the URL's {ns!r}"
            )
        if problems:
            with st.lock:
                st.violations.extend(f"create {plural}: {p}" for p in problems)
            return self._fail(
                422, "Invalid", f"{plural}.argoproj.io is invalid: " + "; ".join(problems[:5])
            )
        with st.lock:
            st.created.append(copy.deepcopy(doc))
            name = meta.get("name")
            if not name:
                prefix = meta.get("generateName")
                if not prefix:
                    return self._fail(
                        422, "Invalid", "metadata.name or metadata.generateName is required"
                    )
                name = prefix + "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            if (plural, ns, name) in st.objects:
                return self._fail(
                    409, "AlreadyExists", f'{plural}.argoproj.io "{name}" already exists'
                )
            meta.update(
                name=name,
                namespace=ns,
                uid=f"{random.getrandbits(64):016x}-0000-0000-0000-000000000000",
                resourceVersion=st.next_rv(),
                creationTimestamp=now_rfc3339(),
                generation=1,
            )
            doc["metadata"] = meta
            st.objects[(plural, ns, name)] = doc
            st.history.append(
                (int(meta["resourceVersion"]), "ADDED", plural, ns, copy.deepcopy(doc))
            )
            if plural == "workflows":
                st.sims[(ns, name)] = _sim_for(doc)
            st.lock.notify_all()
            out = copy.deepcopy(doc)
        self._serve_object(out, 201)

    def _patch(self, ns: str, plural: str, name: str, raw: bytes) -> None:
        st = self.server.state
        if self.headers.get("Content-Type", "").split(";")[0] != "application/merge-patch+json":
            with st.lock:
                st.violations.append(f"patch: content type {self.headers.get('Content-Type')!r}")
        patch = json.loads(raw)
        with st.lock:
            obj = st.objects.get((plural, ns, name))
            if obj is None:
                return self._fail(404, "NotFound", f'{plural}.argoproj.io "{name}" not found')
            _merge(obj, patch)
            obj["metadata"]["resourceVersion"] = st.next_rv()
            st.history.append(
                (
                    int(obj["metadata"]["resourceVersion"]),
                    "MODIFIED",
                    plural,
                    ns,
                    copy.deepcopy(obj),
                )
            )
            st.lock.notify_all()
            out = copy.deepcopy(obj)
        self._serve_object(out)

    def _list(self, ns: str, plural: str, query: dict[str, list[str]]) -> None:
        st = self.server.state
        with st.lock:
            items = [
                copy.deepcopy(o) for (p, n, _), o in st.objects.items() if p == plural and n == ns
            ]
            rv = str(st.resource_version)
        items = _select(items, query)
        kind = "WorkflowList" if plural == "workflows" else "CronWorkflowList"
        self._send(
            200,
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": kind,
                "metadata": {"resourceVersion": rv},
                "items": items,
            },
        )

    def _watch(self, ns: str, plural: str, query: dict[str, list[str]]) -> None:
        st = self.server.state
        since = int((query.get("resourceVersion") or ["0"])[0] or 0)
        timeout = float((query.get("timeoutSeconds") or ["30"])[0])
        deadline = time.time() + timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        try:
            if since and since < st.expire_before:
                with st.lock:
                    st.gone_sent += 1
                gone = status_object(
                    410, "Expired", f"too old resource version: {since} ({st.expire_before})"
                )
                self._chunk({"type": "ERROR", "object": gone})
                return
            for event_type, obj in self._events(ns, plural, query, since, deadline):
                if obj.get("kind") == "Workflow":
                    problems = workflow_problems(obj)
                    if problems:
                        with st.lock:
                            st.violations.extend(f"watch Workflow: {p}" for p in problems)
                self._chunk({"type": event_type, "object": obj})
                sent += 1
                if st.watch_event_limit is not None and sent >= st.watch_event_limit:
                    return
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass

    def _events(
        self, ns: str, plural: str, query: dict[str, list[str]], since: int, deadline: float
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        st = self.server.state
        last = since
        while time.time() < deadline and not self.server.stopping:
            with st.lock:
                fresh = [h for h in st.history if h[0] > last and h[2] == plural and h[3] == ns]
                if not fresh:
                    st.lock.wait(min(0.2, max(0.0, deadline - time.time())))
                    continue
            for rv, event_type, _, _, obj in fresh:
                last = rv
                if _select([obj], query):
                    yield event_type, copy.deepcopy(obj)

    def _chunk(self, event: dict[str, Any]) -> None:
        data = (json.dumps(event) + "\n").encode("utf-8")
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)


def _select(items: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
    sel = (query.get("fieldSelector") or [""])[0]
    for clause in filter(None, sel.split(",")):
        key, _, value = clause.partition("=")
        if key == "metadata.name":
            items = [i for i in items if i["metadata"]["name"] == value]
        elif key == "metadata.namespace":
            items = [i for i in items if i["metadata"]["namespace"] == value]
    return items


class K8sServer(LoopbackServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(port, _Handler)
        self.state = K8sState()
        self.stopping = False
        self._workers: list[threading.Thread] = []

    def _controller(self) -> None:
        st = self.state
        while not self.stopping:
            time.sleep(st.tick)
            with st.lock:
                for (ns, name), sim in st.sims.items():
                    wf = st.objects[("workflows", ns, name)]
                    if advance(st, wf, sim):
                        wf["metadata"]["resourceVersion"] = st.next_rv()
                        st.history.append(
                            (
                                int(wf["metadata"]["resourceVersion"]),
                                "MODIFIED",
                                "workflows",
                                ns,
                                copy.deepcopy(wf),
                            )
                        )
                st.lock.notify_all()

    def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete an object as `kubectl delete` would: watchers get a DELETED event."""
        st = self.state
        with st.lock:
            obj = st.objects.pop((plural, namespace, name))
            st.sims.pop((namespace, name), None)
            obj["metadata"]["resourceVersion"] = st.next_rv()
            st.history.append(
                (int(obj["metadata"]["resourceVersion"]), "DELETED", plural, namespace, obj)
            )
            st.lock.notify_all()

    def start(self) -> K8sServer:
        for target in (self.serve_forever, self._controller):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def stop(self) -> None:
        self.stopping = True
        with self.state.lock:
            self.state.lock.notify_all()
        self.shutdown()
        self.server_close()
        self._drop_connections()


def write_kubeconfig(
    path: Path, server: str, token: str, namespace: str | None = None, context: str = "test"
) -> Path:
    """A kubeconfig whose current context points at `server` with a bearer token."""
    ctx: dict[str, Any] = {"cluster": "test-cluster", "user": "test-user"}
    if namespace:
        ctx["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test-cluster", "cluster": {"server": server}}],
        "users": [{"name": "test-user", "user": {"token": token}}],
        "contexts": [{"name": context, "context": ctx}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path
