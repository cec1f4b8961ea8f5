"""Kubeflow Pipelines: upload the compiled pipeline, find or create the experiment, start a run or
a recurring run, and follow the run's task details; all through `kfp.Client`.

The pipeline is found by name: the first submission uploads it, later ones upload a new version
named after the content (`<pipeline>-<sha256[:12]>`), and an unchanged notebook reuses the version
it already has instead of piling up identical ones. The run references that version, so the KFP
UI shows which notebook revision each run ran.

kfp.Client's high-level methods print links (and display HTML inside a notebook), so calls that
would print go through the client's generated service APIs (`client.runs`, `client.experiments`,
...), the same kfp_server_api calls the high-level methods make.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..engine import states
from ..model import Pipeline
from ._deps import kfp_server_api
from .compiled import CompiledPipeline
from .config import KfpConnection
from .errors import (
    AuthError,
    ClusterError,
    FollowError,
    NotFoundError,
    RejectedError,
    RequestTimeout,
    UnreachableError,
    not_the_api,
    server_reason,
)
from .handle import SubmitHandle, SubmitInfo
from .net import is_network_error, is_timeout, network_reason, quiet, seconds_text, within
from .steplogs import (
    KFP_NAMESPACE,
    PodLogs,
    StepFailure,
    fetch_failure,
    first_pod,
    kfp_component_source,
)
from .tracker import RunSnapshot, TaskSnapshot

T = TypeVar("T")

DEFAULT_EXPERIMENT = "Default"
#: seconds between two reads of a run while following it (kfp's own wait uses 5)
DEFAULT_POLL = 5.0
#: consecutive network failures tolerated while following before giving up
MAX_FOLLOW_FAILURES = 5


# --- errors


def _translate(e: BaseException, conn: KfpConnection, action: str) -> ClusterError | None:
    """One clear ClusterError for what the server or the network did while doing `action`;
    None for anything else (a bug is reported as one, not as a network problem)."""
    if isinstance(e, ClusterError):
        return e
    if is_timeout(e):
        return RequestTimeout(
            f"the KFP API at {conn.host} did not answer within {seconds_text(conn.request_timeout)}"
            f" s while {action}; check --host, or raise --request-timeout"
        )
    if not isinstance(e, kfp_server_api().ApiException):
        if not is_network_error(e):
            return None
        return UnreachableError(
            f"cannot reach the KFP API at {conn.describe()} while {action}: {network_reason(e)}",
            fix="check the address and that the API is reachable from here (a port-forward "
            "running, a VPN, the cluster up)",
        )
    status = int(e.status or 0)
    reason = server_reason(e.body, fallback=str(e.reason or ""))
    said = f": {reason}" if reason else ""
    if status == 0:
        return UnreachableError(f"cannot reach the KFP API at {conn.describe()}{said}")
    if status == 401:
        sent = (
            f"the token from {conn.token.source} was refused" if conn.token else "no token was sent"
        )
        return AuthError(
            f"the KFP API at {conn.host} refused the credentials (401 Unauthorized) while "
            f"{action}{said}",
            status=401,
            fix=f"{sent}; give --token-env VAR (the name of an environment variable holding a "
            "valid bearer token)",
        )
    if status == 403:
        ns = f" in namespace '{conn.namespace}'" if conn.namespace else ""
        return AuthError(
            f"the KFP API at {conn.host} denied permission (403 Forbidden) while {action}{ns}"
            f"{said}",
            status=403,
            fix="check that your account may use this namespace (multi-user Kubeflow: "
            "--namespace YOUR-PROFILE-NAMESPACE) and that the token is yours",
        )
    if status == 404 and conn.namespace and "namespace" in reason.lower():
        return NotFoundError(
            f"the namespace '{conn.namespace}' does not exist on the KFP server{said}",
            fix="give --namespace with a namespace (Kubeflow profile) that exists",
        )
    if status == 404 and action == "checking the KFP API":
        return NotFoundError(
            f"{conn.host} does not serve the KFP API (GET /apis/v2beta1/healthz: 404){said}",
            fix="check --host: it is the address of the ml-pipeline API (behind Kubeflow's "
            "gateway, usually https://HOST/pipeline)",
        )
    if status == 404:
        return NotFoundError(f"not found while {action}{said}")
    if 400 <= status < 500:
        return RejectedError(
            f"the KFP server rejected the request while {action} ({status}){said}",
            reason=reason,
        )
    return ClusterError(f"the KFP server failed while {action} ({status}){said}")


def _call(
    conn: KfpConnection,
    action: str,
    fn: Callable[[], T],
    *,
    api: Any = None,
    warnings_too: bool = True,
    bounded: bool = True,
) -> T:
    """Run one client call within the connection's deadline; any failure becomes one ClusterError.
    With `api` (the kfp.Client, or a service API), also refuse an answer that is not JSON: the
    generated client turns an HTML login page or broken JSON into an empty object instead of
    failing, and we would go on with ids of None. `bounded=False` for a call that only wraps
    bounded ones (building the client), so that the inner call's deadline and words win."""
    try:
        with quiet(warnings_too):
            result = within(conn.request_timeout, fn) if bounded else fn()
    except Exception as e:
        error = _translate(e, conn, action)
        if error is None:
            raise
        raise error from None
    if api is not None:
        _check_json(api, conn, action)
    return result


