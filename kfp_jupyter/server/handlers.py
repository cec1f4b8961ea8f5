"""REST handlers of the server extension, on jupyter_server's authenticated APIHandler.

APIHandler refuses (403) a request without the server's token or cookie, and a cookie-authenticated
POST without the XSRF token. Analysis, compilation and submission run in a thread pool: they take
seconds (the kfp compiler, a cluster's API), and the server's event loop must keep serving the
kernels meanwhile. Local runs run in the engine's own thread (`run_local` returns at once).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..errors import KfpJupyterError, NotebookError
from .paths import PathRefused, relative_to_root, resolve_inside

T = TypeVar("T")
PREFIX = "kfp-jupyter/api"


class RunRegistry:
    """The local runs this server started: their handles stay referenced until they end."""

    def __init__(self) -> None:
        self.handles: dict[str, Any] = {}

    def add(self, handle: Any) -> None:
        self.handles = {k: h for k, h in self.handles.items() if not h.done}
        self.handles[handle.run_id] = handle


def _store() -> str | None:
    """The run store: KFP_JUPYTER_STORE, else the engine's default seen from the server's cwd."""
    return os.environ.get("KFP_JUPYTER_STORE") or None


class BaseHandler(APIHandler):
    """Errors as JSON: {"message", "problems"?}; a notebook's problems answer 422."""

    def initialize(self, root_dir: str, runs: RunRegistry) -> None:
        self.root_dir = root_dir
        self.runs = runs

    def notebook_path(self, relative: str | None) -> Path:
        path = resolve_inside(self.root_dir, relative or "")
        if not path.is_file():
            raise web.HTTPError(404, f"no notebook {relative!r}")
        return path

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "the request body is not JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "the request body must be a JSON object")
        return data

    async def off_loop(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    def reply(self, data: object, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def fail(self, error: BaseException) -> None:
        if isinstance(error, PathRefused):
            self.reply({"message": str(error)}, 403)
        elif isinstance(error, NotebookError):
            self.reply(
                {"message": str(error), "problems": [p.to_json() for p in error.problems]}, 422
            )
        elif isinstance(error, KfpJupyterError):
            status = 502 if type(error).__module__.startswith("kfp_jupyter.cluster") else 400
            if type(error).__name__ in ("InvalidSubmission", "ConfigError"):
                status = 400
            self.reply({"message": str(error), "kind": type(error).__name__}, status)
        else:
            raise error


class InspectHandler(BaseHandler):
    @web.authenticated
    async def get(self) -> None:
        from ..loader import load_notebook

        try:
            path = self.notebook_path(self.get_query_argument("path", ""))
            pipeline = await self.off_loop(lambda: load_notebook(path))
            data = pipeline.to_json()
            self.reply(data)
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e)


class CompileHandler(BaseHandler):
    @web.authenticated
    async def post(self) -> None:
        from ..compile import TARGETS, default_output
        from ..loader import load_notebook

        body = self.body()
        target = str(body.get("target") or "kfp")
        if target not in TARGETS:
            raise web.HTTPError(400, f"unknown target {target!r}; choose one of {list(TARGETS)}")
        try:
            path = self.notebook_path(body.get("path"))

            def work() -> Path:
                pipeline = load_notebook(path)
                out = (
                    resolve_inside(self.root_dir, str(body["output"]))
                    if body.get("output")
                    else default_output(path, pipeline, target)
                )
                runtime = body.get("kfp_runtime")
                pipeline.compile(target, out, kfp_runtime=str(runtime) if runtime else None)
                return out

            out = await self.off_loop(work)
            self.reply({"target": target, "output": relative_to_root(self.root_dir, out)})
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e)


class RunsHandler(BaseHandler):
    @web.authenticated
    async def get(self) -> None:
        from ..engine.history import History
        from ..engine.report import run_listing
        from ..engine.store import open_store

        experiment = self.get_query_argument("experiment", None)
        limit = self.get_query_argument("limit", None)

        def work() -> list[dict[str, Any]]:
            try:
                st = open_store(_store(), create=False)
            except KfpJupyterError:
                return []  # no run yet: an empty history
            history = History(st.db_path)
            runs = history.list_runs(experiment, int(limit) if limit else None)
            return [run_listing(history, r) for r in runs]

        self.reply(await self.off_loop(work))

    @web.authenticated
    async def post(self) -> None:
        from ..engine import run_local
        from ..loader import load_notebook

        body = self.body()
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise web.HTTPError(400, "params must be an object")
        try:
            path = self.notebook_path(body.get("path"))

            def work() -> dict[str, Any]:
                handle = run_local(
                    load_notebook(path),
                    params,
                    store=_store(),
                    cache=not body.get("no_cache"),
                    experiment=body.get("experiment") or None,
                )
                self.runs.add(handle)
                return {"id": handle.run_id, "state": handle.state}

            self.reply(await self.off_loop(work), 201)
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e)


class RunHandler(BaseHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        from ..engine.history import History
        from ..engine.report import run_summary
        from ..engine.store import open_store

        def work() -> dict[str, Any] | None:
            try:
                st = open_store(_store(), create=False)
                history = History(st.db_path)
                return run_summary(history, history.get_run(run_id).id)
            except KfpJupyterError:
                return None

        data = await self.off_loop(work)
        if data is None:
            self.reply({"message": f"no run {run_id!r}"}, 404)
        else:
            self.reply(data)


class SubmitHandler(BaseHandler):
    @web.authenticated
    async def post(self) -> None:
        from ..cluster import submit
        from ..loader import load_notebook

        body = self.body()
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise web.HTTPError(400, "params must be an object")

        def opt(key: str) -> str | None:
            value = body.get(key)
            return str(value) if value else None

        try:
            path = self.notebook_path(body.get("path"))

            def work() -> dict[str, Any]:
                handle = submit(
                    load_notebook(path),
                    opt("engine") or "kfp",
                    host=opt("host"),
                    namespace=opt("namespace"),
                    experiment=opt("experiment"),
                    run_name=opt("run_name"),
                    params=params,
                    token_env=opt("token_env"),
                    ui_url=opt("ui_url"),
                    kfp_runtime=opt("kfp_runtime"),
                )
                info: dict[str, Any] = handle.info.to_json()
                return info

            self.reply(await self.off_loop(work), 201)
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e)


def setup_handlers(web_app: Any, root_dir: str) -> None:
    base = url_path_join(web_app.settings["base_url"], PREFIX)
    args = {"root_dir": root_dir, "runs": RunRegistry()}
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "inspect"), InspectHandler, args),
            (url_path_join(base, "compile"), CompileHandler, args),
            (url_path_join(base, "runs"), RunsHandler, args),
            (url_path_join(base, r"runs/([A-Za-z0-9_.\-]+)"), RunHandler, args),
            (url_path_join(base, "submit"), SubmitHandler, args),
        ],
    )
