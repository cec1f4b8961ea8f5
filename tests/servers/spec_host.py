"""A loopback HTTP server that serves one component spec at any path and records the paths
asked for: a component URL whose fetches a test can count (never fetched on inspect, never
when URLs are forbidden)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SpecHost(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, body: str) -> None:
        self.requests: list[str] = []
        seen, data = self.requests, body.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"


#: a v1 component spec that echoes its input into its output
ECHO_SPEC = """name: Echo
inputs:
- {name: Text, type: String}
outputs:
- {name: Out, type: String}
implementation:
  container:
    image: busybox:1.36
    command: [sh, -c, 'echo "$0" > "$1"', {inputValue: Text}, {outputPath: Out}]
"""


@contextmanager
def spec_host(body: str) -> Iterator[SpecHost]:
    host = SpecHost(body)
    try:
        yield host
    finally:
        host.shutdown()
        host.server_close()
