"""From grouped blocks to a Pipeline: the step graph and the variables that flow along it.

The reference semantics is the notebook run top to bottom: a step that reads `x` gets the `x` of the
nearest step before it that defines (or changes) `x`, and must run after that step. Explicit `prev:`
edges are kept and decide the order where they say something; notebook order decides the rest.
"""

from __future__ import annotations

import difflib
import re

from ..errors import Problem
from ..model import Input, Pipeline, Secret, Step
from ..notebook.metadata import NotebookSettings
from .blocks import Blocks, CodeBlock, StepBlock
from .graph import find_cycle, stable_topological_order
from .names import BUILTINS, BlockNames, analyse_block
from .packages import resolve_packages

RESERVED_PREFIX = "_kfpj"
AMBIGUOUS = "\0ambiguous"


def _analyse(block: CodeBlock, step: str | None, problems: list[Problem]) -> BlockNames:
    try:
        return analyse_block(block.code)
    except SyntaxError as e:  # already reported per cell; be safe
        cell, line = block.locate(e.lineno or 1)
        problems.append(Problem(f"syntax error: {e.msg}", cell=cell, step=step, line=line))
        return BlockNames()


def _closure(names: set[str], function_reads: dict[str, set[str]]) -> set[str]:
    """Names read by the shared functions that `names` calls, transitively."""
    out: set[str] = set()
    todo = [n for n in names if n in function_reads]
    seen: set[str] = set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for n in function_reads[f]:
            out.add(n)
            if n in function_reads:
                todo.append(n)
    return out


def _python_name(step: str) -> str:
    return re.sub(r"[^0-9a-zA-Z_]", "_", step)