def _check_json(api: Any, conn: KfpConnection, action: str) -> None:
    """Raise UnexpectedAnswer unless the last answer of `api`'s ApiClient was JSON, as the KFP
    API's always is (its public `last_response`, the urllib3 response of the call)."""
    api_client = getattr(api, "api_client", None)
    if api_client is None:  # a kfp.Client: every service API shares one ApiClient
        api_client = getattr(getattr(api, "runs", None), "api_client", None)
    if api_client is None:
        api_client = getattr(getattr(api, "_healthz_api", None), "api_client", None)
    response = getattr(api_client, "last_response", None)
    getheader = getattr(response, "getheader", None)
    ctype = str(getheader("Content-Type") or "") if callable(getheader) else ""
    text = _text(getattr(response, "data", None))
    if ctype and "json" not in ctype.lower():
        raise not_the_api(
            conn.host,
            "a KFP API",
            action,
            text,
            hint=f"it answered with a {ctype.split(';')[0].strip()} page instead of the KFP API "
            "(a login page?): give a token with --token-env VAR, or put the session cookie in "
            "kfp's context file (client_authentication_cookie), and check that --host is the "
            "API address (https://HOST/pipeline)",
        )
    if text.strip() and not _is_json(text):
        raise not_the_api(conn.host, "a KFP API", action, text)


def _text(data: Any) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data if isinstance(data, str) else ""


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# --- the client


def make_client(conn: KfpConnection) -> Any:
    """A kfp.Client for `conn`. The server is contacted only if kfp asks for healthz (no
    namespace known), once, not kfp's five attempts five seconds apart."""
    kfp_server_api()  # a clear error without the kfp SDK
    from kfp.client import Client

    class _Client(Client):  # type: ignore[misc]
        def get_kfp_healthz(self, sleep_duration: int = 5) -> Any:
            return _call(
                conn,
                "checking the KFP API",
                lambda: self._healthz_api.healthz_service_get_healthz(
                    _request_timeout=conn.timeouts
                ),
                api=self,
            )

    kwargs: dict[str, Any] = {"host": conn.host, "ui_host": conn.ui_url}
    if conn.token is not None:
        kwargs["existing_token"] = conn.token.reveal()
    elif conn.sa_token_path:
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(conn.sa_token_path)
    if conn.namespace:
        kwargs["namespace"] = conn.namespace
    return _call(conn, "connecting to the KFP API", lambda: _Client(**kwargs), bounded=False)


def _name_filter(key: str, value: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "string_value": value}]})


# --- the pipeline's tasks, as KFP names them


def task_names(pipeline: Pipeline | CompiledPipeline, ir_text: str) -> dict[str, str]:
    """KFP task name (the display name of its task details) -> step name."""
    if isinstance(pipeline, CompiledPipeline):  # its steps are the IR's own task names
        return {s.name: s.name for s in pipeline.steps}
    from kfp.dsl.utils import maybe_rename_for_k8s

    from ..packaging.program import python_name

    doc = next(iter(yaml.safe_load_all(ir_text)))
    tasks = doc.get("root", {}).get("dag", {}).get("tasks", {})
    names = {key: (spec or {}).get("taskInfo", {}).get("name", key) for key, spec in tasks.items()}
    out: dict[str, str] = {}
    norm = {re.sub(r"[^a-z0-9]", "", n.lower()): n for n in names.values()}
    for step in pipeline.steps:
        key = maybe_rename_for_k8s(python_name(step.name))
        name = names.get(key) or norm.get(re.sub(r"[^a-z0-9]", "", step.name.lower()))
        if name:
            out[name] = step.name
    return out


