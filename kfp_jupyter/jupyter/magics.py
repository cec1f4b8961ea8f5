"""IPython magics: `%load_ext kfp_jupyter`.

The cell magics of the annotation grammar (`%%step`, `%%imports`, `%%functions`,
`%%pipeline_parameters`, `%%pipeline_metrics`, `%%skip`) only annotate: run interactively, each
executes its cell body in the user namespace exactly as if the magic line were absent (`%%skip`
too: skip means "not in the pipeline", not "not run"), so the notebook still works top to bottom.
Their options are checked with the same grammar the compiler uses; a bad line is a one-line usage
error and the cell does not run.

`%kfp show|compile|run|inputs|submit [NOTEBOOK] [options]` act on the current notebook with the CLI's
options. `%kfp run` never runs steps in the kernel: the local engine runs them in processes, and
the widget follows the run from background threads, so the kernel stays responsive.

What `%kfp` accepts is declared in kfp_args.py; how an annotated cell runs in the kernel is in
cells.py. This module only binds them to IPython's magics.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from ..errors import KfpJupyterError, NotebookError, install_extra
from ..frontends.options import (
    CONNECTION_OPTIONS,
    RUN_OPTIONS,
    SUBMIT_OPTIONS,
    api_keywords,
    check_submit_options,
    compile_output,
    compiled_summary,
    notebook_warnings,
    run_warnings,
)
from ..notebook.magic_lines import MagicUsageError, parse_magic_line, step_usage
from ..notebook.roles import step_name_problem
from .cells import resource_note, run_cell_body, run_notebook_cell, run_step_cell
from .kfp_args import HelpPrinted, kfp_parser, param_values

__all__ = ["KfpMagics", "kfp_parser", "load_ipython_extension", "unload_ipython_extension"]


def _one_line(e: MagicUsageError) -> str:
    """Every problem of the line, then the fix where one is known (as a compile says it), else
    the usage line."""
    said = "; ".join(p.message for p in (e, *e.also))
    if e.fix:
        return f"{said} (fix: {e.fix})"
    return said + (f" (usage: {e.usage})" if e.usage else "")


def _widget_available() -> bool:
    try:
        import anywidget  # noqa: F401
    except ImportError:
        return False
    return True


def _annotation(magic: str, doc: str) -> Any:
    """The cell magic `%%magic` of the annotation grammar: they differ in their name and help
    only, each running its cell as if the magic line were absent (KfpMagics._annotated)."""

    def annotated(self: KfpMagics, line: str, cell: str | None = None) -> Any:
        __tracebackhide__ = True
        return self._annotated(magic, line, cell)

    annotated.__name__ = magic  # the name IPython registers the magic under
    annotated.__qualname__ = f"KfpMagics.{magic}"
    annotated.__doc__ = doc
    return cell_magic(annotated)


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
        return run_cell_body(self.shell, cell or "", f"%%{magic} {line}".rstrip())

    step = _annotation(
        "step",
        """%%step NAME [--after A B] [--image REF] [--packages a,b] [--gpu N] [--cpu N]
        [--memory 4Gi] [--retries N] [--timeout S] [--no-cache] ...: this cell is (part of) a
        pipeline step. Runs the cell as it is.""",
    )
    imports = _annotation(
        "imports", "%%imports: the imports every step starts with. Runs the cell as it is."
    )
    functions = _annotation(
        "functions",
        "%%functions: functions and classes every step can use. Runs the cell as it is.",
    )
    pipeline_parameters = _annotation(
        "pipeline_parameters",
        "%%pipeline_parameters: literals that become typed pipeline parameters.",
    )
    pipeline_metrics = _annotation(
        "pipeline_metrics",
        "%%pipeline_metrics: the names whose values become the pipeline's metrics.",
    )
    skip = _annotation(
        "skip",
        "%%skip: not part of the pipeline (still runs here, so the notebook works as before).",
    )

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
        """%kfp show|compile|run|inputs|submit [NOTEBOOK] [options]: act on the current notebook.

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
        %kfp [COMMAND] --help: the usage (of COMMAND), as the command line's --help
        """
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise IPythonUsageError(f"%kfp: {e}") from None
        if not words:
            raise IPythonUsageError(kfp_parser().format_help())
        try:
            args = kfp_parser().parse_args(["--help"] if words == ["help"] else words)
        except HelpPrinted:
            return None
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
        from ..engine.store import open_store
        from .widget import PipelineWidget

        on_cluster = args.engine not in (None, "local") or (args.engine is None and args.target)
        given = api_keywords(CONNECTION_OPTIONS, vars(args))
        if given and not on_cluster:  # else they would be dropped, and a local run looked for
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise KfpJupyterError(
                f"%kfp show: {flags} say where a cluster run is: add --engine kfp|argo (or "
                "--target NAME) to follow --run there"
            )
        # --store names runs to show: one without a history is a mistake, never a new store
        store = None if args.store is None else open_store(args.store, create=False)
        w = PipelineWidget(self._notebook(args.notebook), store=store)
        if args.run and not on_cluster:
            w.attach(args.run, store=store)
        elif args.run:
            w.attach(args.run, engine=args.engine, **given)
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
        """As `kfp-jupyter compile`, by the same code: `-o -` prints the pipeline."""
        from ..loader import load_notebook

        nb = self._notebook(args.notebook)
        pipeline = load_notebook(nb, pin_packages=args.pin_packages)
        _warn(notebook_warnings(pipeline))
        text, path = compile_output(pipeline, args.target, args.output, nb, args.kfp_runtime)
        if path is None:
            sys.stdout.write(text)
        else:
            print(compiled_summary(path, args.target, pipeline))

    def _kfp_run(self, args: argparse.Namespace) -> Any:
        from ..engine.api import run_local
        from ..loader import load_notebook

        values = param_values(args.params)
        nb = self._notebook(args.notebook)
        pipeline = load_notebook(nb, pin_packages=args.pin_packages)
        _warn(run_warnings(pipeline))
        options = api_keywords(RUN_OPTIONS, vars(args))
        handle = run_local(pipeline, values, **options)
        return self._follow(nb, handle, args.wait, args.store)

    def _kfp_submit(self, args: argparse.Namespace) -> Any:
        from ..cluster import submit, submittable
        from ..cluster.submitted import record

        check_submit_options(args.schedule, args.wait)  # before anything is sent, as the CLI
        nb = self._notebook(args.notebook)
        what = submittable(Path(nb), args.pin_packages)
        _warn(notebook_warnings(what))
        options = api_keywords(SUBMIT_OPTIONS, vars(args))
        handle = submit(what, params=param_values(args.params), **options)
        record(nb, handle)  # for the JupyterLab panel of the notebook
        recurring = getattr(getattr(handle, "info", None), "kind", "run") == "recurring"
        url = getattr(handle, "url", None)
        label = "recurring run" if recurring else "run"
        print(f"submitted {handle.engine} {label} {handle.run_id}" + (f": {url}" if url else ""))
        for note in getattr(handle, "notes", []) or []:
            print(f"  {note}")
        if recurring:
            return None
        return self._follow(nb, handle, args.wait, None, engine=handle.engine)

    def _follow(
        self, notebook: str, handle: Any, wait: bool, store: Any, engine: str = "local"
    ) -> Any:
        """Show the run: as the command line does in a terminal, else in the widget, else (no
        anywidget) as lines of text. A local run is always waited for without the widget; a
        cluster run only with --wait (its URL was printed)."""
        if _in_terminal(self.shell):
            if engine == "local":
                return _follow_in_text(handle)
            return _follow_cluster_in_text(handle) if wait else None
        if not _widget_available():
            if engine != "local" and not wait:
                return None
            return _print_progress(handle, engine)
        from .widget import PipelineWidget

        w = PipelineWidget(notebook, store=store)
        if not wait:
            w.follow(handle, engine=engine)
            return w
        return _wait_in_widget(w, handle, engine)


def _wait_in_widget(w: Any, handle: Any, engine: str) -> None:
    """--wait: the widget follows the run while the cell waits for its end. Interrupted, a
    local run is cancelled (as Ctrl-C cancels `kfp-jupyter run`); a cluster run goes on, and the
    widget goes on following it: only the cell stops waiting."""
    from IPython.display import display

    try:  # the run is followed from here on: an interrupt at any point of it is caught
        w.follow(handle, engine=engine)
        display(w)  # type: ignore[no-untyped-call]
        run = w.wait()
    except KeyboardInterrupt:
        if engine != "local":
            print(
                f"stopped waiting; the run goes on in the cluster: {handle.url} "
                "(the widget above still follows it)",
                file=sys.stderr,
            )
            return
        handle.cancel()
        run = w.wait(30)
    print(
        f"run {run.get('id')}: {run.get('state')}"
        + (f" ({run['message']})" if run.get("message") else "")
    )


def _warn(warnings: list[str]) -> None:
    """Warnings as the command line shows them: on stderr, before anything is done."""
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


def _print_progress(handle: Any, engine: str) -> None:
    """Without the widget, the run's progress as lines, until it ends. Interrupted, a local run
    is cancelled; a cluster run goes on (following it stops)."""
    try:
        for ev in handle.events():
            if getattr(ev, "kind", None) == "task":
                print(f"{ev.step}: {ev.state}" + (f" ({ev.message})" if ev.message else ""))
            elif getattr(ev, "kind", None) == "run":
                print(f"run {ev.run_id}: {ev.state}" + (f" ({ev.message})" if ev.message else ""))
    except KeyboardInterrupt:
        if engine != "local":
            _stopped_following(handle)
            return
        handle.cancel()
        print("cancelled", file=sys.stderr)


def _stopped_following(handle: Any) -> None:
    """Ctrl-C while a cluster run is followed: stop following, as `kfp-jupyter submit --wait`
    does; the run is left to the cluster, and where to see it is said."""
    handle.stop_following()
    print(f"stopped following; the run goes on in the cluster: {handle.url}", file=sys.stderr)


def _in_terminal(shell: InteractiveShell | None) -> bool:
    """Whether the shell is IPython in a terminal, which draws a widget as its repr: the run is
    then shown as `kfp-jupyter run` shows it. (Not loaded, it cannot be the shell's class.)"""
    module = sys.modules.get("IPython.terminal.interactiveshell")
    return module is not None and isinstance(shell, module.TerminalInteractiveShell)


def _follow_in_text(handle: Any) -> None:
    """`kfp-jupyter run`'s progress and summary (the run's state, metrics, what to type next).
    A terminal shell runs one cell at a time, so this waits, --wait or not; Ctrl-C cancels."""
    from ..engine.progress import follow, print_summary

    live = sys.stdout.isatty()
    try:
        view = follow(handle.events(), sys.stdout, live)
        handle.wait()
    except KeyboardInterrupt:
        handle.cancel()
        print("cancelled", file=sys.stderr)
        return
    for note in handle.notes:
        print(f"warning: {note}", file=sys.stderr)
    print_summary(view, handle.store.describe(), sys.stdout, live)


def _follow_cluster_in_text(handle: Any) -> None:
    """`kfp-jupyter submit --wait`'s progress and summary. Interrupting stops following only:
    the run goes on in the cluster."""
    from rich.console import Console

    from ..frontends.cluster_text import follow_cluster_run, print_cluster_summary

    began = time.time()
    console = Console(highlight=False, soft_wrap=False)
    try:
        view = follow_cluster_run(handle, console)
        handle.wait()
    except KeyboardInterrupt:
        _stopped_following(handle)
        return
    print_cluster_summary(handle, view, began, Console(highlight=False, soft_wrap=True))


def load_ipython_extension(ip: InteractiveShell) -> None:
    ip.register_magics(KfpMagics)


def unload_ipython_extension(ip: InteractiveShell) -> None:
    # IPython has no public way to unregister magics; re-loading replaces them.
    pass
