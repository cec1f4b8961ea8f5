"""Package a step as one self-contained Python function (func_to_container_op style).

The same function body serves every target: as a KFP lightweight component (KFP's executor calls
it with artifact objects), and as a plain program for Argo and the local engine (a small main calls
it with look-alike objects). What runs on this machine is therefore what runs on the cluster.
"""

from __future__ import annotations

import ast
import keyword
import re
import symtable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from ..model import NOTEBOOK_OUTPUT, PYTHON_BUILTINS, NotebookCall, Pipeline, Step, function_name
from .runtime_text import (
    INDENT,
    SURE_BUILTINS,
    from_builtins,
    indent_code,
    inner_parts,
    notebook_runtime,
    outer_runtime,
    shielded_runtime,
)


def python_name(step_name: str) -> str:
    """The name of a step's function (model.function_name)."""
    return function_name(step_name)


@dataclass(frozen=True)
class Arg:
    """One argument of a step function: what it is, its Python name and the pipeline name it serves."""

    #: "parameter" | "input" (a saved variable) | "path" (a component's file) | "value" (a component's
    #: value) | "output" | "export" (a file for a component) | "export_value" | "metrics"
    kind: str
    arg: str  # the Python argument name (and the KFP input/output name)
    name: str  # the parameter or variable it carries
    type: str = ""  # parameter type


@dataclass(frozen=True)
class StepProgram:
    step: Step
    function: str
    args: tuple[Arg, ...]
    body: str
    #: the body's runtime section before it was indented into the body ("" if it has none): the
    #: same text in every step that uses the same runtime parts
    runtime: str = ""

    @property
    def metrics_arg(self) -> str | None:
        for a in self.args:
            if a.kind == "metrics":
                return a.arg
        return None

    def kfp_signature(self) -> str:
        parts = []
        for a in self.args:
            if a.kind in ("parameter", "value"):
                parts.append(f"{a.arg}: {a.type}")
            elif a.kind in ("input", "path"):
                parts.append(f"{a.arg}: Input[Artifact]")
            elif a.kind in ("output", "export"):
                parts.append(f"{a.arg}: Output[Artifact]")
            elif a.kind == "export_value":
                parts.append(f"{a.arg}: OutputPath({a.type})")
            else:
                parts.append(f"{a.arg}: Output[Metrics]")
        return _wrap_signature(self.function, parts)

    @property
    def uses_output_path(self) -> bool:
        return any(a.kind == "export_value" for a in self.args)

    def plain_signature(self) -> str:
        return _wrap_signature(self.function, [a.arg for a in self.args])

    def kfp_function(self) -> str:
        return self.kfp_signature() + self.body

    def plain_program(self, header: str = "") -> str:
        """A runnable program: `python step.py ARGS.json` (local engine) or env + fixed paths (Argo)."""
        return header + outer_runtime() + "\n\n" + self._plain_function

    def shared_runtime(self) -> tuple[str, str]:
        """The runtime the plain program carries that steps share (the main and error report
        before the function; the body's runtime section, unindented), each whole code: a scan of
        many steps' programs can read it once."""
        return outer_runtime(), self.runtime

    def own_code(self) -> str:
        """The plain program without `shared_runtime()`: what differs from step to step. The
        runtime is whole statements at the level it is cut from, and it is cut at line ends: where
        this code parses, the plain program parses into the same statements and the runtime's,
        and its words are the program's with the runtime's."""
        function = self._plain_function
        if not self.runtime:
            return function
        return function.replace(indent_code(self.runtime), "", 1)

    @cached_property
    def _plain_function(self) -> str:
        """The plain program after the outer runtime: the step's function and the main call."""
        params = {a.arg: (a.name, a.type) for a in self.args if a.kind == "parameter"}
        inputs = {a.arg: a.name for a in self.args if a.kind == "input"}
        outputs = {a.arg: a.name for a in self.args if a.kind == "output"}
        extra = ""
        files = {a.arg: a.name for a in self.args if a.kind == "path"}
        values = {a.arg: (a.name, a.type) for a in self.args if a.kind == "value"}
        exports = {
            a.arg: (a.name, a.kind == "export_value")
            for a in self.args
            if a.kind in ("export", "export_value")
        }
        if files or values or exports:
            extra = f", {files!r}, {values!r}, {exports!r}"
        return (
            self.plain_signature()
            + self.body
            + '\n\nif __name__ == "__main__":\n'
            + f"{INDENT}_kfpj_main({self.function}, {params!r}, {inputs!r}, {outputs!r}, {self.metrics_arg!r}{extra})\n"
        )


