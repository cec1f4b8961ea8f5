"""The handlers' common ground: reading a request's JSON body strictly, answering JSON, and turning
every error into a JSON answer with the right status that never shows the server's root folder."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable
from http.client import responses
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..engine.history import HistoryDamagedError
from ..errors import KfpJupyterError, NotebookError
from ..frontends.options import SERVER, Option
from .components import Reference, references
from .paths import PathRefused, hide_root, real_path, resolve_inside, shown, stat_of
from .pools import FOLLOW
from .registry import RunRegistry, Submitted, reattach, record_created

if TYPE_CHECKING:
    from ..model import Pipeline
    from .pools import Pools, Task
    from .settings import KfpJupyterServer

T = TypeVar("T")


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
        """The notebook (or compiled pipeline) file a request names; a path the system cannot
        look up (a name too long) is a 400 saying so, not an OSError answered 500."""
        path = resolve_inside(self.root_dir, relative or "")
        found = stat_of(path, relative or "")
        if found is None or not stat.S_ISREG(found.st_mode):
            raise ApiError(404, f"no notebook {relative!r}")
        return path

    def reach(self, path: Path) -> list[Reference]:
        """Every file and URL the notebook makes the analysis read (component tags, `notebook:`
        steps, Kale's references and what their notebooks name), refused (400) if one leaves
        the root or is a URL the settings forbid. Blocking (it reads notebooks): call it in a
        pool."""
        return references(path, Path(self.root_dir), self.kfp_settings.component_urls)

    def load(self, path: Path, pin_packages: bool | None = None) -> Pipeline:
        """The notebook's pipeline, once everything it names passed (URLs are fetched here)."""
        from ..loader import load_notebook

        self.reach(path)
        return load_notebook(path, pin_packages=pin_packages)

    def kubeconfig_file(self, value: str | None) -> str | None:
        """The kubeconfig a request's `kubeconfig` names, if the settings list it
        (`kubeconfigs`; none by default): a kubeconfig is used as it is, its credentials, the
        files it names and the commands it runs, so a browser may name only a file the server's
        user listed. Relative to the root like every path of the API (or absolute, or `~`),
        symbolic links followed."""
        if value is None:
            return None
        allowed = self.kfp_settings.kubeconfigs
        if not allowed:
            raise ApiError(
                400,
                "this server takes no 'kubeconfig' from a request: it uses its own "
                "($KUBECONFIG or ~/.kube/config); leave the field out, or list the files "
                "requests may name in c.KfpJupyterServer.kubeconfigs",
            )
        if os.pathsep in value or "\x00" in value:
            raise ApiError(
                400,
                f"'kubeconfig' {shown(value)} holds {os.pathsep!r} or a NUL character, and the "
                "kubernetes client would read it as several files; name one file",
            )
        root = Path(self.root_dir).resolve()
        real = str(real_path(root / Path(value).expanduser(), value))
        if os.pathsep in real or not self.kfp_settings.kubeconfig_allowed(real, str(root)):
            raise ApiError(
                400,
                f"kubeconfig {shown(value)} is not one this server may use (allowed: "
                f"{', '.join(allowed)}; set c.KfpJupyterServer.kubeconfigs to change)",
            )
        return real

    def credential_hosts(self) -> list[str | None]:
        """Where the server's own cluster credentials may go besides where its configuration
        points: the saved targets' hosts, which its user chose (`kfp-jupyter targets add`). A
        host a request names is none of them unless the user saved it."""
        from ..cluster.targets import load_targets

        try:
            return [t.host for t in load_targets().values()]
        except KfpJupyterError:  # a broken targets file: no host of its (a submit says why)
            return []

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
            raise ApiError(400, f"{key!r} must be a string, not {json_kind(value)}")
        return value

    @staticmethod
    def flag(body: dict[str, Any], key: str) -> bool:
        value = body.get(key)
        if value is not None and not isinstance(value, bool):
            raise ApiError(400, f"{key!r} must be true or false, not {json_kind(value)}")
        return bool(value)

    @staticmethod
    def params(body: dict[str, Any]) -> dict[str, Any]:
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise ApiError(400, f"'params' must be an object, not {json_kind(params)}")
        return params

    def read_options(
        self, body: dict[str, Any], table: tuple[Option, ...], *extra: str
    ) -> dict[str, Any]:
        """The options of `table` in `body`, by their front ends' names (`dest`), each left out
        as "not given" (None, or off); besides them only the fields `extra` are accepted.

        An unknown field is refused, not ignored: a misspelt `no_cahce` would otherwise run
        with the cache the caller meant to skip."""
        by_field = {o.json: o for o in table}
        for key in body:
            option = by_field.get(key)
            if option is not None and not option.applies_to(SERVER):
                raise ApiError(400, f"{key!r} is not an option here: {option.not_for[SERVER]}")
        only_fields(body, *extra, *(o.json for o in table if o.applies_to(SERVER)))
        return {o.dest: _option_value(body, o) for o in table if o.applies_to(SERVER)}

    async def cluster_run(self, run_id: str) -> Submitted | None:
        """The cluster run `run_id` this server follows: one it submitted, or one sent from a
        kernel (the widget, `%kfp submit`), followed on the cluster from now on; None if it is
        neither. A cluster that cannot be reached or does not know the run raises its error.

        Requests that ask at once about a run not followed yet (the panel's poll and a click on
        a step) wait for the one that finds it: the run is attached once, never followed twice."""
        submitted = self.runs.submitted(run_id)
        if submitted is not None:
            return submitted
        finding, joined = self.runs.find_once(run_id, lambda: self._follow(run_id))
        if joined:
            self.log.info(
                "kfp-jupyter: another request is looking up run %s; this one waits for it", run_id
            )
        return await asyncio.shield(finding)

    async def _follow(self, run_id: str) -> Submitted | None:
        """Start following the run `run_id` sent from a kernel, if one was (its record)."""
        from ..cluster.submitted import find

        record = await self.off_loop(lambda: find(run_id))
        if record is None:
            return None

        def work() -> Submitted | None:
            from ..cluster.config import own_credentials_only_to

            # the record may hold a host a request chose (a submit through this server)
            with own_credentials_only_to(self.credential_hosts()):
                handle = reattach(record, self.kfp_settings.token_env_allowed)
            notebook = Path(str(record["notebook"]))
            self.runs.add_submit(notebook, handle, record_created(record))
            return self.runs.submitted(run_id)

        self.log.info("kfp-jupyter: following run %s (sent from a kernel) on its cluster", run_id)
        return await self.pools.cluster.run(work, FOLLOW)

    def busy(self, error: BaseException) -> None:
        """Every thread of a slow pool is waiting (on clusters, on component hosts): ask the
        client to come back."""
        self.set_header("Retry-After", "30")
        self.reply({"message": str(error), "kind": "Busy"}, 503)

    async def off_loop(self, fn: Callable[[], T]) -> T:
        """Run quick blocking work (analysis, compilation, the run history) in the quick pool."""
        return await self.pools.run_quick(fn)

    async def off_loop_loading(self, path: Path, fn: Callable[[], T], task: Task) -> T:
        """Run `fn`, which loads the notebook at `path`, in the fetch pool if the notebook names
        component URLs (their hosts may take up to the fetch's deadline, and inspect must not
        wait behind them; PoolFull when every fetch thread is busy), else in the quick pool."""
        refs = await self.off_loop(lambda: self.reach(path))
        if any(r.is_url for r in refs):
            return await self.pools.fetch.run(fn, task)
        return await self.off_loop(fn)

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
        """Answer an error; `form`: its advice in the terms of the Submit dialog's fields (the
        form the panel's user has), not the command line's options."""
        try:
            from ..cluster.advice import error_text

            message = error_text(error, "dialog" if form else "cli")
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
            answer: dict[str, Any] = {"message": message, "kind": type(error).__name__}
            fields = getattr(error, "fields", None)
            if fields:  # each bad value's message, for the form field that holds it
                answer["fields"] = fields
            self.reply(answer, status)
        else:
            raise error


def only_fields(body: dict[str, Any], *accepted: str) -> None:
    """Refuse a field of `body` not in `accepted` (400 naming it and the accepted ones): a
    misspelt `no_cahce` or `ouput` would otherwise be ignored, and the request do what the
    caller meant to change."""
    for key in body:
        if key not in accepted:
            known = ", ".join(sorted(accepted))
            raise ApiError(400, f"unknown field {key!r}; the fields accepted: {known}")


def _option_value(body: dict[str, Any], option: Option) -> Any:
    """One option's value from its JSON field, checked as the CLI checks the option's value."""
    key = option.json
    if option.kind == "pairs":  # -p NAME=VALUE ...: one object of the values
        return BaseHandler.params(body)
    if option.kind == "flag":
        return BaseHandler.flag(body, key)
    if option.kind == "off":  # `no_pin: true` is --no-pin; false or absent: the notebook's say
        return False if BaseHandler.flag(body, key) else None
    if option.kind in ("int", "float"):
        return _number(body.get(key), key, whole=option.kind == "int")
    value = BaseHandler.text(body, key)
    if value is not None and option.choices and value not in option.choices:
        raise ApiError(400, f"{key!r} must be one of {', '.join(option.choices)}, not {value!r}")
    return value


def _number(value: object, key: str, whole: bool) -> int | float | None:
    """A positive number (a whole one if `whole`), or None when the field is absent or null."""
    if value is None:
        return None
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
        raise ApiError(400, f"{key!r} must be {kind}, not {json_kind(value)}")
    if not 0 < value < float("inf"):
        raise ApiError(400, f"{key!r} must be {kind} more than 0, not {value}")
    return value


def json_kind(value: object) -> str:
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
