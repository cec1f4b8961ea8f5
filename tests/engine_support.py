"""Helpers shared by the tests of the local engine (no tests here).

Tests drive the real command (`python -m kfp_jupyter.cli.main`) in a subprocess, with the store
given explicitly, so each test sees exactly what a user at a terminal would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from nbutil import code, make_notebook

CLI = [sys.executable, "-m", "kfp_jupyter.cli.main"]


def kfpj(
    *args: str | Path,
    store: Path | str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 180,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `kfp-jupyter ARGS` (with --store) and return the finished process."""
    argv = [*CLI, *map(str, args)]
    if store is not None:
        argv += ["--store", str(store)]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=str(cwd) if cwd else None,
    )


def ipython(cwd: Path, *lines: str) -> subprocess.CompletedProcess[str]:
    """`ipython -c LINES` in `cwd`: the terminal shell (TerminalInteractiveShell), as a user
    starts it, with its own settings, store and IPython folder under `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "IPython", "--quick", "--colors=NoColor", "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={
            **os.environ,
            "KFP_JUPYTER_CONFIG_DIR": str(cwd / "config"),
            "KFP_JUPYTER_STORE": str(cwd / "store"),
            "IPYTHONDIR": str(cwd / "ipython"),
        },
    )


def start_kfpj(
    *args: str | Path, store: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *map(str, args), "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def show(
    store: Path | str, run: str = "latest", env: dict[str, str] | None = None
) -> dict[str, Any]:
    p = kfpj("runs", "show", run, "--json", store=store, env=env)
    assert p.returncode == 0, p.stderr
    data: dict[str, Any] = json.loads(p.stdout)
    return data


def tasks(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in summary["tasks"]}


def states(summary: dict[str, Any]) -> dict[str, str]:
    return {t["name"]: t["state"] for t in summary["tasks"]}


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def wait_for(cond: Callable[[], bool], timeout: float = 60, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def interrupt_when(
    runner: subprocess.Popen[str], ready: Callable[[], bool], patience: float = 90
) -> str:
    """Ctrl-C to `runner` once `ready()` holds, as a user at the terminal would; its output once
    it has exited (it is killed if it does not exit)."""
    try:
        wait_for(ready, patience)
        runner.send_signal(signal.SIGINT)
        out, _ = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    return out


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[dict[str, str]]:
    """A real S3-compatible server (moto's server mode) on 127.0.0.1 holding `bucket`, and the
    environment that points AWS tools (and so s3fs, and the engine) at it."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    try:
        boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=bucket)
        yield env
    finally:
        server.stop()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def fan_out_notebook(path: Path, sleep: float = 1.0) -> Path:
    """start -> (left, right) -> join, with a metric; left and right each sleep `sleep` s."""
    return make_notebook(
        path,
        [
            code("import time", "imports"),
            code("n = 3\nscale = 2.0", "pipeline-parameters"),
            code("base = list(range(n))", "step:start"),
            code(
                f"time.sleep({sleep})\nleft = [x * scale for x in base]", "step:left", "prev:start"
            ),
            code(f"time.sleep({sleep})\nright = [x + 1 for x in base]", "step:right", "prev:start"),
            code("total = sum(left) + sum(right)", "step:join", "prev:left", "prev:right"),
            code("total", "pipeline-metrics"),
        ],
    )


#: how far back `failed_long_ago` moves a failed run: the hour a user took before resuming it
WAITED_S = 3600.0


def failed_long_ago(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A run (in store `tmp_path/store`) whose second step failed an hour ago, as if its user
    came back later: its times are moved back WAITED_S. The step fails while the returned marker
    file exists; remove it, and `runs resume latest` succeeds. Returns (notebook, store, marker)."""
    import sqlite3

    from nbutil import code, make_notebook

    store, marker = tmp_path / "store", tmp_path / "flaky"
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code("import os", "imports"),
            code("rows = [1, 2]", "step:make"),
            code(f"assert not os.path.exists({str(marker)!r}), 'flaky'\nn = len(rows)", "step:use"),
        ],
    )
    marker.touch()
    assert kfpj("run", nb, store=store).returncode == 1
    with sqlite3.connect(store / "history.db") as db:
        db.execute(
            "UPDATE runs SET created = created - ?, started = started - ?, finished = finished - ?",
            (WAITED_S,) * 3,
        )
        db.execute(
            "UPDATE tasks SET started = started - ?, finished = finished - ?", (WAITED_S,) * 2
        )
    return nb, store, marker


def failed_block(out: str, step: str) -> str:
    """The lines a command printed under the FAILED line of `step`, without their `    | `."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(rf"\b{step}\s+FAILED\b", line))
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("    | "):
            break
        block.append(line[6:])
    return "\n".join(block)


class Running:
    """`kfp-jupyter ARGS` in the background, its output (stdout and stderr) read as it comes."""

    def __init__(self, *args: str | Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def shows(self, pattern: str) -> bool:
        return re.search(pattern, self.output, re.MULTILINE) is not None

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code


@contextlib.contextmanager
def running_commands() -> Iterator[list[Running]]:
    """The commands a test starts; any still running at its end is killed."""
    started: list[Running] = []
    try:
        yield started
    finally:
        for r in started:
            if r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()


def run_cell(ip: Any, source: str) -> Any:
    """Run `source` as a cell of the IPython shell `ip`, as a user does (kept in its history)."""
    return ip.run_cell(source, store_history=True)


def usage_error(result: Any) -> str:
    """The message of the usage error a cell failed with (it must have failed so)."""
    from IPython.core.error import UsageError

    assert not result.success
    error = result.error_in_exec or result.error_before_exec
    assert isinstance(error, UsageError), result
    return str(error)
