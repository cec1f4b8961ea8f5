"""Steps that are not Python code: component, container and resource cells.

Each is read into the names it reads and the names it defines, so the data-flow walk of
dataflow.py treats it like any step (edges, producers and errors come out the same way). Once the
walk knows who produces each name, `finish` decides how every value travels:

- a Python variable read by a component is written by its producer as a file in the component's
  declared format (an Export: CSV for a CSV input, or by the value's type: pandas -> CSV,
  numpy -> .npy, str -> text, builtins -> JSON), or as a value for a parameter-typed input;
- a component's output becomes a variable named by its KFP key (snake_case), or by the name the
  cell gives it (`train_stats = stats`, so one component can run in several steps); a Python step
  reads a file output as its path (a str) and a value output (Integer, ...) as the value itself.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ..errors import Problem
from ..model import Argument, ComponentCall, Export, Input, InputKind, Parameter
from .blocks import StepBlock, bound_value, name_assignment
from .names import BlockNames

# kfp_jupyter.components is imported where a component, container or resource step needs it: a
# notebook of Python steps (and every start of the command line) does without it
if TYPE_CHECKING:
    from ..components.spec import ComponentSpec, ValueType
    from ..components.steps import ContainerBody, Resource, StepBodyError
    from .notebookstep import NotebookStepRead

#: component input types (lower-cased) that say which file format a Python value is written in
FORMAT_OF_TYPE = {
    "csv": "csv",
    "tsv": "tsv",
    "json": "json",
    "jsonlines": "json",
    "text": "text",
    "txt": "text",
    "plaintext": "text",
    "npy": "npy",
    "numpy": "npy",
    "ndarray": "npy",
    "apacheparquet": "parquet",
    "parquet": "parquet",
}


@dataclass
class Binding:
    """What the notebook gives one component input: a literal, or a name (parameter/variable)."""

    input: str
    kind: Literal["literal", "name"]
    value: object = None
    name: str = ""
    line: int = 0


@dataclass
class Special:
    """A non-Python step, read: what it is and the names it reads and defines."""

    kind: str
    names: BlockNames = field(default_factory=BlockNames)
    spec: ComponentSpec | None = None
    source: str = ""
    bindings: dict[str, Binding] = field(default_factory=dict)
    #: outputs given another name: variable -> output key
    renames: dict[str, str] = field(default_factory=dict)
    body: ContainerBody | None = None
    resource: Resource | None = None
    image: str | None = None
    notebook: NotebookStepRead | None = None


@functools.lru_cache(maxsize=64)
def _fetch(url: str) -> ComponentSpec:
    """One fetch per URL per process: a notebook compiled on every save must not hit the network
    each time (the spec at a URL is taken as fixed, like a pinned dependency)."""
    from ..components.loader import load_component_from_url

    return load_component_from_url(url)


def load_spec(source: str, notebook: str | None) -> ComponentSpec:
    from ..components.loader import load_component_from_file

    if source.lower().startswith(("http://", "https://")):
        return _fetch(source)
    path = Path(source).expanduser()
    if not path.is_absolute() and notebook is not None:
        path = Path(notebook).parent / path
    return load_component_from_file(path)


def prepare(
    sb: StepBlock, notebook: str | None, params: dict[str, Parameter], problems: list[Problem]
) -> Special | None:
    """Read a non-Python step; None (with problems) if it cannot be read."""
    s = sb.settings
    kinds = [
        k
        for k, on in (
            ("component", s.component is not None),
            ("container", bool(s.container)),
            ("resource", s.resource is not None),
            ("notebook", s.notebook is not None),
        )
        if on
    ]
    if len(kinds) > 1:
        problems.append(
            Problem(
                f"the step is said to be a {' and a '.join(kinds)} step",
                cell=sb.first_cell,
                step=sb.name,
                fix="keep one of the annotations",
            )
        )
        return None
    kind = kinds[0]
    if s.outputs and kind != "notebook":
        problems.append(
            Problem(
                f"outputs: and --outputs name what a notebook step hands on; a {kind} step's "
                "outputs are its component's",
                cell=sb.first_cell,
                step=sb.name,
                fix="remove the outputs tag or --outputs",
            )
        )
    if kind == "notebook":
        from .notebookstep import prepare_notebook_step

        read = prepare_notebook_step(sb, notebook, problems)
        if read is None:
            return None
        return Special("notebook", names=read.names, image=s.image, notebook=read)
    if s.packages:
        problems.append(
            Problem(
                f"packages have no meaning for a {kind} step (it runs its own image)",
                cell=sb.first_cell,
                step=sb.name,
                fix="remove the packages tag or --packages",
            )
        )
    if kind == "component":
        assert s.component is not None
        return _component(sb, s.component, notebook, params, problems)
    if kind == "container":
        return _container(sb, problems)
    return _resource(sb, problems)


def _body_problem(sb: StepBlock, e: StepBodyError, what: str) -> Problem:
    cell, line = sb.code.locate(e.line) if e.line else (sb.first_cell, None)
    return Problem(f"{what}: {e.message}", cell=cell, step=sb.name, line=line, fix=e.fix)


def _component(
    sb: StepBlock,
    source: str,
    notebook: str | None,
    params: dict[str, Parameter],
    problems: list[Problem],
) -> Special | None:
    from ..components.loader import ComponentSpecError

    try:
        spec = load_spec(source, notebook)
    except ComponentSpecError as e:
        unreachable = any(w in str(e) for w in ("does not exist", "cannot", "is a folder"))
        problems.append(
            Problem(
                str(e),
                cell=sb.first_cell,
                step=sb.name,
                fix="check the component's path (relative to the notebook's folder) or URL"
                if unreachable
                else "correct the component spec where the message says, or use another one",
            )
        )
        return None
    sp = Special("component", spec=spec, source=source, image=sb.settings.image)
    bad = False
    tree = ast.parse(sb.code.code)
    keys = {i.key: i for i in spec.inputs}
    out_keys = {o.key for o in spec.outputs}
    for node in tree.body:
        cell, line = sb.code.locate(node.lineno)
        target, value = name_assignment(node)
        if target is None or value is None:
            problems.append(
                Problem(
                    "a component cell holds only 'input_name = value' lines, "
                    f"not {ast.unparse(node)!r}",
                    cell=cell,
                    step=sb.name,
                    line=line,
                    fix="compute values in a Python step before this one",
                )
            )
            bad = True
            continue
        key = target.id
        if key not in keys and isinstance(value, ast.Name) and value.id in out_keys:
            # `train_stats = stats`: the output `stats` becomes the variable `train_stats`
            if value.id in sp.renames.values() or key in sp.renames:
                problems.append(
                    Problem(
                        f"output {value.id!r} is given two names"
                        if value.id in sp.renames.values()
                        else f"{key!r} names two outputs",
                        cell=cell,
                        step=sb.name,
                        line=line,
                    )
                )
                bad = True
                continue
            sp.renames[key] = value.id
            continue
        if key not in keys:
            close = difflib.get_close_matches(key, list(keys), n=1)
            problems.append(
                Problem(
                    f"component {spec.name!r} has no input {key!r}",
                    cell=cell,
                    step=sb.name,
                    line=line,
                    fix=(f"did you mean {close[0]!r}? " if close else "")
                    + (f"its inputs are: {', '.join(keys)}" if keys else "it takes no inputs")
                    + (
                        f"; to name an output, write NEW_NAME = OUTPUT (outputs: "
                        f"{', '.join(sorted(out_keys))})"
                        if out_keys
                        else ""
                    ),
                )
            )
            bad = True
            continue
        if key in sp.bindings:
            problems.append(
                Problem(f"input {key!r} is given twice", cell=cell, step=sb.name, line=line)
            )
            bad = True
            continue
        bound = bound_value(value, f"input {key!r}", (cell, line), sb.name, problems)
        if bound is None:
            bad = True
        elif bound[0] == "name":
            sp.bindings[key] = Binding(key, "name", name=bound[1], line=node.lineno)
        else:
            sp.bindings[key] = Binding(key, "literal", value=bound[1], line=node.lineno)
    missing = [
        i.key
        for i in spec.inputs
        if not i.optional and not i.has_default and i.key not in sp.bindings
    ]
    if missing and not bad:  # after a line we could not read, what is missing is a guess
        problems.append(
            Problem(
                f"component {spec.name!r} needs the input{'s' if len(missing) > 1 else ''} "
                + ", ".join(repr(m) for m in missing),
                cell=sb.first_cell,
                step=sb.name,
                fix="assign "
                + ", ".join(f"{m} = ..." for m in missing)
                + " in the cell (a literal, a parameter or a variable of an earlier step)",
            )
        )
        bad = True
    for b in sp.bindings.values():
        i = spec.input(b.input)
        cell, line = sb.code.locate(b.line)
        if b.kind == "literal":
            why = (
                _literal_problem(b.value, i.value_type)
                if i.passing == "value"
                else (f"input {b.input!r} takes a file ({i.type or 'untyped'}), not a literal")
            )
            if why:
                problems.append(
                    Problem(
                        why,
                        cell=cell,
                        step=sb.name,
                        line=line,
                        fix="give a value of the input's type"
                        if i.passing == "value"
                        else "give it a variable that an earlier step defines",
                    )
                )
                bad = True
        elif b.name in params:
            p = params[b.name]
            if i.passing == "path":
                problems.append(
                    Problem(
                        f"input {b.input!r} takes a file ({i.type or 'untyped'}), but "
                        f"{b.name!r} is a pipeline parameter",
                        cell=cell,
                        step=sb.name,
                        line=line,
                        fix="give it a variable that an earlier step defines",
                    )
                )
                bad = True
            elif not _compatible(p.type, i.value_type):
                problems.append(
                    Problem(
                        f"input {b.input!r} is a {i.value_type} but parameter {b.name!r} is a "
                        f"{p.type}",
                        cell=cell,
                        step=sb.name,
                        line=line,
                        fix="change the parameter's value, or give the input another value",
                    )
                )
                bad = True
    if bad:
        return None
    reads = {b.name: b.line for b in sp.bindings.values() if b.kind == "name"}
    variable = {k: v for v, k in sp.renames.items()}
    defines = {variable.get(o.key, o.key): 1 for o in spec.outputs}
    sp.names = BlockNames(reads=reads, defines=defines)
    return sp


def _compatible(given: str, expected: ValueType | None) -> bool:
    return given == expected or (given == "int" and expected == "float")


def _literal_problem(value: object, vt: ValueType | None) -> str | None:
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "list": isinstance(value, list),
        "dict": isinstance(value, dict),
    }
    if vt is None or ok[vt]:
        return None
    return f"the input takes a {vt}, not {value!r}"


def _container(sb: StepBlock, problems: list[Problem]) -> Special | None:
    from ..components.steps import StepBodyError, parse_container_body

    try:
        body = parse_container_body(sb.code.code)
    except StepBodyError as e:
        problems.append(_body_problem(sb, e, "container cell"))
        return None
    image = sb.settings.image
    if not image:
        problems.append(
            Problem(
                "a container step needs an image",
                cell=sb.first_cell,
                step=sb.name,
                fix=f"%%container {sb.name} --image REF, or tag the cell 'image:REF'",
            )
        )
        return None
    sp = Special("container", body=body, image=image)
    sp.names = BlockNames(
        reads={n: 1 for n in body.reads()}, defines={n: 1 for n in body.outputs()}
    )
    return sp


def _resource(sb: StepBlock, problems: list[Problem]) -> Special | None:
    from ..components.steps import StepBodyError, parse_resource_body

    s = sb.settings
    assert s.resource is not None
    for what, said in (
        ("resource limits", s.limits),
        ("secrets", s.secrets),
        ("volumes", s.volumes),
    ):
        if said:
            problems.append(
                Problem(
                    f"{what} have no meaning for a resource step (it runs no step container)",
                    cell=sb.first_cell,
                    step=sb.name,
                    fix=f"remove the {what}",
                )
            )
    try:
        resource = parse_resource_body(sb.code.code, s.resource, s.image)
    except StepBodyError as e:
        problems.append(_body_problem(sb, e, "resource cell"))
        return None
    # the manifest as the cells hold it (without the "# cell N" lines that locate errors)
    manifest = "\n".join(part for _, part, _ in sb.code.parts).strip("\n") + "\n"
    return Special("resource", resource=dataclasses.replace(resource, manifest=manifest))


# --- after the walk: how each value travels --------------------------------------------------------


@dataclass
class Wiring:
    """What `finish` decides, for dataflow.py to build the Steps with."""

    inputs: dict[str, list[Input]]
    exports: dict[str, list[Export]]
    calls: dict[str, ComponentCall]


def _export_format(type_: str | None) -> str:
    from ..components.spec import canonical_type

    name = canonical_type(type_)
    return FORMAT_OF_TYPE.get(name.lower(), "auto") if name else "auto"


class _Wirer:
    """Decides, step by step, which artifact brings each name to a non-Python step."""

    def __init__(
        self,
        order: list[str],
        special: dict[str, Special],
        shared: set[str],
        taken: set[str],
        problems: list[Problem],
    ) -> None:
        self.special = special
        self.shared = shared
        self.taken = taken
        self.problems = problems
        self.exports: dict[str, list[Export]] = {n: [] for n in order}
        self.inputs: dict[str, list[Input]] = {n: [] for n in order}

    def export(self, producer: str, var: str, fmt: str, vt: ValueType | None) -> str:
        for e in self.exports[producer]:
            if e.variable == var and e.format == fmt and e.type == vt:
                return e.name
        name = f"{var}__{vt if fmt == 'value' else fmt}"
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        self.exports[producer].append(Export(name, var, fmt, vt))
        return name

    def add(self, step: str, new: Input) -> None:
        if new not in self.inputs[step]:
            self.inputs[step].append(new)

    def wire(
        self,
        sb: StepBlock,
        kind: str,
        found: dict[str, Input],
        var: str,
        passing: str,
        vt: ValueType | None,
        type_: str | None,
    ) -> tuple[str, ValueType | None] | None:
        """The artifact that brings `var` to step `sb` as `passing`, and its value type."""
        if var in self.shared and var not in found:
            self.problems.append(
                Problem(
                    f"{var!r} is defined in the imports or functions cells; a {kind} step "
                    "can be given only literals, pipeline parameters and variables of earlier "
                    "steps",
                    cell=sb.first_cell,
                    step=sb.name,
                    fix=f"assign {var!r} in an earlier Python step",
                )
            )
            return None
        src = found.get(var)
        if src is None:
            return None  # the walk has reported it
        up = self.special.get(src.producer)
        if up is not None and up.kind == "notebook":
            self.problems.append(
                Problem(
                    f"{var!r} is a variable of notebook step {src.producer!r}; a {kind} step "
                    "takes files and values, which Python steps write",
                    cell=sb.first_cell,
                    step=sb.name,
                    fix=f"read {var!r} in a Python step after {src.producer!r} and give this "
                    "step what that step computes from it",
                )
            )
            return None
        if up is None:
            if passing == "path":
                art = self.export(src.producer, var, _export_format(type_), None)
                self.add(sb.name, Input(art, src.producer, "path"))
                return art, None
            vt = vt or "str"
            art = self.export(src.producer, var, "value", vt)
            self.add(sb.name, Input(art, src.producer, "value", vt))
            return art, vt
        up_passing, up_vt = output_kind(up, var)
        if up_passing != passing:
            said = "a file" if up_passing == "path" else "a value"
            wants = "a file" if passing == "path" else "a value"
            self.problems.append(
                Problem(
                    f"{var!r} is {said} written by step {src.producer!r}, but this step "
                    f"takes it as {wants}",
                    cell=sb.first_cell,
                    step=sb.name,
                    fix="use {inputPath: ...} for files and {inputValue: ...} for values"
                    if kind == "container"
                    else "give this input a value of the matching kind",
                )
            )
            return None
        if vt is not None and up_vt is not None and not _compatible(up_vt, vt):
            self.problems.append(
                Problem(
                    f"{var!r} is a {up_vt} (from step {src.producer!r}) but the input takes a {vt}",
                    cell=sb.first_cell,
                    step=sb.name,
                    fix="give the input a value of its type",
                )
            )
            return None
        self.add(sb.name, Input(var, src.producer, up_passing, up_vt))
        return var, up_vt

    def component(
        self, sb: StepBlock, sp: Special, found: dict[str, Input], params: dict[str, Parameter]
    ) -> ComponentCall:
        assert sp.spec is not None
        arguments: list[Argument] = []
        for b in sp.bindings.values():
            i = sp.spec.input(b.input)
            if b.kind == "literal":
                arguments.append(Argument(b.input, "literal", value=b.value))
            elif b.name in params:
                arguments.append(Argument(b.input, "parameter", name=b.name))
            else:
                got = self.wire(sb, sp.kind, found, b.name, i.passing, i.value_type, i.type)
                if got is not None:
                    arguments.append(Argument(b.input, "artifact", name=got[0]))
        renames = tuple((v, k) for v, k in sp.renames.items() if v != k)
        return ComponentCall(sp.spec, tuple(arguments), sp.source, renames)

    def container(
        self, sb: StepBlock, sp: Special, found: dict[str, Input], params: dict[str, Parameter]
    ) -> ComponentCall:
        from ..components.steps import container_component

        assert sp.body is not None and sp.image is not None
        arguments: list[Argument] = []
        kinds: dict[str, tuple[str, ValueType | None]] = {}
        for var, passing in sp.body.reads().items():
            if var in params:
                if passing == "path":
                    self.problems.append(
                        Problem(
                            f"{{inputPath: {var}}}: {var!r} is a pipeline parameter, a value",
                            cell=sb.first_cell,
                            step=sb.name,
                            fix=f"use {{inputValue: {var}}}",
                        )
                    )
                    continue
                kinds[var] = ("value", params[var].type)
                arguments.append(Argument(var, "parameter", name=var))
                continue
            got = self.wire(sb, sp.kind, found, var, passing, None, None)
            if got is not None:
                kinds[var] = (passing, got[1] if passing == "value" else None)
                arguments.append(Argument(var, "artifact", name=got[0]))
        spec = container_component(sb.name, sp.image, sp.body, kinds)
        return ComponentCall(spec, tuple(arguments), "")


def finish(
    order: list[str],
    special: dict[str, Special],
    inputs: dict[str, list[Input]],
    params: dict[str, Parameter],
    shared: set[str],
    taken: set[str],
    step_cells: dict[str, StepBlock],
    problems: list[Problem],
) -> Wiring:
    """Rewrite the inputs the walk found into typed ones, and the component of each step."""
    w = _Wirer(order, special, shared, taken, problems)
    calls: dict[str, ComponentCall] = {}
    for name in order:
        sp = special.get(name)
        if sp is None:
            for i in inputs[name]:
                up = special.get(i.producer)
                if up is None:
                    w.add(name, i)
                else:
                    passing, vt = output_kind(up, i.name)
                    w.add(name, Input(i.name, i.producer, passing, vt))
            continue
        found = {i.name: i for i in inputs[name]}
        if sp.kind == "notebook":
            for i in inputs[name]:
                up = special.get(i.producer)
                if up is None or up.kind == "notebook":
                    w.add(name, i)
                else:
                    problems.append(
                        Problem(
                            f"{i.name!r} is written by {up.kind} step {i.producer!r}; a notebook "
                            "step is given variables of Python and notebook steps",
                            cell=step_cells[name].first_cell,
                            step=name,
                            fix=f"read {i.name!r} in a Python step and pass what it computes",
                        )
                    )
            continue
        if sp.kind == "component":
            calls[name] = w.component(step_cells[name], sp, found, params)
        elif sp.kind == "container":
            calls[name] = w.container(step_cells[name], sp, found, params)
    return Wiring(w.inputs, w.exports, calls)


def output_kind(sp: Special, var: str) -> tuple[InputKind, ValueType | None]:
    """How a component or container step's output `var` is stored: a file, or a typed value."""
    from ..components.spec import value_type_of

    if sp.kind == "notebook":
        return "variable", None
    if sp.spec is not None:
        o = sp.spec.output(sp.renames.get(var, var))
        return o.passing, o.value_type
    assert sp.body is not None
    declared = dict(sp.body.output_types)
    vt = value_type_of(declared[var]) if var in declared else None
    return ("value", vt) if vt else ("path", None)
