"""REST handlers of the server extension, on jupyter_server's authenticated APIHandler.

APIHandler refuses (403) a request without the server's token or cookie, and a cookie-authenticated
POST without the XSRF token. Analysis, compilation and submission run in threads: they take
seconds (the kfp compiler, a cluster's API), and the server's event loop must keep serving the
kernels meanwhile. Submits, and compiles and runs that fetch component URLs, have their own
bounded pools (pools.py), so clusters and hosts that answer slowly or never cannot delay inspect
and the run history. Local runs run in the engine's own thread (`run_local` returns at once).

What every handler shares (the JSON body, JSON errors) is in base.py; what the server remembers
between requests (the runs it started and submitted) in registry.py.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, cast

from jupyter_server.utils import url_path_join
from tornado import web

from ..engine.history import HistoryDamagedError
from ..errors import KfpJupyterError, NotebookError
from ..frontends.options import RUN_OPTIONS, SUBMIT_OPTIONS, api_keywords
from .base import ApiError, BaseHandler, only_fields
from .components import outline, sketch
from .paths import PathRefused, hide_root, relative_to_root, resolve_inside, stat_of
from .pools import COMPILE, RUN, SUBMIT, PoolFull, Pools
from .registry import RunRegistry, Submitted, listing_of_record
from .settings import KfpJupyterServer

PREFIX = "kfp-jupyter/api"


def _store() -> str | None:
    """The run store: KFP_JUPYTER_STORE, else the engine's default seen from the server's cwd."""
    return os.environ.get("KFP_JUPYTER_STORE") or None


class InspectHandler(BaseHandler):
    def inspect(self, path: Path) -> dict[str, object]:
        """The pipeline as the CLI's `inspect --json` shows it; an outline when that would need
        fetching a component URL (inspect runs on every save: it must not reach the network)."""
        from ..loader import load_notebook

        refs = self.reach(path)
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
        """Refuse to write over a folder, or to a path the system cannot take (a 400 naming the
        output, not an OSError from the compiler)."""
        name = said or relative_to_root(self.root_dir, out)
        found = stat_of(out, name)
        if found is not None and stat.S_ISDIR(found.st_mode):
            raise ApiError(400, f"output {name!r} is a folder; name a file in it")

    @web.authenticated
    async def post(self) -> None:
        from ..compile import TARGETS, compile_pipeline, default_output

        body = self.body()
        only_fields(body, "path", "target", "output", "kfp_runtime")
        target = self.text(body, "target") or "kfp"
        if target not in TARGETS:
            raise ApiError(400, f"unknown target {target!r}; choose one of {list(TARGETS)}")
        output, runtime = self.text(body, "output"), self.text(body, "kfp_runtime")
        if output and output.endswith("/"):  # "/" is the root: a folder, not a missing path
            raise ApiError(400, f"output {output!r} is a folder; name a file in it")
        try:
            path = self.notebook_path(self.text(body, "path"))

            def work() -> Path:
                pipeline = self.load(path)
                out = (
                    resolve_inside(self.root_dir, output, "output")
                    if output
                    else default_output(path, pipeline, target)
                )
                self.check_output(out, output)
                try:
                    compile_pipeline(pipeline, target, out, kfp_runtime=runtime)
                except OSError as e:  # e.g. a file where the output's folder should be
                    name = output or relative_to_root(self.root_dir, out)
                    raise ApiError(400, f"cannot write output {name!r}: {e.strerror}") from None
                return out

            out = await self.off_loop_loading(path, work, COMPILE)
            self.reply({"target": target, "output": relative_to_root(self.root_dir, out)})
        except PoolFull as e:
            self.busy(e)
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
        except KfpJupyterError as e:  # outside the root, or a path too long to look up
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
        """The cluster runs sent for `notebook`, newest first: those this server follows, and
        those sent from a kernel (the widget, `%kfp submit`) it does not follow yet."""
        from ..cluster.submitted import records_of

        if notebook is None:
            return []
        runs = [s.listing() for s in reversed(self.runs.submits_of(notebook))]
        followed = {r["id"] for r in runs}
        runs += [listing_of_record(r) for r in records_of(notebook) if r["id"] not in followed]
        runs.sort(key=lambda r: r.get("created") or "", reverse=True)
        return runs[:limit] if limit else runs

    @web.authenticated
    async def post(self) -> None:
        from ..engine import run_local

        body = self.body()
        given = self.read_options(body, RUN_OPTIONS, "path")
        try:
            path = self.notebook_path(self.text(body, "path"))

            def work() -> dict[str, Any]:
                pipeline = self.load(path, given["pin_packages"])
                options = api_keywords(RUN_OPTIONS, given)
                handle = run_local(pipeline, given["params"], store=_store(), **options)
                self.runs.add(handle)
                return {"id": handle.run_id, "state": handle.state}

            self.reply(await self.off_loop_loading(path, work, RUN), 201)
        except PoolFull as e:
            self.busy(e)
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e)


class RunHandler(BaseHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        from ..engine.history import History
        from ..engine.report import run_summary
        from ..engine.store import open_store

        try:
            submitted = await self.cluster_run(run_id)
        except PoolFull as e:
            self.busy(e)
            return
        except KfpJupyterError as e:  # the cluster of a run sent from a kernel said no
            self.fail(e, form=True)
            return

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
    widget shows for a clicked step, from the same function (jupyter/details.py).

    The panel keeps drawing the pipeline while the notebook has a problem (one being typed, in
    one step), and a click on any step asks here: a problem elsewhere must not make the step
    unknown. So the step is then shown as its cells say it, with the problems of that step, or
    a note that the others have some. A cell whose tags or magic line cannot be read is in no
    step, so a step not found may be its: that is answered with the notebook's problems (422,
    as inspect answers them), never "no step" (404) for a step the notebook may have."""

    def sketch(self, path: Path) -> tuple[dict[str, Any] | None, bool]:
        """The steps as the notebook's cells say them, without the analysis (None if the
        notebook cannot even be read), and whether a step may be missing from them: a cell
        whose tags or magic line cannot be read is in no step."""
        try:
            found = sketch(path, [])
        except NotebookError:
            return None, True
        return found.to_json(), found.unread

    def problems_of(self, step: str, cells: list[int], error: NotebookError) -> dict[str, Any]:
        """The `note` and `problems` of step details while the notebook has `error`: the
        step's own problems, or which steps have them."""
        own = [p for p in error.problems if p.step == step or p.cell in cells]
        if own:
            note = "this step has problems: " + "; ".join(p.message for p in own)
        else:
            others = sorted({p.step for p in error.problems if p.step})
            where = f" (step {', '.join(map(repr, others))})" if others else ""
            note = (
                f"the notebook has problems elsewhere{where}; this step's inputs and outputs "
                "show once they are fixed"
            )
        answer = {"note": note, "problems": [p.to_json() for p in own]}
        return cast("dict[str, Any]", hide_root(answer, self.root_dir))  # a 200: hide it here

    def pipeline(self, path: Path) -> tuple[dict[str, Any] | None, NotebookError | None, bool]:
        """The notebook's pipeline; while it has problems, its steps as its cells say them (a
        run still has its steps) and the problems; and whether a step may be missing."""
        try:
            return self.inspect(path), None, False
        except NotebookError as e:
            p, partial = self.sketch(path)
            return p, e, partial

    def local_details(
        self, p: dict[str, Any] | None, step: str, run_id: str
    ) -> dict[str, Any] | None:
        """The details of `step` in the local run `run_id` of the server's store (404 for a run
        it does not have)."""
        from ..engine.history import History
        from ..engine.store import open_store
        from ..jupyter.details import run_step_details

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

    def details(
        self,
        p: dict[str, Any] | None,
        problems: NotebookError | None,
        step: str,
        run_id: str | None,
        submitted: Submitted | None,
    ) -> dict[str, Any] | None:
        """The details of `step`: of a cluster run, of a local run, or as the notebook says it
        (with its problems); None if neither knows the step."""
        from ..jupyter.details import run_step_details

        if submitted is not None:
            s = submitted.summary()
            tasks = {t["name"]: t["state"] for t in s["tasks"]}
            failures = submitted.handle.failures  # read from the failed steps' pods
            return run_step_details(p, step, cluster={**s, "tasks": tasks, "failures": failures})
        if run_id:
            return self.local_details(p, step, run_id)
        found = run_step_details(p, step)
        if found is not None and problems is not None:
            found.update(self.problems_of(step, found["cells"], problems))
        return found

    @web.authenticated
    async def get(self, *args: str) -> None:
        run_id, step = (None, args[0]) if len(args) == 1 else (args[0], args[1])
        try:
            path = self.notebook_path(self.get_query_argument("path", ""))
            submitted = await self.cluster_run(run_id) if run_id else None
        except PoolFull as e:
            self.busy(e)
            return
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e, form=True)
            return

        def work() -> dict[str, Any] | None:
            p, problems, partial = self.pipeline(path)
            found = self.details(p, problems, step, run_id, submitted)
            if found is None and problems is not None and partial:
                # a cell that cannot be read may be this step's: its problem, not "no step"
                raise problems
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
    """`POST submit`. A token reaches a cluster only through a variable `token_envs` allows,
    whether the request names it or its saved target does, and a target's token goes only where
    the target points (see `check_target`). The server's own credentials (its kubeconfig's, the
    pod's, kfp's context file's) go only where its configuration or a saved target points: a
    host the request chose gets none of them (`own_credentials_only_to`). A request names a
    kubeconfig only if the settings list it (`kubeconfig_file`)."""

    def check_token_env(self, name: str | None) -> None:
        """Refuse a `token_env` the settings do not name: the server would read any variable of
        its environment (a cloud key, a password) and send it to the host the caller chose."""
        if name is None or self.kfp_settings.token_env_allowed(name):
            return
        raise ApiError(
            400,
            f"token_env {name!r} is not a token variable this server may read "
            f"(allowed: {self.allowed()}; set c.KfpJupyterServer.token_envs to change)",
        )

    def allowed(self) -> str:
        return ", ".join(self.kfp_settings.token_envs) or "none"

    def check_target(self, given: dict[str, Any]) -> None:
        """Refuse the saved target's token when the server may not read it, or when the request
        would send it somewhere the target does not point.

        A target keeps the name of the variable holding its cluster's token, and the server
        reads it for any request naming the target. So the variable must pass `token_envs` as
        one a request names must (else a target saved with a cloud key's variable would make
        the server read it); and while that variable is the one used, whether the request names
        it again (the Submit dialog copies the target's fields into the request) or not, the
        request may not change where to connect (`host`; for Argo, whose token goes to the
        kubeconfig's cluster, also `kubeconfig` or `context`). A request that names another
        variable sends that one, checked as ever. Blocking (it reads the targets file)."""
        from ..cluster.targets import get_target

        if not given["target"]:
            return
        target = get_target(given["target"])  # an unknown name: the advice submit gives
        if target.token_env is None or given["token_env"] not in (None, target.token_env):
            return  # no token of the target's, or the request's own variable (checked already)
        if not self.kfp_settings.token_env_allowed(target.token_env):
            raise ApiError(
                400,
                f"the saved target {target.name!r} reads its token from {target.token_env!r}, "
                f"which is not a token variable this server may read (allowed: "
                f"{self.allowed()}); give the target a token variable that is (kfp-jupyter "
                "targets add --replace), or set c.KfpJupyterServer.token_envs",
            )
        elsewhere = _redirected(target, given)
        if elsewhere:
            said = " and ".join(f'"{f}"' for f in elsewhere)
            raise ApiError(
                400,
                f"the saved target {target.name!r} sends its token (${target.token_env}) only "
                f"to its own cluster, and the request's {said} would send it elsewhere; to "
                'send a token there, name another token variable in the "token variable" '
                f"field (token_env), or leave {said} empty to use the target's",
            )

    @web.authenticated
    async def post(self) -> None:
        from ..cluster import submit, submittable
        from ..cluster.compiled import kind_of
        from ..cluster.config import own_credentials_only_to
        from ..cluster.submitted import record

        body = self.body()
        given = self.read_options(body, SUBMIT_OPTIONS, "path")
        pin = given["pin_packages"]
        self.check_token_env(given["token_env"])
        try:
            path = self.notebook_path(self.text(body, "path"))
            await self.off_loop(lambda: self.check_target(given))
            given["kubeconfig"] = self.kubeconfig_file(given["kubeconfig"])

            def work() -> dict[str, Any]:
                # a notebook, or a pipeline compiled already (KFP IR, Argo Workflow, DSL script)
                notebook = kind_of(path) == "notebook"
                if pin is not None and not notebook:
                    submittable(path, pin)  # refused as the CLI refuses it: compiled already
                what = self.load(path, pin) if notebook else path
                with own_credentials_only_to(self.credential_hosts()):
                    handle = submit(
                        what, params=given["params"], **api_keywords(SUBMIT_OPTIONS, given)
                    )
                self.runs.add_submit(path, handle)
                if notebook:  # the server's successor finds it too
                    record(path, handle)
                info: dict[str, Any] = handle.info.to_json()
                return info

            self.reply(await self.pools.cluster.run(work, SUBMIT), 201)
        except PoolFull as e:
            self.busy(e)
        except (KfpJupyterError, PathRefused) as e:
            self.fail(e, form=True)


