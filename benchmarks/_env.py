"""What the benchmarks' child processes run with."""

from __future__ import annotations

import os


def child_env() -> dict[str, str]:
    """The environment without PYTHONDONTWRITEBYTECODE.

    Some sandboxes set it, which makes every fresh process compile every module it imports from
    source; a user's machine keeps .pyc files (pip writes them when it installs a package, and
    Python on first import). Time what users get."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
