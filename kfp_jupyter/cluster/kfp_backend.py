"""Kubeflow Pipelines: upload the compiled pipeline, find or create the experiment, start a run or
a recurring run, and follow the run's task details; all through `kfp.Client`.

The pipeline is found by name: the first submission uploads it, later ones upload a new version
named after the content (`<pipeline>-<sha256[:12]>`), and an unchanged notebook reuses the version
it already has instead of piling up identical ones. The run references that version, so the KFP
UI shows which notebook revision each run ran.

kfp.Client's high-level methods print links (and display HTML inside a notebook), so calls that
would print go through the client's generated service APIs (`client.runs`, `client.experiments`,
...), the same kfp_server_api calls the high-level methods make. Each goes through
kfp_client.call; the run is followed by kfp_follow.KfpFollower.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..compile.kfp_ir.names import unique
from ..compile.shared import k8s_name
from ._deps import kfp_server_api
from .compiled import CompiledPipeline
from .errors import AuthError, ClusterError, NotFoundError, RejectedError
from .handle import SubmitHandle, SubmitInfo
from .kfp_client import call, make_client, name_filter
from .kfp_follow import DEFAULT_POLL, KfpFollower
from .steplogs import KFP_NAMESPACE, PodLogs

if TYPE_CHECKING:
    from ..model import Pipeline
    from .config import KfpConnection

DEFAULT_EXPERIMENT = "Default"


# --- the pipeline's tasks, as KFP names them


def task_names(pipeline: Pipeline | CompiledPipeline, ir_text: str) -> dict[str, str]:
    """KFP task name (the display name of its task details) -> step name."""
    if isinstance(pipeline, CompiledPipeline):  # its steps are the IR's own task names
        return {s.name: s.name for s in pipeline.steps}
    doc = next(iter(yaml.safe_load_all(ir_text)))
    tasks = doc.get("root", {}).get("dag", {}).get("tasks", {})
    out: dict[str, str] = {}
    for step, key in step_tasks(pipeline).items():
        if key in tasks:
            out[(tasks[key] or {}).get("taskInfo", {}).get("name", key)] = step
    return out


def step_tasks(pipeline: Pipeline) -> dict[str, str]:
    """Step name -> its task in the IR's root DAG, named by the compiler's own rules in its order
    (compile/kfp_ir/pipeline_spec.py): the volumes made per run take `createpvc`, `createpvc-2`,
    ... first, then each step its Kubernetes name, numbered when taken. So a step named
    `createpvc` is `createpvc-2` when there is a volume, never the volume's task."""
    taken: set[str] = set()
    for volume in pipeline.volumes:
        if volume.claim is None:
            unique("createpvc", taken)
    return {step.name: unique(k8s_name(step.name), taken) for step in pipeline.steps}


def served_spec(ir_text: str) -> dict[str, Any]:
    """The IR as KFP's API returns a version's `pipeline_spec`: the PipelineSpec alone, or
    {pipeline_spec, platform_spec} when the YAML has a Kubernetes platform part (secrets,
    volumes, labels, annotations, timeouts), as KFP's YamlStringToPipelineSpecStruct makes it."""
    docs = [d for d in yaml.safe_load_all(ir_text) if isinstance(d, dict)]
    platform: dict[str, Any] = {}
    for d in docs[1:]:
        platforms = d.get("platforms")
        if isinstance(platforms, dict) and "kubernetes" in platforms:
            platform = d
    if not platform:
        return docs[0] if docs else {}
    return {"pipeline_spec": docs[0], "platform_spec": platform}


def same_spec(served: Any, ir_text: str) -> bool:
    """Whether a version's pipeline_spec, as the server returns it, is this IR: both documents,
    so that a version without this IR's secrets or timeouts is never taken for it."""
    return isinstance(served, dict) and bool(served) and served == served_spec(ir_text)


def version_name(pipeline: Pipeline | CompiledPipeline, ir_text: str) -> str:
    """A version name that is the same for the same compiled pipeline, and valid as a
    Kubernetes name (KFP can keep pipelines as Kubernetes objects)."""
    digest = hashlib.sha256(ir_text.encode("utf-8")).hexdigest()[:12]
    base = re.sub(r"[^a-z0-9-]+", "-", pipeline.name.lower()).strip("-")[:50].rstrip("-")
    return f"{base or 'pipeline'}-{digest}"


# --- submission


