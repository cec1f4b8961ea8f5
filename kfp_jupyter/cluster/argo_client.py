"""How every request to the Kubernetes API about Argo's objects is made: the API's coordinates,
each call bounded by the request's deadline with its failure worded as one ClusterError, and the
address a user opens to see an object. Submitting, following (argo_backend) and attaching to a
workflow (attach) all go through `call`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._deps import kubernetes
from .errors import Answer, ClusterError, NotFoundError, Wording, not_the_api, translate
from .net import guarded

if TYPE_CHECKING:
    from .config import KubeConnection

T = TypeVar("T")

GROUP, VERSION = "argoproj.io", "v1alpha1"
WORKFLOWS, CRON_WORKFLOWS = "workflows", "cronworkflows"


def _wording(conn: KubeConnection, ns: str) -> Wording:
    return Wording(
        api="the Kubernetes API",
        host=conn.host,
        where=conn.describe(),
        request_timeout=conn.request_timeout,
        namespace=ns,
        check_host="check --host (or the kubeconfig's server)",
        unreachable_fix="check the kubeconfig's server address and that the cluster is reachable",
        unauthorized_fix="log in again (an expired token?) or give --token-env VAR (the name of "
        "an environment variable holding a valid token); credentials came from "
        f"{conn.source}",
        forbidden_fix=f"ask for a Role allowing create/get/watch on workflows.argoproj.io in "
        f"namespace '{ns}', or choose another --namespace",
        rejecter="the cluster",
        failer="the Kubernetes API",
    )


def _not_found(conn: KubeConnection, ns: str, answer: Answer, action: str) -> ClusterError | None:
    """The 404s that mean more than 'no such object': the namespace (the Status says so in its
    details), or a cluster without Argo (creating in an existing namespace still finds nothing)."""
    details = answer.data.get("details")
    if isinstance(details, dict) and details.get("kind") == "namespaces":
        return NotFoundError(
            f"the namespace '{ns}' does not exist in the cluster{answer.said}",
            fix="give --namespace with an existing namespace (kubectl get namespaces)",
        )
    if action.startswith("creating"):
        return NotFoundError(
            f"the cluster has no Argo Workflows API ({GROUP}/{VERSION}) at {conn.host}"
            f"{answer.said}",
            fix="install Argo Workflows in the cluster, or use --engine kfp for Kubeflow Pipelines",
        )
    return None


def translate_error(
    e: BaseException, conn: KubeConnection, action: str, ns: str
) -> ClusterError | None:
    """One clear ClusterError for what the API server or the network did; None for a bug."""
    return translate(
        e,
        _wording(conn, ns),
        action,
        answered=kubernetes("client.exceptions").ApiException,
        not_found=lambda answer, doing: _not_found(conn, ns, answer, doing),
    )


def call(
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
    result = guarded(
        conn.request_timeout,
        fn,
        lambda e: translate_error(e, conn, action, ns),
        warnings_too=warnings_too,
    )
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


def api_client(conn: KubeConnection) -> Any:
    """A kubernetes ApiClient for the connection: every request goes to `conn.host`, which
    `kube_connection` holds against the kubeconfig's refresh hook."""
    return kubernetes("client").ApiClient(conn.configuration)


def custom_objects(conn: KubeConnection) -> Any:
    return kubernetes("client").CustomObjectsApi(api_client(conn))


def object_url(conn: KubeConnection, plural: str, ns: str, name: str) -> str:
    """Where a user sees a Workflow or CronWorkflow: its page in the Argo UI when the UI's
    address is known, else its address in the Kubernetes API."""
    if conn.ui_url:
        page = "cron-workflows" if plural == CRON_WORKFLOWS else "workflows"
        return f"{conn.ui_url}/{page}/{ns}/{name}"
    return f"{conn.host}/apis/{GROUP}/{VERSION}/namespaces/{ns}/{plural}/{name}"
