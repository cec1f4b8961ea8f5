"""IPython magics: `%load_ext kfp_jupyter`.

The cell magics of the annotation grammar (`%%step`, `%%imports`, `%%functions`,
`%%pipeline_parameters`, `%%pipeline_metrics`, `%%skip`) only annotate: run interactively, each
executes its cell body in the user namespace exactly as if the magic line were absent (`%%skip`
too: skip means "not in the pipeline", not "not run"), so the notebook still works top to bottom.
Their options are checked with the same grammar the compiler uses; a bad line is a one-line usage
error and the cell does not run.

`%kfp show|compile|run|submit [NOTEBOOK] [options]` act on the current notebook with the CLI's
options. `%kfp run` never runs steps in the kernel: the local engine runs them in processes, and
the widget follows the run from background threads, so the kernel stays responsive.
"""

from __future__ import annotations

import argparse
import ast
import atexit
import dataclasses
import functools
import io
import keyword
import os
import re
import shlex
import shutil
import sys
import tempfile
import types
from pathlib import Path
from typing import Any, NoReturn

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ..errors import KfpJupyterError, NotebookError, install_extra
from ..notebook.grammar import (
    MagicLine,
    MagicUsageError,
    Role,
    format_magic_line,
    parse_magic_line,
    step_name_problem,
    step_usage,
)


def _one_line(e: MagicUsageError) -> str:
    return e.message + (f" (usage: {e.usage})" if e.usage else "")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise IPythonUsageError(
            f"{self.prog}: {message} (usage: {self.format_usage().strip()[7:]})"
        )

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            raise IPythonUsageError(message.strip())
        raise IPythonUsageError(self.format_help())


