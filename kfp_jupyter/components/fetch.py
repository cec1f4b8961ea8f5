"""One GET of a component URL that ends by its deadline, however slowly the host answers.

urllib's `timeout` bounds each socket operation, not the fetch: a host sending a byte every few
seconds keeps it going for as long as it likes, and with it a compile (and the server's thread
that runs it). Here a timer shuts the fetch's sockets down once the deadline passes, wherever the
fetch is (the TLS handshake, the headers, the body), and a fetch that reached its deadline is
refused even if part of the answer came: a spec cut short must not be read as a whole one.

Only http and https are opened, redirects included (no ftp, no files), with the proxies of the
environment, as urllib's own opener would.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
import urllib.request
from typing import Any


class DeadlinePassed(Exception):
    """The whole answer did not come before the deadline."""


class Deadline:
    """Shuts down the sockets it watches once `seconds` have passed, unless finished before."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._state = "running"  # then "finished" or "expired"
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (at once if it has passed)."""
        with self._lock:
            if self._state == "running":
                self._sockets.append(sock)
                return
            expired = self._state == "expired"
        if expired:
            _shut(sock)

    def finish(self) -> bool:
        """Stop watching; True if the deadline passed first (what was read may be cut short)."""
        self._timer.cancel()
        with self._lock:
            expired = self._state == "expired"
            self._state = "expired" if expired else "finished"
            self._sockets = []
        return expired

    def _expire(self) -> None:
        with self._lock:
            if self._state != "running":
                return
            self._state = "expired"
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    """Wake a read blocked on `sock` in another thread (it sees the end of the stream)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _WatchedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        super().connect()
        self.deadline.watch(self.sock)


class _WatchedContext(ssl.SSLContext):
    """The default TLS settings; the socket is watched before its handshake, which a slow
    host can drag out too."""

    deadline: Deadline

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        wrapped = super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=False,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            session=session,
        )
        self.deadline.watch(wrapped)
        if do_handshake_on_connect:
            wrapped.do_handshake()
        return wrapped


def _tls_context(deadline: Deadline) -> _WatchedContext:
    context = _WatchedContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and host name
    context.load_default_certs()
    context.deadline = deadline
    return context


class _Handler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """Opens http and https connections that the deadline watches; each connects within the
    time left (a connection refused once it is up: urllib then says so as a timeout)."""

    def __init__(self, deadline: Deadline) -> None:
        urllib.request.HTTPHandler.__init__(self)
        self.deadline = deadline
        self.tls = _tls_context(deadline)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._tls_connection, req)

    def _connection(self, host: str, **kwargs: Any) -> http.client.HTTPConnection:
        return _WatchedHTTP(host, self.deadline, **self._within(kwargs))

    def _tls_connection(self, host: str, **kwargs: Any) -> http.client.HTTPConnection:
        return http.client.HTTPSConnection(host, context=self.tls, **self._within(kwargs))

    def _within(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        left = self.deadline.remaining()
        if left <= 0:
            raise TimeoutError("the deadline passed")
        given = kwargs.get("timeout")
        each = min(given, left) if isinstance(given, (int, float)) else left
        return {**kwargs, "timeout": each}


def fetch(url: str, seconds: float, limit: int, headers: dict[str, str]) -> bytes:
    """At most `limit` bytes of the body at `url`, all of it received within `seconds`, else
    DeadlinePassed. Other failures are urllib's (HTTPError, URLError, OSError, ...)."""
    deadline = Deadline(seconds)
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _Handler(deadline),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    request = urllib.request.Request(url, headers=headers)
    try:
        with opener.open(request, timeout=seconds) as response:
            data: bytes = response.read(limit)
            _check_whole(response, data, limit)
    except (OSError, http.client.HTTPException, ValueError):
        if deadline.finish():
            raise DeadlinePassed from None
        raise
    if deadline.finish():
        raise DeadlinePassed
    return data


def _check_whole(response: http.client.HTTPResponse, data: bytes, limit: int) -> None:
    """IncompleteRead if the host hung up before sending the length it announced: `read(n)`
    returns what came without saying so (a body sent in chunks says so itself)."""
    if "chunked" in response.headers.get("Transfer-Encoding", "").lower():
        return  # the length, if any, is not the body's
    declared = response.headers.get("Content-Length", "").strip()
    if declared.isdigit() and len(data) < min(int(declared), limit):
        raise http.client.IncompleteRead(data, int(declared) - len(data))
