"""Errors of sending a pipeline to a cluster, each worded as what the user can do about it.

Two kinds, because a script needs to tell them apart: what is wrong with the input on this machine
(no host configured, a bad parameter or schedule: exit status 2, nothing was sent) and what the
cluster or the network answered (unreachable, credentials refused, pipeline rejected, namespace or
experiment missing, a run that could not be followed: exit status 1). Messages never hold a token:
they are built from the server's answer and our own settings, never from request headers.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import KfpJupyterError

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


class InvalidSubmission(ClusterError):
    """Parameters or a schedule that cannot be right, found before anything was sent."""

    exit_code = EXIT_INVALID


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
