"""Which names a block of code reads from outside, defines, mutates and deletes, in program order.

This is the heart of the data-flow analysis. It walks the module-level statements in evaluation
order, so `x = x + 1` reads x from upstream while `x = 1; print(x)` does not. Code inside function,
lambda and class bodies runs later (when called), so their free names are collected separately:
they count as reads from outside only when the block never assigns them at its top level.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

BUILTINS = frozenset(dir(builtins)) | {"__file__", "__name__", "display", "get_ipython", "__builtins__"}

#: Method names that do not change their object. Any other method called on a variable from
#: upstream is assumed to change it (`model.fit(X)`, `items.append(1)`), so the step hands it on.
PURE_METHODS = frozenset(
    """
    head tail describe info copy mean median mode sum min max std var count nunique unique
    value_counts isna isnull notna notnull any all idxmax idxmin argmax argmin round abs corr cov
    quantile to_numpy to_list tolist to_dict to_json to_csv to_parquet to_pickle to_string to_frame
    to_markdown to_html to_records astype reshape flatten ravel transpose dot sample groupby agg
    aggregate apply map applymap pipe filter query select_dtypes get keys values items index
    predict predict_proba predict_log_proba decision_function score transform inverse_transform
    get_params get_feature_names_out plot hist boxplot format startswith endswith split join strip
    lower upper replace find rfind encode decode issubset issuperset union intersection difference
    merge concat drop dropna fillna rename reset_index set_index sort_values sort_index iterrows
    itertuples where clip cumsum cumprod diff pct_change shift rolling expanding resample
    memory_usage equals isin between nlargest nsmallest duplicated drop_duplicates explode melt
    pivot pivot_table stack unstack squeeze item numpy detach cpu cuda float double int long
    size dim state_dict parameters named_parameters children modules eval_metric summary
    """.split()
)
#: Methods that change their object even though their name looks pure (`df.drop(..., inplace=True)`
#: is caught by the inplace keyword instead).
MUTATING_METHODS = frozenset({"fit", "partial_fit", "fit_transform", "fit_predict", "train", "eval"})


@dataclass
class NameUse:
    name: str
    line: int


@dataclass
class BlockNames:
    """What one block (a step, or an imports/functions cell) does with names."""

    #: names read before this block defines them (first use first), with the line of that use
    reads: dict[str, int] = field(default_factory=dict)
    #: names bound at the top level, in order
    defines: dict[str, int] = field(default_factory=dict)
    #: names of objects from outside that this block changes in place
    mutates: dict[str, int] = field(default_factory=dict)
    #: names deleted at the top level and not bound again afterwards
    deletes: set[str] = field(default_factory=set)
    #: names bound by import statements, with the statement that binds them
    imports: dict[str, str] = field(default_factory=dict)
    #: top-level function (and class) definitions and the outside names their bodies read
    function_reads: dict[str, set[str]] = field(default_factory=dict)
    #: star imports (they make the names a block defines unknowable)
    star_imports: list[int] = field(default_factory=list)


def _target_names(node: ast.AST) -> list[ast.Name]:
    out: list[ast.Name] = []
    if isinstance(node, ast.Name):
        out.append(node)
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            out.extend(_target_names(elt))
    elif isinstance(node, ast.Starred):
        out.extend(_target_names(node.value))
    return out


def _root_name(node: ast.AST) -> ast.Name | None:
    """The variable at the root of `a.b[c].d`, or None."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node if isinstance(node, ast.Name) else None


class _ScopeFree(ast.NodeVisitor):
    """Free names of a function/lambda/class body: read there, bound nowhere on the way out."""

    def __init__(self) -> None:
        self.free: set[str] = set()

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
        args = node.args
        params = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
        if args.vararg:
            params.add(args.vararg.arg)
        if args.kwarg:
            params.add(args.kwarg.arg)
        body = node.body if isinstance(node.body, list) else [node.body]
        return self._scope(body, params)

    def _scope(self, body: list[ast.stmt] | list[ast.expr], bound: set[str]) -> set[str]:
        local = set(bound)
        globals_: set[str] = set()
        reads: set[str] = set()
        inner_free: set[str] = set()
        for stmt in body:
            for node in _walk_scope(stmt):
                if isinstance(node, ast.Global):
                    globals_.update(node.names)
                elif isinstance(node, ast.Nonlocal):
                    reads.update(node.names)
                elif isinstance(node, ast.Name):
                    if isinstance(node.ctx, (ast.Store, ast.Del)):
                        local.add(node.id)
                    else:
                        reads.add(node.id)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    for a in node.names:
                        if a.name != "*":
                            local.add((a.asname or a.name).split(".")[0])
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    local.add(node.name)
                    inner_free |= _nested_free(node)
                elif isinstance(node, ast.Lambda):
                    inner_free |= _ScopeFree().function(node)
                elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                    inner_free |= _comprehension_free(node)
                elif isinstance(node, ast.ExceptHandler) and node.name:
                    local.add(node.name)
                elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
                    local.add(node.name)
                elif isinstance(node, ast.MatchMapping) and node.rest:
                    local.add(node.rest)
        local -= globals_
        return (reads | inner_free) - local