def _params(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name.strip():
            raise IPythonUsageError(f"%kfp: -p expects NAME=VALUE, got {v!r}")
        out[name.strip()] = value
    return out


def kfp_parser() -> argparse.ArgumentParser:
    """`%kfp`'s options, the same names as the CLI's commands."""
    p = _Parser(
        prog="%kfp", add_help=False, description="Act on the current notebook (or NOTEBOOK)."
    )
    sub = p.add_subparsers(dest="command", metavar="show|compile|run|submit", parser_class=_Parser)
    sub.required = True

    show = sub.add_parser("show", add_help=False, help="display the pipeline widget")
    show.add_argument("notebook", nargs="?")
    show.add_argument("--run", metavar="RUN_ID", help="re-attach to a run by id")
    show.add_argument("--store", help="the local store of --run")
    show.add_argument(
        "--engine", choices=["local", "kfp", "argo"], default="local", help="where the --run ran"
    )
    show.add_argument("--host")
    show.add_argument("--namespace")
    show.add_argument("--token-env", metavar="VAR", help="the environment variable holding a token")
    show.add_argument("--kubeconfig", metavar="PATH")
    show.add_argument("--context", metavar="NAME")

    comp = sub.add_parser("compile", add_help=False, help="compile the pipeline")
    comp.add_argument("notebook", nargs="?")
    comp.add_argument("-t", "--target", choices=["kfp", "argo", "dsl"], default="kfp")
    comp.add_argument("-o", "--output")
    comp.add_argument("--kfp-runtime", metavar="VERSION")
    comp.add_argument("--no-pin", dest="pin_packages", action="store_const", const=False)

    run = sub.add_parser("run", add_help=False, help="run the pipeline on this machine")
    run.add_argument("notebook", nargs="?")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--experiment")
    run.add_argument("--store")
    run.add_argument("--workers", type=int)
    run.add_argument("--no-cache", action="store_true")
    run.add_argument("--keep-going", action="store_true")
    run.add_argument("--launcher", choices=["auto", "fork", "subprocess"])
    run.add_argument("--host-exec", action="store_true", help="run commands without their images")
    run.add_argument("--apply-resources", action="store_true", help="apply resources with kubectl")
    run.add_argument("--wait", action="store_true", help="block until the run ends")
    run.add_argument("--no-pin", dest="pin_packages", action="store_const", const=False)

    inputs = sub.add_parser("inputs", add_help=False, help="load a step's inputs into the kernel")
    inputs.add_argument("step")
    inputs.add_argument("notebook", nargs="?")
    inputs.add_argument("--run", metavar="RUN_ID")
    inputs.add_argument("--store")

    subm = sub.add_parser("submit", add_help=False, help="send the pipeline to a cluster")
    subm.add_argument("notebook", nargs="?")
    subm.add_argument("--target", metavar="NAME", help="a saved target (kfp-jupyter targets)")
    subm.add_argument("--engine", choices=["kfp", "argo"])
    subm.add_argument("--host")
    subm.add_argument("--namespace")
    subm.add_argument("--experiment")
    subm.add_argument("--run-name")
    subm.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    subm.add_argument("--schedule", metavar="CRON")
    subm.add_argument("--token-env", metavar="VAR")
    subm.add_argument("--kubeconfig", metavar="PATH")
    subm.add_argument("--context", metavar="NAME")
    subm.add_argument("--ui-url", metavar="URL")
    subm.add_argument("--poll-interval", type=float, metavar="SECONDS")
    subm.add_argument("--request-timeout", type=float, metavar="SECONDS")
    subm.add_argument("--kfp-runtime", metavar="VERSION")
    subm.add_argument("--no-pin", dest="pin_packages", action="store_const", const=False)
    subm.add_argument("--wait", action="store_true", help="block until the run ends")
    return p


def _widget_available() -> bool:
    try:
        import anywidget  # noqa: F401
    except ImportError:
        return False
    return True


@magics_class
class KfpMagics(Magics):
    # --- the annotation magics -----------------------------------------------------------------

    def _checked(self, magic: str, line: str) -> Any:
        """The parsed magic line; a bad one is a one-line usage error and the cell does not run."""
        __tracebackhide__ = True
        try:
            parsed = parse_magic_line(f"%%{magic} {line}".rstrip())
        except MagicUsageError as e:
            raise IPythonUsageError(f"%%{magic}: {_one_line(e)}") from None
        bad_name = step_name_problem(parsed.step) if parsed.step is not None else None
        if bad_name:
            raise IPythonUsageError(f"%%{magic}: {bad_name}")
        return parsed

    @staticmethod
    def _help(magic: str, line: str) -> bool:
        """`%%step --help`: print the usage and do not run the cell, as a command's --help does."""
        if not {"-h", "--help"} & set(line.split()):
            return False
        steps = ("step", "component", "container", "resource", "notebook")
        print(step_usage(magic) if magic in steps else f"%%{magic} takes no options")
        return True

    def _annotated(self, magic: str, line: str, cell: str | None) -> Any:
        __tracebackhide__ = True
        if self._help(magic, line):
            return None
        self._checked(magic, line)
        return run_cell_body(self.shell, cell or "")

    @cell_magic
    def step(self, line: str, cell: str | None = None) -> Any:
        """%%step NAME [--after A B] [--image REF] [--packages a,b] [--gpu N] [--cpu N]
        [--memory 4Gi] [--retries N] [--timeout S] [--no-cache] ...: this cell is (part of) a
        pipeline step. Runs the cell as it is."""
        __tracebackhide__ = True
        return self._annotated("step", line, cell)

    @cell_magic
    def imports(self, line: str, cell: str | None = None) -> Any:
        """%%imports: the imports every step starts with. Runs the cell as it is."""
        __tracebackhide__ = True
        return self._annotated("imports", line, cell)

    @cell_magic
    def functions(self, line: str, cell: str | None = None) -> Any:
        """%%functions: functions and classes every step can use. Runs the cell as it is."""
        __tracebackhide__ = True
        return self._annotated("functions", line, cell)

    @cell_magic
    def pipeline_parameters(self, line: str, cell: str | None = None) -> Any:
        """%%pipeline_parameters: literals that become typed pipeline parameters."""
        __tracebackhide__ = True
        return self._annotated("pipeline_parameters", line, cell)

    @cell_magic
    def pipeline_metrics(self, line: str, cell: str | None = None) -> Any:
        """%%pipeline_metrics: the names whose values become the pipeline's metrics."""
        __tracebackhide__ = True
        return self._annotated("pipeline_metrics", line, cell)

    @cell_magic
    def skip(self, line: str, cell: str | None = None) -> Any:
        """%%skip: not part of the pipeline (still runs here, so the notebook works as before)."""
        __tracebackhide__ = True
        return self._annotated("skip", line, cell)

    # --- steps that are not Python: run here as a local run runs them ----------------------------
    # So that the notebook still runs top to bottom: a component or container cell runs its command
    # on the kernel's variables and binds its outputs under the names later cells read in the
    # pipeline. A resource cell is never applied from the kernel (it would change a cluster).

    def _run_step(self, magic: str, line: str, cell: str | None) -> None:
        __tracebackhide__ = True
        if self._help(magic, line):
            return
        parsed = self._checked(magic, line)
        if self.shell is None:
            raise IPythonUsageError("kfp-jupyter magics need an IPython shell")
        try:
            run_step_cell(parsed, cell or "", self.shell.user_ns)
        except KfpJupyterError as e:
            raise IPythonUsageError(f"%%{magic} {parsed.step}: {e}") from None

    @cell_magic
    def component(self, line: str, cell: str | None = None) -> None:
        """%%component NAME PATH_OR_URL [--after A B]: a reusable component (KFP component YAML);
        the body maps its inputs to values. Run here as a local run would run it, on the kernel's
        variables; its outputs become variables (a file as its path, a value as itself)."""
        __tracebackhide__ = True
        self._run_step("component", line, cell)

    @cell_magic
    def container(self, line: str, cell: str | None = None) -> None:
        """%%container NAME --image REF [--after A B]: a container step; the body (YAML) gives
        command, args and file_outputs. Run here as a local run would run it, on the kernel's
        variables; its outputs become variables (a file as its path, a value as itself)."""
        __tracebackhide__ = True
        self._run_step("container", line, cell)

    @cell_magic
    def resource(self, line: str, cell: str | None = None) -> None:
        """%%resource NAME --action create|apply|delete: a Kubernetes manifest applied by the
        pipeline. Checked here, never applied from the kernel."""
        __tracebackhide__ = True
        if not self._help("resource", line):
            print(resource_note(self._checked("resource", line), cell or ""))

    @cell_magic
    def notebook(self, line: str, cell: str | None = None) -> None:
        """%%notebook NAME PATH [--outputs a,b] [--after A B] [options]: a step that executes the
        whole notebook PATH, the body's `name = value` lines set after its parameters cell. Run
        here, the notebook's cells run in this kernel (as %run does), so later cells see its
        variables as later steps get its outputs."""
        __tracebackhide__ = True
        if self._help("notebook", line):
            return
        parsed = self._checked("notebook", line)
        if self.shell is None:
            raise IPythonUsageError("kfp-jupyter magics need an IPython shell")
        try:
            run_notebook_cell(self.shell, parsed, cell or "")
        except KfpJupyterError as e:
            raise IPythonUsageError(f"%%notebook {parsed.step}: {e}") from None

    # --- %kfp ------------------------------------------------------------------------------------

    @line_magic
    def kfp(self, line: str) -> Any:
        """%kfp show|compile|run|submit [NOTEBOOK] [options]: act on the current notebook.

        %kfp show [NB] [--run RUN_ID] [--store S] [--engine kfp|argo --host URL --namespace NS]
        %kfp inputs STEP [NB] [--run RUN_ID] [--store S]
        %kfp compile [NB] [-t kfp|argo|dsl] [-o PATH] [--kfp-runtime VERSION] [--no-pin]
        %kfp run [NB] [-p NAME=VALUE ...] [--experiment E] [--store S] [--workers N]
                 [--no-cache] [--keep-going] [--launcher auto|fork|subprocess] [--host-exec]
                 [--apply-resources] [--wait] [--no-pin]
        %kfp submit [NB] [--target NAME] [--engine kfp|argo] [--host URL] [--namespace NS] [--experiment E]
                    [--run-name NAME] [-p NAME=VALUE ...] [--schedule CRON] [--wait]
                    [--token-env VAR] [--kubeconfig PATH] [--context NAME] [--ui-url URL]
                    [--poll-interval SECONDS] [--request-timeout SECONDS] [--kfp-runtime V]
                    [--no-pin]
        """
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise IPythonUsageError(f"%kfp: {e}") from None
        if not words or words[0] in ("-h", "--help", "help"):
            raise IPythonUsageError(kfp_parser().format_help())
        args = kfp_parser().parse_args(words)
        try:
            return getattr(self, f"_kfp_{args.command}")(args)
        except NotebookError as e:
            n = len(e.problems)
            raise IPythonUsageError(
                f"the notebook cannot become a pipeline ({n} problem{'s' if n != 1 else ''}):\n{e}"
            ) from None
        except KfpJupyterError as e:
            raise IPythonUsageError(str(e)) from None

    def _notebook(self, given: str | None) -> str:
        from .notebook_path import find_notebook

        return str(find_notebook(self.shell.user_ns if self.shell else {}, given))

    def _kfp_show(self, args: argparse.Namespace) -> Any:
        if not _widget_available():
            raise KfpJupyterError(f"%kfp show needs anywidget: {install_extra('widget')}")
        from .widget import PipelineWidget

        w = PipelineWidget(self._notebook(args.notebook), store=args.store)
        if args.run and args.engine == "local":
            w.attach(args.run, store=args.store)
        elif args.run:
            w.attach(
                args.run,
                engine=args.engine,
                host=args.host,
                namespace=args.namespace,
                token_env=args.token_env,
                kubeconfig=args.kubeconfig,
                context=args.context,
            )
        return w

    def _kfp_inputs(self, args: argparse.Namespace) -> None:
        """Put what a step received in a run into the kernel, to run its cell by hand."""
        from ..engine.inputs import load_step_inputs

        nb = None if args.run and not args.notebook else self._notebook(args.notebook)
        run_id, loaded = load_step_inputs(nb, args.step, args.run, args.store)
        if self.shell is not None:
            self.shell.user_ns.update({i.name: i.value for i in loaded})
        print(f"step {args.step!r} of run {run_id}: {len(loaded)} value(s) loaded")
        for i in loaded:
            print(f"  {i.summary()}")

    def _kfp_compile(self, args: argparse.Namespace) -> None:
        from ..compile import compile_pipeline, default_output
        from ..loader import load_notebook

        nb = self._notebook(args.notebook)
        pipeline = load_notebook(nb, pin_packages=args.pin_packages)
        for w in pipeline.warnings:
            print(f"warning: {w}", file=sys.stderr)
        out = args.output or default_output(nb, pipeline, args.target)
        compile_pipeline(pipeline, args.target, out, kfp_runtime=args.kfp_runtime)
        print(f"wrote {out} ({args.target}, {len(pipeline.steps)} steps)")

    def _kfp_run(self, args: argparse.Namespace) -> Any:
        from ..engine.api import run_local
        from ..loader import load_notebook

        nb = self._notebook(args.notebook)
        pipeline = load_notebook(nb, pin_packages=args.pin_packages)
        handle = run_local(
            pipeline,
            _params(args.param),
            store=args.store,
            workers=args.workers,
            cache=not args.no_cache,
            keep_going=args.keep_going,
            experiment=args.experiment,
            launcher=args.launcher,
            host_exec=args.host_exec,
            apply_resources=args.apply_resources,
        )
        return self._follow(nb, handle, args.wait, args.store)

    def _kfp_submit(self, args: argparse.Namespace) -> Any:
        try:
            from ..cluster import submit
        except ImportError as e:
            raise KfpJupyterError(
                f"submitting is not available in this installation ({e})"
            ) from None
        from ..cluster import submittable

        nb = self._notebook(args.notebook)
        what = submittable(Path(nb), args.pin_packages)
        handle = submit(
            what,
            args.engine,
            target=args.target,
            host=args.host,
            namespace=args.namespace,
            experiment=args.experiment,
            run_name=args.run_name,
            params=_params(args.param),
            schedule=args.schedule,
            token_env=args.token_env,
            kubeconfig=args.kubeconfig,
            context=args.context,
            ui_url=args.ui_url,
            poll_interval=args.poll_interval,
            kfp_runtime=args.kfp_runtime,
            request_timeout=args.request_timeout,
        )
        engine = handle.engine
        url = getattr(handle, "url", None)
        print(f"submitted {engine} run {handle.run_id}" + (f": {url}" if url else ""))
        for note in getattr(handle, "notes", []) or []:
            print(f"  {note}")
        if args.schedule:
            return None
        return self._follow(nb, handle, args.wait, None, engine=engine)

    def _follow(
        self, notebook: str, handle: Any, wait: bool, store: Any, engine: str = "local"
    ) -> Any:
        if not _widget_available():
            # no widget: print the progress here (this blocks; Ctrl-C / interrupt cancels)
            return _print_progress(handle)
        from IPython.display import display

        from .widget import PipelineWidget

        w = PipelineWidget(notebook, store=store)
        w.follow(handle, engine=engine)
        if not wait:
            return w
        display(w)  # type: ignore[no-untyped-call]
        try:
            run = w.wait()
        except KeyboardInterrupt:
            handle.cancel()
            run = w.wait(30)
        print(
            f"run {run.get('id')}: {run.get('state')}"
            + (f" ({run['message']})" if run.get("message") else "")
        )
        return None


def _print_progress(handle: Any) -> None:
    try:
        for ev in handle.events():
            if getattr(ev, "kind", None) == "task":
                print(f"{ev.step}: {ev.state}" + (f" ({ev.message})" if ev.message else ""))
            elif getattr(ev, "kind", None) == "run":
                print(f"run {ev.run_id}: {ev.state}" + (f" ({ev.message})" if ev.message else ""))
    except KeyboardInterrupt:
        handle.cancel()
        print("cancelled", file=sys.stderr)


def run_cell_body(shell: InteractiveShell | None, body: str) -> Any:
    """Execute `body` in the user namespace as IPython would run it as a cell of its own.

    Other magics and `!commands` inside are transformed as usual; the last expression's value is
    returned (so IPython displays it as the cell's result, unless it ends with ';'); an exception
    propagates, so the cell fails as it would have without the magic line.
    """
    __tracebackhide__ = True
    if shell is None:
        raise IPythonUsageError("kfp-jupyter magics need an IPython shell")
    code = shell.transform_cell(body)  # type: ignore[no-untyped-call]
    tree = ast.parse(code)
    last: ast.expr | None = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body.pop().value
    filename = _register_source(shell, code, body)
    flags = getattr(shell.compile, "flags", 0)
    ns_globals, ns_locals = shell.user_global_ns, shell.user_ns
    if tree.body:
        exec(compile(tree, filename, "exec", flags=flags, dont_inherit=True), ns_globals, ns_locals)
    if last is None:
        return None
    value = eval(
        compile(ast.Expression(last), filename, "eval", flags=flags, dont_inherit=True),
        ns_globals,
        ns_locals,
    )
    if body.rstrip().endswith(";"):
        return None
    return value


def _register_source(shell: InteractiveShell, code: str, raw: str) -> str:
    """A file name under which tracebacks show the cell's own lines."""
    try:
        return str(shell.compile.cache(code, shell.execution_count, raw_code=raw))
    except Exception:
        return "<kfp-jupyter cell>"


# --- running a component or container cell in the kernel ---------------------------------------------

#: The step that stands for the kernel in the two-step pipeline a cell is analysed as.
_KERNEL_STEP = "kernel"
#: Kernel variables that are never a step's input (IPython's history).
_NOT_INPUTS = frozenset({"In", "Out", "exit", "quit", "get_ipython"})


def host_exec_allowed() -> bool:
    """Whether a cell may run its command on this machine when no Docker or Podman answers.

    On by default in the kernel (the one line the run prints says the image is ignored), as it is
    what makes "Run All" work on a laptop; KFPJ_HOST_EXEC=0 turns it off."""
    return os.environ.get("KFPJ_HOST_EXEC", "1").strip() != "0"


def run_step_cell(parsed: MagicLine, body: str, user_ns: dict[str, Any]) -> None:
    """Run a %%component or %%container cell as the local engine runs its step, and bind its
    outputs in `user_ns` as the engine hands them to a later Python step.

    The cell is analysed as the step of a pipeline whose only other step defines the kernel's
    variables it names, so its inputs are written exactly as a Python step's exports are (a
    DataFrame as CSV, a value as text...), by the same code."""
    from ..components.local import run_container_step

    pipeline = _cell_pipeline(parsed, body, user_ns)
    assert parsed.step is not None
    step = pipeline.step(parsed.step)
    folder = Path(tempfile.mkdtemp(prefix=f"{step.name}-", dir=_session_dir()))
    inputs = _write_inputs(step, pipeline, user_ns, folder / "in")
    host_exec = host_exec_allowed()
    _check_can_run(step, host_exec)
    log = io.StringIO()  # printed once the step ends (a subprocess cannot write into the cell)
    result = run_container_step(
        step,
        parameters={},
        inputs=inputs,
        outputs={o: folder / "out" / o for o in step.outputs},
        work_dir=folder / "work",
        volumes={m.volume: _session_dir() / "volumes" / m.volume for m in step.mounts},
        host_exec=host_exec,
        log=log,
        timeout=step.timeout,
    )
    print(log.getvalue(), end="")
    if not result.ok:
        raise KfpJupyterError(result.message)
    values = _output_values(step, result.outputs)
    user_ns.update(values)
    if values:
        print(f"{step.name}: set " + ", ".join(_shown(n, v, step) for n, v in values.items()))


def _cell_pipeline(parsed: MagicLine, body: str, user_ns: dict[str, Any]) -> Any:
    """The pipeline of [a step defining the kernel's variables the cell names, the cell]."""
    from ..loader import pipeline_from_notebook
    from ..notebook.reader import Cell, NotebookFile

    assert parsed.step is not None
    kernel = _KERNEL_STEP if parsed.step != _KERNEL_STEP else f"{_KERNEL_STEP}-values"
    # --after names steps of the real notebook, which this small pipeline does not have
    settings = dataclasses.replace(parsed.settings, prev=())
    sources = [format_magic_line(Role.STEP, parsed.step, settings) + "\n" + body]
    names = _named_variables(body, user_ns)
    if names:
        sources.insert(0, f"%%step {kernel}\n" + "\n".join(f"{n} = None" for n in names))
    cells = tuple(Cell(i, "code", s, ()) for i, s in enumerate(sources, start=1))
    # a relative component path is relative to the notebook: the kernel's folder
    try:
        return pipeline_from_notebook(NotebookFile(Path.cwd() / "notebook.ipynb", cells, {}))
    except NotebookError as e:
        raise KfpJupyterError(
            "cannot run here: "
            + "; ".join(p.message + (f" (fix: {p.fix})" if p.fix else "") for p in e.problems)
        ) from None


def _named_variables(body: str, user_ns: dict[str, Any]) -> list[str]:
    """The kernel's data variables whose names the cell body mentions (its possible inputs)."""
    words = dict.fromkeys(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", body))
    return [
        w
        for w in words
        if w in user_ns
        and not w.startswith("_")
        and w not in _NOT_INPUTS
        and not keyword.iskeyword(w)
        and not isinstance(user_ns[w], (types.ModuleType, types.FunctionType, type))
    ]


def run_notebook_cell(shell: InteractiveShell, parsed: MagicLine, body: str) -> None:
    """Run the code cells of the step's notebook in the kernel, the cell's values set right after
    the notebook's parameters cell (at the top when it has none), as the step injects them."""
    from ..analysis.notebookstep import resolve_child_path
    from ..notebook.reader import read_notebook

    assert parsed.settings.notebook is not None
    path = resolve_child_path(parsed.settings.notebook, str(Path.cwd() / "notebook.ipynb"))
    if not path.is_file():
        raise KfpJupyterError(f"notebook {parsed.settings.notebook!r} does not exist ({path})")
    try:
        child = read_notebook(path)
    except NotebookError as e:
        raise KfpJupyterError(f"notebook {parsed.settings.notebook!r}: {e}") from None
    cells = [c for c in child.cells if c.kind == "code"]
    at = next(
        (
            i + 1
            for i, c in enumerate(cells)
            if {"parameters", "pipeline-parameters"} & set(c.tags)
            or c.first_line.startswith("%%pipeline_parameters")
        ),
        0,
    )
    # the values first, from the kernel as it is now: the notebook's parameters cell may assign
    # the very names they come from (`frame = None`), as the step's own notebook would not
    values: dict[str, Any] = {}
    code = shell.transform_cell(body)  # type: ignore[no-untyped-call]
    exec(compile(code, "<%%notebook cell>", "exec", dont_inherit=True), shell.user_ns, values)
    for i in range(len(cells) + 1):
        if i == at:
            shell.user_ns.update(values)
        if i == len(cells):
            break
        result = shell.run_cell(cells[i].source, store_history=False)  # type: ignore[no-untyped-call]
        if not result.success:
            error = result.error_in_exec or result.error_before_exec
            raise KfpJupyterError(
                f"notebook {parsed.settings.notebook}, cell {cells[i].index} failed"
                + (f": {type(error).__name__}: {error}" if error is not None else "")
            )


def _write_inputs(
    step: Any, pipeline: Any, user_ns: dict[str, Any], folder: Path
) -> dict[str, str]:
    """Each input's folder, holding the kernel variable written as the pipeline's export of it."""
    exports = {e.name: e for s in pipeline.steps for e in s.exports}
    export = _runtime()["_kfpj_export"]
    inputs: dict[str, str] = {}
    for i in step.inputs:
        e = exports[i.name]
        path = folder / i.name / i.name
        try:
            export(step.name, e.variable, user_ns[e.variable], e.format, e.type, str(path))
        except RuntimeError as err:  # the runtime's own error, which says how to fix it
            raise KfpJupyterError(str(err)) from None
        inputs[i.name] = str(folder / i.name)
    return inputs


def _check_can_run(step: Any, host_exec: bool) -> None:
    """Say plainly what is missing when the step can run neither in its image nor here."""
    from ..components.local import detect_runtime

    if host_exec or detect_runtime() is not None:
        return
    raise KfpJupyterError(
        f"it runs in the image {step.image}, which needs Docker or Podman, and neither answers "
        "here; install one, or allow running its command on this machine (the image ignored) "
        "with %env KFPJ_HOST_EXEC=1"
    )


def _output_values(step: Any, written: dict[str, str]) -> dict[str, object]:
    """Outputs as a later Python step gets them: a file as its path, a value typed."""
    call = step.component
    read_value = _runtime()["_kfpj_value"]
    values: dict[str, object] = {}
    for name, path in written.items():
        out = call.spec.output(call.key(name))
        values[name] = path if out.passing == "path" else read_value(path, out.value_type)
    return values


def _shown(name: str, value: object, step: Any) -> str:
    if step.output_kind(name) == "path":
        return f"{name} (a file)"
    return f"{name} = {value!r}"


@functools.cache
def _runtime() -> dict[str, Any]:
    """The step runtime's export and read functions: what step programs use, not a copy."""
    from ..packaging.program import inner_runtime, outer_runtime

    ns: dict[str, Any] = {}
    text = inner_runtime("save", "export") + "\n\n" + outer_runtime()
    exec(compile(text, "<kfp-jupyter step runtime>", "exec"), ns)
    return ns


@functools.cache
def _session_dir() -> Path:
    """One scratch folder per kernel: outputs stay while later cells read their paths."""
    folder = Path(tempfile.mkdtemp(prefix="kfpj-cells-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def resource_note(parsed: MagicLine, body: str) -> str:
    """What a %%resource cell does in the kernel: nothing, said plainly (never fails the cell)."""
    from ..components.steps import StepBodyError, parse_resource_body

    action = parsed.settings.resource
    try:
        r = parse_resource_body(body, action or "apply", parsed.settings.image)
        what = f"kubectl {r.action} {r.kind}/{r.name}"
    except StepBodyError as e:
        what = f"kubectl {action} (its manifest has a problem: {e.message})"
    return (
        f"%%resource {parsed.step}: not applied from the notebook; the pipeline runs {what} "
        "on its cluster"
    )


def load_ipython_extension(ip: InteractiveShell) -> None:
    ip.register_magics(KfpMagics)


def unload_ipython_extension(ip: InteractiveShell) -> None:
    # IPython has no public way to unregister magics; re-loading replaces them.
    pass
