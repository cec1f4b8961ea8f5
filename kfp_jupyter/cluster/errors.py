"""Errors of sending a pipeline to a cluster, each worded as what the user can do about it.

Two kinds, because a script needs to tell them apart: what is wrong with the input on this machine
(no host configured, a bad parameter or schedule: exit status 2, nothing was sent) and what the
cluster or the network answered (unreachable, credentials refused, pipeline rejected, namespace or
experiment missing, a run that could not be followed: exit status 1). Messages never hold a token:
they are built from the server's answer and our own settings, never from request headers.

`translate` is the one place where a client's exception becomes one of these, for both backends:
each gives only its own words (Wording) and the 404s it can explain.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from ..errors import KfpJupyterError
from .net import is_network_error, is_timeout, network_reason, seconds_text

EXIT_INVALID = 2
EXIT_FAILED = 1


class ClusterError(KfpJupyterError):
    """Something about the cluster or the way to reach it; `exit_code` is what the CLI exits with."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message + (f"\n  fix: {fix}" if fix else ""))


class ConfigError(ClusterError):
    """The settings on this machine do not say where or how to connect (nothing was sent)."""

    exit_code = EXIT_INVALID


#: the schemes both clients speak: kfp's and the kubernetes client's requests are HTTP(S) only
HTTP_SCHEMES = ("http://", "https://")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", re.DOTALL)
#: a host name or IPv4 address (an IPv6 one is in brackets, checked as such)
_HOST_NAME = re.compile(r"[\w.~%-]+")
#: the password of `user:password@`, with or without a scheme before it
_PASSWORD = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*://)?[^/@:?#]*):[^/@?#]*@")
#: what a good address looks like, for the fix of a bad one
ADDRESS_FORM = "http(s)://HOST[:PORT][/PATH]"


def http_url(url: str, what: str) -> str:
    """`url` checked as an http(s) address the clients can connect to (scheme in lower case, no
    trailing slash), else a ConfigError naming `what`: a malformed address is a setting to fix
    here, not a network failure to blame on the cluster or the VPN."""
    given = url.strip()
    shown = _PASSWORD.sub(r"\1:***@", given)
    match = _SCHEME.fullmatch(given)
    if not match:
        bare = shown.rstrip("/")
        raise ConfigError(
            f"{what} {bare!r} has no scheme", fix=f"write it as http://{bare} or https://{bare}"
        )
    scheme, rest = match[1].lower(), match[2]
    if f"{scheme}://" not in HTTP_SCHEMES:
        after = shown.split("://", 1)[1]
        raise ConfigError(
            f"{what} {shown!r}: only http:// and https:// addresses are supported, "
            f"not {match[1]}://",
            fix=f"give an http(s) address, e.g. https://{after.rstrip('/') or 'HOST'}",
        )
    address = f"{scheme}://{rest}"
    problem, example = _address_problem(address)
    if problem:
        raise ConfigError(
            f"{what} {shown!r} is not a valid address: {problem}",
            fix=f"write it as {ADDRESS_FORM}, e.g. {scheme}://{example}",
        )
    return address.rstrip("/")


def _address_problem(address: str) -> tuple[str | None, str]:
    """What makes `address` (http(s), scheme in lower case) one no client can connect to, if
    anything, and the HOST:PORT of a good one (its own host when that much is right)."""
    example = "localhost:8080"
    if any(c.isspace() or not c.isprintable() for c in address):
        return "it holds a space or another blank or control character", example
    try:
        parts = urlsplit(address)
    except ValueError as e:  # an unclosed [IPv6] address, or not one
        return f"an IPv6 address goes in closed brackets, e.g. [::1] ({e})", example
    host = parts.hostname
    if not host:
        return "it names no host", example
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    if bracketed and not _is_ipv6(host):  # Python before 3.11 leaves this to the connection
        return f"an IPv6 address goes in closed brackets, e.g. [::1], and [{host}] is none", example
    if not bracketed and not _HOST_NAME.fullmatch(host):
        return f"the host {host!r} holds a character a host name cannot have", example
    where = f"[{host}]" if bracketed else host
    port = parts.netloc.rpartition("@")[2][len(where) :].removeprefix(":")
    if parts.netloc.endswith(":") or not _port_ok(parts):
        return f"the port {port!r} is not a number from 1 to 65535", f"{where}:8080"
    if parts.query or parts.fragment or "?" in address or "#" in address:
        return "an API address has no '?query' or '#fragment'", where + (port and f":{port}")
    return None, where


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def _port_ok(parts: SplitResult) -> bool:
    try:
        port = parts.port  # raises on a port that is not a number in 0-65535
    except ValueError:
        return False
    return port is None or port > 0


class InvalidSubmission(ClusterError):
    """Parameters or a schedule that cannot be right, found before anything was sent.

    `fields`: the message for each named value that is wrong (as UsageError.fields)."""

    exit_code = EXIT_INVALID

    def __init__(
        self, message: str, *, fix: str | None = None, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, fix=fix)
        self.fields = dict(fields or {})


class UnreachableError(ClusterError):
    """No answer from the host: wrong address, port-forward not running, DNS, TLS, a proxy."""


class RequestTimeout(UnreachableError):
    """The host took the connection but gave no complete answer within the request's deadline."""


