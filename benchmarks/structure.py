"""The shape of the code, as issue reports measure it: import cycles (imports inside functions
counted, those under TYPE_CHECKING not), imports that go up the layers of docs/architecture.md,
the longest functions and the largest modules.

    python benchmarks/structure.py            # of kfp_jupyter/
    python benchmarks/structure.py PACKAGE_DIR
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for p in root.rglob("*.py"):
        parts = list(p.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _known(name: str, mods: dict[str, Path]) -> str | None:
    while name and name not in mods:
        name = name.rsplit(".", 1)[0] if "." in name else ""
    return name or None


def imports(module: str, path: Path, mods: dict[str, Path], package: str) -> set[str]:
    tree = ast.parse(path.read_text())
    typing_only = {
        id(x)
        for n in ast.walk(tree)
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
        for x in ast.walk(n)
    }
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for n in ast.walk(tree):
        if id(n) in typing_only:
            continue
        names: list[str] = []
        if isinstance(n, ast.Import):
            names = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            mod = n.module or ""
            if n.level:
                mod = ".".join(base[: len(base) - n.level + 1] + ([mod] if mod else []))
            full = [f"{mod}.{a.name}" for a in n.names]
            names = [x for x in full if x in mods] or [mod]
        for name in names:
            target = _known(name, mods) if name.startswith(package) else None
            if target and target != module:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


#: kfp_jupyter's layers, lowest first (docs/architecture.md): a module may import its own layer
#: and those before it. The package's own `__init__` is the public face and is left out.
LAYERS = [
    {"_version", "errors", "params", "fileio", "yamltext", "lazy"},
    {"model"},
    {"notebook"},
    {"components"},
    {"analysis"},
    {"loader"},
    {"packaging"},
    {"compile"},
    {"engine"},
    {"cluster"},
    {"frontends"},
    {"cli", "jupyter", "server"},
]


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for i, names in enumerate(LAYERS):
        if parts[1] in names:
            return i
    return None


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where a lower layer imports a higher one."""
    out = []
    for m, targets in graph.items():
        here = layer(m)
        for t in targets:
            there = layer(t)
            if here is not None and there is not None and there > here:
                out.append((m, t))
    return sorted(out)


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "kfp_jupyter").resolve()
    mods = modules(root)
    graph = {m: imports(m, p, mods, root.name) for m, p in mods.items()}
    groups = cycles(graph)
    print(f"import cycles: {len(groups)}")
    for g in groups:
        print("  " + " <-> ".join(g))
    if root.name == "kfp_jupyter":
        up = upward(graph)
        print(f"imports up the layers: {len(up)}")
        for m, t in up:
            print(f"  {m} -> {t}")
    functions = []
    for m, p in mods.items():
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno:
                functions.append((n.end_lineno - n.lineno + 1, f"{m}.{n.name}"))
    functions.sort(reverse=True)
    print("longest functions: " + ", ".join(f"{name} ({n})" for n, name in functions[:5]))
    print(f"functions over 150 lines: {sum(n > 150 for n, _ in functions)}, over 60: "
          f"{sum(n > 60 for n, _ in functions)}")  # fmt: skip
    sizes = sorted(((len(p.read_text().splitlines()), m) for m, p in mods.items()), reverse=True)
    print("largest modules: " + ", ".join(f"{m} ({n})" for n, m in sizes[:5]))
    print(f"modules over 600 lines: {sum(n > 600 for n, _ in sizes)}")


if __name__ == "__main__":
    main()
