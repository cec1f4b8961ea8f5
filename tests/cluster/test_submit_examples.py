"""The commands of examples/submit/README.md, run as written against the test servers.

Each `kfp-jupyter submit` line of the README is run with only the cluster's address swapped for
the test server's, so the documented commands cannot drift from what the command accepts.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from servers.helpers import K8S_TOKEN, KFP_TOKEN, cli
from servers.k8s_server import write_kubeconfig

pytest_plugins = ["servers.fixtures"]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "examples" / "submit" / "README.md"
KFP_HOSTS = ("http://localhost:8888", "https://kubeflow.example.com/pipeline")


def commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith(".venv/bin/kfp-jupyter submit"):
                out.append(shlex.split(line)[1:])
    return out


def test_the_readme_has_commands_for_both_engines():
    cmds = commands()
    assert any("--engine" not in c for c in cmds)
    assert any(c[c.index("--engine") + 1] == "argo" for c in cmds if "--engine" in c)
    assert any("--schedule" in c for c in cmds)


@pytest.mark.parametrize("args", commands(), ids=lambda a: " ".join(a[2:])[:60])
def test_readme_command(args, kfp_api, k8s_api, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = [kfp_api.url if a in KFP_HOSTS else a for a in args]
    if "--host" not in args and "--engine" not in args:
        monkeypatch.setenv("KF_PIPELINES_ENDPOINT", kfp_api.url)
    monkeypatch.setenv("KFP_TOKEN", KFP_TOKEN)
    kfp_api.state.tokens = {KFP_TOKEN}
    kc = write_kubeconfig(tmp_path / "kubeconfig", k8s_api.url, K8S_TOKEN, "default")
    monkeypatch.setenv("KUBECONFIG", str(kc))
    if "--token-env" not in args and "--engine" not in args:
        args += ["--token-env", "KFP_TOKEN"]  # the README's port-forward has no auth in front
    if "--wait" in args:
        args += ["--poll-interval", "0.05" if "--engine" not in args else "5"]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert kfp_api.state.runs or kfp_api.state.recurring or k8s_api.state.created
