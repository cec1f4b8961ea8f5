"""Annotated cells run in the kernel as the pipeline would run them, so a notebook still works top
to bottom: a Python cell's body as a cell of its own, a component or container cell's command on
the kernel's variables, a notebook cell's notebook in this kernel, a resource cell never (it would
change a cluster). Kept apart from the magics, which only parse their lines and call these."""

from __future__ import annotations

import ast
import atexit
import dataclasses
import functools
import io
import keyword
import os
import re
import shutil
import tempfile
import types
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.interactiveshell import InteractiveShell

from ..errors import KfpJupyterError, NotebookError
from ..notebook.magic_lines import MagicLine, format_magic_line
from ..notebook.roles import Role


class CellSyntaxError(Exception):
    """A syntax error in an annotated cell's body, shown as a plain cell shows one: the cell's
    line, no frames. (IPython shows a SyntaxError raised inside a magic with the magic's own
    frames, so the error is carried by this exception, which renders itself.)"""

    def __init__(self, shell: InteractiveShell, error: SyntaxError) -> None:
        super().__init__(f"{error.msg} (line {error.lineno} of the cell)")
        self.shell = shell
        self.error = error

    def _render_traceback_(self) -> list[str]:
        """IPython's protocol for an exception that formats its own traceback."""
        stb: list[str] = self.shell.SyntaxTB.structured_traceback(
            type(self.error), self.error, None
        )
        return stb


def run_cell_body(shell: InteractiveShell | None, body: str, magic_line: str) -> Any:
    """Execute `body` in the user namespace as IPython would run it as a cell of its own.

    Other magics and `!commands` inside are transformed as usual; the last expression's value is
    returned (so IPython displays it as the cell's result, unless it ends with ';'); an exception
    propagates, so the cell fails as it would have without the magic line, and a syntax error
    fails it before any of it runs (CellSyntaxError). Errors name the lines of the cell, the
    `magic_line` above the body being its first.
    """
    __tracebackhide__ = True
    if shell is None:
        raise IPythonUsageError("kfp-jupyter magics need an IPython shell")
    code = "\n" + shell.transform_cell(body)  # type: ignore[no-untyped-call]
    filename = _register_source(shell, magic_line + code, magic_line + "\n" + body)
    flags = getattr(shell.compile, "flags", 0)
    try:
        tree = ast.parse(code, filename)
        last: ast.expr | None = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = tree.body.pop().value
        program = compile(tree, filename, "exec", flags=flags, dont_inherit=True)
        result = None
        if last is not None:
            result = compile(ast.Expression(last), filename, "eval", flags=flags, dont_inherit=True)
    except SyntaxError as e:
        raise CellSyntaxError(shell, e) from None
    ns_globals, ns_locals = shell.user_global_ns, shell.user_ns
    exec(program, ns_globals, ns_locals)
    if result is None:
        return None
    value = eval(result, ns_globals, ns_locals)
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
    from ..analysis.notebookstep import read_bounded, resolve_child_path, resolved

    assert parsed.settings.notebook is not None
    path = resolve_child_path(parsed.settings.notebook, str(Path.cwd() / "notebook.ipynb"))
    if not path.is_file():
        raise KfpJupyterError(f"notebook {parsed.settings.notebook!r} does not exist ({path})")
    target, depth = resolved(path), len(_RUNNING)
    # the outermost %%notebook cell is in the kernel's own notebook, when the front end says which
    running = _RUNNING[:] if depth else _own_notebook(shell)
    _refuse_a_loop(running, parsed.settings.notebook, target)
    try:
        child = read_bounded(path)
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
    # in the child's own folder, as the step's kernel starts there: its relative paths work alike
    back = os.getcwd()
    os.chdir(path.parent)
    _RUNNING[:] = [*running, target]
    try:
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
    finally:
        del _RUNNING[depth:]
        os.chdir(back)


#: the notebooks %%notebook cells are running in this kernel, the outermost first (after the
#: kernel's own notebook, when known): a cell of theirs running one again would never end
_RUNNING: list[Path] = []


def _refuse_a_loop(chain: list[Path], said: str, path: Path) -> None:
    """Refuse to run `path` when it is one of the notebooks running (`chain`: the kernel's own,
    then those its %%notebook cells run), saying so as the pipeline says it (the notebook of the
    refused cell being "this notebook"): it would run again and again, to Python's recursion
    limit."""
    from ..analysis.notebookstep import ITSELF, LOOP_ENDS, LOOP_FIX, way_back

    if path not in chain:
        return
    at = len(chain) - 1 - chain[::-1].index(path)
    loop = ITSELF if at == len(chain) - 1 else way_back(chain[at + 1 : -1], None)
    raise KfpJupyterError(f"notebook {said!r} {loop}: {LOOP_ENDS} (fix: {LOOP_FIX})")


def _own_notebook(shell: InteractiveShell) -> list[Path]:
    """The kernel's notebook, when the front end says which it is (no server is asked: a cell
    waits for none), read before any %%notebook cell moves to its notebook's folder."""
    from .notebook_path import NotebookNotFound, find_notebook

    try:
        return [find_notebook(shell.user_ns, use_server=False)]
    except NotebookNotFound:
        return []


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
    from ..packaging.runtime_text import inner_runtime, outer_runtime

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
