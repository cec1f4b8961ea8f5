"""REST handlers of the server extension, on jupyter_server's authenticated APIHandler.

APIHandler refuses (403) a request without the server's token or cookie, and a cookie-authenticated
POST without the XSRF token. Analysis, compilation and submission run in threads: they take
seconds (the kfp compiler, a cluster's API), and the server's event loop must keep serving the
kernels meanwhile. Submits have their own bounded pool (pools.py), so clusters that never answer
cannot delay inspect and compile. Local runs run in the engine's own thread (`run_local` returns
at once).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from http.client import responses
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from ..engine.history import HistoryDamagedError
from ..errors import KfpJupyterError, NotebookError
from .components import ComponentRef, check_refs, component_refs, outline
from .paths import PathRefused, hide_root, relative_to_root, resolve_inside
from .pools import PoolFull, Pools
from .settings import KfpJupyterServer

if TYPE_CHECKING:
    from ..model import Pipeline

T = TypeVar("T")
PREFIX = "kfp-jupyter/api"


#: how many cluster runs sent through this server are remembered (per server, newest kept)
SUBMITS_KEPT = 50


class Submitted:
    """A run this server sent to a cluster, for the panel: the history database holds only
    local runs, so this is how the panel finds and follows a notebook's cluster runs."""

    def __init__(self, notebook: str, handle: Any) -> None:
        self.notebook = notebook
        self.handle = handle
        self.created = time.time()

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

    def add(self, handle: Any) -> None:
        self.handles = {k: h for k, h in self.handles.items() if not h.done}
        self.handles[handle.run_id] = handle

    def add_submit(self, notebook: Path, handle: Any) -> None:
        with self.lock:
            self.submits[handle.run_id] = Submitted(os.path.realpath(notebook), handle)
            for old in list(self.submits)[:-SUBMITS_KEPT]:
                del self.submits[old]

    def submitted(self, run_id: str) -> Submitted | None:
        with self.lock:
            return self.submits.get(run_id)

    def submits_of(self, notebook: Path) -> list[Submitted]:
        real = os.path.realpath(notebook)
        with self.lock:
            return [s for s in self.submits.values() if s.notebook == real]


def _store() -> str | None:
    """The run store: KFP_JUPYTER_STORE, else the engine's default seen from the server's cwd."""
    return os.environ.get("KFP_JUPYTER_STORE") or None


class ApiError(web.HTTPError):
    """An answer other than 200: `message` goes to the caller as it is, in the JSON body.

    The log line gets it as an argument ("%s"), never as a format: a `%` in a notebook's name
    must neither break the log nor come back doubled.
    """

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(status, "%s", message)
        self.message = message
        self.extra = extra


