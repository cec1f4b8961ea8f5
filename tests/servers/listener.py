"""A loopback HTTP server standing for a host a caller chose: it answers 404 to everything and
records each request's path and the credentials it brought, so a test sees where a token (or a
kubeconfig's credentials, or a cookie) would have gone."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Listener(ThreadingHTTPServer):
    """A loopback HTTP server answering 404 to everything, recording each request's path and
    the credentials it brought (Authorization and Cookie headers)."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None, str | None]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                seen.append(
                    (self.path, self.headers.get("Authorization"), self.headers.get("Cookie"))
                )
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def credentials(self) -> set[str | None]:
        """The Authorization headers it was sent (None: a request without one)."""
        return {auth for _, auth, _ in self.requests}


@contextlib.contextmanager
def listening() -> Iterator[Listener]:
    host = Listener()
    try:
        yield host
    finally:
        host.shutdown()
        host.server_close()
