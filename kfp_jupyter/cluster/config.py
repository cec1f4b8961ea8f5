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

A caller that may choose the host but not where this process's own credentials go (a request to
the Jupyter server) makes its connections inside `own_credentials_only_to(...)`: a host it names
that is neither the one the configuration names nor a known one gets none of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
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
        source = f"${token_env}"
        fix = f"export {token_env}=TOKEN, the token alone on one line"
        return Token(header_safe(value.strip(), source, fix), source)
    return None


def header_safe(token: str, source: str, fix: str) -> str:
    """`token`, if an HTTP header can carry it; else a ConfigError naming where it came from,
    never the value (the HTTP client's own error would print it, in a log or a message)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F or ord(c) > 0xFF for c in token):
        raise ConfigError(
            f"the token from {source} holds a line break or another character a request "
            "header cannot carry",
            fix=fix,
        )
    return token


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


#: the hosts, besides those the configuration itself names, that may get this process's own
#: credentials (a kubeconfig's, the pod's, kfp's context file's) while a caller who chooses the
#: host but not where those go makes a connection; None: no such caller (a command line, a kernel)
_KNOWN_HOSTS: ContextVar[frozenset[str] | None] = ContextVar("kfpj_known_hosts", default=None)


@contextlib.contextmanager
def own_credentials_only_to(hosts: Iterable[str | None]) -> Iterator[None]:
    """Within: a host given to a connection that is neither the configuration's own (the
    kubeconfig's server, kfp's configured host, the pod's cluster) nor one of `hosts` gets no
    credentials but the token of the `token_env` given; for KFP, a configuration whose own
    credentials kfp would send anyway (a cookie in its context file) is a ConfigError. The
    Jupyter server's requests run inside it: a browser may choose the host, not hand it the
    server's credentials."""
    mark = _KNOWN_HOSTS.set(frozenset(_same(h) for h in hosts if h))
    try:
        yield
    finally:
        _KNOWN_HOSTS.reset(mark)


def _same(url: str) -> str:
    """`url` as compared with another: no trailing slash, scheme and host in lower case."""
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    where, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{where.lower()}{slash}{path}"


def _chosen_elsewhere(host: str, configured: str | None) -> bool:
    """Whether `host`, given with the call, is a place this process's own credentials must not
    go: only inside `own_credentials_only_to`, and neither `configured` nor a known host."""
    known = _KNOWN_HOSTS.get()
    if known is None:
        return False
    return _same(host) not in known and (configured is None or _same(host) != _same(configured))


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
    own, own_source = _configured_kfp_host(env, context, context_file)
    if given.host:
        url, source = given.host, "--host"
    elif own is not None:
        url, source = own, own_source
    else:
        raise ConfigError(
            "no Kubeflow Pipelines host is configured",
            fix=(
                f"give --host URL (e.g. http://localhost:8080 after `kubectl port-forward -n "
                f"kubeflow svc/ml-pipeline-ui 8080:80`), or set ${ENV_HOST}, or put "
                f'"host": URL in {context_file}'
            ),
        )
    url = http_url(url, "the KFP host" if given.host else f"the KFP host from {source},")
    env_ui = "" if given.ui_url else env.get(ENV_UI, "").strip()
    ui_what = f"the KFP UI address from ${ENV_UI}," if env_ui else "the KFP UI address"
    ui = http_url(given.ui_url or env_ui or url, ui_what)
    ns = given.namespace or (
        context.get("namespace") if isinstance(context.get("namespace"), str) else None
    )
    elsewhere = bool(given.host) and _chosen_elsewhere(url, own)
    if elsewhere:
        _refuse_kfp_own_credentials(url, context, context_file, tok)
    sa_path: str | None = None
    if tok is None and not elsewhere:
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


def _configured_kfp_host(
    env: Mapping[str, str], context: Mapping[str, Any], context_file: Path
) -> tuple[str | None, str]:
    """The KFP host the configuration names without --host, and where it is named."""
    if env.get(ENV_HOST, "").strip():
        return env[ENV_HOST], f"${ENV_HOST}"
    if isinstance(context.get("host"), str) and context["host"].strip():
        return context["host"], f"kfp's context file {context_file}"
    if _in_pod(env):
        return IN_CLUSTER_KFP, "the in-cluster service address (running in a pod)"
    return None, ""


#: the variables kfp.Client reads an OAuth client from, to sign in to any host it is given
_KFP_OAUTH_ENVS = ("KF_PIPELINES_IAP_OAUTH2_CLIENT_ID", "KF_PIPELINES_APP_OAUTH2_CLIENT_ID")