def same_spec(served: Any, ir_text: str) -> bool:
    """Whether a version's pipeline_spec, as the server returns it, is this IR. KFP returns the
    pipeline spec alone, or {pipeline_spec, platform_spec} when the YAML has a platform part."""
    if not isinstance(served, dict) or not served:
        return False
    docs = [d for d in yaml.safe_load_all(ir_text) if d is not None]
    if served == docs[0]:
        return True
    platform: dict[str, Any] = {}
    for d in docs[1:]:
        platform.update(d)
    return served == {"pipeline_spec": docs[0], "platform_spec": platform}


def version_name(pipeline: Pipeline | CompiledPipeline, ir_text: str) -> str:
    """A version name that is the same for the same compiled pipeline, and valid as a
    Kubernetes name (KFP can keep pipelines as Kubernetes objects)."""
    digest = hashlib.sha256(ir_text.encode("utf-8")).hexdigest()[:12]
    base = re.sub(r"[^a-z0-9-]+", "-", pipeline.name.lower()).strip("-")[:50].rstrip("-")
    return f"{base or 'pipeline'}-{digest}"


# --- submission


def _find_pipeline(client: Any, conn: KfpConnection, name: str, ns: str | None) -> str | None:
    kwargs: dict[str, Any] = {"filter": _name_filter("display_name", name), "page_size": 2}
    if ns:
        kwargs["namespace"] = ns
    result = _call(
        conn,
        "looking up the pipeline",
        lambda: client.pipelines.pipeline_service_list_pipelines(
            _request_timeout=conn.timeouts, **kwargs
        ),
        api=client,
    )
    found = [p for p in (result.pipelines or []) if p.display_name == name]
    if len(found) > 1:
        raise RejectedError(
            f"the KFP server has {len(found)} pipelines named '{name}'",
            reason="ambiguous pipeline name",
            fix="rename the notebook's pipeline (notebook metadata kfp_jupyter.name) or delete "
            "the duplicates in the KFP UI",
        )
    return str(found[0].pipeline_id) if found else None


def _latest_version(client: Any, conn: KfpConnection, pipeline_id: str) -> Any | None:
    result = _call(
        conn,
        "looking up the pipeline's versions",
        lambda: client.pipelines.pipeline_service_list_pipeline_versions(
            pipeline_id=pipeline_id,
            page_size=1,
            sort_by="created_at desc",
            _request_timeout=conn.timeouts,
        ),
        api=client,
    )
    versions = result.pipeline_versions or []
    return versions[0] if versions else None


def _find_version(client: Any, conn: KfpConnection, pipeline_id: str, name: str) -> Any | None:
    result = _call(
        conn,
        "looking up the pipeline's versions",
        lambda: client.pipelines.pipeline_service_list_pipeline_versions(
            pipeline_id=pipeline_id,
            filter=_name_filter("display_name", name),
            page_size=1,
            _request_timeout=conn.timeouts,
        ),
        api=client,
    )
    found = [v for v in (result.pipeline_versions or []) if v.display_name == name]
    return found[0] if found else None


