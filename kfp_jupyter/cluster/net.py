"""What both clients share about the network: deadlines, short reasons for failures, quiet calls.

Deadlines: a per-read socket timeout does not bound a request (a host that sends one byte a
second never trips it, and urllib3 retries a timed-out GET three more times), so every call runs
in a worker thread that the caller waits for at most the request's total deadline (`within`). The
socket timeouts still apply inside it, so a host that stops answering also frees the worker.

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
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, cast

T = TypeVar("T")

#: seconds one request may take in all (connecting, retries, reading the answer), by default
DEFAULT_REQUEST_TIMEOUT = 30.0
#: at most this many seconds to open a connection: a black-holed host fails early
CONNECT_TIMEOUT = 10.0

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


# --- deadlines


class DeadlineExceeded(TimeoutError):
    """A request did not end within its total deadline (the host is silent, or dripping)."""


def timeouts(total: float) -> tuple[float, float]:
    """(connect, read) seconds for the clients' public `_request_timeout` argument: the socket
    timeouts inside one request; `within` bounds the whole of it."""
    return (min(CONNECT_TIMEOUT, total), total)


def seconds_text(value: float) -> str:
    """10 -> '10', 2.5 -> '2.5': how a deadline is shown in a message."""
    return f"{value:g}"


class _Outcome(Generic[T]):
    """What the worker thread of `within` produced: a value or an exception."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None


def within(seconds: float, fn: Callable[[], T]) -> T:
    """`fn()` (one client call), or DeadlineExceeded after `seconds` whatever the host does.

    The call runs in a daemon thread, so a host that keeps a connection alive by dripping bytes
    cannot hold the caller: it is left to the socket timeouts, and ends when the host hangs up.
    (Waiting on an Event with a timeout can be interrupted, so Ctrl-C still works.)
    """
    outcome: _Outcome[T] = _Outcome()

    def work() -> None:
        try:
            outcome.value = fn()
        except BaseException as e:  # handed to the caller, re-raised there
            outcome.error = e
        finally:
            outcome.done.set()

    threading.Thread(target=work, name="kfpj-request", daemon=True).start()
    if not outcome.done.wait(seconds):
        raise DeadlineExceeded(f"no complete answer within {seconds_text(seconds)} s")
    if outcome.error is not None:
        raise outcome.error
    return cast(T, outcome.value)


def is_timeout(exc: BaseException) -> bool:
    """Whether a failure is the host being too slow (as opposed to refusing, or answering)."""
    return isinstance(exc, DeadlineExceeded) or network_reason(exc) == "timed out"


def guarded(
    seconds: float,
    fn: Callable[[], T],
    translate: Callable[[Exception], Exception | None],
    *,
    warnings_too: bool = True,
    bounded: bool = True,
) -> T:
    """`fn()` (one client call) quietly within its deadline, its failure raised as what
    `translate` makes of it (or as it is, when that is None: a bug stays a bug). `bounded=False`
    for a call that only wraps bounded ones, so that the inner call's deadline and words win."""
    try:
        with quiet(warnings_too):
            return within(seconds, fn) if bounded else fn()
    except Exception as e:
        error = translate(e)
        if error is None:
            raise
        raise error from None
