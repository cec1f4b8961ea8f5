"""What both clients share about the network: short reasons for failures, and quiet calls.

Both official clients sit on urllib3, which logs a WARNING for each retry of a refused connection;
with no logging configured Python prints those to stderr, so a user would see three stack-like
lines before our one clear message. `quiet()` keeps them (and kfp's FutureWarning about server
versions) out of the way for the duration of a call.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator

#: (connect, read) seconds for one request; a black-holed host fails in time instead of hanging
REQUEST_TIMEOUT = (15.0, 120.0)

_NOISY = ("urllib3.connectionpool", "urllib3.connection", "kubernetes.client.rest")


class _Mute(logging.Filter):
    """Drops the noisy loggers' records below ERROR while any `quiet()` block is active."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        return self.depth == 0 or record.levelno >= logging.ERROR


_MUTE = _Mute()
for _name in _NOISY:
    logging.getLogger(_name).addFilter(_MUTE)


@contextlib.contextmanager
def quiet(warnings_too: bool = True) -> Iterator[None]:
    """Mute retry warnings (thread-safe); with `warnings_too`, kfp's FutureWarnings as well
    (`warnings.catch_warnings` is not thread-safe: only the main thread should ask for it)."""
    with _MUTE.lock:
        _MUTE.depth += 1
    try:
        if warnings_too:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                yield
        else:
            yield
    finally:
        with _MUTE.lock:
            _MUTE.depth -= 1


def is_network_error(exc: BaseException) -> bool:
    """A failure to talk to the host at all (as opposed to an answer, or a bug of ours)."""
    import urllib3

    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError, TimeoutError))


def network_reason(exc: BaseException) -> str:
    """'connection refused', 'name not resolved', 'timed out', ... from a urllib3/OS error."""
    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen:
        seen.append(e)
        e = (
            getattr(e, "reason", None)
            if isinstance(getattr(e, "reason", None), BaseException)
            else (e.__cause__ or e.__context__)
        )
    text = " ".join(str(x) for x in seen).lower()
    if "refused" in text:
        return "connection refused"
    if (
        "name or service not known" in text
        or "nodename nor servname" in text
        or ("temporary failure in name resolution" in text)
        or "getaddrinfo" in text
    ):
        return "the host name does not resolve"
    if "timed out" in text or "timeout" in text:
        return "timed out"
    if "ssl" in text or "certificate" in text:
        return "TLS failed (" + str(seen[-1])[:200] + ")"
    if "reset" in text or "remotedisconnected" in text or "connection aborted" in text:
        return "the connection was closed by the other side"
    return str(seen[-1])[:200] or type(seen[-1]).__name__
