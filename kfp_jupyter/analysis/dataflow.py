"""From grouped blocks to a Pipeline: the step graph and the variables that flow along it.

The reference semantics is the notebook run top to bottom: a step that reads `x` gets the `x` of the
nearest step before it that defines (or changes) `x`, and must run after that step. Explicit `prev:`
edges are kept and decide the order where they say something; notebook order decides the rest.
Where the pipeline cannot reproduce the top-to-bottom run (two unordered steps define what a later
step reads, a step reads what a step before it deleted, a step changes a parameter that a later
step reads) it is an error with a fix, never a silent difference.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import sys
from typing import TYPE_CHECKING, TypeGuard

from ..errors import Problem
from ..model import DEFAULT_IMAGE, Mount, Parameter, Pipeline, Step, Volume, function_name
from .assemble import StepPlan, local_modules, notebook_step, python_step, special_step
from .blocks import Blocks, CodeBlock, StepBlock, pipeline_fields
from .effects import warn_lost_process_state
from .graph import find_cycle, stable_topological_order
from .names import BUILTINS, BlockNames, analyse_block
from .nonpython import Special, prepare
from .volumes import StepVolumes, resolve_volumes
from .walk import Shared, Walk
from .wiring import Wiring, finish

if TYPE_CHECKING:
    from ..notebook.metadata import NotebookSettings
    from ..notebook.volumes import VolumeRef
    from .effects import FunctionEffects


def build(
    blocks: Blocks,
    settings: NotebookSettings,
    notebook: str | None,
    problems: list[Problem],
    warnings: list[Problem],
) -> Pipeline | None:
    step_blocks = {s.name: s for s in blocks.steps}
    if not blocks.steps and not problems:
        problems.append(
            Problem(
                "the notebook has no steps",
                fix="tag a code cell 'step:NAME' or start it with '%%step NAME'",
            )
        )
    shared, functions = _shared_names(blocks, problems)
    _check_step_names(blocks.steps, shared.params, problems)
    explicit = _explicit_edges(blocks.steps, step_blocks, problems)
    order = _run_order(blocks.steps, step_blocks, explicit, problems)
    if order is None:
        return None
    analysed, special = _analyse_steps(order, step_blocks, notebook, shared, functions, problems)
    if problems:
        return None

    walk = Walk(blocks, order, explicit, analysed, special, shared, problems)
    walk.run()
    metric_step = walk.metrics()
    _check_metric_steps(metric_step, special, blocks, problems)
    if problems:
        return None
    taken = set(walk.flow.definers) | set(shared.params) | shared.names
    wiring = finish(
        order, special, walk.inputs, shared.params, shared.names, taken, step_blocks, problems
    )
    volumes, mounts = _volumes(settings, order, step_blocks, problems, warnings)
    if problems:
        return None

    stated: dict[str, tuple[str, ...]] = {}
    steps, metrics = _assemble(
        blocks, settings, notebook, walk, wiring, mounts, metric_step, problems, warnings, stated
    )
    _warn_about_the_cluster(blocks, settings, order, special, steps, stated, warnings)
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


def _warn_about_the_cluster(
    blocks: Blocks,
    settings: NotebookSettings,
    order: list[str],
    special: dict[str, Special],
    steps: list[Step],
    stated: dict[str, tuple[str, ...]],
    warnings: list[Problem],
) -> None:
    """What runs here top to bottom but not as separate step processes in an image: pins from
    this Python, process-wide state set in one step, relative paths in a Kale notebook.
    `stated` is what the notebook states for each Python step (tags, metadata, pip lines)."""
    step_blocks = {s.name: s for s in blocks.steps}
    _warn_pinned_images(steps, settings, stated, warnings)
    warn_lost_process_state(
        (blocks.imports.code, blocks.functions.code),
        [(n, step_blocks[n].code) for n in order if n not in special],
        warnings,
    )
    if settings.kale_workspace:
        _warn_relative_paths(steps, step_blocks, warnings)


def _assemble(
    blocks: Blocks,
    settings: NotebookSettings,
    notebook: str | None,
    walk: Walk,
    wiring: Wiring,
    mounts: dict[str, tuple[Mount, ...]],
    metric_step: dict[str, list[str]],
    problems: list[Problem],
    warnings: list[Problem],
    stated: dict[str, tuple[str, ...]],
) -> tuple[list[Step], list[str]]:
    """The Steps in run order, and the pipeline's metrics (those of notebook steps added);
    what the notebook states for each Python step's packages goes into `stated`."""
    outputs = _outputs(walk.order, wiring)
    local = local_modules(notebook, blocks, warnings)
    steps: list[Step] = []
    metrics = list(blocks.metrics)
    for name in walk.order:
        sb = walk.step_blocks[name]
        plan = StepPlan(
            sb,
            sb.settings_over(settings.step_defaults),
            after=tuple(sorted(walk.after[name], key=walk.flow.position.__getitem__)),
            explicit=tuple(walk.explicit[name]),
            inputs=tuple(sorted(wiring.inputs[name], key=lambda i: i.name)),
            outputs=tuple(outputs[name]),
            parameters=tuple(sorted(walk.used_params[name])),
            mounts=mounts[name],
        )
        sp = walk.special.get(name)
        if sp is not None and sp.kind == "notebook":
            step = notebook_step(sp, plan, settings, walk.shared.params, warnings)
            _check_notebook_metrics(step, sb, metrics, problems)
        elif sp is not None:
            step = special_step(sp, wiring.calls.get(name), plan)
        else:
            step = python_step(
                plan,
                blocks,
                settings,
                extra_imports=walk.extra_imports[name],
                metrics=metric_step[name],
                exports=wiring.exports[name],
                local=local,
                warnings=warnings,
                stated_by=stated,
            )
        steps.append(step)
    return steps, metrics


