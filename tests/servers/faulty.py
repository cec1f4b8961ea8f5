"""A host on 127.0.0.1 that misbehaves the ways real networks do, for the submit fault tests.

Modes (`FaultyServer(mode)`):
- "silent": accepts the connection, reads nothing, answers nothing (a hung backend, a proxy that
  lost its upstream);
- "drip": answers one byte a second, forever: an endless status line and headers, so a per-read
  socket timeout never trips (a tarpit, a stuck proxy);
- "html": answers every request 200 with a web page (a login page, another service);
- "broken-json": answers every request 200 `application/json` with JSON cut in the middle.

Every request line it read is kept in `requests`. `stop()` closes every connection, so a client
thread still reading from it ends (as it would when a real host finally hangs up).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from .loopback import LoopbackServer

MODES = ("silent", "drip", "html", "broken-json")
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
    b"<body><form action='/login'>Log in to continue</form></body></html>"
)
BROKEN_JSON = b'{"pipelines": [{"pipeline_id": "p-1", "display_name": "demo-pi'


class _Handler(BaseHTTPRequestHandler):
    server: FaultyServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        mode = self.server.mode
        if mode == "silent":
            self.server.stopping.wait()
        elif mode == "drip":
            self._drip()
        else:
            super().handle()

    def _drip(self) -> None:
        """One byte a second: a status line, then one header that never ends."""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Drip: "
        sent = 0
        while not self.server.stopping.is_set():
            byte = head[sent : sent + 1] or b"."
            try:
                self.wfile.write(byte)
                self.wfile.flush()
            except OSError:
                return
            sent += 1
            self.server.stopping.wait(1.0)

    def _answer(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        html = self.server.mode == "html"
        body = HTML_PAGE if html else BROKEN_JSON
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8" if html else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


class FaultyServer(LoopbackServer):
    def __init__(self, mode: str, port: int = 0) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
        super().__init__(port, _Handler)
        self.mode = mode
        self.stopping = threading.Event()
        self.requests: list[str] = []
        self._thread: threading.Thread | None = None

    def start(self) -> FaultyServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._drop_connections()

    @property
    def connections(self) -> int:
        """Connections open now (accepted and not yet closed)."""
        with self._conn_lock:
            return len(self._connections)
