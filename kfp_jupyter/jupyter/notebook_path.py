"""Which notebook is this kernel running? `%kfp run` acts on "the current notebook".

A kernel does not know its notebook; the front ends leave hints, tried in this order:

1. an explicit path (always wins);
2. VS Code puts the notebook's path into the user namespace as `__vsc_ipynb_file__`;
3. jupyter_server (2.x) starts the kernel with `JPY_SESSION_NAME` = the notebook's path (ipykernel
   copies it to `__session__`); stale after a rename, so the file must exist;
4. the running Jupyter servers' sessions API, matched by this kernel's id (survives renames).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError


class NotebookNotFound(UsageError):
    pass


def _as_notebook(value: object, cwd: Path) -> Path | None:
    if not isinstance(value, str) or not value.strip():
        return None
    p = Path(value).expanduser()
    tries = [p] if p.is_absolute() else [cwd / p, cwd / p.name]
    for t in tries:
        if t.suffix == ".ipynb" and t.is_file():
            return t.resolve()
    return None


def _kernel_id() -> str | None:
    try:
        from ipykernel.connect import get_connection_file
    except ImportError:
        return None
    try:
        name = Path(get_connection_file()).name
    except Exception:  # not in a kernel
        return None
    # kernel-<uuid>.json
    if name.startswith("kernel-") and name.endswith(".json"):
        return name[len("kernel-") : -len(".json")]
    return None


def _servers() -> Iterator[dict[str, Any]]:
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return
    try:
        yield from list_running_servers()
    except Exception:
        return


def _from_sessions_api(kernel_id: str, timeout: float = 1.0) -> Path | None:
    for server in _servers():
        url = str(server.get("url", "")).rstrip("/") + "/api/sessions"
        req = urllib.request.Request(url)
        token = server.get("token")
        if token:
            req.add_header("Authorization", f"token {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:  # loopback, the user's server
                sessions = json.loads(r.read().decode("utf-8"))
        except Exception:
            continue
        root = Path(str(server.get("root_dir") or server.get("notebook_dir") or "."))
        for s in sessions:
            if (s.get("kernel") or {}).get("id") == kernel_id:
                path = root / str(s.get("path") or s.get("notebook", {}).get("path", ""))
                if path.suffix == ".ipynb" and path.is_file():
                    return path.resolve()
    return None


def find_notebook(
    user_ns: Mapping[str, Any] | None = None,
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    use_server: bool = True,
) -> Path:
    """The path of the notebook to act on, or NotebookNotFound saying how to name it."""
    cwd = cwd or Path.cwd()
    environ = os.environ if environ is None else environ
    ns = user_ns or {}
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not p.is_absolute():
            p = cwd / p
        if not p.is_file():
            raise NotebookNotFound(f"no notebook at {explicit} (looked in {p.parent})")
        return p.resolve()
    for hint in (
        ns.get("__vsc_ipynb_file__"),
        environ.get("JPY_SESSION_NAME"),
        ns.get("__session__"),
    ):
        found = _as_notebook(hint, cwd)
        if found is not None:
            return found
    if use_server:
        kid = _kernel_id()
        if kid:
            found = _from_sessions_api(kid)
            if found is not None:
                return found
    raise NotebookNotFound(
        "cannot tell which notebook this kernel belongs to; name it, e.g. `%kfp run my.ipynb` "
        "or `kfp_jupyter.show('my.ipynb')`"
    )