def _upload(
    client: Any,
    conn: KfpConnection,
    pipeline: Pipeline | CompiledPipeline,
    package: Path,
    ns: str | None,
    ir_text: str,
    info: SubmitInfo,
) -> tuple[str, str]:
    """(pipeline id, version id) of the compiled pipeline on the server, uploading as needed."""
    name = pipeline.name
    pid = _find_pipeline(client, conn, name, ns)
    if pid is None:
        kwargs: dict[str, Any] = {"name": name}
        if pipeline.description:
            kwargs["description"] = pipeline.description
        if ns:
            kwargs["namespace"] = ns
        try:
            uploaded = _call(
                conn,
                "uploading the pipeline",
                lambda: client.pipeline_uploads.upload_pipeline(
                    str(package), _request_timeout=conn.timeouts, **kwargs
                ),
                api=client,
            )
        except RejectedError as e:
            raise RejectedError(
                f"the KFP server rejected the pipeline '{name}': {e.reason}",
                reason=e.reason,
                fix="compile it with `kfp-jupyter compile` and look at the part the server "
                "names; if the server's KFP is older than the SDK, install a matching kfp",
            ) from None
        pid = str(uploaded.pipeline_id)
        version = _latest_version(client, conn, pid)
        if version is None:
            raise RejectedError(
                f"the KFP server created pipeline '{name}' ({pid}) without a version",
                reason="no pipeline version",
            )
        info.notes.append(f"uploaded pipeline '{name}' (new pipeline)")
        info.version_name = str(version.display_name or "")
        return pid, str(version.pipeline_version_id)
    vname = version_name(pipeline, ir_text)
    existing = _find_version(client, conn, pid, vname)
    if existing is None:
        latest = _latest_version(client, conn, pid)
        if latest is not None and same_spec(getattr(latest, "pipeline_spec", None), ir_text):
            existing = latest
    if existing is not None:
        shown = str(existing.display_name or vname)
        info.notes.append(f"pipeline '{name}' is unchanged: reusing its version '{shown}'")
        info.version_name = shown
        return pid, str(existing.pipeline_version_id)
    vkwargs: dict[str, Any] = {"name": vname, "pipelineid": pid}
    if pipeline.description:
        vkwargs["description"] = pipeline.description
    try:
        version = _call(
            conn,
            "uploading a new version of the pipeline",
            lambda: client.pipeline_uploads.upload_pipeline_version(
                str(package), _request_timeout=conn.timeouts, **vkwargs
            ),
            api=client,
        )
    except RejectedError as e:
        raise RejectedError(
            f"the KFP server rejected the new version of pipeline '{name}': {e.reason}",
            reason=e.reason,
        ) from None
    info.notes.append(f"uploaded pipeline '{name}' as a new version '{vname}'")
    info.version_name = vname
    return pid, str(version.pipeline_version_id)


def _experiment(
    client: Any, conn: KfpConnection, name: str, ns: str | None, info: SubmitInfo
) -> str:
    api = kfp_server_api()
    kwargs: dict[str, Any] = {"filter": _name_filter("display_name", name), "page_size": 2}
    if ns:
        kwargs["namespace"] = ns
    result = _call(
        conn,
        "looking up the experiment",
        lambda: client.experiments.experiment_service_list_experiments(
            _request_timeout=conn.timeouts, **kwargs
        ),
        api=client,
    )
    found = [x for x in (result.experiments or []) if x.display_name == name]
    if found:
        exp = found[0]
        if str(exp.storage_state or "") == "ARCHIVED":
            raise NotFoundError(
                f"the experiment '{name}' is archived: KFP starts no runs in it",
                fix="restore it in the KFP UI (Experiments > Archived) or give another "
                "--experiment",
            )
        return str(exp.experiment_id)
    body = api.V2beta1Experiment(display_name=name, namespace=ns)
    try:
        created = _call(
            conn,
            "creating the experiment",
            lambda: client.experiments.experiment_service_create_experiment(
                experiment=body, _request_timeout=conn.timeouts
            ),
            api=client,
        )
    except (RejectedError, NotFoundError, AuthError) as e:
        where = f" in namespace '{ns}'" if ns else ""
        raise type(e)(
            **_same_kind(
                e,
                f"the experiment '{name}' does not exist{where} and could not be created: "
                f"{e.message}",
            )
        ) from None
    info.notes.append(f"created experiment '{name}'")
    return str(created.experiment_id)


def _same_kind(e: ClusterError, message: str) -> dict[str, Any]:
    """Constructor arguments to re-raise `e` as the same class with a new message."""
    kwargs: dict[str, Any] = {"message": message, "fix": e.fix}
    if isinstance(e, AuthError):
        kwargs["status"] = e.status
    if isinstance(e, RejectedError):
        kwargs["reason"] = e.reason
    return kwargs