# --- before the walk: shared names, step names, run order, each step read ----------------------


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


def _star_imports(
    block: CodeBlock, names: BlockNames, step: str | None, problems: list[Problem]
) -> None:
    for line in names.star_imports:
        cell, ln = block.locate(line)
        problems.append(
            Problem(
                "'from ... import *' cannot be used in a pipeline step",
                cell=cell,
                step=step,
                line=ln,
                fix="import the names you use explicitly",
            )
        )


def _shared_names(blocks: Blocks, problems: list[Problem]) -> tuple[Shared, BlockNames]:
    """Names that are never data: imports, shared functions, parameters (and what the functions
    cell makes of them)."""
    imp = _analyse(blocks.imports, None, problems)
    fun = _analyse(blocks.functions, None, problems)
    for block, names in ((blocks.imports, imp), (blocks.functions, fun)):
        _star_imports(block, names, None, problems)
    shared = set(imp.defines) | set(fun.defines)
    values = {
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
    return Shared(params, shared, values, fun.function_reads), fun


def _check_step_names(
    steps: list[StepBlock], params: dict[str, Parameter], problems: list[Problem]
) -> None:
    """Python names of steps must not clash with each other or with parameters (the DSL defines
    both)."""
    py_names: dict[str, str] = {}
    for s in steps:
        pn = function_name(s.name)
        if pn in py_names:
            problems.append(
                s.problem(
                    f"steps {py_names[pn]!r} and {s.name!r} differ only by '-' and '_'",
                    fix="rename one of them",
                )
            )
        py_names[pn] = s.name
        if pn in params:
            problems.append(
                s.problem(
                    f"step {s.name!r} has the same name as parameter {pn!r}",
                    fix="rename the step or the parameter",
                )
            )


def _explicit_edges(
    steps: list[StepBlock], step_blocks: dict[str, StepBlock], problems: list[Problem]
) -> dict[str, list[str]]:
    names_in_order = [s.name for s in steps]
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


def _closing_edge(
    cycle: list[str], order: list[str], step_blocks: dict[str, StepBlock]
) -> tuple[str, StepBlock]:
    """The edge of `cycle` (`a -> b`: b is tagged to run after a) to point at: one that makes a
    step wait for a step further down the notebook, as the notebook's order never does, and of
    those the one tagged in the latest cell (most likely the edge just added)."""
    edges = [(a, step_blocks[b]) for a, b in itertools.pairwise(cycle)]
    upward = [(a, s) for a, s in edges if order.index(s.name) < order.index(a)] or edges
    return max(upward, key=lambda e: e[1].prev_cells.get(e[0], e[1].first_cell))


def _run_order(
    steps: list[StepBlock],
    step_blocks: dict[str, StepBlock],
    explicit: dict[str, list[str]],
    problems: list[Problem],
) -> list[str] | None:
    """Notebook order, changed only where explicit edges say; None (reported) on a cycle."""
    names_in_order = [s.name for s in steps]
    cycle = find_cycle(names_in_order, explicit)
    if cycle:
        before, closing = _closing_edge(cycle, names_in_order, step_blocks)
        problems.append(
            Problem(
                "dependency cycle: " + " -> ".join(cycle),
                cell=closing.prev_cells.get(before, closing.first_cell),
                step=closing.name,
                fix=f"remove one of the prev:/--after edges between these steps, most likely "
                f"'prev:{before}' from step {closing.name!r}",
            )
        )
        return None
    return stable_topological_order(names_in_order, explicit)


def _analyse_steps(
    order: list[str],
    step_blocks: dict[str, StepBlock],
    notebook: str | None,
    shared: Shared,
    functions: BlockNames,
    problems: list[Problem],
) -> tuple[dict[str, BlockNames], dict[str, Special]]:
    """What each step does with names; the non-Python steps as read."""
    analysed: dict[str, BlockNames] = {}
    special: dict[str, Special] = {}
    # what calling a function does, for the functions cell's and for those a step defines (a
    # later step calling `add_features(df)` changes `df` as a call in the same step would)
    known = dict(functions.functions)
    for name in order:
        sb = step_blocks[name]
        if sb.settings.kind != "python":
            sp = prepare(sb, notebook, shared.params, problems)
            if sp is not None:
                special[name] = sp
            analysed[name] = sp.names if sp is not None else BlockNames()
            continue
        if sb.settings.outputs:
            problems.append(
                sb.problem(
                    "outputs: and --outputs name what a notebook step hands on; a Python step "
                    "hands on what later steps read",
                    fix="remove the outputs tag, or make the step a notebook step "
                    "(notebook:PATH or %%notebook NAME PATH)",
                )
            )
        bn = _analyse(sb.code, name, problems, known)
        _star_imports(sb.code, bn, name, problems)
        analysed[name] = bn
        for n in bn.defines:
            known.pop(n, None)
        known.update(bn.functions)
    return analysed, special


# --- after the walk: metrics, volumes, outputs ----------------------------------------------------


def _check_metric_steps(
    metric_step: dict[str, list[str]],
    special: dict[str, Special],
    blocks: Blocks,
    problems: list[Problem],
) -> None:
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


def _check_notebook_metrics(
    step: Step, sb: StepBlock, metrics: list[str], problems: list[Problem]
) -> None:
    """A notebook step's metrics join the pipeline's: a run has one value per metric name."""
    for m in step.metrics:
        if m in metrics:
            problems.append(
                sb.problem(
                    f"metric {m!r} of notebook step {sb.name!r} is also a metric of "
                    "another step; a run has one value per metric name",
                    fix="rename the metric in one of the notebooks",
                )
            )
        metrics.append(m)


def _volumes(
    settings: NotebookSettings,
    order: list[str],
    step_blocks: dict[str, StepBlock],
    problems: list[Problem],
    warnings: list[Problem],
) -> tuple[tuple[Volume, ...], dict[str, tuple[Mount, ...]]]:
    return resolve_volumes(
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


def _refs(settings: NotebookSettings, sb: StepBlock) -> tuple[VolumeRef, ...]:
    """The step's own volumes and those of Kale-style step defaults (notebook-wide ones apart)."""
    return sb.settings_over(settings.step_defaults).volumes


def _outputs(order: list[str], wiring: Wiring) -> dict[str, list[str]]:
    """What each step hands on: its component's outputs first, then what later steps read."""
    outputs: dict[str, list[str]] = {n: [] for n in order}
    for name in order:
        call = wiring.calls.get(name)
        if call is not None:
            outputs[name] = list(call.variables)
    for name in order:
        for i in wiring.inputs[name]:
            if i.name not in outputs[i.producer]:
                outputs[i.producer].append(i.name)
    return outputs


# --- after the steps: what differs on the image they run in -------------------------------------

#: the step program's own need (it uses `:=`), whatever it installs
STEP_PYTHON = "3.8"


def _warn_pinned_images(
    steps: list[Step],
    settings: NotebookSettings,
    stated_by: dict[str, tuple[str, ...]],
    warnings: list[Problem],
) -> None:
    """One warning when steps run in an image the notebook names but install versions pinned
    here: an image with an older Python cannot install them (numpy 2.4 needs Python 3.11). A pin
    the notebook states (a tag, its metadata, a pip line) is the user's, not this environment's."""
    if not settings.pin_packages:
        return
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    pinned: dict[str, str] = {}
    for s in steps:
        if s.kind != "python" or s.image == DEFAULT_IMAGE:
            continue
        if s.image == f"python:{here}" or s.image.startswith(f"python:{here}-"):
            continue
        stated = set(stated_by.get(s.name, ()))
        pins = [p for p in s.packages if "==" in p and p not in stated]
        if pins:
            pinned.setdefault(s.image, f"{pins[0]} in step {s.name!r}")
    if pinned:
        named = ", ".join(f"{image!r} ({example})" for image, example in pinned.items())
        warnings.append(
            Problem(
                f"steps run in the image{'s' if len(pinned) > 1 else ''} {named} but install packages pinned to the versions "
                f"installed here, with Python {here}: an image with an older Python may not "
                f"install them, and the step program needs Python {STEP_PYTHON} or newer",
                fix='compile with --no-pin (or set "pin_packages": false under the notebook '
                f"metadata 'kfp_jupyter') to let the image choose versions, or use an image with "
                f"Python {here}",
            )
        )


def _path_argument(func: str) -> int | None:
    """Which argument of a call names the file it reads or writes, for the calls Kale notebooks
    use with paths relative to the notebook's folder."""
    if func == "open" or func.rsplit(".", 1)[-1] in ("read_csv", "to_csv"):
        return 0
    module, _, name = func.partition(".")
    if module in ("np", "numpy", "joblib") and name in ("load", "save"):
        return 0
    return 1 if func == "joblib.dump" else None


def _relative_paths(code: str) -> list[str]:
    """The string literals a file call in `code` takes as a relative path (`read_csv('a.csv')`)."""
    try:
        calls = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)]
    except SyntaxError:
        return []
    found: list[str] = []
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
        at = _path_argument(ast.unparse(call.func))
        arg = call.args[at] if at is not None and len(call.args) > at else None
        if isinstance(arg, ast.Constant) and _relative(arg.value):
            found.append(arg.value)
    return found


def _relative(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value) and value[0] != "/" and "://" not in value


def _warn_relative_paths(
    steps: list[Step], step_blocks: dict[str, StepBlock], warnings: list[Problem]
) -> None:
    """Kale runs each step in the notebook's folder on its volume; here a step runs in its image's
    working folder, so a relative path names a file that is not there, or is lost."""
    for s in (s for s in steps if s.kind == "python"):
        found = [
            (cell, p)
            for cell, code, _ in step_blocks[s.name].code.parts
            for p in _relative_paths(code)
        ]
        if found:
            paths = list(dict.fromkeys(repr(p) for _, p in found))
            warnings.append(
                Problem(
                    f"relative path{'s' if len(paths) > 1 else ''} {', '.join(paths)}: Kale runs a step in the notebook's folder on its "
                    "volume, kfp-jupyter in the image's working folder, where the file is not "
                    "there or is lost when the step ends",
                    cell=found[0][0],
                    step=s.name,
                    fix="use an absolute path on a mounted volume (its mount_point), or hand the "
                    "data to the next step as a variable",
                )
            )