def _named(
    client: Any, conn: KfpConnection, what: str, name: str, ns: str | None, lister: Any
) -> list[Any]:
    """The objects (pipelines, experiments) named exactly `name`: the server's filter matches
    display names, and two are enough to tell one from several."""
    kwargs: dict[str, Any] = {"filter": name_filter("display_name", name), "page_size": 2}
    if ns:
        kwargs["namespace"] = ns
    result = call(
        conn,
        f"looking up the {what}",
        lambda: lister(_request_timeout=conn.timeouts, **kwargs),
        api=client,
    )
    return [x for x in (getattr(result, what + "s") or []) if x.display_name == name]


def _find_pipeline(client: Any, conn: KfpConnection, name: str, ns: str | None) -> str | None:
    lister = client.pipelines.pipeline_service_list_pipelines
    found = _named(client, conn, "pipeline", name, ns, lister)
    if len(found) > 1:
        raise RejectedError(
            f"the KFP server has {len(found)} pipelines named '{name}'",
            reason="ambiguous pipeline name",
            fix="rename the notebook's pipeline (notebook metadata kfp_jupyter.name) or delete "
            "the duplicates in the KFP UI",
        )
    return str(found[0].pipeline_id) if found else None


def _latest_version(client: Any, conn: KfpConnection, pipeline_id: str) -> Any | None:
    result = call(
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
    result = call(
        conn,
        "looking up the pipeline's versions",
        lambda: client.pipelines.pipeline_service_list_pipeline_versions(
            pipeline_id=pipeline_id,
            filter=name_filter("display_name", name),
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
    pid = _find_pipeline(client, conn, pipeline.name, ns)
    if pid is None:
        return _upload_pipeline(client, conn, pipeline, package, ns, info)
    vname = version_name(pipeline, ir_text)
    existing = _unchanged_version(client, conn, pid, vname, ir_text)
    if existing is None:
        return _upload_version(client, conn, pipeline, package, pid, vname, info)
    shown = str(existing.display_name or vname)
    info.notes.append(f"pipeline '{pipeline.name}' is unchanged: reusing its version '{shown}'")
    info.version_name = shown
    return pid, str(existing.pipeline_version_id)


def _unchanged_version(
    client: Any, conn: KfpConnection, pid: str, vname: str, ir_text: str
) -> Any | None:
    """The version of this very IR: named after its content, or (uploaded by someone else under
    another name) the latest one when the server's spec is the same."""
    existing = _find_version(client, conn, pid, vname)
    if existing is not None:
        return existing
    latest = _latest_version(client, conn, pid)
    if latest is not None and same_spec(getattr(latest, "pipeline_spec", None), ir_text):
        return latest
    return None


def _upload_pipeline(
    client: Any,
    conn: KfpConnection,
    pipeline: Pipeline | CompiledPipeline,
    package: Path,
    ns: str | None,
    info: SubmitInfo,
) -> tuple[str, str]:
    """The first upload: the server makes the pipeline and its first version from the file."""
    name = pipeline.name
    uploaded = _send_file(
        client,
        conn,
        pipeline,
        package,
        client.pipeline_uploads.upload_pipeline,
        {"name": name, "namespace": ns},
        action="uploading the pipeline",
        refused=f"the pipeline '{name}'",
        fix="compile it with `kfp-jupyter compile` and look at the part the server names; if the "
        "server's KFP is older than the SDK, install a matching kfp",
    )
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


def _upload_version(
    client: Any,
    conn: KfpConnection,
    pipeline: Pipeline | CompiledPipeline,
    package: Path,
    pid: str,
    vname: str,
    info: SubmitInfo,
) -> tuple[str, str]:
    """A changed pipeline: a new version of the one the server has, named after its content."""
    name = pipeline.name
    version = _send_file(
        client,
        conn,
        pipeline,
        package,
        client.pipeline_uploads.upload_pipeline_version,
        {"name": vname, "pipelineid": pid},
        action="uploading a new version of the pipeline",
        refused=f"the new version of pipeline '{name}'",
    )
    info.notes.append(f"uploaded pipeline '{name}' as a new version '{vname}'")
    info.version_name = vname
    return pid, str(version.pipeline_version_id)


def _send_file(
    client: Any,
    conn: KfpConnection,
    pipeline: Pipeline | CompiledPipeline,
    package: Path,
    upload: Callable[..., Any],
    fields: dict[str, Any],
    *,
    action: str,
    refused: str,
    fix: str | None = None,
) -> Any:
    """Send the compiled file through `upload` (a new pipeline, or a new version of one) with the
    pipeline's description; a refusal says what was `refused`, and the server's reason."""
    query = {k: v for k, v in fields.items() if v}
    if pipeline.description:
        query["description"] = pipeline.description
    try:
        return call(
            conn,
            action,
            lambda: upload(str(package), _request_timeout=conn.timeouts, **query),
            api=client,
        )
    except RejectedError as e:
        raise RejectedError(
            f"the KFP server rejected {refused}: {e.reason}", reason=e.reason, fix=fix
        ) from None


def _experiment(
    client: Any, conn: KfpConnection, name: str, ns: str | None, info: SubmitInfo
) -> str:
    """The id of the experiment named `name`, created when there is none."""
    found = _find_experiment(client, conn, name, ns)
    return found if found is not None else _create_experiment(client, conn, name, ns, info)


def _find_experiment(client: Any, conn: KfpConnection, name: str, ns: str | None) -> str | None:
    lister = client.experiments.experiment_service_list_experiments
    found = _named(client, conn, "experiment", name, ns, lister)
    if not found:
        return None
    if str(found[0].storage_state or "") == "ARCHIVED":
        raise NotFoundError(
            f"the experiment '{name}' is archived: KFP starts no runs in it",
            fix="restore it in the KFP UI (Experiments > Archived) or give another --experiment",
        )
    return str(found[0].experiment_id)


def _create_experiment(
    client: Any, conn: KfpConnection, name: str, ns: str | None, info: SubmitInfo
) -> str:
    body = kfp_server_api().V2beta1Experiment(display_name=name, namespace=ns)
    try:
        created = call(
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
    client = make_client(conn)
    ns = conn.namespace or (client.get_user_namespace() or None)
    if logs is not None and logs.namespace is None:
        logs.namespace = ns or KFP_NAMESPACE  # a profile's runs run in the profile's namespace
    exp_name = experiment or pipeline.experiment or DEFAULT_EXPERIMENT
    info = SubmitInfo(
        engine="kfp",
        kind="recurring" if schedule else "run",
        run_id="",
        name=run_name or f"{pipeline.name} {time.strftime('%Y-%m-%d %H:%M:%S')}",
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
    steps = [s.name for s in pipeline.steps]
    if schedule:
        _create_recurring_run(client, conn, info, arguments, schedule)
        return SubmitHandle(info, steps, None)
    _create_run(client, conn, info, arguments)
    follower = KfpFollower(
        client,
        conn,
        info.run_id,
        task_names(pipeline, ir_text),
        poll_interval or DEFAULT_POLL,
        ir_text=ir_text,
        logs=logs,
    )
    return SubmitHandle(info, steps, follower)


def _run_parts(info: SubmitInfo, arguments: dict[str, Any]) -> dict[str, Any]:
    """What a run and a recurring run are both made of: name, experiment, version, values."""
    api = kfp_server_api()
    return {
        "display_name": info.name,
        "experiment_id": info.experiment_id,
        "pipeline_version_reference": api.V2beta1PipelineVersionReference(
            pipeline_id=info.pipeline_id, pipeline_version_id=info.version_id
        ),
        "runtime_config": api.V2beta1RuntimeConfig(parameters=dict(arguments)),
    }


def _create_run(
    client: Any, conn: KfpConnection, info: SubmitInfo, arguments: dict[str, Any]
) -> None:
    body = kfp_server_api().V2beta1Run(**_run_parts(info, arguments))
    run = call(
        conn,
        "creating the run",
        lambda: client.runs.run_service_create_run(run=body, _request_timeout=conn.timeouts),
        api=client,
    )
    info.run_id = str(run.run_id)
    info.url = f"{conn.ui_url}/#/runs/details/{info.run_id}"
    info.notes.append(f"created run '{info.name}' in experiment '{info.experiment}'")


def _create_recurring_run(
    client: Any, conn: KfpConnection, info: SubmitInfo, arguments: dict[str, Any], schedule: str
) -> None:
    api = kfp_server_api()
    body = api.V2beta1RecurringRun(
        **_run_parts(info, arguments),
        trigger=api.V2beta1Trigger(cron_schedule=api.V2beta1CronSchedule(cron=schedule)),
        mode=api.RecurringRunMode.ENABLE,
        max_concurrency="1",  # int64: a JSON string, as the API spec says
    )
    created = call(
        conn,
        "creating the recurring run",
        lambda: client.recurring_runs.recurring_run_service_create_recurring_run(
            recurring_run=body, _request_timeout=conn.timeouts
        ),
        api=client,
    )
    info.run_id = str(created.recurring_run_id)
    info.url = f"{conn.ui_url}/#/recurringrun/details/{info.run_id}"
    info.notes.append(
        f"created recurring run '{info.name}' ({schedule}) in experiment '{info.experiment}'"
    )