class AuthError(ClusterError):
    """The server refused the credentials (401) or the permission (403)."""

    def __init__(self, message: str, *, status: int, fix: str | None = None) -> None:
        self.status = status
        super().__init__(message, fix=fix)


class RejectedError(ClusterError):
    """The server refused what was sent (the pipeline, the run, the workflow), with its reason."""

    def __init__(self, message: str, *, reason: str, fix: str | None = None) -> None:
        self.reason = reason
        super().__init__(message, fix=fix)


class NotFoundError(ClusterError):
    """A namespace, an experiment or the API itself does not exist on the cluster."""


class UnexpectedAnswer(ClusterError):
    """The host answered, but not as the API does (a login page, another service)."""


def not_the_api(
    host: str, api: str, action: str, text: str, hint: str = "check --host"
) -> UnexpectedAnswer:
    """An answer that is not what `api` promises (a web page, broken JSON), shown as what it was:
    its first 100 characters, on one line, so the user can tell a login page from a proxy."""
    shown = " ".join(text.split())[:100]
    said = repr(shown) if shown else "an empty answer"
    return UnexpectedAnswer(
        f"the server at {host} did not answer like {api} while {action}: it sent {said}; {hint}"
    )


class FollowError(ClusterError):
    """The run was created, but following it failed (connection lost, run deleted, ...)."""


def server_reason(body: Any, fallback: str = "") -> str:
    """The human part of an error response: gRPC status `message`, Kubernetes Status `message`,
    KFP's older `error_message`, or the text itself when it is short and not a web page."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    text = (body or "").strip() if isinstance(body, str) else ""
    data: Any = body if isinstance(body, dict) else None
    if data is None and text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    if isinstance(data, dict):
        for key in ("message", "error_message", "error"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    if text and not text.lower().startswith(("<!doctype", "<html")) and len(text) <= 500:
        return text
    if text.lower().startswith(("<!doctype", "<html")):
        return "the server answered with a web page (a login page?) instead of an API response"
    return fallback


# --- what a failed request means, for both backends


@dataclass(frozen=True)
class Wording:
    """The parts of a failed request's message that differ between the backends (the API's name,
    what to check, the fixes); `translate` holds the sentences around them, so both backends say
    the same thing the same way."""

    api: str
    host: str
    #: the host and where its address came from
    where: str
    request_timeout: float
    namespace: str | None
    #: what to check when the host stays silent
    check_host: str
    unreachable_fix: str
    unauthorized_fix: str
    forbidden_fix: str
    #: who refuses a bad request (4xx)
    rejecter: str
    #: who fails on the server's side (5xx)
    failer: str


@dataclass(frozen=True)
class Answer:
    """An error response of an API client: status, the human reason, the JSON object ({} if none)."""

    status: int
    reason: str
    data: dict[str, Any]

    @property
    def said(self) -> str:
        return f": {self.reason}" if self.reason else ""


def answer_of(e: Any) -> Answer:
    """The answer carried by a generated client's ApiException (kfp_server_api and kubernetes
    make the same kind: `status`, `reason`, `body`)."""
    return Answer(
        status=int(e.status or 0),
        reason=server_reason(e.body, fallback=str(e.reason or "")),
        data=_json_object(e.body),
    )


def _json_object(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def translate(
    e: BaseException,
    words: Wording,
    action: str,
    *,
    answered: type[BaseException],
    not_found: Callable[[Answer, str], ClusterError | None] | None = None,
) -> ClusterError | None:
    """One clear ClusterError for what the server or the network did while doing `action`; None
    for anything else (a bug is reported as one, not as a network problem). `answered` is the
    client's exception for an HTTP answer; `not_found` words the 404s a backend can explain."""
    if isinstance(e, ClusterError):
        return e
    if is_timeout(e):
        return RequestTimeout(
            f"{words.api} at {words.host} did not answer within "
            f"{seconds_text(words.request_timeout)} s while {action}; {words.check_host}, or "
            "raise --request-timeout"
        )
    if isinstance(e, answered):
        return _from_answer(answer_of(e), words, action, not_found)
    if not is_network_error(e):
        return None
    return UnreachableError(
        f"cannot reach {words.api} at {words.where} while {action}: {network_reason(e)}",
        fix=words.unreachable_fix,
    )


def _from_answer(
    answer: Answer,
    words: Wording,
    action: str,
    not_found: Callable[[Answer, str], ClusterError | None] | None,
) -> ClusterError:
    status, said = answer.status, answer.said
    if status == 0:
        return UnreachableError(f"cannot reach {words.api} at {words.where}{said}")
    if status == 401:
        return AuthError(
            f"{words.api} at {words.host} refused the credentials (401 Unauthorized) while "
            f"{action}{said}",
            status=401,
            fix=words.unauthorized_fix,
        )
    if status == 403:
        ns = f" in namespace '{words.namespace}'" if words.namespace else ""
        return AuthError(
            f"{words.api} at {words.host} denied permission (403 Forbidden) while {action}{ns}"
            f"{said}",
            status=403,
            fix=words.forbidden_fix,
        )
    if status == 404:
        known = not_found(answer, action) if not_found else None
        return known or NotFoundError(f"not found while {action}{said}")
    if 400 <= status < 500:
        return RejectedError(
            f"{words.rejecter} rejected the request while {action} ({status}){said}",
            reason=answer.reason,
        )
    return ClusterError(f"{words.failer} failed while {action} ({status}){said}")
