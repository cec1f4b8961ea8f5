"""Where the cluster is and how to authenticate, resolved the way KFP and kubectl users expect.

KFP host: `--host`, then $KF_PIPELINES_ENDPOINT (what `kfp.Client` reads), then the `host` key of
kfp's context file (`~/.config/kfp/context.json`, the file `kfp.Client.set_user_namespace` writes;
kfp itself keeps only the namespace and an auth header/cookie there, so `host` is ours and kfp
ignores it), then, inside a pod, the in-cluster service address. Nowhere: an error that lists
these, rather than a guess that times out.

Credentials: a token given to the API, or read from the environment variable named by
`--token-env` (so it never appears in a command line, a shell history or `ps`); otherwise kfp's
own mechanisms, which `kfp.Client` applies itself: the context file's auth header or cookie, the
KF_PIPELINES_*_OAUTH2_* variables, and the projected service-account token in a pod
($KF_PIPELINES_SA_TOKEN_PATH or kfp's default path). A Token never shows its value in repr/str.

Kubernetes (Argo): kubeconfig ($KUBECONFIG or ~/.kube/config, `--kubeconfig`, `--context`), else
the pod's service account; `--host` overrides the API server, `--token-env` the credentials.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ._deps import kubernetes
from .errors import ConfigError, http_url
from .net import DEFAULT_REQUEST_TIMEOUT, timeouts

ENV_HOST = "KF_PIPELINES_ENDPOINT"
ENV_UI = "KF_PIPELINES_UI_ENDPOINT"
ENV_SA_TOKEN_PATH = "KF_PIPELINES_SA_TOKEN_PATH"
#: kfp's default path of the projected service-account token in a pod (kfp.client.KF_PIPELINES_SA_TOKEN_PATH)
DEFAULT_SA_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"
IN_CLUSTER_KFP = "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
POD_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
POD_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class Token:
    """A credential that says where it came from, never what it is."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"<token from {self.source}>"

    __str__ = __repr__


def check_request_timeout(value: float | None) -> float:
    """The total seconds one request may take; a bad value is refused before anything is sent."""
    if value is None:
        return DEFAULT_REQUEST_TIMEOUT
    if not value > 0 or value != value or value == float("inf"):
        raise ConfigError(
            f"--request-timeout {value!r}: give a number of seconds more than 0",
            fix=f"e.g. --request-timeout {DEFAULT_REQUEST_TIMEOUT:g}",
        )
    return float(value)


def _in_pod(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("KUBERNETES_SERVICE_HOST"))


def resolve_token(
    token: str | None, token_env: str | None, environ: Mapping[str, str]
) -> Token | None:
    if token:
        return Token(token, "the token argument")
    if token_env:
        check_token_env(token_env)
        value = environ.get(token_env, "")
        if not value.strip():
            raise ConfigError(
                f"--token-env {token_env}: the environment variable {token_env} is not set or empty",
                fix=f"export {token_env}=... (the bearer token) before running this command",
            )
        return Token(value.strip(), f"${token_env}")
    return None


#: how the credentials people paste by mistake begin (JWT, GitHub, GitLab, Slack, OpenAI, Google)
_TOKEN_PREFIXES = (
    "eyj",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "github_pat_",
    "glpat",
    "xox",
    "sk-",
    "ya29",
)


def check_token_env(name: str) -> str:
    """`name` if it can be the NAME of an environment variable; a token value is refused without
    being repeated, so a token pasted into --token-env never reaches a message, a file or a log."""
    looks_like_token = (
        name.lower().startswith(_TOKEN_PREFIXES)
        or len(name) > 64
        or (len(name) >= 20 and any(c.islower() for c in name) and any(c.isdigit() for c in name))
    )
    if looks_like_token or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ConfigError(
            "--token-env takes the NAME of the environment variable that holds the token, "
            "and what was given does not look like one (a token itself is never stored or sent "
            "on a command line)",
            fix="export KFP_TOKEN=... in your shell, then give --token-env KFP_TOKEN",
        )
    return name


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to connect, as a call, a command line or a saved target gives it (None: not
    given): made once by `submit` or `attach`, completed the way kfp and kubectl would by
    `kfp_connection` (Kubeflow Pipelines) or `kube_connection` (the Kubernetes API, for Argo)."""

    host: str | None = None
    namespace: str | None = None
    token: str | None = None
    token_env: str | None = None
    #: the kubeconfig and its context: Kubernetes only (Argo, and a KFP run's pod logs)
    kubeconfig: str | None = None
    context: str | None = None
    ui_url: str | None = None
    #: the environment variables read (None: this process's)
    environ: Mapping[str, str] | None = None
    request_timeout: float | None = None

    def pod_logs(self) -> KubeConnection:
        """The Kubernetes API a KFP run's pod logs are read from: the kubeconfig's (or the pod's
        service account), never the KFP host or its token."""
        return kube_connection(
            ConnectionSettings(
                kubeconfig=self.kubeconfig,
                context=self.context,
                environ=self.environ,
                request_timeout=self.request_timeout,
            )
        )


# --- Kubeflow Pipelines


def kfp_context_path() -> Path:
    """kfp's context file: the path `kfp.Client` itself uses, so both always read the same one."""
    try:
        from kfp.client.client import Client

        return Path(Client._LOCAL_KFP_CONTEXT)
    except (ImportError, AttributeError):  # pragma: no cover - kfp missing or renamed
        return Path(os.path.expanduser("~/.config/kfp/context.json"))


