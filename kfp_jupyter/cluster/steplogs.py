"""A failed cluster step in the notebook's terms: its pod's log, read through the Kubernetes API,
turned into the exception (type and message), the traceback mapped to `cell N, line M`, and the
end of the log, as a local run shows them.

The step program of an Argo step prints its mapped error as one marker line at the end of its log
(engine/steperror.py MARKER), so the notebook is not needed to read it. A KFP step is a
lightweight component called by KFP's executor, which prints Python's own traceback: its frames
in the component's source (`ephemeral_component.py`) are mapped here with the source the compiled
pipeline embeds, the same mapping the step program applies.

Reading a log never fails the run's following: a log that cannot be read (no permission, the pod
gone, no Kubernetes configuration for a KFP cluster) becomes one line saying why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..engine.steperror import StepError, split_marker
from .argo_client import api_client
from .errors import ClusterError, server_reason
from .net import is_network_error, is_timeout, network_reason, quiet, within

if TYPE_CHECKING:
    from .config import KubeConnection

#: lines of the log the panel and the terminal show after the error
LOG_LINES = 40
#: lines read from the end of a pod's log: the marker line is the last the step prints
FETCH_LINES = 500
#: the container of an Argo or KFP step pod that runs the step's program
MAIN_CONTAINER = "main"
#: Argo's annotation choosing how its pods are named (v1: the node id; v2, the default since 3.4)
POD_NAME_ANNOTATION = "workflows.argoproj.io/pod-name-format"
#: where KFP runs a run's pods when it has no namespace of its own (single-user installs)
KFP_NAMESPACE = "kubeflow"
#: the file KFP's executor runs a lightweight component's source from
KFP_COMPONENT_FILE = "ephemeral_component.py"


@dataclass(frozen=True)
class StepFailure:
    """What is known about why a step failed, beyond the cluster's "exit code 1"."""

    step: str
    error: StepError | None = None
    #: the end of the log, without the error the step printed (shown above it)
    log_tail: str | None = None
    #: one line saying why the log is not shown, when it could not be read
    note: str | None = None

    @property
    def where(self) -> str | None:
        """`cell N, line M` of the innermost frame in the notebook's code."""
        if self.error is None:
            return None
        cells = [f for f in self.error.frames if "cell" in f]
        return f"cell {cells[-1]['cell']}, line {cells[-1]['line']}" if cells else None

    def summary(self, fallback: str | None) -> str | None:
        """The step's one-line message: its exception and where, else the cluster's words
        (`fallback`) and why the log is missing."""
        if self.error is not None:
            where = self.where
            first = (self.error.headline.splitlines() or [self.error.type])[0]
            return first + (f" ({where})" if where else "")
        parts = [p for p in (fallback, self.note) if p]
        return "; ".join(parts) or None


def failure_from_log(
    step: str,
    log: str,
    *,
    program: str | None = None,
    function: str | None = None,
) -> StepFailure:
    """The failure a step's log tells of: its marker line, else (a KFP component, whose source
    is `program` and step function `function`) Python's traceback mapped to cells."""
    error, text = split_marker(log)
    if error is None and program is not None:
        found = mapped_traceback(text, program, function or "")
        if found is not None:
            error, text = found
    if error is not None:
        text = error.without_in(text)
    return StepFailure(step, error, tail(text))


def tail(text: str, lines: int = LOG_LINES) -> str | None:
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(kept) if any(line.strip() for line in kept) else None


# --- KFP: Python's traceback of the component, mapped with the component's source

_FRAME = re.compile(r'^  File "(?P<file>[^"]*)", line (?P<line>\d+), in (?P<name>.*)$')
_REPEATED = re.compile(r"^  \[Previous line repeated (\d+) more times?\]$")


def _cell_map(source: str) -> dict[int, tuple[int, int, str, str]]:
    """Program line -> (cell, line, section, notebook): the step program's own mapping."""
    from ..packaging.stepfailure import _kfpj_cell_map

    found: dict[int, tuple[int, int, str, str]] = _kfpj_cell_map(source.splitlines())
    return found


def _format_frames(frames: list[dict[str, Any]]) -> str:
    """The frames as the step program prints them, so a cluster step's traceback reads as a local
    one (a cell, a cell of a referenced notebook, a library's file)."""
    from ..packaging.stepfailure import _kfpj_format_frames

    text: str = _kfpj_format_frames(frames)  # type: ignore[no-untyped-call]
    return text