def _walk_scope(node: ast.AST) -> list[ast.AST]:
    """Nodes of one scope: stops at nested function, lambda, class and comprehension bodies."""
    out: list[ast.AST] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # decorators, defaults and annotations belong to the enclosing scope
            stack.extend(n.decorator_list)
            stack.extend(d for d in (*n.args.defaults, *n.args.kw_defaults) if d is not None)
            continue
        if isinstance(n, ast.ClassDef):
            stack.extend(n.decorator_list)
            stack.extend(n.bases)
            stack.extend(k.value for k in n.keywords)
            continue
        if isinstance(n, ast.Lambda):
            stack.extend(d for d in (*n.args.defaults, *n.args.kw_defaults) if d is not None)
            continue
        if isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            # the first iterable is evaluated in the enclosing scope
            stack.append(n.generators[0].iter)
            # a walrus inside a comprehension binds in the enclosing scope
            for sub in ast.walk(n):
                if isinstance(sub, ast.NamedExpr):
                    out.append(sub.target)
            continue
        stack.extend(ast.iter_child_nodes(n))
    return out


def _nested_free(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> set[str]:
    if isinstance(node, ast.ClassDef):
        # names bound in a class body are not visible to its methods, but are to the body itself
        return _ScopeFree()._scope(node.body, set())
    return _ScopeFree().function(node)


def _comprehension_free(node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> set[str]:
    bound: set[str] = set()
    reads: set[str] = set()
    for i, gen in enumerate(node.generators):
        for n in _target_names(gen.target):
            bound.add(n.id)
        exprs: list[ast.AST] = list(gen.ifs)
        if i > 0:
            exprs.append(gen.iter)
        for e in exprs:
            reads |= _expr_free(e)
    elts: list[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    for e in elts:
        reads |= _expr_free(e)
    return reads - bound


def _expr_free(expr: ast.AST) -> set[str]:
    out: set[str] = set()
    for n in _walk_scope(expr):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, ast.Lambda):
            out |= _ScopeFree().function(n)
        elif isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            out |= _comprehension_free(n)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out |= _nested_free(n)
    return out


class _ModuleWalker:
    """Walks module-level code in evaluation order, tracking what is defined so far."""

    def __init__(self, source_lines: list[str]) -> None:
        self.r = BlockNames()
        self.defined: set[str] = set()
        self.deferred: dict[str, int] = {}
        self.lines = source_lines

    # reads and writes -------------------------------------------------------------------------
    def read(self, name: str, line: int) -> None:
        if name not in self.defined and name not in self.r.reads:
            self.r.reads[name] = line

    def write(self, name: str, line: int) -> None:
        self.defined.add(name)
        self.r.defines.setdefault(name, line)
        self.r.deletes.discard(name)

    def mutate(self, node: ast.AST) -> None:
        root = _root_name(node)
        if root is None:
            return
        self.read(root.id, root.lineno)
        if root.id not in self.r.mutates:
            self.r.mutates[root.id] = root.lineno

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
            self.defer(_ScopeFree().function(node), node.lineno)
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            self.expr(node.generators[0].iter)
            for name in sorted(_comprehension_free(node)):
                self.read(name, node.lineno)
            for sub in ast.walk(node):
                if isinstance(sub, ast.NamedExpr):
                    self.write(sub.target.id, sub.lineno)
            return
        if isinstance(node, ast.Call):
            self.expr(node.func)
            for a in node.args:
                self.expr(a)
            for k in node.keywords:
                self.expr(k.value)
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, (ast.Name, ast.Attribute, ast.Subscript)):
                inplace = any(
                    k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in node.keywords
                )
                if inplace or f.attr in MUTATING_METHODS or (
                    f.attr not in PURE_METHODS and not f.attr.startswith(("to_", "get_", "is_", "as"))
                ):
                    self.mutate(f.value)
            return
        for child in ast.iter_child_nodes(node):
            self.expr(child)

    def defer(self, names: set[str], line: int) -> None:
        for n in names:
            self.deferred.setdefault(n, line)

    # assignment targets -------------------------------------------------------------------------
    def target(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            self.write(node.id, node.lineno)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for e in node.elts:
                self.target(e)
        elif isinstance(node, ast.Starred):
            self.target(node.value)
        elif isinstance(node, ast.Subscript):
            self.expr(node.slice)
            self.expr_inner(node.value)
            self.mutate(node)
        elif isinstance(node, ast.Attribute):
            self.expr_inner(node.value)
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
            self.expr(s.value)
            for t in s.targets:
                self.target(t)
        elif isinstance(s, ast.AugAssign):
            if isinstance(s.target, ast.Name):
                self.read(s.target.id, s.lineno)
                self.expr(s.value)
                self.write(s.target.id, s.lineno)
            else:
                self.expr(s.value)
                self.target(s.target)
        elif isinstance(s, ast.AnnAssign):
            if s.value is not None:
                self.expr(s.value)
                self.target(s.target)
        elif isinstance(s, (ast.For, ast.AsyncFor)):
            self.expr(s.iter)
            self.target(s.target)
            self.stmts(s.body)
            self.stmts(s.orelse)
        elif isinstance(s, (ast.With, ast.AsyncWith)):
            for item in s.items:
                self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.target(item.optional_vars)
            self.stmts(s.body)
        elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for d in s.decorator_list:
                self.expr(d)
            if isinstance(s, ast.ClassDef):
                for b in s.bases:
                    self.expr(b)
                for k in s.keywords:
                    self.expr(k.value)
            else:
                for d in (*s.args.defaults, *s.args.kw_defaults):
                    self.expr(d)
            free = _nested_free(s)
            free.discard(s.name)
            self.r.function_reads[s.name] = set(free)
            self.defer(free, s.lineno)
            self.write(s.name, s.lineno)
        elif isinstance(s, (ast.Import, ast.ImportFrom)):
            text = ast.unparse(s)
            for a in s.names:
                if a.name == "*":
                    self.r.star_imports.append(s.lineno)
                    continue
                bound = a.asname or a.name.split(".")[0]
                self.write(bound, s.lineno)
                self.r.imports[bound] = text
        elif isinstance(s, ast.Delete):
            for t in s.targets:
                for n in _target_names(t):
                    self.read(n.id, n.lineno)
                    self.defined.discard(n.id)
                    self.r.deletes.add(n.id)
                if isinstance(t, (ast.Subscript, ast.Attribute)):
                    self.expr_inner(t)
                    self.mutate(t)
        elif isinstance(s, (ast.If, ast.While)):
            self.expr(s.test)
            self.stmts(s.body)
            self.stmts(s.orelse)
        elif isinstance(s, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self.stmts(s.body)  # type: ignore[attr-defined]
            for h in s.handlers:  # type: ignore[attr-defined]
                self.expr(h.type)
                if h.name:
                    self.write(h.name, h.lineno)
                self.stmts(h.body)
            self.stmts(s.orelse)  # type: ignore[attr-defined]
            self.stmts(s.finalbody)  # type: ignore[attr-defined]
        elif isinstance(s, ast.Match):
            self.expr(s.subject)
            for case in s.cases:
                for n in ast.walk(case.pattern):
                    if isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
                        self.write(n.name, case.pattern.lineno)
                    elif isinstance(n, ast.MatchMapping) and n.rest:
                        self.write(n.rest, case.pattern.lineno)
                    elif isinstance(n, ast.MatchValue):
                        self.expr(n.value)
                    elif isinstance(n, ast.MatchClass):
                        self.expr(n.cls)
                self.expr(case.guard)
                self.stmts(case.body)
        elif isinstance(s, (ast.Global, ast.Nonlocal, ast.Pass, ast.Break, ast.Continue)):
            pass
        else:  # Expr, Return, Raise, Assert, ...
            for child in ast.iter_child_nodes(s):
                self.expr(child)

    def finish(self) -> BlockNames:
        # Code in function bodies runs later: a free name there is read from outside only if the
        # block never binds it at its top level.
        for name, line in self.deferred.items():
            if name not in self.r.defines and name not in self.r.reads:
                self.r.reads[name] = line
        return self.r


def analyse_block(code: str, filename: str = "<cell>") -> BlockNames:
    """Analyse module-level `code`. Raises SyntaxError (with lineno) for invalid code."""
    tree = ast.parse(code, filename=filename)
    w = _ModuleWalker(code.split("\n"))
    w.stmts(tree.body)
    return w.finish()
