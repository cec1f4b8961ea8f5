"""The server extension's settings, read from Jupyter's own configuration (traitlets).

An administrator sets them where the rest of the server is configured, for example in
`jupyter_server_config.py`:

    c.KfpJupyterServer.token_envs = ["KFP_TOKEN"]
    c.KfpJupyterServer.kubeconfigs = ["~/.kube/team-*.yaml"]
    c.KfpJupyterServer.component_urls = False

They are settings of the server, not of a request: a browser must not be able to widen what the
server reads (its environment, its files) or where it connects.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from traitlets import Bool, Int, List, Unicode
from traitlets.config import Configurable


class KfpJupyterServer(Configurable):
    """What the REST handlers may do on a browser's behalf."""

    token_envs = List(
        Unicode(),
        default_value=["*_TOKEN"],
        help="Environment variables a submit may read a token from (shell-style patterns), "
        "whether the request names one as `token_env` or its saved target does. A request may "
        "name any of them together with any host, so such a token goes wherever the caller "
        "says: list only variables holding cluster tokens every user of this server may use. "
        "A request that uses a saved target's variable (named again or not) with another host "
        "than the target's is refused, which catches a mistyped host in the Submit dialog; it "
        "does not stop a caller who names the variable without the target.",
    ).tag(config=True)

    kubeconfigs = List(
        Unicode(),
        default_value=[],
        help="Kubeconfig files a submit's `kubeconfig` field may name (absolute paths or "
        "shell-style patterns, `~` expanded, a relative one relative to the server's root; "
        "matched against the file's real path, and a `*` matches across folders too). Empty "
        "(the default): a request names none, and the server uses its own kubeconfig "
        "($KUBECONFIG or ~/.kube/config). A listed file is used as it is: its credentials, "
        "the files it names and the commands it runs (exec, auth-provider), so list only "
        "files the server's user trusts.",
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

    fetch_workers = Int(
        4,
        help="Compiles and runs that may fetch component URLs at once (each fetch ends within "
        "30 s); one more answers 503 at once. Kept apart from the quick threads, so hosts that "
        "answer slowly never delay inspect.",
    ).tag(config=True)

    quick_workers = Int(
        4,
        help="Threads for inspect, compile and the run history: kept apart from cluster calls "
        "so a hung cluster never delays them.",
    ).tag(config=True)

    def token_env_allowed(self, name: str) -> bool:
        """Whether `name` matches one of `token_envs` (case-sensitive, like the environment)."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.token_envs)

    def kubeconfig_allowed(self, real_path: str, root: str) -> bool:
        """Whether the kubeconfig at `real_path` (symbolic links followed) matches one of
        `kubeconfigs`, each read as the help says."""
        return any(
            fnmatch.fnmatchcase(real_path, pattern) for pattern in self.kubeconfig_patterns(root)
        )

    def kubeconfig_patterns(self, root: str) -> list[str]:
        """`kubeconfigs` as absolute patterns; a plain path also with its links followed, so
        that a listed file behind a linked folder (/tmp on macOS) matches its real path."""
        out: list[str] = []
        for pattern in self.kubeconfigs:
            full = os.path.normpath(Path(root, os.path.expanduser(pattern)))
            out.append(full)
            if not any(c in pattern for c in "*?["):
                out.append(os.path.realpath(full))
        return out