def mapped_traceback(log: str, program: str, function: str) -> tuple[StepError, str] | None:
    """The last Python traceback in `log`, its frames in `program` (a KFP component's source)
    mapped to cells, frames before the first of them (KFP's executor) left out; and the log
    without that traceback (the error, shown first, replaces it)."""
    from ..packaging.stepfailure import _kfpj_cell_frame

    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call")]
    if not starts:
        return None
    cells = _cell_map(program)
    frames: list[dict[str, Any]] = []
    reached = kept = False
    i = starts[-1] + 1
    while i < len(lines) and lines[i].startswith(" "):
        m = _FRAME.match(lines[i])
        repeated = _REPEATED.match(lines[i])
        i += 1
        if repeated and kept:  # Python's own collapse of a recursion: kept as the count
            frames[-1] = {**frames[-1], "repeated": int(repeated[1])}
        if m is None:
            continue
        before = len(frames)
        source = lines[i].strip() if i < len(lines) and lines[i].startswith("    ") else ""
        file, number, name = m["file"], int(m["line"]), m["name"]
        ours = file.endswith("/" + KFP_COMPONENT_FILE) or file == KFP_COMPONENT_FILE
        reached = reached or ours
        if not reached:
            kept = False
            continue
        if not ours:
            frames.append({"file": file, "line": number, "name": name, "source": source})
        elif number in cells:
            frames.append(_kfpj_cell_frame(cells[number], name, function, source))
        kept = len(frames) > before
    if i >= len(lines) or not lines[i].strip():
        return None
    exception = lines[i].rstrip()
    kind, _, message = exception.partition(": ")
    kind = kind.rsplit("<locals>.", 1)[-1]
    if kind.split(".")[0] == "_KfpjError" or kind.endswith("._KfpjError"):
        kind = "Error"
    error = StepError(
        type=kind,
        message=message,
        exception=f"{kind}: {message}" if message else kind,
        traceback=_format_frames(frames),
        frames=tuple(frames),
    )
    rest = lines[: starts[-1]] + lines[i + 1 :]
    return error, "\n".join(rest) + ("\n" if rest else "")


def kfp_component_source(ir_text: str, task: str) -> tuple[str, str] | None:
    """(source, function name) of the KFP task `task` (its key or display name)'s lightweight
    component in the IR: the
    last argument of its executor's command, which KFP writes to ephemeral_component.py."""
    import yaml

    try:
        doc = next(iter(yaml.safe_load_all(ir_text)))
        tasks = doc["root"]["dag"]["tasks"]
        spec = tasks.get(task) or next(
            t for t in tasks.values() if (t.get("taskInfo") or {}).get("name") == task
        )
        component = doc["components"][spec["componentRef"]["name"]]
        executor = doc["deploymentSpec"]["executors"][component["executorLabel"]]
        container = executor["container"]
    except (KeyError, TypeError, StopIteration, yaml.YAMLError):
        return None
    command = container.get("command") or []
    function: str | None = None
    args = [str(a) for a in container.get("args") or []]
    if "--function_to_execute" in args:
        at = args.index("--function_to_execute") + 1
        function = args[at] if at < len(args) else None
    if not command or function is None:
        return None
    return str(command[-1]), function


# --- reading a pod's log


class LogUnavailable(Exception):
    """The log could not be read; the message says why, in one line."""


def fnv32a(text: str) -> int:
    """FNV-1a, 32 bits: the hash Argo puts at the end of its pod names."""
    h = 0x811C9DC5
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def argo_pod_names(workflow: dict[str, Any], node: dict[str, Any]) -> list[str]:
    """The names Argo gives the pod of `node` (a Pod node of `workflow`), most likely first:
    `<workflow>-<template>-<fnv32a(node name)>` (POD_NAMES v2), else the node's id (v1)."""
    wf = str((workflow.get("metadata") or {}).get("name") or "")
    annotations = (workflow.get("metadata") or {}).get("annotations") or {}
    node_id = str(node.get("id") or "")
    template = str(node.get("templateName") or "")
    name = str(node.get("name") or "")
    v1 = [node_id] if node_id else []
    if annotations.get(POD_NAME_ANNOTATION) == "v1" or not template or not name:
        return v1
    prefix = f"{wf}-{template}"[: 253 - 10 - 1]
    return [f"{prefix}-{fnv32a(name)}", *[n for n in v1 if n != f"{prefix}-{fnv32a(name)}"]]