class TargetsHandler(BaseHandler):
    """`GET targets`: the saved targets (never a token: only the name of the variable that
    holds one), the one submitted to last, and the engines a submit accepts, for the Submit
    dialog's choices."""

    @web.authenticated
    async def get(self) -> None:
        from ..cluster.engines import ENGINES
        from ..cluster.targets import last_target, load_targets

        def work() -> dict[str, Any]:
            # the engines are always there: a broken targets file must not stop a submit that
            # names its cluster by hand
            answer: dict[str, Any] = {"targets": [], "last": None, "engines": list(ENGINES)}
            try:
                targets = load_targets()
            except KfpJupyterError as e:
                answer["error"] = str(e)
            else:
                answer.update(targets=[t.to_json() for t in targets.values()], last=last_target())
            return answer

        self.reply(await self.off_loop(work))


def _redirected(target: Any, given: dict[str, Any]) -> list[str]:
    """The fields of a submit that send it somewhere else than the saved `target` points: a
    host other than the target's; for Argo a kubeconfig or context (the target has neither, so
    any given changes the cluster its token goes to)."""
    from ..cluster.errors import ConfigError, http_url

    def address(url: str) -> str:
        try:  # compared as the clients would use them: HTTP://H and http://h/ are one address
            return http_url(url, "host")
        except ConfigError:
            return url.strip().rstrip("/")  # refused later, with the reason

    fields = []
    host = (given["host"] or "").strip()
    if host and address(host) != address(target.host or ""):
        fields.append("host")
    if target.engine == "argo":
        fields += [f for f in ("kubeconfig", "context") if given[f]]
    return fields


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
        "pools": Pools(settings.quick_workers, settings.cluster_workers, settings.fetch_workers),
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
