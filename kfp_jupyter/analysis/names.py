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
import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Names that exist in every kernel (and in every step program) without being defined.
BUILTINS = frozenset(dir(builtins)) | {
    "__file__",
    "__name__",
    "__builtins__",
    "display",
    "get_ipython",
}

#: Methods that do not change the object they are called on.
PURE_METHODS = _words(
    """
    head tail describe info copy mean median mode sum min max std var sem count nunique unique
    value_counts isna isnull notna notnull any all idxmax idxmin argmax argmin round abs corr cov
    quantile numpy astype reshape flatten ravel transpose dot sample groupby agg aggregate apply
    map applymap pipe filter query select_dtypes get keys values items index rindex assign
    predict predict_proba predict_log_proba decision_function score score_samples transform
    inverse_transform evaluate kneighbors plot hist boxplot format format_map startswith endswith
    split rsplit splitlines join strip lstrip rstrip lower upper title capitalize casefold replace
    find rfind encode decode zfill center ljust rjust partition rpartition isdigit isalpha
    isalnum isspace isnumeric issubset issuperset isdisjoint union intersection difference
    symmetric_difference merge concat combine_first compare join drop dropna fillna bfill ffill
    interpolate rename rename_axis reindex reset_index set_index set_axis sort_values sort_index
    argsort searchsorted nonzero iterrows itertuples iteritems where mask clip cumsum cumprod
    cummax cummin diff pct_change shift rolling expanding ewm resample memory_usage equals isin
    between nlargest nsmallest duplicated drop_duplicates explode melt pivot pivot_table stack
    unstack squeeze item detach cpu cuda float double int long half bool view permute unsqueeze
    contiguous clone size dim numel state_dict parameters named_parameters buffers
    named_buffers children named_children modules named_modules summary most_common elements
    total match fullmatch search findall finditer sub subn exists resolve absolute glob rglob
    iterdir read_text read_bytes with_suffix with_name with_stem joinpath relative_to stat
    save savefig save_model save_pretrained save_weights show dump dumps tobytes tofile
    to_numpy to_list tolist to_dict to_json to_csv to_parquet to_pickle to_string to_frame
    to_markdown to_html to_records to_excel to_sql to_latex to_xarray to_period to_timestamp
    """
)
#: Methods that change their object even on a part of a variable (`obj.items.append(1)`).
MUTATING_METHODS = _words(
    """
    fit partial_fit fit_transform fit_predict fit_resample train eval compile
    append extend insert pop popitem remove clear add discard update setdefault sort reverse
    intersection_update difference_update symmetric_difference_update
    load_state_dict zero_grad requires_grad_ set_params set_output
    """
)
#: Methods whose result is a view into their object (`model.parameters()`).
VIEW_METHODS = frozenset({"parameters", "named_parameters", "buffers", "modules", "children"})
#: Lower-case factories that wrap their arguments without copying them.
WRAPPING_FACTORIES = frozenset(
    {"make_pipeline", "make_union", "asarray", "asanyarray", "from_numpy"}
)
#: Functions that change their first argument in place (`random.shuffle(xs)`, `np.random.shuffle(a)`).
INPLACE_FUNCTIONS = frozenset({"shuffle", "fill_diagonal", "copyto", "putmask", "place"})


@dataclass(frozen=True)
class FunctionEffects:
    """What calling a function does to names outside it, so that a call site can account for it."""

    params: tuple[str, ...] = ()
    #: parameters whose object the function changes in place
    changed_params: frozenset[str] = frozenset()
    #: outside objects the function changes in place
    changed_globals: frozenset[str] = frozenset()
    #: names the function binds with a `global` statement
    bound_globals: frozenset[str] = frozenset()


@dataclass
class BlockNames:
    """What one block (a step, or an imports/functions cell) does with names."""

    #: names read before this block defines them (first use first), with the line of that use
    reads: dict[str, int] = field(default_factory=dict)
    #: the part of `reads` read only inside function or lambda bodies (they run when called)
    late_reads: set[str] = field(default_factory=set)
    #: read by a function body before the block binds them: from upstream only if upstream has them
    soft_reads: dict[str, int] = field(default_factory=dict)
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


COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
Comprehension = ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


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
    """The variable at the root of `a.b[c].d`, or None (e.g. for `f().x`)."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node if isinstance(node, ast.Name) else None


def _is_pure(method: str) -> bool:
    return method in PURE_METHODS or method.startswith(("to_", "get_", "is_", "as", "_repr"))


def changed_by_call(
    call: ast.Call, known: Mapping[str, FunctionEffects] = {}
) -> tuple[list[ast.expr], frozenset[str], frozenset[str]]:
    """What a call changes: (expressions changed in place, outside names changed, names bound)."""
    changed: list[ast.expr] = []
    f = call.func
    if isinstance(f, ast.Attribute) and _root_name(f.value) is not None:
        inplace = any(
            k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in call.keywords
        )
        on_variable = isinstance(f.value, ast.Name)
        if inplace or f.attr in MUTATING_METHODS or (on_variable and not _is_pure(f.attr)):
            changed.append(f.value)
    fname = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
    if fname in INPLACE_FUNCTIONS and call.args:
        changed.append(call.args[0])
    effects = known.get(f.id) if isinstance(f, ast.Name) else None
    if effects is None:
        return changed, frozenset(), frozenset()
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            break
        if i < len(effects.params) and effects.params[i] in effects.changed_params:
            changed.append(arg)
    for k in call.keywords:
        if k.arg is not None and k.arg in effects.changed_params:
            changed.append(k.value)
    return changed, effects.changed_globals, effects.bound_globals


def built_around(value: ast.expr) -> set[str]:
    """Variables an object shares state with, when `value` builds it around them.

    A constructor call (`SGD(model.parameters())`, `Pipeline([('m', model)])`, `Trainer(model=m)`)
    keeps references to its arguments, so changing the new object (`opt.step()`, `pipe.fit()`)
    changes them too. Plain functions and methods are assumed to return new objects.
    """
    if not isinstance(value, ast.Call):
        return set()
    f = value.func
    callee = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    if not (callee[:1].isupper() or callee in WRAPPING_FACTORIES):
        return set()
    out: set[str] = set()
    todo: list[ast.expr] = [*value.args, *(k.value for k in value.keywords)]
    while todo:
        e = todo.pop()
        if isinstance(e, ast.Starred):
            todo.append(e.value)
        elif isinstance(e, ast.Name):
            out.add(e.id)
        elif isinstance(e, (ast.List, ast.Tuple, ast.Set)):
            todo.extend(e.elts)
        elif isinstance(e, ast.Dict):
            todo.extend(v for v in e.values if v is not None)
        elif (
            isinstance(e, ast.Call)
            and isinstance(e.func, ast.Attribute)
            and e.func.attr in VIEW_METHODS
            and isinstance(e.func.value, ast.Name)
        ):
            out.add(e.func.value.id)
    return out


# ---------------------------------------------------------------------------------------------
# Scopes: the free names of function, lambda, class and comprehension bodies


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
            stack.extend(_signature_exprs(n.args))
            if n.returns is not None:
                stack.append(n.returns)
            continue
        if isinstance(n, ast.ClassDef):
            stack.extend(n.decorator_list)
            stack.extend(n.bases)
            stack.extend(k.value for k in n.keywords)
            continue
        if isinstance(n, ast.Lambda):
            stack.extend(d for d in (*n.args.defaults, *n.args.kw_defaults) if d is not None)
            continue
        if isinstance(n, COMPREHENSIONS):
            # the first iterable is evaluated in the enclosing scope
            stack.append(n.generators[0].iter)
            # a walrus inside a comprehension binds in the enclosing scope
            out.extend(sub.target for sub in ast.walk(n) if isinstance(sub, ast.NamedExpr))
            continue
        stack.extend(ast.iter_child_nodes(n))
    return out


def _signature_exprs(args: ast.arguments) -> list[ast.expr]:
    """Defaults and annotations: evaluated where the function is defined."""
    out: list[ast.expr] = [d for d in (*args.defaults, *args.kw_defaults) if d is not None]
    for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if a is not None and a.annotation is not None:
            out.append(a.annotation)
    return out


def _param_names(args: ast.arguments) -> set[str]:
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    for a in (args.vararg, args.kwarg):
        if a is not None:
            names.add(a.arg)
    return names


def _scope_bindings(body: Iterable[ast.AST]) -> tuple[set[str], set[str], set[str], set[str]]:
    """(names bound locally, names read, names declared global, free names of nested scopes)."""
    local: set[str] = set()
    reads: set[str] = set()
    globals_: set[str] = set()
    inner: set[str] = set()
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
                        local.add(a.asname or a.name.split(".")[0])
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(node.name)
                inner |= free_names(node)
            elif isinstance(node, ast.Lambda):
                inner |= free_names(node)
            elif isinstance(node, COMPREHENSIONS):
                inner |= comprehension_free(node)
            elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
                local.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                local.add(node.rest)
    return local, reads, globals_, inner


def free_names(node: FunctionNode | ast.ClassDef) -> set[str]:
    """Names a function, lambda or class body reads from the scope around it."""
    if isinstance(node, ast.ClassDef):
        # Names bound in a class body are visible to the body itself, not to its methods.
        local, reads, globals_, inner = _scope_bindings(node.body)
        return (reads - (local - globals_)) | inner
    bound = _param_names(node.args)
    body: list[ast.AST] = list(node.body) if isinstance(node.body, list) else [node.body]
    local, reads, globals_, inner = _scope_bindings(body)
    local = (local | bound) - globals_
    return (reads | inner) - local


def comprehension_free(node: Comprehension) -> set[str]:
    """Names a comprehension reads from around it (its first iterable excluded: read outside)."""
    bound: set[str] = set()
    reads: set[str] = set()
    for i, gen in enumerate(node.generators):
        bound.update(n.id for n in _target_names(gen.target))
        exprs: list[ast.AST] = list(gen.ifs)
        if i > 0:
            exprs.append(gen.iter)
        for e in exprs:
            reads |= expr_free(e)
    elts: list[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    for e in elts:
        reads |= expr_free(e)
    walrus = {sub.target.id for sub in ast.walk(node) if isinstance(sub, ast.NamedExpr)}
    return reads - bound - walrus


def expr_free(expr: ast.AST) -> set[str]:
    out: set[str] = set()
    for n in _walk_scope(expr):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out |= free_names(n)
        elif isinstance(n, COMPREHENSIONS):
            out |= comprehension_free(n)
    return out


def function_effects(
    node: ast.FunctionDef | ast.AsyncFunctionDef, known: Mapping[str, FunctionEffects]
) -> FunctionEffects:
    """Which parameters and outside names a function changes in place, and which globals it binds.

    Flow-insensitive on purpose (a parameter rebound before it is changed still counts): when in
    doubt, hand the object on.
    """
    args = node.args
    params = tuple(a.arg for a in (*args.posonlyargs, *args.args))
    all_params = _param_names(args)
    local, _reads, globals_, _inner = _scope_bindings(node.body)
    local = (local - globals_) - all_params
    changed_params: set[str] = set()
    changed_globals: set[str] = set()

    def changed(expr: ast.AST) -> None:
        root = _root_name(expr)
        if root is None:
            return
        if root.id in all_params and root.id not in globals_:
            changed_params.add(root.id)
        elif root.id not in local:
            changed_globals.add(root.id)

    for sub in ast.walk(ast.Module(body=node.body, type_ignores=[])):
        if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = sub.targets if isinstance(sub, (ast.Assign, ast.Delete)) else [sub.target]
            for t in targets:
                for part in ast.walk(t):
                    if isinstance(part, (ast.Subscript, ast.Attribute)) and isinstance(
                        part.ctx, (ast.Store, ast.Del)
                    ):
                        changed(part)
        elif isinstance(sub, ast.Call):
            exprs, outside, _bound = changed_by_call(sub, known)
            for e in exprs:
                changed(e)
            changed_globals.update(n for n in outside if n not in local)
    bound_globals = {
        n.id
        for n in ast.walk(ast.Module(body=node.body, type_ignores=[]))
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id in globals_
    }
    return FunctionEffects(
        params=params,
        changed_params=frozenset(changed_params),
        changed_globals=frozenset(changed_globals),
        bound_globals=frozenset(bound_globals),
    )


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
        if name not in self.defined and name not in self.r.reads:
            self.r.reads[name] = line

    def write(self, name: str, line: int) -> None:
        self.defined.add(name)
        self.r.defines.setdefault(name, line)
        self.r.deletes.pop(name, None)
        self.known.pop(name, None)
        self.aliases.pop(name, None)

    def mutate(self, node: ast.AST) -> None:
        root = _root_name(node)
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
            root = _root_name(e)
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
        bound = frozenset(n.id for g in node.generators for n in _target_names(g.target))
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
            self.expr(s.value)
            for t in s.targets:
                self.target(t)
            sources = built_around(s.value)
            if sources:
                sources |= {a for n in sources for a in self.aliases.get(n, ())}
                for t in s.targets:
                    for n in _target_names(t):
                        self.aliases[n.id] = frozenset(sources - {n.id})
        elif isinstance(s, ast.AugAssign):
            if isinstance(s.target, ast.Name):
                self.read(s.target.id, s.lineno)
                self.expr(s.value)
                self.write(s.target.id, s.lineno)
            else:
                self.expr(s.value)
                self.target(s.target)
        elif isinstance(s, ast.AnnAssign):
            self.expr(s.annotation)
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
            self.definition(s)
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
                    self.r.deletes[n.id] = n.lineno
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
                if h.name:  # Python deletes the exception's name when the handler ends
                    self.defined.discard(h.name)
                    if self.r.defines.get(h.name) == h.lineno:
                        del self.r.defines[h.name]
            self.stmts(s.orelse)  # type: ignore[attr-defined]
            self.stmts(s.finalbody)  # type: ignore[attr-defined]
        elif isinstance(s, ast.Match):
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
        elif isinstance(s, (ast.Global, ast.Nonlocal, ast.Pass, ast.Break, ast.Continue)):
            pass
        else:  # Expr, Return, Raise, Assert, ...
            for child in ast.iter_child_nodes(s):
                self.expr(child)

    def definition(self, s: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        for d in s.decorator_list:
            self.expr(d)
        if isinstance(s, ast.ClassDef):
            for b in s.bases:
                self.expr(b)
            for k in s.keywords:
                self.expr(k.value)
            # the class body runs now; its methods run later
            local, reads, globals_, inner = _scope_bindings(s.body)
            now = reads - (local - globals_)
            for name in sorted(now):
                self.read(name, s.lineno)
            free = now | inner
            self.defer(inner - {s.name}, s.lineno)
        else:
            for e in _signature_exprs(s.args):
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