def submit_kfp(
    pipeline: Pipeline | CompiledPipeline,
    ir_text: str,
    conn: KfpConnection,
    *,
    arguments: dict[str, Any],
    experiment: str | None = None,
    run_name: str | None = None,
    schedule: str | None = None,
    poll_interval: float | None = None,
    logs: PodLogs | None = None,
) -> SubmitHandle:
    """Upload, find or create the experiment, create the run (or recurring run).

    logs: where a failed step's pod log is read from (KFP's API does not serve logs: the
    Kubernetes API does); None: failures are shown as KFP reports them."""
    api = kfp_server_api()

    client = make_client(conn)
    ns = conn.namespace or (client.get_user_namespace() or None)
    exp_name = experiment or pipeline.experiment or DEFAULT_EXPERIMENT
    if logs is not None and logs.namespace is None:
        logs.namespace = ns or KFP_NAMESPACE  # a profile's runs run in the profile's namespace
    name = run_name or f"{pipeline.name} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    info = SubmitInfo(
        engine="kfp",
        kind="recurring" if schedule else "run",
        run_id="",
        name=name,
        url=None,
        host=conn.host,
        namespace=ns,
        pipeline=pipeline.name,
        experiment=exp_name,
        schedule=schedule,
        parameters=dict(arguments),
    )
    with tempfile.TemporaryDirectory(prefix="kfpj-submit-") as tmp:
        package = Path(tmp) / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', pipeline.name)}.yaml"
        package.write_text(ir_text, encoding="utf-8")
        pid, vid = _upload(client, conn, pipeline, package, ns, ir_text, info)
    info.pipeline_id, info.version_id = pid, vid
    info.experiment_id = _experiment(client, conn, exp_name, ns, info)
    reference = api.V2beta1PipelineVersionReference(pipeline_id=pid, pipeline_version_id=vid)
    runtime = api.V2beta1RuntimeConfig(parameters=dict(arguments))
    if schedule:
        body = api.V2beta1RecurringRun(
            display_name=name,
            experiment_id=info.experiment_id,
            pipeline_version_reference=reference,
            runtime_config=runtime,
            trigger=api.V2beta1Trigger(cron_schedule=api.V2beta1CronSchedule(cron=schedule)),
            mode=api.RecurringRunMode.ENABLE,
            max_concurrency="1",  # int64: a JSON string, as the API spec says
        )
        created = _call(
            conn,
            "creating the recurring run",
            lambda: client.recurring_runs.recurring_run_service_create_recurring_run(
                recurring_run=body, _request_timeout=conn.timeouts
            ),
            api=client,
        )
        info.run_id = str(created.recurring_run_id)
        info.url = f"{conn.ui_url}/#/recurringrun/details/{info.run_id}"
        info.notes.append(f"created recurring run '{name}' ({schedule}) in experiment '{exp_name}'")
        return SubmitHandle(info, [s.name for s in pipeline.steps], None)
    run_body = api.V2beta1Run(
        display_name=name,
        experiment_id=info.experiment_id,
        pipeline_version_reference=reference,
        runtime_config=runtime,
    )
    run = _call(
        conn,
        "creating the run",
        lambda: client.runs.run_service_create_run(run=run_body, _request_timeout=conn.timeouts),
        api=client,
    )
    info.run_id = str(run.run_id)
    info.url = f"{conn.ui_url}/#/runs/details/{info.run_id}"
    info.notes.append(f"created run '{name}' in experiment '{exp_name}'")
    follower = KfpFollower(
        client,
        conn,
        info.run_id,
        task_names(pipeline, ir_text),
        poll_interval or DEFAULT_POLL,
        ir_text=ir_text,
        logs=logs,
    )
    return SubmitHandle(info, [s.name for s in pipeline.steps], follower)


# --- following a run

_RUN_STATES = {
    "SUCCEEDED": states.SUCCEEDED,
    "FAILED": states.FAILED,
    "CANCELED": states.CANCELLED,
    "SKIPPED": states.SKIPPED,
}
_TASK_STATES = {
    "PENDING": states.PENDING,
    "RUNNING": states.RUNNING,
    "SUCCEEDED": states.SUCCEEDED,
    "SKIPPED": states.SKIPPED,
    "FAILED": states.FAILED,
    "CANCELING": states.RUNNING,
    "CANCELED": states.CANCELLED,
    "PAUSED": states.RUNNING,
    "RUNTIME_STATE_UNSPECIFIED": states.PENDING,
}
#: how far along a state is, to pick one of several task details of the same task
_PROGRESS = {
    states.PENDING: 0,
    states.RUNNING: 1,
    states.SKIPPED: 2,
    states.CANCELLED: 2,
    states.SUCCEEDED: 3,
    states.FAILED: 3,
}


