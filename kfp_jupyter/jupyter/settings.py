"""The widget's target settings (engine, host, namespace, experiment), remembered per user.

Kept in `~/.config/kfp-jupyter/widget.json` (or `$XDG_CONFIG_HOME/kfp-jupyter/`, or
`$KFP_JUPYTER_CONFIG_DIR`), so the next notebook opens with the cluster the user sent to last.
Host, namespace and experiment are remembered per engine: a KFP host and an Argo namespace do not
overwrite each other. Never a token: credentials stay with the cluster clients.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from ..cluster.engines import ENGINES as CLUSTER_ENGINES
from ..cluster.targets import config_dir
from ..fileio import write_atomically

#: where the widget can run a pipeline: this machine, or a cluster engine
ENGINES = ("local", *CLUSTER_ENGINES)
FIELDS = ("host", "namespace", "experiment")


def settings_path() -> Path:
    return config_dir() / "widget.json"


def _read() -> dict[str, Any]:
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_target(default_experiment: str | None = None) -> dict[str, str]:
    """The target to show: the engine used last, with that engine's remembered fields."""
    data = _read()
    engine = data.get("engine") if data.get("engine") in ENGINES else "local"
    saved = data.get("engines", {}).get(engine, {}) if isinstance(data.get("engines"), dict) else {}
    target = {"engine": str(engine)}
    for f in FIELDS:
        value = saved.get(f) if isinstance(saved, dict) else None
        target[f] = str(value) if isinstance(value, str) else ""
    if not target["experiment"] and default_experiment:
        target["experiment"] = default_experiment
    return target


def remembered(engine: str) -> dict[str, str]:
    """The fields remembered for `engine` (empty strings when none)."""
    saved = _read().get("engines", {}).get(engine, {})
    return {f: str(saved.get(f, "")) if isinstance(saved, dict) else "" for f in FIELDS}


def save_target(target: dict[str, Any]) -> None:
    """Remember `target` (best effort: a read-only home must not break the widget)."""
    engine = target.get("engine")
    if engine not in ENGINES:
        return
    data = _read()
    engines: dict[str, Any] = data["engines"] if isinstance(data.get("engines"), dict) else {}
    engines[engine] = {f: str(target.get(f) or "") for f in FIELDS}
    data["engine"] = engine
    data["engines"] = engines
    path = settings_path()
    with contextlib.suppress(OSError):
        write_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
