"""The package's layering holds: no import cycles (imports inside functions counted) and no import
that goes up the layers docs/architecture.md lists, measured by benchmarks/structure.py, the same
script issue reports quote."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _structure() -> ModuleType:
    spec = importlib.util.spec_from_file_location("structure", ROOT / "benchmarks" / "structure.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _graph(structure: ModuleType) -> dict[str, set[str]]:
    root = ROOT / "kfp_jupyter"
    mods = structure.modules(root)
    return {m: structure.imports(m, p, mods, root.name) for m, p in mods.items()}


def test_no_module_imports_itself_through_others() -> None:
    structure = _structure()
    assert structure.cycles(_graph(structure)) == []


def test_every_package_imports_only_downward() -> None:
    structure = _structure()
    graph = _graph(structure)
    # every package of kfp_jupyter has its place in the layers (a new one must be placed)
    unplaced = {m.split(".")[1] for m in graph if "." in m and structure.layer(m) is None}
    assert unplaced == set()
    assert structure.upward(graph) == []


def test_the_checks_can_fail() -> None:
    structure = _structure()
    graph = {
        "kfp_jupyter.model": {"kfp_jupyter.compile"},
        "kfp_jupyter.compile": {"kfp_jupyter.model"},
    }
    assert structure.cycles(graph) == [["kfp_jupyter.compile", "kfp_jupyter.model"]]
    assert structure.upward(graph) == [("kfp_jupyter.model", "kfp_jupyter.compile")]
