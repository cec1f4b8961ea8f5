"""After the data-flow walk: how each value travels to and from component and container steps.

Once the walk of dataflow.py knows who produces each name, `finish` decides it:

- a Python variable read by a component is written by its producer as a file in the component's
  declared format (an Export: CSV for a CSV input, or by the value's type: pandas -> CSV,
  numpy -> .npy, str -> text, builtins -> JSON), or as a value for a parameter-typed input;
- a component's output becomes a variable named by its KFP key (snake_case), or by the name the
  cell gives it (`train_stats = stats`, so one component can run in several steps); a Python step
  reads a file output as its path (a str) and a value output (Integer, ...) as the value itself.

Reading the steps' cells (nonpython.py) comes before the walk, deciding this after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..model import Argument, ComponentCall, Export, Input, InputKind, Parameter
from .nonpython import Special, compatible

# kfp_jupyter.components is imported where a component or container step needs it (nonpython.py)
if TYPE_CHECKING:
    from ..components.spec import ValueType
    from ..errors import Problem
    from .blocks import StepBlock

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
        got = self._source(sb, kind, found, var)
        if got is None:
            return None
        src, up = got
        if up is None:
            return self._from_python(sb, src, var, passing, vt, type_)
        return self._from_step(sb, kind, src, up, var, passing, vt)

    def _source(
        self, sb: StepBlock, kind: str, found: dict[str, Input], var: str
    ) -> tuple[Input, Special | None] | None:
        """The input the walk found for `var` and its non-Python producer (None for a Python
        step); None (after reporting why, unless the walk has) if `var` cannot reach a step."""
        if var in self.shared and var not in found:
            self.problems.append(
                sb.problem(
                    f"{var!r} is defined in the imports or functions cells; a {kind} step "
                    "can be given only literals, pipeline parameters and variables of earlier "
                    "steps",
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
                sb.problem(
                    f"{var!r} is a variable of notebook step {src.producer!r}; a {kind} step "
                    "takes files and values, which Python steps write",
                    fix=f"read {var!r} in a Python step after {src.producer!r} and give this "
                    "step what that step computes from it",
                )
            )
            return None
        return src, up

    def _from_python(
        self,
        sb: StepBlock,
        src: Input,
        var: str,
        passing: str,
        vt: ValueType | None,
        type_: str | None,
    ) -> tuple[str, ValueType | None]:
        """A Python step's variable: its producer exports it as a file or a typed value."""
        if passing == "path":
            art = self.export(src.producer, var, _export_format(type_), None)
            self.add(sb.name, Input(art, src.producer, "path"))
            return art, None
        vt = vt or "str"
        art = self.export(src.producer, var, "value", vt)
        self.add(sb.name, Input(art, src.producer, "value", vt))
        return art, vt

    def _from_step(
        self,
        sb: StepBlock,
        kind: str,
        src: Input,
        up: Special,
        var: str,
        passing: str,
        vt: ValueType | None,
    ) -> tuple[str, ValueType | None] | None:
        """A component or container step's output: taken as it is stored, if that fits."""
        up_passing, up_vt = output_kind(up, var)
        if up_passing != passing:
            said = "a file" if up_passing == "path" else "a value"
            wants = "a file" if passing == "path" else "a value"
            self.problems.append(
                sb.problem(
                    f"{var!r} is {said} written by step {src.producer!r}, but this step "
                    f"takes it as {wants}",
                    fix="use {inputPath: ...} for files and {inputValue: ...} for values"
                    if kind == "container"
                    else "give this input a value of the matching kind",
                )
            )
            return None
        if vt is not None and up_vt is not None and not compatible(up_vt, vt):
            self.problems.append(
                sb.problem(
                    f"{var!r} is a {up_vt} (from step {src.producer!r}) but the input takes a {vt}",
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
                        sb.problem(
                            f"{{inputPath: {var}}}: {var!r} is a pipeline parameter, a value",
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
                        step_cells[name].problem(
                            f"{i.name!r} is written by {up.kind} step {i.producer!r}; a notebook "
                            "step is given variables of Python and notebook steps",
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
