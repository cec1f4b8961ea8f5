"""From grouped blocks to a Pipeline: the step graph and the variables that flow along it.

The reference semantics is the notebook run top to bottom: a step that reads `x` gets the `x` of the
nearest step before it that defines (or changes) `x`, and must run after that step. Explicit `prev:`
edges are kept and decide the order where they say something; notebook order decides the rest.
Where the pipeline cannot reproduce the top-to-bottom run (two unordered steps define what a later
step reads, a step reads what a step before it deleted, a step changes a parameter that a later
step reads) it is an error with a fix, never a silent difference.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Problem
from ..model import (
    NOTEBOOK_OUTPUT,
    ComponentCall,
    Input,
    Mount,
    Parameter,
    Pipeline,
    Step,
    function_name,
)
from ..notebook.grammar import StepSettings, VolumeRef, apply_defaults
from ..notebook.metadata import NotebookSettings
from .blocks import Blocks, CodeBlock, StepBlock, pipeline_fields, step_fields
from .graph import find_cycle, stable_topological_order
from .names import BUILTINS, BlockNames, FunctionEffects, analyse_block
from .nonpython import Special, finish, prepare
from .packages import Unpinnable, imported_modules, resolve_packages
from .volumes import StepVolumes, resolve_volumes

RESERVED_PREFIX = "_kfpj"


def _analyse(
    block: CodeBlock,
    step: str | None,
    problems: list[Problem],
    known: dict[str, FunctionEffects] | None = None,
) -> BlockNames:
    try:
        return analyse_block(block.code, known or {})
    except SyntaxError as e:  # already reported per cell; be safe
        cell, line = block.locate(e.lineno or 1)
        problems.append(Problem(f"syntax error: {e.msg}", cell=cell, step=step, line=line))
        return BlockNames()


def _closure(roots: dict[str, int], function_reads: dict[str, set[str]]) -> dict[str, int]:
    """Names read by the shared functions that `roots` names, transitively (with the root's line)."""
    out: dict[str, int] = {}
    for root, line in roots.items():
        todo = [root]
        seen: set[str] = set()
        while todo:
            f = todo.pop()
            if f in seen or f not in function_reads:
                continue
            seen.add(f)
            for n in sorted(function_reads[f]):
                out.setdefault(n, line)
                todo.append(n)
    return out


@dataclass
class _Definer:
    step: str
    deletes: bool
    cell: int | None
    line: int | None


@dataclass
class _Change:
    """A step that changes a parameter or a shared name (which other steps do not see)."""

    step: str
    cell: int | None
    line: int | None
    what: str


@dataclass
class _Flow:
    """The state of the walk over the steps, in run order."""

    order: list[str]
    position: dict[str, int]
    problems: list[Problem]
    definers: dict[str, list[_Definer]] = field(default_factory=dict)
    #: the steps each step runs after, directly or not, as a bit set over `position` (a set of
    #: names per step would make a long chain quadratic)
    ancestors: dict[str, int] = field(default_factory=dict)

    def runs_after(self, step: str, other: str) -> bool:
        return bool(self.ancestors[step] >> self.position[other] & 1)

    def producer(
        self, var: str, before: int, reader: str, cell: int | None, line: int | None, what: str
    ) -> str | None:
        """The step that hands `var` to `reader`; None if none does (or after reporting why not)."""
        cands = [d for d in self.definers.get(var, []) if self.position[d.step] < before]
        if not cands:
            return None
        steps = {d.step for d in cands}
        maximal = [
            d for d in cands if not any(self.runs_after(o, d.step) for o in steps if o != d.step)
        ]
        if len(maximal) > 1:
            names = [d.step for d in maximal]
            self.problems.append(
                Problem(
                    f"{what} {var!r}, which steps {', '.join(repr(m) for m in names)} both define, "
                    "and neither runs after the other, so which value it gets is ambiguous",
                    cell=cell,
                    step=None if reader.startswith("(") else reader,
                    line=line,
                    fix=f"order them (e.g. tag '{names[-1]}' with 'prev:{names[0]}') "
                    "or rename the variable in one of them",
                )
            )
            return None
        d = maximal[0]
        if d.deletes:
            self.problems.append(
                Problem(
                    f"{what} {var!r}, but step {d.step!r} deletes it (del {var}, cell {d.cell})",
                    cell=cell,
                    step=None if reader.startswith("(") else reader,
                    line=line,
                    fix=f"remove 'del {var}' from step {d.step!r}, or define {var!r} again "
                    "before this step reads it",
                )
            )
            return None
        return d.step


def build(
    blocks: Blocks,
    settings: NotebookSettings,
    notebook: str | None,
    problems: list[Problem],
    warnings: list[Problem],
) -> Pipeline | None:
    step_blocks = {s.name: s for s in blocks.steps}
    names_in_order = [s.name for s in blocks.steps]
    if not names_in_order and not problems:
        problems.append(
            Problem(
                "the notebook has no steps",
                fix="tag a code cell 'step:NAME' or start it with '%%step NAME'",
            )
        )

    # Names that are never data: imports, shared functions, parameters.
    imp = _analyse(blocks.imports, None, problems)
    fun = _analyse(blocks.functions, None, problems)
    for block, names in ((blocks.imports, imp), (blocks.functions, fun)):
        for line in names.star_imports:
            cell, ln = block.locate(line)
            problems.append(
                Problem(
                    "'from ... import *' cannot be used in a pipeline step",
                    cell=cell,
                    line=ln,
                    fix="import the names you use explicitly",
                )
            )
    shared = set(imp.defines) | set(fun.defines)
    # values (not modules, functions or classes) the shared cells define, e.g. `LABELS = [...]`
    shared_values = {
        n for b in (imp, fun) for n in b.defines if n not in b.imports and n not in b.function_reads
    }
    params = {p.name: p for p in blocks.parameters}
    for name, line in fun.reads.items():
        if name in fun.late_reads or name in shared or name in params or name in BUILTINS:
            continue
        cell, ln = blocks.functions.locate(line)
        problems.append(
            Problem(
                f"the functions cell uses {name!r} outside any function; functions cells run at "
                "the start of every step and can use only imports, other functions and parameters",
                cell=cell,
                line=ln,
                fix=f"define {name!r} in the functions cell, or move this code into a step",
            )
        )

    # Python names of steps must not clash with each other or with parameters (the DSL defines both).
    py_names: dict[str, str] = {}
    for s in blocks.steps:
        pn = function_name(s.name)
        if pn in py_names:
            problems.append(
                Problem(
                    f"steps {py_names[pn]!r} and {s.name!r} differ only by '-' and '_'",
                    cell=s.first_cell,
                    step=s.name,
                    fix="rename one of them",
                )
            )
        py_names[pn] = s.name
        if pn in params:
            problems.append(
                Problem(
                    f"step {s.name!r} has the same name as parameter {pn!r}",
                    cell=s.first_cell,
                    step=s.name,
                    fix="rename the step or the parameter",
                )
            )

    explicit = _explicit_edges(blocks.steps, step_blocks, names_in_order, problems)
    cycle = find_cycle(names_in_order, explicit)
    if cycle:
        # `a -> b` in the message: b is tagged to run after a; point at that tag
        closing = step_blocks[cycle[1]]
        problems.append(
            Problem(
                "dependency cycle: " + " -> ".join(cycle),
                cell=closing.prev_cells.get(cycle[0], closing.first_cell),
                step=closing.name,
                fix=f"remove one of the prev:/--after edges between these steps, e.g. "
                f"'prev:{cycle[0]}' from step {closing.name!r}",
            )
        )
        return None
    order = stable_topological_order(names_in_order, explicit)

    analysed: dict[str, BlockNames] = {}
    special: dict[str, Special] = {}
    for name in order:
        sb = step_blocks[name]
        if sb.settings.kind != "python":
            sp = prepare(sb, notebook, params, problems)
            if sp is not None:
                special[name] = sp
            analysed[name] = sp.names if sp is not None else BlockNames()
            continue
        if sb.settings.outputs:
            problems.append(
                Problem(
                    "outputs: and --outputs name what a notebook step hands on; a Python step "
                    "hands on what later steps read",
                    cell=sb.first_cell,
                    step=name,
                    fix="remove the outputs tag, or make the step a notebook step "
                    "(notebook:PATH or %%notebook NAME PATH)",
                )
            )
        bn = _analyse(sb.code, name, problems, fun.functions)
        for line in bn.star_imports:
            cell, ln = sb.code.locate(line)
            problems.append(
                Problem(
                    "'from ... import *' cannot be used in a pipeline step",
                    cell=cell,
                    step=name,
                    line=ln,
                    fix="import the names you use explicitly",
                )
            )
        analysed[name] = bn
    if problems:
        return None

    flow = _Flow(order, {n: i for i, n in enumerate(order)}, problems)
    after: dict[str, set[str]] = {n: set(explicit[n]) for n in order}
    inputs: dict[str, list[Input]] = {n: [] for n in order}
    used_params: dict[str, set[str]] = {n: set() for n in order}
    extra_imports: dict[str, list[str]] = {n: [] for n in order}
    step_imports: dict[str, str] = {}
    changes: dict[str, _Change] = {}

    def later_definer(var: str, name: str) -> str | None:
        for n in order[flow.position[name] + 1 :]:
            if var in analysed[n].defines:
                return n
        return None

    for name in order:
        sb = step_blocks[name]
        bn = analysed[name]
        roots = {
            n: ln for n, ln in bn.reads.items() if n in fun.function_reads and name not in special
        }
        hard = dict(bn.reads)
        soft = dict(bn.soft_reads)
        for var, ln in _closure(roots, fun.function_reads).items():
            if var not in hard:
                (soft if var in bn.defines else hard).setdefault(var, ln)
        from_upstream: set[str] = set()
        for var, line, required in [
            *((v, ln, True) for v, ln in hard.items()),
            *((v, ln, False) for v, ln in soft.items() if v not in hard),
        ]:
            cell, ln = sb.code.locate(line) if line else (sb.first_cell, None)
            if var.startswith(RESERVED_PREFIX):
                problems.append(
                    Problem(
                        f"names starting with {RESERVED_PREFIX!r} are reserved",
                        cell=cell,
                        step=name,
                        line=ln,
                        fix="rename the variable",
                    )
                )
                continue
            if var in params or var in shared:
                change = changes.get(var)
                if change is not None:
                    problems.append(
                        Problem(
                            f"reads {change.what} {var!r}, which step {change.step!r} changes "
                            f"(cell {change.cell}); steps get {change.what}s from the pipeline, "
                            "not from other steps, so this step would not see the change",
                            cell=cell,
                            step=name,
                            line=ln,
                            fix=f"in step {change.step!r}, give the changed value a new name "
                            f"(e.g. {var}_2 = ...) and use that name here",
                        )
                    )
                elif var in params:
                    used_params[name].add(var)
                continue
            p = flow.producer(var, flow.position[name], name, cell, ln, "reads")
            if p is not None:
                inputs[name].append(Input(var, p))
                after[name].add(p)
                from_upstream.add(var)
                continue
            if any(flow.position[d.step] < flow.position[name] for d in flow.definers.get(var, [])):
                continue  # reported by producer()
            if var in step_imports:
                extra_imports[name].append(step_imports[var])
                continue
            if var in BUILTINS or not required:
                continue
            later = later_definer(var, name)
            skipped = _skipped_definer(blocks, var)
            if skipped is not None and not later:
                fix = (
                    f"cell {skipped}, which defines it, is skipped (tag 'skip' or a cell after one); "
                    "make that cell part of a step"
                )
            elif later:
                fix = (
                    f"step {later!r} defines it later; move that code above this step, "
                    f"or tag this step 'prev:{later}'"
                )
            else:
                fix = (
                    "define it in an earlier step, in the imports or functions cell, "
                    "or in the pipeline-parameters cell"
                )
            problems.append(
                Problem(
                    f"name {var!r} is read but nothing before this step defines it",
                    cell=cell,
                    step=name,
                    line=ln,
                    fix=fix,
                )
            )
        ancestors = 0
        for p in after[name]:
            ancestors |= flow.ancestors[p] | 1 << flow.position[p]
        flow.ancestors[name] = ancestors

        # What this step hands on: what it binds (not by import) and what it changes of its inputs.
        bound = set(bn.defines) - set(bn.imports)
        changed = {m for m in bn.mutates if m in from_upstream}
        for var in sorted((bound | changed) - set(bn.deletes)):
            if var in params or var in shared:
                if var in bound or var in params:
                    line = bn.defines.get(var) or bn.mutates.get(var) or 0
                    cell, ln = sb.code.locate(line)
                    what = "parameter" if var in params else "shared name"
                    changes.setdefault(var, _Change(name, cell, ln, what))
                continue
            line = bn.defines.get(var) or bn.mutates.get(var) or 0
            cell, ln = sb.code.locate(line)
            flow.definers.setdefault(var, []).append(_Definer(name, False, cell, ln))
        for var in sorted(bn.mutates):
            if (var in params or var in shared_values) and var in bn.reads and var not in changes:
                cell, ln = sb.code.locate(bn.mutates[var])
                changes[var] = _Change(
                    name, cell, ln, "parameter" if var in params else "shared name"
                )
        for var, line in sorted(bn.deletes.items()):
            if var in params or var in shared:
                continue
            cell, ln = sb.code.locate(line)
            flow.definers.setdefault(var, []).append(_Definer(name, True, cell, ln))
        for var, stmt in bn.imports.items():
            step_imports.setdefault(var, stmt)

    metric_step = _metrics(blocks, order, params, flow, special, used_params, changes)
    for name, metrics in metric_step.items():
        if name in special and metrics:
            problems.append(
                Problem(
                    f"metric {metrics[0]!r} is an output of {special[name].kind} step {name!r}; "
                    "metrics are logged by Python steps",
                    cell=blocks.metric_cells.get(metrics[0]),
                    step=name,
                    fix=f"read it in a Python step (e.g. {metrics[0]}_value = float({metrics[0]})) "
                    "and list that name",
                )
            )
    if problems:
        return None
    taken = set(flow.definers) | set(params) | shared
    wiring = finish(order, special, inputs, params, shared, taken, step_blocks, problems)
    inputs = wiring.inputs
    volumes, mounts = resolve_volumes(
        settings.volumes,
        [
            StepVolumes(
                n,
                step_blocks[n].first_cell,
                step_blocks[n].settings.kind,
                _refs(settings, step_blocks[n]),
            )
            for n in order
        ],
        problems,
        warnings,
    )
    if problems:
        return None

    outputs: dict[str, list[str]] = {n: [] for n in order}
    for name in order:
        call = wiring.calls.get(name)
        if call is not None:
            outputs[name] = list(call.variables)
    for name in order:
        for i in inputs[name]:
            if i.name not in outputs[i.producer]:
                outputs[i.producer].append(i.name)

    local = _local_modules(notebook, blocks, warnings)
    steps: list[Step] = []
    metrics = list(blocks.metrics)
    for name in order:
        sb = step_blocks[name]
        st = apply_defaults(settings.step_defaults, sb.settings)
        if name in special and special[name].kind == "notebook":
            step = _notebook_step(
                special[name],
                sb,
                st,
                settings,
                params,
                warnings,
                after=tuple(sorted(after[name], key=flow.position.__getitem__)),
                explicit=tuple(explicit[name]),
                inputs=tuple(sorted(inputs[name], key=lambda i: i.name)),
                parameters=tuple(sorted(used_params[name])),
                mounts=mounts[name],
            )
            for m in step.metrics:
                if m in metrics:
                    problems.append(
                        Problem(
                            f"metric {m!r} of notebook step {name!r} is also a metric of "
                            "another step; a run has one value per metric name",
                            cell=sb.first_cell,
                            step=name,
                            fix="rename the metric in one of the notebooks",
                        )
                    )
                metrics.append(m)
            steps.append(step)
            continue
        if name in special:
            steps.append(
                _special_step(
                    special[name],
                    wiring.calls.get(name),
                    sb,
                    st,
                    after=tuple(sorted(after[name], key=flow.position.__getitem__)),
                    explicit=tuple(explicit[name]),
                    inputs=tuple(sorted(inputs[name], key=lambda i: i.name)),
                    outputs=tuple(outputs[name]),
                    parameters=tuple(sorted(used_params[name])),
                    mounts=mounts[name],
                )
            )
            continue
        extra = "\n".join(dict.fromkeys(extra_imports[name]))
        code_for_packages = (
            blocks.imports.code,
            blocks.functions.code,
            extra,
            *(code for _, code, _ in sb.code.parts),
        )
        marshalling = bool(inputs[name] or outputs[name])
        unpinnable: list[Unpinnable] = []
        packages = resolve_packages(
            code_for_packages,
            (*settings.packages, *st.packages),
            marshalling=marshalling,
            local_modules=local,
            pin=settings.pin_packages,
            unpinnable=unpinnable,
        )
        warnings += [u.problem(name) for u in unpinnable]
        steps.append(
            Step(
                name=name,
                source=sb.code.code,
                cells=sb.code.cells,
                after=tuple(sorted(after[name], key=flow.position.__getitem__)),
                explicit_after=tuple(explicit[name]),
                inputs=tuple(sorted(inputs[name], key=lambda i: i.name)),
                outputs=tuple(sorted(outputs[name])),
                parameters=tuple(sorted(used_params[name])),
                metrics=tuple(metric_step[name]),
                extra_imports=extra,
                packages=packages,
                **step_fields(st, settings.image),
                exports=tuple(sorted(wiring.exports[name], key=lambda e: e.name)),
                mounts=mounts[name],
            )
        )
    return Pipeline(
        **pipeline_fields(settings),
        notebook=notebook,
        imports=blocks.imports.code,
        functions=blocks.functions.code,
        parameters=tuple(blocks.parameters),
        metrics=tuple(metrics),
        steps=tuple(steps),
        warnings=tuple(warnings),
        volumes=volumes,
    )


def _refs(settings: NotebookSettings, sb: StepBlock) -> tuple[VolumeRef, ...]:
    """The step's own volumes and those of Kale-style step defaults (notebook-wide ones apart)."""
    return tuple(dict.fromkeys((*settings.step_defaults.volumes, *sb.settings.volumes)))


def _special_step(
    sp: Special,
    call: ComponentCall | None,
    sb: StepBlock,
    st: StepSettings,
    *,
    after: tuple[str, ...],
    explicit: tuple[str, ...],
    inputs: tuple[Input, ...],
    outputs: tuple[str, ...],
    parameters: tuple[str, ...],
    mounts: tuple[Mount, ...],
) -> Step:
    """A component, container or resource step: its image is the component's (or the one the
    step names), and it installs no packages."""
    if sp.kind == "resource":
        assert sp.resource is not None
        image = sp.resource.image
    elif call is not None:
        image = sb.settings.image or call.spec.container.image
    else:
        image = sb.settings.image or ""
    fields = {**step_fields(st, ""), "image": image}
    if sp.kind == "resource":  # kubectl applies a manifest: the step has no limits or secrets
        fields.update(limits={}, secrets=())
    return Step(
        name=sb.name,
        source=sb.code.code,
        cells=sb.code.cells,
        after=after,
        explicit_after=explicit,
        inputs=inputs,
        outputs=outputs,
        parameters=parameters,
        **fields,
        kind=sp.kind,  # type: ignore[arg-type]
        component=call,
        resource=sp.resource,
        mounts=mounts,
    )


def _notebook_step(
    sp: Special,
    sb: StepBlock,
    st: StepSettings,
    settings: NotebookSettings,
    params: dict[str, Parameter],
    warnings: list[Problem],
    *,
    after: tuple[str, ...],
    explicit: tuple[str, ...],
    inputs: tuple[Input, ...],
    parameters: tuple[str, ...],
    mounts: tuple[Mount, ...],
) -> Step:
    """A step that executes a whole notebook: it installs the kernel, nbclient and what the
    notebook imports, and hands on the variables its cell names (plus the executed notebook)."""
    from .notebookstep import notebook_call, notebook_packages

    assert sp.notebook is not None
    call = notebook_call(sp.notebook, params)
    packages = notebook_packages(
        sp.notebook.child,
        settings,
        st.packages,
        marshalling=bool(inputs or call.variables),
        step=sb.name,
        warnings=warnings,
    )
    return Step(
        name=sb.name,
        source=sb.code.code,
        cells=sb.code.cells,
        after=after,
        explicit_after=explicit,
        inputs=inputs,
        outputs=(*call.variables, NOTEBOOK_OUTPUT),
        parameters=parameters,
        metrics=tuple(sp.notebook.child.metrics),
        packages=packages,
        **step_fields(st, settings.image),
        kind="notebook",
        notebook=call,
        mounts=mounts,
    )


def _local_modules(notebook: str | None, blocks: Blocks, warnings: list[Problem]) -> frozenset[str]:
    """Modules the notebook imports from files beside it, which a step's container does not have."""
    if notebook is None:
        return frozenset()
    folder = Path(notebook).parent
    found: set[str] = set()
    parts: list[tuple[int, str, str | None]] = [
        *((c, code, None) for c, code, _ in blocks.imports.parts),
        *((c, code, None) for c, code, _ in blocks.functions.parts),
        *((c, code, s.name) for s in blocks.steps for c, code, _ in s.code.parts),
    ]
    for cell, code, step in parts:
        for module in imported_modules(code):
            top = module.split(".")[0]
            if top in found:
                continue
            for path in (folder / f"{top}.py", folder / top / "__init__.py"):
                if path.is_file():
                    found.add(top)
                    warnings.append(
                        Problem(
                            f"module {top!r} is {path.relative_to(folder)} beside the notebook; "
                            "a step runs in its own container, where that file is not",
                            cell=cell,
                            step=step,
                            fix="put the code the steps need in the functions cell, or publish "
                            "the module as a package and name it in 'packages:'",
                        )
                    )
                    break
    return frozenset(found)


def _skipped_definer(blocks: Blocks, var: str) -> int | None:
    """The first skipped cell that defines `var`, to explain why nothing else does."""
    for cell, code in blocks.skipped:
        try:
            if var in analyse_block(code).defines:
                return cell
        except SyntaxError:
            continue
    return None


def _explicit_edges(
    steps: list[StepBlock],
    step_blocks: dict[str, StepBlock],
    names_in_order: list[str],
    problems: list[Problem],
) -> dict[str, list[str]]:
    explicit: dict[str, list[str]] = {}
    for s in steps:
        explicit[s.name] = []
        for p in s.settings.prev:
            if p == s.name:
                problems.append(
                    Problem(
                        f"step {s.name!r} lists itself as prev",
                        cell=s.prev_cells.get(p),
                        step=s.name,
                        fix=f"remove 'prev:{p}' (or '--after {p}')",
                    )
                )
            elif p not in step_blocks:
                close = difflib.get_close_matches(p, names_in_order, n=1)
                problems.append(
                    Problem(
                        f"unknown step {p!r} in prev:/--after",
                        cell=s.prev_cells.get(p),
                        step=s.name,
                        fix=(f"did you mean {close[0]!r}? " if close else "")
                        + f"the steps are: {', '.join(names_in_order)}",
                    )
                )
            else:
                explicit[s.name].append(p)
    return explicit


def _metrics(
    blocks: Blocks,
    order: list[str],
    params: Mapping[str, object],
    flow: _Flow,
    special: Mapping[str, object],
    used_params: dict[str, set[str]],
    changes: Mapping[str, _Change],
) -> dict[str, list[str]]:
    """Each metric is logged by the step that holds its final value (as the notebook would)."""
    metric_step: dict[str, list[str]] = {n: [] for n in order}
    for m in blocks.metrics:
        cell = blocks.metric_cells.get(m)
        if m in params:
            # Kale reports a parameter listed as a metric. Pipelines report metrics only from
            # steps, so a Python step that gets the parameter unchanged logs its run value: the
            # first that reads it, else the first Python step (which is then given it).
            changer = changes[m].step if m in changes else None
            python = [n for n in order if n not in special and n != changer]
            if not python:
                flow.problems.append(
                    Problem(
                        f"metric {m!r} is a pipeline parameter, and no Python step can report it",
                        cell=cell,
                        fix="add a Python step, or remove it from the pipeline-metrics cell",
                    )
                )
                continue
            reporter = next((n for n in python if m in used_params[n]), python[0])
            used_params[reporter].add(m)
            metric_step[reporter].append(m)
            continue
        p = flow.producer(m, len(order), "(metrics)", cell, None, "the metrics list names")
        if p is None:
            if m not in flow.definers:
                flow.problems.append(
                    Problem(
                        f"metric {m!r} is not defined by any step",
                        cell=cell,
                        fix="compute it in a step, or remove it from the pipeline-metrics cell",
                    )
                )
            continue
        metric_step[p].append(m)
    return metric_step
