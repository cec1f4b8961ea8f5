"""The cluster runs sent for a notebook, from any front end (`kfp-jupyter submit`, the widget,
`%kfp submit`, the panel's Submit), kept per user next to the saved targets.

Why a file: the run history holds local runs only, and a run submitted from a kernel or a
terminal lives in that process's memory. The JupyterLab panel follows every run of its notebook
wherever it started, so the server lists a notebook's cluster runs from here and follows one on
the cluster (by its id, with the connection it was sent with) when the panel asks about it. Every
front end calls `record` after a notebook's submit, so none can be left out of the panel. Only
where to connect is kept: the host, the namespace, the name of the token's variable, a kubeconfig
path, never a token.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ..fileio import write_atomically

FILE = "submitted.jsonl"
#: records kept: the file is cut back to these once it holds twice as many
KEPT = 200
#: the connection settings a record keeps, as `cluster.submit` and `cluster.reattach.attach` name them
CONNECTION = ("host", "namespace", "token_env", "kubeconfig", "context", "ui_url")


def records_path() -> Path:
    from .targets import config_dir

    return config_dir() / FILE


def _connection(handle: Any) -> dict[str, Any]:
    """Where to find the run again: what the submit was given or took from its saved target
    (`handle.connection`), and the KFP host as it was resolved (a kernel's environment may name
    a host the server's does not)."""
    sent = getattr(handle, "connection", None)
    given = {k: getattr(sent, k, None) for k in CONNECTION}
    if handle.engine == "kfp":
        given["host"] = handle.info.host
    given["namespace"] = given["namespace"] or handle.info.namespace
    return {k: str(v) for k, v in given.items() if v}


def record(notebook: str | os.PathLike[str], handle: Any) -> None:
    """Keep the run `handle` sent for `notebook` (best effort: a read-only home must not turn a
    submission that went through into a failure). A recurring run has nothing to follow."""
    info = getattr(handle, "info", None)
    if info is None or getattr(info, "kind", "run") != "run":
        return
    line = {
        "id": handle.run_id,
        "engine": handle.engine,
        "url": handle.url,
        "notebook": os.path.realpath(notebook),
        "created": time.time(),
        **_connection(handle),
    }
    path = records_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # one write of one line in append mode: writers in several processes do not interleave
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(line, sort_keys=True) + "\n").encode("utf-8"))
        finally:
            os.close(fd)
        _trim(path)
    except OSError:
        pass


def _trim(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if len(lines) <= 2 * KEPT:
        return
    write_atomically(path, "".join(lines[-KEPT:]), mode=0o600, keep_mode=True)


def _read() -> list[dict[str, Any]]:
    try:
        text = records_path().read_text(encoding="utf-8")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            r = json.loads(line)
        except ValueError:  # a line cut short by a full disk: the others still count
            continue
        if isinstance(r, dict) and isinstance(r.get("id"), str) and r.get("engine"):
            out.append(r)
    return out


def records_of(notebook: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The cluster runs sent for `notebook`, newest first."""
    real = os.path.realpath(notebook)
    return [r for r in reversed(_read()) if r.get("notebook") == real]


def find(run_id: str) -> dict[str, Any] | None:
    """The newest record of the run `run_id`, or None."""
    return next((r for r in reversed(_read()) if r["id"] == run_id), None)
