"""An S3 store that cannot take a step's log or the run's record, or takes one slowly.

The store is moto's S3 server (on 127.0.0.1) behind a gate the test opens and closes: it refuses
the uploads the test names (403, as a bucket policy or expired credentials would) or holds one
until the test lets it through. Steps wait for files the test creates, so every upload happens
at a point the test chose; nothing waits for a time.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import Running, kfpj, running_commands, show, states, tasks, ts, wait_for
from nbutil import code, make_notebook

pytest.importorskip("moto.server")
pytest.importorskip("s3fs")

BUCKET = "kfpj-upload-failures"
#: a step's wait for a file ends after this long (nothing outlives the test)
PATIENCE_S = 120
ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)

WAIT_CELL = f"""def wait(path):
    deadline = time.monotonic() + {PATIENCE_S}
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
"""

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Gate:
    """moto's S3 application behind a gate: a PUT whose path contains one of `refused` is
    answered 403 (and listed in `refusals`); a PUT whose path ends with `held` waits until
    `release()`, `holding` telling that it arrived."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app
        self.refused: tuple[str, ...] = ()
        self.refusals: list[str] = []
        self.held: str | None = None
        self.holding = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if environ["REQUEST_METHOD"] == "PUT":
            if any(r in path for r in self.refused):
                return self._refuse(path, environ, start_response)
            if self.held is not None and path.endswith(self.held):
                self.holding.set()
                self._released.wait(PATIENCE_S)
        return self.app(environ, start_response)

    def _refuse(
        self, path: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        from werkzeug.wsgi import get_input_stream

        get_input_stream(environ).read()  # the connection stays usable for the next request
        self.refusals.append(path)
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(ACCESS_DENIED)))],
        )
        return [ACCESS_DENIED]


