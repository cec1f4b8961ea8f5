"""Helpers shared by the tests of the local engine (no tests here).

Tests drive the real command (`python -m kfp_jupyter.cli.main`) in a subprocess, with the store
given explicitly, so each test sees exactly what a user at a terminal would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
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
