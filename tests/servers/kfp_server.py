"""A Kubeflow Pipelines API server for tests, on 127.0.0.1, that checks both directions against
the official spec (tests/data/specs/kfp-v2beta1, through servers/swagger.py).

It keeps pipelines, versions, experiments, runs and recurring runs in memory and plays the part of
the KFP backend as the kfp SDK sees it:

- authentication: `authorization: Bearer TOKEN` must hold one of `tokens` (401 otherwise; 403 for
  one of `forbidden_tokens`), as Kubeflow's auth proxy answers;
- `namespaces`: known namespaces; another one in a request is answered 404 NOT_FOUND;
- an uploaded pipeline must be KFP pipeline IR (else 400 with the reason), `reject_upload` makes
  every upload fail with that reason; a version keeps the whole upload and serves its
  `pipeline_spec` as KFP does: the PipelineSpec alone, or {pipeline_spec, platform_spec} when the
  upload has a Kubernetes platform part;
- runs progress one step each time they are read (GET /runs/{id}), task by task along the
  pipeline's DAG: PENDING, RUNNING, SUCCEEDED (FAILED for tasks in `fail_tasks`); downstream of a
  failure never starts; the run ends SUCCEEDED or FAILED. The task details look like a real KFP 2.x
  server's (one per Argo node): the root DAG, `root-driver`, and per task `<task>-driver`, `<task>`
  and an `executor` pod (its `pod_name`; `on_pod` tells a test each new one), so clients must
  pick out the tasks themselves. With `hold_runs`, runs
  stay RUNNING (a run that never ends) until terminated.

Every request is recorded (`requests`), every spec violation too (`violations`); tests assert
there are none. Run as a script to try the CLI by hand:
    python tests/servers/kfp_server.py --port 8888 --token secret
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

try:
    from .loopback import LoopbackServer
except ImportError:  # run as a script
    from loopback import LoopbackServer  # type: ignore[no-redef]

try:
    from .swagger import Operation, SwaggerSpec
except ImportError:  # run as a script
    from swagger import Operation, SwaggerSpec  # type: ignore[no-redef]

SPEC_PATH = (
    Path(__file__).resolve().parent.parent
    / "data"
    / "specs"
    / "kfp-v2beta1"
    / "kfp_api_single_file.swagger.json"
)
ZERO_TIME = "1970-01-01T00:00:00Z"
_SPEC: SwaggerSpec | None = None
_SPEC_LOCK = threading.Lock()


def spec() -> SwaggerSpec:
    global _SPEC
    with _SPEC_LOCK:
        if _SPEC is None:
            _SPEC = SwaggerSpec(SPEC_PATH)
        return _SPEC


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ApiError(Exception):
    def __init__(self, http: int, code: int, message: str) -> None:
        self.http, self.code, self.message = http, code, message


@dataclass
class Recorded:
    method: str
    path: str
    operation: str | None
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class SimTask:
    name: str
    deps: list[str]
    state: str = ""  # "" not started, PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED
    created: str = ZERO_TIME
    started: str = ZERO_TIME
    finished: str = ZERO_TIME
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class SimRun:
    run: dict[str, Any]
    tasks: list[SimTask]
    cancel: bool = False


def _is_platform_spec(doc: Any) -> bool:
    """Whether a YAML document is a PlatformSpec with a Kubernetes part (KFP's
    IsPlatformSpecWithKubernetesConfig: PlatformSpec has no other field than `platforms`)."""
    return (
        isinstance(doc, dict)
        and set(doc) == {"platforms"}
        and isinstance(doc["platforms"], dict)
        and "kubernetes" in doc["platforms"]
    )


def served_spec(docs: list[Any]) -> dict[str, Any]:
    """A version's `pipeline_spec` as KFP's API returns it (YamlStringToPipelineSpecStruct): the
    PipelineSpec alone, or {pipeline_spec, platform_spec} when the upload had a platform part."""
    platforms = [d for d in docs if _is_platform_spec(d)]
    pipeline = next(d for d in docs if not _is_platform_spec(d))
    if not platforms:
        return dict(pipeline)
    return {"pipeline_spec": pipeline, "platform_spec": platforms[-1]}


def pipeline_doc(version: dict[str, Any]) -> dict[str, Any]:
    """The PipelineSpec of a stored version, whichever form its `pipeline_spec` has."""
    served: dict[str, Any] = version["pipeline_spec"]
    if set(served) == {"pipeline_spec", "platform_spec"}:
        inner: dict[str, Any] = served["pipeline_spec"]
        return inner
    return served


def _dag(pipeline_spec: dict[str, Any]) -> list[SimTask]:
    """The root DAG's tasks under their display names (`taskInfo.name`, what task details show),
    each with the display names of the tasks it waits for (`dependentTasks` names DAG keys)."""
    tasks = (pipeline_spec.get("root") or {}).get("dag", {}).get("tasks", {})
    shown = {key: (t.get("taskInfo") or {}).get("name", key) for key, t in tasks.items()}
    return [
        SimTask(shown[key], [shown.get(d, d) for d in t.get("dependentTasks") or []])
        for key, t in tasks.items()
    ]


class KfpState:
    """The server's data and its scripted behaviour, shared by the handler threads."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tokens: set[str] = {"test-token"}
        self.forbidden_tokens: set[str] = set()
        self.namespaces: set[str] | None = None
        self.multi_user = False
        self.reject_upload: str | None = None
        #: answer every API request as Kubeflow behind an OIDC login does without a session:
        #: 302 to the login page, which is HTML
        self.login_redirect = False
        self.fail_tasks: set[str] = set()
        #: runs reach RUNNING and stay there (a run that never ends), until cancelled
        self.hold_runs = False
        #: a terminated run stays CANCELING (the cluster takes its time to stop it)
        self.hold_cancel = False
        #: called with (task name, pod name) when a task's executor pod first appears, so a test
        #: can give the pod a log on the Kubernetes test server (KFP's API serves no logs)
        self.on_pod: Callable[[str, str], None] | None = None
        self.pods_seen: set[str] = set()
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self.experiments: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, SimRun] = {}
        self.recurring: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.uploads: list[bytes] = []
        self._ids = itertools.count(1)

    def new_id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids):04d}-{uuid.uuid4().hex[:8]}"

    # --- helpers

    def check_namespace(self, ns: str | None) -> None:
        if ns and self.namespaces is not None and ns not in self.namespaces:
            raise ApiError(404, 5, f'Namespace "{ns}" not found')

    @staticmethod
    def filtered(items: list[dict[str, Any]], query: dict[str, list[str]]) -> list[dict[str, Any]]:
        raw = (query.get("filter") or [""])[0]
        if raw:
            problems = spec().definition_problems("v2beta1Filter", json.loads(raw), "filter")
            if problems:
                raise ApiError(400, 3, "Invalid filter: " + "; ".join(problems))
            for pred in json.loads(raw).get("predicates", []):
                key, value = pred.get("key"), pred.get("string_value")
                if pred.get("operation") == "EQUALS":
                    items = [i for i in items if i.get(key) == value]
        sort = (query.get("sort_by") or [""])[0]
        if sort:
            key, _, order = sort.partition(" ")
            items = sorted(items, key=lambda i: str(i.get(key, "")), reverse=order == "desc")
        size = int((query.get("page_size") or ["0"])[0] or 0)
        return items[:size] if size > 0 else items

    def check_ir(self, content: bytes) -> list[Any]:
        """The uploaded YAML's documents, when the first is a KFP pipeline spec."""
        try:
            docs = [d for d in yaml.safe_load_all(content.decode("utf-8")) if d is not None]
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ApiError(400, 3, f"Failed to upload a pipeline: invalid YAML: {e}") from None
        doc = docs[0] if docs else None
        if not isinstance(doc, dict) or "pipelineInfo" not in doc or "root" not in doc:
            raise ApiError(
                400,
                3,
                "Failed to upload a pipeline: the file is not a KFP v2 pipeline spec "
                "(pipelineInfo and root are required)",
            )
        if self.reject_upload:
            raise ApiError(400, 3, self.reject_upload)
        return docs

    # --- operations (operationId -> method)

    def HealthzService_GetHealthz(self, req: dict[str, Any]) -> Any:
        return {"multi_user": self.multi_user, "pipeline_store": "database"}

    def PipelineService_ListPipelines(self, req: dict[str, Any]) -> Any:
        ns = (req["query"].get("namespace") or [""])[0]
        self.check_namespace(ns)
        items = [p for p in self.pipelines.values() if p.get("namespace", "") == ns]
        found = self.filtered(items, req["query"])
        return {"pipelines": found, "total_size": len(found)} if found else {}

    def _version(self, pid: str, name: str, content: bytes, description: str | None) -> Any:
        docs = self.check_ir(content)
        self.uploads.append(content)
        v: dict[str, Any] = {
            "pipeline_id": pid,
            "pipeline_version_id": self.new_id("version"),
            "display_name": name,
            "name": name,
            "created_at": now_rfc3339(),
            # the whole upload, as KFP keeps it: the platform part too
            "pipeline_spec": served_spec(docs),
        }
        if description:
            v["description"] = description
        self.versions.setdefault(pid, []).append(v)
        time.sleep(0.001)  # distinct created_at
        return v

    def UploadPipeline(self, req: dict[str, Any]) -> Any:
        q = req["query"]
        name = (q.get("name") or q.get("display_name") or [""])[0]
        _, content = req["body"]["uploadfile"]
        ns = (q.get("namespace") or [""])[0]
        self.check_namespace(ns)
        if not name:
            raise ApiError(400, 3, "Failed to upload a pipeline: the name is empty")
        if any(
            p["display_name"] == name and p.get("namespace", "") == ns
            for p in self.pipelines.values()
        ):
            raise ApiError(409, 6, f"Failed to upload a pipeline: pipeline {name!r} already exists")
        self.check_ir(content)
        pid = self.new_id("pipeline")
        p = {"pipeline_id": pid, "display_name": name, "name": name, "created_at": now_rfc3339()}
        if ns:
            p["namespace"] = ns
        description = (q.get("description") or [""])[0]
        if description:
            p["description"] = description
        self._version(pid, name, content, None)
        self.pipelines[pid] = p
        return p

    def UploadPipelineVersion(self, req: dict[str, Any]) -> Any:
        q = req["query"]
        pid = (q.get("pipelineid") or [""])[0]
        name = (q.get("name") or q.get("display_name") or [""])[0]
        if pid not in self.pipelines:
            raise ApiError(404, 5, f"Pipeline {pid} not found")
        if any(v["display_name"] == name for v in self.versions.get(pid, [])):
            raise ApiError(409, 6, f"Failed to upload a pipeline version: {name!r} already exists")
        _, content = req["body"]["uploadfile"]
        return self._version(pid, name, content, (q.get("description") or [None])[0])

    def PipelineService_ListPipelineVersions(self, req: dict[str, Any]) -> Any:
        pid = req["path"]["pipeline_id"]
        if pid not in self.pipelines:
            raise ApiError(404, 5, f"Pipeline {pid} not found")
        items = list(self.versions.get(pid, []))
        found = self.filtered(items, req["query"])
        return {"pipeline_versions": found, "total_size": len(found)} if found else {}

    def ExperimentService_ListExperiments(self, req: dict[str, Any]) -> Any:
        ns = (req["query"].get("namespace") or [""])[0]
        self.check_namespace(ns)
        items = [e for e in self.experiments.values() if e.get("namespace", "") == ns]
        found = self.filtered(items, req["query"])
        return {"experiments": found, "total_size": len(found)} if found else {}

    def ExperimentService_CreateExperiment(self, req: dict[str, Any]) -> Any:
        body = req["body"]
        ns = body.get("namespace", "")
        self.check_namespace(ns)
        if self.multi_user and not ns:
            raise ApiError(
                400, 3, "Invalid input error: In multi-user mode, experiment namespace must be set"
            )
        e = {
            "experiment_id": self.new_id("experiment"),
            "display_name": body["display_name"],
            "created_at": now_rfc3339(),
            "storage_state": "AVAILABLE",
            "last_run_created_at": ZERO_TIME,
        }
        if ns:
            e["namespace"] = ns
        self.experiments[e["experiment_id"]] = e
        return e

    def _check_reference(self, body: dict[str, Any]) -> dict[str, Any]:
        ref = body.get("pipeline_version_reference") or {}
        pid, vid = ref.get("pipeline_id"), ref.get("pipeline_version_id")
        version = next(
            (v for v in self.versions.get(pid or "", []) if v["pipeline_version_id"] == vid), None
        )
        if version is None:
            raise ApiError(404, 5, f"Pipeline version {vid} of pipeline {pid} not found")
        exp = self.experiments.get(body.get("experiment_id", ""))
        if exp is None:
            raise ApiError(404, 5, f"Experiment {body.get('experiment_id')} not found")
        if exp["storage_state"] == "ARCHIVED":
            raise ApiError(400, 9, "Failed to create a run: experiment is archived")
        declared = (
            pipeline_doc(version).get("root", {}).get("inputDefinitions", {}).get("parameters", {})
        )
        for name in (body.get("runtime_config") or {}).get("parameters", {}):
            if name not in declared:
                raise ApiError(400, 3, f"Failed to create a run: unknown parameter {name!r}")
        return version

    def RunService_CreateRun(self, req: dict[str, Any]) -> Any:
        body = req["body"]
        version = self._check_reference(body)
        run = {
            "run_id": self.new_id("run"),
            "experiment_id": body["experiment_id"],
            "display_name": body["display_name"],
            "storage_state": "AVAILABLE",
            "pipeline_version_reference": body["pipeline_version_reference"],
            "runtime_config": body.get("runtime_config", {}),
            "created_at": now_rfc3339(),
            "scheduled_at": now_rfc3339(),
            "finished_at": ZERO_TIME,
            "state": "PENDING",
            "state_history": [{"update_time": now_rfc3339(), "state": "PENDING"}],
        }
        self.runs[run["run_id"]] = SimRun(run, _dag(pipeline_doc(version)))
        return run

    def RunService_GetRun(self, req: dict[str, Any]) -> Any:
        sim = self.runs.get(req["path"]["run_id"])
        if sim is None:
            raise ApiError(404, 5, f"Run {req['path']['run_id']} not found")
        self.advance(sim)
        return self.render(sim)

    def RunService_TerminateRun(self, req: dict[str, Any]) -> Any:
        sim = self.runs.get(req["path"]["run_id"])
        if sim is None:
            raise ApiError(404, 5, "Run not found")
        if sim.run["state"] in ("SUCCEEDED", "FAILED", "CANCELED", "CANCELING"):
            # as KFP's run store: only a pending, running or paused run can be terminated
            run_id = req["path"]["run_id"]
            raise ApiError(400, 3, f"Failed to terminate a run {run_id}. Row not found")
        sim.cancel = True
        return {}

    def RecurringRunService_CreateRecurringRun(self, req: dict[str, Any]) -> Any:
        body = req["body"]
        self._check_reference(body)
        trigger = body.get("trigger") or {}
        if not (trigger.get("cron_schedule") or {}).get("cron"):
            raise ApiError(400, 3, "Invalid input error: a cron schedule is required")
        if not 1 <= int(body.get("max_concurrency") or 0) <= 10:
            raise ApiError(
                400, 3, "Max concurrency of a recurring run must be at least 1 and at most 10"
            )
        rec = dict(body)
        rec.update(
            recurring_run_id=self.new_id("recurring"),
            created_at=now_rfc3339(),
            updated_at=now_rfc3339(),
            status="ENABLED",
        )
        self.recurring[rec["recurring_run_id"]] = rec
        return rec

    # --- the scripted run

    def advance(self, sim: SimRun) -> None:
        run = sim.run
        if run["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return
        t = now_rfc3339()
        if sim.cancel and self.hold_cancel:
            run["state"] = "CANCELING"
            return
        if sim.cancel:
            for task in sim.tasks:
                if task.state in ("PENDING", "RUNNING"):
                    task.state, task.finished = "CANCELED", t
            self._end(run, "CANCELED", t)
            return
        if run["state"] == "PENDING":
            run["state"] = "RUNNING"
            run["state_history"].append({"update_time": t, "state": "RUNNING"})
            return
        if self.hold_runs:
            return
        by_name = {x.name: x for x in sim.tasks}
        for task in sim.tasks:
            if task.state == "RUNNING":
                task.state = "FAILED" if task.name in self.fail_tasks else "SUCCEEDED"
                task.finished = t
            elif task.state == "PENDING":
                task.state, task.started = "RUNNING", t
            elif task.state == "" and all(
                by_name[d].state == "SUCCEEDED" for d in task.deps if d in by_name
            ):
                task.state, task.created = "PENDING", t
                task.ids = {k: self.new_id("task") for k in ("driver", "dag", "executor")}
        startable = [
            x
            for x in sim.tasks
            if x.state == ""
            and all(by_name[d].state == "SUCCEEDED" for d in x.deps if d in by_name)
        ]
        if not startable and not any(x.state in ("PENDING", "RUNNING") for x in sim.tasks):
            failed = [x.name for x in sim.tasks if x.state == "FAILED"]
            if failed:
                run["error"] = {"code": 2, "message": f"task {failed[0]} failed"}
            self._end(run, "FAILED" if failed else "SUCCEEDED", t)

    @staticmethod
    def _end(run: dict[str, Any], state: str, t: str) -> None:
        run["state"], run["finished_at"] = state, t
        run["state_history"].append({"update_time": t, "state": state})

    def render(self, sim: SimRun) -> dict[str, Any]:
        run = dict(sim.run)
        rid = run["run_id"]
        root_state = "RUNNING" if run["state"] == "RUNNING" else run["state"]
        details: list[dict[str, Any]] = []
        if run["state"] != "PENDING":
            root_id = f"{rid}-root"
            details.append(
                self._detail(
                    rid, root_id, run["display_name"][:20], root_state, run["created_at"], None
                )
            )
            details.append(
                self._detail(
                    rid,
                    f"{rid}-root-driver",
                    "root-driver",
                    "SUCCEEDED",
                    run["created_at"],
                    root_id,
                )
            )
        for task in sim.tasks:
            if not task.state:
                continue
            driver_state = "RUNNING" if task.state == "PENDING" else "SUCCEEDED"
            details.append(
                self._detail(
                    rid,
                    task.ids["driver"],
                    f"{task.name}-driver",
                    driver_state,
                    task.created,
                    f"{rid}-root",
                )
            )
            d = self._detail(
                rid, task.ids["dag"], task.name, task.state, task.created, f"{rid}-root"
            )
            d["start_time"], d["end_time"] = task.started, task.finished
            if task.state == "FAILED":
                d["error"] = {"code": 2, "message": "exit status 1"}
            details.append(d)
            if task.state != "PENDING":
                ex = self._detail(
                    rid, task.ids["executor"], "executor", task.state, task.started, task.ids["dag"]
                )
                ex["pod_name"] = f"{task.name}-{task.ids['executor'][-8:]}"
                if self.on_pod is not None and ex["pod_name"] not in self.pods_seen:
                    self.pods_seen.add(ex["pod_name"])
                    self.on_pod(task.name, ex["pod_name"])
                details.append(ex)
        if details:
            run["run_details"] = {"task_details": details}
        return run

    @staticmethod
    def _detail(
        rid: str, tid: str, name: str, state: str, created: str, parent: str | None
    ) -> dict[str, Any]:
        d = {
            "run_id": rid,
            "task_id": tid,
            "display_name": name,
            "create_time": created,
            "start_time": created,
            "end_time": ZERO_TIME,
            "state": state,
        }
        if parent:
            d["parent_task_id"] = parent
        return d


class _Handler(BaseHTTPRequestHandler):
    server: KfpServer
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

    def _login(self, url: Any) -> bool:
        if not self.server.state.login_redirect:
            return False
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if url.path.startswith("/dex/auth"):
            page = b"<!DOCTYPE html><html><body><form>Log in to Your Account</form></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        else:
            self.send_response(302)
            self.send_header("Location", "/dex/auth?client_id=kubeflow-oidc-authservice")
            self.send_header("Content-Length", "0")
            self.end_headers()
        return True

    def _handle(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        if self._login(url):
            return
        query = parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        matched = spec().match(self.command, url.path)
        record = Recorded(
            self.command, url.path, matched[0].id if matched else None, query, headers, None
        )
        with state.lock:
            state.requests.append(record)
        if matched is None:
            with state.lock:
                state.violations.append(
                    f"request {self.command} {url.path}: not an operation of the spec"
                )
            record.status = 404
            self._send(404, {"code": 5, "message": "Not Found"})
            return
        op, path_params = matched
        problems, parsed = spec().check_request(op, path_params, query, headers, body)
        record.body = parsed
        status, out = self._dispatch(op, path_params, query, parsed, headers, problems)
        response_problems = spec().check_response(op, status, out)
        with state.lock:
            state.violations.extend(problems)
            state.violations.extend(response_problems)
        record.status = status
        self._send(status, out)

    def _dispatch(
        self,
        op: Operation,
        path_params: dict[str, str],
        query: dict[str, list[str]],
        parsed: Any,
        headers: dict[str, str],
        problems: list[str],
    ) -> tuple[int, Any]:
        state = self.server.state
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if token in state.forbidden_tokens:
            return 403, {"code": 7, "message": "Forbidden: the user cannot access this resource"}
        if token not in state.tokens:
            return 401, {"code": 16, "message": "Unauthorized: missing or invalid bearer token"}
        if problems:  # what grpc-gateway would refuse: answer 400 with the problems
            return 400, {"code": 3, "message": "; ".join(problems)}
        handler = getattr(state, op.id, None)
        if handler is None:
            return 501, {"code": 12, "message": f"{op.id} is not implemented by the test server"}
        try:
            with state.lock:
                return 200, handler({"path": path_params, "query": query, "body": parsed})
        except ApiError as e:
            return e.http, {"code": e.code, "message": e.message}

    do_GET = do_POST = do_DELETE = do_PATCH = _handle


class KfpServer(LoopbackServer):
    def __init__(self, port: int = 0) -> None:
        super().__init__(port, _Handler)
        self.state = KfpState()
        self._thread: threading.Thread | None = None

    def start(self) -> KfpServer:
        spec()  # load before the first request
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._drop_connections()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8888)
    ap.add_argument("--token", default="test-token")
    ap.add_argument("--fail", action="append", default=[], help="a task to fail")
    args = ap.parse_args()
    server = KfpServer(args.port)
    server.state.tokens = {args.token}
    server.state.fail_tasks = set(args.fail)
    print(f"KFP test server on {server.url} (token {args.token!r})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for v in server.state.violations:
            print("violation:", v)


if __name__ == "__main__":
    main()
