"""`kfp-jupyter submit` against hosts that misbehave: nothing hangs, every failure is one line.

The hosts are loopback servers (tests/servers/faulty.py) that accept and never answer, answer one
byte a second, answer a web page, or answer broken JSON; and the KFP test server with a run that
never ends. Each test bounds how long the command may take, so a regression fails instead of
hanging the suite.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servers.faulty import BROKEN_JSON, HTML_PAGE, FaultyServer
from servers.helpers import K8S_TOKEN, TOKEN_ENV, cli, no_traceback
from servers.kfp_server import KfpServer

import kfp_jupyter
from kfp_jupyter.cluster import ConfigError, RequestTimeout, UnexpectedAnswer

pytest_plugins = ["servers.fixtures"]

API = {"kfp": "KFP API", "argo": "Kubernetes API"}
#: what a command given --request-timeout 2 may take at most, setup and teardown included
BOUND = 30.0


@pytest.fixture
def faulty(cluster_env: Path) -> Iterator[Callable[[str], FaultyServer]]:
    """Start misbehaving hosts on 127.0.0.1; all are stopped (connections closed) at the end."""
    started: list[FaultyServer] = []

    def make(mode: str) -> FaultyServer:
        server = FaultyServer(mode).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def submit_args(engine: str, url: str, nb: Path, *more: str) -> list[str]:
    """Only --host and a token: no kubeconfig, no kfp context (cluster_env isolates both)."""
    return ["submit", str(nb), "--engine", engine, "--host", url, "--token-env", TOKEN_ENV, *more]


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]


def request_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kfpj-request"]


# --- 1. a host that never answers, or drips


@pytest.mark.faults
@pytest.mark.parametrize("mode", ["silent", "drip"])
@pytest.mark.parametrize("engine", ["kfp", "argo"])
def test_a_host_that_never_answers_fails_within_the_request_timeout(faulty, demo_nb, engine, mode):
    server = faulty(mode)
    began = time.monotonic()
    result = cli(*submit_args(engine, server.url, demo_nb, "--request-timeout", "2"))
    took = time.monotonic() - began
    no_traceback(result)
    assert took < BOUND, f"took {took:.0f} s"
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    assert line.startswith(f"error: the {API[engine]} at {server.url} did not answer within 2 s")
    assert line.endswith("raise --request-timeout")
    assert "check --host" in line
    assert result.stdout == ""  # no run URL: nothing was created


@pytest.mark.faults
def test_the_python_api_takes_request_timeout_and_leaves_no_request_behind(faulty, demo_nb):
    server = faulty("drip")
    began = time.monotonic()
    with pytest.raises(RequestTimeout) as caught:
        kfp_jupyter.submit(
            demo_nb, "argo", host=server.url, token_env=TOKEN_ENV, request_timeout=1.5
        )
    assert time.monotonic() - began < BOUND
    assert f"at {server.url} did not answer within 1.5 s" in str(caught.value)
    # the abandoned request ends as soon as the host hangs up: no thread lives on
    server.stop()
    deadline = time.monotonic() + 10
    while request_threads() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert request_threads() == []


@pytest.mark.faults
@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_request_timeout_that_is_not_a_duration_sends_nothing(faulty, demo_nb, value):
    server = faulty("html")
    result = cli(*submit_args("kfp", server.url, demo_nb, "--request-timeout", value))
    no_traceback(result)
    assert result.exit_code == 2
    assert f"--request-timeout {float(value)!r}" in result.stderr
    assert server.requests == []
    with pytest.raises(ConfigError):
        kfp_jupyter.submit(demo_nb, "argo", host=server.url, request_timeout=float(value))


# --- 2. answers that are not what the API promises


@pytest.mark.faults
@pytest.mark.parametrize("mode", ["html", "broken-json"])
@pytest.mark.parametrize("engine", ["kfp", "argo"])
def test_an_answer_that_is_not_the_api_is_one_line_showing_what_was_sent(
    faulty, demo_nb, engine, mode
):
    server = faulty(mode)
    result = cli(*submit_args(engine, server.url, demo_nb, "--request-timeout", "5"))
    no_traceback(result)
    assert result.exit_code == 1
    line = one_error_line(result.stderr)
    api = "a KFP API" if engine == "kfp" else "a Kubernetes API"
    assert line.startswith(f"error: the server at {server.url} did not answer like {api}")
    sent = (HTML_PAGE if mode == "html" else BROKEN_JSON).decode()[:100]
    assert f"it sent {sent!r}" in line
    assert "internal error" not in line and "TypeError" not in line
    assert server.requests  # it was asked, and its answer refused


@pytest.mark.faults
def test_the_python_api_raises_unexpected_answer(faulty, demo_nb):
    server = faulty("broken-json")
    with pytest.raises(UnexpectedAnswer, match="did not answer like a KFP API"):
        kfp_jupyter.submit(demo_nb, host=server.url, token_env=TOKEN_ENV, request_timeout=5)


# --- 3. --wait --timeout: a run that does not end


def kfp_args(server: KfpServer, nb: Path, *more: str) -> list[str]:
    return ["submit", str(nb), "--host", server.url, "--token-env", TOKEN_ENV, *more]


@pytest.mark.faults
def test_wait_timeout_leaves_a_run_that_never_ends_running_and_says_where(kfp_api, demo_nb):
    kfp_api.state.hold_runs = True
    began = time.monotonic()
    result = cli(*kfp_args(kfp_api, demo_nb, "--wait", "--timeout", "2", "--poll-interval", "0.2"))
    took = time.monotonic() - began
    no_traceback(result)
    assert result.exit_code == 124
    assert 2 <= took < BOUND, f"took {took:.1f} s"
    [sim] = kfp_api.state.runs.values()
    url = f"{kfp_api.url}/#/runs/details/{sim.run['run_id']}"
    assert f"run: {url}" in result.stdout
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line == (
        "error: the run did not end within 2 s (--timeout): stopped following; the run is left "
        f"running in the cluster: {url}"
    )
    # left running: not terminated, and no longer read once we stopped following. The command
    # ran in this process, so its following thread may still finish a read it had sent: once
    # that thread has ended, nothing more is read.
    assert sim.run["state"] == "RUNNING"
    assert "RunService_TerminateRun" not in [r.operation for r in kfp_api.state.requests]
    deadline = time.monotonic() + 60  # a hang guard
    while any(t.name.startswith("kfpj-follow-") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the following thread did not stop"
        time.sleep(0.05)
    reads = len(kfp_api.state.requests)
    time.sleep(0.6)
    assert len(kfp_api.state.requests) == reads


@pytest.mark.faults
def test_wait_timeout_with_json_prints_the_run_as_still_running(kfp_api, demo_nb):
    kfp_api.state.hold_runs = True
    result = cli(*kfp_args(kfp_api, demo_nb, "--wait", "--timeout", "1", "--json",
                           "--poll-interval", "0.2"))  # fmt: skip
    assert result.exit_code == 124
    out = json.loads(result.stdout)
    assert out["state"] == "RUNNING" and out["timed_out"] is True
    assert out["url"].endswith(out["run_id"])
    assert "left running in the cluster" in result.stderr


@pytest.mark.faults
def test_wait_timeout_on_argo(k8s_api, demo_nb, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, K8S_TOKEN)
    k8s_api.state.tick = 3600.0  # the controller never moves the workflow on
    began = time.monotonic()
    result = cli(*submit_args("argo", k8s_api.url, demo_nb, "--namespace", "argo", "--wait",
                              "--timeout", "2", "--poll-interval", "1"))  # fmt: skip
    assert time.monotonic() - began < BOUND
    no_traceback(result)
    assert result.exit_code == 124
    assert "did not end within 2 s (--timeout)" in result.stderr
    assert "left running in the cluster: " + k8s_api.url in result.stderr


@pytest.mark.faults
def test_a_run_that_ends_in_time_is_not_cut(kfp_api, demo_nb):
    result = cli(
        *kfp_args(kfp_api, demo_nb, "--wait", "--timeout", "60", "--poll-interval", "0.05")
    )
    no_traceback(result)
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.stdout


@pytest.mark.faults
@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--timeout", "5"], "add --wait"),
        (["--wait", "--timeout", "0"], "--timeout 0: give a number of seconds more than 0"),
    ],
)
def test_a_timeout_that_cannot_work_sends_nothing(kfp_api, demo_nb, args, said):
    result = cli(*kfp_args(kfp_api, demo_nb, *args))
    no_traceback(result)
    assert result.exit_code == 2
    assert said in result.stderr
    assert kfp_api.state.requests == []
