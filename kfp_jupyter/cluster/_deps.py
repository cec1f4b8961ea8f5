"""The optional clients, imported on first use and typed as Any (neither ships type hints).

Importing them here, by name, keeps `import kfp_jupyter` fast and working without the `cluster`
extra; what needs them raises a ConfigError naming the extra to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import install_extra
from .errors import ConfigError


def kfp_server_api() -> Any:
    try:
        importlib.import_module("kfp.client")
        return importlib.import_module("kfp_server_api")
    except ImportError:
        raise ConfigError(
            "submitting to Kubeflow Pipelines needs the kfp SDK",
            fix=install_extra("cluster"),
        ) from None


def kubernetes(module: str = "") -> Any:
    """`kubernetes` or one of its modules ("client", "config", "watch", "client.exceptions")."""
    try:
        return importlib.import_module("kubernetes" + (f".{module}" if module else ""))
    except ImportError:
        raise ConfigError(
            "submitting to Argo needs the kubernetes client",
            fix=install_extra("cluster"),
        ) from None