class PodLogs:
    """Reads step pods' logs with the official client (CoreV1Api.read_namespaced_pod_log)."""

    def __init__(self, connect: Callable[[], KubeConnection], namespace: str | None = None):
        self._connect = connect
        #: where the pods are; None: the connection's namespace
        self.namespace = namespace
        self._conn: KubeConnection | None = None
        self._api: Any = None

    def _core(self) -> tuple[KubeConnection, Any]:
        if self._conn is None:
            from ._deps import kubernetes

            try:
                conn = self._connect()
            except ClusterError as e:
                raise LogUnavailable(f"no Kubernetes API to read it from ({e.message})") from None
            self._api = kubernetes("client").CoreV1Api(api_client(conn))
            self._conn = conn
        return self._conn, self._api

    def read(self, pods: Sequence[str], lines: int = FETCH_LINES) -> str:
        """The end of the main container's log of the first of `pods` that exists."""
        if not pods:
            raise LogUnavailable("the cluster did not say which pod ran it")
        conn, api = self._core()
        ns = self.namespace or conn.namespace
        gone = ""
        for pod in pods:
            try:
                return self._read(conn, api, ns, pod, lines)
            except _Missing as e:
                gone = gone or str(e)
        raise LogUnavailable(gone)

    def _read(self, conn: KubeConnection, api: Any, ns: str, pod: str, lines: int) -> str:
        def call() -> str:
            response = api.read_namespaced_pod_log(
                pod,
                ns,
                container=MAIN_CONTAINER,
                tail_lines=lines,
                _preload_content=False,
                _request_timeout=conn.timeouts,
            )
            data = response.data
            return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)

        ApiException = _api_exception()
        try:
            with quiet(True):
                return within(conn.request_timeout, call)
        except ApiException as e:
            status = int(e.status or 0)
            reason = server_reason(e.body, fallback=str(e.reason or ""))
            if status == 404:
                raise _Missing(
                    f"its pod '{pod}' is gone from namespace '{ns}' (deleted, or cleaned up by "
                    "the cluster)"
                ) from None
            if status in (401, 403):
                raise LogUnavailable(
                    f"no permission to read the log of pod '{pod}' in namespace '{ns}' "
                    f"({status}: {reason or 'denied'}); reading it needs get on pods/log"
                ) from None
            raise LogUnavailable(
                f"the Kubernetes API refused to give the log of pod '{pod}' ({status}"
                + (f": {reason})" if reason else ")")
            ) from None
        except Exception as e:
            if is_timeout(e):
                raise LogUnavailable(
                    f"the Kubernetes API at {conn.host} did not answer in time"
                ) from None
            if is_network_error(e):
                raise LogUnavailable(
                    f"cannot reach the Kubernetes API at {conn.host}: {network_reason(e)}"
                ) from None
            raise


class _Missing(LogUnavailable):
    """This pod is not there (another name may be)."""


def _api_exception() -> Any:
    from ._deps import kubernetes

    return kubernetes("client.exceptions").ApiException


def fetch_failure(
    step: str,
    read: Callable[[], str],
    *,
    program: str | None = None,
    function: str | None = None,
) -> StepFailure:
    """The failure of `step` from the log `read` returns; a log that cannot be read is a note,
    never an exception (following the run must go on)."""
    try:
        log = read()
    except LogUnavailable as e:
        return StepFailure(step, note=f"its log could not be read: {e}")
    except Exception as e:  # a bug must not end the following of a run either: say what it was
        return StepFailure(step, note=f"its log could not be read: {type(e).__name__}: {e}")
    return failure_from_log(step, log, program=program, function=function)


def first_pod(details: Iterable[Any], task_id: str) -> list[str]:
    """The pods of a KFP task (`task_id`): its executor's (a child task detail with a pod name),
    the pods its child_tasks name, then its own; the latest first."""
    found: list[str] = []
    for d in details:
        if str(getattr(d, "parent_task_id", "") or "") == task_id and getattr(d, "pod_name", None):
            found.insert(0, str(d.pod_name))
        if str(getattr(d, "task_id", "") or "") == task_id:
            for child in getattr(d, "child_tasks", None) or []:
                if getattr(child, "pod_name", None):
                    found.append(str(child.pod_name))
            if getattr(d, "pod_name", None):
                found.append(str(d.pod_name))
    return list(dict.fromkeys(found))
