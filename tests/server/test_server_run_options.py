"""The run options the JupyterLab "Run pipeline" dialog sends to `POST runs`, against a real
`jupyter server`: each has the effect a user sees in the run (the same as `kfp-jupyter run`'s
--keep-going, --host-exec and --no-cache)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_server_util import Server, jupyter_server
from nbutil import code, make_notebook

#: how long a run may take before the test gives up on it (a hang guard, not a measurement)
PATIENCE = 300


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("run-options")
    # no container runtime, whatever this machine has: a container step runs only with host_exec
    with jupyter_server(base, {}, {"KFPJ_CONTAINER_RUNTIME": "none"}) as srv:
        yield srv


def wait_run(
    server: Server, run_id: str, until: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The run's summary (`GET runs/ID`) once `until` holds for it."""
    deadline = time.monotonic() + PATIENCE
    while True:
        status, answer = server.call("GET", f"runs/{run_id}")
        assert status == 200, answer
        run: dict[str, Any] = answer
        if until(run):
            return run
        assert time.monotonic() < deadline, run
        time.sleep(0.2)


def ended(run: dict[str, Any]) -> bool:
    return run["state"] not in ("PENDING", "RUNNING")


def task_states(run: dict[str, Any]) -> dict[str, str]:
    return {t["name"]: t["state"] for t in run["tasks"]}


def start(server: Server, body: dict[str, Any]) -> str:
    status, started = server.call("POST", "runs", body)
    assert status == 201, started
    return str(started["id"])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two steps running at once")
@pytest.mark.parametrize("keep_going", [False, True])
def test_keep_going_finishes_a_branch_that_does_not_depend_on_the_failed_step(
    server: Server, keep_going: bool
) -> None:
    # `bad` fails at once; `slow` runs meanwhile and ends only once the test has seen the
    # failure, so `after_slow` is ready only after it: it runs with keep_going, else never
    go = server.root / f"go-{keep_going}"
    name = f"keep-{keep_going}.ipynb"
    make_notebook(
        server.root / name,
        [
            code("import os\nimport time", "imports"),
            code("raise ValueError('bad on purpose')", "step:bad"),
            code(
                f"while not os.path.exists({str(go)!r}):\n    time.sleep(0.05)\nslow = 1",
                "step:slow",
            ),
            code("after = slow + 1", "step:after_slow"),
        ],
    )
    run_id = start(server, {"path": name, "keep_going": keep_going})
    wait_run(server, run_id, lambda r: task_states(r).get("bad") == "FAILED")
    go.touch()
    run = wait_run(server, run_id, ended)
    states = task_states(run)
    assert run["state"] == "FAILED"
    assert states["bad"] == "FAILED" and states["slow"] == "SUCCEEDED"
    assert states["after_slow"] == ("SUCCEEDED" if keep_going else "SKIPPED"), states


@pytest.mark.parametrize("host_exec", [False, True])
def test_host_exec_runs_a_container_steps_command_on_this_machine(
    server: Server, tmp_path: Path, host_exec: bool
) -> None:
    marker = tmp_path / "ran-here"
    name = f"container-{host_exec}.ipynb"
    make_notebook(
        server.root / name,
        [
            code(
                "%%container touch --image alpine:3\n"
                f"command: [sh, -c, 'echo ran > \"$0\"', {marker}]"
            )
        ],
    )
    run = wait_run(server, start(server, {"path": name, "host_exec": host_exec}), ended)
    if host_exec:
        assert run["state"] == "SUCCEEDED", run
        assert marker.read_text() == "ran\n"
    else:  # no runtime here, and the command was not run on the host instead
        assert run["state"] == "FAILED", run
        assert not marker.exists()


def test_no_cache_runs_again_the_steps_a_run_would_replay(server: Server) -> None:
    first = wait_run(server, start(server, {"path": "demo.ipynb", "params": {"n": 4}}), ended)
    assert first["state"] == "SUCCEEDED", first
    again = wait_run(server, start(server, {"path": "demo.ipynb", "params": {"n": 4}}), ended)
    assert set(task_states(again).values()) == {"CACHED"}
    fresh = wait_run(
        server,
        start(server, {"path": "demo.ipynb", "params": {"n": 4}, "no_cache": True}),
        ended,
    )
    assert set(task_states(fresh).values()) == {"SUCCEEDED"}
    assert fresh["parameters"] == {"n": 4}
