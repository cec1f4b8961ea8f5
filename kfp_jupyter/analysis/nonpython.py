"""Steps that are not Python code: component, container and resource cells.

Each is read into the names it reads and the names it defines, so the data-flow walk of
dataflow.py treats it like any step (edges, producers and errors come out the same way). Once the
walk knows who produces each name, `finish` (wiring.py) decides how every value travels.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .blocks import StepBlock, bound_value, key_line
from .names import BlockNames

# kfp_jupyter.components is imported where a component, container or resource step needs it: a
# notebook of Python steps (and every start of the command line) does without it
if TYPE_CHECKING:
    from ..components.spec import ComponentInput, ComponentSpec, ValueType
    from ..components.steps import ContainerBody, Resource, StepBodyError
    from ..errors import Problem
    from ..model import Parameter
    from .notebookstep import NotebookStepRead


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
            sb.problem(
                f"the step is said to be a {' and a '.join(kinds)} step",
                fix="keep one of the annotations",
            )
        )
        return None
    kind = kinds[0]
    if s.outputs and kind != "notebook":
        problems.append(
            sb.problem(
                f"outputs: and --outputs name what a notebook step hands on; a {kind} step's "
                "outputs are its component's",
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
            sb.problem(
                f"packages have no meaning for a {kind} step (it runs its own image)",
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
    at = sb.code.locate(e.line) if e.line else None
    return sb.problem(f"{what}: {e.message}", fix=e.fix, at=at)


def _component(
    sb: StepBlock,
    source: str,
    notebook: str | None,
    params: dict[str, Parameter],
    problems: list[Problem],
) -> Special | None:
    spec = _load(sb, source, notebook, problems)
    if spec is None:
        return None
    sp = Special("component", spec=spec, source=source, image=sb.settings.image)
    ok = True
    for node in ast.parse(sb.code.code).body:
        ok = _read_line(sb, sp, spec, node, problems) and ok
    # after a line we could not read, what is missing is a guess
    ok = ok and _all_inputs_given(sb, spec, sp.bindings, problems)
    ok = _check_bindings(sb, spec, sp.bindings, params, problems) and ok
    if not ok:
        return None
    reads = {b.name: b.line for b in sp.bindings.values() if b.kind == "name"}
    variable = {k: v for v, k in sp.renames.items()}
    defines = {variable.get(o.key, o.key): 1 for o in spec.outputs}
    sp.names = BlockNames(reads=reads, defines=defines)
    return sp


def _load(
    sb: StepBlock, source: str, notebook: str | None, problems: list[Problem]
) -> ComponentSpec | None:
    from ..components.loader import ComponentSpecError

    # a URL an earlier step of this load could not fetch is not fetched again (lru_cache keeps
    # specs, not failures): each step naming a host that does not answer would wait out its
    # own deadline. The next load (the next save) tries again.
    said = next(
        (
            p.message
            for p in problems
            if p.message.startswith(f"cannot fetch component {source!r}:")
        ),
        None,
    )
    try:
        if said is not None:
            raise ComponentSpecError(said)
        return load_spec(source, notebook)
    except ComponentSpecError as e:
        unreachable = any(w in str(e) for w in ("does not exist", "cannot", "is a folder"))
        problems.append(
            sb.problem(
                str(e),
                fix="check the component's path (relative to the notebook's folder) or URL"
                if unreachable
                else "correct the component spec where the message says, or use another one",
            )
        )
        return None


def _read_line(
    sb: StepBlock, sp: Special, spec: ComponentSpec, node: ast.stmt, problems: list[Problem]
) -> bool:
    """One line of a component cell into `sp`: an input's value, or a name for an output. False
    once a problem says why it cannot be."""
    line = key_line(
        node,
        sb,
        problems,
        holds="a component cell holds only 'input_name = value' lines",
        fix="compute values in a Python step before this one",
    )
    if line is None:
        return False
    key, value, at = line
    keys = {i.key: i for i in spec.inputs}
    out_keys = {o.key for o in spec.outputs}
    if key not in keys and isinstance(value, ast.Name) and value.id in out_keys:
        return _name_output(sb, sp, key, value.id, at, problems)
    if key not in keys:
        close = difflib.get_close_matches(key, list(keys), n=1)
        problems.append(
            sb.problem(
                f"component {spec.name!r} has no input {key!r}",
                fix=(f"did you mean {close[0]!r}? " if close else "")
                + (f"its inputs are: {', '.join(keys)}" if keys else "it takes no inputs")
                + (
                    f"; to name an output, write NEW_NAME = OUTPUT (outputs: "
                    f"{', '.join(sorted(out_keys))})"
                    if out_keys
                    else ""
                ),
                at=at,
            )
        )
        return False
    if key in sp.bindings:
        problems.append(sb.problem(f"input {key!r} is given twice", at=at))
        return False
    bound = bound_value(value, f"input {key!r}", at, sb, problems)
    if bound is None:
        return False
    if bound[0] == "name":
        sp.bindings[key] = Binding(key, "name", name=bound[1], line=node.lineno)
    else:
        sp.bindings[key] = Binding(key, "literal", value=bound[1], line=node.lineno)
    return True


def _name_output(
    sb: StepBlock,
    sp: Special,
    variable: str,
    output: str,
    at: tuple[int | None, int | None],
    problems: list[Problem],
) -> bool:
    """`train_stats = stats`: the output `stats` becomes the variable `train_stats`."""
    if output in sp.renames.values() or variable in sp.renames:
        problems.append(
            sb.problem(
                f"output {output!r} is given two names"
                if output in sp.renames.values()
                else f"{variable!r} names two outputs",
                at=at,
            )
        )
        return False
    sp.renames[variable] = output
    return True


def _all_inputs_given(
    sb: StepBlock, spec: ComponentSpec, bindings: dict[str, Binding], problems: list[Problem]
) -> bool:
    missing = [
        i.key for i in spec.inputs if not i.optional and not i.has_default and i.key not in bindings
    ]
    if not missing:
        return True
    problems.append(
        sb.problem(
            f"component {spec.name!r} needs the input{'s' if len(missing) > 1 else ''} "
            + ", ".join(repr(m) for m in missing),
            fix="assign "
            + ", ".join(f"{m} = ..." for m in missing)
            + " in the cell (a literal, a parameter or a variable of an earlier step)",
        )
    )
    return False


def _check_bindings(
    sb: StepBlock,
    spec: ComponentSpec,
    bindings: dict[str, Binding],
    params: dict[str, Parameter],
    problems: list[Problem],
) -> bool:
    """Whether each literal and parameter fits the input it is given to (False after saying
    which do not); variables are checked once the walk knows their producers (wiring.py)."""
    ok = True
    for b in bindings.values():
        i = spec.input(b.input)
        at = sb.code.locate(b.line)
        if b.kind == "literal":
            why = (
                _literal_problem(b.value, i.value_type)
                if i.passing == "value"
                else (f"input {b.input!r} takes a file ({i.type or 'untyped'}), not a literal")
            )
            if why:
                problems.append(
                    sb.problem(
                        why,
                        fix="give a value of the input's type"
                        if i.passing == "value"
                        else "give it a variable that an earlier step defines",
                        at=at,
                    )
                )
                ok = False
        elif b.name in params:
            unfit = _parameter_problem(b, i, params[b.name])
            if unfit:
                problems.append(sb.problem(unfit[0], fix=unfit[1], at=at))
                ok = False
    return ok


def _parameter_problem(b: Binding, i: ComponentInput, p: Parameter) -> tuple[str, str] | None:
    """Why pipeline parameter `p` cannot be given to input `i`, and the fix; None if it can."""
    if i.passing == "path":
        return (
            f"input {b.input!r} takes a file ({i.type or 'untyped'}), but "
            f"{b.name!r} is a pipeline parameter",
            "give it a variable that an earlier step defines",
        )
    if not compatible(p.type, i.value_type):
        return (
            f"input {b.input!r} is a {i.value_type} but parameter {b.name!r} is a {p.type}",
            "change the parameter's value, or give the input another value",
        )
    return None


def compatible(given: str, expected: ValueType | None) -> bool:
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
            sb.problem(
                "a container step needs an image",
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
                sb.problem(
                    f"{what} have no meaning for a resource step (it runs no step container)",
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