def read_json_object(path: Path, what: str, fix: str) -> dict[str, Any]:
    """A small JSON settings file: {} when it is missing, ConfigError naming it when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {what} {path}: {e}", fix=fix) from None
    return data if isinstance(data, dict) else {}


def read_kfp_context(path: Path | None = None) -> dict[str, Any]:
    return read_json_object(
        path or kfp_context_path(),
        "kfp's context file",
        "fix or delete the file (kfp.Client writes it again when needed)",
    )


@dataclass(frozen=True)
class KfpConnection:
    """Everything needed to build a kfp.Client, and where each part came from (for messages)."""

    host: str
    host_source: str
    ui_url: str
    namespace: str | None
    token: Token | None
    #: a service-account token file for kfp's ServiceAccountTokenVolumeCredentials
    sa_token_path: str | None
    #: seconds one request may take in all (see net.within)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT

    def describe(self) -> str:
        return f"{self.host} (from {self.host_source})"

    @property
    def timeouts(self) -> tuple[float, float]:
        """(connect, read) socket timeouts of one request, for `_request_timeout`."""
        return timeouts(self.request_timeout)


def kfp_connection(given: ConnectionSettings) -> KfpConnection:
    """The KFP API to use, each part resolved as kfp itself would (see above), or a ConfigError
    that says where it can be set."""
    env = os.environ if given.environ is None else given.environ
    tok = resolve_token(given.token, given.token_env, env)
    context_file = kfp_context_path()
    context = read_kfp_context(context_file)
    if given.host:
        url, source = given.host, "--host"
    elif env.get(ENV_HOST, "").strip():
        url, source = env[ENV_HOST], f"${ENV_HOST}"
    elif isinstance(context.get("host"), str) and context["host"].strip():
        url, source = context["host"], f"kfp's context file {context_file}"
    elif _in_pod(env):
        url, source = IN_CLUSTER_KFP, "the in-cluster service address (running in a pod)"
    else:
        raise ConfigError(
            "no Kubeflow Pipelines host is configured",
            fix=(
                f"give --host URL (e.g. http://localhost:8080 after `kubectl port-forward -n "
                f"kubeflow svc/ml-pipeline-ui 8080:80`), or set ${ENV_HOST}, or put "
                f'"host": URL in {context_file}'
            ),
        )
    url = http_url(url, "the KFP host")
    ui = http_url(given.ui_url or env.get(ENV_UI, "") or url, "the KFP UI address")
    ns = given.namespace or (
        context.get("namespace") if isinstance(context.get("namespace"), str) else None
    )
    sa_path: str | None = None
    if tok is None:
        candidate = env.get(ENV_SA_TOKEN_PATH) or DEFAULT_SA_TOKEN_PATH
        if os.path.isfile(candidate):
            sa_path = candidate
    return KfpConnection(
        host=url,
        host_source=source,
        ui_url=ui,
        namespace=ns or None,
        token=tok,
        sa_token_path=sa_path,
        request_timeout=check_request_timeout(given.request_timeout),
    )


# --- Kubernetes (Argo Workflows)


@dataclass
class KubeConnection:
    """A ready kubernetes client Configuration and the namespace to use."""

    configuration: Any  # kubernetes.client.Configuration; holds the credentials
    host: str
    source: str
    namespace: str
    namespace_source: str
    ui_url: str | None
    #: seconds one request may take in all (see net.within)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT

    def describe(self) -> str:
        return f"{self.host} (from {self.source})"

    @property
    def timeouts(self) -> tuple[float, float]:
        """(connect, read) socket timeouts of one request, for `_request_timeout`."""
        return timeouts(self.request_timeout)


def _kubeconfig_files(kubeconfig: str | None, environ: Mapping[str, str]) -> list[str]:
    if kubeconfig:
        if not os.path.isfile(kubeconfig):
            raise ConfigError(f"--kubeconfig {kubeconfig}: no such file")
        return [kubeconfig]
    listed = environ.get("KUBECONFIG", "")
    if listed:
        return [p for p in listed.split(os.pathsep) if p and os.path.isfile(p)]
    default = os.path.expanduser("~/.kube/config")
    return [default] if os.path.isfile(default) else []


def argo_ui_url(ui_url: str | None, environ: Mapping[str, str]) -> str | None:
    """The Argo UI: --ui-url, else the Argo CLI's $ARGO_SERVER (+ $ARGO_BASE_HREF, $ARGO_SECURE)."""
    if ui_url:
        return http_url(ui_url, "the Argo UI address")
    server = environ.get("ARGO_SERVER", "").strip()
    if not server:
        return None
    if server.startswith(("http://", "https://")):
        base = server
    else:
        secure = environ.get("ARGO_SECURE", "true").lower() not in ("false", "0", "no")
        base = ("https://" if secure else "http://") + server
    href = environ.get("ARGO_BASE_HREF", "").strip().strip("/")
    return base.rstrip("/") + (f"/{href}" if href else "")