class BaseHandler(APIHandler):
    """Errors as JSON: {"message", "problems"?}; a notebook's problems answer 422."""

    def initialize(
        self, root_dir: str, runs: RunRegistry, settings: KfpJupyterServer, pools: Pools
    ) -> None:
        self.root_dir = root_dir
        self.runs = runs
        self.kfp_settings = settings
        self.pools = pools

    def notebook_path(self, relative: str | None) -> Path:
        path = resolve_inside(self.root_dir, relative or "")
        if not path.is_file():
            raise ApiError(404, f"no notebook {relative!r}")
        return path

    def component_refs(self, path: Path) -> list[ComponentRef]:
        """The notebook's component tags, refused (400) if they leave the root or name a URL the
        settings forbid. Blocking (it reads the notebook): call it in a pool."""
        refs = component_refs(path)
        check_refs(Path(self.root_dir), path, refs, self.kfp_settings.component_urls)
        return refs

    def load(self, path: Path) -> Pipeline:
        """The notebook's pipeline, once its component tags passed (URLs are fetched here)."""
        from ..loader import load_notebook

        self.component_refs(path)
        return load_notebook(path)

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise ApiError(400, "the request body is not JSON") from None
        except RecursionError:
            raise ApiError(400, "the request body is nested too deeply") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return data

    @staticmethod
    def text(body: dict[str, Any], key: str) -> str | None:
        """A string field of the body (None if absent or empty); any other type is a 400, not a
        crash or a `str()` of a list sent on to a cluster."""
        value = body.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ApiError(400, f"{key!r} must be a string, not {_kind(value)}")
        return value

    @staticmethod
    def flag(body: dict[str, Any], key: str) -> bool:
        value = body.get(key)
        if value is not None and not isinstance(value, bool):
            raise ApiError(400, f"{key!r} must be true or false, not {_kind(value)}")
        return bool(value)

    @staticmethod
    def params(body: dict[str, Any]) -> dict[str, Any]:
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise ApiError(400, f"'params' must be an object, not {_kind(params)}")
        return params

    async def off_loop(self, fn: Callable[[], T]) -> T:
        """Run quick blocking work (analysis, compilation, the run history) in the quick pool."""
        return await self.pools.run_quick(fn)

    def reply(self, data: object, status: int = 200) -> None:
        """Answer JSON; an error answer never shows where the root directory is."""
        if status >= 400:
            data = hide_root(data, self.root_dir)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error as JSON {"message", ...}: an ApiError's own message, tornado's for the
        others (403, 405), and for a bug a plain message without traceback or server paths."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, HistoryDamagedError):  # the store, not the request: say what to do
            self.set_status(503)
            data: dict[str, object] = {"message": str(exc), "kind": "HistoryDamaged"}
        elif isinstance(exc, ApiError):
            data = {"message": exc.message, **exc.extra}
        elif isinstance(exc, web.HTTPError):
            data = {"message": exc.reason or responses.get(status_code, "error")}
            if exc.log_message and not exc.args:
                data["message"] = exc.log_message
        else:
            data = {"message": "the kfp-jupyter extension failed; the server's log says why"}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(hide_root(data, self.root_dir)))

    def fail(self, error: BaseException, form: bool = False) -> None:
        """Answer an error; `form`: its advice in the terms of a form's fields (the Submit
        dialog's, like the widget's), not the command line's options."""
        try:
            from ..cluster.advice import error_text

            message = error_text(error, form)
        except ImportError:  # an installation without the cluster part
            message = str(error)
        if isinstance(error, PathRefused):
            self.reply({"message": str(error)}, 403)
        elif isinstance(error, NotebookError):
            self.reply(
                {"message": str(error), "problems": [p.to_json() for p in error.problems]}, 422
            )
        elif isinstance(error, HistoryDamagedError):
            raise error  # answered by write_error, as wherever else it is met
        elif isinstance(error, KfpJupyterError):
            status = 502 if type(error).__module__.startswith("kfp_jupyter.cluster") else 400
            if type(error).__name__ in ("InvalidSubmission", "ConfigError"):
                status = 400
            self.reply({"message": message, "kind": type(error).__name__}, status)
        else:
            raise error


class InspectHandler(BaseHandler):
    def inspect(self, path: Path) -> dict[str, object]:
        """The pipeline as the CLI's `inspect --json` shows it; an outline when that would need
        fetching a component URL (inspect runs on every save: it must not reach the network)."""
        from ..loader import load_notebook

        refs = self.component_refs(path)
        if any(r.is_url for r in refs):
            return outline(path, refs, Path(self.root_dir))
        return load_notebook(path).to_json()

    @web.authenticated
    async def get(self) -> None:
        try:
            path = self.notebook_path(self.get_query_argument("path", ""))
            self.reply(await self.off_loop(lambda: self.inspect(path)))
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e)


class CompileHandler(BaseHandler):
    def check_output(self, out: Path, said: str | None) -> None:
        """Refuse to write over a folder (a 400 naming the output, not an OSError from the
        compiler)."""
        if out.is_dir():
            name = said or relative_to_root(self.root_dir, out)
            raise ApiError(400, f"output {name!r} is a folder; name a file in it")

    @web.authenticated
    async def post(self) -> None:
        from ..compile import TARGETS, default_output

        body = self.body()
        target = self.text(body, "target") or "kfp"
        if target not in TARGETS:
            raise ApiError(400, f"unknown target {target!r}; choose one of {list(TARGETS)}")
        output, runtime = self.text(body, "output"), self.text(body, "kfp_runtime")
        try:
            path = self.notebook_path(self.text(body, "path"))

            def work() -> Path:
                pipeline = self.load(path)
                out = (
                    resolve_inside(self.root_dir, output)
                    if output
                    else default_output(path, pipeline, target)
                )
                self.check_output(out, output)
                try:
                    pipeline.compile(target, out, kfp_runtime=runtime)
                except OSError as e:  # e.g. a file where the output's folder should be
                    name = output or relative_to_root(self.root_dir, out)
                    raise ApiError(400, f"cannot write output {name!r}: {e.strerror}") from None
                return out

            out = await self.off_loop(work)
            self.reply({"target": target, "output": relative_to_root(self.root_dir, out)})
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e)