def _wrap_signature(function: str, parts: list[str]) -> str:
    one = f"def {function}({', '.join(parts)}):\n"
    if len(one) <= 100:
        return one
    return f"def {function}(\n" + "".join(f"{INDENT}{p},\n" for p in parts) + "):\n"


def unique_identifier(name: str, taken: set[str]) -> str:
    """`name`, or it with `_` added until it is neither taken nor a Python keyword (it is then
    taken): for names in generated Python."""
    while name in taken or keyword.iskeyword(name):
        name += "_"
    taken.add(name)
    return name


def _section(title: str, code: str) -> str:
    code = code.strip("\n")
    if not code.strip():
        return ""
    return f"# --- {title}\n{code}\n"


def build_program(pipeline: Pipeline, step: Step) -> StepProgram:
    if step.kind == "notebook":
        return _notebook_program(pipeline, step)
    if step.kind != "python":
        raise ValueError(
            f"step {step.name!r} is a {step.kind} step, not Python: it has no step program "
            "(kfp_jupyter.components.local runs it on this machine)"
        )
    args = _python_args(pipeline, step)
    like = _like(pipeline, args)
    as_main = _as_main(pipeline)
    runtime = _runtime(step, like, as_main)
    parts = [
        _capture(args),
        runtime,
        _section("parameters: numbers in lists and dicts arrive as floats from KFP", like),
        _section(_NAMESPACE, _namespace(pipeline, step, args)),
        _section("imports", pipeline.imports),
        _section("imports from earlier steps", step.extra_imports),
        _section("kernel builtins outside a kernel", _kernel_shims(pipeline, step)),
        _section("functions", pipeline.functions),
        _section(_AS_MAIN, as_main),
        _section("inputs", _loads(step.name, args)),
        _section(f"step {step.name}", step.source),
        _section("outputs", _saves(step)),
    ]
    return StepProgram(step, python_name(step.name), tuple(args), _function_body(parts), runtime)


_NAMESPACE = (
    'as in a notebook: __name__ is "__main__", a builtin is the builtin until the code sets it'
)
_AS_MAIN = "classes as a notebook has them (__main__.NAME): a value holding one goes by reference"


def _namespace(pipeline: Pipeline, step: Step, args: list[Arg]) -> str:
    """The step function's names as a kernel has them before the step's code runs: `__name__`
    is "__main__" (an `if __name__ == "__main__":` block runs, as in the notebook), and a
    builtin's name that the code binds (`sum = sum(values)`, an input named `type`) is the
    builtin until it does. A kernel's global falls back to the builtin; a function's local is
    unbound before it is set, and the step's code runs as a function."""
    codes = (pipeline.imports, step.extra_imports, pipeline.functions, step.source)
    bound = set().union(*(_builtins_bound(code) for code in codes))
    bound |= {n for a in args if a.kind != "parameter" for n in (a.arg, a.name)}
    bound -= {a.arg for a in args if a.kind == "parameter"}  # they hold the parameter's value
    text = '__name__ = "__main__"\n'
    names = sorted(bound & SURE_BUILTINS)
    return text + from_builtins(names) if names else text


@lru_cache(maxsize=4096)
def _builtins_bound(code: str) -> frozenset[str]:
    """The builtins' names `code` binds at its top level (assigns, imports, defines, deletes or
    annotates): in a step, locals of its function. Cached: the shared cells are every step's."""
    if not SURE_BUILTINS.intersection(re.findall(r"\w+", code)):
        return frozenset()
    try:
        table = symtable.symtable(code, "<cell>", "exec")
    except (SyntaxError, ValueError):
        return frozenset()
    return frozenset(
        s.get_name()
        for s in table.get_symbols()
        if (s.is_assigned() or s.is_imported()) and s.get_name() in SURE_BUILTINS
    )


