"""Which names a block of code reads from outside, defines, changes and deletes, in program order.

This is the heart of the data-flow analysis. It walks the module-level statements in evaluation
order, so `x = x + 1` reads x from upstream while `x = 1; print(x)` does not. Code inside function
and lambda bodies runs later (when called), so their free names are collected separately: they
are reads from outside when the block never binds them at its top level, and "soft" reads (from
outside only if something upstream defines them) when the block binds them after the definition.

Changing an object in place (`df['x'] = 1`, `model.fit(X)`, `items.append(1)`, `f(df)` where `f`
changes its argument) counts as defining it again, so the changed object is handed on. A method
is assumed to change a variable it is called on unless it is known not to (`df.head()`,
`model.predict(X)`): handing on an unchanged object costs a copy, missing a change gives wrong
results. Methods on a part of a variable (`df.plot.scatter()`, `df.columns.tolist()`) change it
only when they are known to (`.append`, `.fit`, `inplace=True`).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..model import PYTHON_BUILTINS
from .effects import FunctionEffects, built_around, changed_by_call, root_name
from .scopes import (
    COMPREHENSIONS,
    Comprehension,
    comprehension_free,
    free_names,
    function_effects,
    scope_bindings,
    signature_exprs,
    target_names,
)

#: Names that exist in every kernel (and in every step program) without being defined: the one
#: fixed list, so that the analysis (and so the bytes compiled) is the same on every Python and
#: inside IPython, whose `builtins` holds more.
BUILTINS = PYTHON_BUILTINS | {"__file__", "__builtins__"}


@dataclass
class BlockNames:
    """What one block (a step, or an imports/functions cell) does with names."""

    #: names read before this block defines them (first use first), with the line of that use
    reads: dict[str, int] = field(default_factory=dict)
    #: the part of `reads` read only inside function or lambda bodies (they run when called)
    late_reads: set[str] = field(default_factory=set)
    #: read where the block may or may not have bound them yet (by a function body before the
    #: block binds them, or after a binding on some paths only, as under an `if`): from upstream
    #: only if upstream has them, which is the value the notebook would have on the other paths
    soft_reads: dict[str, int] = field(default_factory=dict)
    #: names the block binds on some paths only (under an `if`, in a loop, in a `try`), so that
    #: at its end they may still hold the value they had before it
    maybe_bound: set[str] = field(default_factory=set)
    #: objects the block builds around others (`opt = SGD(weights)`): name -> those, at its end
    aliases: dict[str, frozenset[str]] = field(default_factory=dict)
    #: names bound at the top level, in order
    defines: dict[str, int] = field(default_factory=dict)
    #: names of objects this block changes in place (from outside, or its own)
    mutates: dict[str, int] = field(default_factory=dict)
    #: names deleted at the top level and not bound again afterwards
    deletes: dict[str, int] = field(default_factory=dict)
    #: names bound by import statements, with the statement that binds them
    imports: dict[str, str] = field(default_factory=dict)
    #: top-level function (and class) definitions and the outside names their bodies read
    function_reads: dict[str, set[str]] = field(default_factory=dict)
    #: what calling each top-level function does to outside names
    functions: dict[str, FunctionEffects] = field(default_factory=dict)
    #: star imports (they make the names a block defines unknowable)
    star_imports: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Module-level code, in evaluation order


class _ModuleWalker:
    """Walks module-level code in evaluation order, tracking what is defined so far."""

    def __init__(self, known: Mapping[str, FunctionEffects]) -> None:
        self.r = BlockNames()
        self.defined: set[str] = set()
        #: free names of function bodies: name -> (line, bound in the block when the function was)
        self.deferred: dict[str, tuple[int, bool]] = {}
        self.known = dict(known)
        #: objects built around other variables (`opt = SGD(model.parameters())`): name -> those
        self.aliases: dict[str, frozenset[str]] = {}

    # reads and writes -------------------------------------------------------------------------
    def read(self, name: str, line: int) -> None:
        if name in self.defined or name in self.r.reads:
            return
        if name in self.r.defines and name not in self.r.deletes:
            self.r.soft_reads.setdefault(name, line)  # bound on some paths only, so far
        else:
            self.r.reads[name] = line

    def paths(self, before: set[str], *bodies: list[ast.stmt]) -> None:
        """Walk alternative bodies, each from `before`: afterwards a name is defined if every
        body that goes on to the next statement defines it (one that ends in raise, return,
        break or continue does not go on)."""
        after: set[str] | None = None
        for body in bodies:
            self.defined = set(before)
            self.stmts(body)
            if _leaves(body):
                continue
            after = self.defined if after is None else after & self.defined
        self.defined = after if after is not None else set(before)

    def write(self, name: str, line: int) -> None:
        self.defined.add(name)
        self.r.defines.setdefault(name, line)
        self.r.deletes.pop(name, None)
        self.known.pop(name, None)
        self.aliases.pop(name, None)

    def mutate(self, node: ast.AST) -> None:
        root = root_name(node)
        if root is None:
            return
        self.read(root.id, root.lineno)
        self.r.mutates.setdefault(root.id, root.lineno)

    def defer(self, names: set[str], line: int) -> None:
        for n in sorted(names):
            if n not in self.deferred:
                self.deferred[n] = (line, n in self.defined)

    # expressions ------------------------------------------------------------------------------
    def expr(self, node: ast.AST | None) -> None:
        """Reads of an expression, in evaluation order (approximately: left to right)."""
        if node is None:
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.read(node.id, node.lineno)
            return
        if isinstance(node, ast.NamedExpr):
            self.expr(node.value)
            self.write(node.target.id, node.lineno)
            return
        if isinstance(node, ast.Lambda):
            for d in (*node.args.defaults, *node.args.kw_defaults):
                self.expr(d)
            self.defer(free_names(node), node.lineno)
            return
        if isinstance(node, COMPREHENSIONS):
            self.comprehension(node)
            return
        if isinstance(node, ast.Call):
            self.expr(node.func)
            for a in node.args:
                self.expr(a)
            for k in node.keywords:
                self.expr(k.value)
            self.call_effects(node)
            return
        for child in ast.iter_child_nodes(node):
            self.expr(child)

    def call_effects(self, node: ast.Call, bound: frozenset[str] = frozenset()) -> None:
        changed, outside, bound_globals = changed_by_call(node, self.known)
        for e in changed:
            root = root_name(e)
            if root is not None and root.id not in bound:
                self.mutate(e)
                # `opt.step()` changes the model `opt` was built around
                for shared in sorted(self.aliases.get(root.id, ())):
                    self.read(shared, node.lineno)
                    self.r.mutates.setdefault(shared, node.lineno)
        for name in sorted(outside):
            self.read(name, node.lineno)
            self.r.mutates.setdefault(name, node.lineno)
        for name in sorted(bound_globals):
            self.write(name, node.lineno)

    def comprehension(self, node: Comprehension) -> None:
        self.expr(node.generators[0].iter)
        for name in sorted(comprehension_free(node)):
            self.read(name, node.lineno)
        bound = frozenset(n.id for g in node.generators for n in target_names(g.target))
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                self.call_effects(sub, bound)
            elif isinstance(sub, ast.NamedExpr):
                self.write(sub.target.id, sub.lineno)

    # assignment targets -------------------------------------------------------------------------
    def target(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            self.write(node.id, node.lineno)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for e in node.elts:
                self.target(e)
        elif isinstance(node, ast.Starred):
            self.target(node.value)
        elif isinstance(node, (ast.Subscript, ast.Attribute)):
            self.expr_inner(node)
            self.mutate(node)

    def expr_inner(self, node: ast.AST) -> None:
        # `a.b[c] = x` reads a (and c); the root read is recorded by mutate()
        if isinstance(node, ast.Subscript):
            self.expr(node.slice)
            self.expr_inner(node.value)
        elif isinstance(node, ast.Attribute):
            self.expr_inner(node.value)
        elif not isinstance(node, ast.Name):
            self.expr(node)

    # statements -------------------------------------------------------------------------------
    def stmts(self, body: list[ast.stmt]) -> None:
        for s in body:
            self.stmt(s)

    def stmt(self, s: ast.stmt) -> None:
        if isinstance(s, ast.Assign):
            self.assign(s)
        elif isinstance(s, ast.AugAssign):
            self.aug_assign(s)
        elif isinstance(s, ast.AnnAssign):
            self.expr(s.annotation)
            if s.value is not None:
                self.expr(s.value)
                self.target(s.target)
        elif isinstance(s, (ast.For, ast.AsyncFor)):
            self.expr(s.iter)
            before = set(self.defined)
            self.target(s.target)
            self.stmts(s.body)
            self.defined = before  # the loop may not run at all
            self.stmts(s.orelse)
        elif isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.target(item.optional_vars)
            self.stmts(s.body)
        elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.definition(s)
        elif isinstance(s, (ast.Import, ast.ImportFrom)):
            self.import_(s)
        elif isinstance(s, ast.Delete):
            self.delete(s)
        elif isinstance(s, ast.If):
            self.expr(s.test)
            self.paths(set(self.defined), s.body, s.orelse)
        elif isinstance(s, ast.While):
            self.expr(s.test)
            before = set(self.defined)
            self.stmts(s.body)
            self.defined = before  # the loop may not run at all
            self.stmts(s.orelse)
        elif isinstance(s, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self.try_(s)  # type: ignore[arg-type]
        elif isinstance(s, ast.Match):
            self.match(s)
        elif isinstance(s, (ast.Global, ast.Nonlocal, ast.Pass, ast.Break, ast.Continue)):
            pass
        else:  # Expr, Return, Raise, Assert, ...
            for child in ast.iter_child_nodes(s):
                self.expr(child)

    def assign(self, s: ast.Assign) -> None:
        self.expr(s.value)
        for t in s.targets:
            self.target(t)
        sources = built_around(s.value)
        if sources:
            sources |= {a for n in sources for a in self.aliases.get(n, ())}
            for t in s.targets:
                for n in target_names(t):
                    self.aliases[n.id] = frozenset(sources - {n.id})

    def aug_assign(self, s: ast.AugAssign) -> None:
        if isinstance(s.target, ast.Name):
            self.read(s.target.id, s.lineno)
            self.expr(s.value)
            self.write(s.target.id, s.lineno)
        else:
            self.expr(s.value)
            self.target(s.target)

    def import_(self, s: ast.Import | ast.ImportFrom) -> None:
        text = ast.unparse(s)
        for a in s.names:
            if a.name == "*":
                self.r.star_imports.append(s.lineno)
                continue
            bound = a.asname or a.name.split(".")[0]
            self.write(bound, s.lineno)
            self.r.imports[bound] = text

    def delete(self, s: ast.Delete) -> None:
        for t in s.targets:
            for n in target_names(t):
                self.read(n.id, n.lineno)
                self.defined.discard(n.id)
                self.r.deletes[n.id] = n.lineno
            if isinstance(t, (ast.Subscript, ast.Attribute)):
                self.expr_inner(t)
                self.mutate(t)

    def try_(self, s: ast.Try) -> None:
        """`try` and `try*`: the handlers' names end with their handlers. A handler may run after
        any part of the body, so it starts from what was defined before the `try`."""
        before = set(self.defined)
        self.stmts(s.body)
        self.stmts(s.orelse)
        after = None if _leaves(s.orelse or s.body) else self.defined
        for h in s.handlers:
            self.defined = set(before)
            self.expr(h.type)
            if h.name:
                self.write(h.name, h.lineno)
            self.stmts(h.body)
            if h.name:  # Python deletes the exception's name when the handler ends
                self.defined.discard(h.name)
                if self.r.defines.get(h.name) == h.lineno:
                    del self.r.defines[h.name]
            if not _leaves(h.body):
                after = self.defined if after is None else after & self.defined
        self.defined = after if after is not None else before
        self.stmts(s.finalbody)

    def match(self, s: ast.Match) -> None:
        self.expr(s.subject)
        for case in s.cases:
            for pat in ast.walk(case.pattern):
                if isinstance(pat, (ast.MatchAs, ast.MatchStar)) and pat.name:
                    self.write(pat.name, case.pattern.lineno)
                elif isinstance(pat, ast.MatchMapping):
                    for k in pat.keys:
                        self.expr(k)
                    if pat.rest:
                        self.write(pat.rest, case.pattern.lineno)
                elif isinstance(pat, ast.MatchValue):
                    self.expr(pat.value)
                elif isinstance(pat, ast.MatchClass):
                    self.expr(pat.cls)
            self.expr(case.guard)
            self.stmts(case.body)

    def definition(self, s: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        for d in s.decorator_list:
            self.expr(d)
        if isinstance(s, ast.ClassDef):
            for b in s.bases:
                self.expr(b)
            for k in s.keywords:
                self.expr(k.value)
            # the class body runs now; its methods run later
            local, reads, globals_, inner = scope_bindings(s.body)
            now = reads - (local - globals_)
            for name in sorted(now):
                self.read(name, s.lineno)
            free = now | inner
            self.defer(inner - {s.name}, s.lineno)
        else:
            for e in signature_exprs(s.args):
                self.expr(e)
            if s.returns is not None:
                self.expr(s.returns)
            free = free_names(s)
            self.defer(free - {s.name}, s.lineno)
            effects = function_effects(s, self.known)
        self.r.function_reads[s.name] = free - {s.name}
        self.write(s.name, s.lineno)
        if not isinstance(s, ast.ClassDef):
            self.known[s.name] = effects
            self.r.functions[s.name] = effects

    def finish(self) -> BlockNames:
        self.r.aliases = dict(self.aliases)
        self.r.maybe_bound = {
            n for n in self.r.defines if n not in self.defined and n not in self.r.deletes
        }
        # Code in function bodies runs later: a free name there is read from outside if the block
        # never binds it, and maybe read from outside if the block binds it only afterwards.
        for name, (line, bound_then) in self.deferred.items():
            if name in self.r.reads or bound_then:
                continue
            if name in self.r.defines:
                self.r.soft_reads[name] = line
            else:
                self.r.reads[name] = line
                self.r.late_reads.add(name)
        return self.r


def _leaves(body: list[ast.stmt]) -> bool:
    """Whether a body never goes on to the statement after it (it ends in raise, return, break
    or continue)."""
    return bool(body) and isinstance(body[-1], (ast.Raise, ast.Return, ast.Break, ast.Continue))


def analyse_block(
    code: str, known: Mapping[str, FunctionEffects] = {}, filename: str = "<cell>"
) -> BlockNames:
    """Analyse module-level `code`; `known` are functions defined elsewhere (the functions cells).

    Raises SyntaxError (with lineno) for invalid code.
    """
    tree = ast.parse(code, filename=filename)
    w = _ModuleWalker(known)
    w.stmts(tree.body)
    return w.finish()