class RunsHandler(BaseHandler):
    @web.authenticated
    async def get(self) -> None:
        from ..engine.history import History
        from ..engine.report import run_listing, runs_of_notebook
        from ..engine.store import open_store

        experiment = self.get_query_argument("experiment", None) or None
        limit = _limit(self.get_query_argument("limit", None))
        relative = self.get_query_argument("path", None)
        try:
            notebook = self.notebook_path(relative) if relative else None
        except PathRefused as e:
            self.fail(e)
            return

        def work() -> list[dict[str, Any]]:
            try:
                st = open_store(_store(), create=False)
            except HistoryDamagedError:
                raise
            except KfpJupyterError:
                return self.submits(notebook, limit)  # no local run yet: an empty history
            with History(st.db_path) as history:
                if notebook is None:  # exactly `runs list --json`
                    return [run_listing(history, r) for r in history.list_runs(experiment, limit)]
                # the runs of one notebook, wherever they were started, and where they run
                runs = runs_of_notebook(history, notebook, experiment, limit)
                local = [{**run_listing(history, r), "engine": "local"} for r in runs]
            both = local + self.submits(notebook, None)
            both.sort(key=lambda r: r.get("created") or "", reverse=True)
            return both[:limit] if limit else both

        self.reply(await self.off_loop(work))

    def submits(self, notebook: Path | None, limit: int | None) -> list[dict[str, Any]]:
        """The cluster runs this server sent for `notebook`, newest first."""
        if notebook is None:
            return []
        runs = [s.listing() for s in reversed(self.runs.submits_of(notebook))]
        return runs[:limit] if limit else runs

    @web.authenticated
    async def post(self) -> None:
        from ..engine import run_local

        body = self.body()
        params = self.params(body)
        no_cache, experiment = self.flag(body, "no_cache"), self.text(body, "experiment")
        keep_going, host_exec = self.flag(body, "keep_going"), self.flag(body, "host_exec")
        try:
            path = self.notebook_path(self.text(body, "path"))

            def work() -> dict[str, Any]:
                handle = run_local(
                    self.load(path),
                    params,
                    store=_store(),
                    cache=not no_cache,
                    keep_going=keep_going,
                    host_exec=host_exec,
                    experiment=experiment,
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

        submitted = self.runs.submitted(run_id)

        def work() -> dict[str, Any] | None:
            if submitted is not None:
                return submitted.summary()
            try:
                st = open_store(_store(), create=False)
                history = History(st.db_path)
                return run_summary(history, history.get_run(run_id).id)
            except HistoryDamagedError:
                raise
            except KfpJupyterError:
                return None

        data = await self.off_loop(work)
        if data is None:
            self.reply({"message": f"no run {run_id!r}"}, 404)
        else:
            self.reply(data)


class StepDetailsHandler(InspectHandler):
    """`GET runs/ID/steps/STEP?path=NB` (or `GET steps/STEP?path=NB`, before any run): what the
    widget shows for a clicked step, from the same function (jupyter/details.py)."""

    @web.authenticated
    async def get(self, *args: str) -> None:
        from ..engine.history import History
        from ..engine.store import open_store
        from ..jupyter.details import run_step_details

        run_id, step = (None, args[0]) if len(args) == 1 else (args[0], args[1])
        submitted = self.runs.submitted(run_id) if run_id else None
        try:
            path = self.notebook_path(self.get_query_argument("path", ""))
        except PathRefused as e:
            self.fail(e)
            return

        def pipeline() -> dict[str, Any] | None:
            try:
                return self.inspect(path)
            except NotebookError:  # the notebook has problems now: the run still has its steps
                return None

        def work() -> dict[str, Any] | None:
            p = pipeline()
            if submitted is not None:
                s = submitted.summary()
                tasks = {t["name"]: t["state"] for t in s["tasks"]}
                return run_step_details(p, step, cluster={**s, "tasks": tasks})
            if not run_id:
                return run_step_details(p, step)
            try:
                st = open_store(_store(), create=False)
            except HistoryDamagedError:
                raise
            except KfpJupyterError:
                raise ApiError(404, f"no run {run_id!r}") from None
            with History(st.db_path) as history:
                try:
                    rid = history.get_run(run_id, repair=False).id
                except HistoryDamagedError:
                    raise
                except KfpJupyterError:
                    raise ApiError(404, f"no run {run_id!r}") from None
                found = run_step_details(p, step, history=history, run_id=rid)
            if found is not None:  # where the panel's "load inputs" finds the run
                found["store"] = st.url
            return found

        try:
            data = await self.off_loop(work)
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e)
            return
        if data is None:
            raise ApiError(404, f"no step {step!r} in {relative_to_root(self.root_dir, path)}")
        self.reply(data)


