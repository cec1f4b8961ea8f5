"""A component URL has one deadline for the whole fetch, not per read: a host that sends a byte
now and then (in the headers or the body) is refused once the deadline passes, with a message
naming the URL and the fix; an answer shorter than its announced length is refused, never read
as a whole spec. A URL that fails is fetched once in a load, its failure told for each step
naming it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from nbutil import code, make_notebook

from kfp_jupyter import NotebookError, load_notebook
from kfp_jupyter.components import ComponentSpecError, load_component_from_url

#: how long a dripping host goes on before it hangs up: far past the deadline the tests give,
#: so a fetch without a deadline ends too (with another error) instead of hanging the test
DRIP_FOR = 10.0
DEADLINE = 1.0

HEADS = {
    # the status line, then one header that never ends
    "headers": b"HTTP/1.1 200 OK\r\nX-Drip: ",
    # whole headers, then a body of comments with no length: it ends when the host hangs up
    "body": b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n#",
    # a length announced, then the body a byte at a time
    "sized": b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n#",
}


class Host:
    """An HTTP host on 127.0.0.1 that answers each connection with `answer` (its own thread)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/c.yaml"

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        raise NotImplementedError


class DrippingHost(Host):
    """Answers every request with `HEADS[mode]`, then one more byte every 0.2 s until
    DRIP_FOR seconds have passed or the host stops; then it hangs up."""

    def __init__(self, mode: str) -> None:
        self.head = HEADS[mode]
        self.stopping = threading.Event()
        super().__init__()

    def answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(self.head)
            for _ in range(int(DRIP_FOR / 0.2)):
                if self.stopping.wait(0.2):
                    return
                conn.sendall(b"#" if self.head.endswith(b"#") else b"x")

    def stop(self) -> None:
        self.stopping.set()
        self.sock.close()


@pytest.fixture
def dripping(request: pytest.FixtureRequest) -> Iterator[DrippingHost]:
    host = DrippingHost(request.param)
    try:
        yield host
    finally:
        host.stop()


@pytest.mark.parametrize("dripping", ["headers", "body", "sized"], indirect=True)
def test_a_host_sending_a_byte_now_and_then_is_refused_at_the_deadline(
    dripping: DrippingHost,
) -> None:
    with pytest.raises(ComponentSpecError) as e:
        load_component_from_url(dripping.url, timeout=DEADLINE)
    message = str(e.value)
    assert message.startswith(f"cannot fetch component {dripping.url!r}: no answer within 1 s")
    assert "the whole spec must arrive in that time" in message
    assert "save the spec next to the notebook and name its file" in message


def test_an_answer_shorter_than_its_length_is_one_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nname: cut")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}/c.yaml"
        with pytest.raises(ComponentSpecError) as e:
            load_component_from_url(url, timeout=10)
        thread.join(10)
    assert str(e.value) == (
        f"cannot fetch component {url!r}: the answer was cut short (the host hung up before "
        "sending all it announced); try again, or save the spec next to the notebook and name "
        "its file in the tag instead"
    )


class RefusingHost(Host):
    """Answers every request with 503 at once and counts the connections (each counted before
    its answer is sent, so a fetch that got its answer has been counted)."""

    def __init__(self) -> None:
        self.connections = 0
        self.counting = threading.Lock()
        super().__init__()

    def answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            with self.counting:
                self.connections += 1
            conn.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )


def test_a_url_that_fails_is_fetched_once_per_load_and_told_for_each_step(
    tmp_path: Path,
) -> None:
    host = RefusingHost()
    try:
        nb = make_notebook(
            tmp_path / "urls.ipynb",
            [code(f"%%component e{i} {host.url}\nmsg = {i}") for i in (1, 2, 3)],
        )
        with pytest.raises(NotebookError) as e:
            load_notebook(nb)
        # one fetch, not one per step (each would wait out its own deadline on a silent host)
        assert host.connections == 1
        said = f"cannot fetch component {host.url!r}: HTTP 503 Service Unavailable"
        assert [(p.cell, p.step, p.message) for p in e.value.problems] == [
            (1, "e1", said), (2, "e2", said), (3, "e3", said)
        ]  # fmt: skip
        assert all(p.fix and "or URL" in p.fix for p in e.value.problems)
        # the next load (the next save) tries again: the host may be back
        with pytest.raises(NotebookError):
            load_notebook(nb)
        assert host.connections == 2
    finally:
        host.sock.close()