def _as_main(pipeline: Pipeline) -> str:
    """The call that names the imports and functions cells' classes as a notebook does."""
    names = _main_names(pipeline.imports, plain_ok=True) + _main_names(pipeline.functions)
    names = tuple(dict.fromkeys(n for n in names if n not in PYTHON_BUILTINS))
    if not names:
        return ""
    one = f"_kfpj_as_main({names!r})\n"
    if len(one) <= 96:
        return one
    return (
        "_kfpj_as_main(\n    (\n" + "".join(f"{INDENT * 2}{n!r},\n" for n in names) + "    )\n)\n"
    )


@lru_cache(maxsize=64)
def _main_names(code: str, *, plain_ok: bool = False) -> tuple[str, ...]:
    """The classes (and functions) `code` defines at its top level, also under an if, try or with.
    A plain function of the functions cell (undecorated, at the cell's top level) is left out
    unless `plain_ok`: it goes by value, as the cache key of a step holds only the plain functions
    its code calls (engine/cache.py functions_in_key), not those a value it loads would call."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return ()
    found: list[str] = []
    for node in _top_level(tree.body):
        if isinstance(node, ast.ClassDef):
            found.append(node.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            plain = node in tree.body and not node.decorator_list
            if plain_ok or not plain:
                found.append(node.name)
    return tuple(n for n in found if not n.lower().startswith("_kfpj"))


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of `body` and of the blocks in it that run at the same level (if, try,
    with, for, while, match), not those in a function or class."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                out += _top_level([n for n in inner if isinstance(n, ast.stmt)])
        for block in (*getattr(node, "handlers", ()), *getattr(node, "cases", ())):
            out += _top_level(block.body)
    return out


def _parameter_args(pipeline: Pipeline, step: Step) -> list[Arg]:
    types = {p.name: p.type for p in pipeline.parameters}
    return [Arg("parameter", p, p, types[p]) for p in step.parameters]


def _metrics_arg(step: Step, taken: set[str]) -> list[Arg]:
    """The argument that takes the step's metrics, named apart from every other one."""
    if not step.metrics:
        return []
    return [Arg("metrics", unique_identifier("metrics", taken | set(step.input_names)), "metrics")]


def _python_args(pipeline: Pipeline, step: Step) -> list[Arg]:
    """A Python step's arguments: parameters, inputs (renamed where they clash with a parameter
    or an output), outputs as the kind of file each is saved as, and metrics."""
    taken: set[str] = set(step.parameters) | set(step.outputs)
    args = _parameter_args(pipeline, step)
    input_kind = {"variable": "input", "path": "path", "value": "value"}
    for i in step.inputs:
        arg = (
            i.name
            if i.name not in step.outputs and i.name not in step.parameters
            else unique_identifier(i.name + "_in", taken)
        )
        taken.add(arg)
        args.append(Arg(input_kind[i.kind], arg, i.name, i.type or ""))
    for o in step.outputs:
        e = step.export(o)
        if e is None:
            args.append(Arg("output", o, o))
        elif e.format == "value":
            args.append(Arg("export_value", o, o, e.type or "str"))
        else:
            args.append(Arg("export", o, o))
    return args + _metrics_arg(step, taken)


