"""Names a package exports but loads on first use (a module `__getattr__`, PEP 562).

Why: `import kfp_jupyter` and the front ends that read one name from `kfp_jupyter.cluster` or
`kfp_jupyter.engine` (an error class, a state) must not load the cluster clients, the runner and
the store with it; each call of the command line would pay for them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` for `package`: `where` maps each lazily exported name to the module
    that defines it (relative to the package when it starts with a dot). A name is loaded once,
    then kept on the package like any other attribute."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
