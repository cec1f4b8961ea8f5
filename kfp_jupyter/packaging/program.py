"""Package a step as one self-contained Python function (func_to_container_op style).

The same function body serves every target: as a KFP lightweight component (KFP's executor calls
it with artifact objects), and as a plain program for Argo and the local engine (a small main calls
it with look-alike objects). What runs on this machine is therefore what runs on the cluster.
"""

from __future__ import annotations

import io
import keyword
import re
import tokenize
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from ..model import NOTEBOOK_OUTPUT, NotebookCall, Pipeline, Step, function_name

INDENT = "    "


@cache
def _runtime_section(name: str, file: str = "stepruntime.py") -> str:
    text = resources.files(__package__).joinpath(file).read_text(encoding="utf-8")
    start = text.index(f"# --- {name}: start")
    start = text.index("\n", start) + 1
    end = text.index(f"# --- {name}: end")
    return text[start:end].strip("\n") + "\n"


@cache
def notebook_runtime() -> str:
    """The code that executes a notebook step's notebook (notebookrun.py, between its markers)."""
    text = resources.files(__package__).joinpath("notebookrun.py").read_text(encoding="utf-8")
    start = text.index("\n", text.index("# --- notebook: start")) + 1
    return text[start : text.index("# --- notebook: end")].strip("\n") + "\n"


@cache
def _runtime_parts() -> dict[str, str]:
    parts: dict[str, str] = {}
    for chunk in _runtime_section("inner").split("# --- part: ")[1:]:
        name, _, code = chunk.partition("\n")
        parts[name.strip()] = code.strip("\n") + "\n"
    return parts


def inner_runtime(*parts: str) -> str:
    """The runtime parts a step needs (all of them when none are named)."""
    available = _runtime_parts()
    names = ["error", *(p for p in available if p != "error" and (not parts or p in parts))]
    return "\n\n".join(available[n] for n in names)


def outer_runtime() -> str:
    """The main of a plain step program, then its error reporting: always both, in this order,
    so each program stands alone and the same notebook compiles to the same bytes."""
    return _runtime_section("outer") + "\n\n" + _runtime_section("failure", "stepfailure.py")


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
            header
            + outer_runtime()
            + "\n\n"
            + self.plain_signature()
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
    parts = [
        _capture(args),
        _runtime(step, like),
        _section("parameters: numbers in lists and dicts arrive as floats from KFP", like),
        _section("imports", pipeline.imports),
        _section("imports from earlier steps", step.extra_imports),
        _section("kernel builtins outside a kernel", _kernel_shims(pipeline, step)),
        _section("functions", pipeline.functions),
        _section("inputs", _loads(step.name, args)),
        _section(f"step {step.name}", step.source),
        _section("outputs", _saves(step)),
    ]
    return StepProgram(step, python_name(step.name), tuple(args), _function_body(parts))


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


def _runtime(step: Step, like: str) -> str:
    """The section of the runtime parts the step uses ("" if none)."""
    needed = [
        p
        for p, used in (
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
        inner_runtime(*needed),
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
    parts = [
        _notebook_capture(step, args, arg_of.get(("metrics", "metrics"))),
        _section(
            "kfp-jupyter runtime: executes the notebook in a kernel",
            inner_runtime("error", *needed) + "\n\n" + notebook_runtime(),
        ),
        _section("parameters: numbers in lists and dicts arrive as floats from KFP", like),
        _section(f"notebook {call.path}", _notebook_run(step, call, arg_of)),
    ]
    body = "\n".join(indent_code(p) for p in parts if p).rstrip("\n") + "\n"
    return StepProgram(step, python_name(step.name), tuple(args), body)


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
        "load": inner_runtime("load") if step.inputs else "",
        "save": inner_runtime("save") if call.variables or step.metrics else "",
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


def _string_continuation_lines(code: str) -> set[int]:
    """1-based numbers of lines that lie inside a multi-line string (indenting them would change it)."""
    rows: set[int] = set()
    # no string can span lines: skip tokenizing (much of packaging a large notebook)
    if '"""' not in code and "'''" not in code and "\\\n" not in code:
        return rows
    kinds = {tokenize.STRING} | {
        getattr(tokenize, "FSTRING_MIDDLE", -1),
        getattr(tokenize, "TSTRING_MIDDLE", -1),
    }
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type in kinds and tok.end[0] > tok.start[0]:
                rows.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return rows


@lru_cache(maxsize=4096)
def indent_code(code: str) -> str:
    """Indent code into a function body without changing the value of multi-line strings."""
    keep = _string_continuation_lines(code)
    out = []
    for i, line in enumerate(code.split("\n"), start=1):
        out.append(line if (i in keep or not line.strip()) else INDENT + line)
    return "\n".join(out)