def _capture(args: list[Arg]) -> str:
    """The body's first lines: the arguments' paths and values, by the names the runtime uses,
    whatever each argument is called."""
    io_in = ", ".join(f"{a.name!r}: {a.arg}.path" for a in args if a.kind == "input")
    io_out = ", ".join(f"{a.name!r}: {a.arg}.path" for a in args if a.kind == "output")
    io_files = ", ".join(f"{a.name!r}: {a.arg}.path" for a in args if a.kind == "path")
    io_values = ", ".join(f"{a.name!r}: {a.arg}" for a in args if a.kind == "value")
    io_exports = ", ".join(
        f"{a.name!r}: {a.arg}" + (".path" if a.kind == "export" else "")
        for a in args
        if a.kind in ("export", "export_value")
    )
    capture = ""
    for variable, items in (
        ("_kfpj_in", io_in),
        ("_kfpj_out", io_out),
        ("_kfpj_files", io_files),
        ("_kfpj_values", io_values),
        ("_kfpj_exports", io_exports),
    ):
        if items:
            capture += f"{variable} = {{{items}}}\n"
    metrics_arg = next((a.arg for a in args if a.kind == "metrics"), None)
    if metrics_arg:
        capture += f"_kfpj_metrics = {metrics_arg}\n"
    return capture


def _like(pipeline: Pipeline, args: list[Arg]) -> str:
    """Give list and dict parameters back the number types of their defaults (KFP passes JSON
    numbers as floats)."""
    return "".join(
        f"{a.arg} = _kfpj_like({a.arg}, {pipeline.parameter(a.name).default!r})\n"
        for a in args
        if a.kind == "parameter" and a.type in ("list", "dict")
    )


def _runtime(step: Step, like: str, as_main: str) -> str:
    """The section of the runtime parts the step uses ("" if none)."""
    needed = [
        p
        for p, used in (
            ("main", as_main),
            # exports share the JSON check of the save part
            ("save", [o for o in step.outputs if step.export(o) is None] + list(step.exports)),
            ("load", [i for i in step.inputs if i.kind == "variable"]),
            ("export", step.exports),
            ("like", like),
            ("metric", step.metrics),
        )
        if used
    ]
    if not needed:
        return ""
    return _section(
        "kfp-jupyter runtime: loads and saves the variables passed between steps",
        shielded_runtime(*inner_parts(*needed)),
    )


def _kernel_shims(pipeline: Pipeline, step: Step) -> str:
    """Kernel-only builtins: a step is a plain program, so give it stand-ins that behave
    sensibly."""
    shims = ""
    # the functions cell runs in every step, so a helper there may call them too
    code = f"{step.source}\n{pipeline.functions}"
    if re.search(r"\bdisplay\b", code) and "display" not in pipeline.imports:
        shims += "try:\n    from IPython.display import display\nexcept ImportError:\n    display = print\n"
    if re.search(r"\bget_ipython\b", code):
        shims += "def get_ipython():\n    return None  # steps run outside a kernel\n"
    return shims


def _loads(step_name: str, args: list[Arg]) -> str:
    return "".join(
        f"{a.name} = _kfpj_load({step_name!r}, {a.name!r}, _kfpj_in[{a.name!r}])\n"
        if a.kind == "input"
        else f"{a.name} = _kfpj_files[{a.name!r}]\n"
        if a.kind == "path"
        else f"{a.name} = _kfpj_values[{a.name!r}]\n"
        for a in args
        if a.kind in ("input", "path", "value")
    )


def _saves(step: Step) -> str:
    name = step.name
    saves = "".join(
        f"_kfpj_save({name!r}, {o!r}, {o}, _kfpj_out[{o!r}])\n"
        for o in step.outputs
        if step.export(o) is None
    )
    saves += "".join(
        f"_kfpj_export({name!r}, {e.variable!r}, {e.variable}, {e.format!r}, {e.type!r}, "
        f"_kfpj_exports[{e.name!r}])\n"
        for e in step.exports
    )
    saves += "".join(f"_kfpj_metric({name!r}, _kfpj_metrics, {m!r}, {m})\n" for m in step.metrics)
    return saves


def _function_body(parts: list[str]) -> str:
    """The sections (empty ones left out) indented into a function body."""
    body = "\n".join(indent_code(p) for p in parts if p)
    # End on a statement, not on comments or blank lines: then the function's text is exactly what
    # inspect.getsource finds, so the source the kfp target embeds is the source the kfp SDK would
    # embed for the `dsl` script's component (the two targets' IRs stay equal).
    lines = body.rstrip("\n").split("\n")
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("#")):
        lines.pop()
    return "\n".join(lines) + "\n" if lines else INDENT + "pass\n"


