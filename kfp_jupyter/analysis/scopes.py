"""The free names of function, lambda, class and comprehension bodies, and what calling a
function changes.

Code in such bodies runs later (when called) or in its own scope, so the in-order walk of names.py
does not step through it: it asks here which outside names a body reads and which outside objects
a function changes, and accounts for them where the body is defined or called.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

from .effects import FunctionEffects, changed_by_call, root_name

COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
Comprehension = ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


def target_names(node: ast.AST) -> list[ast.Name]:
    out: list[ast.Name] = []
    if isinstance(node, ast.Name):
        out.append(node)
    elif isinstance(node, (ast.Tuple, ast.List)):
        for elt in node.elts:
            out.extend(target_names(elt))
    elif isinstance(node, ast.Starred):
        out.extend(target_names(node.value))
    return out


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
            stack.extend(signature_exprs(n.args))
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


def signature_exprs(args: ast.arguments) -> list[ast.expr]:
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


def scope_bindings(body: Iterable[ast.AST]) -> tuple[set[str], set[str], set[str], set[str]]:
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
        local, reads, globals_, inner = scope_bindings(node.body)
        return (reads - (local - globals_)) | inner
    bound = _param_names(node.args)
    body: list[ast.AST] = list(node.body) if isinstance(node.body, list) else [node.body]
    local, reads, globals_, inner = scope_bindings(body)
    local = (local | bound) - globals_
    return (reads | inner) - local


def comprehension_free(node: Comprehension) -> set[str]:
    """Names a comprehension reads from around it (its first iterable excluded: read outside)."""
    bound: set[str] = set()
    reads: set[str] = set()
    for i, gen in enumerate(node.generators):
        bound.update(n.id for n in target_names(gen.target))
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
    local, _reads, globals_, _inner = scope_bindings(node.body)
    local = (local - globals_) - all_params
    changed_params: set[str] = set()
    changed_globals: set[str] = set()

    def changed(expr: ast.AST) -> None:
        root = root_name(expr)
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
