"""The plumbing both test API servers share: a threaded HTTP server on 127.0.0.1 that, when
stopped, also drops kept-alive connections, so its clients see it gone (not a hanging socket)."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, handler: Any) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self._conn_lock = threading.Lock()
        self._connections: set[Any] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def _drop_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
