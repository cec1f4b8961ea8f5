"""The Jupyter server extension behind the JupyterLab extension: REST handlers under
`/kfp-jupyter/api/` that analyse, compile, run and submit notebooks of the server's root directory.

Loaded by jupyter_server (enabled on install by the `jupyter-config` file the wheel ships); the
handlers import the heavy parts (kfp, the engine) only when a request needs them.
"""

from __future__ import annotations

from typing import Any


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from .handlers import setup_handlers
    from .settings import KfpJupyterServer

    settings = KfpJupyterServer(parent=serverapp)  # reads c.KfpJupyterServer.* of the config
    setup_handlers(serverapp.web_app, serverapp.root_dir, settings)
    serverapp.log.info("kfp-jupyter server extension loaded: /kfp-jupyter/api/")


# the older name, for jupyter_server < 2 and the classic notebook server
load_jupyter_server_extension = _load_jupyter_server_extension