def _retries() -> Any:
    """Retry a failed connect twice, quickly; never a request the server may have acted on (a
    read error): `net.within` keeps all attempts inside the request's deadline anyway."""
    import urllib3

    return urllib3.util.Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2)


def kube_connection(given: ConnectionSettings) -> KubeConnection:
    """The Kubernetes API to use, resolved as kubectl would (see above), or a ConfigError that
    says where it can be set."""
    env = os.environ if given.environ is None else given.environ
    tok = resolve_token(given.token, given.token_env, env)
    cfg = kubernetes("client").Configuration()
    source, ns, ns_source = _load_kube_config(cfg, given, env)
    if given.host:
        cfg.host = http_url(given.host, "the Kubernetes API server")
        source += " (server from --host)" if source != "--host" else ""
    if tok is not None:
        cfg.api_key = {"authorization": "Bearer " + tok.reveal()}
        cfg.api_key_prefix = {}
        cfg.refresh_api_key_hook = None  # kubeconfig's hook would put its own token back
        source += f", token from {tok.source}"
    cfg.retries = _retries()
    if given.namespace:
        ns, ns_source = given.namespace, "--namespace"
    elif not ns:
        ns, ns_source = "default", "the Kubernetes default"
    return KubeConnection(
        configuration=cfg,
        host=str(cfg.host).rstrip("/"),
        source=source,
        namespace=ns,
        namespace_source=ns_source,
        ui_url=argo_ui_url(given.ui_url, env),
        request_timeout=check_request_timeout(given.request_timeout),
    )


def _load_kube_config(
    cfg: Any, given: ConnectionSettings, environ: Mapping[str, str]
) -> tuple[str, str | None, str]:
    """Fill `cfg` as kubectl would (the kubeconfig, else the pod's service account; --host
    alone when neither is there): (where the credentials came from, the namespace found there,
    where that namespace came from)."""
    files = _kubeconfig_files(given.kubeconfig, environ)
    if files:
        return _from_kubeconfig(cfg, files, given.context)
    if _in_pod(environ) and os.path.isfile(POD_TOKEN_FILE):
        return _from_pod(cfg)
    if given.host:
        return "--host", None, ""
    raise ConfigError(
        "no Kubernetes configuration: no kubeconfig ($KUBECONFIG or ~/.kube/config) and not "
        "running in a pod",
        fix="give --kubeconfig PATH, or --host URL with --token-env VAR",
    )


def _from_kubeconfig(
    cfg: Any, files: list[str], context: str | None
) -> tuple[str, str | None, str]:
    config = kubernetes("config")
    path = files[0] if len(files) == 1 else os.pathsep.join(files)
    try:
        config.load_kube_config(
            config_file=path, context=context, client_configuration=cfg, persist_config=False
        )
        contexts, active = config.list_kube_config_contexts(config_file=path)
        if context:
            active = next((c for c in contexts if c.get("name") == context), active)
    except config.ConfigException as e:
        raise ConfigError(f"cannot use the kubeconfig {path}: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(
            f"cannot read the kubeconfig {path}: it is not valid YAML{_yaml_where(e)}",
            fix=_KUBECONFIG_FIX,
        ) from None
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise ConfigError(f"cannot read the kubeconfig {path}: {e}", fix=_KUBECONFIG_FIX) from None
    ns = (active or {}).get("context", {}).get("namespace") or None
    source = f"kubeconfig {path}, context {(active or {}).get('name', '?')}"
    return source, ns, "the kubeconfig context"


#: what to do about a kubeconfig that cannot be read
_KUBECONFIG_FIX = (
    "correct the file (`kubectl config view --kubeconfig PATH` shows what kubectl makes of it), "
    "or give another with --kubeconfig PATH"
)


def _yaml_where(error: yaml.YAMLError) -> str:
    """Where in the file YAML gave up and why (" (line 3, column 3: expected ...)"), as far as
    the error says."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f" ({at}{problem})"


def _from_pod(cfg: Any) -> tuple[str, str | None, str]:
    config = kubernetes("config")
    try:
        config.load_incluster_config(client_configuration=cfg)
    except config.ConfigException as e:
        raise ConfigError(f"cannot use the pod's service account: {e}") from None
    try:
        ns = Path(POD_NAMESPACE_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        ns = None
    return "the pod's service account", ns, "the pod's namespace"
