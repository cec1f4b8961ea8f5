"""How every request to the KFP API is made: a kfp.Client for a connection, and each call bounded
by the request's deadline with its failure worded as one ClusterError. Submitting (kfp_backend),
following (kfp_follow) and attaching to a run (attach) all go through `call`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from ._deps import kfp_server_api
from .config import KfpConnection, kfp_context_path, read_kfp_context
from .errors import (
    Answer,
    ClusterError,
    ConfigError,
    NotFoundError,
    Wording,
    not_the_api,
    translate,
)
from .net import guarded

T = TypeVar("T")


def _wording(conn: KfpConnection) -> Wording:
    sent = f"the token from {conn.token.source} was refused" if conn.token else "no token was sent"
    return Wording(
        api="the KFP API",
        host=conn.host,
        where=conn.describe(),
        request_timeout=conn.request_timeout,
        namespace=conn.namespace,
        check_host="check --host",
        unreachable_fix="check the address and that the API is reachable from here (a "
        "port-forward running, a VPN, the cluster up)",
        unauthorized_fix=f"{sent}; give --token-env VAR (the name of an environment variable "
        "holding a valid bearer token)",
        forbidden_fix="check that your account may use this namespace (multi-user Kubeflow: "
        "--namespace YOUR-PROFILE-NAMESPACE) and that the token is yours",
        rejecter="the KFP server",
        failer="the KFP server",
    )


def _not_found(conn: KfpConnection, answer: Answer, action: str) -> ClusterError | None:
    """The 404s the KFP API gives a meaning to: a missing profile namespace, a host that is not
    the API at all."""
    if conn.namespace and "namespace" in answer.reason.lower():
        return NotFoundError(
            f"the namespace '{conn.namespace}' does not exist on the KFP server{answer.said}",
            fix="give --namespace with a namespace (Kubeflow profile) that exists",
        )
    if action == "checking the KFP API":
        return NotFoundError(
            f"{conn.host} does not serve the KFP API (GET /apis/v2beta1/healthz: 404){answer.said}",
            fix="check --host: it is the address of the ml-pipeline API (behind Kubeflow's "
            "gateway, usually https://HOST/pipeline)",
        )
    return None


def _translate(e: BaseException, conn: KfpConnection, action: str) -> ClusterError | None:
    return translate(
        e,
        _wording(conn),
        action,
        answered=kfp_server_api().ApiException,
        not_found=lambda answer, doing: _not_found(conn, answer, doing),
    )


def call(
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
    result = guarded(
        conn.request_timeout,
        fn,
        lambda e: _translate(e, conn, action),
        warnings_too=warnings_too,
        bounded=bounded,
    )
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


def make_client(conn: KfpConnection) -> Any:
    """A kfp.Client for `conn`. The server is contacted only if kfp asks for healthz (no
    namespace known), once, not kfp's five attempts five seconds apart."""
    kfp_server_api()  # a clear error without the kfp SDK
    from kfp.client import Client

    class _Client(Client):  # type: ignore[misc]
        def get_kfp_healthz(self, sleep_duration: int = 5) -> Any:
            return call(
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
    kwargs["namespace"] = _client_namespace(conn)
    return call(conn, "connecting to the KFP API", lambda: _Client(**kwargs), bounded=False)


def _client_namespace(conn: KfpConnection) -> str:
    """The `namespace` to give kfp.Client. Always given: kfp reads the namespace from its context
    file only when the argument is its default, 'kubeflow', and then fails with KeyError on a
    file without that key (`{"host": URL}`, as our docs show). An empty namespace is what kfp
    itself uses without a context file (multi-user Kubeflow: it asks healthz). 'kubeflow' cannot
    be told to kfp apart from its default, so a file without the key is refused for it."""
    if conn.namespace != "kubeflow":
        return conn.namespace or ""
    path = kfp_context_path()
    if path.exists() and not isinstance(read_kfp_context(path).get("namespace"), str):
        raise ConfigError(
            f'kfp\'s context file {path} has no "namespace" key, which kfp.Client needs for '
            "the namespace 'kubeflow'",
            fix=f'add "namespace": "kubeflow" to {path}',
        )
    return conn.namespace


def name_filter(key: str, value: str) -> str:
    """A list call's `filter` that keeps the objects whose `key` is exactly `value`."""
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "string_value": value}]})
