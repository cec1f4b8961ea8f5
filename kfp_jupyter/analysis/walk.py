"""The walk over the steps in run order: which earlier step hands on each name a step reads.

It follows the notebook run top to bottom (see dataflow.py): a step that reads `x` gets the `x` of
the nearest step before it that defines (or changes) `x`. The walk's own state (who defined what,
which step runs after which) is kept apart from the phases of dataflow.py around it, which only
read what the walk found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import Problem
from ..model import Input, Parameter
from .names import BUILTINS, BlockNames, analyse_block

if TYPE_CHECKING:
    from .blocks import Blocks
    from .nonpython import Special

RESERVED_PREFIX = "_kfpj"


def closure(roots: dict[str, int], function_reads: dict[str, set[str]]) -> dict[str, int]:
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
class Definer:
    step: str
    deletes: bool
    cell: int | None
    line: int | None


@dataclass
class Change:
    """A step that changes a parameter or a shared name (which other steps do not see)."""

    step: str
    cell: int | None
    line: int | None
    what: str


@dataclass
class Flow:
    """The state of the walk over the steps, in run order."""

    order: list[str]
    position: dict[str, int]
    problems: list[Problem]
    definers: dict[str, list[Definer]] = field(default_factory=dict)
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
        why = _no_single_producer(maximal, var, what)
        if why is None:
            return maximal[0].step
        message, fix = why
        step = None if reader.startswith("(") else reader
        self.problems.append(Problem(message, cell=cell, step=step, line=line, fix=fix))
        return None


def _no_single_producer(maximal: list[Definer], var: str, what: str) -> tuple[str, str] | None:
    """Why no one step hands `var` on, and the fix; None if one does. `maximal` are the last steps
    before the reader that define or delete `var` (none of them runs after another). Only the
    reasons live here: `Flow.producer` reports either at the reader's cell and line."""
    if len(maximal) > 1:
        names = [d.step for d in maximal]
        return (
            f"{what} {var!r}, which steps {', '.join(repr(m) for m in names)} both define, "
            "and neither runs after the other, so which value it gets is ambiguous",
            f"order them (e.g. tag '{names[-1]}' with 'prev:{names[0]}') "
            "or rename the variable in one of them",
        )
    d = maximal[0]
    if d.deletes:
        return (
            f"{what} {var!r}, but step {d.step!r} deletes it (del {var}, cell {d.cell})",
            f"remove 'del {var}' from step {d.step!r}, or define {var!r} again "
            "before this step reads it",
        )
    return None


@dataclass(frozen=True)
class Shared:
    """The names the imports and functions cells and the parameters cell give every step."""

    params: dict[str, Parameter]
    #: what the imports and functions cells define
    names: set[str]
    #: the values among them (not modules, functions or classes), e.g. `LABELS = [...]`
    values: set[str]
    #: the functions cell's functions and the outside names their bodies read
    function_reads: dict[str, set[str]]