class SubmitHandler(BaseHandler):
    def check_token_env(self, name: str | None) -> None:
        """Refuse a `token_env` the settings do not name: the server would read any variable of
        its environment (a cloud key, a password) and send it to the host the caller chose."""
        if name is None or self.kfp_settings.token_env_allowed(name):
            return
        patterns = ", ".join(self.kfp_settings.token_envs) or "none"
        raise ApiError(
            400,
            f"token_env {name!r} is not a token variable this server may read "
            f"(allowed: {patterns}; set c.KfpJupyterServer.token_envs to change)",
        )

    @web.authenticated
    async def post(self) -> None:
        from ..cluster import submit
        from ..cluster.compiled import kind_of

        body = self.body()
        params = self.params(body)
        fields = ("engine", "host", "namespace", "experiment", "run_name", "token_env", "ui_url")
        given = {key: self.text(body, key) for key in (*fields, "kfp_runtime", "path", "target")}

        def opt(key: str) -> str | None:
            return given[key]

        self.check_token_env(opt("token_env"))
        try:
            path = self.notebook_path(opt("path"))

            def work() -> dict[str, Any]:
                # a notebook, or a pipeline compiled already (KFP IR, Argo Workflow, DSL script)
                what = self.load(path) if kind_of(path) == "notebook" else path
                handle = submit(
                    what,
                    opt("engine"),
                    target=opt("target"),
                    host=opt("host"),
                    namespace=opt("namespace"),
                    experiment=opt("experiment"),
                    run_name=opt("run_name"),
                    params=params,
                    token_env=opt("token_env"),
                    ui_url=opt("ui_url"),
                    kfp_runtime=opt("kfp_runtime"),
                )
                self.runs.add_submit(path, handle)
                info: dict[str, Any] = handle.info.to_json()
                return info

            self.reply(await self.pools.cluster.run(work), 201)
        except PoolFull as e:
            self.set_header("Retry-After", "30")
            self.reply({"message": str(e), "kind": "Busy"}, 503)
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e, form=True)


class TargetsHandler(BaseHandler):
    """`GET targets`: the saved targets (never a token: only the name of the variable that
    holds one) and the one submitted to last, for the Submit dialog's choice."""

    @web.authenticated
    async def get(self) -> None:
        from ..cluster.targets import last_target, load_targets

        def work() -> dict[str, Any]:
            targets = load_targets()
            return {"targets": [t.to_json() for t in targets.values()], "last": last_target()}

        try:
            self.reply(await self.off_loop(work))
        except KfpJupyterError as e:
            self.fail(e)


def _kind(value: object) -> str:
    """How JSON calls the type of `value`, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else "null"


def _limit(text: str | None) -> int | None:
    """The `limit` query argument: a positive whole number, or absent."""
    if not text:
        return None
    try:
        limit = int(text)
    except ValueError:
        raise ApiError(400, f"limit must be a whole number, not {text!r}") from None
    if limit < 1:
        raise ApiError(400, f"limit must be 1 or more, not {limit}")
    return limit


def setup_handlers(web_app: Any, root_dir: str, settings: KfpJupyterServer | None = None) -> None:
    """Route the API; `settings` default to KfpJupyterServer's defaults (no configuration)."""
    settings = settings or KfpJupyterServer()
    base = url_path_join(web_app.settings["base_url"], PREFIX)
    args = {
        "root_dir": root_dir,
        "runs": RunRegistry(),
        "settings": settings,
        "pools": Pools(settings.quick_workers, settings.cluster_workers),
    }
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "inspect"), InspectHandler, args),
            (url_path_join(base, "compile"), CompileHandler, args),
            (url_path_join(base, "runs"), RunsHandler, args),
            (url_path_join(base, r"runs/([A-Za-z0-9_.\-]+)"), RunHandler, args),
            (
                url_path_join(base, r"runs/([A-Za-z0-9_.\-]+)/steps/([^/]+)"),
                StepDetailsHandler,
                args,
            ),
            (url_path_join(base, r"steps/([^/]+)"), StepDetailsHandler, args),
            (url_path_join(base, "submit"), SubmitHandler, args),
            (url_path_join(base, "targets"), TargetsHandler, args),
        ],
    )