def build(blocks: Blocks, settings: NotebookSettings, notebook: str | None,
          problems: list[Problem], warnings: list[Problem]) -> Pipeline | None:
    step_blocks = {s.name: s for s in blocks.steps}
    names_in_order = [s.name for s in blocks.steps]
    if not names_in_order and not problems:
        problems.append(Problem("the notebook has no steps",
                                fix="tag a code cell 'step:NAME' or start it with '%%step NAME'"))

    # Names that are never data: imports, shared functions, parameters.
    imp = _analyse(blocks.imports, None, problems)
    fun = _analyse(blocks.functions, None, problems)
    for block, names in ((blocks.imports, imp), (blocks.functions, fun)):
        for line in names.star_imports:
            cell, ln = block.locate(line)
            problems.append(Problem("'from ... import *' cannot be used in a pipeline step", cell=cell, line=ln,
                                    fix="import the names you use explicitly"))
    shared = set(imp.defines) | set(fun.defines)
    params = {p.name: p for p in blocks.parameters}
    for name in fun.reads:
        if name not in shared and name not in params and name not in BUILTINS:
            cell, ln = blocks.functions.locate(fun.reads[name])
            problems.append(Problem(
                f"the functions cell reads {name!r} at its top level; functions cells run in every step and can use "
                "only imports, other functions and parameters", cell=cell, line=ln,
                fix=f"define {name!r} in the functions cell or pass it to the function as an argument"))

    # Python names of steps must not clash with each other or with parameters (the DSL defines both).
    py_names: dict[str, str] = {}
    for s in blocks.steps:
        pn = _python_name(s.name)
        if pn in py_names:
            problems.append(Problem(f"steps {py_names[pn]!r} and {s.name!r} differ only by '-' and '_'",
                                    cell=s.first_cell, step=s.name, fix="rename one of them"))
        py_names[pn] = s.name
        if pn in params:
            problems.append(Problem(f"step {s.name!r} has the same name as parameter {pn!r}",
                                    cell=s.first_cell, step=s.name, fix="rename the step or the parameter"))

    # Explicit edges.
    explicit: dict[str, list[str]] = {}
    for s in blocks.steps:
        explicit[s.name] = []
        for p in s.settings.prev:
            if p == s.name:
                problems.append(Problem(f"step {s.name!r} lists itself as prev", cell=s.prev_cells.get(p), step=s.name,
                                        fix=f"remove 'prev:{p}'"))
            elif p not in step_blocks:
                close = difflib.get_close_matches(p, names_in_order, n=1)
                problems.append(Problem(
                    f"unknown step {p!r} in prev/--after", cell=s.prev_cells.get(p), step=s.name,
                    fix=(f"did you mean {close[0]!r}? " if close else "")
                    + f"steps are: {', '.join(names_in_order)}"))
            else:
                explicit[s.name].append(p)
    cycle = find_cycle(names_in_order, explicit)
    if cycle:
        first = step_blocks[cycle[0]]
        problems.append(Problem(
            "dependency cycle: " + " -> ".join(cycle), cell=first.first_cell, step=cycle[0],
            fix="remove one of these prev:/--after edges"))
        return None
    order = stable_topological_order(names_in_order, explicit)

    # Per-step names.
    analysed: dict[str, BlockNames] = {}
    for name in order:
        sb = step_blocks[name]
        bn = _analyse(sb.code, name, problems)
        for line in bn.star_imports:
            cell, ln = sb.code.locate(line)
            problems.append(Problem("'from ... import *' cannot be used in a pipeline step", cell=cell, step=name,
                                    line=ln, fix="import the names you use explicitly"))
        analysed[name] = bn
    if problems:
        return None

    def data_defines(bn: BlockNames) -> set[str]:
        defined = (set(bn.defines) - set(bn.imports)) | {m for m in bn.mutates if m in bn.reads}
        return {n for n in defined - bn.deletes if n not in shared and n not in params}

    defines = {n: data_defines(analysed[n]) for n in order}
    step_imports: dict[str, str] = {}
    for n in order:
        for name, stmt in analysed[n].imports.items():
            step_imports.setdefault(name, stmt)

    after: dict[str, set[str]] = {n: set(explicit[n]) for n in order}
    anc: dict[str, set[str]] = {}
    position = {n: i for i, n in enumerate(order)}
    inputs: dict[str, list[Input]] = {n: [] for n in order}
    used_params: dict[str, list[str]] = {n: [] for n in order}
    extra_imports: dict[str, list[str]] = {n: [] for n in order}
    definers_of: dict[str, list[str]] = {}

    def producer(var: str, before: int, reader: str, cell: int | None, line: int | None,
                 what: str = "reads") -> str | None:
        """The step that hands `var` to `reader`; None if none does; AMBIGUOUS after reporting it."""
        cands = [d for d in definers_of.get(var, []) if position[d] < before]
        if not cands:
            return None
        maximal = [c for c in cands if not any(c in anc[o] for o in cands if o != c)]
        if len(maximal) > 1:
            problems.append(Problem(
                f"{what} {var!r}, which steps {', '.join(repr(m) for m in maximal)} both define, and neither runs "
                "after the other, so which value it gets is ambiguous", cell=cell, step=reader, line=line,
                fix=f"order them (e.g. tag '{maximal[-1]}' with 'prev:{maximal[0]}') or rename the variable in one"))
            return AMBIGUOUS
        return maximal[0]

    for name in order:
        sb: StepBlock = step_blocks[name]
        bn = analysed[name]
        reads = dict(bn.reads)
        for fname in _closure(set(reads) | set(bn.function_reads), fun.function_reads):
            reads.setdefault(fname, 0)
        for var, line in reads.items():
            cell, ln = sb.code.locate(line) if line else (sb.first_cell, None)
            if var.startswith(RESERVED_PREFIX):
                problems.append(Problem(f"names starting with {RESERVED_PREFIX!r} are reserved", cell=cell, step=name,
                                        line=ln, fix="rename the variable"))
                continue
            if var in shared:
                continue
            if var in params:
                used_params[name].append(var)
                continue
            p = producer(var, position[name], name, cell, ln)
            if p == AMBIGUOUS:
                continue
            if p is not None:
                inputs[name].append(Input(var, p))
                after[name].add(p)
                continue
            if var in step_imports:
                extra_imports[name].append(step_imports[var])
                continue
            if var in BUILTINS:
                continue
            later = [n for n in order[position[name] + 1:] if var in defines[n]]
            if later:
                fix = (f"step {later[0]!r} defines it later; move that code before this step, "
                       f"or tag this step 'prev:{later[0]}'")
            else:
                fix = ("define it in an earlier step, in the imports or functions cell, "
                       "or in the pipeline-parameters cell")
            problems.append(Problem(f"name {var!r} is read but nothing before this step defines it",
                                    cell=cell, step=name, line=ln, fix=fix))
        anc[name] = set().union(*(anc[p] | {p} for p in after[name])) if after[name] else set()
        for var in defines[name]:
            definers_of.setdefault(var, []).append(name)

    # Metrics: logged by the step that holds their final value.
    metric_step: dict[str, list[str]] = {n: [] for n in order}
    for m in blocks.metrics:
        cell = blocks.metric_cells.get(m)
        if m in params:
            problems.append(Problem(f"metric {m!r} is a pipeline parameter", cell=cell,
                                    fix="metrics must be computed by a step"))
            continue
        p = producer(m, len(order), "pipeline-metrics", cell, None, what="the metrics list")
        if p == AMBIGUOUS:
            continue
        if p is None:
            problems.append(Problem(f"metric {m!r} is not defined by any step", cell=cell,
                                        fix="compute it in a step, or remove it from the pipeline-metrics cell"))
            continue
        metric_step[p].append(m)
    if problems:
        return None

    outputs: dict[str, list[str]] = {n: [] for n in order}
    for name in order:
        for i in inputs[name]:
            if i.name not in outputs[i.producer]:
                outputs[i.producer].append(i.name)

    steps: list[Step] = []
    for name in order:
        sb = step_blocks[name]
        st = sb.settings
        extra = "\n".join(dict.fromkeys(extra_imports[name]))
        code_for_packages = "\n".join((blocks.imports.code, blocks.functions.code, extra, sb.code.code))
        marshalling = bool(inputs[name] or outputs[name])
        packages = resolve_packages(code_for_packages, (*settings.packages, *st.packages), marshalling=marshalling)
        steps.append(Step(
            name=name,
            source=sb.code.code,
            cells=sb.code.cells,
            after=tuple(sorted(after[name], key=position.__getitem__)),
            explicit_after=tuple(explicit[name]),
            inputs=tuple(sorted(inputs[name], key=lambda i: i.name)),
            outputs=tuple(sorted(outputs[name])),
            parameters=tuple(sorted(set(used_params[name]))),
            metrics=tuple(metric_step[name]),
            extra_imports=extra,
            image=st.image or settings.image,
            packages=packages,
            limits=dict(st.limits),
            annotations=dict(st.annotations),
            labels=dict(st.labels),
            secrets=tuple(Secret(a, b, c) for a, b, c in st.secrets),
            cache=True if st.cache is None else st.cache,
            retries=st.retries or 0,
            timeout=st.timeout,
        ))
    return Pipeline(
        name=settings.name,
        description=settings.description,
        experiment=settings.experiment,
        pipeline_root=settings.pipeline_root,
        notebook=notebook,
        imports=blocks.imports.code,
        functions=blocks.functions.code,
        parameters=tuple(blocks.parameters),
        metrics=tuple(blocks.metrics),
        steps=tuple(steps),
        warnings=tuple(warnings),
    )
