"""The server extension's settings, read from Jupyter's own configuration (traitlets).

An administrator sets them where the rest of the server is configured, for example in
`jupyter_server_config.py`:

    c.KfpJupyterServer.token_envs = ["KFP_TOKEN"]
    c.KfpJupyterServer.component_urls = False

They are settings of the server, not of a request: a browser must not be able to widen what the
server reads (its environment, its files) or where it connects.
"""

from __future__ import annotations

import fnmatch

from traitlets import Bool, Int, List, Unicode
from traitlets.config import Configurable


class KfpJupyterServer(Configurable):
    """What the REST handlers may do on a browser's behalf."""

    token_envs = List(
        Unicode(),
        default_value=["*_TOKEN"],
        help="Environment variables a submit may read a token from (shell-style patterns), "
        "whether the request names one as `token_env` or its saved target does. The token is "
        "sent to the host the request names, so only variables meant to hold cluster tokens "
        "belong here (a saved target's own token goes only to the target's host).",
    ).tag(config=True)

    component_urls = Bool(
        True,
        help="Whether `component:` tags may name http(s) URLs. They are fetched only on an "
        "explicit compile, run or submit, never on inspect; False refuses them.",
    ).tag(config=True)

    cluster_workers = Int(
        4,
        help="Submits that may talk to clusters at once; one more answers 503 at once instead "
        "of waiting behind a cluster that does not answer.",
    ).tag(config=True)

    quick_workers = Int(
        4,
        help="Threads for inspect, compile and the run history: kept apart from cluster calls "
        "so a hung cluster never delays them.",
    ).tag(config=True)

    def token_env_allowed(self, name: str) -> bool:
        """Whether `name` matches one of `token_envs` (case-sensitive, like the environment)."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.token_envs)