def _epoch(value: Any) -> float | None:
    """A server time as epoch seconds; KFP sends 1970-01-01T00:00:00Z for 'not yet'."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        ts = value.timestamp()
        return ts if ts > 0 else None
    return None


def _error_message(obj: Any) -> str | None:
    err = getattr(obj, "error", None)
    message = getattr(err, "message", None) if err is not None else None
    return str(message) if message else None


def run_snapshot(run: Any, tasks_by_name: dict[str, str]) -> RunSnapshot:
    """Our picture of a V2beta1Run: its state and the task details of the notebook's steps."""
    chosen: dict[str, tuple[tuple[float, int], TaskSnapshot]] = {}
    details = getattr(getattr(run, "run_details", None), "task_details", None) or []
    for td in details:
        step = tasks_by_name.get(str(td.display_name or ""))
        if step is None:  # root DAG, drivers, executor pods: not one of the notebook's steps
            continue
        state = _TASK_STATES.get(str(td.state or ""), states.PENDING)
        started, finished = _epoch(td.start_time), _epoch(td.end_time)
        snap = TaskSnapshot(
            state=state,
            attempt=0 if state == states.PENDING else 1,
            started=started,
            finished=finished if state in states.TERMINAL else None,
            message=_error_message(td),
        )
        rank = (_epoch(td.create_time) or started or 0.0, _PROGRESS.get(state, 0))
        if step not in chosen or rank >= chosen[step][0]:
            chosen[step] = (rank, snap)
    raw = str(getattr(run, "state", "") or "")
    state = _RUN_STATES.get(raw, states.RUNNING)
    message = _error_message(run)
    if raw == "CANCELING":
        message = message or "cancelling"
    return RunSnapshot(state, {s: t for s, (_, t) in chosen.items()}, message)


class KfpFollower:
    """Reads the run every `interval` seconds until it ends."""

    def __init__(
        self,
        client: Any,
        conn: KfpConnection,
        run_id: str,
        tasks_by_name: dict[str, str],
        interval: float,
        *,
        ir_text: str | None = None,
        logs: PodLogs | None = None,
    ) -> None:
        self.client = client
        self.conn = conn
        self.run_id = run_id
        self.tasks_by_name = tasks_by_name
        self.interval = interval
        self.ir_text = ir_text
        self.logs = logs
        self.last: Any = None

    def _get(self) -> Any:
        return _call(
            self.conn,
            "reading the run",
            lambda: self.client.runs.run_service_get_run(
                run_id=self.run_id, _request_timeout=self.conn.timeouts
            ),
            warnings_too=threading.current_thread() is threading.main_thread(),
            api=self.client,
        )

    def snapshots(self, stop: threading.Event) -> Iterator[RunSnapshot]:
        failures = 0
        while not stop.is_set():
            try:
                run = self._get()
            except UnreachableError as e:
                failures += 1
                if failures >= MAX_FOLLOW_FAILURES:
                    raise FollowError(
                        f"lost the connection while following run {self.run_id}: {e.message}",
                        fix="the run goes on in the cluster; follow it in the KFP UI",
                    ) from None
                stop.wait(min(30.0, self.interval * 2**failures))
                continue
            failures = 0
            self.last = run
            yield run_snapshot(run, self.tasks_by_name)
            stop.wait(self.interval)

    def failure(self, step: str) -> StepFailure:
        """What the failed step's executor pod logged, its Python traceback mapped to cells with
        the component's source from the compiled pipeline."""
        if self.logs is None:
            return StepFailure(step, note="its log was not read (no Kubernetes API given)")
        details = getattr(getattr(self.last, "run_details", None), "task_details", None) or []
        mine = [
            d
            for d in details
            if self.tasks_by_name.get(str(d.display_name or "")) == step
            and str(d.state or "") == "FAILED"
        ]
        task = mine[-1] if mine else None
        pods = first_pod(details, str(task.task_id)) if task is not None else []
        found = (
            kfp_component_source(self.ir_text, str(task.display_name))
            if self.ir_text and task is not None
            else None
        )
        # without the component's source, the exception is still read; its frames are not mapped
        program, function = found if found else ("", "")
        logs = self.logs
        return fetch_failure(step, lambda: logs.read(pods), program=program, function=function)

    def cancel(self) -> None:
        _call(
            self.conn,
            "terminating the run",
            lambda: self.client.runs.run_service_terminate_run(
                run_id=self.run_id, _request_timeout=self.conn.timeouts
            ),
            warnings_too=threading.current_thread() is threading.main_thread(),
            api=self.client,
        )