def _refuse_kfp_own_credentials(
    url: str, context: Mapping[str, Any], context_file: Path, tok: Token | None
) -> None:
    """A ConfigError when kfp.Client would send `url` credentials of this machine's own: it
    reads the sign-in cookie or header of its context file, and its OAuth variables when no
    token is given, whatever the host (the pod's service-account token is simply left out)."""
    sent = []
    if context.get("client_authentication_cookie"):
        sent.append(f"the sign-in cookie of {context_file}")
    if context.get("client_authentication_header_name"):
        sent.append(f"the sign-in header of {context_file}")
    if tok is None:
        sent += [f"a sign-in token for ${name}" for name in _KFP_OAUTH_ENVS if os.environ.get(name)]
    if sent:
        raise ConfigError(
            f"the KFP host {url} is neither the one configured here nor a saved target's, and "
            f"kfp would send it {' and '.join(sent)}",
            fix="leave --host empty to use the configured host, or save a target with this "
            "host (kfp-jupyter targets add NAME --engine kfp --host URL) and choose it",
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
        if os.pathsep in kubeconfig:  # the kubernetes client would read it as a list of files
            raise ConfigError(
                f"--kubeconfig {kubeconfig}: a path holding {os.pathsep!r} cannot be given, "
                f"the kubernetes client would read it as several files",
                fix=f"give the path of one file, without {os.pathsep!r} (rename or link it), or "
                f"list several in $KUBECONFIG",
            )
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
    if "://" in server:
        base = server
    else:
        secure = environ.get("ARGO_SECURE", "true").lower() not in ("false", "0", "no")
        base = ("https://" if secure else "http://") + server
    href = environ.get("ARGO_BASE_HREF", "").strip().strip("/")
    url = base.rstrip("/") + (f"/{href}" if href else "")
    return http_url(url, "the Argo UI address from $ARGO_SERVER and $ARGO_BASE_HREF,")


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
    own = None if source == "--host" else str(cfg.host)
    if given.host:
        cfg.host = http_url(given.host, "the Kubernetes API server")
        source += " (server from --host)" if own is not None else ""
        if own is not None and _chosen_elsewhere(cfg.host, own):
            _forget_credentials(cfg)
            source += "; its credentials are not sent to a host chosen elsewhere"
    elif own is not None:
        cfg.host = http_url(own, f"the server of {source},")
    if tok is not None:
        cfg.api_key = {"authorization": "Bearer " + tok.reveal()}
        cfg.api_key_prefix = {}
        cfg.refresh_api_key_hook = None  # kubeconfig's hook would put its own token back
        source += f", token from {tok.source}"
    else:
        _hold_after_refresh(cfg, source)
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


def _forget_credentials(cfg: Any) -> None:
    """Take the kubeconfig's (or the pod's) credentials out of `cfg`: its token and the hook
    that would put it back, and its client certificate."""
    cfg.api_key = {}
    cfg.api_key_prefix = {}
    cfg.refresh_api_key_hook = None
    cfg.cert_file = None
    cfg.key_file = None


def _hold_after_refresh(cfg: Any, source: str) -> None:
    """The token `cfg` got from the kubeconfig or the pod without the whitespace around it, as
    kubectl trims a tokenFile (`echo TOKEN > file` ends it with a line break), and the API server
    as resolved here (`--host` included): now, and each time the kubeconfig's refresh hook puts
    its own token and server back (before every request)."""
    _trim_now(cfg, source)
    host = cfg.host

    def hold(configuration: Any) -> None:
        _trim_now(configuration, source)
        configuration.host = host

    if cfg.refresh_api_key_hook is not None:
        cfg.refresh_api_key_hook = _AfterRefresh(cfg.refresh_api_key_hook, hold)


def _trim_now(cfg: Any, source: str) -> None:
    value = cfg.api_key.get("authorization")
    if not isinstance(value, str):
        return
    scheme, space, token = value.strip().partition(" ")
    value = f"{scheme} {token.strip()}" if space else scheme
    cfg.api_key["authorization"] = header_safe(value, source, "correct the user's token")


class _AfterRefresh:
    """A kubeconfig's token refresh hook, then `after`. The kubernetes client calls the hook
    before every request, and the kubeconfig's hook puts the kubeconfig's own token and server
    back and installs itself anew on each call: this one stays in front of it."""

    def __init__(self, hook: Callable[[Any], None], after: Callable[[Any], None]) -> None:
        self.hook = hook
        self.after = after

    def __call__(self, configuration: Any) -> None:
        self.hook(configuration)
        installed = configuration.refresh_api_key_hook
        if installed is not None and installed is not self:
            self.hook = installed
            configuration.refresh_api_key_hook = self
        self.after(configuration)


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