@contextlib.contextmanager
def gated_s3(bucket: str) -> Iterator[tuple[dict[str, str], Gate]]:
    """An S3-compatible server holding `bucket` behind a Gate, and the environment that points
    AWS tools (and so the engine) at it."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class Quiet(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    gate = Gate(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, gate, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_port}",
    }
    try:
        _client(env).create_bucket(Bucket=bucket)
        yield env, gate
    finally:
        gate.release()
        server.shutdown()
        thread.join()


def _client(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def _keys(env: dict[str, str], prefix: str) -> set[str]:
    found = _client(env).list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix) :] for o in found}


@pytest.fixture
def store() -> Iterator[tuple[dict[str, str], Gate]]:
    with gated_s3(BUCKET) as served:
        yield served


@pytest.fixture
def running() -> Iterator[list[Running]]:
    with running_commands() as started:
        yield started


def _machine(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    url = f"s3://{BUCKET}/{tmp_path.name}"
    return {**env, "KFP_JUPYTER_CACHE_DIR": str(tmp_path / "cache"), "KFP_JUPYTER_STORE": url}


def _waiting_step(name: str, tmp_path: Path, then: str = "") -> Any:
    """A step that says it started (file NAME.started), then waits for file NAME.go."""
    started, go = tmp_path / f"{name}.started", tmp_path / f"{name}.go"
    source = f"open({str(started)!r}, 'w').close()\nwait({str(go)!r})\n{then}"
    return code(source, f"step:{name}")


def _notebook(tmp_path: Path, *steps: Any) -> Path:
    cells = [code("import os, time", "imports"), code(WAIT_CELL, "functions"), *steps]
    return make_notebook(tmp_path / "nb.ipynb", cells)


def _go(tmp_path: Path, name: str) -> None:
    (tmp_path / f"{name}.go").touch()


def _started(tmp_path: Path, *names: str) -> Callable[[], bool]:
    return lambda: all((tmp_path / f"{n}.started").is_file() for n in names)


def test_a_log_the_store_refuses_stops_nothing_and_is_copied_at_the_end(
    tmp_path: Path, store: tuple[dict[str, str], Gate], running: list[Running]
) -> None:
    s3_env, gate = store
    env = _machine(tmp_path, s3_env)
    nb = _notebook(tmp_path, _waiting_step("a", tmp_path), _waiting_step("b", tmp_path))
    run = Running("run", nb, "--workers", "2", env=env)
    running.append(run)
    wait_for(_started(tmp_path, "a", "b"))

    gate.refused = ("/logs/",)
    _go(tmp_path, "a")
    wait_for(lambda: any(p.endswith("/logs/a.log") for p in gate.refusals))
    gate.refused = ()  # the store is back before the run ends
    _go(tmp_path, "b")
    assert run.finish() == 0, run.output

    assert "could not be copied" not in run.output
    s = show(env["KFP_JUPYTER_STORE"], env=env)
    assert s["state"] == "SUCCEEDED"
    assert states(s) == {"a": "SUCCEEDED", "b": "SUCCEEDED"}  # b was not cancelled
    copied = _keys(s3_env, f"{tmp_path.name}/runs/{s['id']}/")
    assert {"logs/a.log", "logs/b.log", "record.json", "run.json"} <= copied


def test_a_store_out_of_reach_until_the_end_loses_no_run(
    tmp_path: Path, store: tuple[dict[str, str], Gate], running: list[Running]
) -> None:
    s3_env, gate = store
    env = _machine(tmp_path, s3_env)
    nb = _notebook(
        tmp_path,
        _waiting_step("good", tmp_path),
        _waiting_step("bad", tmp_path, then="raise ValueError('boom in bad')"),
    )
    run = Running("run", nb, "--workers", "2", env=env)
    running.append(run)
    wait_for(_started(tmp_path, "good", "bad"))

    gate.refused = ("",)  # every upload, to the end of the run
    _go(tmp_path, "bad")
    _go(tmp_path, "good")
    assert run.finish() == 1, run.output  # a step failed: the run's own outcome

    out = run.output
    assert "internal error" not in out
    for step in ("good", "bad"):
        assert f"the log of step {step!r} could not be copied to the store: Access Denied" in out
    assert re.search(r"the record of run \w+ could not be copied to the store: Access Denied", out)
    s = show(env["KFP_JUPYTER_STORE"], env=env)
    assert s["state"] == "FAILED"
    assert states(s) == {"good": "SUCCEEDED", "bad": "FAILED"}
    assert tasks(s)["bad"]["exit_code"] == 1
    # this machine keeps the failed step's log and its error report
    logs = kfpj("runs", "logs", s["id"], "bad", env=env)
    assert logs.returncode == 0, logs.stderr
    assert "ValueError: boom in bad" in logs.stdout
    (local,) = (tmp_path / "cache" / "stores").iterdir()
    assert (local / "runs" / s["id"] / "logs" / "bad.error.json").is_file()
    assert _keys(s3_env, f"{tmp_path.name}/runs/") == set()


def test_a_slow_log_upload_holds_no_other_step(
    tmp_path: Path, store: tuple[dict[str, str], Gate], running: list[Running]
) -> None:
    s3_env, gate = store
    env = _machine(tmp_path, s3_env)
    q2_ran = tmp_path / "q2.ran"
    nb = _notebook(
        tmp_path,
        code("print('a log that takes long to copy')", "step:slow_log"),
        _waiting_step("q1", tmp_path),
        code(f"open({str(q2_ran)!r}, 'w').close()", "step:q2", "prev:q1"),
    )
    gate.held = "/logs/slow_log.log"
    run = Running("run", nb, "--workers", "2", "--no-cache", env=env)
    running.append(run)
    wait_for(gate.holding.is_set)  # slow_log ended; its log is on its way to the store

    _go(tmp_path, "q1")
    wait_for(q2_ran.is_file)  # q1 was seen to end and q2 started meanwhile
    gate.release()
    assert run.finish() == 0, run.output

    s = show(env["KFP_JUPYTER_STORE"], env=env)
    assert states(s) == {"slow_log": "SUCCEEDED", "q1": "SUCCEEDED", "q2": "SUCCEEDED"}
    t = tasks(s)
    # its end is when its process ended, not when its log was finally copied
    assert ts(t["slow_log"]["finished"]) <= ts(t["q2"]["started"])
    assert "logs/slow_log.log" in _keys(s3_env, f"{tmp_path.name}/runs/{s['id']}/")