def _notebook_program(pipeline: Pipeline, step: Step) -> StepProgram:
    """A notebook step's function: the same arguments as a Python step's (parameters, saved
    variables in and out, metrics), and a body that executes the embedded notebook in a kernel."""
    call = step.notebook
    assert call is not None
    args = _notebook_args(pipeline, step)
    arg_of = {(a.kind, a.name): a.arg for a in args}
    like = _like(pipeline, args)
    needed = [p for p, used in (("like", like), ("metric", step.metrics)) if used]
    runtime = _section(
        "kfp-jupyter runtime: executes the notebook in a kernel",
        shielded_runtime(*inner_parts("error", *needed), notebook_runtime()),
    )
    parts = [
        _notebook_capture(step, args, arg_of.get(("metrics", "metrics"))),
        runtime,
        _section("parameters: numbers in lists and dicts arrive as floats from KFP", like),
        _section(f"notebook {call.path}", _notebook_run(step, call, arg_of)),
    ]
    body = "\n".join(indent_code(p) for p in parts if p).rstrip("\n") + "\n"
    return StepProgram(step, python_name(step.name), tuple(args), body, runtime)


def _notebook_args(pipeline: Pipeline, step: Step) -> list[Arg]:
    taken: set[str] = set(step.parameters) | set(step.outputs)
    args = _parameter_args(pipeline, step)
    for i in step.inputs:
        arg = i.name if i.name not in taken else unique_identifier(i.name + "_in", taken)
        taken.add(arg)
        args.append(Arg("input", arg, i.name))
    args += [Arg("output", o, o) for o in step.outputs]
    return args + _metrics_arg(step, taken)


def _notebook_capture(step: Step, args: list[Arg], metrics_arg: str | None) -> str:
    capture = ""
    if step.inputs:
        io_in = ", ".join(f"{a.name!r}: {a.arg}.path" for a in args if a.kind == "input")
        capture += f"_kfpj_in = {{{io_in}}}\n"
    io_out = ", ".join(f"{a.name!r}: {a.arg}.path" for a in args if a.kind == "output")
    capture += f"_kfpj_out = {{{io_out}}}\n"
    if metrics_arg:
        capture += f"_kfpj_metrics = {metrics_arg}\n"
    return capture


def _notebook_run(step: Step, call: NotebookCall, arg_of: dict[tuple[str, str], str]) -> str:
    """The call of the notebook runtime: the notebook's text, the values and variables it is
    given, and the metrics it gives back."""
    code = {
        "load": shielded_runtime(*inner_parts("load")) if step.inputs else "",
        "save": shielded_runtime(*inner_parts("save")) if call.variables or step.metrics else "",
    }
    values = ", ".join(
        f"{a.input!r}: {a.value!r}"
        if a.kind == "literal"
        else f"{a.input!r}: {arg_of[('parameter', a.name)]}"
        for a in call.arguments
        if a.kind != "artifact"
    )
    inputs = ", ".join(
        f"{a.input!r}: ({a.name!r}, _kfpj_in[{a.name!r}])"
        for a in call.arguments
        if a.kind == "artifact"
    )
    outputs = ", ".join(f"{v!r}: _kfpj_out[{v!r}]" for v in call.variables)
    run = (
        f"_kfpj_notebook = {call.source!r}\n"
        f"_kfpj_code = {code!r}\n"
        f"_kfpj_got = _kfpj_run_notebook(\n"
        f"    {step.name!r},\n"
        f"    {call.path!r},\n"
        f"    _kfpj_notebook,\n"
        f"    {{{values}}},\n"
        f"    {{{inputs}}},\n"
        f"    {{{outputs}}},\n"
        f"    {list(step.metrics)!r},\n"
        f"    _kfpj_out[{NOTEBOOK_OUTPUT!r}],\n"
        f"    _kfpj_code,\n"
        f")\n"
    )
    return run + "".join(
        f"_kfpj_metric({step.name!r}, _kfpj_metrics, {m!r}, _kfpj_got[{m!r}])\n"
        for m in step.metrics
    )