class Walk:
    """The state of the walk, built up step after step in run order."""

    def __init__(
        self,
        blocks: Blocks,
        order: list[str],
        explicit: dict[str, list[str]],
        analysed: dict[str, BlockNames],
        special: Mapping[str, Special],
        shared: Shared,
        problems: list[Problem],
    ) -> None:
        self.blocks = blocks
        self.step_blocks = {s.name: s for s in blocks.steps}
        self.order = order
        self.explicit = explicit
        self.analysed = analysed
        self.special = special
        self.shared = shared
        self.problems = problems
        self.flow = Flow(order, {n: i for i, n in enumerate(order)}, problems)
        self.after: dict[str, set[str]] = {n: set(explicit[n]) for n in order}
        self.inputs: dict[str, list[Input]] = {n: [] for n in order}
        self.used_params: dict[str, set[str]] = {n: set() for n in order}
        self.extra_imports: dict[str, list[str]] = {n: [] for n in order}
        self.step_imports: dict[str, str] = {}
        self.changes: dict[str, Change] = {}
        #: objects built around others, by the step that made them: name -> (step, those)
        self.built_around: dict[str, tuple[str, frozenset[str]]] = {}
        #: a variable a later step changed through an object built around it:
        #: name -> (that step, the object, the step that built the object)
        self.changed_through: dict[str, tuple[str, str, str]] = {}
        #: each name read by a step: the position of the last step that reads it
        self.last_read: dict[str, int] = {
            v: i for i, n in enumerate(order) for v in (*analysed[n].reads, *analysed[n].soft_reads)
        }

    def run(self) -> None:
        for name in self.order:
            from_upstream = self.reads(name)
            ancestors = 0
            for p in self.after[name]:
                ancestors |= self.flow.ancestors[p] | 1 << self.flow.position[p]
            self.flow.ancestors[name] = ancestors
            self.hands_on(name, from_upstream)

    # what a step reads ------------------------------------------------------------------------
    def reads(self, name: str) -> set[str]:
        """Find where each name the step reads comes from; the names an earlier step hands it."""
        sb = self.step_blocks[name]
        bn = self.analysed[name]
        function_reads = self.shared.function_reads
        roots = {
            n: ln for n, ln in bn.reads.items() if n in function_reads and name not in self.special
        }
        hard = dict(bn.reads)
        soft = dict(bn.soft_reads)
        # a name the step binds on some paths only, which a later step reads: on the other paths
        # it keeps its value from before the step, so that value comes in too (if one does)
        here = self.flow.position[name]
        for var in sorted(v for v in bn.maybe_bound if self.last_read.get(v, -1) > here):
            soft.setdefault(var, bn.defines[var])
        for var, at in closure(roots, function_reads).items():
            if var not in hard:
                (soft if var in bn.defines else hard).setdefault(var, at)
        from_upstream: set[str] = set()
        for var, line, required in [
            *((v, ln, True) for v, ln in hard.items()),
            *((v, ln, False) for v, ln in soft.items() if v not in hard),
        ]:
            cell, ln = sb.code.locate(line) if line else (sb.first_cell, None)
            if self.read(name, var, cell, ln, required):
                from_upstream.add(var)
        return from_upstream

    def read(self, name: str, var: str, cell: int | None, ln: int | None, required: bool) -> bool:
        """Account for step `name` reading `var`; True if an earlier step hands it on."""
        if var.startswith(RESERVED_PREFIX):
            self.problems.append(
                Problem(
                    f"names starting with {RESERVED_PREFIX!r} are reserved",
                    cell=cell,
                    step=name,
                    line=ln,
                    fix="rename the variable",
                )
            )
            return False
        if var in self.shared.params or var in self.shared.names:
            self.read_shared(name, var, cell, ln)
            return False
        p = self.flow.producer(var, self.flow.position[name], name, cell, ln, "reads")
        if p is not None:
            self.check_changed_through(name, var, p, cell, ln)
            self.inputs[name].append(Input(var, p))
            self.after[name].add(p)
            return True
        position = self.flow.position
        if any(position[d.step] < position[name] for d in self.flow.definers.get(var, [])):
            return False  # reported by producer()
        if var in self.step_imports:
            self.extra_imports[name].append(self.step_imports[var])
            return False
        if var in BUILTINS or not required:
            return False
        self.undefined(name, var, cell, ln)
        return False

    def check_changed_through(
        self, name: str, var: str, producer: str, cell: int | None, ln: int | None
    ) -> None:
        """`var` comes from `producer`, but a step after it changed `var` through an object built
        around it (`opt.step()` changes `weights`): each variable travels on its own, so this
        step would get `var` as `producer` left it, without the change."""
        through = self.changed_through.get(var)
        position = self.flow.position
        if through is None or position[through[0]] <= position[producer]:
            return
        changer, obj, builder = through
        if position[changer] >= position[name]:
            return
        self.problems.append(
            Problem(
                f"reads {var!r}, which step {changer!r} changes through {obj!r} (built around "
                f"{var!r} in step {builder!r}); variables travel between steps "
                f"one by one, so this step would get {var!r} without that change",
                cell=cell,
                step=name,
                line=ln,
                fix=f"read it through {obj!r} here, or make {obj!r} and change it in the step "
                f"that uses {var!r}",
            )
        )

    def read_shared(self, name: str, var: str, cell: int | None, ln: int | None) -> None:
        """A parameter or a shared name: from the pipeline, unless an earlier step changed it."""
        change = self.changes.get(var)
        if change is not None:
            self.problems.append(
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
        elif var in self.shared.params:
            self.used_params[name].add(var)

    def undefined(self, name: str, var: str, cell: int | None, ln: int | None) -> None:
        message = f"name {var!r} is read but nothing before this step defines it"
        later = self.later_definer(var, name)
        skipped = _skipped_definer(self.blocks, var)
        if skipped is not None and not later:
            fix = (
                f"cell {skipped}, which defines it, is skipped (tag 'skip' or a cell after one); "
                "make that cell part of a step"
            )
        elif later:
            why, fix = self.defined_later(name, later, var, cell)
            message += why
        else:
            fix = (
                "define it in an earlier step, in the imports or functions cell, "
                "or in the pipeline-parameters cell"
            )
        self.problems.append(Problem(message, cell=cell, step=name, line=ln, fix=fix))

    def defined_later(self, name: str, later: str, var: str, cell: int | None) -> tuple[str, str]:
        """Why step `name` does not get `var`, which step `later` (after it in run order)
        defines, and the fix: (words to add to the message, the fix). Where the defining cell is
        above the reading one, the notebook reads fine top to bottom, so the fix is not "move
        it up": either `name` is split around `later` (a step runs all its cells at once), or
        `prev:` tags put `later` after `name`."""
        at = self.step_blocks[later].code.locate(self.analysed[later].defines[var])[0]
        if cell is None or at is None or at >= cell:
            return "", self.with_prev(
                f"step {later!r} defines it later; move that code above this step", name, later
            )
        own = self.step_blocks[name].code.cells
        if own[0] < at:
            start = min(c for c in own if at < c <= cell)
            above = max(c for c in own if c < at)
            return (
                f": step {name!r} is split around step {later!r}, which defines it (its cells "
                f"{above} and {start} have cell {at} of step {later!r} between them), and a step "
                f"runs all its cells at once, so cell {start} runs before step {later!r}",
                self.with_prev(
                    f"give cell {start} a step of its own (tag it 'step:NEW_NAME'), or make it "
                    f"part of step {later!r}",
                    name,
                    later,
                ),
            )
        if name in self.explicit[later]:
            return (
                f": step {later!r} defines it in cell {at}, above, but runs after this step, "
                f"as its tag 'prev:{name}' says",
                f"remove the tag 'prev:{name}' from step {later!r}",
            )
        return (
            f": step {later!r} defines it in cell {at}, above, but runs after this step, as "
            "the 'prev:' tags say",
            f"change the 'prev:' tags so that step {later!r} runs before this one",
        )

    def with_prev(self, fix: str, name: str, later: str) -> str:
        """`fix`, with tagging step `name` 'prev:`later`' as another way, unless that makes a
        cycle (a `later` that reads what `name` defines must run after it)."""
        back = sorted(set(self.analysed[later].reads) & set(self.analysed[name].defines))
        if not back:
            return f"{fix}, or tag this step 'prev:{later}'"
        return (
            f"{fix} (tagging this step 'prev:{later}' would make a cycle: step {later!r} "
            f"reads {back[0]!r} from it)"
        )

    def later_definer(self, var: str, name: str) -> str | None:
        for n in self.order[self.flow.position[name] + 1 :]:
            if var in self.analysed[n].defines:
                return n
        return None

    # what a step hands on ---------------------------------------------------------------------
    def hands_on(self, name: str, from_upstream: set[str]) -> None:
        """What the step binds (not by import) and what it changes of its inputs."""
        sb = self.step_blocks[name]
        bn = self.analysed[name]
        params, shared = self.shared.params, self.shared.names
        bound = set(bn.defines) - set(bn.imports)
        changed = {m for m in bn.mutates if m in from_upstream}
        for var in sorted(changed):
            builder, inners = self.built_around.get(var, ("", frozenset()))
            for inner in sorted(inners):
                self.changed_through[inner] = (name, var, builder)
        for var in sorted(bound):
            if var in bn.aliases:
                self.built_around[var] = (name, bn.aliases[var])
            else:
                self.built_around.pop(var, None)
        for var in sorted((bound | changed) - set(bn.deletes)):
            if var in params or var in shared:
                if var in bound or var in params:
                    line = bn.defines.get(var) or bn.mutates.get(var) or 0
                    cell, ln = sb.code.locate(line)
                    what = "parameter" if var in params else "shared name"
                    self.changes.setdefault(var, Change(name, cell, ln, what))
                continue
            line = bn.defines.get(var) or bn.mutates.get(var) or 0
            cell, ln = sb.code.locate(line)
            self.flow.definers.setdefault(var, []).append(Definer(name, False, cell, ln))
        for var in sorted(bn.mutates):
            if (
                (var in params or var in self.shared.values)
                and var in bn.reads
                and var not in self.changes
            ):
                cell, ln = sb.code.locate(bn.mutates[var])
                self.changes[var] = Change(
                    name, cell, ln, "parameter" if var in params else "shared name"
                )
        for var, line in sorted(bn.deletes.items()):
            if var in params or var in shared:
                continue
            cell, ln = sb.code.locate(line)
            self.flow.definers.setdefault(var, []).append(Definer(name, True, cell, ln))
        for var, stmt in bn.imports.items():
            self.step_imports.setdefault(var, stmt)

    def metrics(self) -> dict[str, list[str]]:
        """Each metric is logged by the step that holds its final value (as the notebook would)."""
        blocks, order, flow = self.blocks, self.order, self.flow
        params, changes, used_params = self.shared.params, self.changes, self.used_params
        metric_step: dict[str, list[str]] = {n: [] for n in order}
        for m in blocks.metrics:
            cell = blocks.metric_cells.get(m)
            if m in params:
                # Kale reports a parameter listed as a metric. Pipelines report metrics only from
                # steps, so a Python step that gets the parameter unchanged logs its run value: the
                # first that reads it, else the first Python step (which is then given it).
                changer = changes[m].step if m in changes else None
                python = [n for n in order if n not in self.special and n != changer]
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


def _skipped_definer(blocks: Blocks, var: str) -> int | None:
    """The first skipped cell that defines `var`, to explain why nothing else does."""
    for cell, code in blocks.skipped:
        try:
            if var in analyse_block(code).defines:
                return cell
        except SyntaxError:
            continue
    return None
