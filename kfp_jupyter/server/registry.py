"""What the server remembers between requests: the local runs it started (kept referenced until
they end) and the cluster runs it follows, which no history database holds, so that the panel
can find and follow a notebook's cluster runs: those it submitted, and those sent by the widget
or `%kfp submit` from a kernel or by `kfp-jupyter submit` from a terminal (cluster/submitted.py
keeps them per user), followed again on the cluster by their id once the panel asks about one."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

#: how many cluster runs sent through this server are remembered (per server, newest kept)
SUBMITS_KEPT = 50


class Submitted:
    """A run this server sent to a cluster, for the panel: the history database holds only
    local runs, so this is how the panel finds and follows a notebook's cluster runs."""

    def __init__(self, notebook: str, handle: Any, created: float | None = None) -> None:
        self.notebook = notebook
        self.handle = handle
        #: when the run was sent (a run sent from a kernel: as its record says, not when the
        #: server began to follow it), so the panel lists it in its place among the others
        self.created = time.time() if created is None else created

    def summary(self) -> dict[str, Any]:
        """The run as `GET runs/ID` shows a local one, as far as the cluster told; following the
        run (a thread polling the cluster) starts with the first question about it."""
        from ..errors import KfpJupyterError

        h = self.handle
        message = None
        try:
            h.follow()
        except KfpJupyterError as e:  # a recurring run: nothing to follow
            message = str(e)
        if h.error is not None:
            message = f"lost track of the run: {h.error}"
        return {
            "id": h.run_id,
            "engine": h.engine,
            "url": h.url,
            "state": h.state,
            "message": message or h.message,
            "done": bool(h.done),
            "metrics": {},
            "tasks": [{"name": name, "state": state} for name, state in h.tasks.items()],
        }

    def listing(self) -> dict[str, Any]:
        from ..engine.report import iso

        return {
            "id": self.handle.run_id,
            "engine": self.handle.engine,
            "url": self.handle.url,
            "state": self.handle.state,
            "created": iso(self.created),
            "notebook": self.notebook,
        }


class RunRegistry:
    """The local runs this server started (their handles stay referenced until they end), and
    the cluster runs it submitted."""

    def __init__(self) -> None:
        self.handles: dict[str, Any] = {}
        self.submits: dict[str, Submitted] = {}
        self.lock = threading.Lock()
        #: runs sent from a kernel being found on their clusters now, by id (event loop only)
        self.finding: dict[str, asyncio.Future[Submitted | None]] = {}

    def find_once(
        self, run_id: str, find: Callable[[], Coroutine[Any, Any, Submitted | None]]
    ) -> tuple[asyncio.Future[Submitted | None], bool]:
        """The one search for the run `run_id` (`find()`, started by the first caller) and
        whether it was already under way: requests that come meanwhile wait for it rather than
        attach to the run a second time (two followers polling the cluster, one of them lost).
        Called on the event loop only, so no lock: nothing runs between the look and the start."""
        running = self.finding.get(run_id)
        if running is not None:
            return running, True
        task = asyncio.ensure_future(find())
        self.finding[run_id] = task
        task.add_done_callback(lambda _: self.finding.pop(run_id, None))
        return task, False

    def add(self, handle: Any) -> None:
        self.handles = {k: h for k, h in self.handles.items() if not h.done}
        self.handles[handle.run_id] = handle

    def add_submit(self, notebook: Path, handle: Any, created: float | None = None) -> None:
        with self.lock:
            real = os.path.realpath(notebook)
            self.submits[handle.run_id] = Submitted(real, handle, created)
            for old in list(self.submits)[:-SUBMITS_KEPT]:
                del self.submits[old]

    def submitted(self, run_id: str) -> Submitted | None:
        with self.lock:
            return self.submits.get(run_id)

    def submits_of(self, notebook: Path) -> list[Submitted]:
        real = os.path.realpath(notebook)
        with self.lock:
            return [s for s in self.submits.values() if s.notebook == real]


def listing_of_record(record: dict[str, Any]) -> dict[str, Any]:
    """A recorded cluster run, as the panel's run list shows it before the server follows it
    (its state is asked of the cluster then). The record does not say which front end sent it
    (a kernel, a terminal, or this server before it restarted), so the message does not either."""
    from ..engine.report import iso

    created = record_created(record)
    return {
        "id": record["id"],
        "engine": record["engine"],
        "url": record.get("url"),
        "state": "UNKNOWN",
        "message": "not followed by this server yet; its state is read from the cluster when "
        "the run is shown",
        "created": iso(created) if created is not None else None,
        "notebook": record.get("notebook"),
    }


def record_created(record: dict[str, Any]) -> float | None:
    """When a recorded run was sent (None in a record without a usable time)."""
    created = record.get("created")
    return float(created) if isinstance(created, (int, float)) else None


def reattach(record: dict[str, Any], token_env_allowed: Callable[[str], bool]) -> Any:
    """A handle following the recorded run on its cluster (blocking: it reads the run once).
    The token's variable is read only if this server may read it, as for a submit."""
    from ..cluster.reattach import attach

    token_env = record.get("token_env")
    if token_env and not token_env_allowed(str(token_env)):
        token_env = None
    return attach(
        str(record["id"]),
        str(record["engine"]),
        host=record.get("host"),
        namespace=record.get("namespace"),
        token_env=token_env,
        kubeconfig=record.get("kubeconfig"),
        context=record.get("context"),
        ui_url=record.get("ui_url"),
    )
